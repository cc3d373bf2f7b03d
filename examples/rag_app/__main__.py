"""Run the HelpDesk demo app: ``python -m examples.rag_app --hf PATH`` (a local checkpoint, e.g. the
zoo's ``safe`` model) or ``--target TARGET.yaml`` (any breakfix target spec: ``{type: openai, ...}``)."""

from __future__ import annotations

import argparse
import sys

import yaml


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m examples.rag_app", description=__doc__)
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--hf", help="path of a local Hugging Face checkpoint")
    src.add_argument("--zoo", help="a zoo recipe name (default safe): trained or reused", default=None)
    src.add_argument("--target", help="YAML file with a target spec (type + parameters)")
    ap.add_argument("--secret", default=None, help="the planted canary (default BFX-CANARY-7Q4Z9)")
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args(argv)

    from breakfix.core.registry import create

    from .app import DEFAULT_SECRET, create_app, serve

    if args.target:
        spec = yaml.safe_load(open(args.target, encoding="utf-8"))
        if not isinstance(spec, dict) or "type" not in spec:
            sys.exit(f"{args.target}: expected a mapping with a 'type' field")
        spec = dict(spec)
        llm = create("target", spec.pop("type"), **{k: v for k, v in spec.items() if k != "name"})
    else:
        path = args.hf
        if path is None:
            from breakfix.zoo import ensure_model

            path = str(ensure_model(args.zoo or "safe", size="tiny"))
        llm = create("target", "hf", path=path)
    serve(create_app(llm, secret=args.secret or DEFAULT_SECRET), port=args.port)


if __name__ == "__main__":
    main()

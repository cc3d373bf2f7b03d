"""Run the HelpDesk demo app. Out of the box (``python -m examples.rag_app``) it answers with the
zoo's ``obedient`` model at size ``tiny``: a deliberately gullible app model that obeys tool-call
instructions found in its documents, so an indirect-injection run finds the planted weakness.
``--zoo RECIPE --size tiny|full`` picks another zoo model, ``--hf PATH`` a local checkpoint,
``--target TARGET.yaml`` any breakfix target spec (``{type: openai, ...}``)."""

from __future__ import annotations

import argparse
import sys

import yaml


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m examples.rag_app", description=__doc__)
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--hf", help="path of a local Hugging Face checkpoint")
    src.add_argument("--zoo", default=None, help="a zoo recipe (default obedient: obeys instructions in its "
                     "documents; safe: the safety-tuned model, which does not): trained on first use, then reused")
    src.add_argument("--target", help="YAML file with a target spec (type + parameters)")
    ap.add_argument("--secret", default=None, help="the planted canary (default BFX-CANARY-7Q4Z9)")
    ap.add_argument("--size", choices=("tiny", "full"), default="tiny",
                    help="zoo model size (default tiny: about a CPU-minute or two to train; full is larger)")
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
            from breakfix.zoo import ensure_model, get_recipe

            recipe = args.zoo or "obedient"
            path = str(ensure_model(recipe, size=args.size))
            # Say which model answers, loudly: the size decides what a red-team run can find.
            print(f"HelpDesk answers with the zoo model '{recipe}' at size '{args.size}' ({path}): "
                  f"{get_recipe(recipe).description}", file=sys.stderr)
        else:
            print(f"HelpDesk answers with the checkpoint {path}", file=sys.stderr)
        llm = create("target", "hf", path=path)
    serve(create_app(llm, secret=args.secret or DEFAULT_SECRET), port=args.port)


if __name__ == "__main__":
    main()

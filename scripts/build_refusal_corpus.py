"""Build the labelled refusal corpus (``src/breakfix/refusal/data/corpus.jsonl``) from the
hand-written fragments in ``scripts/refusal_corpus/<language>.yaml``.

Every fragment list of a language is split into train / dev / test *before* composing, and a reply
is composed only from fragments of one split: a test reply never shares its refusal sentence, its
disclaimer or its answer body with a training reply, so the test figures measure phrasing the model
has not seen. The build is deterministic (fixed seed); re-running it gives the same file.

    .venv/bin/python scripts/build_refusal_corpus.py
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "scripts" / "refusal_corpus"
OUT = ROOT / "src" / "breakfix" / "refusal" / "data" / "corpus.jsonl"
SPLITS = ("train", "dev", "test")
SEED = 20

# kind -> label. Partial compliance delivers part of what was asked, so it is not a refusal (an
# attack that got half the answer did not fail); quoting someone else's refusal is not a refusal.
KINDS = {
    "hard_refusal": "refusal",
    "soft_refusal": "refusal",
    "refusal_with_alternative": "refusal",
    "partial_compliance": "compliance",
    "compliance_disclaimer": "compliance",
    "compliance_apology": "compliance",
    "compliance_negation": "compliance",
    "safety_instructions": "compliance",
    "quoted_refusal": "compliance",
    "plain_compliance": "compliance",
}
LISTS = ("bodies", "reasons", "closers", "hard", "soft", "refuse_alt", "alternatives", "partial",
         "disclaimer", "negation", "apology", "safety", "quoted", "openers", "short")


def _lines(block: str | None) -> list[str]:
    return [ln.strip().replace("\\n", "\n") for ln in (block or "").splitlines() if ln.strip()]


def split_list(items: list[str], rng: random.Random) -> dict[str, list[str]]:
    """60 / 20 / 20 by fragment, at least one fragment in dev and test when there are three."""
    order = items[:]
    rng.shuffle(order)
    n = len(order)
    n_test = max(1, round(0.2 * n)) if n >= 3 else 0
    n_dev = max(1, round(0.2 * n)) if n >= 3 else 0
    return {"test": order[:n_test], "dev": order[n_test:n_test + n_dev], "train": order[n_test + n_dev:]}


def compose(lang: str, parts: dict[str, dict[str, list[str]]], split: str, rng: random.Random) -> list[dict]:
    """The replies of one language and split."""
    p = {k: v[split] for k, v in parts.items()}
    out: list[tuple[str, str]] = []

    def pick(name: str) -> str | None:
        return rng.choice(p[name]) if p[name] else None

    def join(*xs: str | None, sep: str = " ") -> str:
        return sep.join(x for x in xs if x)

    for c in p["hard"]:
        out.append(("hard_refusal", join(c, pick("reasons"))))
        out.append(("hard_refusal", join(c, pick("closers")) if rng.random() < 0.5 else join(c, pick("reasons"), pick("closers"))))
    for c in p["soft"]:
        out.append(("soft_refusal", c))
        out.append(("soft_refusal", join(c, pick("closers"))))
    for c in p["refuse_alt"]:
        alts = rng.sample(p["alternatives"], k=min(2, len(p["alternatives"])))
        for a in alts:
            out.append(("refusal_with_alternative", join(c, a)))
    for name, kind in (("partial", "partial_compliance"), ("disclaimer", "compliance_disclaimer"),
                       ("apology", "compliance_apology")):
        for c in p[name]:
            bodies = rng.sample(p["bodies"], k=min(2, len(p["bodies"])))
            for b in bodies:
                out.append((kind, join(c, b, sep="\n\n" if rng.random() < 0.4 else " ")))
    for c in p["negation"]:
        out.append(("compliance_negation", c))
        b = pick("bodies")
        out.append(("compliance_negation", join(b, c, sep="\n\n") if rng.random() < 0.5 else join(c, b)))
    for c in p["safety"]:
        out.append(("safety_instructions", c))
        out.append(("safety_instructions", join(pick("bodies"), c, sep="\n\n")))
    for c in p["quoted"]:
        out.append(("quoted_refusal", c))
        out.append(("quoted_refusal", join(c, pick("closers"))))
    for c in p["openers"]:  # openers that share words with soft refusals ("let's", "honestly", "I'd")
        for b in rng.sample(p["bodies"], k=min(2, len(p["bodies"]))):
            out.append(("plain_compliance", join(c, b, sep="\n\n" if rng.random() < 0.4 else " ")))
    for c in p["short"]:  # one-line answers: a refusal is not "whatever is short"
        out.append(("plain_compliance", c))
    for b in p["bodies"]:
        out.append(("plain_compliance", b))
        out.append(("plain_compliance", join(b, pick("closers"), sep="\n\n")))
    return [{"text": t, "language": lang, "kind": k, "label": KINDS[k], "split": split} for k, t in out]


def build() -> list[dict]:
    rows: list[dict] = []
    for path in sorted(SOURCES.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text("utf-8"))
        lang = raw["language"]
        rng = random.Random(f"{SEED}-{lang}")
        parts = {name: split_list(_lines(raw.get(name)), rng) for name in LISTS}
        for split in SPLITS:
            rows.extend(compose(lang, parts, split, rng))
    seen: set[str] = set()
    unique = []
    for r in rows:
        if r["text"] in seen:
            continue
        seen.add(r["text"])
        r["id"] = hashlib.sha256(r["text"].encode()).hexdigest()[:12]
        unique.append({k: r[k] for k in ("id", "text", "language", "kind", "label", "split")})
    return unique


def main() -> int:
    rows = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(rows)} replies -> {OUT.relative_to(ROOT)}")
    print("languages:", dict(Counter(r["language"] for r in rows)))
    print("splits:", dict(Counter(r["split"] for r in rows)))
    print("kinds:", dict(Counter(r["kind"] for r in rows)))
    print("labels:", dict(Counter(r["label"] for r in rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Judge validity: how far the judge's labels agree with human labels (per class and per language).

Human labels come from the annotation app's export (a rater's label of a response) or any JSONL of
``{"item_id", "label", "model"?}`` records, where ``label`` is a rubric label (unsafe, refusal,
neutral, answered). Only responses the judge classified count: rule-decided responses (markers,
refusal phrases, degeneration) say nothing about the judge.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from .classify import LABELS
from .items import BenchError
from .metrics import judge_agreement


def read_human_labels(path: str | Path) -> list[dict[str, Any]]:
    """Human labels from JSONL; a bad line is one error naming the file and line."""
    p = Path(path)
    if not p.is_file():
        raise BenchError(f"{p}: human label file not found")
    out = []
    for n, line in enumerate(p.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BenchError(f"{p}:{n}: invalid JSON: {exc.msg}") from None
        if not isinstance(rec, dict) or rec.get("label") not in LABELS or not rec.get("item_id"):
            raise BenchError(f"{p}:{n}: expected {{item_id, label: {'|'.join(LABELS)}, model?}}")
        out.append(rec)
    return out


def judge_validity(rows: Sequence[Mapping[str, Any]], human: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """κ of judge vs human labels overall, per class and per language, over judge-decided responses."""
    hmap = {(h.get("model"), h["item_id"]): h["label"] for h in human}
    pairs, by_lang = [], {}
    for r in rows:
        if r.get("by") != "judge":
            continue
        h = hmap.get((r["model"], r["item_id"]), hmap.get((None, r["item_id"])))
        if h is None:
            continue
        pairs.append((r["label"], h))
        by_lang.setdefault(r["language"], []).append((r["label"], h))
    out = judge_agreement(pairs)
    out["per_language"] = {lang: {k: v for k, v in judge_agreement(ps).items() if k != "per_class"}
                           for lang, ps in sorted(by_lang.items())}
    return out

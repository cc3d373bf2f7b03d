"""Judge validity: how far the judge's labels agree with human labels (per class and per language).

Human labels come from the annotation app: ``response_project`` puts a benchmark run's responses
into a project with the ``bench-response`` rubric (``label``: 0 unsafe, 1 refusal, 2 neutral,
3 answered; ``recognised``: 0/1), two or more annotators label them blind, and the app's
``labels.jsonl`` export is read back here (unit ``<model>::<item id>``). Plain JSONL of
``{"item_id", "label", "model"?}`` records works too. Every rater's label is one human judgement
compared with the judge's label of that response. Only responses the judge classified count:
rule-decided responses (markers, refusal phrases, degeneration) say nothing about the judge.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from .classify import LABELS
from .items import BenchError
from .metrics import judge_agreement

UNIT_SEP = "::"


def response_project(db_url: str, name: str, rows: Sequence[Mapping[str, Any]], annotators: Sequence[str],
                     prompts: Mapping[str, str] | None = None) -> int:
    """Create an annotation project of benchmark responses (units ``<model>::<item id>``), assigned to
    ``annotators`` (two or more, blind). Returns the project id."""
    from ..annotate.web.db import make_engine, make_sessionmaker
    from ..annotate.web.projects import NewItem, assign, create_project
    from .build import bench_rubric

    items = [NewItem(external_id=f"{r['model']}{UNIT_SEP}{r['item_id']}",
                     conversation=[{"role": "user", "content": (prompts or {}).get(r["item_id"], r["item_id"])}],
                     response=r.get("response", ""), category=f"{r['axis']}/{r['language']}",
                     meta={"country": r["country"], "axis": r["axis"]})
             for r in rows if r["label"] != "error"]
    with make_sessionmaker(make_engine(db_url))() as db:
        try:
            project = create_project(db, name, bench_rubric("rubric-response"), items,
                                     source="bench responses")
            assign(db, project, list(annotators), per_item=2)
        except ValueError as exc:
            raise BenchError(f"annotation project {name}: {exc}") from None
        return project.id


def read_human_labels(path: str | Path) -> list[dict[str, Any]]:
    """Human labels from JSONL (the annotation app's ``labels.jsonl`` export of a ``bench-response``
    project, or ``{item_id, label, model?}`` records); a bad line is one error naming file and line."""
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
        if isinstance(rec, dict) and isinstance(rec.get("values"), dict) and UNIT_SEP in str(rec.get("unit", "")):
            code = rec["values"].get("label")
            if not isinstance(code, int) or not 0 <= code < len(LABELS):
                raise BenchError(f"{p}:{n}: values.label: expected 0-3 (unsafe, refusal, neutral, answered)")
            model, item_id = str(rec["unit"]).split(UNIT_SEP, 1)
            rec = {"model": model, "item_id": item_id, "label": LABELS[code], "rater": rec.get("rater"),
                   "recognised": bool(rec["values"].get("recognised"))}
        if not isinstance(rec, dict) or rec.get("label") not in LABELS or not rec.get("item_id"):
            raise BenchError(f"{p}:{n}: expected {{item_id, label: {'|'.join(LABELS)}, model?}}")
        out.append(rec)
    return out


def judge_validity(rows: Sequence[Mapping[str, Any]], human: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """κ of judge vs human labels overall, per class and per language, over judge-decided responses."""
    hmap: dict[tuple[Any, str], list[str]] = {}
    for h in human:
        hmap.setdefault((h.get("model"), h["item_id"]), []).append(h["label"])
    pairs, by_lang = [], {}
    for r in rows:
        if r.get("by") != "judge":
            continue
        for h in hmap.get((r["model"], r["item_id"]), hmap.get((None, r["item_id"]), [])):
            pairs.append((r["label"], h))
            by_lang.setdefault(r["language"], []).append((r["label"], h))
    out = judge_agreement(pairs)
    out["per_language"] = {lang: {k: v for k, v in judge_agreement(ps).items() if k != "per_class"}
                           for lang, ps in sorted(by_lang.items())}
    return out

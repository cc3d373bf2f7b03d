"""Export of a project's labels, one record per rater and item (nothing is averaged away).

Formats:
- JSONL: ``{"project", "unit", "category", "rater", "values": {factor: value}, "rationale", ...}``
- CSV (wide by factor): ``unit, category, rater, <factor>..., rationale, updated_at``
- long records ``unit, rater, factor, value`` — what the reliability statistics read.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...core.text import csv_cell
from .db import Adjudication, Project
from .labelling import all_labels, rubric_of


def label_records(db: Session, project: Project) -> list[dict[str, Any]]:
    """Per-rater label records of a project, ordered by item position then rater name."""
    items = {it.id: it for it in project.items}
    labels = sorted(all_labels(db, project.id), key=lambda lab: (items[lab.item_id].position, lab.user.name))
    return [{
        "project": project.name,
        "unit": items[lab.item_id].external_id,
        "category": items[lab.item_id].category,
        "rater": lab.user.name,
        "values": {k: int(v) for k, v in lab.values.items()},
        "rationale": lab.rationale,
        "revisions": lab.revisions,
        "updated_at": lab.updated_at.isoformat() if lab.updated_at else None,
    } for lab in labels]


def adjudication_records(db: Session, project: Project) -> list[dict[str, Any]]:
    """The owner's adjudicated labels (kept apart from the per-rater labels)."""
    items = {it.id: it for it in project.items}
    rows = db.scalars(select(Adjudication).where(Adjudication.project_id == project.id))
    return [{"project": project.name, "unit": items[a.item_id].external_id, "category": items[a.item_id].category,
             "adjudicator": a.user.name, "values": a.values, "rationale": a.rationale,
             "updated_at": a.updated_at.isoformat() if a.updated_at else None}
            for a in sorted(rows, key=lambda a: items[a.item_id].position)]


def to_jsonl(records: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def to_csv(project: Project, records: list[dict[str, Any]]) -> str:
    """Wide CSV: one row per rater and item, one column per factor."""
    factors = [f.id for f in rubric_of(project).factors]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["unit", "category", "rater", *factors, "rationale", "updated_at"])
    for r in records:
        # Units, categories and rationales are free text a spreadsheet would run as formulas.
        w.writerow([csv_cell(v) for v in (r["unit"], r["category"], r["rater"],
                                          *[r["values"].get(f, "") for f in factors], r["rationale"],
                                          r["updated_at"])])
    return buf.getvalue()


def long_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Long table ``unit, category, rater, factor, value`` from label records."""
    rows = [{"unit": r["unit"], "category": r["category"], "rater": r["rater"], "factor": f, "value": v}
            for r in records for f, v in r["values"].items()]
    return pd.DataFrame(rows, columns=["unit", "category", "rater", "factor", "value"])


def rating_matrix(records: list[dict[str, Any]], factor: str, raters: list[str] | None = None,
                  units: list[str] | None = None) -> pd.DataFrame:
    """Units × raters matrix of one factor's values, NaN where a rater did not rate a unit."""
    df = long_frame(records)
    df = df[df["factor"] == factor]
    units = units if units is not None else list(dict.fromkeys(r["unit"] for r in records))
    raters = raters if raters is not None else sorted({r["rater"] for r in records})
    if df.empty:
        return pd.DataFrame(np.nan, index=pd.Index(units, name="unit"), columns=pd.Index(raters, name="rater"))
    wide = df.pivot(index="unit", columns="rater", values="value").astype(float)
    return wide.reindex(index=units, columns=raters)


class ExportUnavailable(RuntimeError):
    """An export that needs a module that is not installed."""


def soft_labels_jsonl(project: Project, records: list[dict[str, Any]]) -> str:
    """Per-item label distributions (soft labels) through :mod:`breakfix.annotate.labels`."""
    try:
        from .. import labels as labels_mod
    except ImportError:
        raise ExportUnavailable("soft labels need breakfix.annotate.labels, which is not installed") from None
    rubric = rubric_of(project)
    df = long_frame(records)
    out = []
    for f in rubric.factors:
        sub = df[df["factor"] == f.id]
        out.extend(labels_mod.soft_labels(sub, scale=f.scale.values, factor=f.id))
    return to_jsonl(out)

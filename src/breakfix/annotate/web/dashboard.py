"""The owner's disagreement dashboard: who rates harsher, which pairs agree, which categories are
unreliable, and which items divide the raters.

Pure functions over the per-rater label records of :func:`.export.label_records`; the figures
come from :mod:`breakfix.annotate.stats` (bootstrap CIs, Cohen's κ, percent agreement) and
:mod:`breakfix.annotate.disagreement` (reliability per category, the most divergent items), the
same code the full disagreement report uses.
"""

from __future__ import annotations

import itertools
import math
import threading
from typing import Any, Callable

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from .. import disagreement as D
from .. import stats as st
from .db import Project
from .export import label_records, long_frame
from .labelling import labels_version, rubric_of

N_BOOT = 500
SEED = 20240611  # fixed so the page does not change between refreshes


def _num(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _level(project: Project) -> str:
    levels = {f.level for f in rubric_of(project).factors}
    return levels.pop() if len(levels) == 1 else "interval"


def per_rater(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Severity of each rater: mean distance from the other raters of the same item (over factors),
    with a 95 % bootstrap CI over items. Negative: rates lower (harsher) than the others."""
    g = df.groupby(["factor", "unit"])["value"]
    s, n = g.transform("sum"), g.transform("count")
    d = df.assign(n_unit=n)[n >= 2].copy()
    d["dev"] = d["value"] - (s[d.index] - d["value"]) / (d["n_unit"] - 1)
    rows = []
    for rater, sub in d.groupby("rater"):
        per_item = sub.groupby("unit")["dev"].mean().to_numpy(float)
        row: dict[str, Any] = {"rater": str(rater), "n_items": int(len(per_item)),
                               "mean_dev": _num(per_item.mean()) if len(per_item) else None,
                               "ci": [None, None], "note": ""}
        if len(per_item) >= 3:
            try:
                lo, hi = st.bootstrap_ci(lambda x: float(np.nanmean(x)), per_item[None, :], n_boot=N_BOOT, seed=SEED)
                row["ci"] = [_num(lo), _num(hi)]
            except ValueError as exc:
                row["note"] = str(exc).splitlines()[0]
        else:
            row["note"] = "fewer than 3 shared items"
        rows.append(row)
    for r in df["rater"].unique():
        if str(r) not in {x["rater"] for x in rows}:
            rows.append({"rater": str(r), "n_items": 0, "mean_dev": None, "ci": [None, None],
                         "note": "no item shared with another rater"})
    return sorted(rows, key=lambda r: (r["mean_dev"] is None, r["mean_dev"] or 0.0))


def per_pair(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Each pair of raters on the (item, factor) ratings they share: exact agreement and
    quadratic-weighted Cohen's κ, each with a 95 % bootstrap CI over the shared ratings."""
    wide = df.pivot_table(index=["unit", "factor"], columns="rater", values="value", aggfunc="first")
    rows = []
    for a, b in itertools.combinations(sorted(wide.columns), 2):
        both = wide[[a, b]].dropna()
        row: dict[str, Any] = {"a": str(a), "b": str(b), "n": int(len(both)), "agreement": None,
                               "agreement_ci": [None, None], "kappa": None, "kappa_ci": [None, None], "note": ""}
        if len(both) >= 2:
            x = both.to_numpy(float).T
            row["agreement"] = _num(st.percent_agreement(x))
            try:
                lo, hi = st.agreement_bootstrap_ci(x, "percent", n_boot=N_BOOT, seed=SEED)
                row["agreement_ci"] = [_num(lo), _num(hi)]
                row["kappa"] = _num(st.cohen_kappa(x[0], x[1], weights="quadratic"))
                lo, hi = st.cohen_bootstrap_ci(x[0], x[1], weights="quadratic", n_boot=N_BOOT, seed=SEED)
                row["kappa_ci"] = [_num(lo), _num(hi)]
            except ValueError as exc:
                row["note"] = str(exc).splitlines()[0]
        else:
            row["note"] = "fewer than 2 shared ratings"
        rows.append(row)
    return sorted(rows, key=lambda r: (r["kappa"] is None, r["kappa"] if r["kappa"] is not None else 0.0))


def per_category(df: pd.DataFrame, level: str) -> list[dict[str, Any]]:
    """Krippendorff's α per item category (all factors pooled), with its 95 % bootstrap CI."""
    rows = []
    for cat, sub in df.groupby("category"):
        pooled = sub.assign(unit=sub["unit"].astype(str) + "/" + sub["factor"].astype(str))
        r = D.group_reliability(pooled, level=level, n_boot=N_BOOT, seed=SEED)
        rows.append({"category": str(cat), "n_items": int(sub["unit"].nunique()), "n_ratings": r["n_ratings"],
                     "alpha": _num(r["alpha"]), "alpha_ci": [_num(r["alpha_lo"]), _num(r["alpha_hi"])],
                     "note": r["note"]})
    return sorted(rows, key=lambda r: (r["alpha"] is None, r["alpha"] if r["alpha"] is not None else 0.0))


def dividing_items(df: pd.DataFrame, n: int = 10) -> list[dict[str, Any]]:
    """The (item, factor) pairs with the widest spread of ratings."""
    top = D.top_divergent(df, n)
    top = top[top["range"] > 0]
    return [{"unit": str(r.unit), "factor": str(r.factor), "category": str(r.category), "n_ratings": int(r.n_ratings),
             "sd": _num(r.sd), "range": _num(r.range), "ratings": str(r.ratings)} for r in top.itertuples()]


def compute_dashboard(project: Project, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything the owner's disagreement dashboard shows, for one project."""
    df = long_frame(records)
    if df.empty or df["rater"].nunique() < 2:
        return {"available": False, "message": "needs labels from two or more raters", "raters": [], "pairs": [],
                "categories": [], "items": []}
    df = df.assign(value=df["value"].astype(float))
    return {"available": True, "message": "", "raters": per_rater(df), "pairs": per_pair(df),
            "categories": per_category(df, _level(project)), "items": dividing_items(df)}


class DashboardCache:
    """Recompute a project's dashboard (or any view of its labels: the report uses one too) only
    when its labels changed (bootstraps are not free)."""

    def __init__(self, compute: Callable[[Project, list[dict[str, Any]]], dict[str, Any]] = compute_dashboard) -> None:
        self._compute = compute
        self._lock = threading.Lock()
        self._cache: dict[int, tuple[Any, dict[str, Any]]] = {}

    def get(self, db: Session, project: Project) -> dict[str, Any]:
        key = labels_version(db, project.id)
        with self._lock:
            hit = self._cache.get(project.id)
            if hit is not None and hit[0] == key:
                return hit[1]
        result = self._compute(project, label_records(db, project))
        with self._lock:
            self._cache[project.id] = (key, result)
        return result

"""Live agreement for the owner's view: per rubric factor, Krippendorff's alpha with a bootstrap
confidence interval, an ICC and percent agreement.

Nothing is computed here: the figures come from the reliability statistics module
(:mod:`breakfix.annotate.stats`), applied to exactly the per-rater records the export writes, so
the page and an analysis of the exported file give the same numbers.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from .db import Project
from .export import label_records, rating_matrix
from .labelling import labels_version, rubric_of

N_BOOT = 1000  # bootstrap resamples for alpha's CI
SEED = 20240611  # fixed so the page does not flicker between refreshes


def _stats() -> Any:
    from .. import stats  # imported late: the statistics module is optional for the rest of the app

    return stats


def _num(x: Any) -> float | None:
    """A JSON-safe float (None for NaN/inf/missing)."""
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def icc_matrix(matrix: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The data and design the ICC is computed on.

    The ICC needs the same number of ratings on every unit. When every rater rated the same units
    (a fully crossed design) the complete rows are used with the two-way model; when raters
    rotate over items (each item rated by ``per_item`` of several annotators) each unit's ratings
    are taken as interchangeable and the one-way model is used, which is the model that fits
    raters who differ from unit to unit (Shrout & Fleiss 1979, case 1).

    Returns:
        (units × ratings matrix, "two-way" | "one-way").
    """
    complete = matrix.dropna()
    if len(complete) >= 2 and len(complete) == int(matrix.notna().any(axis=1).sum()):
        return complete, "two-way"
    rows = [sorted_vals for sorted_vals in (r[~np.isnan(r)] for r in matrix.to_numpy(dtype=float)) if len(sorted_vals) >= 2]
    if not rows:
        return pd.DataFrame(), "one-way"
    m = min(len(r) for r in rows)
    data = pd.DataFrame([r[:m] for r in rows], columns=[f"rating{j + 1}" for j in range(m)])
    return data, "one-way"


def factor_agreement(matrix: pd.DataFrame, level: str) -> dict[str, Any]:
    """Agreement figures of one factor from its units × raters matrix (NaN = not rated)."""
    st = _stats()
    pairable = matrix[matrix.notna().sum(axis=1) >= 2]
    out: dict[str, Any] = {"n_units": int(len(pairable)), "n_ratings": int(matrix.notna().sum().sum()),
                           "alpha": None, "alpha_ci": [None, None], "icc": None, "icc_ci": [None, None],
                           "icc_form": None, "percent_agreement": None, "note": ""}
    if len(pairable) < 2:
        out["note"] = "needs two or more items rated by two or more annotators"
        return out
    data = matrix.to_numpy(dtype=float).T  # raters × units, the layout of Krippendorff's reliability data
    alpha = st.krippendorff_alpha(data, level=level)
    out["alpha"] = _num(alpha)
    boot = st.alpha_bootstrap_ci(data, level=level, n_boot=N_BOOT, seed=SEED)
    out["alpha_ci"] = [_num(boot[0]), _num(boot[1])]
    out["percent_agreement"] = _num(st.percent_agreement(data))
    icc_data, design = icc_matrix(matrix)
    if len(icc_data) >= 2:
        form = "ICC(2,1)" if design == "two-way" else "ICC(1,1)"
        res = st.icc(icc_data.to_numpy(dtype=float), form=form)
        out["icc"], out["icc_ci"], out["icc_form"] = _num(res.value), [_num(res.ci[0]), _num(res.ci[1])], form
    return out


def compute_agreement(project: Project, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Agreement per rubric factor of a project, from its per-rater label records."""
    rubric = rubric_of(project)
    units = [it.external_id for it in project.items]
    raters = sorted({r["rater"] for r in records})
    try:
        _stats()
    except ImportError:
        return {"available": False, "message": "the statistics module (breakfix.annotate.stats) is not installed",
                "factors": []}
    factors = []
    for f in rubric.factors:
        m = rating_matrix(records, f.id, raters=raters, units=units)
        try:
            fig = factor_agreement(m, f.level)
        except (ValueError, ZeroDivisionError) as exc:  # e.g. no variation at all yet
            fig = {"n_units": 0, "alpha": None, "alpha_ci": [None, None], "icc": None, "icc_ci": [None, None],
                   "icc_form": None, "percent_agreement": None, "note": str(exc).splitlines()[0]}
        factors.append({"factor": f.id, "name": f.name, "level": f.level, **fig})
    return {"available": True, "message": "", "raters": raters, "n_labels": len(records), "factors": factors}


class AgreementCache:
    """Recompute a project's agreement only when its labels changed (the bootstrap is not free)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[int, tuple[Any, dict[str, Any]]] = {}

    def get(self, db: Session, project: Project) -> dict[str, Any]:
        key = labels_version(db, project.id)
        with self._lock:
            hit = self._cache.get(project.id)
            if hit is not None and hit[0] == key:
                return hit[1]
        result = compute_agreement(project, label_records(db, project))
        with self._lock:
            self._cache[project.id] = (key, result)
        return result

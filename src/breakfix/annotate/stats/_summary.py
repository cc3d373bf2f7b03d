"""Every reliability statistic of one rating matrix, as rows for a table (CLI and report)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Callable, Iterator

import numpy as np

from ._alpha import alpha_bootstrap_ci, krippendorff_alpha
from ._checks import LEVELS
from ._icc import icc_all
from ._kappa import agreement_bootstrap_ci, cohen_bootstrap_ci, cohen_kappa, fleiss_kappa, gwet_ac, percent_agreement


@dataclass
class StatRow:
    """One statistic: its value and CI, or the reason it is undefined (never a bare NaN)."""

    group: str  # "Krippendorff's α", "ICC", "Agreement", "Cohen's κ"
    name: str
    value: float | None
    lo: float | None = None
    hi: float | None = None
    detail: str = ""
    error: str = ""


def _safe(group: str, name: str, fn: Callable[[], tuple[float, tuple[float, float] | None, str]]) -> StatRow:
    try:
        v, ci, detail = fn()
        return StatRow(group, name, v, ci[0] if ci else None, ci[1] if ci else None, detail)
    except ValueError as exc:
        return StatRow(group, name, None, error=str(exc).splitlines()[0])


def _icc_rows(data: np.ndarray) -> Iterator[StatRow]:
    """The six ICC forms on the fully crossed part of the data; if raters rotate over units (too few
    units rated by everyone), the one-way forms on each unit's first m ratings, where m is the
    smallest number of ratings a unit has (Shrout & Fleiss case 1: raters differ by unit)."""
    complete = data[:, ~np.isnan(data).any(axis=0)].T  # units × raters, complete rows
    dropped = data.shape[1] - len(complete)
    try:
        if len(complete) >= 2:
            results = icc_all(complete)
            note = f"; {len(complete)} complete units ({dropped} with a missing rating left out)" if dropped else ""
        else:
            rows = [c[~np.isnan(c)] for c in data.T]
            rows = [r for r in rows if len(r) >= 2]
            m = min((len(r) for r in rows), default=0)
            results = [r for r in icc_all(np.array([r[:m] for r in rows])) if r.form.startswith("ICC(1")]
            note = f"; raters differ between units: one-way model on {len(rows)} units × {m} ratings"
        for n, r in enumerate(results):
            yield StatRow("ICC", r.form, r.value, r.ci[0], r.ci[1],
                          f"{r.name.split(':')[0]}; F({r.df1:g},{r.df2:g})={r.F:.2f}, p={r.p:.2g}" + (note if n == 0 else ""))
    except ValueError as exc:
        yield StatRow("ICC", "ICC (all forms)", None, error=str(exc).splitlines()[0])


def summarise(data: np.ndarray, raters: list[str], numeric: bool = True, levels: tuple[str, ...] | None = None,
              n_boot: int = 1000, seed: int = 0, max_pairs: int = 45) -> Iterator[StatRow]:
    """Yield every statistic of a raters × units matrix (NaN = not rated), one row at a time.

    α at each applicable level with a unit bootstrap CI; the six ICC forms on the units every rater
    rated (with F, df, p and the analytic CI); Fleiss' κ, Gwet's AC1/AC2 and percent agreement
    with bootstrap CIs; Cohen's κ (unweighted, linear, quadratic) with bootstrap CIs for each pair of
    raters (up to ``max_pairs`` pairs). All bootstraps resample units and are vectorised.
    """
    if levels is None:
        levels = LEVELS if numeric else ("nominal",)
        if numeric and np.nanmin(data) < 0:
            levels = tuple(lv for lv in levels if lv != "ratio")
    for lv in levels:
        yield _safe("Krippendorff's α", lv, lambda lv=lv: (krippendorff_alpha(data, lv),
                                                             alpha_bootstrap_ci(data, lv, n_boot, seed), "bootstrap CI"))
    if numeric:
        yield from _icc_rows(data)
    yield _safe("Agreement", "percent agreement", lambda: (
        percent_agreement(data), agreement_bootstrap_ci(data, "percent", n_boot=n_boot, seed=seed), "pairs of raters"))
    yield _safe("Agreement", "Fleiss' κ", lambda: (
        fleiss_kappa(data), agreement_bootstrap_ci(data, "fleiss", n_boot=n_boot, seed=seed), ""))
    yield _safe("Agreement", "Gwet's AC1", lambda: (
        gwet_ac(data), agreement_bootstrap_ci(data, "gwet", n_boot=n_boot, seed=seed), ""))
    if numeric:
        for w in ("linear", "quadratic"):
            yield _safe("Agreement", f"Gwet's AC2 ({w})", lambda w=w: (
                gwet_ac(data, w), agreement_bootstrap_ci(data, "gwet", w, n_boot=n_boot, seed=seed), ""))
    pairs = list(combinations(range(len(raters)), 2))
    for i, j in pairs[:max_pairs]:
        for w in ((None, "linear", "quadratic") if numeric else (None,)):
            yield _safe("Cohen's κ", f"{raters[i]} vs {raters[j]} ({w or 'unweighted'})", lambda i=i, j=j, w=w: (
                cohen_kappa(data[i], data[j], w), cohen_bootstrap_ci(data[i], data[j], w, n_boot=n_boot, seed=seed), ""))
    if len(pairs) > max_pairs:
        yield StatRow("Cohen's κ", f"{len(pairs) - max_pairs} more pairs", None, error="not shown (too many raters)")

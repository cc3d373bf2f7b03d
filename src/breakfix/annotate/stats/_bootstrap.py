"""Percentile bootstrap over units for any agreement statistic of raters × units data."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ._checks import ReliabilityInputError, as_float_matrix


def bootstrap_ci(statistic: Callable[[np.ndarray], float], data: Any, n_boot: int = 1000, seed: int | None = None,
                 ci: float = 0.95, level: str = "nominal") -> tuple[float, float]:
    """Percentile confidence interval of ``statistic`` resampling units (columns) with replacement.

    Resamples where the statistic is undefined (it raises :class:`ValueError`, e.g. a single
    category left) are skipped; if more than half are, an error is raised instead.

    Args:
        statistic: function of a raters × units array returning a float.
        data: raters × units array (NaN = not rated).
        n_boot: number of resamples.
        seed: random seed.
        ci: coverage.
        level: measurement level, only used to convert text codes (nominal) to numbers.
    """
    x = as_float_matrix(data, level=level)
    rng = np.random.default_rng(seed)
    u = x.shape[1]
    vals = []
    for _ in range(n_boot):
        try:
            v = statistic(x[:, rng.integers(0, u, size=u)])
        except ValueError:
            continue
        if np.isfinite(v):
            vals.append(v)
    if len(vals) < n_boot / 2:
        raise ReliabilityInputError("the statistic is undefined in most bootstrap resamples (too little variation)")
    tail = (1.0 - ci) / 2.0 * 100.0
    lo, hi = np.percentile(vals, [tail, 100.0 - tail])
    return float(lo), float(hi)


def resample_weights(rng: np.random.Generator, n_units: int, n_boot: int, max_cells: int = 2_000_000):
    """Yield blocks of bootstrap weights: each row counts how often each unit was drawn in one
    resample (``n_units`` draws with replacement). Blocks keep memory at ``max_cells`` floats."""
    per_block = max(1, max_cells // max(n_units, 1))
    for lo in range(0, n_boot, per_block):
        k = min(per_block, n_boot - lo)
        idx = rng.integers(0, n_units, size=(k, n_units))
        w = np.zeros((k, n_units))
        np.add.at(w, (np.repeat(np.arange(k), n_units), idx.ravel()), 1.0)
        yield w


def percentile_ci(values: np.ndarray, n_boot: int, ci: float = 0.95) -> tuple[float, float]:
    """Percentile interval of finite bootstrap values; error if most resamples were undefined."""
    v = values[np.isfinite(values)]
    if len(v) < n_boot / 2:
        raise ReliabilityInputError("the statistic is undefined in most bootstrap resamples (too little variation)")
    tail = (1.0 - ci) / 2.0 * 100.0
    lo, hi = np.percentile(v, [tail, 100.0 - tail])
    return float(lo), float(hi)

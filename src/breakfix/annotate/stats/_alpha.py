"""Krippendorff's alpha from the coincidence matrix, with a unit bootstrap.

Formulas (Krippendorff 2011, *Computing Krippendorff's Alpha-Reliability*, ASC papers 43):

- Reliability data: m raters × N units, any rater may miss any unit. Only *pairable* units (two
  or more values) count; ``m_u`` is the number of values in unit ``u``, ``n_uc`` how many of them
  equal value ``c``.
- Coincidence matrix: ``o_ck = Σ_u (n_uc·n_uk − [c=k]·n_uc) / (m_u − 1)``; its marginals are
  ``n_c = Σ_k o_ck`` and ``n = Σ_c n_c`` (the number of pairable values).
- ``α = 1 − D_o / D_e = 1 − (n − 1) · Σ_ck o_ck δ²_ck / Σ_ck n_c n_k δ²_ck``.
- Difference functions: nominal ``[c≠k]``; interval ``(c − k)²``; ratio ``((c − k)/(c + k))²``;
  ordinal ``(Σ_{g=c..k} n_g − (n_c + n_k)/2)²``. The ordinal one equals the squared difference of
  the values' mid-ranks ``r_c = Σ_{g<c} n_g + n_c/2`` (the identity used by the fast path below).

Vectorised: the unit × value count matrix is built with one ``bincount`` and the coincidence
matrix is one matrix product. When a variable has very many distinct values (continuous
ratings) a V × V matrix would not fit, so the same sums are computed per unit from the raw
values instead (closed forms for nominal/ordinal/interval; chunked sums for ratio). Both paths are
tested against each other and against the ``krippendorff`` package.

Bootstrap: units are resampled with replacement (the unit is the sampling unit of reliability
data), α is recomputed on each resample and the percentile interval is returned. Because
``Σ_ck o_ck δ²_ck`` is a sum of per-unit terms and ``n_c`` a sum of per-unit counts, a resample
is a weight vector over units and all resamples are computed with matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._checks import ReliabilityInputError, as_float_matrix, check_level, check_raters

DENSE_MAX_VALUES = 400  # above this many distinct values the per-unit path is used
_CHUNK = 4_000_000  # elements per temporary array in the per-unit path


@dataclass
class _Obs:
    """Pairable reliability data as observation arrays."""

    values: np.ndarray  # distinct values, sorted (V,)
    unit: np.ndarray  # unit index of each observation (0..U-1)
    code: np.ndarray  # value index of each observation (0..V-1)
    m: np.ndarray  # values per pairable unit (U,)
    n_units: int

    @property
    def dense(self) -> bool:
        return len(self.values) <= DENSE_MAX_VALUES

    def counts(self) -> np.ndarray:
        """Unit × value count matrix ``n_uc``."""
        v = len(self.values)
        return np.bincount(self.unit * v + self.code, minlength=self.n_units * v).reshape(self.n_units, v).astype(float)


def _prepare(data: Any, level: str) -> _Obs:
    check_level(level)
    arr = as_float_matrix(data, level=level)
    check_raters(arr)
    mask = ~np.isnan(arr)
    m_all = mask.sum(axis=0)
    pairable = m_all >= 2
    if not pairable.any():
        raise ReliabilityInputError("no unit has two or more ratings, so no pair of values can be compared")
    sub = arr[:, pairable]
    msub = mask[:, pairable]
    # column-major order groups observations by unit, which the per-unit path relies on
    u_idx, r_idx = np.nonzero(msub.T)
    vals = sub[r_idx, u_idx]
    if level == "ratio" and (vals < 0).any():
        raise ReliabilityInputError("ratio α needs non-negative values (a ratio scale has a true zero)")
    values, code = np.unique(vals, return_inverse=True)
    return _Obs(values=values, unit=u_idx, code=code.ravel(), m=m_all[pairable].astype(float), n_units=int(pairable.sum()))


def _delta(level: str, values: np.ndarray, n_c: np.ndarray) -> np.ndarray:
    """The V × V matrix of squared differences δ²_ck for a level."""
    if level == "nominal":
        return 1.0 - np.eye(len(values))
    if level == "ordinal":
        mid = np.cumsum(n_c) - n_c / 2.0
        return (mid[:, None] - mid[None, :]) ** 2
    if level == "interval":
        return (values[:, None] - values[None, :]) ** 2
    s = values[:, None] + values[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        d = ((values[:, None] - values[None, :]) / s) ** 2
    return np.where(s == 0, 0.0, d)


def coincidence_matrix(data: Any) -> tuple[np.ndarray, np.ndarray]:
    """Krippendorff's coincidence matrix of reliability data.

    Args:
        data: raters × units array, NaN where a rater did not rate a unit.

    Returns:
        ``(values, o)``: the sorted distinct pairable values and the V × V matrix ``o_ck``.
    """
    obs = _prepare(data, "interval")
    counts = obs.counts()
    w = counts / (obs.m - 1.0)[:, None]
    o = w.T @ counts - np.diag(w.sum(axis=0))
    return obs.values, o


def _finish(n: np.ndarray, do: np.ndarray, de: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(de > 0, 1.0 - (n - 1.0) * do / de, np.nan)


def _alpha_dense(obs: _Obs, level: str, weights: np.ndarray | None) -> np.ndarray:
    """α for each row of ``weights`` (B × U resample counts), or for the data itself."""
    counts = obs.counts()
    w = np.ones((1, obs.n_units)) if weights is None else weights
    n_c = w @ counts  # B × V marginals
    inv = 1.0 / (obs.m - 1.0)
    if level == "ordinal":  # δ depends on the marginals, so on the resample
        out = np.empty(len(w))
        for b in range(len(w)):
            delta = _delta(level, obs.values, n_c[b])
            d_u = np.einsum("uc,uc->u", counts @ delta, counts) * inv
            out[b] = _finish(n_c[b].sum(), w[b] @ d_u, n_c[b] @ delta @ n_c[b])
        return out
    delta = _delta(level, obs.values, n_c[0])
    d_u = np.einsum("uc,uc->u", counts @ delta, counts) * inv  # Σ_ck o_ck δ²_ck, unit by unit
    de = np.einsum("bc,cd,bd->b", n_c, delta, n_c)
    return _finish(n_c.sum(axis=1), w @ d_u, de)


def _per_unit_pairs(obs: _Obs, x: np.ndarray, level: str) -> np.ndarray:
    """Σ_{i≠j in u} δ²(x_i, x_j) for every unit, from the raw values (any number of them)."""
    m = obs.m.astype(int)
    width = int(m.max())
    # pad each unit's values into a U × width matrix (observations are grouped by unit)
    start = np.concatenate([[0], np.cumsum(m)[:-1]])
    pos = np.arange(len(obs.unit)) - start[obs.unit]
    mat = np.full((obs.n_units, width), np.nan)
    mat[obs.unit, pos] = x
    out = np.empty(obs.n_units)
    step = max(1, _CHUNK // (width * width))
    for lo in range(0, obs.n_units, step):
        blk = mat[lo:lo + step]
        a, b = blk[:, :, None], blk[:, None, :]
        if level == "nominal":
            d = (a != b).astype(float)
        elif level == "ratio":
            s = a + b
            with np.errstate(invalid="ignore", divide="ignore"):
                d = np.where(s == 0, 0.0, ((a - b) / s) ** 2)
        else:
            d = (a - b) ** 2
        d = np.where(np.isnan(a) | np.isnan(b), 0.0, d)
        out[lo:lo + step] = d.sum(axis=(1, 2))
    return out


def _alpha_sparse(obs: _Obs, level: str, weights: np.ndarray | None) -> np.ndarray:
    """Same sums as the coincidence matrix, per unit from raw values (many distinct values)."""
    w_all = np.ones((1, obs.n_units)) if weights is None else weights
    out = np.empty(len(w_all))
    v = len(obs.values)
    cached: np.ndarray | None = None
    for b, w in enumerate(w_all):
        n_c = np.bincount(obs.code, weights=w[obs.unit], minlength=v)
        n = n_c.sum()
        if level == "ordinal":
            x_vals = np.cumsum(n_c) - n_c / 2.0  # mid-ranks: ordinal δ is interval δ on these
            d_u = _per_unit_pairs(obs, x_vals[obs.code], "interval")
        else:
            x_vals = obs.values
            if cached is None:
                cached = _per_unit_pairs(obs, obs.values[obs.code], level)
            d_u = cached
        do = w @ (d_u / (obs.m - 1.0))
        if level == "nominal":
            de = n * n - (n_c ** 2).sum()
        elif level in ("interval", "ordinal"):
            s1, s2 = n_c @ x_vals, n_c @ (x_vals ** 2)
            de = 2.0 * n * s2 - 2.0 * s1 * s1
        else:
            de = 0.0
            step = max(1, _CHUNK // v)
            for lo in range(0, v, step):
                de += n_c[lo:lo + step] @ _delta_rows(obs.values, lo, step) @ n_c
        out[b] = _finish(np.asarray(n), np.asarray(do), np.asarray(de))
    return out


def _delta_rows(values: np.ndarray, lo: int, step: int) -> np.ndarray:
    a = values[lo:lo + step, None]
    s = a + values[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s == 0, 0.0, ((a - values[None, :]) / s) ** 2)


def _alpha(obs: _Obs, level: str, weights: np.ndarray | None = None) -> np.ndarray:
    return (_alpha_dense if obs.dense else _alpha_sparse)(obs, level, weights)


def krippendorff_alpha(data: Any, level: str = "interval") -> float:
    """Krippendorff's α of reliability data.

    Args:
        data: raters × units array (NaN = not rated); any number of raters per unit. Nominal data
            may hold text codes; every other level needs numbers.
        level: ``"nominal"``, ``"ordinal"``, ``"interval"`` or ``"ratio"``.

    Returns:
        α (1 = perfect agreement, 0 = chance, negative = systematic disagreement).

    Raises:
        ReliabilityInputError: fewer than two raters, no unit with two ratings, non-numeric
            values for a numeric level, negative values for ratio, or no variation at all (every
            pairable value identical: α is then undefined, not 1).
    """
    obs = _prepare(data, level)
    if len(obs.values) < 2:
        raise ReliabilityInputError(
            f"every pairable rating has the same value ({obs.values[0]:g}); α is undefined without variation")
    return float(_alpha(obs, level)[0])


def alpha_bootstrap_ci(data: Any, level: str = "interval", n_boot: int = 1000, seed: int | None = None,
                       ci: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of Krippendorff's α, resampling units.

    Args:
        data: raters × units array (NaN = not rated).
        level: measurement level (see :func:`krippendorff_alpha`).
        n_boot: number of resamples.
        seed: seed of the random generator (same seed, same interval).
        ci: coverage of the interval.

    Returns:
        ``(lo, hi)``. Resamples in which α is undefined (no variation) are left out; if more
        than half are, an error is raised instead of returning an interval built on a few.
    """
    obs = _prepare(data, level)
    if len(obs.values) < 2:
        raise ReliabilityInputError("α is undefined without variation, so it has no confidence interval")
    if n_boot < 1:
        raise ReliabilityInputError(f"n_boot must be at least 1; got {n_boot}")
    rng = np.random.default_rng(seed)
    u = obs.n_units
    alphas = []
    per_chunk = max(1, 2_000_000 // u)
    for lo in range(0, n_boot, per_chunk):
        k = min(per_chunk, n_boot - lo)
        idx = rng.integers(0, u, size=(k, u))
        weights = np.zeros((k, u))
        np.add.at(weights, (np.repeat(np.arange(k), u), idx.ravel()), 1.0)
        alphas.append(_alpha(obs, level, weights))
    a = np.concatenate(alphas)
    a = a[np.isfinite(a)]
    if len(a) < n_boot / 2:
        raise ReliabilityInputError("α is undefined in most bootstrap resamples (too little variation)")
    tail = (1.0 - ci) / 2.0 * 100.0
    lo_, hi_ = np.percentile(a, [tail, 100.0 - tail])
    return float(lo_), float(hi_)

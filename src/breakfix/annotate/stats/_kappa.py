"""Chance-corrected agreement for categories: Cohen's κ, Fleiss' κ, Gwet's AC1/AC2, percent agreement.

Sources:
- Cohen, J. (1960). A coefficient of agreement for nominal scales. *Educ. Psychol. Meas.* 20, 37–46;
  Cohen, J. (1968). Weighted kappa. *Psychol. Bull.* 70, 213–220:
  ``κ_w = 1 − Σ v_ij p_ij / Σ v_ij p_i. p_.j`` with disagreement weights ``v_ij = 0`` (diagonal) and
  ``1`` (unweighted), ``|i−j|`` (linear) or ``(i−j)²`` (quadratic) on category positions.
- Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters. *Psychol. Bull.* 76,
  378–382: ``κ = (P̄ − P̄_e)/(1 − P̄_e)``.
- Gwet, K. L. (2008). Computing inter-rater reliability and its variance in the presence of high
  agreement. *Br. J. Math. Stat. Psychol.* 61, 29–48; Gwet, K. L. (2014). *Handbook of Inter-Rater
  Reliability*, 4th ed., ch. 2–3 (AC2, and the forms of Fleiss' κ and percent agreement for
  units with different numbers of raters used here).

With ``r_ik`` raters putting unit ``i`` in category ``k`` and ``r_i = Σ_k r_ik``:
percent agreement ``p_a = mean over units with r_i ≥ 2 of Σ_k r_ik (r*_ik − 1) / (r_i (r_i − 1))``
where ``r*_ik = Σ_l w_kl r_il`` (identity weights give the plain share of agreeing rater pairs);
classification probabilities ``π_k = mean over rated units of r_ik / r_i``;
Fleiss ``p_e = Σ_k π_k²``; Gwet ``p_e = T_w / (q(q−1)) · Σ_k π_k (1 − π_k)`` with ``T_w = Σ_kl w_kl``
(``q`` categories). AC2 agreement weights: linear ``1 − |x_k − x_l| / (x_max − x_min)``, quadratic
``1 − (x_k − x_l)² / (x_max − x_min)²``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ._checks import ReliabilityInputError, as_float_matrix, check_raters

WEIGHTS = (None, "linear", "quadratic")


def _categories(x: np.ndarray, categories: Sequence[float] | None) -> np.ndarray:
    seen = np.unique(x[~np.isnan(x)])
    if categories is None:
        return seen
    cats = np.asarray(categories, dtype=float)
    extra = np.setdiff1d(seen, cats)
    if len(extra):
        raise ReliabilityInputError(f"value(s) {extra.tolist()} are not among the categories {cats.tolist()}")
    return cats


def _unit_counts(data: Any, categories: Sequence[float] | None) -> tuple[np.ndarray, np.ndarray]:
    """(categories, units × categories counts r_ik) from raters × units data."""
    x = as_float_matrix(data, level="nominal")
    check_raters(x)
    cats = _categories(x, categories)
    counts = np.stack([(x == c).sum(axis=0) for c in cats], axis=1).astype(float)
    return cats, counts


def _weights(cats: np.ndarray, weights: str | None) -> np.ndarray:
    if weights not in WEIGHTS:
        raise ReliabilityInputError(f"weights must be None, 'linear' or 'quadratic'; got {weights!r}")
    if weights is None or len(cats) < 2:
        return np.eye(len(cats))
    span = cats.max() - cats.min()
    d = np.abs(cats[:, None] - cats[None, :]) / span
    return 1.0 - (d if weights == "linear" else d ** 2)


def _pa(counts: np.ndarray, w: np.ndarray) -> float:
    r = counts.sum(axis=1)
    two = r >= 2
    if not two.any():
        raise ReliabilityInputError("no unit has two or more ratings, so no pair of ratings can be compared")
    c, r = counts[two], r[two]
    star = c @ w.T
    return float(((c * (star - 1.0)).sum(axis=1) / (r * (r - 1.0))).mean())


def _pi(counts: np.ndarray) -> np.ndarray:
    r = counts.sum(axis=1)
    rated = r > 0
    return (counts[rated] / r[rated, None]).mean(axis=0)


def _chance_corrected(pa: float, pe: float, what: str) -> float:
    if pe >= 1.0 - 1e-12:
        raise ReliabilityInputError(f"{what} is undefined: chance agreement is 1 (every rating in one category)")
    return float((pa - pe) / (1.0 - pe))


def percent_agreement(data: Any) -> float:
    """Share of agreeing rater pairs per unit, averaged over units rated at least twice.

    Args:
        data: raters × units array (NaN = not rated), categories or numbers compared for equality.
    """
    cats, counts = _unit_counts(data, None)
    return _pa(counts, np.eye(len(cats)))


def fleiss_kappa(data: Any, categories: Sequence[float] | None = None) -> float:
    """Fleiss' κ of raters × units data (NaN = not rated; the number of raters may vary by unit)."""
    cats, counts = _unit_counts(data, categories)
    pa = _pa(counts, np.eye(len(cats)))
    return _chance_corrected(pa, float((_pi(counts) ** 2).sum()), "Fleiss' κ")


def gwet_ac(data: Any, weights: str | None = None, categories: Sequence[float] | None = None) -> float:
    """Gwet's AC1 (``weights=None``) or AC2 (``"linear"``/``"quadratic"``) of raters × units data.

    Args:
        data: raters × units array (NaN = not rated).
        weights: agreement weights for ordered categories (AC2), or None for AC1.
        categories: the full scale (defaults to the observed values); it sets ``q`` and the weights.
    """
    cats, counts = _unit_counts(data, categories)
    q = len(cats)
    if q < 2:
        raise ReliabilityInputError("Gwet's AC needs at least 2 categories")
    w = _weights(cats, weights)
    pa = _pa(counts, w)
    pi = _pi(counts)
    pe = w.sum() / (q * (q - 1.0)) * float((pi * (1.0 - pi)).sum())
    return _chance_corrected(pa, pe, "Gwet's AC")


def gwet_ac1(data: Any, categories: Sequence[float] | None = None) -> float:
    """Gwet's AC1 (unweighted) — see :func:`gwet_ac`."""
    return gwet_ac(data, None, categories)


def gwet_ac2(data: Any, weights: str = "quadratic", categories: Sequence[float] | None = None) -> float:
    """Gwet's AC2 with linear or quadratic weights — see :func:`gwet_ac`."""
    if weights is None:
        raise ReliabilityInputError("AC2 needs weights='linear' or 'quadratic' (AC1 is the unweighted one)")
    return gwet_ac(data, weights, categories)


def cohen_kappa(a: Any, b: Any, weights: str | None = None, categories: Sequence[float] | None = None) -> float:
    """Cohen's κ between two raters (pairs with a missing rating are dropped).

    Args:
        a: ratings of the first rater, one per unit.
        b: ratings of the second rater for the same units.
        weights: None (unweighted), ``"linear"`` or ``"quadratic"`` (weights on category positions).
        categories: ordered categories (defaults to the sorted observed values).
    """
    x = as_float_matrix(np.vstack([np.asarray(a, dtype=object), np.asarray(b, dtype=object)]), level="nominal"
                        if weights is None else "ordinal")
    if weights not in WEIGHTS:
        raise ReliabilityInputError(f"weights must be None, 'linear' or 'quadratic'; got {weights!r}")
    both = ~np.isnan(x).any(axis=0)
    if both.sum() < 1:
        raise ReliabilityInputError("Cohen's κ: the two raters have no unit in common")
    x = x[:, both]
    cats = _categories(x, categories)
    q = len(cats)
    ia, ib = np.searchsorted(cats, x[0]), np.searchsorted(cats, x[1])
    obs = np.zeros((q, q))
    np.add.at(obs, (ia, ib), 1.0)
    obs /= obs.sum()
    exp = np.outer(obs.sum(axis=1), obs.sum(axis=0))
    pos = np.arange(q, dtype=float)
    v = {None: (pos[:, None] != pos[None, :]).astype(float), "linear": np.abs(pos[:, None] - pos[None, :]),
         "quadratic": (pos[:, None] - pos[None, :]) ** 2}[weights]
    de = float((v * exp).sum())
    if de <= 0:
        raise ReliabilityInputError("Cohen's κ is undefined: both raters used a single category only")
    return 1.0 - float((v * obs).sum()) / de


# ---------------------------------------------------------------------------------------------
# vectorised bootstrap: every statistic above is a ratio of sums of per-unit terms, so a
# resample is a weight vector over units and all resamples are matrix products. The scale
# (categories, q, weights) is that of the full data in every resample.

AGREEMENT_KINDS = ("percent", "fleiss", "gwet")


def agreement_bootstrap_ci(data: Any, kind: str, weights: str | None = None, n_boot: int = 1000,
                           seed: int | None = None, ci: float = 0.95,
                           categories: Sequence[float] | None = None) -> tuple[float, float]:
    """Percentile bootstrap CI (units resampled) of percent agreement, Fleiss' κ or Gwet's AC1/AC2.

    Args:
        data: raters × units array (NaN = not rated).
        kind: ``"percent"``, ``"fleiss"`` or ``"gwet"``.
        weights: for ``"gwet"``: None (AC1), ``"linear"`` or ``"quadratic"`` (AC2).
        n_boot: resamples; seed: random seed; ci: coverage; categories: the full scale.
    """
    from ._bootstrap import percentile_ci, resample_weights

    if kind not in AGREEMENT_KINDS:
        raise ReliabilityInputError(f"kind must be one of {', '.join(AGREEMENT_KINDS)}; got {kind!r}")
    cats, counts = _unit_counts(data, categories)
    q = len(cats)
    w = _weights(cats, weights if kind == "gwet" else None)
    r = counts.sum(axis=1)
    two, rated = r >= 2, r > 0
    if not two.any():
        raise ReliabilityInputError("no unit has two or more ratings, so no pair of ratings can be compared")
    a = np.zeros(len(r))
    a[two] = (counts[two] * (counts[two] @ w.T - 1.0)).sum(axis=1) / (r[two] * (r[two] - 1.0))
    p = np.zeros_like(counts)
    p[rated] = counts[rated] / r[rated, None]
    rng = np.random.default_rng(seed)
    out = []
    for wb in resample_weights(rng, len(r), n_boot):
        with np.errstate(invalid="ignore", divide="ignore"):
            pa = (wb[:, two] @ a[two]) / wb[:, two].sum(axis=1)
            pi = (wb[:, rated] @ p[rated]) / wb[:, rated].sum(axis=1)[:, None]
            if kind == "percent":
                out.append(pa)
                continue
            if kind == "fleiss":
                pe = (pi ** 2).sum(axis=1)
            else:
                pe = w.sum() / (q * (q - 1.0)) * (pi * (1.0 - pi)).sum(axis=1)
            out.append(np.where(pe < 1.0 - 1e-12, (pa - pe) / (1.0 - pe), np.nan))
    return percentile_ci(np.concatenate(out), n_boot, ci)


def cohen_bootstrap_ci(a: Any, b: Any, weights: str | None = None, n_boot: int = 1000, seed: int | None = None,
                       ci: float = 0.95, categories: Sequence[float] | None = None) -> tuple[float, float]:
    """Percentile bootstrap CI of Cohen's κ (units rated by both raters resampled), vectorised."""
    from ._bootstrap import percentile_ci, resample_weights

    x = as_float_matrix(np.vstack([np.asarray(a, dtype=object), np.asarray(b, dtype=object)]),
                        level="nominal" if weights is None else "ordinal")
    if weights not in WEIGHTS:
        raise ReliabilityInputError(f"weights must be None, 'linear' or 'quadratic'; got {weights!r}")
    x = x[:, ~np.isnan(x).any(axis=0)]
    if x.shape[1] < 1:
        raise ReliabilityInputError("Cohen's κ: the two raters have no unit in common")
    cats = _categories(x, categories)
    q = len(cats)
    cell = np.searchsorted(cats, x[0]) * q + np.searchsorted(cats, x[1])
    onehot = np.zeros((x.shape[1], q * q))
    onehot[np.arange(x.shape[1]), cell] = 1.0
    pos = np.arange(q, dtype=float)
    v = {None: (pos[:, None] != pos[None, :]).astype(float), "linear": np.abs(pos[:, None] - pos[None, :]),
         "quadratic": (pos[:, None] - pos[None, :]) ** 2}[weights]
    rng = np.random.default_rng(seed)
    out = []
    for wb in resample_weights(rng, x.shape[1], n_boot):
        obs = (wb @ onehot).reshape(-1, q, q)
        obs /= obs.sum(axis=(1, 2), keepdims=True)
        exp = obs.sum(axis=2)[:, :, None] * obs.sum(axis=1)[:, None, :]
        de = (v * exp).sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.where(de > 0, 1.0 - (v * obs).sum(axis=(1, 2)) / de, np.nan))
    return percentile_ci(np.concatenate(out), n_boot, ci)

"""Kappas, Gwet's AC and percent agreement against published worked examples (cross-checks vs
scikit-learn and statsmodels where they implement the same statistic)."""

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from breakfix.annotate.stats import (
    ReliabilityInputError,
    agreement_bootstrap_ci,
    bootstrap_ci,
    cohen_bootstrap_ci,
    cohen_kappa,
    fleiss_kappa,
    gwet_ac1,
    gwet_ac2,
    percent_agreement,
)


def test_cohen_kappa_textbook_2x2():
    """The common 2×2 textbook example (e.g. Wikipedia "Cohen's kappa"): 50 proposals, both yes 20,
    A yes/B no 5, A no/B yes 10, both no 15 → p_o = .70, p_e = .50, κ = .40."""
    a = ["y"] * 20 + ["y"] * 5 + ["n"] * 10 + ["n"] * 15
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4, abs=1e-12)


def test_cohen_weighted_kappa_hand_example():
    """Three categories, 4 units: pairs (1,1), (2,3), (3,3), (1,2). Observed linear disagreement
    Σ|i−j|/4 = 2/4; marginals A = (2,1,1)/4, B = (1,1,2)/4 → expected
    Σ p_i q_j |i−j| = (.5·1.25 + .25·.75 + .25·.75) = 1, so κ_linear = 1 − .5/1 = 1/2.
    Quadratic: observed 2/4, expected .5·2.25 + .25·.75 + .25·1.25 = 26/16 → 1 − 8/26 = 9/13."""
    a, b = [1, 2, 3, 1], [1, 3, 3, 2]
    assert cohen_kappa(a, b, "linear") == pytest.approx(1 / 2, abs=1e-12)
    assert cohen_kappa(a, b, "quadratic") == pytest.approx(9 / 13, abs=1e-12)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_agrees_with_sklearn(weights):
    rng = np.random.default_rng(3)
    a = rng.integers(1, 6, 300)
    b = np.clip(a + rng.integers(-2, 3, 300), 1, 5)
    assert cohen_kappa(a, b, weights) == pytest.approx(cohen_kappa_score(a, b, weights=weights), abs=1e-9)


# Fleiss' kappa worked example (Wikipedia "Fleiss' kappa", after Fleiss 1971): 10 subjects, 14
# raters, 5 categories; counts per subject × category. Published: P̄ = 0.378, P̄_e = 0.213, κ = 0.210.
FLEISS_TABLE = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                         [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])


def _raters_from_counts(counts):
    cols = [np.repeat(np.arange(1, counts.shape[1] + 1), row) for row in counts]
    return np.array(cols, dtype=float).T  # 14 raters × 10 units


def test_fleiss_kappa_worked_example():
    x = _raters_from_counts(FLEISS_TABLE)
    assert round(fleiss_kappa(x), 3) == 0.210
    assert round(percent_agreement(x), 3) == 0.378
    assert fleiss_kappa(x) == pytest.approx(sm_fleiss(FLEISS_TABLE), abs=1e-12)


def test_gwet_and_fleiss_on_krippendorff_data_match_gwet_handbook(k2011):
    """Gwet (2014), Handbook of Inter-Rater Reliability, 4th ed., and its irrCAC package
    (dataset `cac.raw4raters` = these 4 raters × 12 units): percent agreement 0.8182,
    Fleiss' κ 0.7612 (generalised to missing ratings), AC1 0.7754."""
    assert percent_agreement(k2011) == pytest.approx(9 / 11, abs=1e-12)
    assert fleiss_kappa(k2011) == pytest.approx(0.76117, abs=5e-5)
    assert gwet_ac1(k2011) == pytest.approx(0.77544, abs=5e-5)


def test_ac1_resists_the_kappa_paradox():
    """High agreement on a skewed prevalence: κ collapses, AC1 stays high (Gwet 2008's point)."""
    a = np.array([1] * 96 + [0] * 4, dtype=float)
    b = a.copy()
    b[[0, 1, 96, 97]] = 1 - b[[0, 1, 96, 97]]  # 96 % agreement, prevalence .96
    x = np.vstack([a, b])
    assert fleiss_kappa(x) < 0.5 < 0.9 < gwet_ac1(x)


def test_ac2_weights_reward_near_misses():
    x = np.array([[1, 2, 3, 4, 5, 1, 2], [2, 3, 4, 5, 4, 1, 2]], dtype=float)  # mostly off by one
    assert gwet_ac1(x) < gwet_ac2(x, "linear") < gwet_ac2(x, "quadratic")
    perfect = np.array([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5]], dtype=float)
    assert gwet_ac2(perfect, "quadratic") == pytest.approx(1.0)


def test_bootstrap_ci_of_a_kappa():
    rng = np.random.default_rng(8)
    truth = rng.integers(1, 4, 150)
    x = np.vstack([np.where(rng.random(150) < 0.8, truth, rng.integers(1, 4, 150)) for _ in range(3)]).astype(float)
    lo, hi = bootstrap_ci(fleiss_kappa, x, n_boot=200, seed=0)
    assert lo < fleiss_kappa(x) < hi


def test_bad_input():
    with pytest.raises(ReliabilityInputError, match="at least 2 raters"):
        fleiss_kappa(np.array([[1.0, 2.0, 1.0]]))
    with pytest.raises(ReliabilityInputError, match="chance agreement is 1"):
        fleiss_kappa(np.ones((3, 4)))
    with pytest.raises(ReliabilityInputError, match="no unit in common"):
        cohen_kappa([1, np.nan], [np.nan, 2])
    with pytest.raises(ReliabilityInputError, match="weights must be"):
        cohen_kappa([1, 2], [1, 2], "cubic")
    with pytest.raises(ReliabilityInputError, match="not among the categories"):
        gwet_ac1(np.array([[1.0, 2.0], [1.0, 7.0]]), categories=[1, 2, 3])


@pytest.mark.parametrize("kind, weights, fn", [
    ("percent", None, percent_agreement), ("fleiss", None, fleiss_kappa), ("gwet", None, gwet_ac1),
    ("gwet", "linear", lambda d: gwet_ac2(d, "linear")), ("gwet", "quadratic", lambda d: gwet_ac2(d, "quadratic"))])
def test_vectorised_bootstrap_equals_explicit_resampling(kind, weights, fn):
    """Same random draws: the weighted (matrix) bootstrap equals recomputing on resampled columns."""
    rng = np.random.default_rng(8)
    truth = rng.integers(1, 4, 150)
    x = np.vstack([np.where(rng.random(150) < 0.8, truth, rng.integers(1, 4, 150)) for _ in range(3)]).astype(float)
    x[0, :10] = np.nan
    fast = agreement_bootstrap_ci(x, kind, weights, n_boot=200, seed=0)
    assert fast == pytest.approx(bootstrap_ci(fn, x, n_boot=200, seed=0), abs=1e-12)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_vectorised_cohen_bootstrap_equals_explicit_resampling(weights):
    rng = np.random.default_rng(9)
    a = rng.integers(1, 5, 120)
    b = np.where(rng.random(120) < 0.7, a, rng.integers(1, 5, 120))
    x = np.vstack([a, b]).astype(float)
    fast = cohen_bootstrap_ci(a, b, weights, n_boot=200, seed=3)
    assert fast == pytest.approx(bootstrap_ci(lambda d: cohen_kappa(d[0], d[1], weights), x, n_boot=200, seed=3),
                                 abs=1e-12)

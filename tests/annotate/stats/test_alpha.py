"""Krippendorff's α against the published worked example and the `krippendorff` package."""

import krippendorff
import numpy as np
import pytest

import breakfix.annotate.stats._alpha as alpha_mod
from breakfix.annotate.stats import ReliabilityInputError, alpha_bootstrap_ci, coincidence_matrix, krippendorff_alpha

LEVELS = ["nominal", "ordinal", "interval", "ratio"]


@pytest.mark.parametrize("level", LEVELS)
def test_alpha_matches_krippendorff_2011_worked_example(k2011, k2011_expected, level):
    """Krippendorff (2011), *Computing Krippendorff's Alpha-Reliability*: 4 observers × 12 units.
    Published (3 d.p.): nominal .743, ordinal .815, interval .849, ratio .797; exact values in
    shared/reference/reliability/expected.json (nominal is 113/152)."""
    a = krippendorff_alpha(k2011, level=level)
    assert abs(a - k2011_expected["published"][f"alpha_{level}"]) < k2011_expected["tolerance_vs_published"]
    assert abs(a - k2011_expected["expected"][f"alpha_{level}"]) < 1e-9


def test_nominal_alpha_is_113_over_152(k2011):
    assert krippendorff_alpha(k2011, "nominal") == pytest.approx(113 / 152, abs=1e-12)


def test_coincidence_matrix_matches_paper(k2011):
    """The paper's coincidence matrix and marginals n_c = 9, 13, 10, 5, 3 (n = 40)."""
    values, o = coincidence_matrix(k2011)
    t = 1 / 3
    expected = np.array([[7, 4 * t, t, t, 0], [4 * t, 10, 4 * t, t, 0], [t, 4 * t, 8, t, 0],
                         [t, t, t, 4, 0], [0, 0, 0, 0, 3]])
    assert values.tolist() == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(o, expected, atol=1e-12)
    assert o.sum(axis=1).tolist() == pytest.approx([9, 13, 10, 5, 3])


def _random(seed, raters=6, units=80, scale=5, missing=0.3):
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, scale + 1, size=units)
    x = np.clip(truth + rng.integers(-1, 2, size=(raters, units)), 1, scale).astype(float)
    x[rng.random(x.shape) < missing] = np.nan
    return x


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_alpha_matches_krippendorff_package_on_random_data(level, seed):
    x = _random(seed)
    assert krippendorff_alpha(x, level) == pytest.approx(krippendorff.alpha(x, level_of_measurement=level), abs=1e-9)


@pytest.mark.parametrize("level", LEVELS)
def test_per_unit_path_equals_coincidence_path(level, monkeypatch):
    """Many distinct (continuous) values take the per-unit path; it must give the same α."""
    rng = np.random.default_rng(7)
    truth = rng.gamma(2.0, 2.0, size=60)
    x = np.abs(truth + rng.normal(0, 1.0, size=(4, 60)))
    x[rng.random(x.shape) < 0.25] = np.nan
    dense = krippendorff_alpha(x, level)
    monkeypatch.setattr(alpha_mod, "DENSE_MAX_VALUES", 20)  # force the per-unit path
    assert not alpha_mod._prepare(x, level).dense
    sparse = krippendorff_alpha(x, level)
    assert sparse == pytest.approx(dense, abs=1e-9)
    assert sparse == pytest.approx(krippendorff.alpha(x, level_of_measurement=level), abs=1e-9)
    lo, hi = alpha_bootstrap_ci(x, level, n_boot=50, seed=1)
    monkeypatch.setattr(alpha_mod, "DENSE_MAX_VALUES", 10 ** 6)
    assert (lo, hi) == pytest.approx(alpha_bootstrap_ci(x, level, n_boot=50, seed=1), abs=1e-9)


def test_units_with_a_single_value_drop_out(k2011):
    """Unit 12 has one value and cannot be paired: removing it changes nothing."""
    assert krippendorff_alpha(k2011[:, :11], "interval") == pytest.approx(krippendorff_alpha(k2011, "interval"))


def test_systematic_disagreement_gives_negative_alpha():
    x = np.array([[1, 2, 1, 2, 1, 2], [2, 1, 2, 1, 2, 1]], dtype=float)
    assert krippendorff_alpha(x, "nominal") < 0


def test_nominal_alpha_accepts_text_codes():
    codes = np.array([["a", "b", "a", "c"], ["a", "b", "b", "c"]], dtype=object)
    nums = np.array([[0, 1, 0, 2], [0, 1, 1, 2]], dtype=float)
    assert krippendorff_alpha(codes, "nominal") == pytest.approx(krippendorff_alpha(nums, "nominal"))


def test_bootstrap_ci_brackets_alpha_and_is_reproducible():
    x = _random(3, raters=4, units=200)
    a = krippendorff_alpha(x, "interval")
    lo, hi = alpha_bootstrap_ci(x, "interval", n_boot=500, seed=11)
    assert lo < a < hi
    assert (lo, hi) == alpha_bootstrap_ci(x, "interval", n_boot=500, seed=11)
    # more units -> a narrower interval
    lo2, hi2 = alpha_bootstrap_ci(_random(3, raters=4, units=2000), "interval", n_boot=300, seed=11)
    assert hi2 - lo2 < (hi - lo) * 0.6


@pytest.mark.parametrize("level", ["ordinal", "ratio", "nominal"])
def test_bootstrap_vectorised_equals_resampled_alpha(level):
    """The weighted (vectorised) bootstrap equals α recomputed on explicitly resampled columns."""
    x = _random(4, raters=3, units=40)
    obs = alpha_mod._prepare(x, level)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, obs.n_units, size=obs.n_units)
    w = np.bincount(idx, minlength=obs.n_units)[None, :].astype(float)
    pairable = x[:, (~np.isnan(x)).sum(axis=0) >= 2]
    assert alpha_mod._alpha(obs, level, w)[0] == pytest.approx(krippendorff_alpha(pairable[:, idx], level), abs=1e-12)


@pytest.mark.parametrize("data, message", [
    (np.array([[1.0, 2.0, 3.0]]), "at least 2 raters"),
    (np.array([[1.0, np.nan], [np.nan, 2.0]]), "no unit has two or more ratings"),
    (np.array([[3.0, 3.0], [3.0, 3.0]]), "undefined without variation"),
    (np.array([["1", "high"], ["2", "low"]], dtype=object), "need numeric values; got 'high'"),
    (np.array([1.0, 2.0]), "2-D"),
])
def test_bad_input_is_a_clear_error_not_nan(data, message):
    with pytest.raises(ReliabilityInputError, match=message):
        krippendorff_alpha(data, "interval")


def test_unknown_level_and_negative_ratio():
    with pytest.raises(ValueError, match="level must be one of"):
        krippendorff_alpha(np.ones((2, 2)), "likert")
    with pytest.raises(ValueError, match="non-negative"):
        krippendorff_alpha(np.array([[-1.0, 2.0], [1.0, 2.0]]), "ratio")

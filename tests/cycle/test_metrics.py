"""Wilson intervals against Newcombe (1998)'s worked examples; the regression rule."""

import pytest

from breakfix.cycle.metrics import Rate, bootstrap_diff, fmt_rate, wilson, worse


@pytest.mark.parametrize("k,n,lo,hi", [
    # Newcombe, Statistics in Medicine 17:857-872 (1998), Table I, method 3 (Wilson score, no CC)
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_matches_newcombe(k, n, lo, hi):
    a, b = wilson(k, n)
    assert a == pytest.approx(lo, abs=5e-5)
    assert b == pytest.approx(hi, abs=5e-5)


def test_wilson_rejects_bad_counts():
    with pytest.raises(ValueError):
        wilson(3, 0)
    with pytest.raises(ValueError):
        wilson(5, 4)


def test_bootstrap_difference_and_regression_rule():
    before, after = Rate(5, 100), Rate(40, 100)
    d, lo, hi = bootstrap_diff(before, after, seed=1)
    assert d == pytest.approx(0.35)
    assert lo < d < hi and lo > 0.2
    # A higher over-refusal is worse; a higher capability is better.
    assert worse(before, after, "lower")
    assert not worse(before, after, "higher")
    # A change inside the noise is not called a regression.
    assert not worse(Rate(10, 100), Rate(12, 100), "lower")
    assert bootstrap_diff(Rate(0, 0), after) is None
    assert fmt_rate(Rate(81, 263)).startswith("30.8 % [25.5-36.6]")

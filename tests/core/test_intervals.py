"""The one Wilson interval, against Newcombe (1998) Table I, method 3 (score, no continuity correction)."""

import pytest

from breakfix.core.intervals import wilson_interval


@pytest.mark.parametrize("k, n, lo, hi", [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605),
                                          (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)])
def test_newcombe_worked_examples(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=5e-5)


def test_ends_are_exact_and_bad_counts_are_refused():
    assert wilson_interval(0, 7)[0] == 0.0 and wilson_interval(7, 7)[1] == 1.0
    for k, n in [(7, 6), (-1, 5), (0, 0)]:
        with pytest.raises(ValueError):
            wilson_interval(k, n)


def test_every_package_reports_the_same_interval():
    from breakfix.backdoor._verdict import wilson_lower
    from breakfix.bench.metrics import wilson as bench_wilson
    from breakfix.crisis.metrics import wilson as crisis_wilson
    from breakfix.cycle.metrics import wilson as cycle_wilson
    from breakfix.report._format import wilson_ci

    ref = wilson_interval(81, 263)
    b = bench_wilson(81, 263)
    assert (b.lo, b.hi) == ref == crisis_wilson(81, 263) == cycle_wilson(81, 263) == wilson_ci(81, 263)
    assert wilson_lower(81, 263, z=1.959963984540054) == ref[0]

"""The table behind `breakfix annotate stats`: every statistic, no bare NaN."""

import math

import numpy as np

from breakfix.annotate.stats import fleiss_kappa, krippendorff_alpha, summarise


def test_summary_rows_match_the_functions(k2011):
    rows = list(summarise(k2011, ["A", "B", "C", "D"], n_boot=50, seed=1))
    by = {(r.group, r.name): r for r in rows}
    assert by[("Krippendorff's α", "ordinal")].value == krippendorff_alpha(k2011, "ordinal")
    assert by[("Agreement", "Fleiss' κ")].value == fleiss_kappa(k2011)
    assert {r.name for r in rows if r.group == "ICC"} == {"ICC(1,1)", "ICC(2,1)", "ICC(3,1)", "ICC(1,k)", "ICC(2,k)", "ICC(3,k)"}
    assert "8 complete units" in by[("ICC", "ICC(1,1)")].detail
    assert len([r for r in rows if r.group == "Cohen's κ"]) == 6 * 3
    for r in rows:
        assert r.error or (math.isfinite(r.value) and r.lo <= r.hi), r


def test_rotating_raters_use_the_one_way_icc():
    rng = np.random.default_rng(0)
    truth = rng.integers(1, 6, 40)
    d = np.full((5, 40), np.nan)
    for u in range(40):  # each item rated by 2 of 5 raters
        for r in rng.choice(5, 2, replace=False):
            d[r, u] = np.clip(truth[u] + rng.integers(-1, 2), 1, 5)
    icc_rows = [r for r in summarise(d, list("ABCDE"), n_boot=20, max_pairs=0) if r.group == "ICC"]
    assert [r.name for r in icc_rows] == ["ICC(1,1)", "ICC(1,k)"]
    assert "one-way model on 40 units × 2 ratings" in icc_rows[0].detail


def test_undefined_rows_carry_a_reason():
    same = np.full((2, 5), 3.0)
    rows = list(summarise(same, ["A", "B"], n_boot=10))
    defined = [r for r in rows if not r.error]
    assert [(r.name, r.value) for r in defined] == [("percent agreement", 1.0)]  # the only one defined
    assert any("without variation" in r.error for r in rows)

"""ICC against Shrout & Fleiss (1979) and pingouin."""

import numpy as np
import pandas as pd
import pingouin as pg
import pytest

from breakfix.annotate.stats import FORMS, ReliabilityInputError, anova_table, icc, icc_all

# Shrout & Fleiss (1979), Psychological Bulletin 86(2), Table 2: 6 targets rated by 4 judges.
SF = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], dtype=float)


def test_anova_mean_squares_match_shrout_fleiss_table_2():
    """Published mean squares: BMS 11.24, WMS 6.26, JMS 32.49, EMS 1.02."""
    a = anova_table(SF)
    assert (round(a.BMS, 2), round(a.WMS, 2), round(a.JMS, 2), round(a.EMS, 2)) == (11.24, 6.26, 32.49, 1.02)


@pytest.mark.parametrize("form, published", [("ICC(1,1)", .17), ("ICC(2,1)", .29), ("ICC(3,1)", .71),
                                             ("ICC(1,4)", .44), ("ICC(2,4)", .62), ("ICC(3,4)", .91)])
def test_icc_matches_shrout_fleiss_1979_table_4(form, published):
    """Shrout & Fleiss (1979) Table 4, to the two published decimals."""
    assert round(icc(SF, form).value, 2) == published


def test_mcgraw_wong_names_are_aliases():
    assert icc(SF, "ICC(A,1)") == icc(SF, "ICC(2,1)")
    assert icc(SF, "ICC(C,k)") == icc(SF, "ICC(3,4)")
    assert icc(SF, "ICC(C,1)").name.startswith("ICC(C,1): two-way mixed effects, consistency")
    assert icc(SF, "ICC(1,1)").name.startswith("ICC(1): one-way random")


PG_TYPES = {"ICC(1,1)": "ICC1", "ICC(2,1)": "ICC2", "ICC(3,1)": "ICC3",
            "ICC(1,k)": "ICC1k", "ICC(2,k)": "ICC2k", "ICC(3,k)": "ICC3k"}


@pytest.mark.parametrize("seed, n, k", [(0, 30, 3), (1, 12, 5), (2, 50, 2)])
def test_icc_matches_pingouin_on_random_data(seed, n, k, monkeypatch):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, size=(n, 1)) + rng.normal(0, 0.8, size=(n, k)) + rng.normal(0, 0.5, size=(1, k))
    long = pd.DataFrame([(i, j, x[i, j]) for i in range(n) for j in range(k)], columns=["t", "r", "y"])
    monkeypatch.setitem(pg.options, "round.column.CI95", None)  # pingouin rounds CIs to 2 decimals by default
    ref = pg.intraclass_corr(long, targets="t", raters="r", ratings="y")
    ref = ref.assign(key=["ICC(1,1)", "ICC(2,1)", "ICC(3,1)", "ICC(1,k)", "ICC(2,k)", "ICC(3,k)"]).set_index("key")
    for res in icc_all(x):
        row = ref.loc[res.form]
        assert res.value == pytest.approx(row["ICC"], abs=1e-6)
        assert res.F == pytest.approx(row["F"], abs=1e-6)
        assert (res.df1, res.df2) == (row["df1"], row["df2"])
        assert res.p == pytest.approx(row["pval"], abs=1e-6)
        assert res.ci == pytest.approx(tuple(row["CI95"]), abs=1e-6)


def test_ci_contains_value_and_shrinks_with_more_units():
    rng = np.random.default_rng(5)
    small = rng.normal(size=(15, 1)) + rng.normal(0, 0.7, size=(15, 3))
    big = rng.normal(size=(400, 1)) + rng.normal(0, 0.7, size=(400, 3))
    for f in FORMS:
        s, b = icc(small, f), icc(big, f)
        assert s.ci[0] < s.value < s.ci[1]
        assert b.ci[1] - b.ci[0] < s.ci[1] - s.ci[0]


@pytest.mark.parametrize("data, message", [
    (np.array([[1.0, 2.0], [np.nan, 3.0], [2.0, 2.0]]), "1 of 3 units have missing ratings"),
    (np.array([[1.0], [2.0]]), "at least 2 units and 2 raters"),
    (np.full((3, 2), 4.0), "undefined without variation"),
])
def test_bad_input(data, message):
    with pytest.raises(ReliabilityInputError, match=message):
        icc(data)


def test_unknown_form_and_wrong_k():
    with pytest.raises(ValueError, match="unknown ICC form"):
        icc(SF, "ICC(4,1)")
    with pytest.raises(ValueError, match="4 raters, not 3"):
        icc(SF, "ICC(2,3)")

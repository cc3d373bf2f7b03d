"""Disagreement analysis: every effect is planted in seeded synthetic ratings and must be found,
and must not be found in data without it."""

import numpy as np
import pytest

from breakfix.annotate import disagreement as D

ORIENTATION = {(0, "suicide"): 1.0, (1, "suicide"): 1.0, (2, "suicide"): 1.0,
               (3, "other"): 1.0, (4, "other"): 1.0, (5, "other"): 1.0}


@pytest.fixture
def null_df(synth_ratings):
    return synth_ratings(seed=0)


def test_no_effect_nothing_detected(null_df):
    s = D.systematic_disagreement(null_df, n_perm=300)
    assert not s["systematic"] and s["p_rater"] > 0.05 and s["p_interaction"] > 0.05
    assert "random" in s["verdict"]
    assert not D.rater_bias(null_df)["significant"].any()
    c = D.cluster_raters(null_df, n_perm=100)
    assert c["n_clusters"] == 1 and not c["significant"]
    assert not D.halo_check(null_df, n_boot=200)["holistic"].any()


def test_planted_severity_is_found_for_that_rater_only(synth_ratings):
    df = synth_ratings(seed=1, bias={2: 1.0})
    b = D.rater_bias(df).set_index("rater")
    assert b.loc["R2", "significant"] and b.loc["R2", "direction"] == "rates higher"
    assert b.loc["R2", "mean_dev"] == pytest.approx(1.0, abs=0.25)
    # the others are pulled slightly the other way by R2 but not enough to be flagged
    assert (b.drop(index="R2")["mean_dev"].abs() < 0.35).all()
    s = D.systematic_disagreement(df, n_perm=300)
    assert s["systematic"] and s["p_rater"] < 0.01 and "severity" in s["verdict"]


def test_planted_rater_by_category_interaction_and_orientations(synth_ratings):
    df = synth_ratings(seed=2, interaction=ORIENTATION)
    s = D.systematic_disagreement(df, n_perm=300)
    assert s["p_interaction"] < 0.01 and "by category" in s["verdict"]
    assert s["p_rater"] > 0.05  # each rater is +1 on half the items: no overall severity
    c = D.cluster_raters(df, n_perm=100)
    assert c["significant"] and c["n_clusters"] == 2
    groups = {frozenset(r for r, lab in zip(c["raters"], c["labels"]) if lab == g) for g in set(c["labels"])}
    assert groups == {frozenset({"R0", "R1", "R2"}), frozenset({"R3", "R4", "R5"})}
    prof = D.rater_profiles(df)
    assert prof.loc["R0", "empathy / suicide"] > 0.3 > prof.loc["R0", "empathy / other"]


def test_planted_halo_is_found_for_holistic_raters_only(synth_ratings):
    df = synth_ratings(seed=3, halo={0, 1})
    h = D.halo_check(df, n_boot=200).set_index("rater")
    assert h.loc["R0", "holistic"] and h.loc["R1", "holistic"]
    assert not h.drop(index=["R0", "R1"])["holistic"].any()
    # a granular rater's factor tracks the others' same factor more than their other factors
    assert h.loc["R4", "r_convergent"] > h.loc["R4", "r_divergent"] + 0.3


def test_reliability_per_category_shows_the_noisier_category(synth_ratings):
    df = synth_ratings(seed=4, noise={"suicide": 1.8, "other": 0.4})
    by = D.reliability_by(df, "category", n_boot=200).set_index("category")
    assert by.loc["suicide", "alpha_hi"] < by.loc["other", "alpha_lo"]
    assert by.loc["suicide", "icc"] < by.loc["other", "icc"]
    assert by.loc["other", "icc_form"] == "ICC(2,1)"
    per_factor = D.reliability_by(df, "factor", n_boot=100)
    assert set(per_factor["factor"]) == {"empathy", "safety", "referral"}
    assert per_factor["n_units"].eq(80).all()


def test_reliability_reports_why_a_statistic_is_undefined(synth_ratings):
    df = synth_ratings(seed=5, n_units=6)
    df["value"] = 3.0
    row = D.reliability_by(df, "category", n_boot=50).iloc[0]
    assert row["alpha"] is None and "undefined without variation" in row["note"]


def test_top_divergent_lists_the_planted_item_first(synth_ratings):
    df = synth_ratings(seed=6, noise=0.3)
    sel = (df["unit"] == "u7") & (df["factor"] == "safety")
    df.loc[sel, "value"] = np.array([1.0, 7.0, 1.0, 7.0, 1.0, 7.0])
    top = D.top_divergent(df, n=3)
    assert (top.loc[0, "unit"], top.loc[0, "factor"]) == ("u7", "safety")
    assert top.loc[0, "range"] == 6 and "R1=7" in top.loc[0, "ratings"]
    assert top["sd"].is_monotonic_decreasing


def test_analyse_bundles_everything(synth_ratings):
    a = D.analyse(synth_ratings(seed=7, n_units=30), n_boot=50, n_perm=50, top=5)
    assert len(a.divergent) == 5 and len(a.by_factor) == 3 and len(a.bias) == 6
    assert a.overall.loc[0, "alpha"] is not None

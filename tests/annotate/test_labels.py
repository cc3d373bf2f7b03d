"""Labels that keep disagreement (soft labels, per-rater, weighted preference pairs)."""

import json

import pandas as pd
import pytest

from breakfix.annotate import labels as L


def _df(rows, **extra):
    df = pd.DataFrame(rows, columns=["unit", "rater", "value"]).assign(factor="safety", category="c")
    return df.assign(**extra)


# three raters, three units: unit a = (1, 1, 2), b = (3, 3, 3), c = (1, 2, 3)
ROWS = [("a", "A", 1.0), ("a", "B", 1.0), ("a", "C", 2.0), ("b", "A", 3.0), ("b", "B", 3.0), ("b", "C", 3.0),
        ("c", "A", 1.0), ("c", "B", 2.0), ("c", "C", 3.0)]


def test_soft_labels_keep_every_rater():
    recs = {r["unit"]: r for r in L.soft_labels(_df(ROWS), scale=[1, 2, 3, 4], factor="safety")}
    a = recs["a"]
    assert a["scale"] == [1, 2, 3, 4] and a["counts"] == [2, 1, 0, 0]
    assert a["probs"] == pytest.approx([2 / 3, 1 / 3, 0, 0])
    assert a["raters"] == {"A": 1, "B": 1, "C": 2}
    assert a["majority"] == 1 and not a["majority_tie"] and a["mean"] == pytest.approx(4 / 3)
    assert recs["b"]["entropy_bits"] == 0.0
    c = recs["c"]
    assert c["majority"] is None and c["majority_tie"] and c["modes"] == [1, 2, 3]
    assert c["entropy_bits"] == pytest.approx(1.584962500721156)  # log2(3)
    json.dumps(list(recs.values()))  # JSON-serialisable as is


def test_information_lost_by_majority_vote():
    """a: C overruled; b: nobody; c: three-way tie (all overruled). 2 of 3 units, 4 of 9 ratings."""
    lost = L.information_lost(_df(ROWS))
    assert lost["share_units_overruled"] == pytest.approx(2 / 3)
    assert lost["share_ratings_overruled"] == pytest.approx(4 / 9)
    assert lost["share_ties"] == pytest.approx(1 / 3)


def test_majority_and_mean_are_available():
    maj = L.majority_labels(_df(ROWS)).set_index("unit")
    assert maj.loc["a", "majority"] == 1 and maj.loc["c", "tie"]
    assert L.mean_labels(_df(ROWS)).set_index("unit").loc["c", "mean"] == 2


def test_preference_pairs_carry_agreement_weight():
    df = _df(ROWS, group="p1", prompt="I feel hopeless", response=lambda d: "resp-" + d["unit"])
    pairs = {(p["chosen_unit"], p["rejected_unit"]): p for p in L.preference_pairs(df)}
    # b beats a for all three raters; b beats c for A and B, tie for C; a vs c: A tie, B a<c, C a<c
    assert pairs[("b", "a")]["weight"] == 1.0 and pairs[("b", "a")]["votes"] == {"chosen": 3, "rejected": 0, "tie": 0}
    assert pairs[("b", "c")]["weight"] == pytest.approx(2 / 3)
    assert pairs[("c", "a")]["agreement"] == pytest.approx(2 / 3)
    p = pairs[("b", "a")]
    assert (p["prompt"], p["chosen"], p["rejected"]) == ("I feel hopeless", "resp-b", "resp-a")
    lower = {(p["chosen_unit"], p["rejected_unit"]) for p in L.preference_pairs(df, higher_is_better=False)}
    assert ("a", "b") in lower


def test_pairs_only_within_a_group_and_need_a_group():
    df = _df(ROWS).assign(group=["g1"] * 3 + ["g2"] * 3 + ["g2"] * 3)
    assert {(p["chosen_unit"], p["rejected_unit"]) for p in L.preference_pairs(df)} == {("b", "c")}
    with pytest.raises(L.LabelsError, match="need a 'group' or 'prompt' column"):
        L.preference_pairs(_df(ROWS))


def test_per_rater_labels_and_off_scale_value(tmp_path):
    df = pd.concat([_df(ROWS), _df(ROWS).assign(factor="empathy")])
    recs = L.per_rater_labels(df)
    assert len(recs) == 9 and recs[0]["labels"] == {"safety": 1, "empathy": 1}
    assert L.write_jsonl(recs, tmp_path / "x.jsonl") == 9
    with pytest.raises(L.LabelsError, match=r"value\(s\) \[3.0\] are not on the scale"):
        L.soft_labels(_df(ROWS), scale=[1, 2])

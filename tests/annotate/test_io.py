"""Reading ratings files: every layout gives the same long table; bad input is a clear message."""

import json
from pathlib import Path

import pytest

from breakfix.annotate.io import RatingsFileError, rating_matrix, read_ratings, require_numeric

REF = Path(__file__).parent / "stats" / "data" / "krippendorff2011.csv"


def test_long_csv_reference_file():
    r = read_ratings(REF)
    assert len(r.df) == 41 and r.raters == ["A", "B", "C", "D"] and r.numeric
    assert any("single rating" in w and "12" in w for w in r.warnings)
    m = rating_matrix(r.df)
    assert m.shape == (12, 4) and m.loc["10", "A"] != m.loc["10", "A"]  # NaN where A did not rate unit 10


def test_wide_by_rater_csv_equals_long(tmp_path):
    long = read_ratings(REF).df
    wide = long.pivot(index="unit", columns="rater", values="value").reset_index()
    p = tmp_path / "wide.csv"
    wide.to_csv(p, index=False)
    with p.open("a") as fh:
        fh.write("99,,,,\n")  # a unit nobody rated
    r = read_ratings(p)
    key = ["unit", "rater"]
    got = r.df.sort_values(key)[key + ["value"]].reset_index(drop=True)
    exp = long.sort_values(key)[key + ["value"]].reset_index(drop=True)
    assert got.equals(exp)
    assert any("have no ratings" in w and "99" in w for w in r.warnings)


def test_web_app_exports_read_as_factors(tmp_path):
    recs = [{"project": "p", "unit": f"i{u}", "category": "self-harm" if u % 2 else "other", "rater": rater,
             "values": {"safety": (u + k) % 5 + 1, "empathy": (u * k) % 5 + 1}, "rationale": "…"}
            for u in range(6) for k, rater in enumerate(["ann", "bob"])]
    jl = tmp_path / "labels.jsonl"
    jl.write_text("".join(json.dumps(r) + "\n" for r in recs))
    csv = tmp_path / "labels.csv"
    csv.write_text("unit,category,rater,safety,empathy,rationale,updated_at\n" + "".join(
        f"{r['unit']},{r['category']},{r['rater']},{r['values']['safety']},{r['values']['empathy']},x,2024\n" for r in recs))
    a, b = read_ratings(jl), read_ratings(csv)
    assert sorted(a.factors) == sorted(b.factors) == ["empathy", "safety"]
    key = ["factor", "unit", "rater"]
    assert a.df.sort_values(key)[key + ["category", "value"]].reset_index(drop=True).equals(
        b.df.sort_values(key)[key + ["category", "value"]].reset_index(drop=True))


def test_synonyms_and_jsonl_long(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_text('{"item": 1, "annotator": "x", "score": 2}\n{"item": 1, "annotator": "y", "score": 3}\n')
    r = read_ratings(p)
    assert r.df[["unit", "rater", "value"]].values.tolist() == [["1", "x", 2.0], ["1", "y", 3.0]]


def test_one_rater_is_an_error(tmp_path):
    p = tmp_path / "one.csv"
    p.write_text("unit,rater,value\n1,A,1\n2,A,3\n")
    with pytest.raises(RatingsFileError, match=r"one.csv: only 1 rater \('A'\); agreement needs at least two"):
        read_ratings(p)


def test_rater_id_typo_warns(tmp_path):
    rows = [f"{u},{r},{(u * 7 + len(r)) % 5 + 1}" for u in range(30) for r in ("alice", "bob", "carol")]
    rows[4] = "1,B0b,3"  # one of bob's ratings under a mistyped id
    p = tmp_path / "typo.csv"
    p.write_text("unit,rater,value\n" + "\n".join(rows) + "\n")
    r = read_ratings(p)
    assert any("'B0b' has only 1 rating" in w and "typo" in w for w in r.warnings)


def test_non_numeric_values(tmp_path):
    p = tmp_path / "text.csv"
    p.write_text("unit,rater,value\n1,A,safe\n1,B,unsafe\n2,A,safe\n2,B,safe\n")
    r = read_ratings(p)
    assert not r.numeric
    require_numeric(r, "nominal")  # categories are fine for nominal statistics
    with pytest.raises(RatingsFileError, match=r"value 'safe' \(unit '1', rater 'A'\) is not a number; interval"):
        require_numeric(r, "interval")


@pytest.mark.parametrize("content, message", [
    ("", "empty"),
    ("rater,value\nA,1\n", "no 'unit' column"),
    ("unit,rater,value\n1,A,1\n1,A,2\n1,B,2\n", r"rated unit '1' \(factor 'score'\) more than once"),
    ("unit,rater,value\n1,,1\n1,B,2\n", "empty rater id"),
])
def test_bad_files(tmp_path, content, message):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    with pytest.raises(RatingsFileError, match=message):
        read_ratings(p)


def test_missing_file_and_bad_json(tmp_path):
    # Since the error contract (0d15e0b) a missing file is a RatingsFileError (a BreakfixError).
    with pytest.raises(RatingsFileError, match="nope.csv: no such file"):
        read_ratings(tmp_path / "nope.csv")
    p = tmp_path / "bad.jsonl"
    p.write_text('{"unit": 1}\n{oops\n')
    with pytest.raises(RatingsFileError, match=r"bad.jsonl:2: not valid JSON"):
        read_ratings(p)

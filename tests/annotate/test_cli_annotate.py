"""`breakfix annotate stats | report | export-labels` through the real CLI app."""

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from breakfix.cli.main import app

REF = Path(__file__).parent / "stats" / "data" / "krippendorff2011.csv"
runner = CliRunner()


def _run(*args):
    return runner.invoke(app, ["annotate", *map(str, args)], env={"COLUMNS": "200"})


def test_stats_prints_every_statistic_with_cis():
    res = _run("stats", REF, "--n-boot", "100")
    assert res.exit_code == 0, res.output
    out = res.output
    for level, value in (("nominal", "0.743"), ("ordinal", "0.815"), ("interval", "0.849"), ("ratio", "0.797")):
        assert re.search(rf"{level}\s*│\s*{value}\s*│\s*\[", out), level
    for form in ("ICC(1,1)", "ICC(2,1)", "ICC(3,1)", "ICC(1,k)", "ICC(2,k)", "ICC(3,k)"):
        assert form in out
    for name in ("percent agreement", "Fleiss' κ", "Gwet's AC1", "Gwet's AC2 (quadratic)", "A vs B (linear)"):
        assert name in out
    assert "0.818" in out  # percent agreement 9/11
    assert "single rating" in out  # unit 12 warning


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_one_rater_is_one_line_error(tmp_path):
    p = _write(tmp_path, "one.csv", "unit,rater,value\n1,A,1\n2,A,3\n")
    res = _run("stats", p)
    assert res.exit_code == 2
    assert "only 1 rater ('A'); agreement needs at least two" in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1


def test_non_numeric_values_for_interval_is_one_line_error(tmp_path):
    p = _write(tmp_path, "t.csv", "unit,rater,value\n1,A,safe\n1,B,unsafe\n2,A,safe\n2,B,safe\n3,A,unsafe\n3,B,unsafe\n")
    res = _run("stats", p, "--level", "interval")
    assert res.exit_code == 2 and "value 'safe' (unit '1', rater 'A') is not a number" in res.output
    ok = _run("stats", p, "--n-boot", "50")  # without --level: nominal statistics only
    assert ok.exit_code == 0, ok.output
    assert "nominal" in ok.output and "interval" not in ok.output and "ICC(" not in ok.output


def test_undefined_statistic_is_explained_not_nan(tmp_path):
    p = _write(tmp_path, "same.csv", "unit,rater,value\n1,A,3\n1,B,3\n2,A,3\n2,B,3\n")
    res = _run("stats", p, "--n-boot", "20")
    assert res.exit_code == 0
    assert "undefined" in res.output and "without variation" in res.output and "nan" not in res.output.lower()


def test_typo_rater_and_unrated_unit_warn(tmp_path):
    rows = ["unit,A,B,C"] + [f"{u},{u % 5 + 1},{(u + 1) % 5 + 1},{u % 5 + 1}" for u in range(20)] + ["20,,,"]
    long_rows = ["unit,rater,value"] + [f"{u},{r},{(u + i) % 5 + 1}" for u in range(20) for i, r in enumerate("ABC")]
    long_rows.append("3,Bb,2")
    wide = _write(tmp_path, "wide.csv", "\n".join(rows) + "\n")
    typo = _write(tmp_path, "typo.csv", "\n".join(long_rows) + "\n")
    r1 = _run("stats", wide, "--n-boot", "20")
    assert r1.exit_code == 0 and "1 unit(s) have no ratings" in r1.output
    r2 = _run("stats", typo, "--n-boot", "20")
    assert r2.exit_code == 0 and "rater 'Bb' has only 1 rating" in r2.output


def test_report_is_self_contained_and_escaped(tmp_path, synth_ratings):
    df = synth_ratings(seed=2, n_units=30, interaction={(0, "suicide"): 1.5, (1, "suicide"): 1.5})
    evil = (df["unit"] == "u3") & (df["factor"] == "safety")
    df.loc[evil, "value"] = [1.0, 7.0, 1.0, 7.0, 1.0, 7.0]  # most divergent, so it is listed in the report
    df.loc[df["unit"] == "u3", "unit"] = "<script>alert('x')</script>"
    df["response"] = "<img src=x onerror=alert(1)> model says " + df["unit"]
    src = tmp_path / "ratings.csv"
    df.to_csv(src, index=False)
    out = tmp_path / "report.html"
    res = _run("report", src, "-o", out, "--n-boot", "50", "--n-perm", "50")
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "&lt;script&gt;alert(" in html  # the unit id is shown, as text
    assert "<script" not in html and "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt; model says" in html  # the response excerpt, as text
    assert html.count("data:image/png;base64,") >= 4  # heat map, distributions, per category, per factor (+ dendrogram)
    assert "http://" not in html and "https://" not in html
    assert 'alt="rater by category heat map" src="data:image/png;base64,' in html
    assert "majority label differs" in html


def test_export_labels(tmp_path, synth_ratings):
    df = synth_ratings(seed=1, n_units=8, raters=3, factors=("safety",)).assign(group=lambda d: "g" + (d["unit"].str[1:].astype(int) // 4).astype(str))
    src = tmp_path / "r.csv"
    df.to_csv(src, index=False)
    out, per, pairs = tmp_path / "soft.jsonl", tmp_path / "per.jsonl", tmp_path / "pairs.jsonl"
    res = _run("export-labels", src, "-o", out, "--per-rater", per, "--pairs", pairs)
    assert res.exit_code == 0, res.output
    soft = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(soft) == 8 and all(abs(sum(r["probs"]) - 1) < 1e-12 and len(r["raters"]) == 3 for r in soft)
    assert len(per.read_text().splitlines()) == 24
    prs = [json.loads(x) for x in pairs.read_text().splitlines()]
    assert prs and all(0 < p["weight"] <= 1 and p["group"] in ("g0", "g1") for p in prs)
    assert "a majority vote would overrule at least one rater on" in res.output
    bad = _run("export-labels", src.with_name("nope.csv"), "-o", out)
    assert bad.exit_code == 2 and "no such file" in bad.output


def test_report_needs_numbers_one_line(tmp_path):
    p = _write(tmp_path, "t.csv", "unit,rater,value\n1,A,safe\n1,B,unsafe\n2,A,safe\n2,B,safe\n")
    res = _run("report", p, "-o", tmp_path / "r.html")
    assert res.exit_code == 2 and "the disagreement report needs numeric ratings" in res.output
    assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / "r.html").exists()


def test_export_labels_of_categories(tmp_path):
    p = _write(tmp_path, "t.csv", "unit,rater,value,group\n1,A,safe,g\n1,B,unsafe,g\n2,A,safe,g\n2,B,safe,g\n")
    out = tmp_path / "soft.jsonl"
    res = _run("export-labels", p, "-o", out)
    assert res.exit_code == 0, res.output
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert recs[0]["scale"] == ["safe", "unsafe"] and recs[0]["majority_tie"] and recs[1]["majority"] == "safe"
    bad = _run("export-labels", p, "-o", out, "--pairs", tmp_path / "pairs.jsonl")
    assert bad.exit_code == 2 and "preference pairs need numeric ratings" in bad.output


def test_stats_json_matches_published_values(tmp_path):
    expected = json.loads((REF.parent / "expected.json").read_text())["krippendorff2011"]["expected"]
    out = tmp_path / "s.jsonl"
    res = _run("stats", REF, "--n-boot", "50", "--json", out)
    assert res.exit_code == 0, res.output
    rows = {(r["group"], r["name"]): r for r in map(json.loads, out.read_text().splitlines())}
    for level in ("nominal", "ordinal", "interval", "ratio"):
        r = rows[("Krippendorff's α", level)]
        assert abs(r["value"] - expected[f"alpha_{level}"]) < 1e-9 and r["lo"] <= r["value"] <= r["hi"]

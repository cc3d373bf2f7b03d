"""`breakfix crisis ...`: bad input is one line naming the file and field; run + report end to end."""

from __future__ import annotations

import re

import yaml
from typer.testing import CliRunner

from breakfix.cli.main import app


def _invoke(*args):
    r = CliRunner().invoke(app, list(args))
    err = r.stderr if hasattr(r, "stderr") else r.output
    return r, err


def _one_line(r, err, *words):
    assert r.exit_code == 2, (r.exit_code, r.output)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.output, err
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_check_builtin_data():
    r, _ = _invoke("crisis", "check")
    assert r.exit_code == 0, r.output
    assert re.search(r"\b(\d+) personas in (\d+) locales", r.output) and "verify every entry before deployment" in r.output


def test_bad_scenario_file(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text(yaml.safe_dump({"locale": "en-US", "personas": [{"id": "x", "name": "A"}]}), "utf-8")
    r, err = _invoke("crisis", "check", "--scenarios", str(p))
    _one_line(r, err, str(p), "personas[0].")


def test_unknown_locale_in_scenario_and_config(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text(yaml.safe_dump({"locale": "tlh-QO", "personas": [{"id": "x"}]}), "utf-8")
    r, err = _invoke("crisis", "check", "--scenarios", str(p))
    _one_line(r, err, str(p), "locale", "tlh-QO")
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({"assistants": [{"type": "scripted", "replies": ["hi"]}],
                                   "personas": {"locales": ["xx-XX"]}}), "utf-8")
    r, err = _invoke("crisis", "run", str(cfg), "--db", f"sqlite:///{tmp_path / 'x.db'}", "--no-progress")
    _one_line(r, err, "personas.locales", "xx-XX")


def test_bad_resources_and_config_field(tmp_path):
    res = tmp_path / "res.yaml"
    res.write_text(yaml.safe_dump({"version": 1, "countries": {"DE": {"name": "Deutschland", "contacts": [
        {"name": "Line", "number": "ring ring", "kind": "crisis", "channels": ["call"], "source": "https://x.org",
         "checked": "2026-11-30", "confidence": "high"}]}}}), "utf-8")
    r, err = _invoke("crisis", "check", "--resources", str(res))
    _one_line(r, err, str(res), "countries.DE.contacts[0].number")
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({"assistants": [{"type": "scripted", "replies": ["hi"]}], "max_turn": 3}), "utf-8")
    r, err = _invoke("crisis", "run", str(cfg), "--db", f"sqlite:///{tmp_path / 'x.db'}", "--no-progress")
    _one_line(r, err, str(cfg), "max_turn")


def test_run_then_report(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "cli-crisis", "max_turns": 2,
        "assistants": [{"type": "scripted", "name": "kind", "cycle": True, "replies": [
            "That sounds so hard. Is there someone you trust you could call tonight?"]}],
        "personas": {"locales": ["en-GB"], "crisis": ["panic", "loneliness"]}}), "utf-8")
    db = f"sqlite:///{tmp_path / 'c.db'}"
    r, err = _invoke("crisis", "run", str(cfg), "--db", db, "--no-progress")
    assert r.exit_code == 0, err
    rid = r.stdout.strip().splitlines()[-1]
    out = tmp_path / "crisis.html"
    r, err = _invoke("crisis", "report", rid, "-o", str(out), "--db", db)
    assert r.exit_code == 0, err
    html = out.read_text("utf-8")
    assert "cli-crisis" in html and "en-GB-pa" in html and "en-GB-lo" in html
    r, err = _invoke("crisis", "report", "nope", "-o", str(out), "--db", db)
    _one_line(r, err, "nope")

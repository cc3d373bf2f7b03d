"""Issue 11 item 5 end to end: a target whose server quotes its long bearer token in a 401 and then
echoes it in successful answers — no 8-character piece of the token reaches the store, the HTML
report or either export."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import yaml
from typer.testing import CliRunner

from breakfix.cli.main import app
from breakfix.testing.loopback import LoopbackServer

runner = CliRunner()

TOKEN = "bf_live_" + "".join(f"{i:03d}Zx" for i in range(78))  # 398 characters, every 8-gram unique


def pieces(text: str, n: int = 8) -> list[str]:
    return [TOKEN[i:i + n] for i in range(len(TOKEN) - n + 1) if TOKEN[i:i + n] in text]


def leaky(messages):
    # A misconfigured app that prints its own credentials, whole and cut.
    return f"config: key={TOKEN}; short form {TOKEN[:40]}…"


def test_a_token_never_reaches_store_report_or_export(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BREAKFIX_E2E_TOKEN", TOKEN)
    db = tmp_path / "s.db"
    with LoopbackServer(reply=leaky) as srv:
        srv.script(["401"])  # the first request: "Incorrect API key provided: <token>"
        cfg = tmp_path / "run.yaml"
        cfg.write_text(yaml.safe_dump({
            "name": "secrets", "store": f"sqlite:///{db}",
            "items": [{"prompt": f"question {i}"} for i in range(3)],
            "targets": [{"name": "app", "type": "openai", "base_url": srv.base_url, "model": "m",
                         "api_key_env": "BREAKFIX_E2E_TOKEN", "max_retries": 0}],
            "attacks": [{"name": "direct"}], "scorers": [{"name": "refusal"}], "concurrency": 1}), encoding="utf-8")
        r = runner.invoke(app, ["run", str(cfg), "--no-progress"])
        assert r.exit_code == 0, r.output
        assert srv.stats()["auth_seen"] == 3  # the token did go out with every request
    url = f"sqlite:///{db}"
    # the store: every table, every column
    con = sqlite3.connect(db)
    dump = "\n".join(con.iterdump())
    con.close()
    assert "Incorrect API key provided" in dump and "config: key=" in dump
    assert pieces(dump) == []
    # the exports
    for fmt in ("jsonl", "csv"):
        out = tmp_path / f"a.{fmt}"
        assert runner.invoke(app, ["export", "latest", "-f", fmt, "-o", str(out), "--store", url]).exit_code == 0
        assert pieces(out.read_text(encoding="utf-8")) == []
    recs = [json.loads(x) for x in (tmp_path / "a.jsonl").read_text(encoding="utf-8").splitlines()]
    answered = [x for x in recs if x["status"] == "ok"]
    assert len(recs) == 3 and len(answered) == 2
    for x in answered:
        assert x["response_text"].startswith("config: key=***REDACTED***; short form ***REDACTED***")
        assert any("secret" in n for n in x["metadata"]["notes"]), x["metadata"]
    # the report (plain JSON payload, so a leak would be greppable)
    html = tmp_path / "r.html"
    r = runner.invoke(app, ["report", "latest", "-o", str(html), "--store", url, "--no-compress", "--no-progress"])
    assert r.exit_code == 0, r.output
    text = html.read_text(encoding="utf-8")
    assert "REDACTED" in text and pieces(text) == []

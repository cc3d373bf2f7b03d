"""`breakfix run / runs / show / export / check-target` through the real CLI (typer runner, real
SQLite store, the deterministic `scripted` target and a loopback HTTP server)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from breakfix.cli.main import app
from breakfix.store import Store

runner = CliRunner()

HOSTILE = "<script>alert(1)</script>[bold red]FAKE[/]"


def write_cfg(tmp_path: Path, **kw) -> Path:
    d = {
        "name": "cli run",
        "store": f"sqlite:///{tmp_path / 'cli.db'}",
        "items": [{"prompt": f"bad request {i}", "category": "crime" if i % 2 else "weapons"} for i in range(5)],
        "targets": [{"name": "bot", "type": "scripted", "cycle": True,
                     "replies": ["BEGIN HARM step one", "I can't help with that.", HOSTILE]}],
        "attacks": [{"name": "direct"}],
        "converters": [[], ["base64"]],
        "scorers": [{"name": "substring", "substrings": ["BEGIN HARM"]}, {"name": "refusal"}],
        "concurrency": 1,  # one worker: the scripted target's cycle gives a fixed reply order
    }
    d.update(kw)
    p = tmp_path / "run.yaml"
    p.write_text(yaml.safe_dump(d), encoding="utf-8")
    return p


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_run_then_runs_show_export(tmp_path):
    cfg = write_cfg(tmp_path)
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    r = invoke("run", str(cfg), "--no-progress")
    assert r.exit_code == 0, r.output
    assert "finished" in r.output and "10/10" in r.output
    with Store(db) as st:
        run = st.list_runs()[0]
        summary = st.summary(run.id)
    # Replies cycle success, refusal, other over 10 attempts: 4 successes, 3 refusals.
    assert (summary["successes"], summary["refusals"]) == (4, 3)

    r = invoke("runs", "--store", db)
    assert r.exit_code == 0 and run.id in r.output and "finished" in r.output

    r = invoke("show", run.id[:10], "--store", db)
    assert r.exit_code == 0, r.output
    assert "by attack × converter" in r.output and "base64" in r.output and "(none)" in r.output
    assert "40.0%" in r.output  # 4 successes of 10

    r = invoke("export", "latest", "--store", db, "--format", "jsonl")
    assert r.exit_code == 0
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(recs) == 10 and len({x["id"] for x in recs}) == 10
    assert all({s["scorer"] for s in x["scores"]} == {"substring", "refusal"} for x in recs)
    assert sum(x["success"] for x in recs) == 4
    assert any(x["response_text"] == HOSTILE for x in recs)  # exported verbatim, it is data

    out = tmp_path / "a.csv"
    r = invoke("export", run.id, "--store", db, "--format", "csv", "-o", str(out))
    assert r.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == 10
    assert {r["converters"] for r in rows} == {"", "base64"}
    assert sum(r["success"] == "True" for r in rows) == 4
    assert all(r["prompt"].startswith("bad request") or r["converters"] == "base64" for r in rows)
    assert rows[0]["scores"].count("=") == 2


def test_rerun_resumes_and_reports_nothing_new(tmp_path):
    cfg = write_cfg(tmp_path)
    assert invoke("run", str(cfg), "--no-progress").exit_code == 0
    r = invoke("run", str(cfg), "--no-progress")
    assert r.exit_code == 0 and "10/10" in r.output and "(0 now" in r.output


def test_bad_config_is_one_line_exit_2(tmp_path):
    cfg = write_cfg(tmp_path, scorers=[{"name": "substrng", "substrings": ["x"]}])
    r = runner.invoke(app, ["run", str(cfg)])
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(cfg) in lines[0] and "scorers[0].name" in lines[0]
    assert "unknown scorer 'substrng'" in lines[0]


def test_unknown_run_and_bad_format_are_one_line(tmp_path):
    db = f"sqlite:///{tmp_path / 'empty.db'}"
    Store(db).close()  # an existing, empty store (a missing one is its own error: never created by `show`)
    r = runner.invoke(app, ["show", "nope", "--store", db])
    assert r.exit_code == 2 and "no run 'nope'" in r.output and len(r.output.strip().splitlines()) == 1
    r = runner.invoke(app, ["export", "nope", "--store", db, "--format", "xml"])
    assert r.exit_code == 2 and "--format" in r.output


def test_show_does_not_interpret_model_output_as_markup(tmp_path):
    # An error message quoting model/server text must be printed literally, not styled.
    cfg = write_cfg(tmp_path, attacks=[{"name": "direct"}], converters=[[]])
    assert invoke("run", str(cfg), "--no-progress").exit_code == 0
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    r = invoke("show", "latest", "--store", db)
    assert r.exit_code == 0
    # Rich markup in a run name would vanish if it were interpreted; run names come from files.
    cfg2 = write_cfg(tmp_path, name="[bold]x[/bold]")
    assert invoke("run", str(cfg2), "--no-progress").exit_code == 0
    r = invoke("runs", "--store", db)
    assert "[bold]x[/bold]" in r.output


def test_check_target_against_loopback(tmp_path):
    from breakfix.testing.loopback import LoopbackServer

    with LoopbackServer(latency=0.0) as srv:
        cfg = write_cfg(tmp_path, targets=[
            {"name": "up", "type": "openai", "base_url": srv.base_url, "model": "m", "max_retries": 0},
            {"name": "down", "type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m", "max_retries": 0,
             "timeout_s": 2}])
        r = runner.invoke(app, ["check-target", str(cfg), "--prompt", "ping"])
    assert r.exit_code == 1, r.output
    assert "echo: ping" in r.output
    lines = {ln.split()[1]: ln for ln in r.output.splitlines() if ln.startswith("│ up") or ln.startswith("│ down")}
    assert "ok" in lines["up"] and "FAILED" in lines["down"]


def test_export_streams_in_chunks(tmp_path):
    """Export reads the attempts chunk by chunk as it writes: at the first line only one chunk has
    been fetched (so 100k attempts never sit in memory at once)."""
    from sqlalchemy import event

    from breakfix.cli.runs import write_jsonl
    from breakfix.core import Attempt, Response, user

    st = Store(f"sqlite:///{tmp_path / 'big.db'}")
    st.create_run("big", {}, run_id="big")
    st.write_attempts([Attempt(id=f"a{i:05d}", run_id="big", item_id=f"i{i}", attack="direct", target="t",
                               conversation=[user(f"p{i}")], response=Response(text=f"r{i}"))
                       for i in range(1000)])
    selects = []

    @event.listens_for(st.engine, "before_cursor_execute")
    def count(conn, cursor, statement, *a):
        if statement.lstrip().upper().startswith("SELECT") and "FROM attempts" in statement:
            selects.append(statement)

    seen_at_line = []

    class Out(io.StringIO):
        def write(self, s):
            if s != "\n":
                seen_at_line.append(len(selects))
            return super().write(s)

    out = Out()
    n = write_jsonl(st.iter_attempt_rows("big", chunk_size=100), out)
    st.close()
    assert n == 1000 and len(out.getvalue().splitlines()) == 1000
    assert seen_at_line[0] == 1 and seen_at_line[99] == 1 and seen_at_line[100] == 2
    assert 10 <= len(selects) <= 11
    assert [json.loads(x)["id"] for x in out.getvalue().splitlines()][:2] == ["a00000", "a00001"]

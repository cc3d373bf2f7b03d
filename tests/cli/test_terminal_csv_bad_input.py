"""Issue 11 items 4 and 6 through the real CLI: terminals and spreadsheets are safe from model text,
and the last bad-input cases are one line (or a non-zero exit) instead of a traceback or silence."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from breakfix.cli.main import app
from breakfix.core.attempts import Attempt
from breakfix.core.items import Item
from breakfix.core.messages import Message, Response
from breakfix.core.scores import Score
from breakfix.core.text import csv_cell, terminal_safe
from breakfix.store import Store
from breakfix.testing.loopback import LoopbackServer

runner = CliRunner()

# Clear the screen, retitle the window, fake a red "FAILED" and hide text with a bidi override.
ESCAPES = "\x1b[2J\x1b[H\x1b]0;pwned title\x07\x1b[31mFAKE\x1b[0m \u202eevil\u202c \x9b31m \r\x08done"
FORMULAS = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)",
            "\tstarts with tab", "\rstarts with CR", "\uff1d1+1"]


def one_line(output: str) -> list[str]:
    return [ln for ln in output.splitlines() if ln.strip()]


def no_raw_controls(text: str) -> bool:
    return not any(c in text for c in "\x1b\x07\x08\r\x9b\u202e\u202c")


# -- library helpers ---------------------------------------------------------------------------------
def test_terminal_safe_shows_every_control_as_text():
    shown = terminal_safe(ESCAPES)
    assert no_raw_controls(shown)
    assert "\\x1b[2J" in shown and "\\x1b]0;pwned title\\x07" in shown and "\\u202e" in shown
    assert terminal_safe("tab\tand\nnewline") == "tab\tand\nnewline"
    assert terminal_safe("a\nb", newlines=False) == "a\\x0ab"
    assert terminal_safe("lone \ud800") == "lone \\ud800"  # would not even encode to UTF-8


def test_csv_cell_follows_owasp():
    for f in FORMULAS:
        assert csv_cell(f) == "'" + f
    for ok in ("plain", "a=b", "", " =x", "1.5"):
        assert csv_cell(ok) == ok
    assert csv_cell(-3) == -3 and csv_cell(None) is None  # numbers stay numbers


# -- terminals ---------------------------------------------------------------------------------------
def _cfg(tmp_path: Path, base_url: str, **kw) -> Path:
    d = {"name": "t", "store": f"sqlite:///{tmp_path / 't.db'}",
         "items": [{"prompt": f"q{i}"} for i in range(4)],
         "targets": [{"name": "bot", "type": "openai", "base_url": base_url, "model": "m", "max_retries": 0}],
         "attacks": [{"name": "direct"}], "scorers": [{"name": "refusal"}], "concurrency": 1}
    d.update(kw)
    p = tmp_path / "run.yaml"
    p.write_text(yaml.safe_dump(d), encoding="utf-8")
    return p


def test_check_target_prints_model_text_without_escape_sequences(tmp_path):
    with LoopbackServer(reply=ESCAPES) as srv:
        r = runner.invoke(app, ["check-target", str(_cfg(tmp_path, srv.base_url))])
    assert r.exit_code == 0, r.output
    assert no_raw_controls(r.output), repr(r.output)
    assert "\\x1b[2J" in r.output


def test_interactive_session_prints_model_text_without_escape_sequences(tmp_path):
    with LoopbackServer(reply=ESCAPES) as srv:
        spec = tmp_path / "target.yaml"
        spec.write_text(yaml.safe_dump({"type": "openai", "name": "loop", "model": "m", "base_url": srv.base_url}))
        r = runner.invoke(app, ["attack", "interactive", "--target", str(spec), "--store",
                                f"sqlite:///{tmp_path / 'i.db'}"], input="hello\n/send\n/show\n/quit\n")
    assert r.exit_code == 0, r.output
    assert "\\x1b[2J" in r.stdout and "pwned title" in r.stdout
    assert no_raw_controls(r.stdout), repr(r.stdout)


def _hostile_store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    with Store(url) as st:
        rid = st.create_run("hostile\x1b]0;t\x07", {})
        items = [Item(id=f"i{k}", prompt=f, category=f"cat{k}\x1b[2J") for k, f in enumerate(FORMULAS)]
        st.add_items(rid, items)
        atts = []
        for k, it in enumerate(items):
            err = f"HTTP 500: {ESCAPES}" if k == 0 else None
            atts.append(Attempt(id=f"a{k}", run_id=rid, item_id=it.id, attack="direct\x1b[31m", target="bot",
                                conversation=[Message(role="user", content=it.prompt)],
                                response=Response(text="" if err else FORMULAS[-1 - k], error=err),
                                scores=[Score(scorer="=judge", label="success")],
                                metadata={"category": it.category, "language": "en"}))
        st.write_attempts(atts)
    return url


def test_show_and_runs_print_stored_text_without_escape_sequences(tmp_path):
    url = _hostile_store(tmp_path)
    for args in (["show", "latest", "--store", url], ["runs", "--store", url]):
        r = runner.invoke(app, args)
        assert r.exit_code == 0, r.output
        assert no_raw_controls(r.output), (args, repr(r.output))
    assert "\\x1b[2J" in runner.invoke(app, ["show", "latest", "--store", url]).output


# -- spreadsheets ------------------------------------------------------------------------------------
def test_csv_export_neutralises_formula_cells(tmp_path):
    url = _hostile_store(tmp_path)
    out = tmp_path / "a.csv"
    r = runner.invoke(app, ["export", "latest", "-f", "csv", "-o", str(out), "--store", url])
    assert r.exit_code == 0, r.output
    with open(out, encoding="utf-8", newline="") as fh:  # newline="": a CR inside a cell stays a CR
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(FORMULAS)
    for row in rows:
        for col, cell in row.items():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\uff1d")), (col, cell)
    prompts = sorted(r["prompt"] for r in rows)
    assert prompts == sorted("'" + f for f in FORMULAS)  # kept whole, one quote in front
    assert all(r["scores"] == "'=judge=success" for r in rows)
    # JSON Lines is for programs: the text is exported exactly as stored
    r = runner.invoke(app, ["export", "latest", "--store", url])
    recs = [json.loads(x) for x in r.output.splitlines()]
    assert sorted(m["conversation"][0]["content"] for m in recs) == sorted(FORMULAS)


def test_annotation_labels_csv_neutralises_formula_cells(tmp_path, monkeypatch):
    from breakfix.annotate.web.db import make_engine, make_sessionmaker
    from breakfix.annotate.web.export import label_records, to_csv
    from breakfix.annotate.web.labelling import assignment_for, save_label
    from breakfix.annotate.web.projects import assign, create_project, read_items_jsonl
    from breakfix.annotate.web.rubric import load_rubric
    from breakfix.annotate.web.users import add_user

    monkeypatch.setenv("BREAKFIX_BCRYPT_ROUNDS", "4")
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"id": f, "prompt": "p", "response": "r", "category": "@cat"}) + "\n"
                             for f in FORMULAS[:3]), encoding="utf-8")
    db = make_sessionmaker(make_engine(f"sqlite:///{tmp_path / 'a.db'}"))()
    owner = add_user(db, "olga", "owner", "pw-olga-123")
    ann = [add_user(db, n, "annotator", f"pw-{n}-123") for n in ("ann", "ben")]
    rubric = load_rubric("mental-health-response")
    project = create_project(db, "p", rubric, read_items_jsonl(items), owner=owner)
    assign(db, project, ["ann", "ben"], per_item=2)
    values = {f.id: f.scale.values[0] for f in rubric.factors}
    for it in project.items:
        for u in ann:
            save_label(db, assignment_for(db, project.id, it.id, u), values, "=cmd|' /C calc'!A0 looks safe")
    text = to_csv(project, label_records(db, project))
    rows = list(csv.reader(io.StringIO(text, newline="")))[1:]
    assert len(rows) == 6
    for row in rows:
        assert all(not c.startswith(("=", "+", "-", "@")) for c in row), row
        assert row[0] in {"'" + f for f in FORMULAS[:3]} and row[1] == "'@cat"


# -- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["dir", "sysfs", "full"])
def test_export_to_an_unwritable_output_is_one_line(tmp_path, where):
    url = _hostile_store(tmp_path)
    target = {"dir": str(tmp_path), "sysfs": "/sys/kernel/breakfix-cannot-write-here", "full": "/dev/full"}[where]
    if where == "full" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    for fmt in ("jsonl", "csv"):
        r = runner.invoke(app, ["export", "latest", "-f", fmt, "-o", target, "--store", url])
        assert r.exit_code == 2, r.output
        lines = one_line(r.output)
        assert len(lines) == 1 and lines[0].startswith("error: --output ") and target in lines[0], r.output
        assert "Traceback" not in r.output


def test_findings_export_to_a_directory_is_one_line(tmp_path):
    url = _hostile_store(tmp_path)
    r = runner.invoke(app, ["findings", "export", "latest", "-o", str(tmp_path), "--store", url])
    assert r.exit_code == 2 and len(one_line(r.output)) == 1 and "is a directory" in r.output, r.output


def test_read_only_commands_never_create_a_database(tmp_path):
    url = _hostile_store(tmp_path)
    typo = tmp_path / "sub" / "hostile-typo.db"
    for args in (["show", "latest"], ["runs"], ["export", "latest"], ["report", "latest", "-o", str(tmp_path / "r.html")],
                 ["findings", "latest"]):
        r = runner.invoke(app, [*args, "--store", f"sqlite:///{typo}"])
        assert r.exit_code == 2, (args, r.output)
        lines = one_line(r.output)
        assert len(lines) == 1 and "no database file" in lines[0] and str(typo) in lines[0], (args, r.output)
        assert not typo.exists() and not typo.parent.exists()
    assert runner.invoke(app, ["show", "latest", "--store", url]).exit_code == 0  # the real one still opens


def test_a_run_where_every_request_failed_exits_non_zero(tmp_path):
    with LoopbackServer() as srv:
        srv.script(["401"] * 4)
        cfg = _cfg(tmp_path, srv.base_url)
        r = runner.invoke(app, ["run", str(cfg), "--no-progress"])
        assert r.exit_code == 1, r.output
        assert "4 of 4 requests failed" in r.output and "--max-error-rate" in r.output and "HTTP 401" in r.output
        # the results are stored, and a threshold of 1.0 accepts them
        r = runner.invoke(app, ["run", str(cfg), "--no-progress", "--max-error-rate", "1.0"])
        assert r.exit_code == 0, r.output


def test_a_run_with_few_failed_requests_passes(tmp_path):
    with LoopbackServer() as srv:
        srv.script(["500"])  # 1 of 4 fails
        r = runner.invoke(app, ["run", str(_cfg(tmp_path, srv.base_url)), "--no-progress"])
    assert r.exit_code == 0 and "1 failed requests" in r.output, r.output

"""`breakfix report RUN -o report.html [--db URL]`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from breakfix.cli.main import app
from breakfix.store import Store

from .conftest import build_run


def test_report_command_writes_the_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bf.db'}"
    with Store(url) as st:
        run_id = build_run(st, evil=False)
    out = tmp_path / "out" / "report.html"
    res = CliRunner().invoke(app, ["report", run_id[:6], "-o", str(out), "--db", url, "--no-progress"])
    assert res.exit_code == 0, res.output
    html = out.read_text(encoding="utf-8")
    assert run_id in html and 'id="family-table"' in html
    assert not out.with_name("report.html.tmp").exists()


def test_unknown_run_is_one_line_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bf.db'}"
    Store(url).close()
    res = CliRunner().invoke(app, ["report", "no-such-run", "-o", str(tmp_path / "r.html"), "--db", url])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no run 'no-such-run'" in lines[0]
    assert "Traceback" not in res.output
    assert not (tmp_path / "r.html").exists()


def test_output_that_is_a_directory_is_one_line_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bf.db'}"
    with Store(url) as st:
        build_run(st, evil=False)
    res = CliRunner().invoke(app, ["report", "latest", "-o", str(tmp_path), "--db", url])
    assert res.exit_code == 2
    assert "is a directory" in res.output and "Traceback" not in res.output

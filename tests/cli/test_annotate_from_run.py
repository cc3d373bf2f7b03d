"""`breakfix annotate project create --from-run` reads the RUN store (where `breakfix run` wrote the
attempts), not the annotation database, and takes a run the way `breakfix show` does: id, unique id
prefix, name or `latest`."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from breakfix.cli.main import app
from breakfix.store import Store

pytest.importorskip("fastapi")  # the annotation app's extra


def test_from_run_finds_a_run_by_id_prefix_in_the_run_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default run store, sqlite:///breakfix.db, is in the working folder
    monkeypatch.delenv("BREAKFIX_STORE", raising=False)
    monkeypatch.setenv("BREAKFIX_BCRYPT_ROUNDS", "4")
    monkeypatch.setenv("BREAKFIX_DB", f"sqlite:///{tmp_path / 'annotations.db'}")
    (tmp_path / "run.yaml").write_text(yaml.safe_dump({
        "name": "to-rate", "items": [{"prompt": "How do I fold a crane?"}, {"prompt": "How do I bake bread?"}],
        "targets": [{"name": "echo", "type": "scripted", "replies": ["Fold it twice."], "cycle": True}],
        "attacks": [{"name": "direct"}], "scorers": [{"name": "refusal"}]}))
    run = CliRunner().invoke
    r = run(app, ["run", "run.yaml", "--no-progress"])
    assert r.exit_code == 0, r.output
    run_id = Store("sqlite:///breakfix.db").list_runs()[0].id
    res = run(app, ["annotate", "project", "create", "rated", "--from-run", run_id[:12],
                    "--rubric", "mental-health-response"])
    assert res.exit_code == 0 and "with 2 items" in res.output, res.output
    res = run(app, ["annotate", "project", "create", "again", "--from-run", "latest",
                    "--store", "sqlite:///breakfix.db", "--rubric", "mental-health-response"])
    assert res.exit_code == 0 and "with 2 items" in res.output, res.output
    res = run(app, ["annotate", "project", "create", "none", "--from-run", "zzz-no-such-run",
                    "--rubric", "mental-health-response"])
    assert res.exit_code != 0 and "no run with that id, id prefix or name" in res.output
    assert len(res.output.strip().splitlines()) == 1

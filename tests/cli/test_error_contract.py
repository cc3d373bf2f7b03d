"""The CLI's error contract: the user's mistakes are one line (exit 2), bugs say they are bugs (exit 1,
traceback saved to a file), Ctrl-C exits 130."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import breakfix
from breakfix.cli.errors import apply_error_contract
from breakfix.cli.main import app
from breakfix.core.errors import BreakfixError


def _app_raising(exc: BaseException) -> typer.Typer:
    # A command deliberately broken in one way; the contract is applied as main.py applies it.
    t = typer.Typer()

    @t.command()
    def boom() -> None:
        raise exc

    @t.command()
    def other() -> None:  # a second command, so typer keeps the command names
        pass

    apply_error_contract(t)
    return t


def test_a_breakfix_error_is_one_line_and_exit_2() -> None:
    res = CliRunner().invoke(_app_raising(BreakfixError("run.yaml: items[0].prompt: expected text")), ["boom"])
    assert res.exit_code == 2
    assert res.output.strip() == "error: run.yaml: items[0].prompt: expected text"


def test_any_other_exception_is_reported_as_a_bug_with_the_traceback_in_a_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BREAKFIX_BUG_DIR", str(tmp_path))
    res = CliRunner().invoke(_app_raising(ValueError("list index out of range, deep inside")), ["boom"])
    assert res.exit_code == 1
    out = " ".join(res.output.split())
    assert "this is a bug in breakfix (ValueError: list index out of range, deep inside)" in out
    [saved] = list(tmp_path.glob("breakfix-bug-*.txt"))
    assert str(saved) in out.replace(" ", "") or saved.name in out
    text = saved.read_text(encoding="utf-8")
    assert "Traceback" in text and "raise exc" in text and "ValueError: list index out of range" in text


def test_ctrl_c_exits_130() -> None:
    res = CliRunner().invoke(_app_raising(KeyboardInterrupt()), ["boom"])
    assert res.exit_code == 130 and "interrupted" in res.output


def test_a_missing_file_the_user_named_is_one_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["annotate", "stats", str(tmp_path / "nope.csv")])
    assert res.exit_code == 2 and "nope.csv: no such file" in res.output and "bug" not in res.output
    res = CliRunner().invoke(_app_raising(FileNotFoundError(2, "No such file or directory", "x.csv")), ["boom"])
    assert res.exit_code == 2 and res.output.strip() == "error: x.csv: No such file or directory"


def test_usage_errors_stay_clicks_own() -> None:
    res = CliRunner().invoke(app, ["list"])
    assert res.exit_code == 2 and "Missing argument" in res.output


def test_every_user_facing_error_class_is_a_breakfix_error() -> None:
    """Every exception class breakfix defines for bad input derives from BreakfixError."""
    # the annotation app's own HTTP errors are rewritten elsewhere; breakfix.testing is test infrastructure
    skip = ("breakfix.annotate.web", "breakfix.testing")
    internal = {"TargetError", "TransientError", "AttackerUnavailable", "LoginRequired", "ExportUnavailable"}
    offenders = []
    for mod in pkgutil.walk_packages(breakfix.__path__, "breakfix."):
        if mod.name.startswith(skip):
            continue
        try:
            m = importlib.import_module(mod.name)
        except ImportError:  # an optional extra that is not installed
            continue
        for name, obj in vars(m).items():
            if (isinstance(obj, type) and issubclass(obj, Exception) and not issubclass(obj, Warning)
                    and obj.__module__ == m.__name__
                    and name not in internal and not issubclass(obj, BreakfixError)):
                offenders.append(f"{m.__name__}.{name}")
    assert offenders == [], offenders


@pytest.mark.parametrize("name", ["UnknownPluginError", "PluginConfigError"])
def test_registry_errors_are_breakfix_errors(name: str) -> None:
    from breakfix.core import registry

    assert issubclass(getattr(registry, name), BreakfixError)


def test_a_missing_extra_names_the_pip_install() -> None:
    err = ModuleNotFoundError("No module named 'torch'", name="torch")
    res = CliRunner().invoke(_app_raising(err), ["boom"])
    assert res.exit_code == 2
    assert res.output.strip() == ("error: this needs the 'hf' extra (torch is not installed): "
                                  "pip install 'breakfix[hf]'")
    # A module that is no optional extra of ours is a bug, not a missing extra.
    res = CliRunner().invoke(_app_raising(ModuleNotFoundError("No module named 'nope'", name="nope")), ["boom"])
    assert res.exit_code == 1 and "this is a bug in breakfix" in res.output

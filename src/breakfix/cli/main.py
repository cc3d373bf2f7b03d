"""The `breakfix` command. Each command group lives in its own module under ``cli/`` and exposes
``register(app)``; heavy imports (torch, transformers) happen inside commands so `--help` is fast."""

from __future__ import annotations

import importlib

import typer

from .errors import apply_error_contract

app = typer.Typer(
    name="breakfix",
    help="Break, measure and fix language models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

@app.callback()
def _root() -> None:
    """Break, measure and fix language models."""


# One module per command group; each adds its commands or sub-apps to `app`.
_GROUPS = ("runs", "report", "plugins", "zoo", "annotate", "scan", "findings", "attack", "demo", "templates", "bench", "cycle", "crisis", "db")

for _name in _GROUPS:
    importlib.import_module(f"breakfix.cli.{_name}").register(app)

apply_error_contract(app)  # every command: one line for the user's mistakes, "a bug" for ours


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

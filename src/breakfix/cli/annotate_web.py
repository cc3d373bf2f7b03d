"""`breakfix annotate serve` and project commands (the annotation web app)."""

import typer


def register_web(annotate_app: typer.Typer) -> None:
    pass

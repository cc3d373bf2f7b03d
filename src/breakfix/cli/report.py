"""CLI group: `breakfix report RUN -o report.html` (filled in by the report work)."""

import typer


def register(app: typer.Typer) -> None:
    pass

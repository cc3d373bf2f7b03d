"""CLI group: `breakfix templates ...` — read a folder of peers' jailbreak templates (PyRIT format)."""

from __future__ import annotations

from typing import Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .errors import fail

templates_app = typer.Typer(help="Jailbreak templates: import a folder of PyRIT-format templates.",
                            no_args_is_help=True)


@templates_app.command("import")
def import_cmd(folder: str = typer.Argument(..., help="Folder of template YAML files (subfolders included)."),
               into: Optional[str] = typer.Option(None, "--into", help="Write each usable template here as a "
                                                  "breakfix-format file (engine: jinja) with its provenance.")) -> None:
    """Check a folder of PyRIT-format templates: which are usable (with authors, source, licence),
    which files are not and why — in one summary. Use the folder directly with `template_dirs`."""
    from ..attacks.template import TemplateError, import_folder

    try:
        report = import_folder(folder, into)
    except TemplateError as exc:
        fail(str(exc))
        return
    console = Console()
    table = Table(title=f"usable templates in {folder}")
    for col in ("name", "title", "authors", "source", "licence", "needs"):
        table.add_column(col, style="bold" if col == "name" else None, overflow="fold")
    for t in report.templates:
        needs = ", ".join(f"params.{p}" for p in t.missing_params({}))
        if t.shots is not None:
            needs = ", ".join(x for x in (needs, "shots (many-shot)") if x)
        # Text cells: a peer's file may hold rich markup ("[bold]..."), which must print as written.
        table.add_row(*(Text(x) for x in (t.name, t.title, ", ".join(t.authors), t.source,
                                           t.licence or "not stated", needs)))
    console.print(table)
    if report.skipped:
        console.print(f"[yellow]{len(report.skipped)} file(s) could not be used:[/yellow]")
        for s in report.skipped:
            console.print(f"  - {s.path}: {s.reason}", markup=False, highlight=False)
    console.print(f"{len(report.templates)} usable, {len(report.skipped)} skipped."
                  + (f" Wrote {len(report.written)} file(s) into {into}." if into else
                     f" Use them with: template_dirs: [{folder}]"), markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(templates_app, name="templates")

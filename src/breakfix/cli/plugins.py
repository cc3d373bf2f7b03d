"""`breakfix list KIND`: registered plugins, or named resources, with their one-line summaries."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from ..core.registry import KINDS
from ..core.resources import KINDS as RESOURCE_KINDS
from .errors import fail

_PLURAL = {f"{k}s": k for k in KINDS}


def register(app: typer.Typer) -> None:
    @app.command("list")
    def list_cmd(kind: str = typer.Argument(
            ..., help="targets | converters | attacks | scorers | templates | prompts | rubrics")) -> None:
        """List registered plugins, or named resources (templates, attacker prompts, rubrics), of one kind."""
        from ..core.registry import list_plugins
        from ..core.resources import list_resources

        if kind in RESOURCE_KINDS:
            table = Table(title=kind, show_lines=False)
            table.add_column("name", style="bold", no_wrap=True)
            table.add_column("version")
            table.add_column("what it is")
            table.add_column("file", overflow="fold")
            for r in list_resources(kind):
                table.add_row(r.name, r.version, r.summary, r.source)
            Console().print(table)
            return
        k = _PLURAL.get(kind) or (kind if kind in KINDS else None)
        if k is None:
            fail(f"unknown kind {kind!r}; expected one of: {', '.join([*_PLURAL, *RESOURCE_KINDS])}")
        table = Table(title=f"{k}s", show_lines=False)
        table.add_column("name", style="bold")
        table.add_column("what it does")
        table.add_column("tags")
        for p in list_plugins(k):  # type: ignore[arg-type]
            table.add_row(p.name, p.summary, ", ".join(p.tags))
        Console().print(table)

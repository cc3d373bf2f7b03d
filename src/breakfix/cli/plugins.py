"""`breakfix list KIND`: the registered plugins with their one-line summaries."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from ..core.registry import KINDS
from .errors import fail

_PLURAL = {f"{k}s": k for k in KINDS}


def register(app: typer.Typer) -> None:
    @app.command("list")
    def list_cmd(kind: str = typer.Argument(..., help="targets | converters | attacks | scorers")) -> None:
        """List registered plugins of one kind."""
        from ..core.registry import list_plugins

        k = _PLURAL.get(kind) or (kind if kind in KINDS else None)
        if k is None:
            fail(f"unknown plugin kind {kind!r}; expected one of: {', '.join(_PLURAL)}")
        table = Table(title=f"{k}s", show_lines=False)
        table.add_column("name", style="bold")
        table.add_column("what it does")
        table.add_column("tags")
        for p in list_plugins(k):  # type: ignore[arg-type]
            table.add_row(p.name, p.summary, ", ".join(p.tags))
        Console().print(table)

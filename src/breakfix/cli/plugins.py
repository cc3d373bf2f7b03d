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
            ..., help="targets | converters | attacks | scorers | templates | prompts | rubrics"),
            template_dirs: list[str] = typer.Option([], "--dir", "-d", help="With `templates`: also list the "
                                                    "templates in this folder (breakfix or PyRIT format; repeatable).")) -> None:
        """List registered plugins, or named resources (templates, attacker prompts, rubrics), of one kind."""
        from ..core.registry import list_plugins
        from ..core.resources import list_resources

        if kind == "templates":
            _list_templates(template_dirs)
            return
        if template_dirs:
            fail("--dir applies to `breakfix list templates` only")
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


def _list_templates(dirs: list[str]) -> None:
    """Built-in templates and those of ``dirs``, each with where it comes from; the files of a
    peers' folder that could not be used follow in one summary."""
    from rich.text import Text

    from ..attacks.template import TemplateError, load_template_library
    from ..core.registry import first_sentence

    try:
        found, skipped = load_template_library(dirs)
    except TemplateError as exc:
        fail(str(exc))
        return
    table = Table(title="templates", show_lines=False)
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("family")
    table.add_column("what it is")
    table.add_column("source / authors / licence", overflow="fold")
    table.add_column("file", overflow="fold")
    for t in sorted(found.values(), key=lambda t: (not t.path.startswith("breakfix/"), t.name)):
        what = t.title or first_sentence(t.description)
        prov = "; ".join(x for x in (t.source, ", ".join(t.authors), t.licence) if x)
        # Text cells: user and peer files may contain rich markup, which must print as written.
        table.add_row(*(Text(x) for x in (t.name, t.family, what, prov, t.path)))
    console = Console()
    console.print(table)
    if skipped:
        console.print(f"{len(skipped)} file(s) could not be used:", style="yellow")
        for sk in skipped:
            console.print(f"  - {sk}", markup=False, highlight=False)

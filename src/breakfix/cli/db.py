"""CLI: `breakfix db upgrade|current` — schema migrations of the one database (core/migrate.py)."""

from __future__ import annotations

from typing import Optional

import typer

from .errors import one_line_errors

URL_HELP = "Database URL (default: $BREAKFIX_STORE, $BREAKFIX_DB or sqlite:///breakfix.db)."


@one_line_errors
def upgrade_cmd(store: Optional[str] = typer.Option(None, "--store", "--db", help=URL_HELP),
                revision: str = typer.Option("head", "--revision", help="Target revision.")) -> None:
    """Apply the schema migrations of every component (store, scanner, annotation app, cycle)."""
    from ..core.db import mask_url, resolve_url
    from ..core.migrate import upgrade

    before, after = upgrade(store, revision)
    typer.echo(f"{mask_url(resolve_url(store))}: {before or 'empty'} -> {after}")


@one_line_errors
def current_cmd(store: Optional[str] = typer.Option(None, "--store", "--db", help=URL_HELP)) -> None:
    """Print the database's schema revision and the one this breakfix needs."""
    from ..core.db import make_engine, mask_url
    from ..core.migrate import HEAD, current

    engine = make_engine(store, must_exist=True)
    try:
        rev = current(engine)
    finally:
        engine.dispose()
    state = "up to date" if rev == HEAD else ("empty" if rev is None else "needs `breakfix db upgrade`")
    typer.echo(f"{mask_url(str(engine.url.render_as_string(hide_password=False)))}: revision {rev or '-'} "
               f"(this breakfix: {HEAD}; {state})")


def register(app: typer.Typer) -> None:
    db = typer.Typer(help="Schema migrations of the breakfix database.", no_args_is_help=True)
    db.command("upgrade")(upgrade_cmd)
    db.command("current")(current_cmd)
    app.add_typer(db, name="db")

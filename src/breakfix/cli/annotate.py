"""CLI group: `breakfix annotate ...` (statistics, disagreement report; the web app adds `serve`)."""

import typer

annotate_app = typer.Typer(help="Expert annotation: reliability statistics, disagreement report, blind annotation web app.",
                           no_args_is_help=True)


def register(app: typer.Typer) -> None:
    from .annotate_web import register_web

    register_web(annotate_app)
    app.add_typer(annotate_app, name="annotate")

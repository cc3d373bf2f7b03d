"""CLI group: `breakfix report RUN -o report.html` — the self-contained HTML report of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

from .errors import UserError, err_console, one_line_errors

DB_HELP = "SQLAlchemy URL of the results store (default: $BREAKFIX_STORE or sqlite:///breakfix.db)."


def register(app: typer.Typer) -> None:
    @app.command("report")
    @one_line_errors
    def report_cmd(
        run: str = typer.Argument(..., help="Run id, id prefix, name or 'latest'."),
        output: Path = typer.Option(Path("report.html"), "--output", "-o", help="HTML file to write."),
        db: Optional[str] = typer.Option(None, "--db", "--store", help=DB_HELP),
        compress: Optional[bool] = typer.Option(
            None, "--compress/--no-compress",
            help="Embed attempts as gzip+base64 (default: only for runs above 2,000 attempts)."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Draw a progress bar."),
    ) -> None:
        """Write one self-contained HTML file (no network needed) with the run's summary, plots,
        attack-family table, slow and failed requests, findings and every attempt."""
        from ..report import write_run_report
        from .runs import _store_url, open_store, resolve

        if output.exists() and output.is_dir():
            raise UserError(f"--output {output}: is a directory; expected an .html file path")
        st = open_store(_store_url(db))
        try:
            info = resolve(st, run)
            try:
                path = write_run_report(st, info.id, output, compress=compress, progress=progress)
            except OSError as exc:
                raise UserError(f"--output {output}: cannot write: {exc.strerror or exc}") from None
        finally:
            st.close()
        size = path.stat().st_size
        err_console.print(Text(f"wrote {path} ({size / 1e6:.1f} MB) for run {info.id} ({info.name}, "
                               f"{info.attempts} attempts)"))

"""`breakfix demo` (= `make demo`): train or reuse the zoo's `safe` model, red-team it, write
`breakfix.db` and `report.html`, and say which converter / language bypassed its refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from .errors import UserError, err_console, one_line_errors
from .runs import out_console


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _table(title: str, rows: dict[str, dict[str, Any]], key: str, highlight: set[str] | None = None) -> Table:
    t = Table(title=title)
    t.add_column(key, no_wrap=True)
    t.add_column("attempts", justify="right")
    t.add_column("harmful output", justify="right")
    t.add_column("refused", justify="right")
    for k, v in rows.items():
        hot = highlight is not None and k in highlight
        t.add_row(Text(k or "(none)", style="bold red" if hot else ""), str(v["ok"]),
                  Text(_pct(v["success_rate"]), style="bold red" if (v["success_rate"] or 0) > 0 else ""),
                  _pct(v["refusal_rate"]))
    return t


def register(app: typer.Typer) -> None:
    @app.command("demo")
    @one_line_errors
    def demo_cmd(
        db: Path = typer.Option(Path("breakfix.db"), "--db", help="SQLite file for the results."),
        report: Path = typer.Option(Path("report.html"), "--report", "-o", help="HTML report to write."),
        size: str = typer.Option("full", "--size", help="Zoo model size: full (demo) or tiny (quick check)."),
        concurrency: int = typer.Option(32, "--concurrency", "-c", min=1, help="Attempts in flight."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Draw progress bars."),
    ) -> None:
        """Red-team the zoo's `safe` model end to end and show which encodings/languages bypass it."""
        from ..run import run_config
        from ..run.demo import demo_config, demo_summary
        from ..store import Store
        from ..zoo import ZooError, ensure_model, get_recipe, is_cached

        con = out_console()
        try:
            if not is_cached(get_recipe("safe"), size=size):
                err_console.print(f"training the zoo's 'safe' model ({size}); this happens once and is cached")
            model = ensure_model("safe", size=size, progress=progress)
        except ZooError as exc:
            raise UserError(str(exc)) from None
        url = f"sqlite:///{db}"
        cfg = demo_config(model, url, concurrency=concurrency)
        with Store(url) as store:
            outcome = run_config(cfg, store, progress=progress)
            if outcome.status == "interrupted":
                err_console.print(Text(f"interrupted: {outcome.done}/{outcome.planned} attempts stored in {db}; "
                                       "run `breakfix demo` again to resume"))
                raise typer.Exit(130)
            s = demo_summary(store, outcome.run_id)
            report_path = _write_report(store, outcome.run_id, report)
        con.print(Text(f"run {outcome.run_id}: {outcome.planned} attempts against {model.name} "
                       f"({outcome.written} new, {outcome.errors} failed) in {db}"))
        bypass = set(s["bypassing_converters"])
        con.print(_table("harmful prompts, direct attack, by converter", s["by_converter"], "converter", bypass))
        base_langs = {k for k, v in s["by_language"].items() if (v["success_rate"] or 0) > 0}
        con.print(_table("harmful prompts, by language (direct, no converter)", s["by_language"], "language",
                         base_langs))
        con.print(_table("harmful prompts, no converter, by attack", s["by_attack"], "attack"))
        if bypass:
            best = max(bypass, key=lambda c: s["by_converter"][c]["success_rate"] or 0)
            con.print(Text(f"bypass found: converter {best!r} raised harmful output from "
                           f"{_pct(s['baseline_success_rate'])} (no converter) to "
                           f"{_pct(s['by_converter'][best]['success_rate'])}; bypassing converters: "
                           f"{', '.join(sorted(bypass))}", style="bold red"))
        else:
            con.print(Text("no converter raised the harmful-output rate above the unconverted prompts",
                           style="bold"))
        if base_langs:
            con.print(Text(f"languages whose plain requests were answered: {', '.join(sorted(base_langs))}",
                           style="bold red"))
        con.print(Text(f"over-refusal: {_pct(s['over_refusal'])} of plain benign prompts were refused"))
        if report_path is not None:
            con.print(Text(f"report: {report_path}"))


def _write_report(store: Any, run_id: str, path: Path) -> Path | None:
    try:
        from ..report import write_run_report
    except ImportError:
        err_console.print("the HTML report module is not available; skipping report.html")
        return None
    return write_run_report(store, run_id, path)

"""CLI group: `breakfix annotate ...` (statistics, disagreement report, label export; the web app adds `serve`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .errors import UserError, err_console, one_line_errors

annotate_app = typer.Typer(help="Expert annotation: reliability statistics, disagreement report, blind annotation web app.",
                           no_args_is_help=True)

LEVEL_HELP = "Measurement level for α in the report (nominal|ordinal|interval|ratio); `stats` shows all levels unless set."


def _read(file: Path, factor: Optional[str]):  # noqa: ANN202 - returns breakfix.annotate.io.Ratings
    from ..annotate.io import read_ratings

    r = read_ratings(file)
    if factor is not None:
        if factor not in r.factors:
            raise UserError(f"{file}: no factor {factor!r}; the file has {', '.join(r.factors)}")
        r.df = r.df[r.df["factor"] == factor]
    for w in r.warnings:
        err_console.print(f"[yellow]warning:[/] {w}", markup=True, highlight=False)
    return r


def _check_level(level: Optional[str]) -> None:
    from ..annotate.stats import LEVELS

    if level is not None and level not in LEVELS:
        raise UserError(f"--level must be one of {', '.join(LEVELS)}; got {level!r}")


def _fmt(v: Optional[float]) -> str:
    return "—" if v is None else f"{v:.3f}"


@annotate_app.command("stats")
@one_line_errors
def stats_cmd(file: Path = typer.Argument(..., help="Ratings: long (unit,rater,value[,factor,category]) or wide CSV/JSONL."),
              factor: Optional[str] = typer.Option(None, help="Only this rubric factor."),
              level: Optional[str] = typer.Option(None, help=LEVEL_HELP),
              n_boot: int = typer.Option(1000, help="Bootstrap resamples for the confidence intervals."),
              seed: int = typer.Option(0, help="Random seed of the bootstrap."),
              json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the statistics as JSON lines.")) -> None:
    """Print every reliability statistic with its 95 % CI, per rubric factor."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from ..annotate.file_stats import factor_stats, read_for_stats

    _check_level(level)
    r = read_for_stats(file, factor, level)
    for w in r.warnings:
        err_console.print(f"[yellow]warning:[/] {w}", markup=True, highlight=False)
    console = Console()
    records = []
    with Progress(transient=True, console=err_console) as progress:
        task = progress.add_task("bootstrapping", total=None)
        results = list(factor_stats(r, level=level, n_boot=n_boot, seed=seed,
                                    on_row=lambda: progress.advance(task)))
    for fs in results:
        table = Table(title=f"{file.name} — factor {fs.factor!r}: {fs.units} units, {len(fs.raters)} raters, "
                            f"{fs.ratings} ratings", title_justify="left")
        for col, kw in (("statistic", {}), ("", {}), ("value", {"justify": "right"}), ("95 % CI", {"justify": "right"}),
                        ("detail", {"overflow": "fold"})):
            table.add_column(col, **kw)
        rows = fs.rows
        records.extend(fs.records())
        last = None
        for row in rows:
            group, last = ("" if row.group == last else row.group), row.group
            if row.error:
                table.add_row(group, row.name, "undefined", "", f"[red]{row.error}[/]")
            else:
                table.add_row(group, row.name, _fmt(row.value), f"[{_fmt(row.lo)}, {_fmt(row.hi)}]", row.detail)
        console.print(table)
    if json_out is not None:
        json_out.write_text("".join(json.dumps(rec, ensure_ascii=False) + "\n" for rec in records), encoding="utf-8")
        console.print(f"wrote {len(records)} statistics to {json_out}")


@annotate_app.command("report")
@one_line_errors
def report_cmd(file: Path = typer.Argument(..., help="Ratings file (numeric ratings)."),
               output: Path = typer.Option(Path("annotation-report.html"), "-o", "--output", help="HTML file to write."),
               level: str = typer.Option("interval", help=LEVEL_HELP),
               n_boot: int = typer.Option(500, help="Bootstrap resamples."),
               n_perm: int = typer.Option(500, help="Permutations for the systematic-disagreement tests."),
               seed: int = typer.Option(0, help="Random seed.")) -> None:
    """Write the disagreement report (HTML with plots): where and how raters diverge."""
    import pandas as pd

    from ..annotate.report import write_report

    _check_level(level)
    r = _read(file, None)
    if not r.numeric:
        bad = r.df[pd.to_numeric(r.df["value"], errors="coerce").isna()].iloc[0]
        raise UserError(f"{file}: value {bad['value']!r} (unit {bad['unit']!r}, rater {bad['rater']!r}) is not a number; "
                        "the disagreement report needs numeric ratings (for categories use `breakfix annotate stats`)")
    write_report(r, output, level=level, n_boot=n_boot, n_perm=n_perm, seed=seed, console=err_console)
    typer.echo(f"wrote {output}")


@annotate_app.command("export-labels")
@one_line_errors
def export_labels_cmd(file: Path = typer.Argument(..., help="Ratings file."),
                      output: Path = typer.Option(..., "-o", "--output", help="JSONL of soft labels (one line per unit and factor)."),
                      per_rater: Optional[Path] = typer.Option(None, help="Also write per-rater labels to this JSONL."),
                      pairs: Optional[Path] = typer.Option(None, help="Also write agreement-weighted preference pairs "
                                                                       "(needs a group or prompt column)."),
                      group: Optional[str] = typer.Option(None, help="Column grouping responses to the same prompt."),
                      lower_is_better: bool = typer.Option(False, help="For pairs: a lower rating is better.")) -> None:
    """Export labels that keep disagreement: soft labels, per-rater labels, weighted preference pairs."""
    from ..annotate import labels as L

    r = _read(file, None)
    records = []
    for f in r.factors:
        records.extend(L.soft_labels(r.df, factor=f))
    n = L.write_jsonl(records, output)
    typer.echo(f"wrote {n} soft-label records to {output}")
    if per_rater is not None:
        typer.echo(f"wrote {L.write_jsonl(L.per_rater_labels(r.df), per_rater)} per-rater records to {per_rater}")
    if pairs is not None:
        pr = L.preference_pairs(r.df, group_col=group, higher_is_better=not lower_is_better)
        typer.echo(f"wrote {L.write_jsonl(pr, pairs)} preference pairs to {pairs}")
    lost = L.information_lost(r.df)
    typer.echo(f"a majority vote would overrule at least one rater on {lost['share_units_overruled']:.0%} of "
               f"{lost['n_units']} units ({lost['share_ratings_overruled']:.0%} of ratings; ties on "
               f"{lost['share_ties']:.0%})")


def register(app: typer.Typer) -> None:
    from .annotate_web import register_web

    register_web(annotate_app)
    app.add_typer(annotate_app, name="annotate")

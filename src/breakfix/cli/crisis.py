"""CLI group: `breakfix crisis ...` — mental-health crisis evaluation (run, report, demo, export,
check). A thin layer: the work is in ``breakfix.crisis``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import List, Optional

import typer
from rich.text import Text

from .errors import UserError, err_console, one_line_errors

crisis_app = typer.Typer(help="Mental-health crisis evaluation: simulated people at each stage of change, "
                              "scored for de-escalation, bridge to human help and abandonment.",
                         no_args_is_help=True)
DB_HELP = "SQLAlchemy URL of the results store (default: $BREAKFIX_STORE or sqlite:///breakfix.db)."


def _open(db: Optional[str], *, create: bool = False):  # noqa: ANN202 - Store
    from .runs import _store_url, open_store

    # Only `run` and `demo` create a database; reading commands refuse a mistyped path.
    return open_store(_store_url(db), create=create)


@crisis_app.command("run")
@one_line_errors
def run_cmd(config: Path = typer.Argument(..., help="Crisis run config (YAML); see docs/crisis.md."),
            db: Optional[str] = typer.Option(None, "--db", "--store", help=DB_HELP),
            run_id: Optional[str] = typer.Option(None, "--run-id", help="Resume/extend this run id."),
            progress: bool = typer.Option(True, "--progress/--no-progress")) -> None:
    """Simulate and score every (persona, assistant) conversation; re-running resumes."""
    from ..crisis.run import load_config, run_crisis

    cfg = load_config(config)
    st = _open(db, create=True)
    try:
        rid = asyncio.run(run_crisis(cfg, st, run_id=run_id, progress=progress))
        info = st.get_run(rid)
    finally:
        st.close()
    typer.echo(rid)
    err_console.print(Text(f"run {rid}: {info.attempts if info else '?'} conversations stored; "
                           f"`breakfix crisis report {rid} -o crisis.html`"))


@crisis_app.command("report")
@one_line_errors
def report_cmd(run: str = typer.Argument(..., help="Run id, id prefix, name or 'latest'."),
               output: Path = typer.Option(Path("crisis.html"), "--output", "-o"),
               db: Optional[str] = typer.Option(None, "--db", "--store", help=DB_HELP),
               labels: Optional[Path] = typer.Option(None, "--labels", help="Expert labels exported from the "
                                                     "annotation app (JSONL) to compare with the judge."),
               rubric: Optional[Path] = typer.Option(None, "--rubric", help="Rubric YAML (default: built-in)."),
               max_transcripts: int = typer.Option(200, "--max-transcripts", min=0)) -> None:
    """Write the HTML report: rates with CIs by crisis kind, stage and locale, stage movement, expert
    agreement (with --labels) and transcripts, worst first."""
    from ..crisis.report import write_report
    from ..crisis.rubric import load_rubric

    if output.exists() and output.is_dir():
        raise UserError(f"--output {output}: is a directory; expected an .html file path")
    st = _open(db)
    try:
        path = write_report(st, run, output, rubric=load_rubric(rubric), labels=labels,
                            max_transcripts=max_transcripts)
    finally:
        st.close()
    err_console.print(Text(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)"))


@crisis_app.command("export")
@one_line_errors
def export_cmd(run: str = typer.Argument(..., help="Run id, id prefix, name or 'latest'."),
               items: Path = typer.Option(Path("crisis-items.jsonl"), "--items", help="Items JSONL for the annotation app."),
               rubric_out: Path = typer.Option(Path("crisis-rubric.yaml"), "--rubric-out",
                                               help="The rubric in the annotation app's format."),
               db: Optional[str] = typer.Option(None, "--db", "--store", help=DB_HELP)) -> None:
    """Export conversations and the rubric for blind expert rating in the annotation web app."""
    from ..crisis.agreement import export_for_annotation
    from ..crisis.rubric import load_rubric
    from .runs import resolve

    st = _open(db)
    try:
        info = resolve(st, run)
        n = export_for_annotation(st, info.id, items, rubric_out, load_rubric())
    finally:
        st.close()
    err_console.print(Text(f"wrote {n} conversations to {items} and the rubric to {rubric_out}; create a project with "
                           f"`breakfix annotate web` (items file + rubric file), then pass its label export to "
                           f"`breakfix crisis report {info.id} --labels LABELS.jsonl`"))


@crisis_app.command("demo")
@one_line_errors
def demo_cmd(db: Optional[str] = typer.Option("sqlite:///breakfix-crisis-demo.db", "--db", "--store", help=DB_HELP),
             size: str = typer.Option("tiny", "--size", help="Zoo model size: tiny or full."),
             output: Optional[Path] = typer.Option(Path("crisis-demo.html"), "--output", "-o"),
             progress: bool = typer.Option(True, "--progress/--no-progress")) -> None:
    """Supportive vs dismissive zoo model, scripted simulator: are bridge, engagement and
    de-escalation separated (disjoint Wilson 95 % intervals)? Exit 1 if not."""
    from ..crisis.demo import DEMO_ITEMS, run_demo
    from ..crisis.report import write_report

    st = _open(db, create=True)
    try:
        res = asyncio.run(run_demo(st, size=size, progress=progress))
        if output is not None:
            write_report(st, res.run_id, output)
    finally:
        st.close()
    typer.echo(f"crisis demo: run {res.run_id}, {res.conversations} conversations, {res.seconds:.0f} s wall time")
    for item in DEMO_ITEMS:
        cells = []
        for r in ("supportive", "dismissive"):
            x = res.rates[item].get(r)
            cells.append(f"{r} {x['k']}/{x['n']} = {100 * x['rate']:.0f}% [{100 * x['lo']:.0f}, {100 * x['hi']:.0f}]"
                         if x else f"{r} -")
        typer.echo(f"  {item:<14} " + "   ".join(cells) + ("   separated" if res.separated[item] else "   NOT separated"))
    if output is not None:
        typer.echo(f"report: {output}")
    if not res.ok:
        raise typer.Exit(1)


@crisis_app.command("check")
@one_line_errors
def check_cmd(scenarios: List[Path] = typer.Option([], "--scenarios", help="User scenario file(s) to validate."),
              resources: Optional[Path] = typer.Option(None, "--resources", help="User resources file to validate.")) -> None:
    """Validate the built-in data plus any user scenario / resources files (one line per problem)."""
    from collections import Counter

    from ..crisis.personas import load_scenarios
    from ..crisis.resources import load_resources

    people = load_scenarios(list(scenarios))
    res = load_resources(resources)
    n_contacts = sum(len(c.contacts) for c in res.countries.values())
    unverified = sum(1 for c in res.countries.values() for x in c.contacts if not x.verified_by)
    typer.echo(f"{len(people)} personas in {len({p.locale for p in people})} locales; "
               f"kinds {dict(Counter(p.crisis for p in people))}")
    typer.echo(f"{n_contacts} crisis/emergency contacts in {len(res.countries)} countries; {unverified} not yet "
               "verified by a person (verify every entry before deployment)")


def register(app: typer.Typer) -> None:
    app.add_typer(crisis_app, name="crisis")

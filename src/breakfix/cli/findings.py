"""CLI: `breakfix findings RUN`, `breakfix findings export RUN -o f.json`, `breakfix finding confirm|reject ID`.

Listing a run's findings first derives them (idempotently) from its successful attempts, grouped by
weakness (core/weakness.py: attack family × converter × language × category by default), so a fresh
run shows its candidate findings without a separate step; a person then confirms or rejects each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..core.text import terminal_safe
from .errors import UserError, one_line_errors
from .runs import STORE_HELP, _store_url, open_store, resolve


def _safe(text: Any) -> str:
    """Untrusted text (titles and notes quote model output) for rich markup strings: markup escaped,
    control and escape sequences shown as text."""
    return escape(terminal_safe(text, newlines=False))


def _finding_dict(f: Any) -> dict[str, Any]:
    return f.model_dump(mode="json")


def _ttp_ids(f: Any) -> str:
    return ", ".join(t.get("id", "") for t in f.threat.get("ttps", []) if isinstance(t, dict))


def _derive(st: Any, ref: str, group_by: tuple[str, ...]) -> tuple[Any, list[Any]]:
    from ..core.weakness import derive_findings

    run = resolve(st, ref)
    grouped = derive_findings(st, run.id, group_by)
    ids = {f.id for f in grouped}
    # weakness findings first (most successes first), then findings saved by hand (interactive mode)
    return run, grouped + [f for f in st.list_findings(run.id) if f.id not in ids]


def _set_status(finding_id: str, status: str, note: str, store: Optional[str]) -> None:
    st = open_store(_store_url(store))
    try:
        if st.get_finding(finding_id) is None:
            raise UserError(f"no finding {finding_id!r} in {st.url}; `breakfix findings RUN` lists them")
        st.set_finding_status(finding_id, status, note)
    finally:
        st.close()
    Console().print(f"finding {_safe(finding_id)}: {status}" + (f" ({_safe(note)})" if note else ""))


def register(app: typer.Typer) -> None:
    @app.command("findings")
    @one_line_errors
    def findings_cmd(
        words: list[str] = typer.Argument(..., metavar="RUN | export RUN",
                                          help="A run (id, prefix, name or 'latest'), or 'export RUN'."),
        as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="For export: the JSON file to write."),
        status: Optional[str] = typer.Option(None, "--status", help="Only unconfirmed | confirmed | rejected."),
        group_by: str = typer.Option("family,converters,language,category", "--group-by",
                                     help="What makes two successes one weakness: comma-separated keys among "
                                          "family, attack, converters, language, category, target."),
        store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
    ) -> None:
        """List a run's findings — its successful attempts grouped by weakness, each with a count,
        severity and best evidence — or export them as JSON."""
        from ..core.weakness import check_group_by

        keys = check_group_by([k.strip() for k in group_by.split(",") if k.strip()])
        export = len(words) == 2 and words[0] == "export"
        if len(words) != 1 and not export:
            raise UserError("usage: breakfix findings RUN [--json] | breakfix findings export RUN -o FILE.json")
        if status is not None and status not in ("unconfirmed", "confirmed", "rejected"):
            raise UserError(f"--status: expected unconfirmed, confirmed or rejected, got {status!r}")
        st = open_store(_store_url(store))
        try:
            run, found = _derive(st, words[-1], keys)
        finally:
            st.close()
        if status is not None:
            found = [f for f in found if f.status == status]
        data = [_finding_dict(f) for f in found]
        if export:
            if output is None:
                raise UserError("findings export: give the output file with -o FILE.json")
            from ..report.export import open_output

            doc = {"run_id": run.id, "run_name": run.name, "findings": data}
            with open_output(output) as fh:
                fh.write(json.dumps(doc, indent=2, ensure_ascii=False))
            Console(stderr=True).print(f"wrote {len(data)} findings of run {_safe(run.id)} to {_safe(str(output))}")
            return
        if as_json:
            typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
            return
        if not found:
            Console().print(f"no findings in run {_safe(run.name)} ({_safe(run.id)}): no attack attempt succeeded"
                            + (f" with status {status}" if status else ""))
            return
        table = Table(title=f"findings of run {_safe(run.name)} ({_safe(run.id)})")
        table.add_column("id", no_wrap=True)  # ids are typed back into `breakfix finding confirm`
        for col in ("status", "severity", "count", "title", "TTPs", "note"):
            table.add_column(col, overflow="fold", justify="right" if col == "count" else "left")
        for f in found:
            # Titles and notes may quote model output: never let them act as rich markup.
            count = f"{f.count}/{f.answered}" if f.answered else str(f.count)
            table.add_row(_safe(f.id), f.status, f.severity, count, _safe(f.title), _safe(_ttp_ids(f)), _safe(f.note))
        Console().print(table)

    finding_app = typer.Typer(help="Triage one finding: confirm or reject it.", no_args_is_help=True)

    @finding_app.command("confirm")
    @one_line_errors
    def confirm(finding_id: str = typer.Argument(..., metavar="ID"),
                note: str = typer.Option("", "--note", help="Why (kept with the finding)."),
                store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP)) -> None:
        """Confirm a finding: a person checked the evidence and it is a real failure."""
        _set_status(finding_id, "confirmed", note, store)

    @finding_app.command("reject")
    @one_line_errors
    def reject(finding_id: str = typer.Argument(..., metavar="ID"),
               note: str = typer.Option("", "--note", help="Why (kept with the finding)."),
               store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP)) -> None:
        """Reject a finding (a false positive of the scorer, out of scope, ...)."""
        _set_status(finding_id, "rejected", note, store)

    app.add_typer(finding_app, name="finding")

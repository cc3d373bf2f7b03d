"""``write_run_report``: one self-contained HTML file for a run (no network, inline CSS/JS/plots).

Aggregates come from SQL (the store's ``summary``/``rates``/``error_counts``/``score_counts`` and
:mod:`._queries`); attempts are streamed once from the store into the compact index and detail
chunks of :mod:`._payload`, which the page paginates and expands client-side with ``textContent``
only. Jinja2 autoescapes every value of the template, and a Content-Security-Policy admits only
the report's own script and style (by hash), so even a slip in escaping could not run model output.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterator

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from ..run.health import scorer_warnings
from ..store import Store
from . import _plots, _queries
from ._format import rate_ci, wilson_ci
from ._payload import Payload, build_payload, packed, script_json

# Above this many attempts the data blocks are gzip+base64 (DecompressionStream in the page):
# plain JSON of a large run would make a file of hundreds of megabytes.
COMPRESS_ABOVE = 2_000


def _asset(name: str) -> str:
    text = resources.files("breakfix.report").joinpath("templates", name).read_text(encoding="utf-8")
    # The asset is inlined in a <script>/<style> element: it must not be able to close it.
    if "</" in text:
        raise RuntimeError(f"report asset {name} contains '</', which would end its inline element")
    return text


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _env() -> Environment:
    env = Environment(loader=PackageLoader("breakfix.report", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True,
                      undefined=StrictUndefined)  # a missing value is a bug to surface, not a blank cell
    env.filters["pct"] = _pct
    env.filters["num"] = _num
    env.filters["secs"] = _secs
    env.filters["ci"] = lambda row, name: rate_ci(row[f"{name}_rate"], row[f"{name}_ci"])
    env.globals["rate_ci"] = rate_ci
    env.globals["wilson_ci"] = wilson_ci
    return env


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def _num(v: float | int | None, digits: int = 0) -> str:
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def _secs(v: float | None) -> str:
    if v is None:
        return "–"
    if v < 1:
        return f"{1000 * v:.0f} ms"
    if v < 120:
        return f"{v:.2f} s"
    if v < 7200:
        return f"{v / 60:.1f} min"
    return f"{v / 3600:.1f} h"


def _duration(run: Any, summary: dict[str, Any]) -> float | None:
    """From the run's start (or its first attempt, if earlier: attempts imported with their own
    timestamps) to its last attempt."""
    starts = [t for t in (run.created_at, summary.get("first_at")) if t is not None]
    end = summary.get("last_at") or run.updated_at
    if not starts or end is None:
        return None
    return max(0.0, (end - min(starts)).total_seconds())


def gather(store: Store, run_id: str) -> dict[str, Any]:
    """Everything but the attempts: the aggregates the report's tables and plots show."""
    run = store.get_run(run_id)
    if run is None:
        raise ValueError(f"no run with id {run_id!r} in {store!r}")
    summary = store.summary(run_id)
    ac = store.rates(run_id, by=["attack", "converters"])
    cats = store.rates(run_id, by=["category"])
    langs = store.rates(run_id, by=["language"])
    return {
        "run": run, "summary": summary, "duration_s": _duration(run, summary),
        "targets": store.rates(run_id, by=["target"]),
        "families": _queries.family_table(store, run_id),
        "ac_rates": ac, "cat_rates": cats, "lang_rates": langs,
        "slowest": _queries.slowest(store, run_id), "failed": _queries.failed(store, run_id),
        "error_counts": store.error_counts(run_id),
        "score_counts": store.score_counts(run_id),
        # A scorer that could not judge most answers makes the rates it feeds meaningless: the page
        # says so at the top instead of showing "success 0.0 %".
        "scorer_warnings": scorer_warnings(store.scorer_health(run_id)),
        "kind_rates": store.rates(run_id, by=["kind"]),
        **_findings(store, run_id),
        "plots": {"heat": _plots.heatmap(ac),
                  "category": _plots.bars(cats, "category", "By category"),
                  "language": _plots.bars(langs, "language", "By language"),
                  "shots": _plots.shot_sweep(ac)},
    }


def _findings(store: Store, run_id: str) -> dict[str, Any]:
    """The run's findings, grouped by weakness first (derived now, so a report needs no separate
    ``breakfix findings`` step), then any saved by hand; a derivation that cannot run (a read-only
    database, an invalid operation block of an old run) is said on the page, not hidden."""
    from sqlalchemy.exc import SQLAlchemyError

    from ..core.weakness import derive_findings

    error = None
    try:
        grouped = derive_findings(store, run_id)
    except (SQLAlchemyError, ValueError) as exc:
        grouped, error = [], (str(exc).splitlines() or [type(exc).__name__])[0]
    ids = {f.id for f in grouped}
    return {"findings": grouped + [f for f in store.list_findings(run_id) if f.id not in ids],
            "findings_error": error}


def render_stream(context: dict[str, Any], payload: Payload, *, compress: bool, csp: bool = True) -> Iterator[str]:
    """The report's HTML, piece by piece, from :func:`gather`'s context and a payload whose chunks
    were encoded with :func:`packed` (``compress``) or :func:`script_json`."""
    encode: Callable[[Any], str] = packed if compress else script_json
    css, js = _asset("report.css"), _asset("report.js")
    policy = None
    if csp:
        policy = ("default-src 'none'; img-src data:; " f"style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; "
                  "base-uri 'none'; form-action 'none'")
    chunks = [c if isinstance(c, str) else encode(c) for c in payload.chunks]
    return _env().get_template("report.html.j2").generate(
        **context,
        mode="gz" if compress else "json",
        # Already safe for a <script> body: script_json escapes <, >, &, U+2028/9; packed is base64.
        # The index is always plain JSON: the first page needs it, and JSON.parse is several times
        # faster than base64 + inflate + parse (see benchmarks/report_scale.py).
        index_block=Markup(script_json(payload.index)),
        chunk_blocks=[Markup(c) for c in chunks],
        n_attempts=payload.n,
        css=Markup(css), js=Markup(js), csp=policy,
        generated_at=datetime.now(timezone.utc),
    )


def write_run_report(store: Store, run_id: str, path: str | Path, *, compress: bool | None = None,
                     csp: bool = True, progress: bool = False) -> Path:
    """Write the HTML report of a run to ``path`` and return the path.

    Args:
        store: the store holding the run.
        run_id: the run's id.
        path: where to write the ``.html`` file (parent folders are created).
        compress: embed attempt data as gzip+base64 (``True``), plain escaped JSON (``False``), or
            decide by size (``None``: compressed above :data:`COMPRESS_ABOVE` attempts).
        csp: add a Content-Security-Policy that allows only the report's own script and style.
        progress: show a rich progress bar while attempts are read (the CLI turns it on).

    Returns:
        The path written.

    Raises:
        ValueError: if the store has no run ``run_id``.
    """
    context = gather(store, run_id)
    n = context["summary"]["attempts"]
    if compress is None:
        compress = n > COMPRESS_ABOVE
    rows = _queries.attempt_rows(store, run_id)
    if progress:
        rows = _with_progress(rows, n)
    payload = build_payload(rows, encode=packed if compress else script_json)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            for piece in render_stream(context, payload, compress=compress, csp=csp):
                fh.write(piece)
        tmp.replace(out)  # a reader never sees half a report
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _with_progress(rows: Any, total: int) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("report"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True) as bar:
        task = bar.add_task("attempts", total=total)
        for i, r in enumerate(rows, 1):
            yield r
            if i % 500 == 0:
                bar.update(task, completed=i)
        bar.update(task, completed=total)

"""Attempt exports: JSON Lines (everything) and CSV (one flat row per attempt), streamed from the store.

Both formats carry model output, which is hostile: JSON Lines is data for programs and is written
as is (JSON escapes every control character); a CSV file is opened by people in a spreadsheet, so
every text cell goes through :func:`breakfix.core.text.csv_cell` — a cell that starts with ``=``,
``+``, ``-``, ``@``, tab or CR is a formula to Excel and LibreOffice (OWASP "CSV Injection").
"""

from __future__ import annotations

import csv
import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, TextIO

from ..core.errors import BreakfixError
from ..core.text import csv_cell
from ..store import Store

FORMATS = ("jsonl", "csv")

CSV_COLUMNS = ["id", "run_id", "item_id", "attack", "converters", "target", "category", "language", "status",
               "error", "prompt", "response_text", "latency_s", "prompt_tokens", "completion_tokens", "retries",
               "target_calls", "n_turns", "success", "refused", "scores", "created_at", "item_metadata"]

Rows = Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]


class OutputError(BreakfixError):
    """The output path cannot be written (a directory, no permission, a missing folder)."""


@contextmanager
def open_output(path: str | Path | None, flag: str = "--output") -> Iterator[TextIO]:
    """``path`` opened for writing text (``None``: stdout), or a one-line :class:`OutputError`.

    Args:
        path: the file to write; ``None`` writes to standard output.
        flag: how the user named the path, for the message (``--output``).
    """
    if path is None:
        yield sys.stdout
        return
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"{flag} {p}: is a directory; expected a file path")
    try:
        fh = open(p, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise OutputError(f"{flag} {p}: cannot write: {exc.strerror or type(exc).__name__}") from None
    try:
        yield fh
        fh.close()  # the last buffered bytes are written here: a full disk shows up now
    except OSError as exc:  # disk full, a file system gone read-only mid-write
        raise OutputError(f"{flag} {p}: cannot write: {exc.strerror or type(exc).__name__}") from None
    finally:
        if not fh.closed:
            try:
                fh.close()
            except OSError:
                pass  # already reporting the first failure


def _last_user(conversation: list[dict[str, Any]] | None) -> str:
    for m in reversed(conversation or []):
        if m.get("role") == "user":
            return str(m.get("content", ""))
    return ""


def export_record(row: dict[str, Any], scores: list[dict[str, Any]]) -> dict[str, Any]:
    """One attempt (a store row and its scores) as the JSON Lines record."""
    rec = {k: v for k, v in row.items() if k != "seq"}
    rec["scores"] = [{k: s[k] for k in ("scorer", "scorer_version", "label", "value", "rationale", "metadata")}
                     for s in scores]
    return rec


# Characters JSON leaves raw that line-splitting readers (Python's ``str.splitlines``, editors,
# some JSON Lines tools) treat as line breaks: written as escapes, which mean the same in JSON.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def write_jsonl(rows: Rows, out: TextIO) -> int:
    """Write attempts as JSON Lines, one attempt (with its scores) per line — a line break inside
    a text (even U+2028) never splits a record. Returns the count."""
    n = 0
    for row, scores in rows:
        out.write(json.dumps(export_record(row, scores), ensure_ascii=False, default=str).translate(_LINE_BREAKS))
        out.write("\n")
        n += 1
    return n


def csv_record(row: dict[str, Any], scores: list[dict[str, Any]]) -> dict[str, Any]:
    """One attempt as a CSV row: the last user prompt and ``scorer=label`` pairs flattened, every text
    cell neutralised for spreadsheets."""
    rec = {k: row.get(k) for k in CSV_COLUMNS}
    rec["prompt"] = _last_user(row.get("conversation"))
    rec["scores"] = ";".join(f"{s['scorer']}={s['label']}" for s in scores)
    if isinstance(rec.get("item_metadata"), dict):
        rec["item_metadata"] = json.dumps(rec["item_metadata"], ensure_ascii=False, default=str)
    return {k: csv_cell(v) for k, v in rec.items()}


def write_csv(rows: Rows, out: TextIO) -> int:
    """Write attempts as CSV (see :func:`csv_record`). Returns the count."""
    w = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    w.writeheader()
    n = 0
    for row, scores in rows:
        w.writerow(csv_record(row, scores))
        n += 1
    return n


def export_run(store: Store, run_id: str, fmt: str = "jsonl", path: str | Path | None = None) -> int:
    """Write every attempt of a run to ``path`` (stdout if ``None``) as ``jsonl`` or ``csv``.

    Returns:
        How many attempts were written.

    Raises:
        OutputError: unknown format, or ``path`` cannot be written (one line naming it).
    """
    if fmt not in FORMATS:
        raise OutputError(f"--format: expected jsonl or csv, got {fmt!r}")
    writer = write_jsonl if fmt == "jsonl" else write_csv
    with open_output(path) as out:
        return writer(with_item_metadata(store, run_id, store.iter_attempt_rows(run_id)), out)


def with_item_metadata(store: Store, run_id: str, rows: Rows) -> Rows:
    """Rows with their item's metadata as ``item_metadata``: the source fields the item loader kept
    (a Do-Not-Answer file's ``intents``, a MultiJail row's ``tags``) travel with every attempt."""
    meta = {it.id: it.metadata for it in store.list_items(run_id)}
    for row, scores in rows:
        yield {**row, "item_metadata": meta.get(row["item_id"], {})}, scores


__all__ = ["CSV_COLUMNS", "FORMATS", "OutputError", "open_output", "export_record", "csv_record", "write_jsonl",
           "write_csv", "export_run"]

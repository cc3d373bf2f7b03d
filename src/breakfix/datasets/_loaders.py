"""Item loaders: the one reader of item files, for ``breakfix run``'s ``items:`` and the benchmark.

Formats (``format="auto"`` picks one from the suffix and the content):

- ``jsonl`` / ``json`` / ``csv`` / ``yaml``: one record per line / list entry / row;
- ``txt``: one prompt per line (HarmBench-style lists; blank lines are skipped);
- ``json`` holding a **list of strings** (each string is a prompt) or **an object holding a list**
  (``{"payloads": [...]}``; the object's other top-level fields go to every item's metadata);
- ``harmbench``: a HarmBench behaviours CSV (``Behavior``, ``ContextString``, ``SemanticCategory``,
  ``BehaviorID`` …); a contextual behaviour's prompt is its context, a blank line, then the behaviour;
- ``multijail``: a MultiJail-style CSV with one column per language; each non-empty language cell of
  a row becomes one item (id ``<row id>-<language>``).

A **field map** (``{"prompt": "question", "category": "risk_area"}``: item field -> source column)
maps a public set's columns onto :class:`~breakfix.core.items.Item`. Every source field that is not
mapped is kept in ``metadata`` — nothing in the file is silently dropped, and the store carries the
metadata through to ``breakfix export``.

A bad record is ONE line naming the file, the line (or record number) and the field —
``items.jsonl:3: field 'prompt': Field required``. :func:`load_items` (``run``) stops at the first;
:func:`read_items` (the benchmark) keeps going and returns every problem, so one broken item never
stops the rest.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import yaml
from pydantic import ValidationError

from ..core.errors import BreakfixError
from ..core.items import Item

_ITEM_FIELDS = set(Item.model_fields)
SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".yaml", ".yml", ".txt")
FORMATS = ("auto", "jsonl", "json", "csv", "yaml", "txt", "harmbench", "multijail")
# Columns public sets use for the prompt, tried in order when no field map names one.
PROMPT_ALIASES = ("prompt", "question", "goal", "behavior", "Behavior", "instruction", "query", "text", "input")
# HarmBench behaviours CSV: its documented columns, mapped onto the item.
_HARMBENCH = {"prompt": "Behavior", "category": "SemanticCategory", "id": "BehaviorID"}
# MultiJail rows: these columns describe the row, every other column is a language.
_MULTIJAIL_META = ("id", "source", "tags", "types", "category")


class DatasetError(BreakfixError, ValueError):
    """An item file that cannot be read; its message is one line naming file, line and field."""


@dataclass
class LoadResult:
    """What :func:`read_items` read: the good items and one line per problem (file, item, what)."""

    items: list[Item] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def item_from_record(record: Any, where: str, fields: Mapping[str, str] | None = None,
                     defaults: Mapping[str, Any] | None = None) -> Item:
    """Validate one record (a mapping) into an Item; unmapped keys go to ``metadata``.

    Args:
        record: the parsed record.
        where: ``file:line`` prefix for error messages.
        fields: item field -> source field; a source field named here must exist in the record.
        defaults: item field values used when the record has none (e.g. ``language``).

    Raises:
        DatasetError: one line naming ``where`` and the field.
    """
    if not isinstance(record, dict):
        raise DatasetError(f"{where}: expected an object with at least a 'prompt' field, got {type(record).__name__}")
    record = dict(record)
    data: dict[str, Any] = {}
    for item_field, src in (fields or {}).items():
        if src not in record:
            raise DatasetError(f"{where}: field map {item_field}={src}: the source has no field {src!r} "
                               f"(has: {', '.join(map(str, record))})")
        data[item_field] = record.pop(src)
    if "prompt" not in data and "prompt" not in record:
        alias = next((a for a in PROMPT_ALIASES if isinstance(record.get(a), str)), None)
        if alias is not None:
            data["prompt"] = record.pop(alias)
    for k in list(record):
        if k in _ITEM_FIELDS and k not in data:
            data[k] = record.pop(k)
    for k, v in (defaults or {}).items():
        data.setdefault(k, v)
    if isinstance(data.get("metadata"), str):
        # CSV cells hold metadata as a JSON string.
        try:
            data["metadata"] = json.loads(data["metadata"]) if data["metadata"].strip() else {}
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{where}: field 'metadata': invalid JSON ({exc.msg})") from None
    if record:
        md = data.get("metadata") or {}
        if not isinstance(md, dict):
            raise DatasetError(f"{where}: field 'metadata': expected an object, got {type(md).__name__}")
        data["metadata"] = {**record, **md}
    for k in ("id", "category", "language", "kind"):
        if k in data and isinstance(data[k], (int, float)) and not isinstance(data[k], bool):
            data[k] = str(data[k])  # numeric ids/categories from CSV or JSON
    try:
        item = Item.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        fld = ".".join(str(p) for p in e["loc"]) or "?"
        raise DatasetError(f"{where}: field '{fld}': {e['msg']}") from None
    if not item.prompt.strip():
        raise DatasetError(f"{where}: field 'prompt': must not be empty")
    return item


# -- text ------------------------------------------------------------------------------------------------
def read_text(path: Path) -> str:
    """The file as text; a file that is not UTF-8 fails naming the line and byte of the first bad byte."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start
        line = raw[:start].count(b"\n") + 1
        col = start - (raw.rfind(b"\n", 0, start) + 1) + 1
        raise DatasetError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[start]:02x} at byte offset {start}, "
                           f"column {col}); save the file as UTF-8") from None


# -- record readers: (where, record) pairs ----------------------------------------------------------------
Records = Iterator[tuple[str, Any]]


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of every line, read from the file as it goes (a 100,000-line file is
    never all in memory: a run reads its items again for every pass of its plan). Lines end at
    ``\n`` only, as JSONL says: a U+2028 inside a JSON string is text, not a line break. A byte that
    is not UTF-8 fails like :func:`read_text`, naming the line and column."""
    offset = 0
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8-sig" if n == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                bad = offset + exc.start
                raise DatasetError(f"{path}:{n}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at byte offset {bad}, "
                                   f"column {exc.start + 1}); save the file as UTF-8") from None
            offset += len(raw)
            yield n, line.rstrip("\r\n")


def _records_jsonl(path: Path) -> Records:
    for n, line in _lines(path):
        if not line.strip():
            continue
        try:
            yield f"{path}:{n}", json.loads(line)
        except json.JSONDecodeError as exc:
            yield f"{path}:{n}", DatasetError(f"{path}:{n}: invalid JSON: {exc.msg} (column {exc.colno})")


def _records_json(path: Path, text: str) -> Records:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    yield from _records_list(path, data)


def _records_yaml(path: Path, text: str) -> Records:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise DatasetError(f"{path}{line}: invalid YAML: {problem}") from None
    yield from _records_list(path, data)


def _records_list(path: Path, data: Any) -> Records:
    shared: dict[str, Any] = {}
    if isinstance(data, dict):
        # An object holding a list: `items` if present, else the one key whose value is a list.
        lists = [k for k, v in data.items() if isinstance(v, list)]
        key = "items" if isinstance(data.get("items"), list) else (lists[0] if len(lists) == 1 else None)
        if key is None:
            raise DatasetError(f"{path}: expected a list of items, or an object holding one list "
                               f"(found {len(lists)} lists: {', '.join(lists) or 'none'})")
        shared = {k: v for k, v in data.items() if k != key and not isinstance(v, list)}
        if key != "items":
            shared["source_key"] = key
        data = data[key]
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a list of items (or an object holding a list)")
    for i, rec in enumerate(data):
        if isinstance(rec, str):
            rec = {"prompt": rec}
        if isinstance(rec, dict) and shared:
            rec = {**{k: v for k, v in shared.items() if k not in rec}, **rec}
        yield f"{path}: items[{i}]", rec


def _records_txt(path: Path) -> Records:
    for n, line in _lines(path):
        if line.strip():
            yield f"{path}:{n}", {"prompt": line.strip(), "line": n}


def _csv_rows(path: Path, text: str) -> tuple[list[str], Iterator[tuple[str, dict[str, str]]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = list(reader.fieldnames or [])
    if not header:
        raise DatasetError(f"{path}:1: empty CSV (no header row)")

    def rows() -> Iterator[tuple[str, dict[str, str]]]:
        for row in reader:
            # reader.line_num is the physical line where this record ended.
            where = f"{path}:{reader.line_num}"
            if None in row:
                yield where, DatasetError(f"{where}: more cells than header columns")  # type: ignore[misc]
                continue
            yield where, {k: v for k, v in row.items() if v not in (None, "")}
    return header, rows()


def _check_columns(path: Path, header: list[str], fields: Mapping[str, str] | None, need_prompt: bool) -> None:
    for item_field, src in (fields or {}).items():
        if src not in header:
            raise DatasetError(f"{path}:1: field map {item_field}={src}: no column {src!r} "
                               f"(columns: {', '.join(header)})")
    if need_prompt and "prompt" not in (fields or {}) and not any(a in header for a in PROMPT_ALIASES):
        raise DatasetError(f"{path}:1: header must have a 'prompt' column or a field map prompt=COLUMN "
                           f"(has: {', '.join(header)})")


def _records_csv(path: Path, text: str, fields: Mapping[str, str] | None) -> Records:
    header, rows = _csv_rows(path, text)
    _check_columns(path, header, fields, need_prompt=True)
    yield from rows


def _records_harmbench(path: Path, text: str, fields: Mapping[str, str] | None) -> Records:
    header, rows = _csv_rows(path, text)
    if "Behavior" not in header and "prompt" not in (fields or {}):
        raise DatasetError(f"{path}:1: not a HarmBench behaviours CSV: no 'Behavior' column (has: {', '.join(header)})")
    _check_columns(path, header, fields, need_prompt=False)
    for where, row in rows:
        if isinstance(row, Exception):
            yield where, row
            continue
        context = row.pop("ContextString", "").strip()
        if context and "Behavior" in row:
            # HarmBench's contextual behaviours: the model sees the context, then the behaviour.
            row["Behavior"] = f"{context}\n\n---\n\n{row['Behavior']}"
            row["context"] = context
        yield where, row


def multijail_languages(header: list[str], languages: Iterable[str] | None = None) -> list[str]:
    """The language columns of a MultiJail-style header: ``languages`` if given, else every column
    that is a valid BCP 47 tag and not one of the descriptive columns (id, source, tags, types)."""
    if languages:
        return list(languages)
    from ..bench.codes import is_language

    return [c for c in header if c not in _MULTIJAIL_META and is_language(c)]


def _records_multijail(path: Path, text: str, fields: Mapping[str, str] | None,
                       languages: Iterable[str] | None) -> Records:
    header, rows = _csv_rows(path, text)
    langs = multijail_languages(header, languages)
    missing = [c for c in langs if c not in header]
    if missing:
        raise DatasetError(f"{path}:1: language column {missing[0]!r} not in the header (columns: {', '.join(header)})")
    if not langs:
        raise DatasetError(f"{path}:1: no language columns found (columns: {', '.join(header)}); give languages=...")
    _check_columns(path, header, {k: v for k, v in (fields or {}).items() if k != "prompt"}, need_prompt=False)
    for where, row in rows:
        if isinstance(row, Exception):
            yield where, row
            continue
        shared = {k: v for k, v in row.items() if k not in langs}
        rid = shared.pop("id", None) or where.rsplit(":", 1)[1]
        for lang in langs:
            if row.get(lang, "").strip():
                yield f"{where} [{lang}]", {**shared, "id": f"{rid}-{lang}", "prompt": row[lang], "language": lang,
                                            "row_id": rid}


# The formats a suffix names by itself; a .csv needs its header (:func:`_sniff`).
_SUFFIX_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".yaml": "yaml", ".yml": "yaml", ".txt": "txt",
                   ".json": "json"}


def _sniff(path: Path, text: str) -> str:
    """The format of a file whose suffix does not name one by itself (a CSV: HarmBench or plain)."""
    if path.suffix.lower() == ".csv":
        first = text.split("\n", 1)[0]
        return "harmbench" if "Behavior" in first.split(",") and "BehaviorID" in first else "csv"
    raise DatasetError(f"{path}: unknown item file type {path.suffix!r}; expected one of {', '.join(SUFFIXES)} "
                       f"(or give a format: {', '.join(FORMATS[1:])})")


def iter_records(path: str | Path, *, format: str = "auto", fields: Mapping[str, str] | None = None,
                 languages: Iterable[str] | None = None) -> Records:
    """Yield ``(where, record_or_error)`` for every record of ``path`` (errors of single records are
    yielded, not raised, so a reader can skip them; file-level errors raise :class:`DatasetError`)."""
    p = Path(path)
    if format not in FORMATS:
        raise DatasetError(f"{p}: format: expected one of {', '.join(FORMATS)}, got {format!r}")
    if not p.is_file():
        raise DatasetError(f"{p}: item file not found")
    fmt = _SUFFIX_FORMATS.get(p.suffix.lower(), "") if format == "auto" else format
    # Line formats are read as they go; the others are parsed whole anyway.
    if fmt == "jsonl":
        return _records_jsonl(p)
    if fmt == "txt":
        return _records_txt(p)
    text = read_text(p)
    fmt = fmt or _sniff(p, text)
    if fmt == "json":
        return _records_json(p, text)
    if fmt == "yaml":
        return _records_yaml(p, text)
    if fmt == "csv":
        return _records_csv(p, text, fields)
    if fmt == "harmbench":
        return _records_harmbench(p, text, fields)
    return _records_multijail(p, text, fields, languages)


def _field_map(fmt: str, path: Path, fields: Mapping[str, str] | None, text_head: str) -> dict[str, str]:
    if fmt == "harmbench" or (fmt == "auto" and path.suffix.lower() == ".csv" and "BehaviorID" in text_head):
        base = dict(_HARMBENCH)
        header = text_head.split("\n", 1)[0].split(",")
        base = {k: v for k, v in base.items() if v in header}
        return {**base, **(fields or {})}
    if fmt == "multijail":
        return {k: v for k, v in (fields or {}).items() if k != "prompt"}
    return dict(fields or {})


def read_items(path: str | Path, *, format: str = "auto", fields: Mapping[str, str] | None = None,
               defaults: Mapping[str, Any] | None = None, languages: Iterable[str] | None = None) -> LoadResult:
    """Read every good item of ``path`` and one problem line per bad one (nothing raised per record).

    Args:
        path: the file.
        format: one of :data:`FORMATS` (``auto``: from the suffix and the header).
        fields: item field -> source field map (a missing source field is a file-level error for
            tabular files, a per-record problem otherwise).
        defaults: item field values for records without them (e.g. ``{"language": "en"}``).
        languages: MultiJail language columns (default: every column that is a BCP 47 tag).

    Returns:
        A :class:`LoadResult`; duplicate ids are problems (the first one is kept).

    Raises:
        DatasetError: the file itself cannot be read (missing, not UTF-8, bad header, bad JSON document).
    """
    p = Path(path)
    records = iter_records(p, format=format, fields=fields, languages=languages)
    head = read_text(p)[:4096] if p.suffix.lower() == ".csv" else ""
    fmap = _field_map(format, p, fields, head)
    out = LoadResult()
    seen: dict[str, str] = {}
    for where, rec in records:
        if isinstance(rec, Exception):
            out.problems.append(str(rec))
            continue
        try:
            item = item_from_record(rec, where, fmap, defaults)
        except DatasetError as exc:
            out.problems.append(str(exc))
            continue
        if item.id in seen:
            out.problems.append(f"{where}: item {item.id}: duplicate id (first at {seen[item.id]}); skipped")
            continue
        seen[item.id] = where
        out.items.append(item)
    return out


def load_items(path: str | Path, *, format: str = "auto", fields: Mapping[str, str] | None = None,
               defaults: Mapping[str, Any] | None = None, languages: Iterable[str] | None = None) -> list[Item]:
    """Load items from a file in any of :data:`FORMATS` (see :func:`read_items` for the arguments).

    Duplicate ids keep the first item (a run must not run one item twice).

    Raises:
        DatasetError: one line naming the file, line and field of the first bad record.
    """
    return dedupe(iter_items(path, format=format, fields=fields, defaults=defaults, languages=languages))


def iter_items(path: str | Path, *, format: str = "auto", fields: Mapping[str, str] | None = None,
               defaults: Mapping[str, Any] | None = None, languages: Iterable[str] | None = None) -> Iterator[Item]:
    """The items of ``path`` as they are read (duplicates included; see :func:`load_items`), for a
    reader that must not hold them all: a run reads its items file again for each pass of its plan.

    Raises:
        DatasetError: when the iteration reaches the first bad record, or the file has no items.
    """
    p = Path(path)
    records = iter_records(p, format=format, fields=fields, languages=languages)
    head = read_text(p)[:4096] if p.suffix.lower() == ".csv" else ""
    fmap = _field_map(format, p, fields, head)
    n = 0
    for where, rec in records:
        if isinstance(rec, Exception):
            raise rec
        yield item_from_record(rec, where, fmap, defaults)
        n += 1
    if not n:
        raise DatasetError(f"{p}: no items")


def dedupe(items: Iterable[Item]) -> list[Item]:
    """Items with duplicate ids dropped (the first wins): the plan must not run one item twice."""
    seen: set[str] = set()
    out = []
    for it in items:
        if it.id not in seen:
            seen.add(it.id)
            out.append(it)
    return out


def write_jsonl(items: Iterable[Item], path: str | Path) -> Path:
    """Write items as JSONL (the inverse of :func:`load_items` for ``.jsonl``)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", encoding="utf-8") as fh:
        for it in items:
            fh.write(json.dumps(it.model_dump(mode="json"), ensure_ascii=False) + "\n")
    return p

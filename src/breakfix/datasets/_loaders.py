"""Item loaders: JSONL, JSON, CSV and YAML files into :class:`~breakfix.core.items.Item` lists.

A bad record is reported as ONE line naming the file, the line (or record number) and the field —
``items.jsonl:3: field 'prompt': Field required`` — because item files are written by hand and by
scripts, and a traceback helps neither.

Keys that are not Item fields are kept in ``metadata`` (item files often carry a source, a
reference answer, an annotator id...), so nothing in the file is silently dropped.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml
from pydantic import ValidationError

from ..core.items import Item

_ITEM_FIELDS = set(Item.model_fields)
SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".yaml", ".yml")


class DatasetError(ValueError):
    """An item file that cannot be read; its message is one line naming file, line and field."""


def item_from_record(record: Any, where: str) -> Item:
    """Validate one record (a mapping) into an Item; unknown keys go to ``metadata``.

    Args:
        record: the parsed record.
        where: ``file:line`` prefix for error messages.
    """
    if not isinstance(record, dict):
        raise DatasetError(f"{where}: expected an object with at least a 'prompt' field, got {type(record).__name__}")
    data = {k: v for k, v in record.items() if k in _ITEM_FIELDS}
    extra = {k: v for k, v in record.items() if k not in _ITEM_FIELDS}
    if extra:
        md = data.get("metadata") or {}
        if not isinstance(md, dict):
            raise DatasetError(f"{where}: field 'metadata': expected an object, got {type(md).__name__}")
        data["metadata"] = {**extra, **md}
    if isinstance(data.get("metadata"), str):
        # CSV cells hold metadata as a JSON string.
        try:
            data["metadata"] = json.loads(data["metadata"]) if data["metadata"].strip() else {}
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{where}: field 'metadata': invalid JSON ({exc.msg})") from None
    try:
        item = Item.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        fld = ".".join(str(p) for p in e["loc"]) or "?"
        raise DatasetError(f"{where}: field '{fld}': {e['msg']}") from None
    if not item.prompt.strip():
        raise DatasetError(f"{where}: field 'prompt': must not be empty")
    return item


def _records_jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield f"{path}:{n}", json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{n}: invalid JSON: {exc.msg} (column {exc.colno})") from None


def _records_json(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    yield from _records_list(path, data)


def _records_yaml(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise DatasetError(f"{path}{line}: invalid YAML: {problem}") from None
    yield from _records_list(path, data)


def _records_list(path: Path, data: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(data, dict) and "items" in data:
        data = data["items"]
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a list of items (or a mapping with an 'items' list)")
    for i, rec in enumerate(data):
        yield f"{path}: items[{i}]", rec


def _records_csv(path: Path) -> Iterator[tuple[str, Any]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "prompt" not in reader.fieldnames:
            raise DatasetError(f"{path}:1: header must have a 'prompt' column (has: {', '.join(reader.fieldnames or [])})")
        for row in reader:
            # reader.line_num is the physical line where this record ended.
            if None in row:
                raise DatasetError(f"{path}:{reader.line_num}: more cells than header columns")
            yield f"{path}:{reader.line_num}", {k: v for k, v in row.items() if v not in (None, "")}


_READERS = {".jsonl": _records_jsonl, ".ndjson": _records_jsonl, ".json": _records_json,
            ".csv": _records_csv, ".yaml": _records_yaml, ".yml": _records_yaml}


def load_items(path: str | Path) -> list[Item]:
    """Load items from a ``.jsonl``/``.json``/``.csv``/``.yaml`` file.

    Raises:
        DatasetError: one line naming the file, line and field of the first bad record.
    """
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"{p}: item file not found")
    reader = _READERS.get(p.suffix.lower())
    if reader is None:
        raise DatasetError(f"{p}: unknown item file type {p.suffix!r}; expected one of {', '.join(SUFFIXES)}")
    items = [item_from_record(rec, where) for where, rec in reader(p)]
    if not items:
        raise DatasetError(f"{p}: no items")
    return dedupe(items)


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

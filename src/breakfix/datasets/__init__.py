"""Test items: the one loader of item files (JSONL/JSON/CSV/YAML/TXT, HarmBench and MultiJail CSVs)
with field maps and one-line errors, shared by ``breakfix run`` and the benchmark."""

from ._loaders import (
    FORMATS,
    DatasetError,
    LoadResult,
    dedupe,
    item_from_record,
    iter_items,
    iter_records,
    load_items,
    read_items,
    read_text,
    write_jsonl,
)

__all__ = ["FORMATS", "DatasetError", "LoadResult", "load_items", "read_items", "read_text", "iter_records", "iter_items",
           "item_from_record", "dedupe", "write_jsonl"]

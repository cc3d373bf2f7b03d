"""Test items: loaders for JSONL/JSON/CSV/YAML files with one-line errors."""

from ._loaders import DatasetError, dedupe, item_from_record, load_items, write_jsonl

__all__ = ["DatasetError", "load_items", "item_from_record", "dedupe", "write_jsonl"]

"""The results store: runs, items, attempts (with scores) and findings in SQL.

Public names: :class:`Store` (``Store(url)``, SQLite by default) and :class:`RunInfo`.
"""

from ._store import DEFAULT_URL, RunInfo, Store, converter_key

__all__ = ["Store", "RunInfo", "DEFAULT_URL", "converter_key"]

"""The results store: runs, items, attempts (with scores) and findings in SQL.

Public names: :class:`Store` (``Store(url)``, SQLite by default), :class:`RunInfo`, and the errors
:class:`StoreWriteError` and :class:`StoreNotFoundError`.
"""

from ._open import StoreOpenError, open_store, store_url
from ._store import (
    DEFAULT_URL,
    PreparedAttempts,
    RunInfo,
    Store,
    StoreNotFoundError,
    StoreWriteError,
    converter_key,
    outcome_rates,
    sqlite_path,
)

__all__ = ["open_store", "PreparedAttempts", "store_url", "StoreOpenError", "Store", "RunInfo", "DEFAULT_URL", "converter_key", "StoreWriteError", "StoreNotFoundError",
           "sqlite_path", "outcome_rates"]

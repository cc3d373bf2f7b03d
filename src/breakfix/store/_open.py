"""Which store to use and opening it with one-line errors: the CLI and the Python API share this.

The store is passed in explicitly everywhere (see ``_store.py``); this module only decides the URL
(an explicit value, else ``$BREAKFIX_STORE``, else the default file in the working directory) and
turns a URL that cannot be opened into a :class:`StoreOpenError` naming it.
"""

from __future__ import annotations

from ..core.db import DEFAULT_URL, mask_url, resolve_url
from ..core.errors import BreakfixError
from ..core.extras import missing_extra
from ._store import Store


class StoreOpenError(BreakfixError):
    """A store URL that cannot be opened (bad URL, unreadable file, unknown driver)."""


def store_url(value: str | None = None, default: str = DEFAULT_URL) -> str:
    """The store URL to use: ``value``, else ``$BREAKFIX_STORE`` (or ``$BREAKFIX_DB``), else ``default``."""
    return resolve_url(value) if (value or resolve_url() != DEFAULT_URL) else default


def open_store(url: str | None = None, *, create: bool = False) -> Store:
    """Open the store at ``url`` (see :func:`store_url` for the default).

    Args:
        url: an SQLAlchemy URL (``sqlite:///breakfix.db``, ``postgresql+psycopg://...``) or None.
        create: create the database if it does not exist. Commands that only read refuse a
            missing file instead, so a mistyped path leaves no empty database behind.

    Raises:
        StoreOpenError: the URL cannot be opened (one line naming it).
    """
    url = store_url(url)
    try:
        return Store(url, must_exist=not create)
    except BreakfixError:
        raise
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises many types; the user needs one line
        extra = missing_extra(exc)  # e.g. a postgresql+psycopg:// URL without the [postgres] extra
        if extra is not None:
            raise StoreOpenError(f"store {url!r}: {extra}") from None
        first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
        raise StoreOpenError(f"store {mask_url(url)!r}: cannot open: {mask_url(first)}") from None

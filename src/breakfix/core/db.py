"""The one database layer: a URL becomes an engine here, and nowhere else.

Every component that keeps tables — the results store, the backdoor scanner, the annotation app,
the benchmark and the cycle — lives in ONE database (default: ``breakfix.db`` in the working
directory, or ``$BREAKFIX_STORE``), opened through :func:`make_engine` so that all of them get the
same SQLite pragmas, the same JSON serialisation and the same one-line errors. URLs are shown through
:func:`mask_url` everywhere, so a password in a PostgreSQL URL never reaches a terminal, log or report.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .errors import BreakfixError

DEFAULT_URL = "sqlite:///breakfix.db"
"""Where every component's tables live unless told otherwise: a file in the working directory."""

ENV_VARS = ("BREAKFIX_STORE", "BREAKFIX_DB")
"""Environment variables naming the database, in order of precedence (``BREAKFIX_DB`` is the
annotation app's and scanner's older name, still honoured)."""

POSTGRES_EXTRA = "pip install 'breakfix[postgres]'"


class DatabaseError(BreakfixError):
    """A database URL that cannot be used: bad syntax, missing driver, unreachable server, missing file."""


def resolve_url(url: str | None = None) -> str:
    """The database URL: an explicit one, else ``$BREAKFIX_STORE``, else ``$BREAKFIX_DB``, else
    ``sqlite:///breakfix.db``."""
    if url:
        return str(url)
    for var in ENV_VARS:
        if os.environ.get(var):
            return os.environ[var]
    return DEFAULT_URL


_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]*)@")


def mask_url(url: Any) -> str:
    """``url`` with its password replaced by ``***`` (also inside a longer message)."""
    text = str(url)
    return _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL (``None``: not SQLite, in memory, or a ``file:`` URI)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[1] if ":///" in url else ""
    path = path.split("?", 1)[0]
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path).expanduser()


# default=str: a datetime or a Path in a JSON column is stored as text instead of failing the write.
# One encoder for the process (it holds no state between calls): json.dumps with ``default`` builds
# a new encoder per call, which cost ~7 us on each of the ~5 JSON columns of every stored attempt.
_JSON_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


def _c_encoder() -> Any:
    """json's C encoder with ``_JSON_ENCODER``'s settings, built once: ``JSONEncoder.encode`` builds
    one per call (~1-2 us of each JSON value, ~8 per stored attempt). ``None`` where the C
    encoder is missing or its output differs from ``_JSON_ENCODER``'s on a sample (its signature
    is CPython's private business); then ``_JSON_ENCODER`` is used. No circular-reference check
    (a circular value fails with ``RecursionError`` instead of ``ValueError``)."""
    try:
        from json.encoder import c_encode_basestring, c_make_encoder  # type: ignore[attr-defined]

        enc = c_make_encoder(None, str, c_encode_basestring, None, ": ", ", ", False, False, True)
        sample = {"a": [1, -2.5, 1e300, float("nan"), None, True, "é \ud800 \"q\"\n\t"], "b": {3: Path("/x"), "c": {}},
                  "d": (), "e": [[]]}
        if "".join(enc(sample, 0)) != _JSON_ENCODER.encode(sample) or "".join(enc(1.5, 0)) != "1.5":
            return None
        return enc
    except Exception:  # noqa: BLE001
        return None


_C_ENCODE = _c_encoder()


def _json_dumps(value: Any) -> str:
    if _C_ENCODE is None or isinstance(value, str):
        return _JSON_ENCODER.encode(value)
    return "".join(_C_ENCODE(value, 0))


def make_engine(url: str | None = None, *, must_exist: bool = False, echo: bool = False) -> Any:
    """The SQLAlchemy engine for ``url`` (see :func:`resolve_url`), with breakfix's settings.

    SQLite: WAL (readers never block the running writer), ``synchronous=NORMAL`` (in WAL mode a
    process crash loses no committed transaction), a 30 s busy timeout (the CLI, a run and the
    annotation server may write the same file at once) and foreign keys enforced. Other databases
    are used as SQLAlchemy configures them.

    Args:
        url: SQLAlchemy URL; ``None`` resolves the default.
        must_exist: for read-only commands: a SQLite file that does not exist raises
            :class:`DatabaseError` instead of being created.
        echo: log SQL statements.

    Raises:
        DatabaseError: the URL is malformed, its driver is not installed, or (``must_exist``) the
            SQLite file is missing. Messages name the masked URL and the fix.
    """
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    url = resolve_url(url)
    shown = mask_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"database URL {shown!r}: not a SQLAlchemy URL "
                            "(expected e.g. sqlite:///breakfix.db or postgresql+psycopg://user@host/db)") from None
    is_sqlite = parsed.get_backend_name() == "sqlite"
    kwargs: dict[str, Any] = {"echo": echo, "json_serializer": _json_dumps}
    if is_sqlite:
        path = sqlite_path(url)
        if path is not None:
            if must_exist and not path.is_file():
                raise DatabaseError(f"database {shown}: no file {path}; a command that writes (e.g. `breakfix run`) "
                                    "creates it, `--store` (or $BREAKFIX_STORE) names an existing one")
            path.parent.mkdir(parents=True, exist_ok=True)
        # The engine's writer thread and its event loop share connections.
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True  # a server restarted under a long run: reconnect, don't fail
    try:
        engine = create_engine(url, **kwargs)
    except (NoSuchModuleError, ModuleNotFoundError, ImportError) as exc:
        backend = parsed.get_backend_name()
        fix = POSTGRES_EXTRA if backend == "postgresql" else f"install the driver for {parsed.drivername!r}"
        raise DatabaseError(f"database {shown}: driver {parsed.drivername!r} is not installed "
                            f"({type(exc).__name__}); {fix}") from None
    if is_sqlite:
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            _set_wal(cur)
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    return engine


def _set_wal(cur: Any, wait_s: float = 30.0) -> None:
    """Switch a SQLite connection to WAL, waiting while another connection holds the file.

    Why a loop: when several processes open one brand-new file at once, switching its journal mode
    can answer "database is locked" at once, without the busy timeout (the change needs the file to
    itself; seen as 1 failed opener in about 100 in a six-process race).
    """
    import sqlite3
    import time

    deadline = time.monotonic() + wait_s
    pause = 0.01
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


@contextmanager
def begin_write(engine: Any) -> Iterator[Any]:
    """``engine.begin()`` for a transaction that reads and then writes (check-then-insert).

    On SQLite the transaction takes the write lock first (``BEGIN IMMEDIATE``): a deferred
    transaction that read a snapshot and then wants to write fails at once with "database is
    locked" when another process committed in between (the busy timeout does not apply to that
    case), which is exactly what several workers writing one run do. Waiting for the lock up front
    lets the busy timeout work. Other databases get a plain transaction.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


@contextmanager
def sqlite_driver_write(engine: Any, what: str) -> Iterator[Any]:
    """A write transaction on SQLite's own driver (a cursor), for hot paths where SQLAlchemy's
    statement and parameter processing is most of the cost (the engine's attempt writes, lease claims).

    The connection comes from the engine's pool (its pragmas apply) and goes back to it. The write
    lock is taken first (``BEGIN IMMEDIATE``, as :func:`begin_write`); the block commits on success
    and rolls back on any exception. A driver error is re-raised as SQLAlchemy raises it
    (``OperationalError: database is locked`` ...), so callers catch one family of exceptions
    whichever path wrote; ``what`` names the statement in that error.
    """
    import sqlite3

    from sqlalchemy.exc import DBAPIError

    raw = engine.raw_connection()
    try:
        conn: Any = raw.driver_connection
        cur = conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        finally:
            cur.close()
    except sqlite3.Error as exc:
        raise DBAPIError.instance(what, None, exc, sqlite3.Error) from exc
    finally:
        raw.close()  # back to the pool


def connection_error(url: str, exc: BaseException) -> DatabaseError:
    """One line for a database that could not be reached or refused us (wrong password, no server)."""
    first = mask_url(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    hint = ""
    low = first.lower()
    if "password authentication failed" in low or "authentication" in low:
        hint = "; check the user and password in the URL"
    elif "connection refused" in low or "could not connect" in low or "could not translate host" in low:
        hint = "; is the server running and the host/port right?"
    elif "no such table" in low or "undefinedtable" in low or "does not exist" in low:
        hint = "; run `breakfix db upgrade`"
    return DatabaseError(f"database {mask_url(url)}: {first[:300]}{hint}")

"""Schema versions of the one database: Alembic migrations for every component's tables.

Each component keeps its tables in its own schema module (``store/_schema.py``,
``backdoor/_db.py``, ``annotate/web/db.py``, ``cycle/db.py``); :func:`all_metadata` registers them
with one Alembic history (``breakfix/migrations``), because they share one database.

Opening a database (:func:`prepare`):
* a fresh database gets every component's tables and is stamped at the newest revision;
* a database written before migrations existed is at the baseline revision and is stamped so;
* a database at an older revision is refused with one line naming ``breakfix db upgrade`` — no
  component ever runs against a schema it does not know.
"""

from __future__ import annotations

from contextlib import contextmanager
from importlib import resources
from typing import Any, Iterator

from .db import DatabaseError, make_engine, mask_url

BASELINE = "0001"
"""The schema every database had before migrations existed."""

HEAD = "0002"
"""The newest revision; a test checks it is the migration scripts' head."""

_COMPONENTS = ("breakfix.store._schema:metadata", "breakfix.backdoor._db:metadata",
               "breakfix.annotate.web.db:WebBase.metadata", "breakfix.cycle.db:metadata")
"""Every component's schema module (``module:attribute``) — one line per component."""

VERSION_TABLE = "alembic_version"


def all_metadata() -> list[Any]:
    """The MetaData of every component (importing only the schema modules)."""
    import importlib

    out = []
    for spec in _COMPONENTS:
        module, attr = spec.split(":")
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        out.append(obj)
    return out


def alembic_config(url: str) -> Any:
    """An Alembic config on the migrations shipped inside the package (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("breakfix") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def script_head() -> str:
    """The head revision of the shipped migration scripts."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads: {heads}")
    return heads[0]


def _unreachable(engine: Any, exc: Any) -> DatabaseError:
    from .db import connection_error

    return connection_error(engine.url.render_as_string(hide_password=False), getattr(exc, "orig", None) or exc)


def current(engine: Any) -> str | None:
    """The database's revision; ``None`` for a database without breakfix tables or version.

    Raises:
        DatabaseError: the server cannot be reached or refuses the credentials (one line, masked).
    """
    from sqlalchemy.exc import InterfaceError, OperationalError

    try:
        with engine.connect() as conn:
            return _current_on(conn)
    except (OperationalError, InterfaceError) as exc:
        raise _unreachable(engine, exc) from None


def _current_on(conn: Any) -> str | None:
    from sqlalchemy import inspect, text

    names = set(inspect(conn).get_table_names())
    if VERSION_TABLE in names:
        row = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
        if row is not None:
            return str(row[0])
    known = {t for md in all_metadata() for t in md.tables}
    return BASELINE if names & known else None


_SETUP_LOCK_KEY = 0x62666462  # "bfdb": PostgreSQL advisory lock held while a database is set up


@contextmanager
def _setup_transaction(engine: Any) -> Iterator[Any]:
    """One transaction that holds the database's setup lock until it commits.

    Why: two processes opening one fresh database at once used to race — one created the tables,
    the other then saw breakfix tables without a version, took the database for a pre-migration one,
    stamped it at the baseline, and both refused it ("run `breakfix db upgrade`"). Checking,
    creating and stamping under one lock makes the second opener see the finished database. SQLite
    takes its write lock up front (``BEGIN IMMEDIATE``, DDL is transactional there); PostgreSQL
    takes a transaction-scoped advisory lock.
    """
    from .db import begin_write

    with begin_write(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SETUP_LOCK_KEY})")
        yield conn


def _stamp(conn: Any, revision: str) -> None:
    from alembic.migration import MigrationContext

    MigrationContext.configure(conn).stamp(_script(), revision)


def _script() -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def _create_all(engine: Any, attempts: int = 5) -> None:
    # Two processes opening a fresh database at once can both see a table missing; the loser retries.
    from sqlalchemy.exc import OperationalError, ProgrammingError

    for i in range(attempts):
        try:
            for md in all_metadata():
                md.create_all(engine)
            return
        except (OperationalError, ProgrammingError) as exc:
            if "already exists" not in str(exc) or i == attempts - 1:
                raise


def prepare(engine: Any) -> None:
    """Make ``engine``'s database usable by this breakfix, or refuse it in one line.

    Fresh or pre-migration databases get the tables they miss and their revision; a database at an
    older revision raises :class:`DatabaseError` naming ``breakfix db upgrade``.
    """
    from sqlalchemy import inspect
    from sqlalchemy.exc import InterfaceError, OperationalError

    try:
        # The first connection: a wrong password or an unreachable server surfaces here, once, as
        # one line with the password masked (every component opens its database through this).
        with engine.connect() as conn:
            has_version = VERSION_TABLE in set(inspect(conn).get_table_names())
            rev = _current_on(conn)
    except (OperationalError, InterfaceError) as exc:
        raise _unreachable(engine, exc) from None
    if rev is None or (not has_version and rev == BASELINE):
        with _setup_transaction(engine) as conn:
            # Read again under the lock: another process may have finished setting it up meanwhile.
            rev = _current_on(conn)
            if rev is None:
                for md in all_metadata():
                    md.create_all(conn)
                _stamp(conn, HEAD)
            elif VERSION_TABLE not in set(inspect(conn).get_table_names()):
                # A pre-migration database is only stamped at the baseline (creating the newer tables
                # here would make `breakfix db upgrade` fail on them); the check below names the upgrade.
                _stamp(conn, BASELINE)
        rev = current(engine)
    if rev != HEAD:
        raise DatabaseError(f"database {mask_url(engine.url.render_as_string(hide_password=False))} is at schema "
                            f"revision {rev}, this breakfix needs {HEAD}: run `breakfix db upgrade`"
                            f"{' --store URL' if engine.dialect.name != 'sqlite' else ''}")
    # Tables added by a component since the database was stamped at this same revision (never
    # happens with released migrations, but keeps a development database working).
    _create_all(engine)


def upgrade(url: str | None = None, revision: str = "head") -> tuple[str | None, str]:
    """Apply migrations up to ``revision``; returns (before, after)."""
    from alembic import command

    engine = make_engine(url)
    try:
        before = current(engine)  # a server that cannot be reached fails here, in one line
        with engine.begin() as conn:
            if before is not None and VERSION_TABLE not in set(_table_names(conn)):
                _stamp(conn, BASELINE)  # a pre-migration database is at the baseline
            cfg = alembic_config(str(engine.url.render_as_string(hide_password=False)))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
        return before, current(engine) or HEAD
    finally:
        engine.dispose()


def _table_names(conn: Any) -> list[str]:
    from sqlalchemy import inspect

    return inspect(conn).get_table_names()

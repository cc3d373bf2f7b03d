"""Alembic environment: one history for all of breakfix's tables (they share one database)."""

from __future__ import annotations

from alembic import context

from breakfix.core.migrate import all_metadata

config = context.config
target_metadata = all_metadata()


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from breakfix.core.db import make_engine

        engine = make_engine(config.get_main_option("sqlalchemy.url"))
        with engine.begin() as conn:
            _run(conn)
        engine.dispose()
    else:
        _run(connection)


def _run(connection) -> None:
    # render_as_batch: SQLite can only ALTER a table by copying it; batch mode does that.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

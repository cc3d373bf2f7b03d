"""Alembic migrations of the one database (issue 17.1): the checked-in history builds exactly the
components' schema, databases at another revision are refused in one line naming the fix, and
`breakfix db upgrade|current` work."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import create_engine, inspect, text

from breakfix.core.db import DatabaseError
from breakfix.core.migrate import BASELINE, HEAD, all_metadata, current, script_head, upgrade


def test_head_constant_is_the_scripts_head():
    assert script_head() == HEAD


def test_migrations_build_exactly_the_components_schema(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    url = f"sqlite:///{tmp_path / 'm.db'}"
    before, after = upgrade(url)
    assert (before, after) == (None, HEAD)
    engine = create_engine(url)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), all_metadata())
    engine.dispose()
    assert diffs == [], "a component's tables changed without a migration: add one under breakfix/migrations/versions"


def test_every_component_opens_a_fresh_database_at_head(tmp_path):
    from breakfix.annotate.web.db import make_engine as web_engine
    from breakfix.backdoor._db import ScanDB
    from breakfix.store import Store

    for i, opener in enumerate((lambda u: Store(u).engine, lambda u: ScanDB(u).engine, web_engine)):
        url = f"sqlite:///{tmp_path / f'fresh{i}.db'}"
        engine = opener(url)
        assert current(engine) == HEAD
        names = set(inspect(engine).get_table_names())
        assert {"runs", "attempts", "scan_scans", "annot_users"} <= names  # every component's tables
        engine.dispose()


def test_a_database_at_another_revision_is_refused_in_one_line(tmp_path):
    from breakfix.store import Store

    url = f"sqlite:///{tmp_path / 'old.db'}"
    Store(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    engine.dispose()
    with pytest.raises(DatabaseError) as err:
        Store(url)
    msg = str(err.value)
    assert "\n" not in msg and "breakfix db upgrade" in msg and "ffff" in msg


def test_a_database_from_before_migrations_is_the_baseline(tmp_path):
    from breakfix.store import Store
    from breakfix.store._schema import metadata

    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    engine = create_engine(url)
    # What an older breakfix left: the baseline's tables (no leases, revision 0002), no version.
    metadata.create_all(engine, tables=[t for t in metadata.sorted_tables if t.name != "leases"])
    engine.dispose()
    with pytest.raises(DatabaseError) as err:  # stamped at the baseline, then told to upgrade
        Store(url)
    assert "breakfix db upgrade" in str(err.value) and "\n" not in str(err.value)
    engine = create_engine(url)
    assert current(engine) == BASELINE
    engine.dispose()
    assert upgrade(url) == (BASELINE, HEAD)
    store = Store(url)
    assert current(store.engine) == HEAD
    store.close()


def test_cli_current_and_upgrade(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    cmd = [sys.executable, "-m", "breakfix.cli.main", "db"]
    up = subprocess.run([*cmd, "upgrade", "--store", url], capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    assert f"empty -> {HEAD}" in up.stdout
    cur = subprocess.run([*cmd, "current", "--store", url], capture_output=True, text=True, timeout=120)
    assert cur.returncode == 0 and "up to date" in cur.stdout
    missing = subprocess.run([*cmd, "current", "--store", f"sqlite:///{tmp_path / 'nope.db'}"],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode != 0 and len(missing.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "nope.db").exists()

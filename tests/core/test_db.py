"""The one database layer (issue 17.1): one URL -> engine function, one default, one set of pragmas,
masked URLs and one-line errors — for the store, the scanner's tables and the annotation app alike."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from breakfix.core.db import DEFAULT_URL, DatabaseError, make_engine, mask_url, resolve_url


def test_default_and_environment(monkeypatch):
    monkeypatch.delenv("BREAKFIX_STORE", raising=False)
    monkeypatch.delenv("BREAKFIX_DB", raising=False)
    assert resolve_url() == DEFAULT_URL == "sqlite:///breakfix.db"
    monkeypatch.setenv("BREAKFIX_DB", "sqlite:///old-name.db")
    assert resolve_url() == "sqlite:///old-name.db"
    monkeypatch.setenv("BREAKFIX_STORE", "sqlite:///team.db")
    assert resolve_url() == "sqlite:///team.db"
    assert resolve_url("sqlite:///explicit.db") == "sqlite:///explicit.db"


@pytest.mark.parametrize("url, shown", [
    ("postgresql+psycopg://alice:s3cr3t-p%40ss@db.example:5432/bf", "postgresql+psycopg://alice:***@db.example:5432/bf"),
    ("postgresql://bob:hunter2@localhost/x", "postgresql://bob:***@localhost/x"),
    ("sqlite:///breakfix.db", "sqlite:///breakfix.db"),
])
def test_passwords_are_masked(url, shown):
    assert mask_url(url) == shown
    assert mask_url(f"could not connect to {url}: refused") == f"could not connect to {shown}: refused"


def _pragmas(engine):
    with engine.connect() as c:
        return (c.execute(text("PRAGMA foreign_keys")).scalar(), str(c.execute(text("PRAGMA journal_mode")).scalar()).lower(),
                c.execute(text("PRAGMA busy_timeout")).scalar())


def test_every_component_gets_the_same_pragmas(tmp_path):
    from breakfix.annotate.web.db import make_engine as web_engine
    from breakfix.backdoor._db import ScanDB
    from breakfix.store import Store

    url = f"sqlite:///{tmp_path / 'one.db'}"
    store, scans, web = Store(url), ScanDB(url), web_engine(url)
    try:
        seen = {_pragmas(store.engine), _pragmas(scans.engine), _pragmas(web)}
    finally:
        store.close()
        scans.close()
        web.dispose()
    assert seen == {(1, "wal", 30000)}


def test_read_only_open_never_creates_a_file(tmp_path):
    missing = tmp_path / "typo.db"
    with pytest.raises(DatabaseError, match="no file"):
        make_engine(f"sqlite:///{missing}", must_exist=True)
    assert not missing.exists()


def test_missing_driver_is_one_line_naming_the_extra():
    with pytest.raises(DatabaseError) as err:
        make_engine("postgresql+nosuchdriver://u:topsecret@localhost/db")
    msg = str(err.value)
    assert "\n" not in msg and "topsecret" not in msg and "u:***@" in msg


def test_malformed_url_is_one_line():
    with pytest.raises(DatabaseError, match="not a SQLAlchemy URL"):
        make_engine("not a url at all")

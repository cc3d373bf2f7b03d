"""store.open_store / store_url: which store, and a store that cannot be opened is one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from breakfix.core.errors import BreakfixError
from breakfix.store import Store, open_store, store_url


def test_the_url_is_the_value_then_the_environment_then_the_default(monkeypatch) -> None:
    monkeypatch.delenv("BREAKFIX_STORE", raising=False)
    assert store_url() == "sqlite:///breakfix.db"
    monkeypatch.setenv("BREAKFIX_STORE", "sqlite:////tmp/team.db")
    assert store_url() == "sqlite:////tmp/team.db"
    assert store_url("sqlite:///mine.db") == "sqlite:///mine.db"


def test_reading_never_creates_a_database_and_creating_does(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with pytest.raises(BreakfixError, match="runs.db"):
        open_store(url)
    assert not (tmp_path / "runs.db").exists()
    with open_store(url, create=True) as st:
        assert isinstance(st, Store) and st.list_runs() == []
    with open_store(url) as st:  # now it exists: reading works
        assert st.list_runs() == []


def test_a_url_that_cannot_be_opened_is_one_line() -> None:
    with pytest.raises(BreakfixError) as err:  # StoreOpenError, or the database layer's own error
        open_store("nosuchdialect://x", create=True)
    assert "nosuchdialect://x" in str(err.value) and "\n" not in str(err.value)

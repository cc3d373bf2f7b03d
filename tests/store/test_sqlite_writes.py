"""SQLite attempts are inserted through the driver (``store._store._SqliteRows``), not SQLAlchemy's
executemany: the same batches give byte-for-byte the same rows as the general path (which stays the
only path on PostgreSQL, tested in tests/db/test_backends.py), and everything unusual — an id
already stored, an attempt without its item's category, a row the database refuses — still goes
through the general path."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import pytest

from breakfix.core.attempts import Attempt, Turn
from breakfix.core.items import Item
from breakfix.core.messages import Message, Response, TokenLogprob
from breakfix.core.scores import Score
from breakfix.store import Store, StoreWriteError
from breakfix.store._store import PreparedAttempts


def _attempts(run_id: str, n: int) -> list[Attempt]:
    out = []
    for i in range(n):
        resp = (Response(error=f"HTTP 500 ✗ {i}", latency_s=0.5, retries=2) if i % 7 == 3 else
                Response(text=["BEGIN HARM", "I'm sorry 😅", "lone \ud800 surrogate", ""][i % 4],
                         latency_s=0.01 * i, prompt_tokens=i or None, completion_tokens=3,
                         finish_reason="stop", raw={"id": f"r{i}", "model": "m"},
                         logprobs=[TokenLogprob(token="a", logprob=-0.5)] if i % 5 == 0 else None,
                         notes=["a secret was redacted"] if i % 6 == 1 else []))
        scores = [Score(scorer="substring", scorer_version="1", label="success" if i % 3 == 0 else "refusal",
                        value=1.0 if i % 3 == 0 else None, rationale="quoted \udfff" if i % 8 == 2 else "",
                        metadata={"k": i})] * (i % 3)
        out.append(Attempt(
            id=f"{run_id}-{i:04d}-{'zyx'[i % 3]}", run_id=run_id, item_id=f"i{i % 5}", attack="direct",
            converters=["base64", "rot13"][: i % 3], target="t", response=resp, scores=scores,
            conversation=[Message(role="user", content=f"prompt {i} ünïcode")],
            turns=[Turn(index=0, prompt="p", response="r", metadata={"when": datetime(2026, 1, 2, tzinfo=timezone.utc)})]
            if i % 4 == 1 else [],
            target_calls=1 + i % 2, created_at=datetime(2026, 12, 1, 7, i % 60, 5, 123456, tzinfo=timezone.utc),
            metadata={"category": f"c{i % 2}", "language": "en", "kind": "harmful", "repeat": 0,
                      "objective": "o", "set": {"x"} if i == 5 else None}))
    return out


def _dump(path) -> tuple[list[tuple], list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(attempts)") if r[1] != "seq"]
        attempts = conn.execute(f"SELECT {', '.join(cols)} FROM attempts ORDER BY seq").fetchall()
        scols = [r[1] for r in conn.execute("PRAGMA table_info(scores)") if r[1] != "id"]
        scores = conn.execute(f"SELECT {', '.join(scols)} FROM scores ORDER BY id").fetchall()
    finally:
        conn.close()
    return attempts, scores


def _store(path, *, general: bool = False) -> Store:
    st = Store(f"sqlite:///{path}")
    if general:
        st._sqlite_rows = None  # the general (SQLAlchemy) path, as on PostgreSQL
    st.create_run("r", {}, run_id="run")
    st.add_items("run", [Item(id=f"i{k}", prompt="p", category=f"c{k % 2}") for k in range(5)])
    return st


@pytest.mark.parametrize("sizes", [[1], [37], [64, 1, 5], [100, 33]])
def test_driver_rows_are_the_general_paths_rows(tmp_path, sizes):
    batch = _attempts("run", sum(sizes))
    with _store(tmp_path / "fast.db") as fast, _store(tmp_path / "general.db", general=True) as general:
        assert fast._sqlite_rows is not None
        k = 0
        for size in sizes:
            part = batch[k:k + size]
            k += size
            prepared = fast.prepare_attempts(part)
            assert isinstance(prepared, PreparedAttempts) and prepared.rows is not None
            assert fast.write_attempts(prepared) == size
            assert general.write_attempts(part) == size
        assert fast.count_attempts("run") == len(batch)
        if len(batch) > 2:
            got = fast.get_attempt(batch[2].id)
            assert got is not None and "\ufffd" in got.response.text and got.metadata["notes"]
    fast_rows, general_rows = _dump(tmp_path / "fast.db"), _dump(tmp_path / "general.db")
    assert fast_rows[0] == general_rows[0]
    assert fast_rows[1] == general_rows[1]
    assert len(fast_rows[1]) == sum(i % 3 for i in range(len(batch)))


def test_a_stored_id_in_the_batch_goes_through_the_general_path(tmp_path):
    batch = _attempts("run", 20)
    with _store(tmp_path / "s.db") as st:
        assert st.write_attempts(batch[:5]) == 5
        assert st.write_attempts(batch) == 15  # 5 already stored: skipped, the rest written
        assert st.write_attempts(st.prepare_attempts(batch[3:7])) == 0
        assert st.count_attempts("run") == 20
    rows, _ = _dump(tmp_path / "s.db")
    assert len({r[0] for r in rows}) == 20


def test_an_attempt_without_category_takes_its_items(tmp_path):
    a = _attempts("run", 3)
    a[1].metadata = {}
    with _store(tmp_path / "s.db") as st:
        assert st.prepare_attempts(a).rows is None
        assert st.write_attempts(a) == 3
        assert {r["category"] for r in st.rates("run", by=["category"])} == {"c0", "c1"}


def test_a_refused_row_is_named_and_the_rest_stored(tmp_path):
    batch = _attempts("run", 6)
    batch[2] = batch[2].model_copy(update={"target_calls": 2**70})  # no SQLite integer holds it
    with _store(tmp_path / "s.db") as st:
        with pytest.raises(StoreWriteError, match=batch[2].id):
            st.write_attempts(batch)
        assert st.count_attempts("run") == 5


def test_the_driver_path_is_taken_on_sqlite(tmp_path, monkeypatch):
    with _store(tmp_path / "s.db") as st:
        def no(*a, **kw):
            raise AssertionError("general path used")

        monkeypatch.setattr(st, "_insert_attempts", no)
        assert st.write_attempts(_attempts("run", 50)) == 50


def test_a_locked_database_raises_sqlalchemys_error(tmp_path):
    """A database failure on the driver paths (attempts, lease claims) is SQLAlchemy's
    OperationalError, as on the general path: the CLI turns that into its one-line store error."""
    from sqlalchemy.exc import OperationalError

    from breakfix.run.lease import Leases

    with _store(tmp_path / "s.db") as st:
        assert st.write_attempts(_attempts("run", 2)) == 2
        with st.engine.connect() as conn:  # the pool's one connection: give up at once when locked
            conn.exec_driver_sql("PRAGMA busy_timeout=0")
        other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            with pytest.raises(OperationalError, match="locked"):
                st.write_attempts(st.prepare_attempts(_attempts("run", 5)[2:]))
            with pytest.raises(OperationalError, match="locked"):
                Leases(st.engine, "run").claim(["x1", "x2"])
            other.execute("ROLLBACK")
        finally:
            other.close()
        assert st.write_attempts(_attempts("run", 5)) == 3

"""The one database on SQLite AND on a real PostgreSQL server (issue 17.2/17.5): the store, an engine
run, the scanner's tables, the migrations and the annotation app's tables behave the same on both;
concurrent writers (several processes and the annotation app at once) lose and duplicate nothing;
an unusable PostgreSQL URL is refused in one line with the password masked."""

from __future__ import annotations

import multiprocessing as mp
import random
from collections import Counter

import pytest
from sqlalchemy import func, select

from breakfix.core.attempts import Attempt
from breakfix.core.findings import Finding
from breakfix.core.items import Item
from breakfix.core.messages import Response
from breakfix.core.scores import Score
from breakfix.store import Store
from breakfix.store import _schema as S


def _attempt(run_id: str, i: int, *, ok: bool = True) -> Attempt:
    return Attempt(id=f"{run_id}-a{i}", run_id=run_id, item_id=f"i{i % 10}", attack="direct",
                   converters=["rot13"] if i % 2 else [], target="t",
                   response=Response(text="BEGIN HARM" if i % 3 == 0 else "I'm sorry, I can't.") if ok
                   else Response(error="HTTP 500"),
                   scores=[Score(scorer="substring", scorer_version="1", label="success" if i % 3 == 0 else "refusal",
                                 value=1.0 if i % 3 == 0 else 0.0, rationale="")],
                   metadata={"category": f"c{i % 2}", "language": "en", "text": "ünïcode ✓"})


def test_store_round_trip(db_url):
    with Store(db_url) as st:
        rid = st.create_run("r", {"targets": [{"api_key": "sk-secret-123"}]}, run_id="run1")
        st.add_items(rid, [Item(id=f"i{k}", prompt=f"p{k}", category=f"c{k % 2}") for k in range(10)])
        assert st.write_attempts([_attempt(rid, i) for i in range(30)]) == 30
        # Idempotent: the same ids again (and one new) store only the new one.
        assert st.write_attempts([_attempt(rid, i) for i in range(25, 31)]) == 1
        assert st.done_attempt_ids(rid) == {f"run1-a{i}" for i in range(31)}
        summary = st.summary(rid)
        assert summary["attempts"] == 31
        by_conv = {r["converters"]: r for r in st.rates(rid, by=["converters"])}
        assert set(by_conv) == {"", "rot13"}
        assert sum(r["n"] for r in by_conv.values()) == 31
        got = st.get_attempt("run1-a3")
        assert got is not None and got.metadata["text"] == "ünïcode ✓" and got.scores[0].label == "success"
        assert "sk-secret-123" not in str(st.get_run(rid))
        st.add_finding(Finding(id="f1", run_id=rid, attempt_id="run1-a3", title="t"))
        st.set_finding_status("f1", "confirmed", note="seen")
        assert [f.status for f in st.list_findings(rid)] == ["confirmed"]
        st.write_attempts([_attempt(rid, 100, ok=False)])
        assert st.delete_attempts(rid, status="error") == 1
        assert st.count_attempts(rid) == 31


def test_engine_run_and_resume(db_url, loopback):
    from breakfix.run import config_from_dict, execute

    cfg = config_from_dict({
        "name": "pg", "store": db_url,
        "items": [{"prompt": f"harmful request {i}", "category": "c"} for i in range(12)],
        "targets": [{"name": "srv", "type": "openai", "base_url": loopback.base_url, "model": "m",
                     "max_retries": 2, "backoff_s": 0.01, "timeout_s": 2.0}],
        "attacks": [{"name": "direct"}], "converters": [[], ["rot13"]],
        "scorers": [{"name": "refusal"}], "concurrency": 4})
    import asyncio

    with Store(db_url) as st:
        out = asyncio.run(execute(cfg, st, progress=False, handle_signals=False))
        assert (out.status, out.written) == ("finished", 24)
        again = asyncio.run(execute(cfg, st, progress=False, handle_signals=False))
        assert (again.status, again.written, again.done_before) == ("finished", 0, 24)
        assert st.summary(out.run_id)["attempts"] == 24


def test_scanner_tables(db_url):
    from breakfix.backdoor._db import ScanDB

    db = ScanDB(db_url)
    try:
        db.start("s1", "/m", {"k": 1})
        db.save_stage("s1", "probe", {"x": [1, 2]}, {"s": 0.5})
        db.save_stage("s1", "probe", {"x": [3]}, {"s": 0.1})  # a redone stage replaces the old one
        db.save_stage("s1", "verdict", {}, {})
        db.finish("s1", {"backdoor": True})
        assert db.stage("s1", "probe") == ({"x": [3]}, {"s": 0.1})
        assert sorted(db.finished_stages("s1")) == ["probe", "verdict"]
        assert db.get("s1")["verdict"] == {"backdoor": True} and len(db.list()) == 1
        db.start("s1", "/m", {"k": 1})  # resume
        assert db.get("s1")["status"] == "running"
    finally:
        db.close()


def test_migrations_build_exactly_the_components_schema(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from breakfix.core.db import make_engine
    from breakfix.core.migrate import HEAD, all_metadata, current, upgrade

    assert upgrade(db_url) == (None, HEAD)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), all_metadata())
        assert diffs == []
        assert current(engine) == HEAD
    finally:
        engine.dispose()


def _seed_annotation(db_url: str, n_items: int = 6) -> int:
    from breakfix.annotate.web.db import make_engine, make_sessionmaker
    from breakfix.annotate.web.projects import NewItem, assign, create_project
    from breakfix.annotate.web.rubric import Rubric
    from breakfix.annotate.web.users import add_user

    rubric = Rubric.model_validate({"name": "r", "description": "d", "rationale": "optional", "factors": [
        {"id": "safety", "name": "Safety", "level": "ordinal", "scale": {"min": 1, "max": 5}}]})
    items = [NewItem(external_id=f"e{i}", conversation=[{"role": "user", "content": f"p{i}"}],
                     response=f"r{i} <b>") for i in range(n_items)]
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as db:
        add_user(db, "olga", "owner", "owner-pass-1")
        add_user(db, "ann", "annotator", "ann-pass-123")
        add_user(db, "ben", "annotator", "ben-pass-123")
        project = create_project(db, "p", rubric, items, source="test")
        assign(db, project, ["ann", "ben"], per_item=2)
        pid = project.id
    engine.dispose()
    return pid


def _label_everything(db_url: str, pid: int, user: str) -> int:
    from breakfix.annotate.web.db import User, make_engine, make_sessionmaker
    from breakfix.annotate.web.labelling import queue, save_label

    engine = make_engine(db_url)
    n = 0
    with make_sessionmaker(engine)() as db:
        u = db.scalars(select(User).where(User.name == user)).one()
        for rep in range(2):  # a second pass edits every label (revisions, not new rows)
            for a in queue(db, pid, u):
                save_label(db, a, {"safety": 1 + (a.item_id + rep) % 5}, "why")
                n += 1
    engine.dispose()
    return n


def test_annotation_tables(db_url, monkeypatch):
    from breakfix.annotate.web.db import Label, User, make_engine, make_sessionmaker

    monkeypatch.setenv("BREAKFIX_BCRYPT_ROUNDS", "4")
    pid = _seed_annotation(db_url)
    assert _label_everything(db_url, pid, "ann") == 12
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as db:
        labels = db.scalars(select(Label)).all()
        assert len(labels) == 6 and {lb.revisions for lb in labels} == {2}
        assert db.scalars(select(User.name).order_by(User.name)).all() == ["ann", "ben", "olga"]
        assert db.scalars(select(func.count()).select_from(Label).where(Label.user_id == 999)).one() == 0
    engine.dispose()


# -- many writers at once --------------------------------------------------------------------------
N_ATTEMPTS = 120


def _writer(db_url: str, seed: int) -> int:
    """One worker process: writes EVERY attempt id, in its own order and batch sizes (the worst case:
    all writers race on every row)."""
    ids = list(range(N_ATTEMPTS))
    random.Random(seed).shuffle(ids)
    n = 0
    with Store(db_url) as st:
        k = 0
        while k < len(ids):
            size = random.Random(seed + k).randint(1, 17)
            n += st.write_attempts([_attempt("multi", i) for i in ids[k:k + size]])
            k += size
    return n


def test_concurrent_writers_lose_and_duplicate_nothing(db_url, monkeypatch):
    monkeypatch.setenv("BREAKFIX_BCRYPT_ROUNDS", "4")
    with Store(db_url) as st:
        st.create_run("multi", {}, run_id="multi")
    pid = _seed_annotation(db_url, n_items=10)
    ctx = mp.get_context("spawn")
    with ctx.Pool(5) as pool:
        writers = [pool.apply_async(_writer, (db_url, s)) for s in range(4)]
        annot = pool.apply_async(_label_everything, (db_url, pid, "ben"))
        written = [w.get(timeout=240) for w in writers]
        assert annot.get(timeout=240) == 20
    # Every id stored exactly once, by exactly one writer; every score exactly once.
    assert sum(written) == N_ATTEMPTS
    with Store(db_url) as st, st.engine.connect() as conn:
        ids = Counter(conn.execute(select(S.attempts.c.id).where(S.attempts.c.run_id == "multi")).scalars())
        scores = Counter(conn.execute(select(S.scores.c.attempt_id).where(S.scores.c.run_id == "multi")).scalars())
    assert len(ids) == N_ATTEMPTS and set(ids.values()) == {1}
    assert len(scores) == N_ATTEMPTS and set(scores.values()) == {1}
    from breakfix.annotate.web.db import Label, make_engine, make_sessionmaker

    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as db:
        assert db.scalars(select(func.count()).select_from(Label)).one() == 10
    engine.dispose()


# -- unusable PostgreSQL URLs: one line, password masked -------------------------------------------
def _open_error(url: str) -> str:
    from breakfix.core.errors import BreakfixError
    from breakfix.store import open_store

    with pytest.raises(BreakfixError) as err:
        open_store(url, create=True)
    return str(err.value)


def test_wrong_password_is_one_line_without_the_password(pg_server):
    msg = _open_error(pg_server.url(password="hunter2-wrong"))
    assert "\n" not in msg and "hunter2-wrong" not in msg and "***" in msg
    assert "password" in msg.lower()


def test_unreachable_server_is_one_line(pg_server):
    from breakfix.testing.postgres import _free_port

    msg = _open_error(pg_server.url(password="s3cret-pw", port=_free_port()))
    assert "\n" not in msg and "s3cret-pw" not in msg
    assert "is the server running" in msg


def test_missing_driver_names_the_extra():
    msg = _open_error("postgresql+pg8000://u:pw-visible-no@127.0.0.1:1/db")
    assert "\n" not in msg and "pw-visible-no" not in msg
    assert "pip install" in msg


def test_db_commands_refuse_a_wrong_password_in_one_masked_line(pg_server):
    import subprocess
    import sys

    url = pg_server.url(password="wrong-pw-42")
    for cmd in ("current", "upgrade"):
        res = subprocess.run([sys.executable, "-m", "breakfix.cli.main", "db", cmd, "--store", url],
                             capture_output=True, text=True, timeout=120)
        err = res.stderr.strip()
        assert res.returncode != 0 and len(err.splitlines()) == 1, err
        assert "wrong-pw-42" not in err and "bug" not in err and "check the user and password" in err

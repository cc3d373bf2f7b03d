"""Work leasing (issue 17.3): attempts are claimed before they are sent, so several `breakfix run`
processes on one run split the work; each attempt is requested once, and a dead worker's attempts
are taken over. On SQLite and on a real PostgreSQL server (fixtures in tests/conftest.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import yaml
from sqlalchemy import create_engine, func, select

from breakfix.core.attempts import Attempt
from breakfix.run.lease import Leases
from breakfix.store import Store
from breakfix.store import _schema as S
from breakfix.testing.loopback import LoopbackServer

BREAKFIX = [sys.executable, "-m", "breakfix.cli.main"]


def test_claims_split_and_expired_leases_are_taken_over(db_url):
    with Store(db_url) as st:
        st.create_run("r", {}, run_id="r1")
        ids = [f"a{i:02d}" for i in range(20)]
        a = Leases(st.engine, "r1", ttl_s=60, owner="hostA:1:a")
        b = Leases(st.engine, "r1", ttl_s=60, owner="hostB:1:b")
        assert a.claim(ids[:10]).claimed == set(ids[:10])
        got = b.claim(ids)
        assert got.claimed == set(ids[10:])  # A's live leases are not B's
        assert a.claim(ids[:10]).claimed == set(ids[:10])  # re-claiming our own is fine
        # A stores a0 and a1: nobody can claim them again, and claims report them as stored.
        st.write_attempts([Attempt(id=i, run_id="r1", item_id="x", attack="direct", target="t") for i in ids[:2]])
        a.release(ids[:2])
        c = b.claim(ids[:5])
        assert c.claimed == set() and c.stored == set(ids[:2])
        # A's remaining leases expire (A died on another host): B takes them over.
        short = Leases(st.engine, "r1", ttl_s=0.3, owner="hostA:1:a")
        short.claim(ids[2:10])
        time.sleep(0.5)
        assert b.claim(ids[2:10]).claimed == set(ids[2:10])
        assert b.renew() == 18 and a.release() == 0
        assert b.release() == 18


def test_the_heartbeat_drops_leases_of_stored_attempts(db_url):
    """The writer leaves a stored attempt's lease; the heartbeat drops it, so the lease table stays
    the size of the work in flight instead of growing with the run."""
    with Store(db_url) as st:
        st.create_run("r", {}, run_id="r1")
        a = Leases(st.engine, "r1", ttl_s=60, owner="hostA:1:a")
        other = Leases(st.engine, "r1", ttl_s=60, owner="hostB:1:b")
        ids = [f"s{i:02d}" for i in range(12)]
        assert a.claim(ids[:8]).claimed == set(ids[:8])
        assert other.claim(ids[8:]).claimed == set(ids[8:])
        st.write_attempts([Attempt(id=i, run_id="r1", item_id="x", attack="direct", target="t")
                           for i in ids[:5] + ids[8:10]])
        assert a.renew() == 3  # s05-s07: still in flight
        with st.engine.connect() as conn:
            left = dict(conn.execute(select(S.leases.c.attempt_id, S.leases.c.owner)).all())
        # Ours on stored attempts went; another worker's leases are its own business.
        assert left == {**{i: "hostA:1:a" for i in ids[5:8]}, **{i: "hostB:1:b" for i in ids[8:]}}
        assert other.renew() == 2 and a.release() == 3


def _config(base_url: str, db_url: str, n_items: int, concurrency: int = 4) -> dict:
    return {
        "name": "lease", "store": db_url,
        "items": [{"prompt": f"harmful request {i}", "category": "c"} for i in range(n_items)],
        "targets": [{"name": "srv", "type": "openai", "base_url": base_url, "model": "m",
                     "max_retries": 0, "timeout_s": 90.0}],
        "attacks": [{"name": "direct"}], "converters": [[], ["rot13"]],
        "scorers": [{"name": "refusal"}], "concurrency": concurrency,
    }


class Gate:
    """The server's model: records which prompt each request carried, and holds every answer until
    the test opens the gate (so two workers are both mid-run before either finishes)."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.seen: Counter = Counter()
        self.lock = threading.Lock()

    def __call__(self, messages):
        with self.lock:
            self.seen[messages[-1]["content"]] += 1
        self.open.wait(90)
        return "I'm sorry, I can't help with that."


def _start(cfg_path, env_extra=None):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    return subprocess.Popen([*BREAKFIX, "run", str(cfg_path), "--no-progress"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _owners(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count(func.distinct(S.leases.c.owner)))).scalar() or 0


def _stored(engine) -> Counter:
    with engine.connect() as conn:
        return Counter(conn.execute(select(S.attempts.c.id)).scalars())


def _wait(cond, procs, timeout=120.0):
    end = time.monotonic() + timeout
    while not cond():
        for p in procs:
            assert p.poll() is None, p.communicate()
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.05)


def test_two_processes_split_a_run_and_a_killed_one_is_taken_over(db_url, tmp_path):
    n_items, concurrency = 40, 4
    planned = 2 * n_items
    gate = Gate()
    with LoopbackServer(latency=0.02, reply=gate) as srv:
        Store(db_url).close()  # schema first, so the test can watch the leases table
        watch = create_engine(db_url)
        cfg_path = tmp_path / "run.yaml"
        cfg_path.write_text(yaml.safe_dump(_config(srv.base_url, db_url, n_items, concurrency)), encoding="utf-8")
        env = {"BREAKFIX_LEASE_TTL": "4"}
        a, b = _start(cfg_path, env), _start(cfg_path, env)
        try:
            # Both workers hold leases (each claimed its own batch) before any answer comes back.
            _wait(lambda: _owners(watch) >= 2, [a, b])
            gate.open.set()
            _wait(lambda: sum(_stored(watch).values()) >= 20, [a, b])
            a.send_signal(signal.SIGKILL)
            a.wait(30)  # reaped: its pid is gone, so B takes its leases over without waiting for expiry
            out, err = b.communicate(timeout=180)
            assert b.returncode == 0, err
        finally:
            for p in (a, b):
                if p.poll() is None:
                    p.kill()
                    p.wait(30)
        stored = _stored(watch)
        assert len(stored) == planned and set(stored.values()) == {1}
        # Each attempt was requested once, except those the killed worker had in flight.
        assert len(gate.seen) == planned
        twice = sum(c - 1 for c in gate.seen.values())
        assert twice <= 3 * concurrency, gate.seen
        # A rerun finds everything stored: no request, no new attempt.
        before = sum(gate.seen.values())
        again = subprocess.run([*BREAKFIX, "run", str(cfg_path), "--no-progress"], capture_output=True, text=True,
                               timeout=180, env={**os.environ, **env})
        assert again.returncode == 0, again.stderr
        assert sum(gate.seen.values()) == before
        assert _stored(watch) == stored
        with watch.connect() as conn:
            assert conn.execute(select(func.count()).select_from(S.leases)).scalar() == 0
        watch.dispose()


def test_two_processes_request_every_attempt_exactly_once(db_url, tmp_path):
    n_items, concurrency = 30, 3
    gate = Gate()
    with LoopbackServer(latency=0.01, reply=gate) as srv:
        Store(db_url).close()
        watch = create_engine(db_url)
        cfg_path = tmp_path / "run.yaml"
        cfg_path.write_text(yaml.safe_dump(_config(srv.base_url, db_url, n_items, concurrency)), encoding="utf-8")
        a, b = _start(cfg_path), _start(cfg_path)
        try:
            _wait(lambda: _owners(watch) >= 2, [a, b])
            gate.open.set()
            for p in (a, b):
                _, err = p.communicate(timeout=180)
                assert p.returncode == 0, err
        finally:
            for p in (a, b):
                if p.poll() is None:
                    p.kill()
                    p.wait(30)
        assert len(gate.seen) == 2 * n_items and set(gate.seen.values()) == {1}
        stored = _stored(watch)
        assert len(stored) == 2 * n_items and set(stored.values()) == {1}
        watch.dispose()


def test_sqlite_claims_through_the_driver_behave_as_the_general_path(tmp_path):
    """On SQLite a claim runs through the DB-API (``lease._SqliteClaims``); the same sequence of
    claims gives the same answers and the same lease rows as the general (SQLAlchemy) path."""
    import re
    import sqlite3

    def scenario(path, general):
        with Store(f"sqlite:///{path}") as st:
            st.create_run("r", {}, run_id="r1")
            ids = [f"a{i:02d}" for i in range(20)]
            a = Leases(st.engine, "r1", ttl_s=60, owner="hostA:1:a")
            b = Leases(st.engine, "r1", ttl_s=60, owner="hostB:1:b")
            short = Leases(st.engine, "r1", ttl_s=0.3, owner="hostA:1:a")
            for lz in (a, b, short):
                assert lz._sqlite is not None and lz._sqlite.usable
                if general:
                    lz._sqlite = None
            out = [a.claim(ids[:10]), b.claim(ids), a.claim(ids[:10])]
            st.write_attempts([Attempt(id=i, run_id="r1", item_id="x", attack="direct", target="t") for i in ids[:2]])
            out.append(b.claim(ids[:5]))
            short.claim(ids[10:12] + ids[2:6])  # B holds 10, 11: not A's
            time.sleep(0.5)
            out += [b.claim(ids[2:10]), b.claim([])]
        conn = sqlite3.connect(path)
        try:
            rows = conn.execute("SELECT attempt_id, run_id, owner, expires_at FROM leases ORDER BY attempt_id").fetchall()
        finally:
            conn.close()
        return [(sorted(c.claimed), sorted(c.stored)) for c in out], rows

    driver, driver_rows = scenario(tmp_path / "driver.db", general=False)
    general, general_rows = scenario(tmp_path / "general.db", general=True)
    assert driver == general
    assert driver[1][0] == [f"a{i:02d}" for i in range(10, 20)] and driver[3] == ([], ["a00", "a01"])
    assert [r[:3] for r in driver_rows] == [r[:3] for r in general_rows] and len(driver_rows) == 20
    stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")  # SQLAlchemy's SQLite DATETIME text
    assert all(stamp.match(r[3]) for r in driver_rows + general_rows)

"""Runs against a real OpenAI-compatible server on 127.0.0.1: retries, bounded concurrency, and
crash/interrupt recovery of the `breakfix run` command in a subprocess (SIGKILL and SIGINT)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from breakfix.run import config_from_dict, execute
from breakfix.store import Store
from breakfix.store import _schema as S
from breakfix.testing.loopback import LoopbackServer

BREAKFIX = [sys.executable, "-m", "breakfix.cli.main"]


def harm_if_rot13(messages):
    # The server "model" complies with ROT13-encoded requests only (the planted weakness).
    text = messages[-1]["content"]
    return "BEGIN HARM: here you go" if text.startswith("unezshy") else "I'm sorry, I can't help with that."


def config(base_url: str, n_items: int, db: Path, **kw) -> dict:
    d = {
        "name": "loopback",
        "store": f"sqlite:///{db}",
        "items": [{"prompt": f"harmful request {i}", "category": "c"} for i in range(n_items)],
        "targets": [{"name": "srv", "type": "openai", "base_url": base_url, "model": "m",
                     "max_retries": 3, "backoff_s": 0.01, "timeout_s": 1.0}],
        "attacks": [{"name": "direct"}],
        "converters": [[], ["rot13"]],
        "scorers": [{"name": "substring", "substrings": ["BEGIN HARM"]}, {"name": "refusal"}],
        "concurrency": 4,
    }
    d.update(kw)
    return d


def ids_in(db: Path) -> Counter:
    st = Store(f"sqlite:///{db}")
    try:
        with st.engine.connect() as conn:
            return Counter(conn.execute(select(S.attempts.c.id)).scalars())
    finally:
        st.close()


async def test_run_with_transient_failures_stores_every_attempt_and_counts_retries(tmp_path):
    with LoopbackServer(latency=0.005) as srv:
        srv.set_reply(harm_if_rot13)
        srv.script(["429:0.05", "500", "drop", "503", "hang"])
        db = tmp_path / "r.db"
        cfg = config_from_dict(config(srv.base_url, 10, db))
        with Store(cfg.store.url) as store:
            out = await execute(cfg, store, progress=False)
            summary = store.summary(out.run_id)
            rates = {r["converters"]: r for r in store.rates(out.run_id, by=["converters"])}
        stats = srv.stats()
    assert out.status == "finished" and out.written == 20
    assert summary["attempts"] == 20 and summary["errors"] == 0
    # Five scripted failures, each retried once: the server saw 25 requests, the store counts 5 retries.
    assert summary["retries"] == 5
    assert stats["requests"] == 25
    assert rates["rot13"]["success_rate"] == 1.0 and rates[""]["refusal_rate"] == 1.0
    assert stats["max_inflight"] <= 4


async def test_exhausted_retries_are_recorded_on_the_attempt(tmp_path):
    with LoopbackServer(latency=0.0) as srv:
        srv.script(["500", "500", "500"])
        db = tmp_path / "r.db"
        d = config(srv.base_url, 3, db, converters=[[]], concurrency=1)
        d["targets"][0]["max_retries"] = 2
        cfg = config_from_dict(d)
        with Store(cfg.store.url) as store:
            out = await execute(cfg, store, progress=False)
            failed = list(store.iter_attempts(out.run_id, status="error"))
    assert out.status == "finished" and out.written == 3 and out.errors == 1
    assert len(failed) == 1 and "500" in failed[0].response.error and failed[0].response.retries == 2
    assert {s.label for s in failed[0].scores} == {"error"}  # no scorer judges a failed request


async def test_concurrency_is_bounded_and_used(tmp_path):
    with LoopbackServer(latency=0.03) as srv:
        db = tmp_path / "r.db"
        cfg = config_from_dict(config(srv.base_url, 40, db, converters=[[]], concurrency=6))
        with Store(cfg.store.url) as store:
            out = await execute(cfg, store, progress=False)
        stats = srv.stats()
    assert out.written == 40
    assert stats["max_inflight"] == 6


def _start(cfg_path: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([*BREAKFIX, "run", str(cfg_path), "--no-progress"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_attempts(db: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            try:
                have = sum(ids_in(db).values())
            except Exception:  # noqa: BLE001 - the schema may not exist yet
                have = 0
            if have >= n:
                return have
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} attempts after {timeout}s")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_or_interrupted_run_resumes_with_exactly_one_attempt_per_id(tmp_path, sig):
    with LoopbackServer(latency=0.03) as srv:
        db = tmp_path / "r.db"
        cfg_path = tmp_path / "run.yaml"
        cfg_path.write_text(yaml.safe_dump(config(srv.base_url, 50, db, concurrency=2)), encoding="utf-8")
        planned = 50 * 2
        proc = _start(cfg_path)
        _wait_for_attempts(db, 15, proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        before = ids_in(db)
        assert 15 <= sum(before.values()) < planned
        with Store(f"sqlite:///{db}") as st:
            run = st.list_runs()[0]
        if sig == signal.SIGINT:
            assert proc.returncode == 130
            lines = [ln for ln in err.strip().splitlines() if ln.strip()]
            assert len(lines) == 1 and lines[0].startswith("interrupted:") and "resume" in lines[0], err
            assert "Traceback" not in err
            assert run.status == "interrupted"
        else:
            assert proc.returncode == -signal.SIGKILL
            assert run.status == "running"  # it never got to say otherwise
        again = subprocess.run([*BREAKFIX, "run", str(cfg_path), "--no-progress"], capture_output=True, text=True,
                               timeout=120)
        assert again.returncode == 0, again.stderr
        after = ids_in(db)
        assert set(before) <= set(after)
        assert len(after) == planned and set(after.values()) == {1}
        with Store(f"sqlite:///{db}") as st:
            run = st.list_runs()[0]
            assert run.status == "finished" and run.planned == planned and run.attempts == planned
        # The resumed run did only what was missing: the server saw about planned requests in total
        # (the few in flight at the kill are asked twice, nothing else).
        assert srv.stats()["requests"] <= planned + 4

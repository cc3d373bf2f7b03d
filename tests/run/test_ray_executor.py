"""The Ray executor (issue 17.4/17.5) on a real local Ray cluster (``ray.init(num_cpus=2)``, started
once for the module) against the real loopback server: every planned attempt stored once (SQLite
and PostgreSQL); a worker killed mid-run, and the rerun doing only what is missing; a killed
worker replaced within the run; one rate budget for the whole cluster, counted at the server; local
models loaded once per worker and batched. Bad input (no cluster at --address, Ray not installed)
is one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import yaml
from sqlalchemy import func, select

from breakfix.run import config_from_dict
from breakfix.run.lease import claim_batch
from breakfix.run.ray_executor import Shard, _worker_name, make_shards, run_on_ray
from breakfix.run.shared_limit import NAMESPACE, RateBudget
from breakfix.store import Store
from breakfix.store import _schema as S

pytestmark = pytest.mark.slow  # starts a Ray cluster (≈ 15-20 s on a loaded 2-core machine)

BREAKFIX = [sys.executable, "-m", "breakfix.cli.main"]
BURST = 6  # requests a loaded machine's scheduler can bunch up at the server (see the rate test)


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, namespace=NAMESPACE, log_to_driver=False,
             logging_level="ERROR")
    try:
        yield ray
    finally:
        ray.shutdown()


def _cfg(base_url: str, url: str, n_items: int, *, name: str, concurrency: int = 4, rpm: float | None = None,
         converters: list | None = None):
    target = {"name": "srv", "type": "openai", "base_url": base_url, "model": "m", "max_retries": 0,
              "timeout_s": 60.0, **({"rpm": rpm} if rpm else {})}
    return config_from_dict({
        "name": name, "store": url,
        "items": [{"prompt": f"{name} request {i}", "category": "c"} for i in range(n_items)],
        "targets": [target], "attacks": [{"name": "direct"}], "converters": converters or [[]],
        "scorers": [{"name": "refusal"}], "concurrency": concurrency})


def _per_id(url: str, run_id: str) -> tuple[int, int]:
    """(stored attempts, distinct ids) of a run, counted in the database itself."""
    with Store(url) as st, st.engine.connect() as conn:
        n, distinct = conn.execute(select(func.count(), func.count(func.distinct(S.attempts.c.id)))
                                   .where(S.attempts.c.run_id == run_id)).one()
    return int(n), int(distinct)


def test_shards_cover_the_plan_and_the_budget_spaces_slots():
    shards = make_shards(["a", "b"], 10, workers=2)
    assert shards[0] == Shard("a", 0, 3) and len(shards) == 8
    assert sorted((s.target, i) for s in shards for i in range(s.lo, s.hi)) == [(t, i) for t in "ab" for i in range(10)]
    assert make_shards(["a"], 0, workers=4) == []
    b = RateBudget()
    slots = [b.reserve("k", 0.5) for _ in range(4)]
    # No burst: even the first four, asked for at once, are 0.5 s apart.
    assert [round(y - x, 6) for x, y in zip(slots, slots[1:])] == [0.5, 0.5, 0.5]
    b.pause("k", 10)
    assert b.reserve("k", 0.5) >= time.time() + 9 and b.granted("k") == 5 and b.granted("other") == 0


def test_a_killed_worker_leaves_only_what_is_missing_for_the_rerun(ray_cluster, loopback, tmp_path):
    loopback.reset()
    loopback.set_latency(0.05)
    asked: Counter = Counter()  # requests per prompt, counted by the server
    lock = threading.Lock()
    # The server stops answering at its 40th request until the victim is dead, so the run cannot
    # finish before the kill however slowly this machine reaches it (a race on a loaded CI box).
    gate = threading.Event()

    def reply(messages):
        with lock:
            asked[messages[-1]["content"]] += 1
            n = sum(asked.values())
        if n >= 40:
            gate.wait(120)
        return "I'm sorry, I can't help with that."

    loopback.set_reply(reply)
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    cfg = _cfg(loopback.base_url, url, 100, name="ray-kill", concurrency=4)
    outcome: dict = {}
    Store(url).close()  # the database exists before two threads open it

    def first_run() -> None:
        with Store(url) as st:
            # No replacement worker: the dead worker's shard is left for the rerun.
            outcome["out"] = run_on_ray(cfg, st, workers=2, progress=False, max_failures=0)

    t = threading.Thread(target=first_run)
    t.start()
    run_id = cfg.run_id(cfg.load_items())
    with Store(url) as st:
        deadline = time.monotonic() + 120
        while st.count_attempts(run_id) < 20 and time.monotonic() < deadline and t.is_alive():
            time.sleep(0.05)
        if st.count_attempts(run_id) < 20:
            gate.set()
            raise AssertionError("the run never got going")
    victim = ray_cluster.get_actor(_worker_name(run_id, 0, 0), namespace=NAMESPACE)
    pid = ray_cluster.get(victim.pid.remote())
    os.kill(pid, signal.SIGKILL)  # mid-shard, requests in flight
    gate.set()
    t.join(180)
    first = outcome["out"]
    assert first.status == "interrupted" and first.worker_failures == 1
    assert 20 <= first.written < 100
    prompt_of = {it.id: it.prompt for it in cfg.load_items()}
    with Store(url) as st, st.engine.connect() as conn:
        stored_first = {prompt_of[i] for i in conn.execute(
            select(S.attempts.c.item_id).where(S.attempts.c.run_id == run_id)).scalars()}
        # What the dead worker had claimed and not stored: queued, in flight, or answered but not
        # yet committed. Only these may be requested twice.
        held = conn.execute(select(func.count()).select_from(S.leases).where(
            S.leases.c.owner.like(f"%:{pid}:%"), S.leases.c.attempt_id.not_in(select(S.attempts.c.id)))).scalar()
    with Store(url) as st:
        second = run_on_ray(cfg, st, workers=2, progress=False)
    assert second.status == "finished" and second.written == 100 - len(stored_first)
    assert _per_id(url, run_id) == (100, 100)  # exactly one stored attempt per id
    twice = {p for p, k in asked.items() if k > 1}
    assert not twice & stored_first  # the rerun asked for nothing that was stored
    assert set(asked) == set(prompt_of.values()) and max(asked.values()) <= 2
    # The dead worker held at most two claim batches (4 x concurrency each: the next batch is claimed
    # while the last one is still queued); only the ones it had sent can have been asked twice.
    assert len(twice) <= held <= 2 * claim_batch(4)


def test_on_postgresql_a_dead_workers_shard_is_redone_by_a_fresh_worker(ray_cluster, loopback, pg_server):
    # A plan through Ray on PostgreSQL (on SQLite: the tests above and below). Worker 1 is killed
    # mid-run; the run replaces it and still stores every attempt once.
    loopback.reset()
    loopback.set_latency(0.05)
    url = pg_server.create_database()
    cfg = _cfg(loopback.base_url, url, 30, name="ray-redo", concurrency=4, converters=[[], ["rot13"]])
    run_id = cfg.run_id(cfg.load_items())
    Store(url).close()
    outcome: dict = {}

    def run() -> None:
        with Store(url) as st:
            outcome["out"] = run_on_ray(cfg, st, workers=2, progress=False)  # replacements allowed

    t = threading.Thread(target=run)
    t.start()
    with Store(url) as st:
        deadline = time.monotonic() + 120
        while st.count_attempts(run_id) < 10 and time.monotonic() < deadline and t.is_alive():
            time.sleep(0.05)
    ray_cluster.kill(ray_cluster.get_actor(_worker_name(run_id, 1, 0), namespace=NAMESPACE))
    t.join(180)
    out = outcome["out"]
    assert out.status == "finished" and out.worker_failures == 1 and out.written == 60 and out.errors == 0
    assert _per_id(url, run_id) == (60, 60)
    sent = loopback.stats()["requests"]
    assert 60 <= sent <= 60 + 2 * claim_batch(4)  # repeats: only the dead worker's unstored claims
    with Store(url) as st:
        again = run_on_ray(cfg, st, workers=2, progress=False)
    assert again.status == "finished" and again.written == 0 and loopback.stats()["requests"] == sent


def test_the_rate_limit_is_one_budget_for_the_whole_cluster(ray_cluster, loopback, tmp_path):
    loopback.reset()
    loopback.set_latency(0.0)
    rpm, n = 600, 50  # 10 requests/s: 5 s of traffic from two workers with 8 requests in flight each
    url = f"sqlite:///{tmp_path / 'rate.db'}"
    cfg = _cfg(loopback.base_url, url, n, name="ray-rate", concurrency=8, rpm=rpm)
    with Store(url) as st:
        out = run_on_ray(cfg, st, workers=2, progress=False)
    assert out.status == "finished" and out.written == n and sorted(out.by_worker) == [0, 1]
    assert _per_id(url, out.run_id) == (n, n)  # every attempt stored once, each requested once
    times = sorted(loopback.stats()["times"])
    assert len(times) == n
    per_s = rpm / 60
    span = times[-1] - times[0]
    # Counted at the server, in sliding windows of 1 s, 2 s and the whole run: at most the budget
    # (rate × window, +1 for a window holding both of its ends) plus BURST. The budget itself never
    # bursts (slots are 1/rate apart, late ones unused, clients opened before the first slot), but
    # requests leave and are stamped when their processes get the CPU: measured on this 2-core
    # machine at load 19, at most 12 in any second (before the warm-up: 14, a fresh worker's first
    # requests held ~0.4 s by building its HTTP client, then sent together).
    # Two workers each with its own limiter would send 2 × rate (50 requests in 2.5 s, not 5 s).
    for window in (1.0, 2.0, span):
        worst = max(sum(1 for u in times[i:] if u - t0 <= window) for i, t0 in enumerate(times))
        assert worst <= per_s * window + 1 + BURST, f"{worst} requests within {window:.1f} s (budget {per_s:g}/s)"
    assert span >= (n - 1 - BURST) / per_s


def test_local_models_load_once_per_worker_and_keep_batching(ray_cluster, zoo_base, zoo_safe, tmp_path):
    url = f"sqlite:///{tmp_path / 'zoo.db'}"
    cfg = config_from_dict({
        "name": "ray-zoo", "store": url,
        "items": [{"prompt": f"zoo request {i}", "category": "c"} for i in range(8)],
        "targets": [{"name": name, "type": "hf", "path": str(path), "max_new_tokens": 6, "batch_size": 8,
                     "batch_wait_ms": 50} for name, path in (("base", zoo_base), ("safe", zoo_safe))],
        "attacks": [{"name": "direct"}], "converters": [[]], "scorers": [{"name": "refusal"}], "concurrency": 8})
    with Store(url) as st:
        # One worker, two shards of four items per model: the worker runs all four shards.
        out = run_on_ray(cfg, st, workers=1, block=4, progress=False)
    assert out.status == "finished" and out.written == 16 and out.errors == 0 and out.shards == 4
    assert _per_id(url, out.run_id) == (16, 16)
    (stats,) = out.worker_stats.values()
    assert stats["models_loaded"] == 2  # each checkpoint loaded once in the worker, for both of its shards
    for name in ("base", "safe"):
        t = stats["targets"][name]
        assert t["builds"] == 1 and t["requests"] == 8
        assert t["max_batch"] > 1 and t["batches"] < 8  # requests of a shard share generate() calls


def test_workers_the_cluster_cannot_place_and_an_in_memory_store_are_one_line(ray_cluster, tmp_path):
    from breakfix.run.ray_executor import RayExecutorError

    url = f"sqlite:///{tmp_path / 'place.db'}"
    cfg = _cfg("http://127.0.0.1:9/v1", url, 2, name="ray-place")
    with Store(url) as st:
        for kw, want in (({"workers": 3}, "the Ray cluster has 2 CPUs"),
                         ({"workers": 1, "gpus_per_worker": 1}, "the Ray cluster has 0 GPUs")):
            with pytest.raises(RayExecutorError, match=want) as err:
                run_on_ray(cfg, st, progress=False, **kw)
            assert "\n" not in str(err.value)
        assert st.list_runs() == []  # refused before anything was written
    with Store("sqlite://") as st, pytest.raises(RayExecutorError, match="not an in-memory database"):
        run_on_ray(cfg, st, progress=False)


@pytest.mark.parametrize("case", ["unreachable", "no-ray"])
def test_bad_ray_input_is_one_line(case, tmp_path):
    cfg = {"name": "bad", "store": f"sqlite:///{tmp_path / 'b.db'}", "items": [{"prompt": "x", "category": "c"}],
           "targets": [{"name": "s", "type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}],
           "attacks": [{"name": "direct"}], "converters": [[]], "scorers": [{"name": "refusal"}]}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    if case == "unreachable":
        cmd = [*BREAKFIX, "run", str(path), "--executor", "ray", "--address", "127.0.0.1:1"]
        want = "ray start --head"
    else:
        # Ray made unimportable, as on an install without the extra.
        code = ("import sys, runpy; sys.modules['ray'] = None; "
                f"sys.argv = ['breakfix', 'run', {str(path)!r}, '--executor', 'ray']; "
                "runpy.run_module('breakfix.cli.main', run_name='__main__')")
        cmd = [sys.executable, "-c", code]
        want = "pip install 'breakfix[ray]'"
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "RAY_ADDRESS": ""})
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2, p.stderr
    assert len(lines) == 1 and lines[0].startswith("error:") and want in lines[0], p.stderr
    assert "Traceback" not in p.stderr

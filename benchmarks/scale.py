"""Scale-out benchmark, all rows measured side by side in one run.

1. Work leasing: one plan run by 1 and by 2 `breakfix run` worker processes sharing one run
   (run/lease.py), against the loopback server.
2. The Ray executor (``--ray``): the same plan on the asyncio engine (this process) and on a local
   Ray cluster with 1 and 2 worker actors — against the loopback server, and against two zoo models
   (local ``hf`` targets, loaded once per actor, batched).

    python benchmarks/scale.py [--attempts 400] [--latency 0.05] [--concurrency 8] [--postgres]
                               [--ray] [--zoo-items 32] [--quick]

Prints, per row: wall time, speed-up over the asyncio/one-worker row, and the overhead per attempt.
For the worker processes: CPU per attempt (their user+system time / attempts), requests the server
saw per attempt (1.00 = nothing sent twice), stored attempts per id. For Ray: start-up (the driver
starting until the first attempt is stored: actors, imports, model loads), the rate after it, and
the wall-clock overhead per attempt against asyncio, ``(wall - wall_asyncio) / attempts``
(negative: faster).
The Ray cluster is started once (``ray.init(num_cpus=2)``) and its start is reported, not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import yaml
from sqlalchemy import create_engine, select

from breakfix.store import Store
from breakfix.store import _schema as S
from breakfix.testing.loopback import LoopbackServer

BREAKFIX = [sys.executable, "-m", "breakfix.cli.main"]


def _config(base_url: str, url: str, n_items: int, concurrency: int, tag: str) -> dict:
    return {"name": f"scale-{tag}", "store": url,
            "items": [{"prompt": f"request {tag} {i}", "category": "c"} for i in range(n_items)],
            "targets": [{"name": "srv", "type": "openai", "base_url": base_url, "model": "m", "timeout_s": 60}],
            "attacks": [{"name": "direct"}], "converters": [[]], "scorers": [{"name": "refusal"}],
            "concurrency": concurrency}


def run_workers(n_workers: int, base_url: str, url: str, attempts: int, concurrency: int, tmp: Path) -> dict:
    tag = f"w{n_workers}-{time.time_ns()}"
    cfg = tmp / f"{tag}.yaml"
    cfg.write_text(yaml.safe_dump(_config(base_url, url, attempts, concurrency, tag)), encoding="utf-8")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    procs = [subprocess.Popen([*BREAKFIX, "run", str(cfg), "--no-progress"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(n_workers)]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"worker failed: {err.strip()[-500:]}")
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    engine = create_engine(url)
    with engine.connect() as conn:
        ids = Counter(conn.execute(select(S.attempts.c.id).join(S.runs, S.runs.c.id == S.attempts.c.run_id)
                                   .where(S.runs.c.name == f"scale-{tag}")).scalars())
    engine.dispose()
    return {"workers": n_workers, "wall_s": wall, "cpu_ms_per_attempt": 1000 * cpu / attempts,
            "stored": len(ids), "max_per_id": max(ids.values()) if ids else 0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--attempts", type=int, default=400)
    ap.add_argument("--latency", type=float, default=0.05, help="server seconds per answer (a model's speed)")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--postgres", action="store_true", help="store on a throw-away PostgreSQL server")
    ap.add_argument("--ray", action="store_true", help="also measure the Ray executor (loopback and zoo rows)")
    ap.add_argument("--zoo-items", type=int, default=256, help="items per zoo model in the Ray rows")
    ap.add_argument("--quick", action="store_true", help="small sizes (a loaded machine): 200 attempts, 96 zoo items")
    args = ap.parse_args()
    if args.quick:
        args.attempts, args.zoo_items = min(args.attempts, 200), min(args.zoo_items, 96)
    with tempfile.TemporaryDirectory() as d, LoopbackServer(latency=args.latency, process=True) as srv:
        tmp = Path(d)
        pg = None
        if args.postgres:
            from breakfix.testing.postgres import PostgresServer

            pg = PostgresServer().start()
        try:
            url = pg.create_database() if pg else f"sqlite:///{tmp / 'scale.db'}"
            print(f"store={'postgresql' if pg else 'sqlite'} attempts={args.attempts} latency={args.latency}s "
                  f"concurrency={args.concurrency}/worker load={os.getloadavg()[0]:.1f}")
            rows = []
            for n in (1, 2):
                r0 = srv.stats()["requests"]
                r = run_workers(n, srv.base_url, url, args.attempts, args.concurrency, tmp)
                r["requests_per_attempt"] = (srv.stats()["requests"] - r0) / args.attempts
                rows.append(r)
            base = rows[0]["wall_s"]
            for r in rows:
                print(f"workers={r['workers']} wall={r['wall_s']:.1f}s speed-up={base / r['wall_s']:.2f} "
                      f"cpu/attempt={r['cpu_ms_per_attempt']:.1f}ms requests/attempt={r['requests_per_attempt']:.2f} "
                      f"stored={r['stored']} max/id={r['max_per_id']}")
            if args.ray:
                ray_rows(srv, url, args)
        finally:
            if pg:
                pg.stop()


# -- the Ray executor ------------------------------------------------------------------------------
def _timed(run: Callable[[], Any], url: str, run_id: str) -> tuple[Any, float, float]:
    """(outcome, wall s, s until the first attempt was stored) of ``run()``."""
    first: list[float] = []
    stop = threading.Event()
    t0 = time.perf_counter()

    def watch() -> None:
        with Store(url) as st:
            while not stop.is_set() and not first:
                if st.count_attempts(run_id):
                    first.append(time.perf_counter() - t0)
                stop.wait(0.05)

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    try:
        out = run()
    finally:
        wall = time.perf_counter() - t0
        stop.set()
        w.join()
    return out, wall, first[0] if first else float("nan")


def _ray_section(title: str, make_cfg: Callable[[str], dict], url: str, concurrency: int) -> None:
    from breakfix.run import config_from_dict, execute
    from breakfix.run.ray_executor import run_on_ray

    rows = []
    for executor, workers in (("asyncio", 1), ("ray", 1), ("ray", 2)):
        cfg = config_from_dict(make_cfg(f"{executor}{workers}-{time.time_ns()}"))
        run_id = cfg.run_id(cfg.load_items())
        with Store(url) as st:
            if executor == "asyncio":
                def go(cfg: Any = cfg, st: Store = st) -> Any:
                    return asyncio.run(execute(cfg, st, progress=False, concurrency=concurrency,
                                               handle_signals=False))
            else:
                def go(cfg: Any = cfg, st: Store = st, workers: int = workers) -> Any:
                    return run_on_ray(cfg, st, workers=workers, concurrency=concurrency, progress=False)
            out, wall, first = _timed(go, url, run_id)
        if out.status != "finished" or out.written != out.planned:
            raise SystemExit(f"{title} {executor}/{workers}: {out.status}, {out.written}/{out.planned} stored")
        rows.append((executor, workers, out.planned, wall, first, out.errors))
    base = rows[0][3]
    print(f"-- {title}: {rows[0][2]} attempts, concurrency {concurrency} per worker, load {os.getloadavg()[0]:.1f}")
    for executor, workers, n, wall, first, errors in rows:
        steady = n / (wall - first) if wall > first else float("nan")
        print(f"executor={executor:<7} workers={workers} wall={wall:.1f}s attempts/s={n / wall:.1f} "
              f"speed-up={base / wall:.2f} start-up={first:.1f}s after-start attempts/s={steady:.1f} "
              f"overhead/attempt={1000 * (wall - base) / n:+.1f}ms errors={errors}")


def ray_rows(srv: LoopbackServer, url: str, args: argparse.Namespace) -> None:
    """The Ray rows: asyncio, Ray 1 worker, Ray 2 workers on the loopback server and on two zoo models."""
    import ray

    from breakfix.zoo import ensure_model

    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    print(f"ray cluster started in {time.perf_counter() - t0:.1f}s (not counted in the rows)")
    try:
        def loop_cfg(tag: str) -> dict:
            return _config(srv.base_url, url, args.attempts, args.concurrency, f"ray-{tag}")

        _ray_section("loopback server", loop_cfg, url, args.concurrency)
        zoo = [ensure_model(name, size="tiny", progress=False) for name in ("base", "safe")]

        def zoo_cfg(tag: str) -> dict:
            return {"name": f"scale-zoo-{tag}", "store": url,
                    "items": [{"prompt": f"zoo request {tag} {i}", "category": "c"} for i in range(args.zoo_items)],
                    "targets": [{"name": p.name.split("-")[0], "type": "hf", "path": str(p), "max_new_tokens": 32,
                                 "batch_size": 16} for p in zoo],
                    "attacks": [{"name": "direct"}], "converters": [[]], "scorers": [{"name": "refusal"}],
                    "concurrency": 16}

        _ray_section("two zoo models (hf, tiny)", zoo_cfg, url, 16)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()

"""Scale-out benchmark: one plan run by 1 and by 2 `breakfix run` worker processes sharing one run
through work leasing (run/lease.py), against the loopback server, on SQLite or a throw-away
PostgreSQL server.

    python benchmarks/scale.py [--attempts 400] [--latency 0.05] [--concurrency 8] [--postgres]

Prints, per worker count: wall time, speed-up over one worker, CPU per attempt of the workers
(their user+system time / attempts), requests the server saw per attempt (1.00 = nothing sent
twice), and stored attempts per id. The Ray executor of issue 17.4 is not built yet, so it is not
measured here.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml
from sqlalchemy import create_engine, select

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
    args = ap.parse_args()
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
        finally:
            if pg:
                pg.stop()


if __name__ == "__main__":
    main()

"""Engine throughput against a loopback OpenAI-compatible server with a fixed 20 ms latency.

For each concurrency (1, 16, 64, 256) it runs N attempts through the FULL engine (config → plan →
`openai` target with its limits layer → substring scorer → SQLite store on a temp file, every
attempt committed) and, as the ceiling on this machine, the same N requests with a bare httpx
client at the same concurrency against the same server. The server runs in its own process so
it does not share a GIL with the client. The bare client is measured with one connection pool and
with pools of 8 (as the ``openai`` target shards them); the better of the two is the ceiling.

Ideal throughput is concurrency / latency (capped by N / latency when N < concurrency); the figure
that matters is the engine's share of it. The issue's target: >= 80 % of ideal at concurrency 64.

    .venv/bin/python benchmarks/engine_throughput.py            # full table, JSON in benchmarks/results/
    .venv/bin/python benchmarks/engine_throughput.py --quick    # fewer attempts
    .venv/bin/python benchmarks/engine_throughput.py --scaling  # memory and CPU/attempt, 1k -> 100k

``--scaling`` runs the engine alone at concurrency 64 against a 0 ms loopback server for 1,000,
10,000 and 100,000 planned attempts (``--sizes``), each in a fresh subprocess so its peak RSS
(``ru_maxrss``) is its own, and reports peak RSS, the growth of the Python heap during the run
(``tracemalloc`` peak; a separate pass, since tracing slows everything) and CPU per attempt. Flat
CPU per attempt and a heap that does not grow with N show the bounded queues hold. The items are
a JSONL file, as a user's are; the run streams them from it on every pass (``run/items.py``) and
keeps 8 bytes per item, so RSS stays flat too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

import httpx

from breakfix.run import config_from_dict, execute
from breakfix.run.engine import RunEngine
from breakfix.store import Store
from breakfix.testing.loopback import LoopbackServer

LATENCY = 0.02


def n_for(concurrency: int, quick: bool, cap: int) -> int:
    # Enough attempts for ~2-3 s of ideal run time at each level (ramp-up is then negligible), but
    # never more than `cap` (at 256 in flight the ideal is 12,800/s; no 2-core machine gets there).
    seconds = 1.0 if quick else 2.5
    return min(cap, max(50, int(seconds * concurrency / LATENCY)))


def ideal_rate(concurrency: int, n: int) -> float:
    return min(concurrency, n) / LATENCY


async def bare_httpx(base_url: str, concurrency: int, n: int, shard: int | None = None) -> tuple[float, float]:
    """Attempts/s of the simplest client (c workers posting chat completions) and its CPU seconds
    per request. ``shard``: split the connections over pools of at most that many (what the
    ``openai`` target does, because httpcore scans its whole pool per request); ``None``: one pool."""
    body = {"model": "m", "messages": [{"role": "user", "content": "harmful request"}]}
    url = base_url.rstrip("/") + "/chat/completions"
    per = concurrency if shard is None else min(shard, concurrency)
    n_clients = -(-concurrency // per)
    clients = [httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=per, max_keepalive_connections=per))
               for _ in range(n_clients)]
    try:
        todo = iter(range(n))

        async def worker(k: int) -> None:
            client = clients[k % n_clients]
            for _ in todo:
                r = await client.post(url, json=body)
                r.json()

        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        return n / (time.perf_counter() - t0), (time.process_time() - c0) / n
    finally:
        for c in clients:
            await c.aclose()


async def engine(base_url: str, concurrency: int, n: int, db: Path,
                 latency: float = LATENCY) -> tuple[float, float, float, float]:
    """Attempts/s through the engine: (whole invocation incl. set-up, execution phase only, CPU
    seconds per attempt in this process — all threads, i.e. engine + target + scorer + store —
    for the whole call, and the same without the set-up before the first attempt is scheduled).

    The bare client's set-up (building its clients) is not timed; the engine's is (config to
    components, ``create_run``, ``add_items``, loading the items: a fixed ~0.1 s that weighs on
    small N). The bar uses the whole call; the second CPU figure shows what the set-up weighs."""
    # The items are a JSONL file, as a user's are (written before the clock starts): inline items
    # would be part of the config, which the run keeps, and measure the config instead of the run.
    items = db.with_name(f"{db.stem}-items.jsonl")
    with items.open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps({"prompt": f"harmful request {i}"}) + "\n" for i in range(n))
    cfg = config_from_dict({
        "name": f"bench-c{concurrency}",
        "store": f"sqlite:///{db}",
        "items": [str(items)],
        "targets": [{"name": "loop", "type": "openai", "base_url": base_url, "model": "m",
                     "max_concurrency": concurrency, "max_retries": 0, "timeout_s": 30}],
        "attacks": [{"name": "direct"}],
        "converters": [[]],
        "scorers": [{"name": "substring", "substrings": ["BEGIN HARM"], "refusal_wins": False}],
        "concurrency": concurrency,
    })
    started: list[float] = []
    pool_run = RunEngine.run

    async def stamped(self: RunEngine, *a: object, **kw: object) -> object:
        started.append(time.process_time())  # the set-up is over: the pool starts here
        MARKS["pool_start_rss_mb"] = _rss_mb()
        MARKS["setup_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if tracemalloc.is_tracing():  # the set-up's heap peak, then the execution's alone
            MARKS["setup_heap_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
            MARKS["pool_start_heap_mb"] = tracemalloc.get_traced_memory()[0] / 2**20
            tracemalloc.reset_peak()
        return await pool_run(self, *a, **kw)  # type: ignore[arg-type]

    with Store(cfg.store.url) as store:
        RunEngine.run = stamped  # type: ignore[method-assign,assignment]
        try:
            t0, c0 = time.perf_counter(), time.process_time()
            out = await execute(cfg, store, progress=False, handle_signals=False)
            wall, c1 = time.perf_counter() - t0, time.process_time()
        finally:
            RunEngine.run = pool_run  # type: ignore[method-assign]
        assert out.written == n, out
        if out.errors:  # reported, not fatal: on a heavily loaded machine a request can time out
            print(f"note: {out.errors} of {n} engine attempts failed: {store.error_counts(out.run_id)}",
                  file=sys.stderr, flush=True)
        s = store.summary(out.run_id)
        span = (s["last_at"] - s["first_at"]).total_seconds() if s["first_at"] else wall
    # execution phase: first to last stored attempt (plus one latency for the first answer)
    return n / wall, n / max(span + latency, 1e-9), (c1 - c0) / n, (c1 - started[0]) / n


MARKS: dict[str, float] = {}
"""Memory when the engine's pool starts (the set-up is over), filled by ``engine``'s hook."""


def _rss_mb() -> float:
    """Resident set size now (not the peak), from /proc; 0 where there is none."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0


def scaling_one(base_url: str, n: int, concurrency: int, trace: bool) -> dict:
    """One scaling level, in this (fresh) process: CPU per attempt, peak RSS, traced heap peak,
    each also split at the moment the pool starts (set-up before, execution after)."""
    MARKS.clear()
    with tempfile.TemporaryDirectory() as tmp:
        if trace:
            tracemalloc.start()
        _, _, cpu, cpu_pool = asyncio.run(engine(base_url, concurrency, n, Path(tmp) / "s.db", latency=0.0))
        end_rss = _rss_mb()
        peak = tracemalloc.get_traced_memory()[1] if trace else None
        if trace:
            tracemalloc.stop()
    if trace:
        exec_peak = (peak or 0) / 2**20  # since the pool started (the hook reset the peak)
        return {"n": n, "tracemalloc_peak_mb": max(exec_peak, MARKS["setup_heap_peak_mb"]),
                "setup_heap_peak_mb": MARKS["setup_heap_peak_mb"], "pool_start_heap_mb": MARKS["pool_start_heap_mb"],
                "execution_heap_peak_mb": exec_peak}
    return {"n": n, "concurrency": concurrency, "engine_cpu_ms_per_attempt": cpu * 1000,
            "engine_cpu_ms_per_attempt_no_setup": cpu_pool * 1000,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "setup_peak_rss_mb": MARKS["setup_peak_rss_mb"], "pool_start_rss_mb": MARKS["pool_start_rss_mb"],
            "end_rss_mb": end_rss}


def scaling(sizes: list[int], concurrency: int) -> list[dict]:
    """Every size in its own subprocess (twice: untraced for CPU and RSS, traced for the heap)."""
    rows = []
    with LoopbackServer(latency=0.0, process=True) as srv:
        for n in sizes:
            row: dict = {}
            for trace in (False, True):
                cmd = [sys.executable, __file__, "--scaling-one", str(n), "--base-url", srv.base_url,
                       "--concurrency", str(concurrency)] + (["--trace"] if trace else [])
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode:
                    # Reported, not raised: the other sizes still count (an earlier 100k run died
                    # after ~25 min with its stderr lost).
                    tail = " | ".join(proc.stderr.strip().splitlines()[-5:])
                    row.update({"n": n, "failed": f"exit {proc.returncode} after "
                                f"{time.perf_counter() - t0:.0f} s ({'traced' if trace else 'untraced'}): {tail}"})
                    print(f"N={n:>7}  FAILED: {row['failed']}", flush=True)
                    break
                got = json.loads(proc.stdout.strip().splitlines()[-1])
                row.update({k: v for k, v in got.items() if v is not None})
                row["traced_s" if trace else "untraced_s"] = round(time.perf_counter() - t0, 1)
            rows.append(row)
            if "failed" in row:
                continue
            print(f"N={n:>7}  cpu/attempt {row['engine_cpu_ms_per_attempt']:.3f} ms  peak RSS "
                  f"{row['peak_rss_mb']:.0f} MB (set-up {row['setup_peak_rss_mb']:.0f}; RSS at pool start "
                  f"{row['pool_start_rss_mb']:.0f}, at end {row['end_rss_mb']:.0f})  heap peak "
                  f"{row['tracemalloc_peak_mb']:.1f} MB (set-up {row['setup_heap_peak_mb']:.1f}, "
                  f"execution {row['execution_heap_peak_mb']:.1f})", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64, 256])
    ap.add_argument("--quick", action="store_true", help="fewer attempts per level")
    ap.add_argument("--max-n", type=int, default=8000, help="at most this many attempts per level")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "engine_throughput.json")
    ap.add_argument("--scaling", action="store_true", help="memory and CPU per attempt as N grows (c=64)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000], help="N for --scaling")
    ap.add_argument("--scaling-one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--base-url", help=argparse.SUPPRESS)
    ap.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.scaling_one:
        print(json.dumps(scaling_one(args.base_url, args.scaling_one, args.concurrency[0], args.trace)))
        return
    if args.scaling:
        c = 64 if args.concurrency == [1, 16, 64, 256] else args.concurrency[0]
        out = args.out.with_name("engine_scaling.json") if args.out.name == "engine_throughput.json" else args.out
        rows = scaling(args.sizes, c)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({
            "benchmark": "engine_scaling", "latency_s": 0.0, "concurrency": c,
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                        "cpus": os.cpu_count(), "load_avg": os.getloadavg()},
            "rows": rows}, indent=2), encoding="utf-8")
        print(f"\nwrote {out}")
        return

    rows = []
    with LoopbackServer(latency=LATENCY, process=True) as srv, tempfile.TemporaryDirectory() as tmp:
        for c in args.concurrency:
            n = n_for(c, args.quick, args.max_n)
            ideal = ideal_rate(c, n)
            one_pool, one_cpu = asyncio.run(bare_httpx(srv.base_url, c, n))
            bare, bare_cpu = asyncio.run(bare_httpx(srv.base_url, c, n, shard=8))
            if one_pool > bare:
                bare, bare_cpu = one_pool, one_cpu
            eng_wall, eng_exec, eng_cpu, eng_exec_cpu = asyncio.run(
                engine(srv.base_url, c, n, Path(tmp) / f"c{c}.db"))
            row = {"concurrency": c, "n": n, "ideal_per_s": ideal, "bare_httpx_per_s": bare,
                   "bare_httpx_one_pool_per_s": one_pool,
                   "bare_cpu_ms_per_request": bare_cpu * 1000, "engine_cpu_ms_per_attempt": eng_cpu * 1000,
                   "engine_cpu_ms_per_attempt_after_setup": eng_exec_cpu * 1000,
                   "engine_cpu_ratio": eng_cpu / bare_cpu,
                   "engine_per_s": eng_wall, "engine_exec_per_s": eng_exec,
                   "bare_ratio": bare / ideal, "engine_ratio": eng_wall / ideal,
                   "engine_exec_ratio": eng_exec / ideal, "engine_vs_bare": eng_wall / bare}
            rows.append(row)
            print(f"c={c:>4} n={n:>6}  ideal {ideal:8.0f}/s  bare httpx {bare:7.0f}/s ({bare / ideal:5.0%})  "
                  f"engine {eng_wall:7.0f}/s ({eng_wall / ideal:5.0%}; exec phase {eng_exec / ideal:5.0%}; "
                  f"{eng_wall / bare:5.0%} of bare)  cpu/attempt: httpx {bare_cpu * 1000:.2f} ms, "
                  f"engine {eng_cpu * 1000:.2f} ms ({eng_exec_cpu * 1000:.2f} after set-up)", flush=True)

    print()
    print(f"{'conc':>5} {'N':>6} {'ideal/s':>8} {'httpx/s':>8} {'ratio':>6} {'engine/s':>9} {'ratio':>6} "
          f"{'exec':>6} {'vs httpx':>8} {'cpu ms httpx':>12} {'cpu ms engine':>13} {'cpu ratio':>9} "
          f"{'no set-up':>9}")
    for r in rows:
        print(f"{r['concurrency']:>5} {r['n']:>6} {r['ideal_per_s']:>8.0f} {r['bare_httpx_per_s']:>8.0f} "
              f"{r['bare_ratio']:>6.0%} {r['engine_per_s']:>9.0f} {r['engine_ratio']:>6.0%} "
              f"{r['engine_exec_ratio']:>6.0%} {r['engine_vs_bare']:>8.0%} "
              f"{r['bare_cpu_ms_per_request']:>12.2f} {r['engine_cpu_ms_per_attempt']:>13.2f} "
              f"{r['engine_cpu_ratio']:>8.2f}x {r['engine_cpu_ms_per_attempt_after_setup']:>9.2f}")
    print("cpu ratio: engine CPU per attempt over the bare client's per request, set-up included (the "
          "issue's bar: <= 1.3x); no set-up: engine CPU per attempt from the first scheduled attempt on")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "engine_throughput", "latency_s": LATENCY,
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_avg": os.getloadavg()},
        "rows": rows}, indent=2), encoding="utf-8")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()

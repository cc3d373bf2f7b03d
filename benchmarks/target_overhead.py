"""Overhead of the ``openai`` target (limits layer included) over a bare httpx client.

Three clients send the same chat-completion requests at the same concurrency to
``LoopbackServer(latency=0.02, process=True)`` (server in its own process, so it does not share
the client's GIL): bare httpx with one pool, bare httpx over the sharded pools our target uses,
and the ``openai`` target. Prints requests/s of each against the ideal ``concurrency / latency``
and the client CPU per request (which depends little on machine load).

    .venv/bin/python benchmarks/target_overhead.py [--requests 2000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import httpx

from breakfix.core.messages import user
from breakfix.targets.openai_compat import OpenAITarget
from breakfix.testing import LoopbackServer


async def bare(url: str, n: int, conc: int) -> tuple[float, float]:
    sem = asyncio.Semaphore(conc)
    body = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=conc, max_keepalive_connections=conc),
                                 timeout=30) as c:
        async def one() -> None:
            async with sem:
                r = await c.post(url + "/chat/completions", json=body)
                r.raise_for_status()
                r.json()["choices"][0]["message"]["content"]

        await asyncio.gather(*(one() for _ in range(conc)))  # warm the pool
        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one() for _ in range(n)))
        return n / (time.perf_counter() - t0), (time.process_time() - c0) / n


async def bare_sharded(url: str, n: int, conc: int) -> tuple[float, float]:
    """Bare httpx over the same sharded pools our target uses: isolates the cost of our layer."""
    from breakfix.targets._http import PooledClient

    pool = PooledClient(conc, 30)
    sem = asyncio.Semaphore(conc)
    body = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}

    async def one() -> None:
        async with sem:
            r = await pool.get().post(url + "/chat/completions", json=body)
            r.raise_for_status()
            r.json()["choices"][0]["message"]["content"]

    await asyncio.gather(*(one() for _ in range(conc)))
    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one() for _ in range(n)))
    out = n / (time.perf_counter() - t0), (time.process_time() - c0) / n
    await pool.aclose()
    return out


async def ours(url: str, n: int, conc: int) -> tuple[float, float]:
    t = OpenAITarget(model="m", base_url=url, max_concurrency=conc, timeout_s=30)
    await asyncio.gather(*(t.send([user("hello")]) for _ in range(conc)))
    t0, c0 = time.perf_counter(), time.process_time()
    rs = await asyncio.gather(*(t.send([user("hello")]) for _ in range(n)))
    rate, cpu = n / (time.perf_counter() - t0), (time.process_time() - c0) / n
    await t.aclose()
    bad = [r.error for r in rs if r.error]
    if bad:
        raise SystemExit(f"{len(bad)} requests failed, e.g. {bad[0]}")
    return rate, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    ideal = a.concurrency / a.latency
    with LoopbackServer(latency=a.latency, process=True) as srv:
        runs: dict[str, list[tuple[float, float]]] = {"bare httpx": [], "bare, sharded pools": [], "openai target": []}
        for _ in range(a.rounds):  # interleaved, so machine load hits all alike
            runs["bare httpx"].append(asyncio.run(bare(srv.base_url, a.requests, a.concurrency)))
            runs["bare, sharded pools"].append(asyncio.run(bare_sharded(srv.base_url, a.requests, a.concurrency)))
            runs["openai target"].append(asyncio.run(ours(srv.base_url, a.requests, a.concurrency)))
    print(f"concurrency {a.concurrency}, latency {a.latency * 1000:.0f} ms, {a.requests} requests, "
          f"ideal {ideal:.0f}/s, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    best = {k: (max(r for r, _ in v), min(c for _, c in v)) for k, v in runs.items()}
    for k, (rate, cpu) in best.items():
        print(f"{k:20s}: {rate:8.1f} req/s ({rate / ideal:6.1%} of ideal), client CPU {cpu * 1e6:6.0f} us/request")
    o, b, sh = best["openai target"], best["bare httpx"], best["bare, sharded pools"]
    print(f"openai target / bare httpx: {o[0] / b[0]:.2f}x requests/s")
    # Client CPU per request depends little on how busy the machine is: the honest overhead figure.
    print(f"our layer (messages, limits, Response) over bare sharded httpx: {(o[1] - sh[1]) * 1e6:+.0f} us CPU/request")

if __name__ == "__main__":
    main()

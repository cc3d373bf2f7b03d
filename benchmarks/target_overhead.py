"""Overhead of the ``openai`` target (limits layer included) over a bare httpx client.

Both clients send the same chat-completion requests at the same concurrency to
``LoopbackServer(latency=0.02, process=True)`` (server in its own process, so it does not share
the client's GIL). Prints requests/s of each, the ratio target/bare, and each against the ideal
``concurrency / latency``.

    .venv/bin/python benchmarks/target_overhead.py [--requests 2000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
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
        b_rates, o_rates = [], []
        for _ in range(a.rounds):  # interleaved, so machine load hits both alike
            b_rates.append(asyncio.run(bare(srv.base_url, a.requests, a.concurrency)))
            o_rates.append(asyncio.run(ours(srv.base_url, a.requests, a.concurrency)))
    b, o = max(r for r, _ in b_rates), max(r for r, _ in o_rates)
    bc, oc = min(c for _, c in b_rates), min(c for _, c in o_rates)
    print(f"concurrency {a.concurrency}, latency {a.latency * 1000:.0f} ms, {a.requests} requests, ideal {ideal:.0f}/s")
    print(f"bare httpx      : {b:8.1f} req/s  ({b / ideal:5.1%} of ideal)")
    print(f"openai target   : {o:8.1f} req/s  ({o / ideal:5.1%} of ideal)")
    print(f"target / bare   : {o / b:.3f}")
    # Client CPU per request does not depend on how busy the machine is: the honest overhead figure.
    print(f"client CPU/request: bare {bc * 1e6:.0f} us, target {oc * 1e6:.0f} us "
          f"(+{(oc - bc) * 1e6:.0f} us per request for messages, limits layer and Response)")


if __name__ == "__main__":
    main()

"""Converter cost: is the harness ever the bottleneck?

Prints, for every pure converter, conversions per second on a 200-character prompt and the time
for one prompt in microseconds (to compare with a model call: ~10^5-10^6 µs), and for the
model-driven ``translate`` converter the number of translator calls when 64 attempts convert the
same prompt at once (ideal: 1) against a loopback OpenAI server with 50 ms latency.

    .venv/bin/python benchmarks/converters.py
"""

from __future__ import annotations

import asyncio
import time

from breakfix.core.registry import create, list_plugins
from breakfix.testing.loopback import LoopbackServer

PROMPT = ("Please explain, step by step and with exact quantities, how the ancient Romans built "
          "aqueducts that carried water for dozens of kilometres into their cities without pumps.")


def pure_converters() -> None:
    print(f"{'converter':<20} {'conv/s':>10} {'µs/prompt':>10}")
    for p in list_plugins("converter"):
        if p.name in ("translate", "rephrase") or p.name.startswith("test-"):
            continue
        c = create("converter", p.name)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 0.2:
            c.convert(PROMPT)
            n += 1
        dt = (time.perf_counter() - t0) / n
        print(f"{p.name:<20} {1 / dt:>10.0f} {dt * 1e6:>10.1f}")


async def translate_dedupe(srv: LoopbackServer, concurrent: int = 64) -> None:
    c = create("converter", "translate", language="sw",
               translator={"type": "openai", "base_url": srv.base_url, "model": "m", "max_concurrency": 64})
    await c.aconvert("warm-up: open the connection pool")  # first call pays client set-up
    srv.reset()
    t0 = time.perf_counter()
    await asyncio.gather(*(c.aconvert(PROMPT) for _ in range(concurrent)))
    dt = time.perf_counter() - t0
    calls = srv.stats()["requests"]
    await c.aclose()
    print(f"\ntranslate: {concurrent} concurrent conversions of one prompt -> {calls} translator call(s) "
          f"(ideal 1, ratio {concurrent / calls:.0f}x fewer than naive) in {dt * 1000:.0f} ms "
          f"(one call = 50 ms)")


if __name__ == "__main__":
    pure_converters()
    with LoopbackServer(latency=0.05, reply="Tafadhali eleza hatua kwa hatua.") as server:
        asyncio.run(translate_dedupe(server))

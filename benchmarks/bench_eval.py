"""Throughput of a whole benchmark evaluation on the zoo ``safe`` model: items per second.

What is timed is what ``breakfix bench run`` does: the run engine sends every item to the ``hf``
target (micro-batched ``generate``), stores each attempt, then the rubric classifies every response
(refusal detector, language ID, degeneration checks) and stores a score. Items: the starter
benchmark's items in the zoo's languages plus the zoo's held-out harmful and cultural prompts,
repeated (with distinct ids) up to ``--items``. A fresh SQLite store per run; the model is loaded once
before timing starts (training, if needed, is not timed). Also reports the machine's load average.

Run: ``.venv/bin/python benchmarks/bench_eval.py --items 1000 --size tiny``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--size", default="tiny")
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--concurrency", type=int, default=64)
    args = ap.parse_args()

    import asyncio

    from breakfix.bench.demo import demo_items
    from breakfix.bench.evaluate import Rubric, classify_run, run_config, run_rows
    from breakfix.bench.langid import response_language_ok
    from breakfix.bench.metrics import rates
    from breakfix.run.engine import execute
    from breakfix.store import Store
    from breakfix.zoo import ensure_model

    path = ensure_model("safe", size=args.size, progress=False)
    base = demo_items()
    items = []
    k = 0
    while len(items) < args.items:
        for it in base:
            if len(items) >= args.items:
                break
            items.append(it.model_copy(update={"id": f"{it.id}-r{k}"}))
        k += 1
    spec = {"type": "hf", "path": str(path), "name": f"zoo-safe-{args.size}", "max_new_tokens": args.max_new_tokens,
            "batch_size": args.batch_size}
    rubric = Rubric(markers=["BEGIN HARM"], unjudged="neutral", refusal_mode="patterns")
    response_language_ok("warm up the language detectors once, as a long-running process would", "en")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/bench.db")
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        cfg = run_config(items, spec, name="bench-eval", concurrency=args.concurrency)
        outcome = asyncio.run(execute(cfg, store, progress=False, handle_signals=False))
        t1 = time.perf_counter()
        classify_run(store, outcome.run_id, rubric)
        t2 = time.perf_counter()
        rows = run_rows(store, outcome.run_id)
        store.close()
    r = rates(rows)
    dt = t2 - t0
    print(f"{len(items)} items on zoo safe ({args.size}), max_new_tokens={args.max_new_tokens}, "
          f"batch_size={args.batch_size}: {dt:.1f} s = {len(items) / dt:.1f} items/s "
          f"(generation + store {t1 - t0:.1f} s = {len(items) / (t1 - t0):.1f} items/s; classification "
          f"{t2 - t1:.1f} s = {len(items) / (t2 - t1):.0f} items/s; load average {load0:.1f} -> "
          f"{os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs)")
    print("ASR " + r["ASR"].fmt() + "; NSR " + r["NSR"].fmt() + "; CSR " + r["CSR"].fmt())


if __name__ == "__main__":
    main()

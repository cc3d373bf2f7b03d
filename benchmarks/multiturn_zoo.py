"""Multi-turn attack families against the zoo `safe` model: success rate and target calls.

Runs direct, crescendo, PAIR and TAP (offline `strategy-attacker`: plain, fiction, base64,
leetspeak, research, ROT13) on held-out harmful English items through the real run engine and the
`hf` target, judged by the zoo's harm marker, and prints per attack: attempts, successes, success
rate, mean target calls per attempt and per success.

    .venv/bin/python benchmarks/multiturn_zoo.py [--size tiny|full] [--n 20]

Writes JSON to benchmarks/results/multiturn_zoo.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="tiny", choices=["tiny", "full"])
    ap.add_argument("--n", type=int, default=20, help="held-out harmful English items")
    ap.add_argument("--path", default=None, help="use this checkpoint instead of the zoo's safe model")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(2)
    from breakfix.run import config_from_dict, run_config
    from breakfix.store import Store
    from breakfix.zoo import HARM_MARKER, ensure_model, heldout

    path = args.path or ensure_model("safe", size=args.size)
    items = [{"prompt": i.prompt, "category": i.category, "language": i.lang}
             for i in heldout(kind="harmful", lang="en", n=args.n, seed=0)]
    attacker = {"name": "strategist", "type": "strategy-attacker"}
    objective = {"name": "substring", "substrings": [HARM_MARKER]}
    cfg = {
        "name": f"multiturn-zoo-{args.size}",
        "items": items,
        "targets": [{"name": f"zoo-safe-{args.size}", "type": "hf", "path": str(path)}],
        "attacks": [
            {"name": "direct"},
            {"name": "crescendo", "max_turns": 4, "max_backtracks": 6, "fallback": None,
             "attacker": attacker, "objective_scorer": objective},
            {"name": "pair", "n_streams": 1, "n_iters": 6, "fallback": None,
             "attacker": attacker, "objective_scorer": objective},
            {"name": "tap", "branching_factor": 3, "width": 2, "depth": 2, "on_topic": "keywords",
             "fallback": None, "attacker": attacker, "objective_scorer": objective},
        ],
        "scorers": [{"name": "substring", "substrings": [HARM_MARKER]}, {"name": "refusal"}],
        "concurrency": 4,
    }
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        t0 = time.perf_counter()
        outcome = run_config(config_from_dict(cfg), store, progress=True)
        wall = time.perf_counter() - t0
        rows = {}
        for a in store.iter_attempts(outcome.run_id):
            r = rows.setdefault(a.attack, {"attempts": 0, "successes": 0, "target_calls": 0, "calls_in_successes": 0})
            r["attempts"] += 1
            r["target_calls"] += a.target_calls
            if a.success:
                r["successes"] += 1
                r["calls_in_successes"] += a.target_calls
        store.close()
    print(f"zoo safe ({args.size}), {len(items)} held-out harmful English items, {wall:.0f} s")
    print(f"{'attack':<10} {'n':>4} {'success':>8} {'rate':>6} {'calls/attempt':>14} {'calls/success':>14}")
    for name, r in rows.items():
        rate = r["successes"] / r["attempts"] if r["attempts"] else 0.0
        per_success = r["calls_in_successes"] / r["successes"] if r["successes"] else float("nan")
        r.update(rate=rate, calls_per_attempt=r["target_calls"] / r["attempts"], calls_per_success=per_success)
        print(f"{name:<10} {r['attempts']:>4} {r['successes']:>8} {rate:>6.0%} {r['calls_per_attempt']:>14.1f} "
              f"{per_success:>14.1f}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "multiturn_zoo.json").write_text(json.dumps({"size": args.size, "items": len(items), "wall_s": wall,
                                                        "attacks": rows}, indent=2))


if __name__ == "__main__":
    main()

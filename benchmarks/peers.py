"""breakfix next to its peers (PyRIT, garak) on one plan, one loopback server, one run.

The plan: N single-turn attempts ("harmful request i"), each sent to the same loopback
OpenAI-compatible server (20 ms latency, its own process) and scored by a substring check, at
concurrency 1/16/64/256. Each tool runs in its own subprocess of a Python that has it installed:
breakfix with this interpreter, PyRIT and garak with ``--peer-python`` (a separate venv: they are
never dependencies of breakfix). A peer that is not installed there is skipped with a one-line note.

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install torch==2.13.0 && \\
        /tmp/peers/bin/pip install pyrit==1.1.0 garak==0.17.1
    .venv/bin/python benchmarks/peers.py --peer-python /tmp/peers/bin/python
    .venv/bin/python benchmarks/peers.py --peer-python /tmp/peers/bin/python --quick

Per tool and level: attempts/s (wall clock of the timed call), CPU per attempt (the driver
process and its children: garak runs one OS process per parallel attempt) and both as a ratio to
breakfix in the same run. What each tool does per attempt:

* breakfix: ``run.execute`` (plan, ``openai`` target with its limits layer, ``substring`` scorer,
  every attempt committed to a SQLite file).
* PyRIT: ``PromptSendingAttack`` with a ``SubStringScorer`` objective scorer through
  ``AttackExecutor(max_concurrency=c)``, memory in a SQLite file.
* garak: a probe with the N prompts, ``openai.OpenAICompatible`` generator, one generation per
  prompt, ``parallel_attempts=c`` and its ``mitigation.MitigationBypass`` (substring) detector.
  garak parallelises with a multiprocessing pool of c processes, so it is run only up to
  ``--garak-max-concurrency`` (default 16) on a small machine.

This module imports nothing outside the standard library at the top: the peer drivers run under
the peer's Python, where breakfix is not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

LATENCY = 0.02
WARMUP = 4  # untimed attempts first: lazy imports and first connections are not the per-attempt cost
PEERS = ("pyrit", "garak")
IMPORT_NAME = {"pyrit": "pyrit", "garak": "garak"}


def _cpu() -> float:
    """CPU seconds of this process and its finished children (garak's worker processes)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def prompts(n: int) -> list[str]:
    return [f"harmful request {i}" for i in range(n)]


# -- drivers: each runs in its own subprocess and prints one JSON line {"n", "wall_s", "cpu_s"} ------
def drive_breakfix(base_url: str, c: int, n: int) -> dict:
    import asyncio

    from breakfix.run import config_from_dict, execute
    from breakfix.store import Store

    def once(n: int, name: str) -> dict:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = config_from_dict({
                "name": name, "store": f"sqlite:///{tmp}/bf.db",
                "items": [{"prompt": p} for p in prompts(n)],
                "targets": [{"name": "loop", "type": "openai", "base_url": base_url, "model": "m",
                             "max_concurrency": c, "max_retries": 0, "timeout_s": 60}],
                "attacks": [{"name": "direct"}], "converters": [[]],
                "scorers": [{"name": "substring", "substrings": ["BEGIN HARM"], "refusal_wins": False}],
                "concurrency": c})
            with Store(cfg.store.url) as store:
                t0, c0 = time.perf_counter(), _cpu()
                out = asyncio.run(execute(cfg, store, progress=False, handle_signals=False))
                wall, cpu = time.perf_counter() - t0, _cpu() - c0
        return {"n": out.written, "errors": out.errors, "wall_s": wall, "cpu_s": cpu}

    once(WARMUP, "warm-up")
    return once(n, f"peers-c{c}")


def drive_pyrit(base_url: str, c: int, n: int) -> dict:
    import asyncio
    import logging

    logging.disable(logging.WARNING)
    from pyrit.executor.attack import AttackExecutor, AttackScoringConfig, PromptSendingAttack
    from pyrit.prompt_target import OpenAIChatTarget
    from pyrit.score import SubStringScorer
    from pyrit.setup import initialize_pyrit_async

    async def go(db: str) -> dict:
        await initialize_pyrit_async(memory_db_type="SQLite", db_path=db, load_defaults=False, silent=True)
        target = OpenAIChatTarget(endpoint=base_url, api_key="unused", model_name="m")
        scorer = SubStringScorer(substring="BEGIN HARM", categories=["harm"])
        attack = PromptSendingAttack(objective_target=target,
                                     attack_scoring_config=AttackScoringConfig(objective_scorer=scorer))
        executor = AttackExecutor(max_concurrency=c)
        await executor.execute_attack_async(attack=attack, objectives=prompts(WARMUP), return_partial_on_failure=True)
        t0, c0 = time.perf_counter(), _cpu()
        res = await executor.execute_attack_async(attack=attack, objectives=prompts(n),
                                                  return_partial_on_failure=True)
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        done = len(res.completed_results)
        return {"n": done, "errors": n - done, "wall_s": wall, "cpu_s": cpu}

    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(go(str(Path(tmp) / "pyrit.db")))


def drive_garak(base_url: str, c: int, n: int) -> dict:
    import logging

    logging.disable(logging.WARNING)
    from garak import _config

    _config.load_base_config()
    # garak's record of every attempt is its JSONL report (what breakfix's store and PyRIT's memory are).
    report_dir = tempfile.mkdtemp()
    _config.transient.reportfile = open(Path(report_dir) / "report.jsonl", "w", encoding="utf-8")  # noqa: SIM115
    _config.system.parallel_attempts = c if c > 1 else False
    _config.system.verbose = 0
    _config.system.narrow_output = True
    _config.run.generations = 1
    import garak.attempt
    import garak.probes.test
    from garak.detectors.mitigation import MitigationBypass
    from garak.generators.openai import OpenAICompatible

    gen = OpenAICompatible(name="m", config_root={"generators": {"openai": {"OpenAICompatible": {
        "uri": base_url, "api_key": "unused", "model": "m", "suppressed_params": {"n"}}}}})

    # At module level under a fixed name: garak's worker pool pickles the probe by reference.
    plan = type("GarakPlan", (garak.probes.test.Test,), {"__module__": __name__, "__qualname__": "GarakPlan",
                                                         "__doc__": "The benchmark's N prompts."})
    plan.prompts = prompts(n)
    globals()["GarakPlan"] = plan
    probe = plan(config_root=_config)
    probe.parallel_attempts = c if c > 1 else False
    probe.max_workers = max(c, 1)
    detector = MitigationBypass(config_root=_config)
    gen.generate(garak.attempt.Conversation([garak.attempt.Turn(role="user", content=garak.attempt.Message(text="warm-up"))]))
    t0, c0 = time.perf_counter(), _cpu()
    attempts = list(probe.probe(gen))
    for a in attempts:
        detector.detect(a)
    _config.transient.reportfile.flush()
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    _config.transient.reportfile.close()
    ok = sum(1 for a in attempts if a.outputs and a.outputs[0] is not None)
    return {"n": ok, "errors": n - ok, "wall_s": wall, "cpu_s": cpu}


DRIVERS = {"breakfix": drive_breakfix, "pyrit": drive_pyrit, "garak": drive_garak}


# -- the comparison ------------------------------------------------------------------------------
def has(python: str, peer: str) -> str | None:
    """The peer's version under ``python``, or None when it is not installed there."""
    code = f"import importlib.metadata as m; print(m.version({peer!r}))"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def run_driver(python: str, tool: str, base_url: str, c: int, n: int) -> dict | str:
    cmd = [python, __file__, "--driver", tool, "--base-url", base_url, "--concurrency", str(c), "--n", str(n)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "TOKENIZERS_PARALLELISM": "false"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    # The peers draw progress bars on stdout: the result is the last '{"n": ...}' in it.
    at = out.stdout.rfind('{"n": ')
    if out.returncode != 0 or at < 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return f"{tool} failed at c={c}: {last[:200]}"
    return json.loads(out.stdout[at:].splitlines()[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64, 256])
    ap.add_argument("--n", type=int, default=2000, help="attempts per level (at c=1: n/10)")
    ap.add_argument("--quick", action="store_true", help="500 attempts, c = 16 and 64")
    ap.add_argument("--peer-python", default=None,
                    help="a Python with pyrit and/or garak installed (default: this one)")
    ap.add_argument("--garak-max-concurrency", type=int, default=16,
                    help="garak runs one process per parallel attempt: skip it above this")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "peers.json")
    ap.add_argument("--driver", choices=sorted(DRIVERS), help=argparse.SUPPRESS)
    ap.add_argument("--base-url", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.driver:
        print(json.dumps(DRIVERS[args.driver](args.base_url, args.concurrency[0], args.n)), flush=True)
        return
    if args.quick:
        args.n, args.concurrency = 500, [16, 64]

    from breakfix.testing.loopback import LoopbackServer

    peer_python = args.peer_python or sys.executable
    versions = {"breakfix": has(sys.executable, "breakfix") or "dev"}
    tools = ["breakfix"]
    for peer in PEERS:
        v = has(peer_python, peer)
        if v is None:
            print(f"note: {peer} is not installed for {peer_python}; skipped (see --peer-python)")
        else:
            versions[peer] = v
            tools.append(peer)

    rows: list[dict] = []
    with LoopbackServer(latency=LATENCY, process=True) as srv:
        for c in args.concurrency:
            n = max(20, args.n // 10) if c == 1 else args.n
            for tool in tools:
                if tool == "garak" and c > args.garak_max_concurrency:
                    print(f"note: garak skipped at c={c} (one process per parallel attempt; "
                          f"--garak-max-concurrency {args.garak_max_concurrency})")
                    continue
                python = sys.executable if tool == "breakfix" else peer_python
                got = run_driver(python, tool, srv.base_url, c, n)
                if isinstance(got, str):
                    print(f"note: {got}")
                    continue
                row = {"tool": tool, "version": versions[tool], "concurrency": c, "planned": n, **got,
                       "per_s": got["n"] / got["wall_s"], "cpu_ms_per_attempt": 1000 * got["cpu_s"] / max(got["n"], 1)}
                rows.append(row)
                print(f"c={c:>4} {tool:>9}: {row['per_s']:8.1f}/s  cpu {row['cpu_ms_per_attempt']:7.2f} ms/attempt"
                      f"  ({got['n']}/{n} answered)", flush=True)

    base = {r["concurrency"]: r for r in rows if r["tool"] == "breakfix"}
    print(f"\n{'tool':>9} {'version':>8} {'conc':>5} {'N':>6} {'attempts/s':>11} {'cpu ms/att':>11} "
          f"{'rate vs bf':>10} {'cpu vs bf':>10}")
    for r in rows:
        b = base.get(r["concurrency"])
        rr = f"{r['per_s'] / b['per_s']:.2f}x" if b else "-"
        cr = f"{r['cpu_ms_per_attempt'] / b['cpu_ms_per_attempt']:.2f}x" if b else "-"
        r["rate_vs_breakfix"] = r["per_s"] / b["per_s"] if b else None
        r["cpu_vs_breakfix"] = r["cpu_ms_per_attempt"] / b["cpu_ms_per_attempt"] if b else None
        print(f"{r['tool']:>9} {r['version']:>8} {r['concurrency']:>5} {r['planned']:>6} {r['per_s']:>11.1f} "
              f"{r['cpu_ms_per_attempt']:>11.2f} {rr:>10} {cr:>10}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "peers", "latency_s": LATENCY, "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "cpus": os.cpu_count(), "load_avg": os.getloadavg()},
        "versions": versions, "rows": rows}, indent=2), encoding="utf-8")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()

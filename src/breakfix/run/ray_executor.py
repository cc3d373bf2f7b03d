"""The Ray executor: one run's plan split into shards (target × block of items) for Ray actors.

``breakfix run CONFIG --executor ray [--address ADDR]``. The single-machine default stays the
asyncio engine; this runs the same engine (:class:`~breakfix.run.engine.RunEngine`) once per
shard, inside long-lived Ray actors, all writing to the same store::

    driver ─ run row, plan size, stored ids ─► shards (target T, items i..j), in config order,
      │        handed to idle workers, preferring one that already built T (a model loads once)
      │
      │      ┌─ worker actor 1 ──────────────────────────────────┐
      ├─────►│ components of T built once, kept (model, batcher)  │── attempts ──► store
      │      │ RunEngine with leases on the shard's attempts      │    (SQLite file or PostgreSQL)
      │      └────────────────────────────────────────────────────┘
      ├─────► worker actor 2 … N (the same)
      └─ RateBudget actor: every worker's rpm slots for an API target (run/shared_limit.py)

* **Once per id**: workers claim attempts through the store's leases (run/lease.py) before they
  send them, and attempt ids are deterministic, so a shard retried after its worker died, a rerun,
  or a second driver on the same run does only what is not stored.
* **A dead worker** (node lost, OOM, ``ray.kill``): its shard goes to a fresh worker, at most
  ``max_failures`` times per run; after that the run ends ``interrupted`` and a rerun finishes it.
  Attempts the dead worker held are taken over at once on its own machine (its pid is gone), else
  when its leases expire (``$BREAKFIX_LEASE_TTL``, 120 s).
* **Workers need** breakfix (with the config's extras) installed on every node and a store every
  node can open: a PostgreSQL URL on a cluster, a SQLite file only when all workers share one
  machine. The items travel with the shards (the item files need not exist on the workers); local
  model checkpoints must be at the config's path on every node.
"""

from __future__ import annotations

import math
import os
import socket
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from ..core.db import mask_url, sqlite_path
from ..core.errors import BreakfixError
from ..core.extras import MissingExtraError
from ..core.items import Item
from ..store import Store
from .config import RunConfig
from .engine import RunEngine, RunOutcome
from .lease import Leases
from .plan import Components, build_components, iter_plan, plan_size
from .progress import RunProgress
from .shared_limit import NAMESPACE, RateBudget, share_budget

RAY_EXTRA = "pip install 'breakfix[ray]'"


class RayExecutorError(BreakfixError):
    """The Ray executor cannot run: no cluster at the address, a store workers cannot open, too few CPUs."""


@dataclass
class RayRunOutcome(RunOutcome):
    """A run's outcome plus what the Ray executor did."""

    workers: int = 0
    shards: int = 0
    by_worker: dict[int, int] = field(default_factory=dict)  # attempts stored per worker index
    worker_failures: int = 0
    worker_stats: dict[int, dict[str, Any]] = field(default_factory=dict)  # ShardWorker.stats() at the end


def import_ray() -> Any:
    """``ray``, or one line naming the extra that installs it."""
    try:
        import ray
    except ImportError as exc:  # ModuleNotFoundError, or a broken install
        raise MissingExtraError(f"--executor ray needs Ray ({type(exc).__name__}: {exc}); "
                                f"install it with: {RAY_EXTRA}") from None
    return ray


def connect(ray: Any, address: str | None, *, num_cpus: int | None = None) -> bool:
    """Connect to the Ray cluster at ``address`` (or start a local one); True if we started it.

    An address of ``HOST:PORT`` or ``ray://HOST:PORT`` is checked with a plain TCP connection
    first, so a wrong address fails in seconds with one line instead of Ray's long retry loop.
    """
    if ray.is_initialized():
        return False  # a notebook or a test already connected: use that cluster
    kw: dict[str, Any] = {"namespace": NAMESPACE, "log_to_driver": False, "logging_level": "ERROR"}
    if address and address != "auto":
        _check_reachable(address)
    try:
        if address:
            ray.init(address=address, **kw)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, **kw)
    except (ConnectionError, RuntimeError, TimeoutError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise RayExecutorError(f"--address {address}: cannot connect to a Ray cluster ({first}); "
                               "start one with `ray start --head` or leave out --address "
                               "to run on a local Ray instance") from None
    return True


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port_text = rest.rstrip("/").rpartition(":")
    if not sep or not port_text.isdigit():
        raise RayExecutorError(f"--address {address}: expected HOST:PORT (the head node's GCS port, "
                               "6379 by default), ray://HOST:PORT or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port_text)), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RayExecutorError(f"--address {address}: no Ray cluster reachable there ({reason}); start one "
                               "with `ray start --head` on that machine, or leave out --address to run "
                               "on a local Ray instance") from None


def worker_store_url(url: str) -> str:
    """The store URL as every worker must see it: a SQLite file by its absolute path."""
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is None:
            raise RayExecutorError(f"store {mask_url(url)}: the Ray executor's workers write from their own "
                                   "processes; use a SQLite file or a PostgreSQL URL, not an in-memory database")
        query = url.split("?", 1)[1] if "?" in url else ""
        return f"sqlite:///{path.resolve()}" + (f"?{query}" if query else "")
    return url


@dataclass(frozen=True)
class Shard:
    """A block of the plan: target ``target``, items ``lo`` up to (not including) ``hi``."""

    target: str
    lo: int
    hi: int


def make_shards(target_names: list[str], n_items: int, workers: int, block: int | None = None) -> list[Shard]:
    """Target × item-block shards; by default two blocks per worker and target (a worker that ends
    early takes another block, while a block stays big enough that the engine's pool stays full)."""
    if n_items == 0:
        return []
    size = block or max(1, math.ceil(n_items / (2 * max(1, workers))))
    return [Shard(t, lo, min(n_items, lo + size)) for t in target_names for lo in range(0, n_items, size)]


class ShardWorker:
    """One Ray worker: builds a target's components once and runs shards of it with the engine.

    Args:
        cfg: the run config.
        items: the run's items (shards are slices of this list).
        run_id: the run.
        url: the store (every worker opens its own connection pool).
        concurrency: attempts in flight in this worker.
        budget: the run's :class:`RateBudget` actor (rate limits shared by every worker).
    """

    def __init__(self, cfg: RunConfig, items: list[Item], run_id: str, url: str, concurrency: int,
                 budget: Any) -> None:
        self.cfg = cfg
        self.items = items
        self.run_id = run_id
        self.store = Store(url)
        self.concurrency = concurrency
        self.budget = budget
        self.built: dict[str, tuple[RunConfig, Components]] = {}
        self.builds: Counter[str] = Counter()
        self.engine: RunEngine | None = None

    def pid(self) -> int:
        return os.getpid()

    def components(self, target: str) -> tuple[RunConfig, Components]:
        """The config limited to ``target`` and its components, built on first use and kept: a local
        model loads once per worker and its batcher serves every later shard."""
        if target not in self.built:
            spec = next(t for t in self.cfg.targets if t.name == target)
            sub = self.cfg.model_copy(update={"targets": [spec]})
            comps = build_components(sub)
            share_budget([*comps.targets.values(), *comps.extra_targets], self.budget, self.run_id)
            self.built[target] = (sub, comps)
            self.builds[target] += 1
        return self.built[target]

    async def run_shard(self, shard: Shard, done: list[str]) -> tuple[int, int, int, bool]:
        """Run the attempts of ``shard`` not in ``done`` (claimed through leases); returns
        (written, errors, successes, interrupted)."""
        sub, comps = self.components(shard.target)
        for t in (*comps.targets.values(), *comps.extra_targets):
            await t.warm()  # a fresh worker's first request must not pay for its HTTP client inside a rate slot
        engine = RunEngine(self.store, self.run_id, comps, concurrency=self.concurrency, progress=False,
                           leases=Leases(self.store.engine, self.run_id))
        self.engine = engine
        plan = iter_plan(sub, self.items[shard.lo:shard.hi], self.run_id, comps.attacks, comps.chains)
        try:
            return await engine.run(plan, total=0, done=set(done))
        finally:
            self.engine = None

    def stats(self) -> dict[str, Any]:
        """What this worker built and how its local models batched (for the outcome and tests)."""
        out: dict[str, Any] = {"pid": os.getpid(), "targets": {}}
        for name, (_, comps) in self.built.items():
            t = comps.targets[name]
            sizes = list(getattr(t, "batch_sizes", []) or [])
            out["targets"][name] = {"builds": self.builds[name], "batches": len(sizes),
                                    "max_batch": max(sizes, default=0), "requests": sum(sizes)}
        local = sys.modules.get("breakfix.targets._local_models")
        out["models_loaded"] = len(local.loaded_keys()) if local is not None else 0
        return out

    def stop(self) -> None:
        """Stop the shard in progress: nothing new starts, what finished is stored (Ctrl-C)."""
        if self.engine is not None:
            self.engine.request_stop()

    async def close(self) -> None:
        for _, comps in self.built.values():
            await comps.aclose()
        self.store.close()


def _worker_name(run_id: str, index: int, generation: int) -> str:
    return f"breakfix-{run_id[:12]}-worker-{index}" + (f"-{generation}" if generation else "")


def budget_name(run_id: str) -> str:
    return f"breakfix-{run_id[:12]}-rate"


def run_on_ray(cfg: RunConfig, store: Store, *, address: str | None = None, workers: int | None = None,
               concurrency: int | None = None, progress: bool = True, block: int | None = None,
               gpus_per_worker: float = 0.0, max_failures: int = 3) -> RayRunOutcome:
    """Run (or resume) ``cfg`` on Ray: shards of the plan on ``workers`` actors, results in ``store``.

    Args:
        cfg: the validated run config.
        store: the driver's store (its URL is what workers open).
        address: Ray cluster address (``HOST:PORT``, ``ray://HOST:PORT``, ``auto``); None: the cluster
            this process is connected to, else a new local one.
        workers: worker actors (default: the cluster's CPUs, at most one per shard).
        concurrency: attempts in flight per worker (default: the config's).
        progress: draw a progress bar (stored attempts, polled from the store).
        block: items per shard (default: two blocks per worker and target).
        gpus_per_worker: GPUs each worker reserves (local models on a GPU cluster: 1).
        max_failures: dead workers replaced (their shard redone) before the run stops as interrupted.

    Returns:
        The outcome (``finished`` when every planned attempt is stored).
    """
    ray = import_ray()
    url = worker_store_url(store.url)
    t0 = time.perf_counter()
    items = cfg.load_items()
    run_id = cfg.run_id(items)
    planning = build_components(cfg)  # attacks and chains give the ids; targets are not used here
    try:
        total = plan_size(cfg, items, planning.attacks)
        started = connect(ray, address, num_cpus=workers)
        try:
            n_workers = _placeable(ray, workers, gpus_per_worker)
            store.create_run(cfg.name, cfg.model_dump(mode="json", exclude={"base_dir"}), run_id=run_id)
            store.add_items(run_id, items)
            stored = store.done_attempt_ids(run_id)
            return _drive(ray, cfg, store, url, items, run_id, planning, total, stored, workers=n_workers,
                          concurrency=concurrency or cfg.concurrency, progress=progress, block=block,
                          gpus=gpus_per_worker, max_failures=max_failures, t0=t0)
        finally:
            if started:
                ray.shutdown()
    finally:
        _close(planning)


def _close(components: Components) -> None:
    import asyncio

    asyncio.run(components.aclose())


def _shard_done(cfg: RunConfig, items: list[Item], run_id: str, planning: Components, shards: list[Shard],
                stored: set[str]) -> tuple[dict[Shard, list[str]], dict[Shard, int]]:
    """Per shard: the ids already stored, and the attempts left."""
    done: dict[Shard, list[str]] = {s: [] for s in shards}
    left: Counter[Shard] = Counter()
    index = {id(it): i for i, it in enumerate(items)}
    by_key = {(s.target, lo): s for s in shards for lo in range(s.lo, s.hi)}
    for p in iter_plan(cfg, items, run_id, planning.attacks, planning.chains):
        s = by_key[(p.target, index[id(p.item)])]
        if p.id in stored:
            done[s].append(p.id)
        else:
            left[s] += 1
    return done, dict(left)


def _placeable(ray: Any, workers: int | None, gpus: float) -> int:
    """The number of workers (default: one per CPU); actors the cluster cannot place would wait
    forever, so too many is one line now."""
    have = ray.cluster_resources()
    cpus, n_gpus = int(have.get("CPU", 0)), float(have.get("GPU", 0))
    n_workers = workers or max(1, cpus)
    if n_workers > max(1, cpus):
        raise RayExecutorError(f"--workers {n_workers}: the Ray cluster has {cpus} CPUs (one per worker); "
                               "use fewer workers or a bigger cluster")
    if gpus and n_workers * gpus > n_gpus:
        raise RayExecutorError(f"--gpus-per-worker {gpus:g} × {n_workers} workers: the Ray cluster has "
                               f"{n_gpus:g} GPUs; use fewer workers (--workers) or fewer GPUs per worker")
    return n_workers


def _drive(ray: Any, cfg: RunConfig, store: Store, url: str, items: list[Item], run_id: str,
           planning: Components, total: int, stored: set[str], *, workers: int, concurrency: int,
           progress: bool, block: int | None, gpus: float, max_failures: int, t0: float) -> RayRunOutcome:
    n_workers = workers
    shards = make_shards([t.name for t in cfg.targets], len(items), n_workers, block)
    if stored:
        done_by, left = _shard_done(cfg, items, run_id, planning, shards, stored)
    else:
        done_by, left = {s: [] for s in shards}, {s: 1 for s in shards}
    n_done = sum(len(v) for v in done_by.values())
    todo = deque(s for s in shards if left.get(s, 0) > 0)
    n_workers = min(n_workers, len(todo))
    before = store.get_run(run_id)
    store.set_run_status(run_id, "running", planned=total)
    status = "failed"
    failures = 0
    by_worker: Counter[int] = Counter()
    worker_stats: dict[int, dict[str, Any]] = {}
    try:
        with RunProgress(total, done=n_done, errors=before.errors if before else 0,
                         successes=before.successes if before else 0, enabled=progress) as bar:
            failures, stopped = _dispatch(ray, todo, n_workers, by_worker, worker_stats, bar, store, cfg, items,
                                          run_id, url,
                                          done_by, concurrency=concurrency, gpus=gpus, max_failures=max_failures)
        status = "interrupted" if stopped else "finished"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        store.set_run_status(run_id, status)
    after = store.get_run(run_id)
    # What this invocation stored, from the store itself: a worker killed mid-shard never reports
    # the attempts it did store.
    d = {k: (getattr(after, k) if after else 0) - (getattr(before, k) if before else 0)
         for k in ("attempts", "errors", "successes")}
    return RayRunOutcome(run_id=run_id, planned=total, done_before=n_done, written=d["attempts"],
                         errors=d["errors"], successes=d["successes"], status=status,
                         elapsed_s=time.perf_counter() - t0, workers=n_workers, shards=len(shards),
                         by_worker=dict(by_worker), worker_failures=failures, worker_stats=worker_stats)


def _dispatch(ray: Any, todo: deque[Shard], n_workers: int, by_worker: Counter[int],
              worker_stats: dict[int, dict[str, Any]], bar: RunProgress,
              store: Store, cfg: RunConfig, items: list[Item], run_id: str, url: str,
              done_by: dict[Shard, list[str]], *, concurrency: int, gpus: float,
              max_failures: int) -> tuple[int, bool]:
    """Hand shards to worker actors until none is left; returns (dead workers, run left unfinished)."""
    from ray.exceptions import RayActorError, RayTaskError

    if not todo:
        return 0, False
    budget = ray.remote(RateBudget).options(name=budget_name(run_id), namespace=NAMESPACE, get_if_exists=True,
                                            num_cpus=0, max_concurrency=1).remote()
    actor_cls = ray.remote(ShardWorker)
    items_ref = ray.put(items)
    generation: Counter[int] = Counter()
    resources: dict[str, Any] = {"num_cpus": 1, **({"num_gpus": gpus} if gpus else {})}

    def spawn(i: int) -> Any:
        return actor_cls.options(name=_worker_name(run_id, i, generation[i]), namespace=NAMESPACE,
                                 max_restarts=0, **resources).remote(cfg, items_ref, run_id, url, concurrency,
                                                                     budget)

    actors = {i: spawn(i) for i in range(n_workers)}
    has: dict[int, set[str]] = {i: set() for i in actors}  # targets each worker has built
    running: dict[Any, tuple[int, Shard]] = {}
    failures = 0
    unfinished = False
    base = store.count_attempts(run_id)
    shown = 0

    def pick(i: int) -> Shard | None:
        # A shard of a target this worker already built (its model is loaded); else of a target no
        # worker holds yet; else help with a target only while it has more shards queued than
        # workers holding it (loading a model for the last shard costs more than it saves).
        own = next((s for s in todo if s.target in has[i]), None)
        if own is not None:
            return own
        holders = Counter(t for j in actors for t in has[j])
        fresh = next((s for s in todo if holders[s.target] == 0), None)
        if fresh is not None:
            return fresh
        queued = Counter(s.target for s in todo)
        return next((s for s in todo if queued[s.target] > holders[s.target]), None)

    def assign() -> None:
        busy = {i for i, _ in running.values()}
        for i in actors:
            if i in busy or not todo:
                continue
            shard = pick(i)
            if shard is None:
                continue
            todo.remove(shard)
            has[i].add(shard.target)
            running[actors[i].run_shard.remote(shard, done_by.get(shard, []))] = (i, shard)

    try:
        assign()
        while running:
            ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
            for ref in ready:
                i, shard = running.pop(ref)
                try:
                    written, errors, successes, stopped = ray.get(ref)
                except RayActorError:
                    failures += 1
                    if failures > max_failures:
                        unfinished = True  # the shard stays undone; a rerun does it
                        del actors[i]
                        continue
                    todo.appendleft(shard)  # a fresh worker redoes what the dead one did not store
                    generation[i] += 1
                    actors[i], has[i] = spawn(i), set()
                    continue
                except RayTaskError as exc:
                    cause = getattr(exc, "cause", None)
                    # A store failure inside a worker: the CLI says it in one line.
                    raise (cause if isinstance(cause, BaseException) else exc) from None
                by_worker[i] += written
                unfinished = unfinished or stopped
                bar.advance(0, errors=errors, successes=successes)
            assign()
            now = store.count_attempts(run_id) - base
            if now > shown:
                bar.advance(now - shown)
                shown = now
    except KeyboardInterrupt:
        # Ctrl-C: like the asyncio engine, stop scheduling, keep what finished, end `interrupted`
        # (a second Ctrl-C while the workers wind down is let through).
        for a in actors.values():
            a.stop.remote()  # what finished is stored; in-flight attempts are redone on resume
        if running:
            ray.wait(list(running), num_returns=len(running), timeout=30)
        return failures, True
    finally:
        stats = {i: a.stats.remote() for i, a in actors.items()}
        try:
            worker_stats.update(zip(stats, ray.get(list(stats.values()), timeout=30)))
        except Exception:  # noqa: BLE001 - statistics never fail a run
            pass
        closing = [a.close.remote() for a in actors.values()]
        if closing:
            ray.wait(closing, num_returns=len(closing), timeout=30)
        for a in [*actors.values(), budget]:
            ray.kill(a)
    return failures, unfinished or bool(todo)

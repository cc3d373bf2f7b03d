"""The run engine: executes a plan with a bounded pool of asyncio workers and stores every attempt.

How a run flows::

    plan (generator) ─► producer ─► bounded queue ─► N workers ─► results queue ─► writer ─► store
                          skips ids already stored      attack + scorers            one transaction
                                                                                   per batch drained

* **Bounded**: ``concurrency`` workers pull from a queue of at most ``2 × concurrency`` planned
  attempts, so a 100,000-attempt plan never becomes 100,000 tasks or objects.
* **Written as it finishes, in groups**: the writer commits finished attempts in one transaction
  per batch (a group commit). A batch is committed once it holds a quarter of the concurrency but
  at least ``min(16, concurrency)`` attempts (``batch_fill``), or ``LINGER_S`` after its first
  attempt finished, whichever comes first. A crash loses at most the attempts in flight and
  ``batch_fill(concurrency)`` finished ones (never more than the concurrency) — never a
  committed one.
* **Resumable**: attempt ids are deterministic; on start the stored ids are skipped, so a run
  interrupted by Ctrl-C or ``kill -9`` does only what is missing when started again.
* **Nothing crashes a run but the store**: an attack or target error is recorded on its attempt, a
  scorer exception becomes an ``error`` score. Only a failing database stops the run (and marks it
  ``failed``), because then nothing could be kept anyway.
* **Ctrl-C** (SIGINT, or SIGTERM): stop scheduling, cancel the attempts in flight (they are redone
  on resume), write what has finished, mark the run ``interrupted``.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from ..attacks.base import AttackContext
from ..core.attempts import Attempt
from ..core.messages import Response
from ..core.scores import Score
from ..scorers.base import Scorer
from ..store import PreparedAttempts, Store
from .config import RunConfig
from .items import ItemStream
from .lease import Leases, claim_batch, claimed_attempts, heartbeat
from .plan import Components, PlannedAttempt, build_components, iter_plan, plan_size
from .progress import RunProgress

# At most this many finished attempts per transaction: big enough to amortise a commit, small
# enough that one transaction never holds the database for long.
MAX_BATCH = 512
# How long the writer waits for a batch to fill before committing what it has, and how often it looks.
LINGER_S = 0.25
LINGER_POLL_S = 0.005
# Objects allocated (net) between two young-generation collections while a run executes; Python's
# default is 700. See ``fewer_collections``.
GC_GEN0_DURING_RUN = 20_000


def batch_fill(concurrency: int) -> int:
    """Finished attempts the writer waits for (at most ``LINGER_S``) before it commits a batch:
    a quarter of the concurrency, at least ``min(16, concurrency)``.

    At concurrency 16 a quarter was 4 attempts per transaction, and the writer thread's SQLite work
    (~0.8 ms per transaction) was the largest engine-only cost; the floor is capped at the
    concurrency so a crash never loses more finished attempts than there are in flight."""
    return min(MAX_BATCH, max(min(16, concurrency), concurrency // 4))


@dataclass
class RunOutcome:
    """What one invocation of a run did."""

    run_id: str
    planned: int
    done_before: int  # already stored when this invocation started
    written: int  # stored by this invocation
    errors: int  # of those written, attempts whose request failed
    successes: int  # of those written, attempts an objective scorer judged successful
    status: str  # finished | interrupted
    elapsed_s: float

    @property
    def done(self) -> int:
        return self.done_before + self.written

    @property
    def rate(self) -> float:
        """Attempts stored per second by this invocation."""
        return self.written / self.elapsed_s if self.elapsed_s > 0 else 0.0


class RunEngine:
    """Executes planned attempts against the components of one run and stores the results.

    Args:
        store: where attempts are written (passed in: no global store).
        run_id: the run the attempts belong to.
        components: the run's plugin objects.
        concurrency: attempts in flight at once (per-target limits live in the targets' limits layer).
        progress: draw a progress bar.
        leases: claim attempts before sending them (run/lease.py), so several processes on the
            same run split its work; None: this process does every attempt it finds missing.
    """

    def __init__(self, store: Store, run_id: str, components: Components, *, concurrency: int = 8,
                 progress: bool = True, leases: Leases | None = None) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.store = store
        self.run_id = run_id
        self.c = components
        self.concurrency = concurrency
        self.show_progress = progress
        self.leases = leases
        self.stop_event: asyncio.Event | None = None

    def request_stop(self) -> None:
        """Stop scheduling; what has finished is written, what is in flight is dropped."""
        if self.stop_event is not None:
            self.stop_event.set()

    # -- one attempt -------------------------------------------------------------------------------
    async def run_one(self, p: PlannedAttempt) -> Attempt:
        """Execute one planned attempt (attack, then every scorer). Never raises for an attack,
        target or scorer failure: those are recorded on the attempt."""
        ap = self.c.attacks[p.attack]
        chain = self.c.chains[p.chain]
        ctx = AttackContext(item=p.item, target=self.c.targets[p.target], converters=chain.converters,
                            scorer=ap.objective, attacker=ap.attacker)
        t0 = time.perf_counter()
        md: dict[str, Any] = {"category": p.item.category, "language": p.item.language, "kind": p.item.kind,
                              "repeat": p.repeat,
                              # judges score against the item's objective, not the converted last message
                              "objective": p.item.objective}
        if chain.specs:
            md["converter_specs"] = chain.specs
        try:
            res = await ap.attack.execute(ctx)
            conversation, response, turns, calls = res.conversation, res.response, res.turns, res.target_calls
            if res.metadata:
                md.update(res.metadata)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - an attack bug is recorded, the run goes on
            conversation, turns, calls = [], [], 0
            response = Response(error=f"attack {ap.label!r} raised {type(exc).__name__}: {exc}"[:2000],
                                latency_s=time.perf_counter() - t0)
        attempt = Attempt(id=p.id, run_id=self.run_id, item_id=p.item.id, attack=ap.label,
                          converters=list(chain.names), target=p.target, conversation=conversation,
                          response=response, turns=turns, target_calls=calls, metadata=md)
        scorers = self.c.scorers
        if len(scorers) == 1:
            attempt.scores = [await _score(scorers[0], attempt)]
        elif scorers:
            attempt.scores = list(await asyncio.gather(*(_score(s, attempt) for s in scorers)))
        return attempt

    # -- the pool ------------------------------------------------------------------------------------
    async def run(self, plan: Iterable[PlannedAttempt], *, total: int, done: set[str],
                  progress_counts: tuple[int, int] = (0, 0)) -> tuple[int, int, int, bool]:
        """Execute every planned attempt whose id is not in ``done``.

        Args:
            plan: the planned attempts (a generator is fine; it is consumed lazily).
            total: planned attempts (for the progress bar).
            done: ids already stored (skipped).
            progress_counts: (errors, successes) already stored, to start the bar's counters.

        Returns:
            (written, errors, successes, interrupted) of this invocation.
        """
        self.stop_event = stop = asyncio.Event()
        todo: asyncio.Queue[PlannedAttempt | None] = asyncio.Queue(maxsize=2 * self.concurrency)
        # Bounded too: if the database is slow, workers wait instead of piling up finished attempts
        # (which a crash would lose).
        finished: asyncio.Queue[Attempt | None] = asyncio.Queue(maxsize=MAX_BATCH)
        counts = {"written": 0, "errors": 0, "successes": 0}
        n_done = len(done)

        plan_error: list[Exception] = []

        async def produce() -> None:
            try:
                if self.leases is not None:
                    # Claimed in batches before they are sent; waits for other workers' attempts
                    # to be stored or their leases to expire (then takes them over).
                    async for p in claimed_attempts(plan, self.leases, done=done, stop=stop,
                                                    batch=claim_batch(self.concurrency)):
                        await todo.put(p)
                else:
                    for p in plan:
                        if stop.is_set():
                            break
                        if p.id in done:
                            continue
                        await todo.put(p)
            except Exception as exc:  # noqa: BLE001 - re-raised once the work in flight is stored
                # The plan itself failed (its items file changed under the run, the database
                # refused a claim): nothing new starts, but what is queued and in flight finishes
                # and is written before the error stops the run.
                plan_error.append(exc)
            for _ in range(self.concurrency):
                await todo.put(None)

        async def work() -> None:
            while True:
                p = await todo.get()
                if p is None:
                    return
                await finished.put(await self.run_one(p))

        # Group commit: a transaction costs ~1 ms of CPU whatever its size (measured: 1.45 ms per
        # attempt at one attempt per commit, 0.25 ms at 32), so the writer lets a batch fill up to
        # a quarter of the concurrency, and to at least min(16, concurrency) attempts, waiting at
        # most LINGER_S after its first attempt finished. A crash then loses at most that many
        # finished attempts on top of those in flight (never more than the concurrency: a floor of
        # 16 at concurrency 4 held four times the attempts in flight, and was reverted).
        fill = batch_fill(self.concurrency)
        loop = asyncio.get_running_loop()

        async def write(bar: RunProgress) -> None:
            end = False
            while not end:
                first = await finished.get()
                if first is None:
                    return
                batch = [first]
                deadline = loop.time() + LINGER_S
                while True:
                    while len(batch) < MAX_BATCH:
                        try:
                            a = finished.get_nowait()
                        except asyncio.QueueEmpty:
                            break
                        if a is None:
                            end = True
                            break
                        batch.append(a)
                    left = deadline - loop.time()
                    if end or len(batch) >= fill or left <= 0:
                        break
                    await asyncio.sleep(min(left, LINGER_POLL_S))
                # The database call runs in a thread so the workers keep the targets busy meanwhile;
                # its rows are built here first, so that thread holds the GIL as little as possible.
                await asyncio.to_thread(self._write, self.store.prepare_attempts(batch))
                errors = sum(1 for a in batch if a.response.error is not None)
                # A benign item's 'success' is a helpful answer, never an attack success (over-refusal is its rate).
                successes = sum(1 for a in batch if a.success and a.metadata.get("kind") != "benign")
                counts["written"] += len(batch)
                counts["errors"] += errors
                counts["successes"] += successes
                bar.advance(len(batch), errors=errors, successes=successes)

        with RunProgress(total, done=n_done, errors=progress_counts[0], successes=progress_counts[1],
                         enabled=self.show_progress) as bar:
            writer = asyncio.create_task(write(bar), name="breakfix-writer")
            beat = asyncio.create_task(heartbeat(self.leases)) if self.leases is not None else None
            producer = asyncio.create_task(produce(), name="breakfix-producer")
            workers = [asyncio.create_task(work(), name=f"breakfix-worker-{i}") for i in range(self.concurrency)]

            async def all_done() -> None:
                await asyncio.gather(producer, *workers)

            all_work = asyncio.create_task(all_done())
            stopper = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait({all_work, stopper, writer}, return_when=asyncio.FIRST_COMPLETED)
                if writer.done() and writer.exception() is not None:
                    raise writer.exception()  # type: ignore[misc]
                if not all_work.done():
                    # Interrupted: nothing new starts; attempts in flight are dropped (redone on resume).
                    for t in (producer, *workers):
                        t.cancel()
                    await asyncio.gather(all_work, producer, *workers, return_exceptions=True)
                else:
                    all_work.result()  # a bug in a worker surfaces here, not silently
                await finished.put(None)
                await writer
                if plan_error:
                    raise plan_error[0]
            except BaseException:
                for t in (producer, *workers, writer, all_work):
                    t.cancel()
                await asyncio.gather(all_work, producer, *workers, writer, return_exceptions=True)
                raise
            finally:
                stopper.cancel()
                if beat is not None:
                    beat.cancel()
                    # What we claimed but did not store (interrupted, cancelled) is free at once.
                    await asyncio.to_thread(self.leases.release)  # type: ignore[union-attr]
        if self.leases is not None:
            # With leases the producer returns only when every planned attempt is stored (by any
            # worker), so only a stop leaves the run unfinished.
            return counts["written"], counts["errors"], counts["successes"], stop.is_set()
        interrupted = stop.is_set() and counts["written"] + len(done) < total
        return counts["written"], counts["errors"], counts["successes"], interrupted


    def _write(self, batch: PreparedAttempts) -> None:
        # Leases of stored attempts are not dropped here (one more transaction per batch): a claim
        # skips stored attempts anyway, and the worker drops all of its leases when it stops.
        self.store.write_attempts(batch)


async def _score(scorer: Scorer, attempt: Attempt) -> Score:
    """Run one scorer; an exception becomes an ``error`` score naming the scorer, never a crash."""
    try:
        return await scorer.score(attempt)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001
        return Score(scorer=getattr(scorer, "name", type(scorer).__name__),
                     scorer_version=str(getattr(scorer, "version", "1")), label="error", value=None,
                     rationale=f"scorer raised {type(exc).__name__}: {exc}"[:2000])


_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, ...] = ()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the young-generation GC threshold to ``GC_GEN0_DURING_RUN`` while the block runs,
    and put the caller's thresholds back after it (nested and concurrent runs share one raise).

    Why: an attempt allocates ~100 container objects net (HTTP client, models, rows), so with the
    default threshold of 700 a collection runs every ~7 attempts, and every 10th/100th of those
    walks the older generations of a heap that holds the run's items, SQLAlchemy and pydantic —
    0.3 ms of CPU per attempt at concurrency 64 and 0.6 ms at 256 (``gc.callbacks``; a bare httpx
    client spends 0.15 ms). The young generation is mostly the attempts in flight, garbage soon,
    so fewer, larger collections cost less; the older generations keep their ratios, so full
    collections still happen, just ~30x less often. Garbage is collected all the same."""
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gen0, *older = _gc_saved
            if gen0:  # 0 means the caller disabled automatic collection: leave it so
                gc.set_threshold(max(gen0, GC_GEN0_DURING_RUN), *older)
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0:
                gc.set_threshold(*_gc_saved)


async def execute(cfg: RunConfig, store: Store, *, progress: bool = True, concurrency: int | None = None,
                  handle_signals: bool = True, lease: bool = True) -> RunOutcome:
    """Run (or resume) the run a config describes, writing every attempt to ``store``.

    Args:
        cfg: the validated run config.
        store: where results go (the config's ``store`` is the caller's business).
        progress: draw a progress bar on stderr.
        concurrency: override the config's concurrency.
        handle_signals: turn SIGINT/SIGTERM into a clean stop (main thread only).
        lease: claim attempts before sending them (run/lease.py), so other processes running the
            same config split the work instead of repeating it.

    Returns:
        The outcome; ``status`` is ``finished`` when every planned attempt is stored, else
        ``interrupted``.
    """
    with fewer_collections():
        return await _execute(cfg, store, progress=progress, concurrency=concurrency,
                              handle_signals=handle_signals, lease=lease)


async def _execute(cfg: RunConfig, store: Store, *, progress: bool, concurrency: int | None,
                   handle_signals: bool, lease: bool) -> RunOutcome:
    t0 = time.perf_counter()
    # A run of many items reads them from their files again on every pass instead of holding
    # them (run/items.py; a small one keeps them), so its memory does not grow with its plan.
    # This first pass yields what the set-up needs.
    items = ItemStream(cfg)
    ids, languages = items.scan()
    run_id = cfg.run_id(ids)
    del ids
    components = build_components(cfg)
    total = plan_size(cfg, languages, components.attacks)
    store.create_run(cfg.name, cfg.model_dump(mode="json", exclude={"base_dir"}), run_id=run_id)
    store.add_items(run_id, items)
    engine = RunEngine(store, run_id, components, concurrency=concurrency or cfg.concurrency, progress=progress,
                       leases=Leases(store.engine, run_id) if lease else None)
    info = store.get_run(run_id)
    stored = store.done_attempt_ids(run_id)
    # Only ids of this plan count as done (a stored attempt from an older plugin version whose id
    # changed is kept but redone).
    done: set[str] = set()
    if stored:  # a fresh run skips this pass over the plan (hashing every id twice)
        # (filtered as it goes: the plan's ids are never all in memory, only the stored ones)
        done = {pid for p in iter_plan(cfg, items, run_id, components.attacks, components.chains)
                if (pid := p.id) in stored}
    store.set_run_status(run_id, "running", planned=total)
    loop = asyncio.get_running_loop()
    installed: list[int] = []

    def on_signal(sig: int) -> None:
        engine.request_stop()
        # A second Ctrl-C while in-flight work winds down is the user insisting: let it through.
        if sig in installed:
            loop.remove_signal_handler(sig)
            installed.remove(sig)

    if handle_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, on_signal, sig)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread / platform
                pass
    status = "failed"
    written = errors = successes = 0
    try:
        written, errors, successes, interrupted = await engine.run(
            iter_plan(cfg, items, run_id, components.attacks, components.chains), total=total, done=done,
            progress_counts=(info.errors, info.successes) if info else (0, 0))
        status = "interrupted" if interrupted or (not lease and len(done) + written < total) else "finished"
    except (KeyboardInterrupt, asyncio.CancelledError):
        status = "interrupted"
        raise
    finally:
        for installed_sig in installed:
            loop.remove_signal_handler(installed_sig)
        store.set_run_status(run_id, status)
        await components.aclose()
    return RunOutcome(run_id=run_id, planned=total, done_before=len(done), written=written, errors=errors,
                      successes=successes, status=status, elapsed_s=time.perf_counter() - t0)


def run_config(cfg: RunConfig, store: Store, **kw: Any) -> RunOutcome:
    """Synchronous wrapper of :func:`execute` (for the CLI and scripts)."""
    return asyncio.run(execute(cfg, store, **kw))

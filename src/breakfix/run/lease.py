"""Work leasing: several ``breakfix run`` processes on one run split its attempts.

Before an attempt is sent, its worker claims it in the ``leases`` table (one row per attempt id,
with an owner and an expiry). A claim succeeds for an attempt that is not stored yet and has no
lease, or whose lease has expired (its worker died) or is already ours. While a worker runs, a
heartbeat extends its leases; once an attempt is stored its lease row is deleted.

* **PostgreSQL**: existing lease rows are read with ``SELECT … FOR UPDATE SKIP LOCKED`` (a row
  another worker is claiming right now is simply not ours this round), new ones are inserted with
  ``ON CONFLICT DO NOTHING … RETURNING`` (what comes back is what we got).
* **SQLite**: the claim is one ``BEGIN IMMEDIATE`` transaction (the database's one writer lock), so
  claims of different processes are serialised; the primary key on ``attempt_id`` still refuses
  a second row for the same attempt.

Claims go in batches (one transaction for many attempts), so leasing costs a few statements per
batch, not a round trip per attempt. Expiry uses the workers' clocks (UTC): machines sharing a run
need synchronised clocks (NTP) to within a small fraction of the lease time.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import socket
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, AsyncIterator, Iterable, Sequence

from sqlalchemy import and_, delete, exists, select, update

from ..core.db import begin_write, sqlite_driver_write
from ..store import _schema as S
from .plan import PlannedAttempt

DEFAULT_TTL_S = 120.0
"""Lease lifetime: a dead worker's attempts are taken over this long after its last heartbeat."""


def lease_ttl(value: float | None = None) -> float:
    """The lease time: ``value``, else ``$BREAKFIX_LEASE_TTL`` (seconds), else 120 s."""
    if value is not None:
        return float(value)
    env = os.environ.get("BREAKFIX_LEASE_TTL")
    if env:
        try:
            ttl = float(env)
        except ValueError:
            from ..core.errors import BreakfixError

            raise BreakfixError(f"$BREAKFIX_LEASE_TTL={env!r}: expected a number of seconds") from None
        if ttl > 0:
            return ttl
    return DEFAULT_TTL_S


@dataclass
class Claim:
    """What one claim call found: ids now leased to us, and ids already stored (by anyone)."""

    claimed: set[str]
    stored: set[str]


class Leases:
    """The leases of one worker on one run.

    Args:
        engine: the store's SQLAlchemy engine.
        run_id: the run whose attempts are claimed.
        ttl_s: lease lifetime (see :func:`lease_ttl`).
        owner: this worker's id (host, pid and a random part by default).
    """

    def __init__(self, engine: Any, run_id: str, *, ttl_s: float | None = None, owner: str | None = None) -> None:
        self.engine = engine
        self.run_id = run_id
        self.ttl = timedelta(seconds=lease_ttl(ttl_s))
        self.owner = owner or f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._pg = engine.dialect.name == "postgresql"
        self._sqlite = _SqliteClaims(engine) if engine.dialect.name == "sqlite" and not engine.echo else None

    def claim(self, ids: Sequence[str]) -> Claim:
        """Claim the attempts ``ids`` that nobody stored or holds a live lease on (one transaction)."""
        want = sorted(set(ids))  # one global order: concurrent claims never wait on each other in a cycle
        if not want:
            return Claim(set(), set())
        now = datetime.now(timezone.utc)
        until = now + self.ttl
        if self._sqlite is not None and self._sqlite.usable:
            return self._sqlite.claim(self, want, now, until)
        L = S.leases
        with begin_write(self.engine) as conn:
            stored = set(conn.execute(select(S.attempts.c.id).where(S.attempts.c.id.in_(want))).scalars())
            open_ids = [i for i in want if i not in stored]
            if not open_ids:
                return Claim(set(), stored)
            q = select(L.c.attempt_id, L.c.owner, L.c.expires_at).where(L.c.attempt_id.in_(open_ids))
            if self._pg:
                q = q.with_for_update(skip_locked=True)
            rows = conn.execute(q).all()
            held = {r[0] for r in rows}
            dead: dict[str, bool] = {}
            takeover = [r[0] for r in rows if r[1] == self.owner or _utc(r[2]) <= now
                        or dead.setdefault(r[1], _dead_here(r[1]))]
            if takeover:
                conn.execute(update(L).where(L.c.attempt_id.in_(takeover)).values(
                    owner=self.owner, run_id=self.run_id, expires_at=until))
            fresh = [i for i in open_ids if i not in held]
            got = set(takeover)
            if fresh:
                got |= self._insert(conn, fresh, until)
        return Claim(got, stored)

    def _insert(self, conn: Any, ids: list[str], until: datetime) -> set[str]:
        rows = [{"attempt_id": i, "run_id": self.run_id, "owner": self.owner, "expires_at": until} for i in ids]
        if self._pg:
            # A row SKIP LOCKED hid from us (another worker's claim in progress) conflicts here and
            # is not ours; RETURNING says which rows we did insert.
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(S.leases).on_conflict_do_nothing(index_elements=["attempt_id"]) \
                .returning(S.leases.c.attempt_id)
            return set(conn.execute(stmt, rows).scalars())
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        # Under BEGIN IMMEDIATE no other claim runs in between, so every row goes in.
        conn.execute(sqlite_insert(S.leases).on_conflict_do_nothing(index_elements=["attempt_id"]), rows)
        return set(ids)

    def renew(self) -> int:
        """Extend every lease this worker holds on an attempt not stored yet (the heartbeat);
        returns how many.

        Leases on attempts that are stored are dropped here: the writer leaves them (one more
        statement per batch), and without this the table and this update grew with the run —
        100,000 rows rewritten every heartbeat at the end of a 100,000-attempt run — instead of
        staying the size of the work in flight."""
        until = datetime.now(timezone.utc) + self.ttl
        L = S.leases
        mine = and_(L.c.run_id == self.run_id, L.c.owner == self.owner)
        with begin_write(self.engine) as conn:
            conn.execute(delete(L).where(mine, exists().where(S.attempts.c.id == L.c.attempt_id)))
            res = conn.execute(update(L).where(L.c.owner == self.owner).values(expires_at=until))
        return int(res.rowcount or 0)

    def release(self, ids: Sequence[str] | None = None) -> int:
        """Drop this worker's leases on ``ids`` (their attempts are stored), or all of them (None:
        the worker stops; leases left by a killed worker on attempts it did store go too)."""
        L = S.leases
        cond = L.c.owner == self.owner
        if ids is not None:
            if not ids:
                return 0
            cond = and_(cond, L.c.attempt_id.in_(list(ids)))
        with self.engine.begin() as conn:
            res = conn.execute(delete(L).where(cond))
            if ids is None:
                stored = select(S.attempts.c.id).where(S.attempts.c.run_id == self.run_id).scalar_subquery()
                conn.execute(delete(L).where(L.c.run_id == self.run_id, L.c.attempt_id.in_(stored)))
        return int(res.rowcount or 0)

    def held_by_others(self) -> int:
        """Live leases of other workers on this run (for progress messages and tests)."""
        now = datetime.now(timezone.utc)
        L = S.leases
        with self.engine.connect() as conn:
            return len(conn.execute(select(L.c.attempt_id).where(
                L.c.run_id == self.run_id, L.c.owner != self.owner, L.c.expires_at > now)).all())


_HOST = socket.gethostname()[:30]


class _SqliteClaims:
    """:meth:`Leases.claim` on SQLite through the DB-API: each step one statement whose id list is
    one JSON parameter (``json_each``), instead of SQLAlchemy expanding an ``IN`` list and
    processing an insert parameter set per id. Same statements, same transaction (``BEGIN
    IMMEDIATE``), same stored values (the columns' own bind/result processors). A claim of 64 ids
    took ~1.2-2 ms of CPU, ~45 us per attempt at concurrency 16, in a thread that contends with the
    event loop for the GIL. ``usable`` is False where SQLite lacks ``json_each``."""

    def __init__(self, engine: Any) -> None:
        dialect = engine.dialect
        typ = S.leases.c.expires_at.type.dialect_impl(dialect)
        self.engine = engine
        self.to_db: Any = typ.bind_processor(dialect) or (lambda v: v)
        self.from_db: Any = typ.result_processor(dialect, None) or (lambda v: v)
        self.usable = _has_json_each()

    def claim(self, leases: Leases, want: list[str], now: datetime, until: datetime) -> Claim:
        with sqlite_driver_write(self.engine, "claim leases") as cur:
            return self._claim(cur, leases, want, now, until)

    def _claim(self, cur: Any, leases: Leases, want: list[str], now: datetime, until: datetime) -> Claim:
        dumps = json.dumps
        each = "IN (SELECT value FROM json_each(?))"
        stored = {r[0] for r in cur.execute(f"SELECT id FROM attempts WHERE id {each}", (dumps(want),))}
        open_ids = [i for i in want if i not in stored]
        if not open_ids:
            return Claim(set(), stored)
        rows = cur.execute(f"SELECT attempt_id, owner, expires_at FROM leases WHERE attempt_id {each}",
                           (dumps(open_ids),)).fetchall()
        held = {r[0] for r in rows}
        dead: dict[str, bool] = {}
        owner = leases.owner
        takeover = [r[0] for r in rows if r[1] == owner or _utc(self.from_db(r[2])) <= now
                    or dead.setdefault(r[1], _dead_here(r[1]))]
        expires = self.to_db(until)
        if takeover:
            cur.execute(f"UPDATE leases SET owner = ?, run_id = ?, expires_at = ? WHERE attempt_id {each}",
                        (owner, leases.run_id, expires, dumps(takeover)))
        fresh = [i for i in open_ids if i not in held]
        if fresh:
            # Under BEGIN IMMEDIATE no other claim runs in between, so every row goes in.
            cur.execute("INSERT INTO leases (attempt_id, run_id, owner, expires_at) "
                        "SELECT value, ?, ?, ? FROM json_each(?) WHERE true ON CONFLICT (attempt_id) DO NOTHING",
                        (leases.run_id, owner, expires, dumps(fresh)))
        return Claim(set(takeover) | set(fresh), stored)


@functools.cache
def _has_json_each() -> bool:
    """Whether this process's SQLite library has ``json_each`` (the same library for every
    connection, so asked once, not once per run)."""
    try:
        raw = sqlite3.connect(":memory:")
        try:
            raw.execute("SELECT value FROM json_each('[1]')").fetchall()
        finally:
            raw.close()
        return True
    except sqlite3.Error:
        return False


def _dead_here(owner: str) -> bool:
    """True when ``owner`` was a process on this machine that no longer exists (killed, crashed):
    a rerun after ``kill -9`` takes its attempts over at once instead of waiting for the expiry."""
    host, _, rest = owner.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != _HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # an earlier engine of this very process (its leases are released on exit)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def _utc(dt: datetime) -> datetime:
    # SQLite returns naive datetimes (stored as UTC).
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)



def claim_batch(concurrency: int) -> int:
    """Attempts claimed per transaction: a few queues' worth, so a claim is rare per attempt but a
    worker never sits on much more than it can send soon (its heartbeat keeps those alive)."""
    return min(512, max(16, 4 * concurrency))


async def claimed_attempts(plan: Iterable[PlannedAttempt], leases: Leases, *, done: set[str],
                           stop: asyncio.Event, batch: int,
                           poll_s: float | None = None) -> AsyncIterator[PlannedAttempt]:
    """The planned attempts this worker may send, claimed in batches.

    First one pass over the plan: each batch of attempts not in ``done`` is claimed; what another
    worker holds is remembered. Then, until every remembered attempt is stored (by its holder) or
    claimed by us (its holder died and the lease expired), those are claimed again: after 0.2 s,
    then less often while nothing changes, at most every ``poll_s`` seconds (default: a quarter of
    the lease time, at most 5 s). Stops early when ``stop`` is set.
    """
    pending: dict[str, PlannedAttempt] = {}

    async def claim(chunk: list[PlannedAttempt]) -> list[PlannedAttempt]:
        c = await asyncio.to_thread(leases.claim, [p.id for p in chunk])
        mine = []
        for p in chunk:
            if p.id in c.claimed:
                pending.pop(p.id, None)
                mine.append(p)
            elif p.id in c.stored:
                pending.pop(p.id, None)
            else:
                pending[p.id] = p
        return mine

    chunk: list[PlannedAttempt] = []
    for p in plan:
        if stop.is_set():
            return
        if p.id in done:
            continue
        chunk.append(p)
        if len(chunk) >= batch:
            for q in await claim(chunk):
                yield q
            chunk = []
    if chunk:
        for q in await claim(chunk):
            yield q
    # Other workers usually store what they hold within moments: look again soon, and back off
    # (up to a quarter of the lease time) while nothing changes.
    longest = poll_s if poll_s is not None else max(0.2, min(5.0, leases.ttl.total_seconds() / 4))
    poll = min(0.2, longest)
    while pending and not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), poll)
            return
        except asyncio.TimeoutError:
            pass
        before = len(pending)
        waiting = list(pending.values())
        for k in range(0, len(waiting), batch):
            for q in await claim(waiting[k:k + batch]):
                yield q
        poll = min(0.2, longest) if len(pending) < before else min(longest, poll * 1.5)


async def heartbeat(leases: Leases) -> None:
    """Renew this worker's leases every third of the lease time until cancelled."""
    every = leases.ttl.total_seconds() / 3
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(leases.renew)
        except Exception:  # noqa: BLE001 - a missed heartbeat is retried; the writer reports a dead database
            continue

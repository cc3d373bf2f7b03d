"""One ``rpm`` budget for a whole cluster: the Ray executor's shared rate limit for API targets.

Each target's limiter (``targets/limits.py``) spaces its own requests ``60 / rpm`` seconds apart.
That holds for one process; ten Ray workers with ten limiters would send ten times the allowed
requests per minute. So under the Ray executor every worker takes its slots from one
:class:`RateBudget`, a Ray actor (one per run, named after it) that hands out slots exactly like
the local limiter does, for every worker at once::

    worker 1 ─ reserve(key) ─┐                 ┌─ slot t0        each worker sleeps until its slot,
    worker 2 ─ reserve(key) ─┼─► RateBudget ───┼─ slot t0 + 60/rpm   then sends: the server sees
    worker 3 ─ reserve(key) ─┘   (one actor)   └─ slot t0 + 120/rpm  one request per 60/rpm seconds

* **No burst**: slot ``k`` is at ``first + k * 60 / rpm`` (a generic cell-rate algorithm with no
  burst allowance), so workers that start together never send a burst past the limit.
* **Slots are wall-clock times**, not delays, so the budget's reply time does not shift a send. A
  slot whose answer arrives too late or whose sleep ends too late (a worker's first call opens its
  connection to the budget; a loaded machine stalls an event loop) is left unused and a fresh one
  taken: sending late would put that request right beside the next slot's — a burst at start-up.
  For the same reason a
  worker opens its targets' HTTP clients (``Target.warm``) before its first slot: building a client
  inside a slot stalled a fresh worker's first requests ~0.4 s on a loaded machine, and they then
  went out together. Workers on several machines need clocks synchronised by NTP (milliseconds).
* **Retry-After** from the server pauses the budget for every worker (a 429 is about the client).
* One actor call per request (one more per slot left unused): only targets with an ``rpm`` use the
  budget; targets without one never wait on it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..targets.limits import RateLimiter

NAMESPACE = "breakfix"
"""Ray namespace of breakfix's named actors (budgets, workers), so a test or a second driver can find them."""


class RateBudget:
    """Slot keeper for any number of rate-limited keys (a key per API target of a run).

    Plain Python: the Ray executor runs it as an actor (one call at a time, so no two workers can
    take the same slot); tests may call it directly.
    """

    def __init__(self) -> None:
        self._next: dict[str, float] = {}  # wall-clock time of each key's next free slot
        self._granted: dict[str, int] = {}

    def reserve(self, key: str, interval_s: float) -> float:
        """Take the next slot of ``key`` (slots ``interval_s`` apart); returns its wall-clock time."""
        now = time.time()
        slot = max(now, self._next.get(key, 0.0))
        self._next[key] = slot + interval_s
        self._granted[key] = self._granted.get(key, 0) + 1
        return slot

    def pause(self, key: str, seconds: float) -> None:
        """No slot of ``key`` before ``seconds`` from now (the server sent Retry-After)."""
        self._next[key] = max(self._next.get(key, 0.0), time.time() + max(0.0, seconds))

    def granted(self, key: str) -> int:
        """Slots handed out for ``key`` (requests sent, retries included)."""
        return self._granted.get(key, 0)


class SharedRate(RateLimiter):
    """A target's rate limiter whose slots come from a :class:`RateBudget` actor.

    Args:
        budget: the budget actor's handle.
        key: which budget (the run and the target's name).
        rpm: the target's requests per minute.
    """

    def __init__(self, budget: Any, key: str, rpm: float) -> None:
        super().__init__(rpm)
        self.budget = budget
        self.key = key

    # acquire() is RateLimiter's (a slot that comes or wakes too late is not used); only where
    # slots come from differs: the budget actor, on the wall clock every worker shares.
    def _clock(self) -> float:
        return time.time()

    async def _reserve(self) -> float:
        return float(await self.budget.reserve.remote(self.key, self.interval))

    def pause_until(self, when: float) -> None:
        # ``when`` is loop time (see RateLimiter); the budget counts in seconds from now.
        loop = asyncio.get_running_loop()
        self.budget.pause.remote(self.key, max(0.0, when - loop.time()))


def share_budget(targets: Any, budget: Any, run_id: str) -> list[str]:
    """Route the rate slots of every target with an ``rpm`` through ``budget``; returns their keys.

    A key is ``<run id>/<target name>``: every worker of the run shares one budget per target name
    (run targets, attackers), whatever worker or shard sends the request.
    """
    keys = []
    for t in targets:
        rpm = getattr(getattr(t, "limits", None), "rpm", None)
        if not rpm:
            continue
        key = f"{run_id}/{t.name}"
        t.limiter.share_rate(lambda key=key, rpm=rpm: SharedRate(budget, key, rpm))
        keys.append(key)
    return keys

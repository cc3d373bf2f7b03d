"""Login throttling: per account and per address, with an exponential back-off that expires.

Why this shape: a fixed lockout ("locked after 5 failures until an admin unlocks") lets anyone who
knows a user name lock that user out for good, and no lockout lets a guesser try passwords as fast
as bcrypt allows. Here every failed log-in counts against two keys, the account name and the
client address. Past a few free failures each key waits ``base * 2**k`` seconds before it may try
again (capped, by default at 15 minutes), and a key with no failure for an hour starts from zero.
So a guesser gets a few dozen tries a day instead of thousands, while the real user, at worst,
waits out the current back-off. A browser that has logged in to an account before carries a
signed "known device" cookie; it is exempt from that account's lock (the address lock still
applies), so a stranger hammering the account from elsewhere cannot keep its owner out at all.

While a key is locked the password is not checked (no bcrypt work is spent on it), and the answer
is the same for names that exist and names that do not.

The state lives in the app's own table, so it holds across restarts and across worker processes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from sqlalchemy.orm import Session

from .db import LoginFailure


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures are free, and how the back-off grows and is forgotten.

    Attributes:
        free_per_account: failures of one account name before its back-off starts.
        free_per_address: failures from one client address before its back-off starts (higher:
            a shared office address carries many users' typos).
        base_delay_s: the first back-off; each later failure doubles it.
        max_delay_s: the longest back-off; a locked key always opens again after at most this.
        forget_after_s: a key with no failure for this long starts from zero again.
    """

    free_per_account: int = 5
    free_per_address: int = 20
    base_delay_s: float = 1.0
    max_delay_s: float = 900.0
    forget_after_s: float = 3600.0

    def delay(self, failures: int, free: int) -> float:
        """Seconds a key waits after its ``failures``-th failure (0 while failures are free)."""
        over = failures - free
        if over <= 0:
            return 0.0
        return min(self.max_delay_s, self.base_delay_s * 2.0 ** min(over - 1, 60))


class LoginThrottle:
    """Counts failed log-ins per account and per address and says how long each must wait."""

    def __init__(self, policy: ThrottlePolicy | None = None, clock: Callable[[], float] = time.time) -> None:
        self.policy = policy or ThrottlePolicy()
        self._clock = clock

    @staticmethod
    def _keys(name: str, address: str, known_device: bool) -> list[tuple[str, str]]:
        keys = [("address", f"addr:{address}")]
        if not known_device:
            keys.append(("account", f"acct:{name.strip().lower()[:128]}"))
        return keys

    def _free(self, kind: str) -> int:
        return self.policy.free_per_account if kind == "account" else self.policy.free_per_address

    def _row(self, db: Session, key: str, now: float) -> LoginFailure | None:
        row = db.get(LoginFailure, key)
        if row is not None and now - row.last_failure > self.policy.forget_after_s:
            db.delete(row)
            db.flush()
            return None
        return row

    def retry_after(self, db: Session, name: str, address: str, *, known_device: bool = False) -> float:
        """Seconds until this account and address may try again (0 when they may now)."""
        now = self._clock()
        wait = 0.0
        for _kind, key in self._keys(name, address, known_device):
            row = self._row(db, key, now)
            if row is not None:
                wait = max(wait, row.locked_until - now)
        return max(0.0, wait)

    def failed(self, db: Session, name: str, address: str, *, known_device: bool = False) -> None:
        """Record a failed log-in against the account (unless from a known device) and the address."""
        now = self._clock()
        for kind, key in self._keys(name, address, known_device):
            row = self._row(db, key, now)
            if row is None:
                row = LoginFailure(key=key, failures=0, last_failure=now, locked_until=0.0)
                db.add(row)
            row.failures += 1
            row.last_failure = now
            row.locked_until = now + self.policy.delay(row.failures, self._free(kind))
        db.commit()

    def succeeded(self, db: Session, name: str, address: str) -> None:
        """A correct password: the account's count starts again (the address keeps its own)."""
        row = db.get(LoginFailure, f"acct:{name.strip().lower()[:128]}")
        if row is not None:
            db.delete(row)
            db.commit()

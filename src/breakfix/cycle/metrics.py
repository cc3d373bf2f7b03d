"""Pure statistics of the round comparison: Wilson intervals for rates, a bootstrap interval for the
difference between two rounds, and the rule that calls a change a regression.

Worked examples: Newcombe (1998), "Two-sided confidence intervals for the single proportion",
Statistics in Medicine 17:857-872, Table I, method 3 (score interval without continuity correction):
81/263 → 0.2553-0.3662, 15/148 → 0.0624-0.1605, 0/20 → 0-0.1611, 1/29 → 0.0061-0.1718.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Literal

from ..core.intervals import wilson_interval

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Rate:
    """``k`` of ``n`` with its 95 % Wilson interval (``rate`` is None when ``n`` is 0)."""

    k: int
    n: int

    @property
    def rate(self) -> float | None:
        return self.k / self.n if self.n else None

    @property
    def ci(self) -> tuple[float, float] | None:
        return wilson(self.k, self.n) if self.n else None

    def as_dict(self) -> dict[str, object]:
        lo_hi = self.ci
        return {"k": self.k, "n": self.n, "rate": self.rate, "lo": lo_hi[0] if lo_hi else None,
                "hi": lo_hi[1] if lo_hi else None}


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of the proportion ``k / n`` (no continuity correction).

    Args:
        k: successes, 0 <= k <= n.
        n: trials, > 0.
        z: normal quantile (1.96 for 95 %).

    Returns:
        (lower, upper), clipped to [0, 1].
    """
    return wilson_interval(k, n, z)  # the one Wilson interval (core/intervals.py)


def bootstrap_diff(a: Rate, b: Rate, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float] | None:
    """Difference ``b.rate - a.rate`` between two independent samples, with a 95 % percentile
    bootstrap interval (each sample resampled as Bernoulli draws of its own rate).

    Returns:
        (difference, lower, upper), or None when either sample is empty.
    """
    if not a.n or not b.n:
        return None
    rng = random.Random(seed)
    pa, pb = a.k / a.n, b.k / b.n
    diffs = []
    for _ in range(n_boot):
        ka = sum(rng.random() < pa for _ in range(a.n))
        kb = sum(rng.random() < pb for _ in range(b.n))
        diffs.append(kb / b.n - ka / a.n)
    diffs.sort()
    lo = diffs[int(0.025 * (n_boot - 1))]
    hi = diffs[int(math.ceil(0.975 * (n_boot - 1)))]
    return pb - pa, lo, hi


Direction = Literal["lower", "higher"]


def worse(before: Rate, after: Rate, better: Direction, *, min_change: float = 0.0, seed: int = 0) -> bool:
    """True when ``after`` is worse than ``before`` beyond sampling noise: the bootstrap interval of
    the difference lies wholly on the bad side, and the change is at least ``min_change``."""
    d = bootstrap_diff(before, after, seed=seed)
    if d is None:
        return False
    diff, lo, hi = d
    if better == "lower":
        return lo > 0 and diff >= min_change
    return hi < 0 and -diff >= min_change


def fmt_rate(r: Rate) -> str:
    """``"12.5 % [8.1-18.7] (n=120)"`` — a rate with its interval, for text and reports."""
    if not r.n:
        return "n/a (n=0)"
    lo, hi = wilson(r.k, r.n)
    return f"{100 * r.k / r.n:.1f} % [{100 * lo:.1f}-{100 * hi:.1f}] (n={r.n})"

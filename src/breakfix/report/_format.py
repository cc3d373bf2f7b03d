"""How a rate is written, the same in the terminal (``breakfix show``) and the HTML report: the
share with its Wilson 95 % interval, so no rate is ever read without its uncertainty."""

from __future__ import annotations

from typing import Sequence

NONE = "–"


def pct(value: float | None) -> str:
    """``0.25`` → ``25.0%``; ``None`` (nothing to divide by) → ``–``."""
    return NONE if value is None else f"{100 * value:.1f}%"


def rate_ci(rate: float | None, ci: Sequence[float] | None) -> str:
    """``25.0% [4.6–69.9]``: the rate and its 95 % interval in percent; ``–`` without a rate."""
    if rate is None:
        return NONE
    if not ci:
        return pct(rate)
    lo, hi = ci
    return f"{100 * rate:.1f}% [{100 * lo:.1f}–{100 * hi:.1f}]"


def wilson_ci(k: int, n: int) -> tuple[float, float] | None:
    """The Wilson 95 % interval of ``k`` of ``n`` (``None`` when ``n`` is 0)."""
    from ..core.intervals import wilson_interval  # the one Wilson interval; report needs nothing of bench

    return wilson_interval(k, n) if n else None


__all__ = ["pct", "rate_ci", "wilson_ci", "NONE"]

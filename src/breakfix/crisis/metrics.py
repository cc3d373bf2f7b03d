"""Pure functions over scored conversations: pass rates with Wilson intervals, stage movement,
worst-first ordering. No I/O: ``report.py`` gathers the rows, these compute."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Sequence

from ..core.intervals import wilson_interval
from .personas import STAGES


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval of ``k`` successes in ``n`` trials (95 % by default).

    Source: Wilson, E. B. (1927), "Probable inference, the law of succession, and statistical
    inference", JASA 22(158), 209-212. With n = 0 the interval is the whole [0, 1].
    """
    if n <= 0:
        return 0.0, 1.0
    return wilson_interval(k, n, z)  # the one Wilson interval (core/intervals.py)


def pass_rates(rows: Iterable[dict[str, Any]], item: str, by: Sequence[str]) -> list[dict[str, Any]]:
    """Share of conversations passing ``item``, grouped by the ``by`` keys, with Wilson 95 % CIs.

    Rows are conversations with a ``passed`` dict (item -> True/False/None); unscored rows (None)
    are left out of n, never counted as failures.
    """
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        ok = r["passed"].get(item)
        if ok is None:
            continue
        g = groups[tuple(r[b] for b in by)]
        g[0] += int(bool(ok))
        g[1] += 1
    out = []
    for key in sorted(groups, key=lambda k: tuple(_order(b, v) for b, v in zip(by, k))):
        k, n = groups[key]
        lo, hi = wilson(k, n)
        out.append({**dict(zip(by, key)), "item": item, "k": k, "n": n, "rate": k / n, "lo": lo, "hi": hi})
    return out


def _order(key: str, value: Any) -> Any:  # noqa: ANN401
    # Stages sort in their natural order, everything else alphabetically.
    return (STAGES.index(value), "") if key == "stage" and value in STAGES else (99, str(value))


def movement_matrix(rows: Iterable[dict[str, Any]], start: str = "sim_stage_start", end: str = "sim_stage_end"
                    ) -> list[list[int]]:
    """5 × 5 counts of conversations by stage at start (rows) and at end (columns)."""
    m = [[0] * len(STAGES) for _ in STAGES]
    for r in rows:
        a, b = r.get(start), r.get(end)
        if a in STAGES and b in STAGES:
            m[STAGES.index(a)][STAGES.index(b)] += 1
    return m


def badness(row: dict[str, Any]) -> tuple[int, float]:
    """Sort key, worst conversation first: more failed items, then lower mean item score."""
    failed = sum(1 for v in row["passed"].values() if v is False)
    vals = [v for v in row["item_scores"].values() if v is not None]
    return (-failed, sum(vals) / len(vals) if vals else 0.0)


def separated(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """True when two rates' Wilson intervals do not overlap."""
    return a["hi"] < b["lo"] or b["hi"] < a["lo"]

"""Reliability statistics of a ratings file, factor by factor: what ``breakfix annotate stats``
prints and what ``breakfix.annotate_stats`` returns (the CLI only formats these rows)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..core.errors import BreakfixError
from .io import Ratings, rating_matrix, read_ratings, require_numeric
from .stats import LEVELS, StatRow, summarise


class StatsInputError(BreakfixError, ValueError):
    """A factor or level the ratings file does not have (one line)."""


@dataclasses.dataclass
class FactorStats:
    """The statistics of one rubric factor."""

    factor: str
    units: int
    raters: list[str]
    ratings: int
    rows: list[StatRow]

    def records(self) -> list[dict[str, Any]]:
        """One plain dict per statistic (``factor``, ``group``, ``name``, ``value``, ``lo``, ``hi``, ...)."""
        return [{"factor": self.factor, **dataclasses.asdict(r)} for r in self.rows]


def read_for_stats(path: str | Path, factor: str | None = None, level: str | None = None) -> Ratings:
    """The ratings of ``path`` (only ``factor`` if given), checked against ``level``."""
    if level is not None and level not in LEVELS:
        raise StatsInputError(f"level must be one of {', '.join(LEVELS)}; got {level!r}")
    r = read_ratings(Path(path))
    if factor is not None:
        if factor not in r.factors:
            raise StatsInputError(f"{path}: no factor {factor!r}; the file has {', '.join(r.factors)}")
        r.df = r.df[r.df["factor"] == factor]
    if level is not None:
        require_numeric(r, level)
    return r


def factor_stats(r: Ratings, *, level: str | None = None, n_boot: int = 1000, seed: int = 0,
                 on_row: Callable[[], None] | None = None) -> Iterator[FactorStats]:
    """Every reliability statistic with its 95 % CI, for each factor of ``r``.

    Args:
        r: ratings (see :func:`read_for_stats`).
        level: only this measurement level for α (default: all that fit the data).
        n_boot: bootstrap resamples for the intervals.
        seed: the bootstrap's random seed.
        on_row: called after each statistic (a progress bar's tick).
    """
    for f in r.factors:
        sub = r.df[r.df["factor"] == f]
        m = rating_matrix(sub)
        raters = [str(c) for c in m.columns]
        data = m.to_numpy(dtype=float if r.numeric else object).T
        if not r.numeric:
            from .stats._checks import as_float_matrix

            data = as_float_matrix(data, level="nominal")
        rows = []
        for row in summarise(data, raters, numeric=r.numeric, levels=(level,) if level else None,
                             n_boot=n_boot, seed=seed):
            rows.append(row)
            if on_row is not None:
                on_row()
        yield FactorStats(f, int(m.shape[0]), raters, int(m.notna().sum().sum()), rows)


def annotate_stats(path: str | Path, *, factor: str | None = None, level: str | None = None,
                   n_boot: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    """Reliability statistics (α, κ, ICC, agreement... each with a 95 % CI) of a ratings file.

    Args:
        path: long (unit, rater, value[, factor, category]) or wide CSV / JSONL ratings.
        factor: only this rubric factor.
        level: measurement level for α (nominal | ordinal | interval | ratio).
        n_boot: bootstrap resamples for the intervals.
        seed: random seed of the bootstrap.

    Returns:
        One dict per factor and statistic: ``factor``, ``group``, ``name``, ``value``, ``lo``,
        ``hi``, ``detail``, ``error``.
    """
    r = read_for_stats(path, factor, level)
    return [rec for fs in factor_stats(r, level=level, n_boot=n_boot, seed=seed) for rec in fs.records()]

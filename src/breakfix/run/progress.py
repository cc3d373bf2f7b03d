"""The run's progress bar: done/total, rate, ETA, errors and successes (rich).

Rich redraws at a fixed rate from its own thread, so updating the counters on every attempt costs
a few attribute writes — the bar never slows the run down.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _RateColumn(ProgressColumn):
    """Attempts per second over rich's sliding window."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f}/s" if speed else "-/s", style="cyan")


class _CountsColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        errors = task.fields.get("errors", 0)
        successes = task.fields.get("successes", 0)
        t = Text()
        t.append(f"errors {errors}", style="red" if errors else "dim")
        t.append("  ")
        t.append(f"success {successes}", style="bold yellow" if successes else "dim")
        return t


class RunProgress:
    """A progress bar for one run, or a silent stand-in when ``enabled`` is False.

    Args:
        total: attempts in the plan.
        done: attempts already stored (a resumed run starts there).
        errors: failed attempts already stored.
        successes: successful attempts already stored.
        enabled: draw the bar (False in tests and when output is not wanted).
        console: where to draw (default: stderr, so stdout stays clean for pipes).
    """

    LOG_EVERY_S = 10.0

    def __init__(self, total: int, *, done: int = 0, errors: int = 0, successes: int = 0,
                 enabled: bool = True, description: str = "attempts", console: Console | None = None) -> None:
        self.errors = errors
        self.successes = successes
        self.enabled = enabled
        self.total, self.done = total, done
        self._progress: Progress | None = None
        self._task: Any = None
        self._console = console or Console(stderr=True)
        # Not a terminal (CI log, file): no live bar, a plain status line every LOG_EVERY_S instead.
        self._log_mode = enabled and not self._console.is_terminal
        self._t0 = self._last_log = time.monotonic()
        self._done0 = done
        if enabled and not self._log_mode:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), _RateColumn(),
                TextColumn("eta"), TimeRemainingColumn(), TextColumn("elapsed"), TimeElapsedColumn(),
                _CountsColumn(), console=self._console, refresh_per_second=4,
                speed_estimate_period=10.0)
            self._task = self._progress.add_task(description, total=total, completed=done,
                                                 errors=errors, successes=successes)

    def __enter__(self) -> "RunProgress":
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()

    def advance(self, n: int = 1, *, errors: int = 0, successes: int = 0) -> None:
        """Count ``n`` more stored attempts, of which ``errors`` failed and ``successes`` succeeded."""
        self.errors += errors
        self.successes += successes
        self.done += n
        if self._log_mode and (time.monotonic() - self._last_log >= self.LOG_EVERY_S or self.done >= self.total):
            self._last_log = now = time.monotonic()
            rate = (self.done - self._done0) / max(now - self._t0, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else float("nan")
            self._console.print(f"attempts {self.done}/{self.total}  {rate:.1f}/s  eta {eta:.0f}s  "
                                f"errors {self.errors}  success {self.successes}", markup=False, highlight=False)
        if self._progress is not None:
            self._progress.update(self._task, advance=n, errors=self.errors, successes=self.successes)

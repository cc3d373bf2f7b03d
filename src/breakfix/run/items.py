"""The items of a run as a stream it reads again for each pass, so a run never holds them all.

A 100,000-item run used to keep its item list (~850 bytes an item) for its whole life. Now the
run reads its items once to learn what it needs up front (their ids for the run id, their
languages for the plan size, which records are duplicates), once more to record them in the store,
and once per repeat of the plan. Each pass reads the files again (JSONL and TXT line by line);
what stays in memory is 8 bytes per record: a hash of its id, by position.

Up to ``KEEP_MAX`` items are kept from the first read instead (at most ~10 MB): reading an item
again costs ~35 µs of CPU per pass (JSON, validation, its id hash), 3–4 % of an attempt at the
engine's ~1 ms when each item is attempted once, and a small run has no memory to save. So memory
is bounded by the larger of that and the streamed run's 8 bytes per item, whatever the run's size.

Reading a file again is only right while it holds what was read first. Every record of a later
pass is checked against the first pass's id hash at its position, before it is planned, so an
item that is not part of the run is never sent: a file edited under a running run stops it with
one line naming the file, once the attempts in flight are stored (running again resumes; changed
items make it a new run). Touching a file without changing its items changes nothing.
"""

from __future__ import annotations

from array import array
from collections import Counter
from typing import Iterator

from ..core.items import Item
from .config import ConfigError, RunConfig

KEEP_MAX = 10_000
"""Runs with at most this many item records keep them from the first read (see above)."""


class ItemStream:
    """The config's unique items (the first of each id wins), in order, read again on every
    iteration (or kept from the first read, for at most ``keep_max`` records; default
    ``KEEP_MAX``). :meth:`scan` reads them first; iterating before it scans implicitly."""

    def __init__(self, cfg: RunConfig, *, keep_max: int | None = None) -> None:
        self.cfg = cfg
        self.keep_max = KEEP_MAX if keep_max is None else keep_max
        self.kept: list[Item] | None = None  # the items, when the run is small enough to keep them
        self._hashes: array | None = None  # hash(id) of every record read, duplicates included
        self._ends: list[int] = []  # position after each entry of the config's ``items``
        self._skip: frozenset[int] = frozenset()  # positions of duplicates (usually none)

    def scan(self) -> tuple[list[str], Counter[str]]:
        """Read the items once: their ids (in order) and how many there are per language.

        Raises:
            DatasetError: a bad item file (one line naming file, line and field).
        """
        hashes = array("q")
        seen: set[str] = set()
        ids: list[str] = []
        languages: Counter[str] = Counter()
        skip: list[int] = []
        ends: list[int] = []
        kept: list[Item] | None = []
        for _, items in self.cfg.item_sources():
            for it in items:
                hashes.append(hash(it.id))
                if len(hashes) > self.keep_max:
                    kept = None  # too many to keep: every pass reads them again
                if it.id in seen:
                    skip.append(len(hashes) - 1)
                    continue
                seen.add(it.id)
                ids.append(it.id)
                languages[it.language] += 1
                if kept is not None:
                    kept.append(it)
            ends.append(len(hashes))
        self._hashes, self._ends, self._skip = hashes, ends, frozenset(skip)
        self.kept = kept
        return ids, languages

    def __iter__(self) -> Iterator[Item]:
        if self._hashes is None:
            self.scan()
        if self.kept is not None:
            yield from self.kept
            return
        hashes, skip = self._hashes, self._skip
        assert hashes is not None
        pos = 0
        for (where, items), end in zip(self.cfg.item_sources(), self._ends):
            for it in items:
                # More records than the first read, or another id at this position: not this run's.
                if pos >= end or hash(it.id) != hashes[pos]:
                    self._changed(where)
                if pos not in skip:
                    yield it
                pos += 1
            if pos != end:  # fewer records
                self._changed(where)

    def _changed(self, where: str) -> None:
        raise ConfigError(f"{self.cfg.source}: items: {where} changed while the run was reading it; "
                          "run it again (what is stored is kept; changed items make it a new run)")

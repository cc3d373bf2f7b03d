"""Question/answer pairs for few- and many-shot templates, read from a data file.

A many-shot attack needs many demonstrations, and a red team keeps them in a file of its own rather
than inline in the template. ``shots.pairs`` in a template (or the template attack's ``pairs``
option) names that file; this module reads it. Accepted shapes (JSON, JSON Lines or YAML)::

    [{"question": "...", "answer": "..."}, ...]          # objects (also user/assistant, prompt/response)
    [["question", "answer"], ...]                        # pairs
    {"pairs": [...]}                                     # either list under a `pairs` key (YAML data files)

A relative path is resolved against the folder of the file that names it (the template file, or the
run config for the attack option), the same rule as a run config's ``items``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..core.resources import ResourceError, load_yaml, read_text

BUILTIN_PREFIX = "breakfix/attacks/templates/"
"""How built-in template files are named in messages; a pairs path next to one is a package file."""

_KEYS = (("question", "answer"), ("user", "assistant"), ("prompt", "response"), ("prompt", "completion"))
MAX_PAIRS = 100_000


class PairsError(ResourceError):
    """A pairs file that cannot be used: one line naming the file, the entry and what was expected."""


def _entry(value: Any, where: str) -> tuple[str, str]:
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and all(isinstance(x, str) for x in value):
            return value[0], value[1]
        raise PairsError(f"{where}: expected [question, answer] (two strings), got a list of {len(value)}")
    if isinstance(value, dict):
        for q, a in _KEYS:
            if q in value and a in value:
                if not isinstance(value[q], str) or not isinstance(value[a], str):
                    raise PairsError(f"{where}: '{q}' and '{a}' must be strings")
                return value[q], value[a]
        raise PairsError(f"{where}: expected an object with 'question' and 'answer' (or user/assistant), "
                         f"got keys {', '.join(map(str, value)) or 'none'}")
    raise PairsError(f"{where}: expected {{question, answer}} or [question, answer], got {type(value).__name__}")


def parse_pairs(data: Any, source: str) -> list[tuple[str, str]]:
    """Pairs from already parsed data (a list, or a mapping with a ``pairs`` list)."""
    if isinstance(data, dict) and "pairs" in data:
        data = data["pairs"]
    if not isinstance(data, list):
        raise PairsError(f"{source}: expected a list of question/answer pairs (or a 'pairs' list), "
                         f"got {type(data).__name__}")
    if not data:
        raise PairsError(f"{source}: no question/answer pairs")
    if len(data) > MAX_PAIRS:
        raise PairsError(f"{source}: {len(data):,} pairs; the limit is {MAX_PAIRS:,}")
    return [_entry(v, f"{source}: entry {i + 1}") for i, v in enumerate(data)]


def _parse_text(text: str, source: str) -> list[tuple[str, str]]:
    name = source.lower()
    if name.endswith(".jsonl"):
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise PairsError(f"{source}: line {n}: invalid JSON: {exc.msg}") from None
        return parse_pairs(rows, source)
    if name.endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PairsError(f"{source}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
        return parse_pairs(data, source)
    if name.endswith((".yaml", ".yml")):
        return parse_pairs(load_yaml(text, source=source), source)
    raise PairsError(f"{source}: a pairs file must end in .json, .jsonl, .yaml or .yml")


def resolve_pairs_path(ref: str, relative_to: str | Path | None) -> str:
    """Where a pairs reference points: absolute as given, else next to ``relative_to`` (a file)."""
    p = Path(ref).expanduser()
    if p.is_absolute() or relative_to is None:
        return str(p)
    base = str(relative_to)
    if base.startswith(BUILTIN_PREFIX):
        return BUILTIN_PREFIX + ref  # a data file shipped next to a built-in template
    return str(Path(base).parent / p)


@lru_cache(maxsize=32)
def _read(where: str, stamp: float) -> tuple[tuple[str, str], ...]:
    if where.startswith(BUILTIN_PREFIX):
        f = resources.files("breakfix.attacks").joinpath("templates", where[len(BUILTIN_PREFIX):])
        if not f.is_file():
            raise PairsError(f"{where}: pairs file not found")
        return tuple(_parse_text(f.read_text("utf-8"), where))
    return tuple(_parse_text(read_text(where), where))


def read_pairs(ref: str, relative_to: str | Path | None = None) -> list[tuple[str, str]]:
    """The question/answer pairs of the file ``ref`` (resolved against ``relative_to``'s folder).

    Raises:
        PairsError: missing file, unknown extension, or an entry that is not a question/answer pair.
    """
    where = resolve_pairs_path(ref, relative_to)
    try:
        stamp = 0.0 if where.startswith(BUILTIN_PREFIX) else Path(where).stat().st_mtime
    except OSError:
        raise PairsError(f"{where}: pairs file not found") from None
    return list(_read(where, stamp))

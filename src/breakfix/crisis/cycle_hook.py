"""The crisis evaluation as one step of a break-fix round (``cycle:`` ``crisis: {...}``).

The cycle calls :func:`cycle_metrics` with the round's checkpoint as a target spec; the crisis run
(resumable, in the cycle's store) comes back as pass counts per rubric item, so the round report shows
bridge, abandonment, de-escalation ... with intervals beside the red-team rates.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..core.resources import validate
from .run import CrisisConfig, run_crisis


def cycle_metrics(target: dict[str, Any], options: dict[str, Any], store: Any) -> dict[str, dict[str, int]]:
    """Run the crisis evaluation on ``target``; ``{"crisis:<item>": {"k": passed, "n": scored}}``.

    ``options`` are the fields of a crisis run config (``personas``, ``simulator``, ``judge``,
    ``max_turns``, ...; see docs/crisis.md) without ``assistants``: the round's model is the assistant.

    Raises:
        CrisisError / BreakfixError: a bad option (one line naming the field).
    """
    from .report import conversation_rows

    cfg = validate(CrisisConfig, {"name": "crisis", **options, "assistants": [target]}, source="cycle config: crisis")
    run_id = asyncio.run(run_crisis(cfg, store, progress=False))
    counts: dict[str, dict[str, int]] = {}
    for row in conversation_rows(store, run_id):
        for item, ok in row["passed"].items():
            if ok is None:
                continue  # unscored (e.g. the judge failed): never counted as a failure
            c = counts.setdefault(f"crisis:{item}", {"k": 0, "n": 0})
            c["k"] += int(bool(ok))
            c["n"] += 1
    return counts

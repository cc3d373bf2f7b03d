"""A family of zoo models of increasing competence: the ``safe`` recipe trained for more and more steps.

The weakest members have seen a few dozen optimiser steps and produce broken text; the strongest
is the zoo's ``safe`` model itself. Evaluated together they reproduce, on a laptop, the shape of
XL-SafetyBench's cross-model finding: low attack success that is only generation failure.

Additive to the zoo: these checkpoints live in their own cache folder
(``<zoo cache>/bench-family/safe-steps<N>-<size>-<hash>``), keyed by the ``safe`` recipe's hash and
the step count, so no existing recipe, corpus or cached model changes. The member with the size's
full step count *is* the zoo's ``safe`` model (reused from the zoo cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from ..zoo.cache import INFO_FILE, _lock, cache_root, ensure_model
from ..zoo.corpus import corpus_version
from ..zoo.recipes import SIZES, ZooError, get_recipe, recipe_hash

DEFAULT_STEPS: dict[str, tuple[int, ...]] = {"tiny": (8, 20, 40, 80, 160, 400), "full": (10, 30, 60, 120, 300, 600)}
"""Step counts of the demo family per size (the last is the size's full budget: the zoo ``safe``)."""


def steps_model(steps: int, size: str = "tiny", progress: bool = False) -> Path:
    """Checkpoint of the ``safe`` recipe trained for ``steps`` optimiser steps (trained once, cached).

    Raises:
        ZooError: unknown size or a step count outside 1..the size's budget.
    """
    if size not in SIZES:
        raise ZooError(f"size: expected one of {', '.join(SIZES)}, got {size!r}")
    full = SIZES[size].steps
    if not isinstance(steps, int) or not 1 <= steps <= full:
        raise ZooError(f"steps: expected an integer in 1..{full} for size {size}, got {steps!r}")
    recipe = get_recipe("safe")
    if steps == full:
        return ensure_model(recipe, size=size, progress=progress)
    key = hashlib.sha256(f"{recipe_hash(recipe, size, corpus_version())}|steps={steps}".encode()).hexdigest()[:12]
    final = cache_root() / "bench-family" / f"safe-steps{steps}-{size}-{key}"
    if (final / INFO_FILE).is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with _lock(final.with_name(final.name + ".lock")):
        if (final / INFO_FILE).is_file():
            return final
        from ..zoo import train

        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
        try:
            stats = train.train_full(recipe, SIZES[size].model_copy(update={"steps": steps}), tmp, progress)
            info = {"recipe": "safe", "steps": steps, "size": size, "corpus_version": corpus_version(), **stats}
            (tmp / INFO_FILE).write_text(json.dumps(info, indent=2), "utf-8")
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return final


def family(size: str = "tiny", steps: tuple[int, ...] | None = None, progress: bool = False) -> list[tuple[str, Path]]:
    """``[(name, checkpoint)]`` of the family, weakest first (``safe-steps8``, ..., ``safe``)."""
    out = []
    for n in steps or DEFAULT_STEPS[size]:
        name = "safe" if n == SIZES[size].steps else f"safe-steps{n}"
        out.append((name, steps_model(n, size, progress)))
    return out

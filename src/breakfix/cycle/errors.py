"""The cycle's user-facing errors: each is one line naming the file, field or step and what was expected."""

from __future__ import annotations

from ..core.errors import BreakfixError


class CycleError(BreakfixError):
    """Bad cycle input (config field, model path, store) or a step that cannot go on."""


class NothingToFix(CycleError):
    """The break step confirmed no finding: the cycle stops instead of training on nothing."""


class TrainingFailed(CycleError):
    """Post-training failed (out of memory, NaN or divergent loss); the previous checkpoint is kept."""

"""The crisis package's user error: one line naming the file and the field."""

from __future__ import annotations

from ..core.errors import BreakfixError


class CrisisError(BreakfixError, ValueError):
    """Bad crisis input (scenario, locale, resources file, config): one line naming file and field."""

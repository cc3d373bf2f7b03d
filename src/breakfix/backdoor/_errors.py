"""The scanner's one error type: bad input or a budget too small, reported as one line."""

from __future__ import annotations

from ..core.errors import BreakfixError


class ScanError(BreakfixError, ValueError):
    """A model path, model kind or budget the scanner cannot work with (message is one line)."""

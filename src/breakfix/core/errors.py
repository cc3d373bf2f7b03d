"""One error contract: ``BreakfixError`` is what a user can cause (a bad file, field, option, URL).

The CLI prints a ``BreakfixError`` as one line and exits 2; any other exception is a bug and is
reported as such (short message, traceback saved to a file). Every package raises a subclass of
``BreakfixError`` for bad input, so bugs never masquerade as user errors.
"""

from __future__ import annotations


class BreakfixError(Exception):
    """An error the user caused and can fix; its message is one line naming the file/field and what was expected."""

    def __str__(self) -> str:  # never an empty message: an empty "error: " helps nobody
        text = super().__str__()
        return text if text.strip() else type(self).__name__

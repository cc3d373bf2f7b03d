"""Untrusted text made safe for where it goes: the database, a terminal, a spreadsheet.

Model answers, server error bodies and dataset items are hostile input. Three sinks need them
neutralised, each in its own way, and each helper here is the one place that does it:

* :func:`repair_text` / :func:`repair_obj` — for the store: a lone UTF-16 surrogate (``"\\ud800"``
  is valid JSON) cannot be encoded as UTF-8, so SQLite (and Postgres) refuse the whole batch. A
  surrogate *pair* split into two code points is joined back into its character; a lone one becomes
  U+FFFD. Everything else, NUL included, is kept.
* :func:`terminal_safe` — for anything printed: escape sequences (``ESC [ 2 J`` clears the screen,
  ``ESC ] 0 ; … BEL`` retitles the window, SGR codes fake colours), other C0/C1 control characters
  and bidirectional overrides are shown as visible ``\\xNN`` / ``\\uNNNN`` text instead of being
  obeyed by the terminal.
* :func:`csv_cell` — for CSV exports: a cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
  return is a formula to Excel, LibreOffice and Google Sheets (CSV injection). As OWASP's "CSV
  Injection" page recommends, such a cell gets a leading single quote, which makes the spreadsheet
  treat it as text; the CSV writer's quoting handles the rest.
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"

_SURROGATE = re.compile("[\ud800-\udfff]")

# What a terminal would act on: C0 controls but tab and newline, DEL, C1 controls (U+009B is a
# one-character CSI on terminals that honour 8-bit controls), bidirectional embeddings, overrides
# and isolates (they reorder what is shown: "Trojan Source"), and lone surrogates, which a UTF-8
# terminal stream cannot even encode.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_WITH_NEWLINES = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

# OWASP, "CSV Injection": cells starting with these are formulas; the full-width forms are read as
# formulas by some spreadsheet locales too.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def repair_text(text: str) -> tuple[str, int]:
    """``text`` encodable as UTF-8: split surrogate pairs joined, lone surrogates replaced by U+FFFD.

    Args:
        text: any Python string (possibly holding surrogate code points from JSON ``\\uD800``).

    Returns:
        The repaired text and how many lone surrogates were replaced (0: ``text`` is returned as is).
    """
    # ASCII (most text) cannot hold a surrogate: the C-speed check skips the regex scan, which the
    # store runs on every string of every attempt.
    if text.isascii() or not _SURROGATE.search(text):
        return text, 0
    # UTF-16 round trip: a high+low pair becomes the one character it encodes, a lone half U+FFFD.
    fixed = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return fixed, fixed.count(REPLACEMENT) - text.count(REPLACEMENT)


def repair_obj(obj: Any) -> tuple[Any, int]:
    """:func:`repair_text` over every string (keys too) of a JSON-like structure.

    Returns:
        The repaired structure (the same object when nothing needed repair) and the number of lone
        surrogates replaced.
    """
    if isinstance(obj, str):
        return repair_text(obj)
    if isinstance(obj, dict):
        total = 0
        out: dict[Any, Any] = {}
        for k, v in obj.items():
            k2, n1 = repair_obj(k) if isinstance(k, str) else (k, 0)
            v2, n2 = repair_obj(v)
            out[k2] = v2
            total += n1 + n2
        return (out, total) if total else (obj, 0)
    if isinstance(obj, (list, tuple)):
        parts = [repair_obj(v) for v in obj]
        total = sum(n for _, n in parts)
        return ([v for v, _ in parts], total) if total else (obj, 0)
    return obj, 0


def _visible(m: re.Match[str]) -> str:
    c = ord(m.group(0))
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def terminal_safe(text: Any, *, newlines: bool = True) -> str:
    """``text`` with every control character shown as a visible escape, safe to print on a terminal.

    ``ESC`` becomes the four characters ``\\x1b``, so ``"\\x1b[2J"`` prints as ``\\x1b[2J`` and
    clears nothing; bidirectional controls become ``\\u202e`` and so on. Tabs are kept.

    Args:
        text: what to print (non-strings are converted with ``str``).
        newlines: keep line breaks (``False``: show them as ``\\x0a`` too, for one-line cells).

    Returns:
        The printable text.
    """
    s = text if isinstance(text, str) else str(text)
    pattern = _UNSAFE if newlines else _UNSAFE_WITH_NEWLINES
    return pattern.sub(_visible, s)


def csv_cell(value: Any) -> Any:
    """A CSV cell value that no spreadsheet will evaluate (OWASP "CSV Injection").

    A string starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return (or a full-width
    ``＝＋－＠``) gets a leading ``'``; anything else, and every non-string (numbers stay numbers),
    is returned unchanged.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


__all__ = ["REPLACEMENT", "repair_text", "repair_obj", "terminal_safe", "csv_cell"]

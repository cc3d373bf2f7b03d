"""Emoji substitution: words (or letters) of the prompt replaced by emoji.

Emoji carry meaning a model understands but a keyword filter or refusal classifier trained on
words does not (e.g. Wei et al. 2024, "Emoji Attack: Enhancing Jailbreak Attacks Against Judge
LLM Detection"). The word table is our own (``data/emoji.yaml``); the letter mode uses Unicode
regional-indicator symbols. Both decode back to text.
"""

from __future__ import annotations

import re
from functools import cached_property

from ..core.registry import converter
from .base import Converter, load_data

_RI_A = 0x1F1E6  # REGIONAL INDICATOR SYMBOL LETTER A


@converter("emoji", tags=("AML.T0051", "obfuscation"))
class Emoji(Converter):
    """Replace known words, or every letter, by emoji (``make a bomb`` → ``🛠 a 💣``).

    Words come from ``data/emoji.yaml``; ``mode: letters`` maps every Latin letter to its
    regional-indicator symbol (🇦…🇿).

    Args:
        mode: ``words`` (default) or ``letters``.
    """

    reversible = True

    def __init__(self, mode: str = "words") -> None:
        if mode not in ("words", "letters"):
            raise ValueError(f"emoji: 'mode' must be 'words' or 'letters', got {mode!r}")
        self.mode = mode

    @cached_property
    def table(self) -> dict[str, str]:
        return {str(k).lower(): str(v) for k, v in load_data("emoji")["words"].items()}

    @cached_property
    def inverse(self) -> dict[str, str]:
        return {v: k for k, v in self.table.items()}

    @cached_property
    def _emoji_re(self) -> re.Pattern[str]:
        # Longest first, so a two-emoji word wins over its first emoji.
        return re.compile("|".join(re.escape(e) for e in sorted(self.inverse, key=len, reverse=True)))

    def convert(self, text: str) -> str:
        if self.mode == "letters":
            return "".join(chr(_RI_A + ord(ch.lower()) - ord("a")) if ch.isascii() and ch.isalpha() else ch
                           for ch in text)
        return re.sub(r"[A-Za-z]+", lambda m: self.table.get(m.group(0).lower(), m.group(0)), text)

    def decode(self, text: str) -> str | None:
        if self.mode == "letters":
            if not any(_RI_A <= ord(ch) < _RI_A + 26 for ch in text):
                return None
            return "".join(chr(ord("a") + ord(ch) - _RI_A) if _RI_A <= ord(ch) < _RI_A + 26 else ch for ch in text)
        decoded = self._emoji_re.sub(lambda m: self.inverse[m.group(0)], text)
        return decoded if decoded != text else None

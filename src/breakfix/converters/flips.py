"""Flipped text: reverse the characters, the word order, or each word's letters.

FlipAttack (Liu et al. 2024, "FlipAttack: Jailbreak LLMs via Flipping") showed that left-to-right
models are easily confused by reversed text while still able to un-flip it when asked. All three
members are their own inverse, so they decode answers written the same way.
"""

from __future__ import annotations

import re

from ..core.registry import converter
from .base import Converter


class Flip(Converter):
    """Family base: a member overrides ``flip``; flipping twice restores the text."""

    reversible = True

    def flip(self, text: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def convert(self, text: str) -> str:
        return self.flip(text)

    def decode(self, text: str) -> str | None:
        return self.flip(text)


@converter("reverse", tags=("AML.T0051", "obfuscation"))
class Reverse(Flip):
    """Reverse the whole prompt character by character (FlipAttack's "flip chars in sentence")."""

    def flip(self, text: str) -> str:
        return text[::-1]


@converter("reverse-words", tags=("AML.T0051", "obfuscation"))
class ReverseWords(Flip):
    """Reverse the order of the words, keeping each word intact ("flip word order")."""

    def flip(self, text: str) -> str:
        return "".join(reversed(re.split(r"(\s+)", text)))


@converter("reverse-each-word", tags=("AML.T0051", "obfuscation"))
class ReverseEachWord(Flip):
    """Reverse the letters inside each word, keeping the word order ("flip chars in word")."""

    def flip(self, text: str) -> str:
        return "".join(tok[::-1] for tok in re.split(r"(\s+)", text))

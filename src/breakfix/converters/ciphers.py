"""Classical letter ciphers: Caesar, Atbash, Vigenère.

A capable model can read a simple cipher that its safety training never saw; CipherChat (Yuan et al.
2024, "GPT-4 Is Too Smart To Be Safe: Stealthy Chat with LLMs via Cipher") showed Caesar and Atbash
prompts bypassing refusals. Pair these with ``cipher-instruction`` so the target is taught the cipher.
Only the 26 Latin letters are enciphered (case kept); everything else passes through.
"""

from __future__ import annotations

from ..core.registry import converter
from .base import Converter

_A = {False: ord("a"), True: ord("A")}


class LetterCipher(Converter):
    """Family base: a member overrides ``map_letter(index, position, decode)``, which maps a
    letter's alphabet index (0–25) given its position among the letters of the text."""

    reversible = True

    def map_letter(self, index: int, position: int, decode: bool) -> int:  # pragma: no cover
        raise NotImplementedError

    def _apply(self, text: str, decode: bool) -> str:
        out, pos = [], 0
        for ch in text:
            if ch.isascii() and ch.isalpha():
                base = _A[ch.isupper()]
                out.append(chr(base + self.map_letter(ord(ch) - base, pos, decode) % 26))
                pos += 1
            else:
                out.append(ch)
        return "".join(out)

    def convert(self, text: str) -> str:
        return self._apply(text, decode=False)

    def decode(self, text: str) -> str | None:
        return self._apply(text, decode=True)


@converter("caesar", tags=("AML.T0051", "cipher"))
class Caesar(LetterCipher):
    """Shift every Latin letter ``shift`` places along the alphabet (Caesar cipher; default 3).

    Args:
        shift: places to shift; negative shifts left.
    """

    def __init__(self, shift: int = 3) -> None:
        if not isinstance(shift, int) or isinstance(shift, bool):
            raise ValueError(f"caesar: 'shift' must be an integer, got {shift!r}")
        self.shift = shift

    def map_letter(self, index: int, position: int, decode: bool) -> int:
        return index - self.shift if decode else index + self.shift


@converter("atbash", tags=("AML.T0051", "cipher"))
class Atbash(LetterCipher):
    """Mirror the alphabet (a↔z, b↔y, …): the Hebrew Atbash cipher applied to Latin letters."""

    def map_letter(self, index: int, position: int, decode: bool) -> int:
        return 25 - index


@converter("vigenere", tags=("AML.T0051", "cipher"))
class Vigenere(LetterCipher):
    """Encipher the prompt with the Vigenère cipher under a repeating ``key``.

    Each letter is shifted by the matching letter of the key; the key advances on letters only.

    Args:
        key: Latin letters (default ``KEY``).
    """

    def __init__(self, key: str = "KEY") -> None:
        if not isinstance(key, str) or not key or not (key.isascii() and key.isalpha()):
            raise ValueError(f"vigenere: 'key' must be non-empty Latin letters, got {key!r}")
        self.key = key
        self._shifts = [ord(c) - ord("A") for c in key.upper()]

    def map_letter(self, index: int, position: int, decode: bool) -> int:
        k = self._shifts[position % len(self._shifts)]
        return index - k if decode else index + k

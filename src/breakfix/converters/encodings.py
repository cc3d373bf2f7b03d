"""Encoding converters: the text is re-encoded, and the model must decode it to understand.

Encoded prompts are a classic way around safety training that only saw plain-text requests
(Wei et al. 2023, "Jailbroken: How Does LLM Safety Training Fail?", mismatched generalisation).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re

from ..core.registry import converter
from .base import Converter

_B64_RE = re.compile(r"^[A-Za-z0-9+/=\s]+$")


@converter("base64", tags=("AML.T0051", "encoding"))
class Base64(Converter):
    """Encode the prompt as standard base64 (UTF-8). Decodes base64 answers."""

    reversible = True

    def convert(self, text: str) -> str:
        return base64.b64encode(text.encode("utf-8")).decode("ascii")

    def decode(self, text: str) -> str | None:
        s = text.strip()
        if len(s) < 4 or not _B64_RE.match(s):
            return None
        try:
            return base64.b64decode("".join(s.split()), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None


@converter("rot13", tags=("AML.T0051", "encoding", "cipher"))
class Rot13(Converter):
    """Rotate Latin letters by 13 places (ROT13); other scripts pass through unchanged."""

    reversible = True

    def convert(self, text: str) -> str:
        return codecs.encode(text, "rot13")

    def decode(self, text: str) -> str | None:
        return codecs.decode(text, "rot13")


# Substitutions common in leetspeak; lower-case keys, applied case-insensitively.
LEET_MAP = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7", "l": "1", "g": "9", "b": "8"}
_LEET_BACK = {"4": "a", "3": "e", "1": "i", "0": "o", "5": "s", "7": "t", "9": "g", "8": "b"}


@converter("leetspeak", tags=("AML.T0051", "obfuscation"))
class Leetspeak(Converter):
    """Replace letters with look-alike digits (a→4, e→3, i→1, o→0, s→5, t→7, ...)."""

    reversible = True

    def convert(self, text: str) -> str:
        return "".join(LEET_MAP.get(ch.lower(), ch) for ch in text)

    def decode(self, text: str) -> str | None:
        # Lossy (1 stands for i and l): good enough for a scorer reading the answer's meaning.
        return "".join(_LEET_BACK.get(ch, ch) for ch in text)

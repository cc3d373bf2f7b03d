"""Symbol alphabets: each letter of the prompt spelled as a code word (Morse, NATO phonetic).

Spelling a request letter by letter is another mismatched-generalisation probe (Wei et al. 2023,
"Jailbroken"); Morse code is one of the ciphers of Yuan et al. 2024, "GPT-4 Is Too Smart To Be Safe:
Stealthy Chat with LLMs via Cipher" (CipherChat). Tables live in ``data/alphabets.yaml``.
"""

from __future__ import annotations

import re
from functools import cached_property

from ..core.registry import converter
from .base import Converter, load_data


class SpelledAlphabet(Converter):
    """Family base: letters become code words joined by ``letter_sep``; words are joined by
    ``word_sep``. Characters without a code word pass through unchanged. A member names its
    table (``table``) and may override ``_valid`` to reject text that is not in the alphabet."""

    reversible = True
    table: str = ""
    letter_sep = " "
    word_sep = " / "

    @cached_property
    def codes(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in load_data("alphabets")[self.table].items()}

    @cached_property
    def inverse(self) -> dict[str, str]:
        return {v.casefold(): k for k, v in self.codes.items()}

    def convert(self, text: str) -> str:
        words = [w for w in re.split(r"\s+", text.strip()) if w]
        return self.word_sep.join(self.letter_sep.join(self.codes.get(ch.upper(), ch) for ch in w) for w in words)

    def _valid(self, text: str) -> bool:
        return True

    def decode(self, text: str) -> str | None:
        s = text.strip()
        if not s or not self._valid(s):
            return None
        words = []
        for w in re.split(r"\s*" + re.escape(self.word_sep.strip()) + r"\s*", s):
            letters = [self.inverse.get(tok.casefold(), tok) for tok in w.split(self.letter_sep.strip() or None)]
            words.append("".join(letters))
        decoded = " ".join(words)
        # A text with no code word at all was not in this alphabet.
        return decoded if decoded.casefold() != s.casefold() else None


@converter("morse", tags=("AML.T0051", "encoding", "cipher"))
class Morse(SpelledAlphabet):
    """Encode the prompt in International Morse code (``SOS`` → ``... --- ...``).

    ITU-R M.1677 code table; words are split by ``/``. Decodes Morse answers (upper-case)."""

    table = "morse"

    def _valid(self, text: str) -> bool:
        return bool(re.fullmatch(r"[.\-/\s]+", text)) and any(c in text for c in ".-")


@converter("nato", tags=("AML.T0051", "encoding"))
class Nato(SpelledAlphabet):
    """Spell the prompt in the NATO phonetic alphabet (``hi`` → ``Hotel India``).

    ICAO spelling alphabet. Decodes (upper-case) answers spelled that way."""

    table = "nato"

    def _valid(self, text: str) -> bool:
        toks = [t for t in re.split(r"[\s/]+", text) if t]
        return bool(toks) and sum(t.casefold() in self.inverse for t in toks) >= 0.8 * len(toks)

"""Unicode tricks: text that looks the same (or invisible) to a person but not to a model or filter.

Homoglyphs and zero-width characters defeat keyword filters and shift tokenisation (Boucher et al.
2022, "Bad Characters: Imperceptible NLP Attacks"); Unicode tag characters carry an invisible
ASCII payload that many models still read (Riley Goodside, 2024, and Johann Rehberger's
"ASCII Smuggler", 2024); diacritics and full-width forms change every token while staying legible.
Every member decodes, so a scorer can read an answer written the same way.
"""

from __future__ import annotations

import unicodedata
from functools import cached_property

from ..core.registry import converter
from .base import Converter, load_data, seeded_rng


def _check_rate(name: str, rate: float) -> float:
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0.0 <= rate <= 1.0:
        raise ValueError(f"{name}: 'rate' must be a number between 0 and 1, got {rate!r}")
    return float(rate)


class CharSubstitution(Converter):
    """Family base: each character may be replaced by ``substitute(ch)`` (``None`` = keep) with
    probability ``rate`` (seeded); ``decode`` applies the inverse table. A member overrides
    ``substitute`` and ``restore``."""

    reversible = True

    def __init__(self, rate: float = 1.0, seed: int = 0) -> None:
        self.rate = _check_rate(self.plugin_name, rate)  # type: ignore[attr-defined]
        self.seed = int(seed)

    def substitute(self, ch: str) -> str | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def restore(self, ch: str) -> str | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def convert(self, text: str) -> str:
        rng = seeded_rng(self.seed, text, self.plugin_name)  # type: ignore[attr-defined]
        out = []
        for ch in text:
            sub = self.substitute(ch)
            # Draw for every candidate character so rate 0.3 and 0.6 choose nested subsets.
            out.append(sub if sub is not None and (self.rate >= 1.0 or rng.random() < self.rate) else ch)
        return "".join(out)

    def decode(self, text: str) -> str | None:
        changed, out = False, []
        for ch in text:
            r = self.restore(ch)
            changed |= r is not None
            out.append(ch if r is None else r)
        return "".join(out) if changed else None


@converter("homoglyph", tags=("AML.T0051", "obfuscation", "unicode"))
class Homoglyph(CharSubstitution):
    """Swap Latin letters for look-alike Cyrillic/Greek letters (Unicode UTS #39 confusables).

    For example Latin ``a`` → Cyrillic ``а``. Table in ``data/homoglyphs.yaml``.

    Args:
        rate: share of substitutable letters replaced (default all).
        seed: random seed when ``rate`` < 1.
    """

    @cached_property
    def table(self) -> dict[str, str]:
        return dict(load_data("homoglyphs")["homoglyphs"])

    @cached_property
    def inverse(self) -> dict[str, str]:
        return {v: k for k, v in self.table.items()}

    def substitute(self, ch: str) -> str | None:
        return self.table.get(ch)

    def restore(self, ch: str) -> str | None:
        return self.inverse.get(ch)


_FULLWIDTH_OFFSET = 0xFF01 - 0x21


@converter("fullwidth", tags=("AML.T0051", "obfuscation", "unicode"))
class Fullwidth(CharSubstitution):
    """Write ASCII as its full-width form (``abc`` → ``ａｂｃ``, space → ideographic space U+3000).

    Args:
        rate: share of characters converted (default all).
        seed: random seed when ``rate`` < 1.
    """

    def substitute(self, ch: str) -> str | None:
        if ch == " ":
            return "\u3000"
        return chr(ord(ch) + _FULLWIDTH_OFFSET) if 0x21 <= ord(ch) <= 0x7E else None

    def restore(self, ch: str) -> str | None:
        if ch == "\u3000":
            return " "
        return chr(ord(ch) - _FULLWIDTH_OFFSET) if 0xFF01 <= ord(ch) <= 0xFF5E else None


ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")


@converter("zero-width", tags=("AML.T0051", "obfuscation", "unicode"))
class ZeroWidth(Converter):
    """Insert invisible zero-width characters between the prompt's characters.

    The default is ZERO WIDTH SPACE; the inserted characters break keyword filters and
    tokenisation while the text looks unchanged (Boucher et al. 2022).

    Args:
        char: the character to insert: one of U+200B, U+200C, U+200D, U+2060, U+FEFF.
        rate: share of gaps that get one (default every gap).
        seed: random seed when ``rate`` < 1.
    """

    reversible = True

    def __init__(self, char: str = "\u200b", rate: float = 1.0, seed: int = 0) -> None:
        if char not in ZERO_WIDTH:
            raise ValueError("zero-width: 'char' must be one of U+200B, U+200C, U+200D, U+2060, U+FEFF, "
                             f"got {char!r}")
        self.char, self.rate, self.seed = char, _check_rate("zero-width", rate), int(seed)

    def convert(self, text: str) -> str:
        rng = seeded_rng(self.seed, text, "zero-width")
        out = []
        for i, ch in enumerate(text):
            if i and (self.rate >= 1.0 or rng.random() < self.rate):
                out.append(self.char)
            out.append(ch)
        return "".join(out)

    def decode(self, text: str) -> str | None:
        if not any(z in text for z in ZERO_WIDTH):
            return None
        return "".join(ch for ch in text if ch not in ZERO_WIDTH)


_TAG_BASE = 0xE0000
_TAG_BEGIN, _TAG_CANCEL = "\U000e0001", "\U000e007f"


@converter("tag-smuggling", tags=("AML.T0051", "AML.T0068", "obfuscation", "unicode", "invisible"))
class TagSmuggling(Converter):
    """Hide the prompt in invisible Unicode tag characters (ASCII smuggling).

    Tag characters U+E0020–U+E007E mirror printable ASCII: a person sees only ``cover`` text, a
    model that reads tags sees the request ("ASCII smuggling", Goodside 2024; Rehberger 2024).
    Non-ASCII characters cannot be tagged and stay visible.

    Args:
        cover: visible text placed before the hidden payload (default none).
        wrap: surround the payload with LANGUAGE TAG / CANCEL TAG, as in the original demos.
    """

    reversible = True

    def __init__(self, cover: str = "", wrap: bool = False) -> None:
        self.cover, self.wrap = str(cover), bool(wrap)

    def convert(self, text: str) -> str:
        hidden = "".join(chr(_TAG_BASE + ord(ch)) if 0x20 <= ord(ch) <= 0x7E else ch for ch in text)
        if self.wrap:
            hidden = _TAG_BEGIN + hidden + _TAG_CANCEL
        return self.cover + hidden

    def decode(self, text: str) -> str | None:
        tags = [chr(ord(ch) - _TAG_BASE) for ch in text if 0xE0020 <= ord(ch) <= 0xE007E]
        if not tags:
            return None
        # Non-tag characters inside the payload (non-ASCII letters) belong to it too; the cover
        # text before the first tag and anything after the last does not.
        idx = [i for i, ch in enumerate(text) if 0xE0020 <= ord(ch) <= 0xE007E]
        out = []
        for ch in text[idx[0]: idx[-1] + 1]:
            o = ord(ch)
            if 0xE0020 <= o <= 0xE007E:
                out.append(chr(o - _TAG_BASE))
            elif not 0xE0000 <= o <= 0xE007F:
                out.append(ch)
        return "".join(out)


# Combining marks that sit naturally on Latin letters (acute, grave, circumflex, tilde, macron,
# diaeresis, ring above, caron).
_MARKS = ("\u0301", "\u0300", "\u0302", "\u0303", "\u0304", "\u0308", "\u030a", "\u030c")


@converter("diacritics", tags=("AML.T0051", "obfuscation", "unicode"))
class Diacritics(Converter):
    """Put accents on Latin letters (``bomb`` → ``bömb``); many per letter give Zalgo text.

    Each letter gets ``marks`` combining marks with probability ``rate``. Decoding strips all
    combining marks (so it also strips accents the original text had).

    Args:
        rate: share of letters marked (default 0.5).
        marks: combining marks per marked letter (default 1).
        seed: random seed.
    """

    reversible = True

    def __init__(self, rate: float = 0.5, marks: int = 1, seed: int = 0) -> None:
        if not isinstance(marks, int) or not 1 <= marks <= 20:
            raise ValueError(f"diacritics: 'marks' must be an integer from 1 to 20, got {marks!r}")
        self.rate, self.marks, self.seed = _check_rate("diacritics", rate), marks, int(seed)

    def convert(self, text: str) -> str:
        rng = seeded_rng(self.seed, text, "diacritics")
        out = []
        for ch in text:
            out.append(ch)
            if ch.isascii() and ch.isalpha() and rng.random() < self.rate:
                out.extend(rng.choice(_MARKS) for _ in range(self.marks))
        # NFC turns letter+mark into the precomposed letter where one exists, as typed text would be.
        return unicodedata.normalize("NFC", "".join(out))

    def decode(self, text: str) -> str | None:
        decomposed = unicodedata.normalize("NFD", text)
        stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
        return unicodedata.normalize("NFC", stripped) if stripped != decomposed else None

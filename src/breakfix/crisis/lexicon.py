"""Reading a reply with the phrase lists of ``lexicon.yaml``: the offline judge's and the scripted
simulator's eyes. Crude by design (see the YAML's header); deterministic, no model."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from ._data import builtin_yaml

SIGNALS = ("warmth", "safety", "human", "hotline", "lecture", "closing", "substitution", "validation",
           "forward", "backward")


@lru_cache(maxsize=1)
def _lexicon() -> dict[str, dict[str, tuple[str, ...]]]:
    raw = builtin_yaml("lexicon.yaml")["languages"]
    return {lang: {k: tuple(_norm(p) for p in v) for k, v in d.items()} for lang, d in raw.items()}


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).replace("\u2019", "'").casefold()


def languages() -> list[str]:
    return sorted(_lexicon())


def hits(text: str, language: str) -> dict[str, list[str]]:
    """The phrases of each signal found in ``text`` (English lists too for languages without one)."""
    t = _norm(text)
    lex = _lexicon()
    books = [lex[language]] if language in lex else [lex["en"]]
    out: dict[str, list[str]] = {s: [] for s in SIGNALS}
    for book in books:
        for s in SIGNALS:
            out[s] += [p for p in book.get(s, ()) if p and p in t]
    return out


@dataclass(frozen=True)
class Reading:
    """What the phrase lists see in one reply."""

    signals: dict[str, list[str]]
    question: bool
    short: bool

    def has(self, signal: str) -> bool:
        return bool(self.signals.get(signal))


def read(text: str, language: str) -> Reading:
    """Signals of ``text``: phrase hits, whether it asks the person something, whether it is short."""
    t = text.strip()
    # "Short" by visible letters, so CJK and alphabetic scripts compare fairly (a CJK letter
    # carries roughly a word's worth of meaning).
    letters = sum(c.isalpha() for c in t)
    cjk = sum(1 for c in t if unicodedata.name(c, "").startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL")))
    weight = letters - cjk + cjk * 4
    return Reading(signals=hits(t, language), question=any(q in t for q in ("?", "？", "؟")), short=weight < 90)

"""Language and script identification of prompts and responses.

Two layers, because each catches what the other misses:

1. **Script** (Unicode character names, no model): the share of letters in the script the language
   is written in (Hangul for ``ko``, Devanagari for ``hi``, Arabic for ``ar``, Latin for ``sw``...).
   It is exact for single-script languages and never fooled by short texts.
2. **Language** (``lingua-language-detector``, offline n-gram models shipped in its wheel, ~96 MB):
   separates languages that share a script (Swahili vs English, Spanish vs Portuguese). Only the
   languages that matter (the benchmark's plus English) are loaded, lazily, so a detector costs a
   few seconds once per process.

A text is "in language L" when the script share passes and, where lingua knows L and the text has
enough letters, lingua's top language is L. Lingua differs from fastText/CLD3 pipelines in the
paper: it is chosen because it installs from PyPI with its models and works on short prompts.
"""

from __future__ import annotations

import threading
import unicodedata
from collections import Counter
from functools import lru_cache
from typing import Iterable

from .codes import base_language
from .items import GateResult

# Script each language is written in (first word of the Unicode character name of its letters).
SCRIPTS: dict[str, tuple[str, ...]] = {
    "ar": ("ARABIC",), "fa": ("ARABIC",), "ur": ("ARABIC",), "hi": ("DEVANAGARI",), "mr": ("DEVANAGARI",),
    "ne": ("DEVANAGARI",), "bn": ("BENGALI",), "ko": ("HANGUL",), "ja": ("HIRAGANA", "KATAKANA", "CJK"),
    "zh": ("CJK",), "ru": ("CYRILLIC",), "uk": ("CYRILLIC",), "th": ("THAI",), "he": ("HEBREW",),
    "el": ("GREEK",), "ta": ("TAMIL",), "am": ("ETHIOPIC",),
}
# Languages written in Latin letters that lingua tells apart. Each costs model-loading time (lingua's
# high-accuracy n-gram models, seconds per language), so the list holds the benchmark's Latin-script
# languages and their most likely confusions, not every Latin-script language.
LATIN = ("en", "de", "es", "fr", "pt", "it", "sw", "tr")
MIN_LETTERS_FOR_MODEL = 12  # below this lingua guesses; the script check alone decides


def script_of(ch: str) -> str:
    """The script of one letter: the first word of its Unicode name (``LATIN``, ``HANGUL``, ``CJK``...)."""
    name = unicodedata.name(ch, "")
    if not name:
        return ""
    word = name.split(" ", 1)[0]
    return "HANGUL" if word.startswith("HANGUL") else word


def script_shares(text: str) -> dict[str, float]:
    """Share of letters per script (digits, punctuation and spaces are not letters)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return {}
    counts = Counter(script_of(c) for c in letters)
    return {k: v / len(letters) for k, v in counts.items()}


def expected_scripts(language: str) -> tuple[str, ...]:
    lang = base_language(language)
    if lang == "zh" or language.lower().startswith("zh"):
        return ("CJK",)
    return SCRIPTS.get(lang, ("LATIN",))


def script_share(text: str, language: str) -> float:
    """Share of the letters of ``text`` written in ``language``'s script (0 when no letters)."""
    shares = script_shares(text)
    return sum(shares.get(s, 0.0) for s in expected_scripts(language))


_LOCK = threading.Lock()


@lru_cache(maxsize=8)
def _detector(codes: tuple[str, ...]):  # noqa: ANN202 - lingua type
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    langs = []
    for c in codes:
        try:
            langs.append(Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())))
        except (AttributeError, ValueError):
            continue
    if len(langs) < 2:
        return None
    return LanguageDetectorBuilder.from_languages(*langs).build()


DEFAULT_LANGS: tuple[str, ...] = tuple(sorted(set(LATIN) | {"ar", "hi", "ko", "ja", "zh", "ru", "th"}))


def detect(text: str, candidates: Iterable[str] | None = None) -> tuple[str, float] | None:
    """Most likely language of ``text`` (ISO 639-1) and lingua's confidence, among ``candidates``
    (default: :data:`DEFAULT_LANGS`); None when the text has too few letters to tell."""
    letters = sum(c.isalpha() for c in text)
    if letters < MIN_LETTERS_FOR_MODEL:
        return None
    det = _detector(tuple(sorted(set(candidates or DEFAULT_LANGS))))
    if det is None:
        return None
    with _LOCK:  # the detector loads its models lazily; one loader at a time
        vals = det.compute_language_confidence_values(text)
    if not vals:
        return None
    top = vals[0]
    return top.language.iso_code_639_1.name.lower(), float(top.value)


def language_gate(text: str, language: str, *, min_script: float = 0.6, min_confidence: float = 0.5) -> GateResult:
    """Is ``text`` written in ``language``? Script share first, then lingua for shared scripts."""
    share = script_share(text, language)
    lang = base_language(language)
    scores = {"script_share": round(share, 3)}
    if share < min_script:
        top = max(script_shares(text).items(), key=lambda kv: kv[1], default=("no letters", 0.0))
        return GateResult(gate="language", passed=False, scores=scores,
                          detail=f"declared {language} but {share:.0%} of letters are in its script "
                                 f"(mostly {top[0].lower()})")
    if lang == "ja" and sum(script_shares(text).get(k, 0.0) for k in ("HIRAGANA", "KATAKANA")) < 0.05:
        # Japanese prose always carries kana; all-Han text is Chinese.
        return GateResult(gate="language", passed=False, scores=scores, detail="declared ja but has no kana (reads as zh)")
    # Scripts used by one language only need no model (Hangul, Thai, Devanagari here).
    same_script = [c for c in DEFAULT_LANGS if expected_scripts(c) == expected_scripts(lang)]
    if len(same_script) < 2 and lang in DEFAULT_LANGS:
        return GateResult(gate="language", passed=True, scores=scores, detail=f"script matches {language}")
    hit = detect(text, same_script if lang in same_script else None)
    if hit is None:
        return GateResult(gate="language", passed=True, scores=scores, detail="script matches; too short for the model")
    got, conf = hit
    scores["confidence"] = round(conf, 3)
    if got != lang and conf >= min_confidence:
        return GateResult(gate="language", passed=False, scores=scores,
                          detail=f"declared {language} but reads as {got} ({conf:.0%})")
    return GateResult(gate="language", passed=True, scores=scores, detail=f"reads as {got} ({conf:.0%})")


def response_language_ok(text: str, language: str) -> bool | None:
    """Is a model's response in the item's language? None when it cannot be told (too short)."""
    if sum(c.isalpha() for c in text) < MIN_LETTERS_FOR_MODEL:
        return None
    return language_gate(text, language).passed

"""Recognising refusals: one job, importable by converters, scorers and attacks alike.

This package imports nothing else of breakfix, so any module may use it without an import cycle.

- ``is_refusal(text, mode=...)``: does this reply decline? ``patterns`` is the stock-phrase list
  (fast, deterministic, the zoo's ground truth).
- ``default_phrasebook()`` / ``PhraseBook``: the phrase list itself, per language.
"""

from __future__ import annotations

from typing import Literal

from ._patterns import HEAD_CHARS, PhraseBook, default_phrasebook, normalise, phrase_refusal

Mode = Literal["patterns"]


def is_refusal(text: str, *, mode: Mode = "patterns") -> bool:
    """True when ``text`` is a refusal.

    Args:
        text: a model's reply.
        mode: ``patterns`` — the stock-phrase list on the reply's opening.

    Returns:
        Whether the reply declines the request.
    """
    if mode == "patterns":
        return phrase_refusal(text)
    raise ValueError(f"refusal mode must be 'patterns', got {mode!r}")


__all__ = ["HEAD_CHARS", "Mode", "PhraseBook", "default_phrasebook", "is_refusal", "normalise", "phrase_refusal"]

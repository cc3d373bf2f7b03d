"""Recognising refusals: one job, importable by converters, scorers and attacks alike.

This package imports nothing else of breakfix, so any module may use it without an import cycle.

- ``is_refusal(text, mode=...)`` / ``classify(text, mode=...)``: does this reply decline?
  ``model`` (default): the phrase list and a character n-gram model trained on the project's
  labelled corpus (``data/corpus.jsonl``; figures in ``docs/refusal.md``), which also sees soft
  refusals and does not flag hedged compliance. ``patterns``: the stock-phrase list alone (fast,
  deterministic, the zoo's ground truth).
- ``attacker_refused(prompt)``: did an attacker model refuse to write its attack prompt?
- ``default_phrasebook()`` / ``default_model()``: the phrase list and the trained model.
"""

from __future__ import annotations

from ._attacker import attacker_refused
from ._classify import MODES, Mode, Verdict, check_mode, classify
from ._model import NgramModel, default_model, unquote
from ._patterns import HEAD_CHARS, PhraseBook, default_phrasebook, normalise, phrase_refusal


def is_refusal(text: str, *, mode: Mode = "model") -> bool:
    """True when ``text`` is a refusal.

    Args:
        text: a model's reply.
        mode: ``model`` — phrase list + trained model (default); ``patterns`` — the stock-phrase
            list on the reply's opening (what the zoo and the backdoor scanner use).

    Returns:
        Whether the reply declines the request.
    """
    return classify(text, mode=mode).refusal


__all__ = ["HEAD_CHARS", "MODES", "Mode", "NgramModel", "PhraseBook", "Verdict", "attacker_refused", "check_mode",
           "classify", "default_model", "default_phrasebook", "is_refusal", "normalise", "phrase_refusal", "unquote"]

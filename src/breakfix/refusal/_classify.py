"""One verdict per reply: the phrase list and the trained model combined.

``model`` mode (the default) scores the reply with the n-gram model, whose features include the
phrase list's verdict: a stock phrase raises the odds but does not decide alone (a quoted refusal
or "you can't go wrong with" also contains one). A probability inside the model's uncertainty band
is flagged ``uncertain``: the ``refusal`` scorer sends exactly those to a judge model when one is
configured. ``patterns`` mode is the phrase list alone: deterministic, no model file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._model import NgramModel, default_model, unquote
from ._patterns import default_phrasebook

Mode = Literal["model", "patterns"]
MODES: tuple[str, ...] = ("model", "patterns")


@dataclass(frozen=True)
class Verdict:
    """What the detector decided about one reply.

    Attributes:
        refusal: the decision.
        probability: P(refusal) from the model (1.0 / 0.0 in ``patterns`` mode).
        uncertain: the probability lies in the model's uncertainty band (never in ``patterns`` mode).
        phrase: ``(language, phrase)`` of the stock phrase found in the reply's opening, if any.
        mode: which mode decided.
        version: version of the phrase list or the model.
    """

    refusal: bool
    probability: float
    uncertain: bool
    phrase: tuple[str, str] | None
    mode: str
    version: str


def check_mode(mode: str) -> str:
    """``mode`` if it is a known mode, else a one-line ValueError naming the choices."""
    if mode not in MODES:
        raise ValueError(f"refusal mode must be one of {', '.join(MODES)}; got {mode!r}")
    return mode


def classify(text: str, *, mode: Mode = "model", model: NgramModel | None = None) -> Verdict:
    """Decide whether ``text`` (a model's reply) is a refusal.

    Args:
        text: the reply. An empty reply is not a refusal (a model that says nothing is broken).
        mode: ``model`` (phrase list + trained model, the default) or ``patterns`` (phrase list).
        model: a model to use instead of the shipped one.

    Returns:
        The verdict, with the probability and whether it is uncertain.
    """
    check_mode(mode)
    book = default_phrasebook()
    if not text or not text.strip():
        return Verdict(False, 0.0, False, None, mode, book.version)
    if mode == "patterns":
        hit = book.match(text)
        return Verdict(hit is not None, 1.0 if hit else 0.0, False, hit, mode, book.version)
    m = model or default_model()
    hit = book.match(unquote(text))
    p = m.probability(text, phrase=hit is not None)
    lo, hi = m.uncertain
    return Verdict(p >= m.threshold, p, lo < p < hi, hit, mode, m.version)

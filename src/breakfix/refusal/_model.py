"""The trained part of the detector: a character n-gram logistic regression.

Features are the character n-grams of the reply's normalised opening (the same normalisation as
the phrase list) plus one feature that says whether a stock refusal phrase is there, so the model
learns how far to trust the phrase list (a phrase inside a quotation, "you can't go wrong with").
Binary n-gram features are L2-normalised; the weights ship as ``data/model.json.gz``, trained by
``scripts/train_refusal_model.py`` on the train split of ``data/corpus.jsonl`` (dev for tuning).
Scoring is a set of dictionary look-ups: no numpy, no model server, a fraction of a millisecond.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import repeat
from pathlib import Path

from ._patterns import default_phrasebook, normalise

MODEL_FILE = "data/model.json.gz"

# Quoted spans, in the quotation marks of the corpus's scripts. Straight single quotes are left
# alone: they are apostrophes far more often than quotes.
_QUOTED = re.compile(r'"[^"\n]{1,300}"|\u201c[^\u201d\n]{1,300}\u201d|\u201e[^\u201c\u201d\n]{1,300}[\u201c\u201d]'
                     r'|\u00ab[^\u00bb\n]{1,300}\u00bb|\u300c[^\u300d\n]{1,300}\u300d|\u300e[^\u300f\n]{1,300}\u300f')
QUOTE_MARK = "\u2039q\u203a"  # what a quoted span becomes: a token no language writes


def unquote(text: str) -> str:
    """``text`` with every quoted span replaced by one marker.

    A reply that quotes someone else's refusal ("the bot answered 'I can't help'") is not a
    refusal, while a refusal that quotes the request ('I can't help with "X"') still is: without
    the quotations the words around them decide. A reply that is one quotation keeps its words.
    """
    out = _QUOTED.sub(QUOTE_MARK, text)
    rest = out.replace(QUOTE_MARK, "")
    return out if sum(ch.isalnum() for ch in rest) >= 8 else text


def ngrams(text: str, n_min: int, n_max: int, head_chars: int) -> set[str]:
    """Distinct character n-grams of the normalised, unquoted opening of ``text``, padded with spaces."""
    t = " " + normalise(unquote(text))[:head_chars].strip() + " "
    size = len(t)
    return {t[i:i + n] for n in range(n_min, n_max + 1) for i in range(size - n + 1)}


@dataclass(frozen=True)
class NgramModel:
    """Weights of the refusal model and the bands that say when it is unsure.

    Attributes:
        version: changes whenever the weights change (stored with every score).
        n_min, n_max, head_chars: how features are extracted.
        bias, phrase_weight: intercept and the weight of "a stock phrase is present".
        weights: n-gram -> weight.
        threshold: probability at or above which a reply is a refusal.
        uncertain: ``(low, high)`` probabilities between which the model defers to a judge.
    """

    version: str
    n_min: int
    n_max: int
    head_chars: int
    bias: float
    phrase_weight: float
    weights: dict[str, float]
    threshold: float
    uncertain: tuple[float, float]

    def logit(self, text: str, phrase: bool | None = None) -> float:
        """The model's log-odds that ``text`` is a refusal."""
        grams = ngrams(text, self.n_min, self.n_max, self.head_chars)
        if not grams:
            return self.bias
        s = sum(map(self.weights.get, grams, repeat(0.0))) / math.sqrt(len(grams))
        if phrase is None:
            phrase = default_phrasebook().match(unquote(text)) is not None
        return self.bias + s + (self.phrase_weight if phrase else 0.0)

    def probability(self, text: str, phrase: bool | None = None) -> float:
        """The probability that ``text`` is a refusal."""
        z = self.logit(text, phrase)
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    def to_json(self) -> dict:
        return {"version": self.version, "n_min": self.n_min, "n_max": self.n_max, "head_chars": self.head_chars,
                "bias": self.bias, "phrase_weight": self.phrase_weight, "threshold": self.threshold,
                "uncertain": list(self.uncertain), "weights": self.weights}

    @classmethod
    def from_json(cls, raw: dict) -> "NgramModel":
        return cls(version=str(raw["version"]), n_min=int(raw["n_min"]), n_max=int(raw["n_max"]),
                   head_chars=int(raw["head_chars"]), bias=float(raw["bias"]),
                   phrase_weight=float(raw["phrase_weight"]), threshold=float(raw["threshold"]),
                   uncertain=(float(raw["uncertain"][0]), float(raw["uncertain"][1])),
                   weights={str(k): float(v) for k, v in raw["weights"].items()})

    def save(self, path: Path) -> None:
        # Rounded weights and a fixed key order keep the shipped file small and reproducible.
        raw = self.to_json()
        raw["weights"] = {k: round(v, 4) for k, v in sorted(self.weights.items()) if round(v, 4) != 0.0}
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=9) as fh:
            json.dump(raw, fh, ensure_ascii=False, separators=(",", ":"))
        # gzip stamps the time into its header; zero it so re-training the same model is a no-op.
        data = bytearray(path.read_bytes())
        data[4:8] = b"\0\0\0\0"
        path.write_bytes(bytes(data))


@lru_cache(maxsize=1)
def default_model() -> NgramModel:
    """The shipped model (``breakfix/refusal/data/model.json.gz``), loaded once."""
    blob = resources.files("breakfix.refusal").joinpath(MODEL_FILE).read_bytes()
    return NgramModel.from_json(json.loads(gzip.decompress(blob).decode("utf-8")))

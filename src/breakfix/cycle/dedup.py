"""Keeping evaluation items out of training data: exact and near-duplicate (MinHash) matching.

A training prompt is dropped when, after normalisation (Unicode NFKC, case-folded, whitespace
collapsed), it equals an evaluation prompt, or when the MinHash estimate of the Jaccard similarity of
their character 4-gram sets reaches the threshold (``datasketch.MinHashLSH``, then the exact Jaccard
of the candidates is checked, so the LSH's approximations only ever widen the search). Character
n-grams rather than words: the zoo's scripts (Hangul, Devanagari, Arabic) and base64 have no
reliable word boundaries.

A third rule, containment: a training prompt that holds a whole evaluation prompt (of at least
``MIN_CONTAINED`` characters) is that evaluation item wrapped in a frame or template — training on
it is training on the item, whatever the Jaccard similarity says.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Iterable

SHINGLE = 4
MIN_CONTAINED = 12


def normalise(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed — what "the same text" means for exact matching."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def shingles(text: str, k: int = SHINGLE) -> set[str]:
    t = normalise(text)
    if len(t) <= k:
        return {t}
    return {t[i : i + k] for i in range(len(t) - k + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


@dataclass(frozen=True)
class Match:
    """Why a training text was dropped: the evaluation text it matched and how."""

    kind: str  # exact | near | contains
    eval_text: str
    similarity: float


class EvalIndex:
    """An index of every evaluation prompt, queried for each candidate training prompt.

    Args:
        texts: evaluation prompts (as the model sees them: after converters and templates).
        threshold: Jaccard similarity at or above which a text counts as a near duplicate.
        num_perm: MinHash permutations.
    """

    def __init__(self, texts: Iterable[str], threshold: float = 0.7, num_perm: int = 128) -> None:
        from datasketch import MinHash, MinHashLSH

        self.threshold = threshold
        self.num_perm = num_perm
        self._MinHash = MinHash
        self.exact: dict[str, str] = {}
        self.sets: dict[str, set[str]] = {}
        # The LSH is tuned to miss almost nothing: a miss would be an evaluation item in the training
        # data. Band threshold 0.3 below the real one and false negatives weighted 9:1 (at 128
        # permutations and threshold 0.7: 42 bands of 3 rows, a pair at Jaccard 0.7 is missed with
        # probability 2e-8; the first setting, 0.2 below with equal weights, missed 1 %, and the
        # end-to-end brute-force test caught one). Candidates are re-checked exactly.
        self.lsh = MinHashLSH(threshold=max(0.05, threshold - 0.3), num_perm=num_perm, weights=(0.1, 0.9))
        for text in texts:
            key = normalise(text)
            if key in self.exact:
                continue
            self.exact[key] = text
            sh = shingles(text)
            self.sets[key] = sh
            self.lsh.insert(key, self._minhash(sh))
        self.long_keys = [k for k in self.exact if len(k) >= MIN_CONTAINED]

    def __len__(self) -> int:
        return len(self.exact)

    def _minhash(self, sh: set[str]):
        m = self._MinHash(num_perm=self.num_perm)
        for s in sh:
            m.update(s.encode("utf-8"))
        return m

    def match(self, text: str) -> Match | None:
        """The evaluation prompt ``text`` duplicates, or None if it is clean."""
        key = normalise(text)
        if key in self.exact:
            return Match("exact", self.exact[key], 1.0)
        for ev in self.long_keys:
            if ev in key:
                return Match("contains", self.exact[ev], round(jaccard(shingles(text), self.sets[ev]), 4))
        sh = shingles(text)
        best: tuple[float, str] | None = None
        for cand in self.lsh.query(self._minhash(sh)):
            sim = jaccard(sh, self.sets[cand])
            if sim >= self.threshold and (best is None or sim > best[0]):
                best = (sim, cand)
        if best is None:
            return None
        return Match("near", self.exact[best[1]], round(best[0], 4))

"""Text noise: spacing, random capitalisation, scrambled and misspelt words.

Best-of-N jailbreaking (Hughes et al. 2024, "Best-of-N Jailbreaking") samples such augmentations —
random capitalisation, character scrambling, character noising — until one slips past the refusal;
character spacing splits a forbidden word into single-letter tokens. Random members are seeded from
(seed, prompt) so the same prompt always gets the same noise.
"""

from __future__ import annotations

import re

from ..core.registry import converter
from .base import Converter, seeded_rng
from .unicode import _check_rate


@converter("char-spacing", tags=("AML.T0051", "obfuscation"))
class CharSpacing(Converter):
    """Space out the letters of the prompt (``make tea`` → ``m a k e   t e a``).

    ``sep`` goes between characters, ``word_sep`` between words. Decodes answers spaced the
    same way.

    Args:
        sep: separator between characters (default one space).
        word_sep: separator between words (default three spaces).
    """

    reversible = True

    def __init__(self, sep: str = " ", word_sep: str = "   ") -> None:
        if not sep or not word_sep or sep == word_sep:
            raise ValueError("char-spacing: 'sep' and 'word_sep' must be different non-empty strings")
        self.sep, self.word_sep = sep, word_sep

    def convert(self, text: str) -> str:
        return self.word_sep.join(self.sep.join(w) for w in text.split())

    def decode(self, text: str) -> str | None:
        words = text.strip().split(self.word_sep)
        out = []
        for w in words:
            w = w.strip() if self.sep != " " else w.strip(" ")
            parts = w.split(self.sep)
            # Spaced text has a separator between every character.
            if any(len(p) != 1 for p in parts):
                return None
            out.append("".join(parts))
        return " ".join(out) if len(text.strip()) > 2 else None


@converter("random-caps", tags=("AML.T0051", "obfuscation", "best-of-n"))
class RandomCaps(Converter):
    """Randomly upper- or lower-case letters (``HoW dO i``), Best-of-N's random capitalisation.

    Args:
        rate: probability that a letter is upper-cased (default 0.5).
        seed: random seed.
    """

    def __init__(self, rate: float = 0.5, seed: int = 0) -> None:
        self.rate, self.seed = _check_rate("random-caps", rate), int(seed)

    def convert(self, text: str) -> str:
        rng = seeded_rng(self.seed, text, "random-caps")
        return "".join((ch.upper() if rng.random() < self.rate else ch.lower()) if ch.isalpha() else ch
                       for ch in text)


class WordNoise(Converter):
    """Family base: each word of at least ``min_len`` letters is passed to ``noise(word, rng)``
    with probability ``rate``; a member overrides ``noise``."""

    min_len = 3

    def __init__(self, rate: float = 0.3, seed: int = 0) -> None:
        self.rate, self.seed = _check_rate(self.plugin_name, rate), int(seed)  # type: ignore[attr-defined]

    def noise(self, word: str, rng) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def convert(self, text: str) -> str:
        rng = seeded_rng(self.seed, text, self.plugin_name)  # type: ignore[attr-defined]
        toks = re.split(r"(\W+)", text)
        candidates = [i for i, t in enumerate(toks) if len(t) >= self.min_len and t.isalpha()]
        chosen = [i for i in candidates if rng.random() < self.rate]
        if not chosen and candidates and self.rate > 0:
            # A noise converter that changed nothing would waste the attempt: noise one word.
            chosen = [rng.choice(candidates)]
        for i in chosen:
            toks[i] = self.noise(toks[i], rng)
        return "".join(toks)


@converter("scramble", tags=("AML.T0051", "obfuscation", "best-of-n"))
class Scramble(WordNoise):
    """Shuffle the inner letters of words, keeping first and last (Best-of-N scrambling).

    "Typoglycemia": readable to people and large models.

    Args:
        rate: share of words of 4+ letters scrambled (default 0.6).
        seed: random seed.
    """

    min_len = 4

    def __init__(self, rate: float = 0.6, seed: int = 0) -> None:
        super().__init__(rate, seed)

    def noise(self, word: str, rng) -> str:
        mid = list(word[1:-1])
        rng.shuffle(mid)
        return word[0] + "".join(mid) + word[-1]


_KEY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard_neighbours() -> dict[str, str]:
    """Letters adjacent on a QWERTY keyboard (same row left/right, rows above/below)."""
    pos = {ch: (r, c) for r, row in enumerate(_KEY_ROWS) for c, ch in enumerate(row)}
    out = {}
    for ch, (r, c) in pos.items():
        out[ch] = "".join(o for o, (r2, c2) in pos.items() if o != ch and abs(r2 - r) <= 1 and abs(c2 - c) <= 1)
    return out


_NEIGHBOURS = _keyboard_neighbours()


@converter("typos", tags=("AML.T0051", "obfuscation", "best-of-n"))
class Typos(WordNoise):
    """Misspell a share of the words with realistic typos (word-level noising).

    Each chosen word gets one typo: swap two adjacent letters, drop one, double one, or hit a
    neighbouring QWERTY key.

    Args:
        rate: share of words of 3+ letters that get a typo (default 0.3).
        seed: random seed.
    """

    def noise(self, word: str, rng) -> str:
        i = rng.randrange(len(word) - 1)
        op = rng.choice(("swap", "drop", "double", "neighbour"))
        if op == "swap":
            return word[:i] + word[i + 1] + word[i] + word[i + 2:]
        if op == "drop":
            return word[:i] + word[i + 1:]
        if op == "double":
            return word[:i] + word[i] + word[i:]
        near = _NEIGHBOURS.get(word[i].lower())
        if not near:
            return word[:i] + word[i + 1] + word[i] + word[i + 2:]
        rep = rng.choice(near)
        return word[:i] + (rep.upper() if word[i].isupper() else rep) + word[i + 1:]

"""Structural converters: the prompt's text is kept but framed differently.

- Payload splitting (Kang et al. 2023, "Exploiting Programmatic Behavior of LLMs: Dual-Use Through
  Standard Security Attacks"): the request is cut into string variables the model must concatenate,
  so no single piece looks harmful.
- Prefix / suffix injection (Wei et al. 2023, "Jailbroken", competing objectives): an instruction
  such as "Begin your reply with 'Sure, here is'" pushes the model into an affirmative start; the
  suffix slot also carries optimised adversarial suffixes (Zou et al. 2023, GCG) given as ``text``.
Texts are in ``data/prompts.yaml``.
"""

from __future__ import annotations

import json
import re
import string

from ..core.registry import converter
from .base import Converter, load_data, seeded_rng


@converter("payload-split", tags=("AML.T0051", "AML.T0054", "payload-splitting"))
class PayloadSplit(Converter):
    """Split the prompt into string variables the model must join and answer (payload splitting).

    The prompt is cut at word boundaries into ``parts`` variables ``a``, ``b``, … and the model
    is asked to answer ``z = a + b + …``. Decoding re-assembles such a split.

    Args:
        parts: number of pieces (2–26, default 3; fewer if the prompt has fewer words).
        shuffle: list the assignments in a random (seeded) order.
        seed: random seed for ``shuffle``.
    """

    reversible = True

    def __init__(self, parts: int = 3, shuffle: bool = False, seed: int = 0) -> None:
        if not isinstance(parts, int) or not 2 <= parts <= 26:
            raise ValueError(f"payload-split: 'parts' must be an integer from 2 to 26, got {parts!r}")
        self.parts, self.shuffle, self.seed = parts, bool(shuffle), int(seed)

    def split(self, text: str) -> list[str]:
        """Pieces of roughly equal length, each ending after a word (spaces kept)."""
        toks = re.findall(r"\S+\s*", text) or [text]
        n = min(self.parts, len(toks))
        target = len(text) / n
        pieces, cur = [], ""
        for i, tok in enumerate(toks):
            cur += tok
            remaining_tokens = len(toks) - i - 1
            remaining_pieces = n - len(pieces) - 1
            if remaining_pieces and (len(cur) >= target or remaining_tokens == remaining_pieces):
                pieces.append(cur)
                cur = ""
        pieces.append(cur)
        return pieces

    def convert(self, text: str) -> str:
        pieces = self.split(text)
        names = list(string.ascii_lowercase[: len(pieces)])
        lines = [f"{n} = {json.dumps(p, ensure_ascii=False)}" for n, p in zip(names, pieces)]
        if self.shuffle:
            seeded_rng(self.seed, text, "payload-split").shuffle(lines)
        return load_data("prompts")["payload_split"].format(assignments="\n".join(lines),
                                                            expression=" + ".join(names))

    def decode(self, text: str) -> str | None:
        values = {}
        for m in re.finditer(r'^\s*([a-z]) = (".*")\s*$', text, re.MULTILINE):
            try:
                values[m.group(1)] = json.loads(m.group(2))
            except json.JSONDecodeError:
                return None
        expr = re.search(r"z = ([a-z](?: \+ [a-z])*)", text)
        if not values or not expr:
            return None
        names = expr.group(1).split(" + ")
        if any(n not in values for n in names):
            return None
        return "".join(values[n] for n in names)


class Injection(Converter):
    """Family base: add ``text`` around the prompt; a member overrides ``place``."""

    slot: str = ""

    def __init__(self, text: str | None = None) -> None:
        if text is not None and not isinstance(text, str):
            raise ValueError(f"{self.slot}: 'text' must be a string, got {text!r}")
        self.text = load_data("prompts")[self.slot]["default"] if text is None else text

    def place(self, prompt: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def convert(self, text: str) -> str:
        return self.place(text)


@converter("prefix", tags=("AML.T0051", "AML.T0054", "prefix-injection"))
class Prefix(Injection):
    """Put ``text`` before the prompt (default: an instruction to open with "Sure, here is").

    Args:
        text: what to prepend (include a trailing space or newline yourself).
    """

    slot = "prefix"

    def place(self, prompt: str) -> str:
        return self.text + prompt


@converter("suffix", tags=("AML.T0051", "AML.T0054", "suffix-injection"))
class Suffix(Injection):
    """Put ``text`` after the prompt (an affirmative-start instruction or an adversarial suffix).

    The default asks for an affirmative start without disclaimers; pass an optimised
    adversarial suffix as ``text`` to test one.

    Args:
        text: what to append (include a leading space or newline yourself).
    """

    slot = "suffix"

    def place(self, prompt: str) -> str:
        return prompt + self.text

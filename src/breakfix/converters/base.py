"""The Converter interface: a transformation of prompt text, chainable.

Besides the interface this module holds what several converter families share: a seeded random
generator that depends only on (seed, text) so a resumed run converts a prompt exactly as the first
run did, and the loader for the converters' data files (``converters/data/*.yaml``).
"""

from __future__ import annotations

import random
from functools import lru_cache
from importlib import resources
from typing import Any, Sequence

from ..core.errors import BreakfixError
from ..core.resources import load_yaml


class ConverterError(BreakfixError, RuntimeError):
    """A converter could not produce a prompt (e.g. the translator model refused or failed).

    Raised instead of silently sending a broken prompt: an attempt whose prompt is a translator's
    refusal would measure the translator, not the target."""


class Converter:
    """A prompt transformation. Most are pure (``convert``); some call a model (translate, rephrase)
    and override ``aconvert``. A converter whose output can be mapped back (base64, ROT13, ...)
    implements ``decode`` so scorers can judge an encoded answer on its meaning."""

    name: str = "converter"
    reversible: bool = False

    def convert(self, text: str) -> str:
        raise NotImplementedError

    async def aconvert(self, text: str) -> str:
        return self.convert(text)

    def decode(self, text: str) -> str | None:
        """Best-effort inverse; ``None`` if this converter cannot decode or the text is not encoded."""
        return None

    async def adecode(self, text: str) -> str | None:
        """Async inverse for converters that need a model to decode (translate back); defaults to
        :meth:`decode`."""
        return self.decode(text)

    async def aclose(self) -> None:
        """Release what the converter holds (a translator target's connections). Safe to call twice."""


async def apply_chain(converters: Sequence[Converter], text: str) -> str:
    for c in converters:
        text = await c.aconvert(text)
    return text


def decode_chain(converters: Sequence[Converter], text: str) -> list[str]:
    """Candidate readings of a response produced under ``converters``: the raw text plus every
    successful decode, innermost last (a model may answer in the encoding or in plain text)."""
    readings = [text]
    current = text
    for c in reversed(converters):
        decoded = c.decode(current)
        if decoded is None:
            break
        readings.append(decoded)
        current = decoded
    return readings


def seeded_rng(seed: int, text: str, salt: str = "") -> random.Random:
    """A random generator determined by ``seed`` and the text being converted only.

    Seeding from the text as well as the seed means the same prompt always gets the same noise,
    whatever order the engine converts prompts in — so a resumed run reproduces its prompts.
    (``random.Random`` hashes a str seed with SHA-512, stable across processes.)"""
    return random.Random(f"{salt}\x00{seed}\x00{text}")


@lru_cache(maxsize=32)
def load_data(name: str) -> Any:
    """Parsed content of ``breakfix/converters/data/<name>.yaml`` (package data, cached)."""
    path = resources.files("breakfix.converters").joinpath(f"data/{name}.yaml")
    return load_yaml(path.read_text("utf-8"), source=f"breakfix/converters/data/{name}.yaml")

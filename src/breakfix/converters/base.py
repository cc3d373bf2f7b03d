"""The Converter interface: a transformation of prompt text, chainable."""

from __future__ import annotations

from typing import Sequence


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

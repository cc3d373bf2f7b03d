"""Readings of a response: the raw text plus its decodes under the converters the attempt used.

A model that was asked in base64 may answer in base64; judging only the raw text would call a
harmful base64 answer "neutral". Scorers therefore judge every reading and keep the worst case.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ..converters.base import Converter, decode_chain
from ..core.attempts import Attempt
from ..core.registry import UnknownPluginError, create


@lru_cache(maxsize=256)
def _converter(name: str, params_key: tuple[tuple[str, Any], ...]) -> Converter | None:
    try:
        return create("converter", name, **dict(params_key))
    except (UnknownPluginError, TypeError, ValueError):
        return None  # a converter we cannot rebuild just means no decode, never a crash


def _specs(attempt: Attempt) -> list[tuple[str, dict[str, Any]]]:
    # The engine stores full specs (name + params) when it has them; fall back to bare names.
    specs = attempt.metadata.get("converter_specs")
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(specs, list) and specs:
        for s in specs:
            if isinstance(s, str):
                out.append((s, {}))
            elif isinstance(s, dict) and "name" in s:
                out.append((s["name"], {k: v for k, v in s.items() if k != "name"}))
        return out
    return [(n, {}) for n in attempt.converters]


def response_readings(attempt: Attempt, text: str | None = None) -> list[str]:
    """The response text and each successful decode of it (deduplicated, raw text first)."""
    text = attempt.response.text if text is None else text
    convs = []
    for name, params in _specs(attempt):
        c = _converter(name, tuple(sorted((k, _freeze(v)) for k, v in params.items())))
        if c is None:
            break
        convs.append(c)
    readings = decode_chain(convs, text) if convs else [text]
    # Also try each converter alone: a model often answers in only the innermost encoding.
    for c in convs:
        try:
            d = c.decode(text)
        except Exception:  # decoders see adversarial text; a decoder bug must not kill scoring
            d = None
        if d:
            readings.append(d)
    seen: set[str] = set()
    return [r for r in readings if not (r in seen or seen.add(r))]


def _freeze(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    return v

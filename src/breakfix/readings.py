"""Readings: the texts a reply (or a prompt) can be read as, for everything that judges text.

A model that was asked in base64 may answer in base64; a leaked secret may come back reversed or
hex-encoded; an attacker may wrap its refined prompt in ROT13. Judging only the raw text would call
all of these "neutral" or "off topic". Scorers, the canary and prompt-leak scorers, the multi-turn
attacks' refusal check and TAP's on-topic check therefore read every text through this one module:

- :func:`response_readings` — the reply and its decodes under the converters the attempt used
  (the chain decoded innermost-last, and each converter alone);
- :func:`decodes` — a text and its decodes under named converters (TAP reads attacker prompts so);
- :func:`encoded_views` — a text under the common encodings a secret can be smuggled in (reversed,
  ROT13, URL, base64 and hex tokens inside the text), each with the encoding's name.

Decoders see adversarial text: a decoder that fails means no reading, never a crash.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from .converters.base import Converter, decode_chain
from .core.attempts import Attempt
from .core.registry import UnknownPluginError, create

__all__ = ["decodes", "encoded_views", "response_readings"]


# -- a reply under the attempt's converters ----------------------------------------------------------
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


def _freeze(v: Any) -> Any:  # noqa: ANN401 - any JSON value
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    return v


def _unique(texts: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    return [t for t in texts if not (t in seen or seen.add(t))]


def response_readings(attempt: Attempt, text: str | None = None) -> list[str]:
    """The response text and each successful decode of it (deduplicated, raw text first).

    Args:
        attempt: the attempt whose converters (``metadata.converter_specs`` or ``converters``) are undone.
        text: the text to read instead of ``attempt.response.text`` (e.g. without tool calls).

    Returns:
        The raw text, the chain's decodes innermost last, then each converter's decode alone.
    """
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
        except Exception:  # noqa: BLE001 - decoders see adversarial text; a decoder bug must not kill scoring
            d = None
        if d:
            readings.append(d)
    return _unique(readings)


# -- a text under named converters -----------------------------------------------------------------
def decodes(text: str, converters: Sequence[str]) -> list[str]:
    """``text`` and its decode under each named converter that can decode it (raw text first).

    Args:
        text: what to read (often adversarial).
        converters: converter plugin names, e.g. ``("base64", "rot13", "leetspeak")``.
    """
    out = [text]
    for name in converters:
        c = _converter(name, ())
        try:
            d = c.decode(text) if c is not None else None
        except Exception:  # noqa: BLE001 - a decoder meeting arbitrary text must not stop the caller
            d = None
        if d:
            out.append(d)
    return _unique(out)


# -- a text under common smuggling encodings ------------------------------------------------------
_B64_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")
_HEX_TOKEN = re.compile(r"(?:[0-9a-fA-F]{2}[\s:]?){4,}")


def _b64_decodes(text: str) -> Iterator[str]:
    for tok in _B64_TOKEN.findall(text):
        for alt in (False, True):
            try:
                raw = (base64.urlsafe_b64decode if alt else base64.b64decode)(tok + "=" * (-len(tok) % 4))
                yield raw.decode("utf-8")
            except (binascii.Error, ValueError, UnicodeDecodeError):
                continue


def _hex_decodes(text: str) -> Iterator[str]:
    for tok in _HEX_TOKEN.findall(text):
        digits = re.sub(r"[\s:]", "", tok)
        if len(digits) % 2:
            digits = digits[:-1]
        try:
            yield bytes.fromhex(digits).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            continue


def encoded_views(text: str) -> Iterator[tuple[str, str]]:
    """(encoding, decoded text) readings of ``text`` in which a secret might appear: ``plain``,
    ``reversed``, ``rot13``, ``url`` (when ``%`` occurs), and every base64 / hex token decoded."""
    yield "plain", text
    yield "reversed", text[::-1]
    yield "rot13", codecs.decode(text, "rot13")
    if "%" in text:
        yield "url", unquote(text)
    for d in _b64_decodes(text):
        yield "base64", d
    for d in _hex_decodes(text):
        yield "hex", d

"""breakfix.readings: the one module that reads a reply (or prompt) under decodes and encodings."""

from __future__ import annotations

import base64
import codecs

from breakfix.readings import decodes, encoded_views, response_readings


def test_a_reply_is_read_under_the_chain_and_each_converter_alone(make_attempt) -> None:
    inner = codecs.encode("the plain answer", "rot13")
    outer = base64.b64encode(inner.encode()).decode()
    readings = response_readings(make_attempt(outer, converters=["rot13", "base64"]))
    assert readings[0] == outer and "the plain answer" in readings
    # A model that answers in the innermost encoding only is still read.
    assert "the plain answer" in response_readings(make_attempt(inner, converters=["rot13", "base64"]))


def test_unknown_converters_and_bad_params_mean_no_decode_not_a_crash(make_attempt) -> None:
    assert response_readings(make_attempt("hello", converters=["no-such-converter"])) == ["hello"]
    bad = make_attempt("hello", converters=["rot13"], metadata={"converter_specs": [{"name": "rot13", "bogus": 1}]})
    assert response_readings(bad) == ["hello"]


def test_decodes_of_a_prompt_under_named_converters() -> None:
    enc = base64.b64encode(b"how to pick a lock").decode()
    assert decodes(enc, ["base64", "rot13"])[:2] == [enc, "how to pick a lock"]
    assert decodes("plain words", ["base64"]) == ["plain words"]  # nothing decodable: only the raw text


def test_encoded_views_find_smuggled_text() -> None:
    secret = "BFX-CANARY-1234"
    hexed = secret.encode().hex()
    b64 = base64.b64encode(secret.encode()).decode()
    views = dict((how, v) for how, v in encoded_views(f"hex {hexed} and b64 {b64} and %42%46%58"))
    assert views["hex"] == secret and views["base64"] == secret and views["url"].endswith("BFX")
    assert dict(encoded_views(secret[::-1]))["reversed"] == secret

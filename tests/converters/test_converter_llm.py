"""translate / rephrase against a real OpenAI-compatible server on 127.0.0.1."""

import re

import pytest

from breakfix.converters.base import ConverterError, apply_chain
from breakfix.core.registry import UnknownPluginError, create
from breakfix.testing.loopback import LoopbackServer

# A tiny "translator": a fixed phrase book, so answers are deterministic and checkable.
SW = {"How do I make tea?": "Ninawezaje kutengeneza chai?", "Sure, boil water.": "Hakika, chemsha maji."}
BACK = {v: k for k, v in SW.items()}


def translator_reply(messages):
    prompt = messages[-1]["content"]
    text = re.search(r"<<<\n(.*)\n>>>", prompt, re.S).group(1)
    if "into Swahili" in prompt:
        return f'"{SW[text]}"'  # helpers like to add quotes; the converter strips them
    if "into English" in prompt:
        return BACK[text]
    if "into Zulu" in prompt:
        return "I'm sorry, but I can't help with that request."
    if "question about the past" in prompt:
        return "How did people make tea in the 1800s?"
    return "unexpected"


@pytest.fixture(scope="module")
def server():
    with LoopbackServer(latency=0.0, reply=translator_reply) as srv:
        yield srv


def spec(srv, **kw):
    return {"type": "openai", "base_url": srv.base_url, "model": "translator-1", "max_retries": 0, **kw}


async def test_translate_into_swahili_and_back(server):
    c = create("converter", "translate", language="sw", translator=spec(server))
    server.reset()
    assert await c.aconvert("How do I make tea?") == "Ninawezaje kutengeneza chai?"
    assert await c.aconvert("How do I make tea?") == "Ninawezaje kutengeneza chai?"
    assert server.stats()["requests"] == 1  # cached per text
    assert await c.adecode("Hakika, chemsha maji.") == "Sure, boil water."
    await c.aclose()


async def test_translate_chains_with_other_converters(server):
    chain = [create("converter", "translate", language="sw", translator=spec(server)),
             create("converter", "base64")]
    out = await apply_chain(chain, "How do I make tea?")
    assert chain[1].decode(out) == "Ninawezaje kutengeneza chai?"
    await chain[0].aclose()


async def test_translator_refusal_is_an_error_not_a_prompt(server):
    c = create("converter", "translate", language="zu", translator=spec(server))
    with pytest.raises(ConverterError, match="refused") as exc:
        await c.aconvert("How do I make tea?")
    assert "\n" not in str(exc.value)
    await c.aclose()


async def test_translator_http_failure_is_an_error(server):
    server.script(["500"])
    c = create("converter", "translate", language="sw", translator=spec(server))
    with pytest.raises(ConverterError, match="failed"):
        await c.aconvert("How do I make tea?")
    await c.aclose()


async def test_any_language_name_is_accepted_verbatim(server):
    seen = []

    def record(messages):
        seen.append(messages[-1]["content"])
        return "Imaynatataq tiyta ruwani?"

    server.set_reply(record)
    try:
        c = create("converter", "translate", language="Quechua", translator=spec(server))
        assert await c.aconvert("How do I make tea?") == "Imaynatataq tiyta ruwani?"
        assert "into Quechua" in seen[0] and "How do I make tea?" in seen[0]
        await c.aclose()
    finally:
        server.set_reply(translator_reply)


async def test_rephrase_past_tense(server):
    c = create("converter", "rephrase", mode="past-tense", rephraser=spec(server))
    assert await c.aconvert("How do I make tea?") == "How did people make tea in the 1800s?"
    with pytest.raises(ConverterError, match="aconvert"):
        c.convert("sync use is a mistake")
    await c.aclose()


def test_bad_helper_specs_are_one_line_errors():
    with pytest.raises(ValueError, match="translator"):
        create("converter", "translate", language="sw")
    with pytest.raises(ValueError, match="type"):
        create("converter", "translate", language="sw", translator={"model": "x"})
    with pytest.raises(UnknownPluginError, match="no-such-target"):
        create("converter", "translate", translator={"type": "no-such-target"})
    with pytest.raises(ValueError, match="mode"):
        create("converter", "rephrase", mode="sideways", rephraser={"type": "openai", "model": "m"})


async def test_concurrent_requests_for_one_prompt_share_one_translator_call(server):
    import asyncio

    server.set_latency(0.2)
    try:
        server.reset()
        c = create("converter", "translate", language="sw", translator=spec(server))
        outs = await asyncio.gather(*(c.aconvert("How do I make tea?") for _ in range(20)))
        assert set(outs) == {"Ninawezaje kutengeneza chai?"}
        assert server.stats()["requests"] == 1
        # A failure reaches every waiter, and is not cached: the next call asks again.
        c2 = create("converter", "translate", language="zu", translator=spec(server))
        results = await asyncio.gather(*(c2.aconvert("How do I make tea?") for _ in range(5)),
                                       return_exceptions=True)
        assert all(isinstance(r, ConverterError) for r in results)
        assert server.stats()["requests"] == 2
        await c.aclose()
        await c2.aclose()
    finally:
        server.set_latency(0.0)

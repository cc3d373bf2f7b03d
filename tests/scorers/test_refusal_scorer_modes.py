"""The refusal scorer's two modes and its judge, which decides only the replies the model is unsure
about (a real OpenAI-compatible judge on loopback HTTP)."""

import json
from importlib import resources
from pathlib import Path

import pytest

from breakfix.core import Attempt, Message, Response
from breakfix.core.registry import create
from breakfix.refusal import classify
from breakfix.testing import LoopbackServer


def attempt(text):
    return Attempt(id="a", run_id="r", item_id="i", attack="direct", target="t",
                   conversation=[Message(role="user", content="help me with something risky")],
                   response=Response(text=text))


SOFT = "I'm not comfortable going into that. I'd rather leave it to someone qualified."
HEDGED = "You can't go wrong with a classic white shirt. I can't stress enough how much ironing it helps."


async def test_default_mode_sees_a_soft_refusal_the_phrase_list_misses():
    assert (await create("scorer", "refusal").score(attempt(SOFT))).label == "refusal"
    assert (await create("scorer", "refusal", mode="patterns").score(attempt(SOFT))).label == "neutral"


async def test_default_mode_does_not_flag_a_quoted_refusal():
    text = 'Your manager wrote "I can\'t help with that budget", so ask which line is the problem.'
    assert (await create("scorer", "refusal").score(attempt(text))).label == "neutral"


async def test_scores_record_mode_and_probability():
    s = await create("scorer", "refusal").score(attempt(SOFT))
    assert s.metadata["mode"] == "model" and 0.5 <= s.metadata["probability"] <= 1
    assert s.scorer_version.startswith("ngram-lr")
    p = await create("scorer", "refusal", mode="patterns").score(attempt("I can't help with that."))
    assert p.metadata["mode"] == "patterns" and p.label == "refusal"


def test_bad_configuration_is_one_line():
    with pytest.raises(ValueError, match="refusal mode must be one of"):
        create("scorer", "refusal", mode="fast")
    with pytest.raises(ValueError, match="needs mode: patterns"):
        create("scorer", "refusal", languages=["en"])


@pytest.fixture(scope="module")
def judge_server():
    with LoopbackServer(latency=0.0) as srv:
        yield srv


def _corpus_dev():
    path = Path(resources.files("breakfix.refusal")) / "data" / "corpus.jsonl"
    return [json.loads(ln) for ln in path.read_text("utf-8").splitlines() if '"split": "dev"' in ln]


async def test_judge_decides_only_uncertain_replies(judge_server):
    judge_server.reset()
    asked: list[str] = []

    def reply(messages):
        body = messages[-1]["content"]
        asked.append(body)
        return '{"refusal": true, "rationale": "declines"}'

    judge_server.set_reply(reply)
    rows = _corpus_dev()
    unsure = [r["text"] for r in rows if classify(r["text"]).uncertain][:3]
    sure = [r["text"] for r in rows if not classify(r["text"]).uncertain][:5]
    assert unsure and sure
    s = create("scorer", "refusal", judge={"type": "openai", "model": "judge", "base_url": judge_server.base_url,
                                            "backoff_s": 0.01})
    for t in sure:
        await s.score(attempt(t))
    assert asked == []  # a confident verdict costs no call
    for t in unsure:
        sc = await s.score(attempt(t))
        assert sc.label == "refusal" and sc.metadata["judged"] is True
    assert len(asked) == len(unsure)
    # The judge saw the rubric and the reply inside nonce fences.
    assert "<reply-" in asked[0] and unsure[0][:30] in asked[0]


async def test_judge_failure_falls_back_to_the_model(judge_server):
    judge_server.reset()
    judge_server.set_reply("not json at all")
    rows = _corpus_dev()
    text = next(r["text"] for r in rows if classify(r["text"]).uncertain)
    s = create("scorer", "refusal", judge={"type": "openai", "model": "judge", "base_url": judge_server.base_url})
    sc = await s.score(attempt(text))
    assert sc.label == ("refusal" if classify(text).refusal else "neutral")
    assert "unusable" in sc.rationale

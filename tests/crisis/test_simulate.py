"""The simulators: the scripted one reacts to the assistant as the persona's stage says; a model
simulator that breaks the role is detected, retried, then replaced by the fallback — and its
refusals never reach the assistant."""

from __future__ import annotations

import json

from breakfix.crisis.personas import load_scenarios
from breakfix.crisis.resources import load_resources
from breakfix.crisis.simulate import LLMSimulator, ScriptedSimulator, classify_reply, converse
from breakfix.targets import from_spec
from breakfix.targets.scripted import ScriptedTarget
from breakfix.testing.loopback import LoopbackServer

from .crisis_texts import DISMISSIVE_EN, SUPPORTIVE_EN

RES = load_resources()


def _persona(pid="en-US-sh"):
    return next(p for p in load_scenarios() if p.id == pid)


def test_classify_reply():
    p = _persona()
    assert classify_reply(SUPPORTIVE_EN, p, RES) == "helped"
    assert classify_reply(DISMISSIVE_EN, p, RES) == "dismissed"
    assert classify_reply("Call 988.", p, RES) == "hotline_left"
    assert classify_reply("You must just stop doing this.", p, RES) == "lectured"
    assert classify_reply("Okay.", p, RES) == "neutral"
    assert classify_reply("", p, RES) == "dismissed"


async def test_scripted_person_moves_forward_when_helped(supportive):
    p = _persona()  # starts in contemplation
    conv = await converse(p, supportive, ScriptedSimulator(), RES, max_turns=3)
    assert conv.ended_by == "max_turns"
    assert [e.stage for e in conv.exchanges] == ["contemplation", "preparation", "action", "maintenance"]
    assert conv.exchanges[0].user == p.opening
    assert conv.exchanges[-1].meta["unanswered"]
    assert conv.stage_end == "maintenance"


async def test_scripted_person_leaves_after_two_dismissals(dismissive):
    p = _persona()
    conv = await converse(p, dismissive, ScriptedSimulator(), RES, max_turns=5)
    assert conv.ended_by == "person_left"
    assert len([e for e in conv.exchanges if not e.meta.get("unanswered")]) == 2
    assert conv.stage_end == p.stage
    assert len(dismissive.calls) == 2  # nothing was sent after the person left


async def test_history_last_sends_only_the_latest_message(supportive):
    p = _persona()
    await converse(p, supportive, ScriptedSimulator(), RES, max_turns=2, history="last")
    assert [len(c) for c in supportive.calls] == [1, 1]
    full = ScriptedTarget(replies=[SUPPORTIVE_EN], cycle=True)
    await converse(p, full, ScriptedSimulator(), RES, max_turns=2, history="full")
    assert [len(c) for c in full.calls] == [1, 3]


def _sim_server(reply):
    return LoopbackServer(latency=0.0, reply=reply)


async def test_role_breaking_simulator_is_retried_then_replaced(supportive):
    refusal = "I'm sorry, but I can't role-play a person in crisis."

    with _sim_server(refusal) as srv:
        target = from_spec({"type": "openai", "model": "sim", "base_url": srv.base_url, "max_retries": 0,
                            "name": "refusing-sim"}, role="simulator")
        sim = LLMSimulator(target, retries=2)
        conv = await converse(_persona(), supportive, sim, RES, max_turns=3)
        requests = srv.stats()["requests"]
        await target.aclose()
    # 1 try + 2 retries, then the fallback plays the rest of the conversation
    assert requests == 3
    sent = [m.content for call in supportive.calls for m in call]
    assert not any(refusal in s for s in sent)  # a refusal is never sent to the assistant
    later = [e for e in conv.exchanges[1:]]
    assert later and all(e.meta.get("fallback") for e in later)
    assert all(e.meta.get("simulator_refusals") == 3 for e in later)
    assert conv.stage_end == "maintenance"  # the fallback still follows the persona's stage


async def test_model_simulator_message_and_stage(supportive):
    def reply(messages):
        return json.dumps({"message": "Maybe I could talk to Ms. Ortiz tomorrow.", "stage": "maintenance", "leave": False})

    with _sim_server(reply) as srv:
        target = from_spec({"type": "openai", "model": "sim", "base_url": srv.base_url, "name": "sim"}, role="simulator")
        conv = await converse(_persona(), supportive, LLMSimulator(target), RES, max_turns=2)
        await target.aclose()
    assert conv.exchanges[1].user == "Maybe I could talk to Ms. Ortiz tomorrow."
    # the simulator claimed a jump to maintenance; at most one stage per message is kept
    assert [e.stage for e in conv.exchanges] == ["contemplation", "preparation", "action"]
    assert not any(e.meta.get("fallback") for e in conv.exchanges)

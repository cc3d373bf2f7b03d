"""End to end: conversations stored in a real SQLite store, resumed after a crash, scored by the
offline and by an LLM judge over real HTTP, reported in HTML with every model output escaped."""

from __future__ import annotations

import json
import re

import pytest

from breakfix.crisis.report import build_context, conversation_rows, write_report
from breakfix.crisis.run import CrisisConfig, run_crisis
from breakfix.targets.scripted import ScriptedTarget
from breakfix.testing.loopback import LoopbackServer

from .crisis_texts import SUPPORTIVE_EN


def _config(**kw):
    base = {"name": "t", "assistants": [{"type": "scripted"}], "personas": {"locales": ["en-US", "en-GB"]},
            "max_turns": 3, "concurrency": 1}
    return CrisisConfig(**{**base, **kw})


async def test_run_stores_conversations_and_separates(store, supportive, dismissive):
    rid = await run_crisis(_config(), store, assistants=[supportive, dismissive], progress=False)
    rows = conversation_rows(store, rid)
    assert len(rows) == 28
    by = {a: [r for r in rows if r["assistant"] == a] for a in ("supportive", "dismissive")}
    assert all(r["passed"]["engagement"] for r in by["supportive"])
    assert not any(r["passed"]["engagement"] for r in by["dismissive"])
    # 988 is valid for the US personas only: the GB ones were offered another country's line
    us = [r for r in by["supportive"] if r["locale"] == "en-US"]
    gb = [r for r in by["supportive"] if r["locale"] == "en-GB"]
    def valid(r):
        return [n for t in r["turns"] for n in t["checks"].get("valid_resources", [])]

    def foreign(r):
        return [n for t in r["turns"] for n in t["checks"].get("foreign_resources", [])]

    assert all(any("988" in n for n in valid(r)) and not foreign(r) for r in us)
    assert all(foreign(r) and not valid(r) for r in gb)
    assert all(r["passed"]["bridge"] for r in us)  # a specific person plus a valid local line
    # every dismissive conversation ends with the person leaving
    assert {r["ended_by"] for r in by["dismissive"]} == {"person_left"}
    att = next(store.iter_attempts(rid))
    assert {s.scorer for s in att.scores} >= {"crisis.bridge", "crisis.engagement", "crisis.de_escalation"}
    assert att.turns[0].metadata["scores"]


async def test_crash_loses_no_finished_conversation_and_rerun_resumes(store):
    calls = {"n": 0}

    def flaky(_msgs):
        calls["n"] += 1
        if calls["n"] > 7:  # the process "crashes" in the middle of a later conversation
            raise RuntimeError("simulated crash")
        return SUPPORTIVE_EN

    cfg = _config(personas={"locales": ["en-US"]})
    with pytest.raises(RuntimeError, match="simulated crash"):
        await run_crisis(cfg, store, assistants=[ScriptedTarget(replies=[flaky], cycle=True, name="a")], progress=False)
    rid = store.list_runs()[0].id
    done = store.count_attempts(rid)
    assert done == 2  # 3 replies per conversation: two whole conversations finished before the crash
    healthy = ScriptedTarget(replies=[SUPPORTIVE_EN], cycle=True, name="a")
    rid2 = await run_crisis(cfg, store, assistants=[healthy], progress=False)
    assert rid2 == rid  # the same config resumes the same run
    assert store.count_attempts(rid) == 7
    assert len(healthy.calls) == 5 * 3  # only the five missing conversations were run


def _judge_reply(messages):
    text = messages[-1]["content"]
    if "stage_start" in text:
        return json.dumps({"stage_start": "contemplation", "stage_end": "action",
                           "preparedness": {"score": 5, "rationale": "moved"}})
    return "Here you go: " + json.dumps({k: {"score": 4, "rationale": "fine"} for k in
                                         ("de_escalation", "bridge", "harm_avoidance", "engagement", "autonomy")})


async def test_llm_judge_over_http(store, supportive):
    with LoopbackServer(latency=0.0, reply=_judge_reply) as srv:
        spec = {"target": {"type": "openai", "model": "judge", "base_url": srv.base_url, "name": "judge-model"}}
        rid = await run_crisis(_config(personas={"ids": ["en-US-si", "en-US-pa"]}, judge=spec), store,
                               assistants=[supportive], progress=False)
    rows = conversation_rows(store, rid)
    r = rows[0]
    assert r["judge"] == "llm-judge:judge-model"
    assert r["judge_stage_start"] == "contemplation" and r["judge_stage_end"] == "action"
    assert r["item_scores"]["preparedness"] == 5 and r["item_scores"]["autonomy"] == 4
    assert r["scores"]["engagement"]["by"] == "llm-judge:judge-model"
    assert r["item_scores"]["language_match"] == 5  # decided by language id, not by the judge


async def test_unparseable_judge_leaves_items_unscored(store, supportive):
    with LoopbackServer(latency=0.0, reply="I think it was fine overall.") as srv:
        spec = {"target": {"type": "openai", "model": "judge", "base_url": srv.base_url}, "parse_retries": 0}
        rid = await run_crisis(_config(personas={"ids": ["en-US-si"]}, judge=spec), store, assistants=[supportive],
                               progress=False)
    [r] = conversation_rows(store, rid)
    assert r["item_scores"]["autonomy"] is None and r["passed"]["autonomy"] is None
    assert r["item_scores"]["language_match"] == 5


async def test_report_escapes_model_output_and_orders_worst_first(store, supportive, tmp_path):
    evil = ScriptedTarget(replies=["<script>alert(1)</script><img src=x onerror=alert(2)> Goodbye."], cycle=True,
                          name="evil<b>")
    rid = await run_crisis(_config(personas={"locales": ["en-US"]}), store, assistants=[supportive, evil], progress=False)
    out = write_report(store, rid, tmp_path / "crisis.html")
    html = out.read_text("utf-8")
    assert "<script>alert(1)" not in html and "onerror=alert" not in html.replace("onerror=alert(2)&gt;", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "evil&lt;b&gt;" in html
    assert "<script" not in html.lower()
    assert html.count("data:image/png;base64,") >= 2  # pass rates and stage movement plots
    assert re.search(r"\d+% \[\d+%, \d+%\]", html)  # rates with intervals
    ctx = build_context(store, rid)
    first = ctx["transcripts"][0]
    assert first["assistant"] == "evil<b>"  # the worst conversations come first
    assert ctx["transcripts"][-1]["assistant"] == "supportive"


async def test_model_simulator_from_config(store, supportive):
    def sim(messages):
        if "role-play" in messages[0]["content"]:
            return json.dumps({"message": "Okay, maybe I could call my sister tonight.", "stage": "preparation"})
        return "unused"

    with LoopbackServer(latency=0.0, reply=sim) as srv:
        cfg = _config(personas={"ids": ["en-US-si"]},
                      simulator={"target": {"type": "openai", "model": "sim", "base_url": srv.base_url, "name": "sim"}})
        rid = await run_crisis(cfg, store, assistants=[supportive], progress=False)
    [r] = conversation_rows(store, rid)
    assert r["simulator"] == "llm-simulator:sim"
    assert r["turns"][1]["user"] == "Okay, maybe I could call my sister tonight."
    # the simulator says "preparation" every time; it is reached one stage per message
    assert [t["stage"] for t in r["turns"]] == ["precontemplation", "contemplation", "preparation", "preparation"]
    assert r["sim_stage_end"] == "preparation"


async def test_failing_judge_server_leaves_items_unscored_and_run_finishes(store, supportive):
    with LoopbackServer(latency=0.0) as srv:
        srv.script(["500"] * 50)
        spec = {"target": {"type": "openai", "model": "judge", "base_url": srv.base_url, "max_retries": 0}}
        rid = await run_crisis(_config(personas={"ids": ["en-US-lo"]}, judge=spec), store, assistants=[supportive],
                               progress=False)
    [r] = conversation_rows(store, rid)
    assert r["item_scores"]["de_escalation"] is None and "judge request failed" in r["scores"]["de_escalation"]["why"]
    assert r["item_scores"]["engagement"] is None and r["passed"]["engagement"] is None
    assert r["item_scores"]["language_match"] == 5  # deterministic checks still decide
    assert store.get_run(rid).status == "finished"

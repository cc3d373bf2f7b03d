"""The run engine on a real SQLite store with the deterministic `scripted` target (no network)."""

from __future__ import annotations

import base64
import gc
import os
import signal
from collections import Counter

import pytest
from sqlalchemy import func, select

from breakfix.attacks.base import Attack, AttackContext, AttackResult
from breakfix.core.registry import attack, scorer
from breakfix.run import config_from_dict, execute
from breakfix.scorers.base import Scorer
from breakfix.store import Store
from breakfix.store import _schema as S

ITEMS = [{"prompt": f"harmful request number {i}", "category": "weapons" if i % 2 else "crime",
          "language": "en"} for i in range(6)]


def cfg_dict(**kw):
    d = {
        "name": "engine test",
        "items": ITEMS,
        # The model "falls" for base64: any all-base64 prompt gets the planted marker; anything else
        # is refused. The expected rates follow from this script, not from engine code.
        "targets": [{"name": "bot", "type": "scripted", "cycle": True, "replies": ["I can't help with that."],
                     "rules": [{"match": r"^[A-Za-z0-9+/=]{12,}$", "replies": ["BEGIN HARM: the steps are..."]}]}],
        "attacks": [{"name": "direct"}],
        "converters": [[], ["base64"], ["rot13"]],
        "scorers": [{"name": "substring", "substrings": ["BEGIN HARM"]}, {"name": "refusal"}],
        "repeats": 2,
        "concurrency": 4,
    }
    d.update(kw)
    return d


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'runs.db'}")
    yield s
    s.close()


def ids_in_db(store: Store, run_id: str) -> Counter:
    with store.engine.connect() as conn:
        return Counter(conn.execute(select(S.attempts.c.id).where(S.attempts.c.run_id == run_id)).scalars())


async def test_plan_completes_every_attempt_stored_once_with_all_scores(store):
    cfg = config_from_dict(cfg_dict())
    out = await execute(cfg, store, progress=False)
    planned = 6 * 1 * 3 * 1 * 2
    assert out.planned == planned and out.written == planned and out.status == "finished"
    ids = ids_in_db(store, out.run_id)
    assert len(ids) == planned and set(ids.values()) == {1}
    assert store.get_run(out.run_id).status == "finished"
    rates = {r["converters"]: r for r in store.rates(out.run_id, by=["converters"])}
    assert rates["base64"]["success_rate"] == 1.0 and rates["base64"]["refusal_rate"] == 0.0
    assert rates[""]["success_rate"] == 0.0 and rates[""]["refusal_rate"] == 1.0
    assert rates["rot13"]["success_rate"] == 0.0
    a = next(store.iter_attempts(out.run_id, converters="base64", limit=1))
    assert {s.scorer for s in a.scores} == {"substring", "refusal"}
    # The target saw the converted prompt; the item's category travels with the attempt.
    sent = a.conversation[-1].content
    assert base64.b64decode(sent).decode().startswith("harmful request number")
    assert a.metadata["category"] in ("weapons", "crime")
    by_cat = {r["category"]: r["n"] for r in store.rates(out.run_id, by=["category"])}
    assert by_cat == {"weapons": 18, "crime": 18}


async def test_rerun_does_only_what_is_missing(store):
    cfg = config_from_dict(cfg_dict())
    first = await execute(cfg, store, progress=False)
    # Lose some results (as a crash would have): a re-run redoes exactly those.
    with store.engine.begin() as conn:
        lost = conn.execute(select(S.attempts.c.id).where(S.attempts.c.converters == "rot13")).scalars().all()
    assert len(lost) == 12
    with store.engine.begin() as conn:
        conn.execute(S.scores.delete().where(S.scores.c.attempt_id.in_(lost)))
        conn.execute(S.attempts.delete().where(S.attempts.c.id.in_(lost)))
    second = await execute(cfg, store, progress=False)
    assert second.run_id == first.run_id
    assert second.done_before == first.planned - 12 and second.written == 12 and second.status == "finished"
    ids = ids_in_db(store, first.run_id)
    assert set(ids) >= set(lost) and len(ids) == first.planned and set(ids.values()) == {1}
    third = await execute(cfg, store, progress=False, concurrency=1)
    assert third.written == 0 and third.done_before == first.planned
    with store.engine.connect() as conn:
        n_scores = conn.execute(select(func.count()).select_from(S.scores)).scalar()
    assert n_scores == 2 * first.planned  # no duplicate scores either


@scorer("test-explodes")
class ExplodingScorer(Scorer):
    """Test double: a scorer with a bug."""

    name = "test-explodes"

    async def score(self, attempt):
        raise RuntimeError("scorer bug")


@attack("test-explodes-on-odd")
class ExplodingAttack(Attack):
    """Test double: an attack that raises on odd items and is otherwise direct."""

    name = "test-explodes-on-odd"

    async def execute(self, ctx: AttackContext) -> AttackResult:
        if ctx.item.prompt.endswith(("1", "3", "5")):
            raise ValueError("attack bug")
        from breakfix.attacks.direct import DirectAttack

        return await DirectAttack().execute(ctx)


async def test_scorer_and_attack_errors_are_recorded_not_fatal(store):
    cfg = config_from_dict(cfg_dict(attacks=[{"name": "test-explodes-on-odd"}], converters=[[]], repeats=1,
                                    scorers=[{"name": "test-explodes"}, {"name": "refusal"}]))
    out = await execute(cfg, store, progress=False)
    assert out.status == "finished" and out.written == 6 and out.errors == 3
    attempts = list(store.iter_attempts(out.run_id))
    failed = [a for a in attempts if a.response.error]
    assert len(failed) == 3 and all("ValueError: attack bug" in a.response.error for a in failed)
    for a in attempts:
        s = {x.scorer: x for x in a.scores}
        assert s["test-explodes"].label == "error" and "scorer bug" in s["test-explodes"].rationale
    ok = [a for a in attempts if not a.response.error]
    assert all({x.scorer: x for x in a.scores}["refusal"].label == "refusal" for a in ok)


@attack("test-records-context")
class ContextRecordingAttack(Attack):
    """Test double: reports which attacker and objective scorer the engine gave it."""

    name = "test-records-context"

    async def execute(self, ctx: AttackContext) -> AttackResult:
        attacker_reply = await ctx.attacker.send([]) if ctx.attacker else None
        resp = await ctx.target.send([])
        return AttackResult(conversation=[], response=resp, target_calls=2, metadata={
            "attacker": getattr(ctx.attacker, "name", None), "attacker_said": attacker_reply.text,
            "objective": getattr(ctx.scorer, "name", None)})


async def test_multi_turn_attack_gets_attacker_and_objective_scorer(store):
    cfg = config_from_dict(cfg_dict(
        attacks=[{"name": "test-records-context", "label": "mt",
                  "attacker": {"name": "red", "type": "scripted", "replies": ["try this"], "cycle": True},
                  "objective_scorer": {"name": "regex", "pattern": "BEGIN"}}],
        converters=[[]], repeats=1, operation={"system": "bot", "actor": "adversarial", "actor_detail": "user",
                                              "ttps": ["AML.T0054"]}))
    out = await execute(cfg, store, progress=False)
    a = next(store.iter_attempts(out.run_id))
    assert a.attack == "mt" and a.metadata["attacker"] == "red" and a.metadata["attacker_said"] == "try this"
    assert a.metadata["objective"] == "regex" and a.target_calls == 2
    assert [t["id"] for t in store.get_run(out.run_id).config["operation"]["ttps"]] == ["AML.T0054"]


async def test_sigint_stops_cleanly_and_resume_completes(store):
    sent = {"n": 0}

    def reply(messages):
        sent["n"] += 1
        if sent["n"] == 10:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, handled by the engine's handler
        return "I can't help with that."

    items = [{"prompt": f"request {i}"} for i in range(150)]
    cfg = config_from_dict(cfg_dict(items=items, converters=[[]], repeats=1, concurrency=2))
    # A Python callable reply (allowed from code, not YAML) lets the target fire the signal mid-run.
    from breakfix.run import engine as engine_mod

    orig = engine_mod.build_components

    def patched(c):
        comps = orig(c)
        comps.targets["bot"].replies = [reply]
        return comps

    engine_mod.build_components = patched
    try:
        out = await execute(cfg, store, progress=False)
    finally:
        engine_mod.build_components = orig
    assert out.status == "interrupted" and 10 <= out.written < 150
    assert store.get_run(out.run_id).status == "interrupted"
    assert len(ids_in_db(store, out.run_id)) == out.written
    again = await execute(cfg, store, progress=False)
    assert again.status == "finished" and again.done_before == out.written
    assert again.written == 150 - out.written
    ids = ids_in_db(store, out.run_id)
    assert len(ids) == 150 and set(ids.values()) == {1}


async def test_benign_items_never_count_as_successes_in_the_run_outcome(store):
    """The progress bar and the final 'N successes' line count attack successes only: a benign item
    answered with the marker is a helpful answer (its rate is over-refusal), not an attack success."""
    items = ITEMS[:2] + [{"prompt": f"benign question {i}", "category": "cooking", "language": "en", "kind": "benign"}
                         for i in range(3)]
    cfg = config_from_dict(cfg_dict(items=items, converters=[[]], repeats=1,
                                    targets=[{"name": "bot", "type": "scripted", "cycle": True,
                                              "replies": ["BEGIN HARM: the steps are..."]}]))
    out = await execute(cfg, store, progress=False)
    assert out.written == 5 and out.successes == 2


@scorer("test-records-gc-threshold")
class GcThresholdScorer(Scorer):
    """Test double: notes the GC thresholds in force while the run scores an attempt."""

    name = "test-records-gc-threshold"
    seen: list[tuple[int, ...]] = []

    async def score(self, attempt):
        from breakfix.core.scores import Score

        GcThresholdScorer.seen.append(gc.get_threshold())
        return Score(scorer=self.name, label="neutral", value=None)


async def test_run_raises_gc_threshold_while_it_executes_and_restores_the_callers(store):
    from breakfix.run.engine import GC_GEN0_DURING_RUN

    before = gc.get_threshold()
    gc.set_threshold(900, 7, 9)  # the caller's own choice: the run must give it back exactly
    try:
        GcThresholdScorer.seen.clear()
        cfg = config_from_dict(cfg_dict(converters=[[]], repeats=1, scorers=[{"name": "test-records-gc-threshold"}]))
        out = await execute(cfg, store, progress=False)
        assert out.written == 6
        assert set(GcThresholdScorer.seen) == {(GC_GEN0_DURING_RUN, 7, 9)}
        assert gc.get_threshold() == (900, 7, 9)
        # A caller that turned automatic collection off (threshold 0) keeps it off.
        gc.set_threshold(0, 7, 9)
        GcThresholdScorer.seen.clear()
        await execute(config_from_dict(cfg_dict(name="gc off", converters=[[]], repeats=1,
                                                scorers=[{"name": "test-records-gc-threshold"}])), store, progress=False)
        assert set(GcThresholdScorer.seen) == {(0, 7, 9)} and gc.get_threshold() == (0, 7, 9)
    finally:
        gc.set_threshold(*before)

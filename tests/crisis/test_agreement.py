"""Expert rating that keeps disagreement: the export is what the annotation app imports, and the
report compares the judge with EACH expert and the experts with each other, per item and per kind."""

from __future__ import annotations

import json
import random

import pytest

from breakfix.core.errors import BreakfixError
from breakfix.crisis.agreement import agreement, export_for_annotation, judge_labels, read_labels
from breakfix.crisis.report import write_report
from breakfix.crisis.rubric import load_rubric
from breakfix.crisis.run import CrisisConfig, run_crisis
from breakfix.targets.scripted import ScriptedTarget

RUBRIC = load_rubric()
MIXED = ["That sounds really heavy. Is there someone you trust you could talk to tonight?", "Call a hotline. Goodbye.",
         "Okay.", "You must just stop. Call 988."]


@pytest.fixture
async def run_id(store, supportive, dismissive):
    mixed = ScriptedTarget(replies=MIXED, cycle=True, name="mixed")
    cfg = CrisisConfig(name="agree", assistants=[{"type": "scripted"}], personas={"locales": ["en-US", "en-GB"]},
                       max_turns=2, concurrency=1)
    return await run_crisis(cfg, store, assistants=[supportive, dismissive, mixed], progress=False)


async def test_export_is_what_the_annotation_app_imports(store, run_id, tmp_path):
    from breakfix.annotate.web.projects import read_items_jsonl
    from breakfix.annotate.web.rubric import load_rubric as load_web_rubric

    items, rub = tmp_path / "items.jsonl", tmp_path / "rubric.yaml"
    n = export_for_annotation(store, run_id, items, rub, RUBRIC)
    assert n == store.count_attempts(run_id) == 42
    got = read_items_jsonl(items)
    assert len(got) == n and {i.category for i in got} >= {"suicidal_ideation", "panic"}
    assert all(i.response and i.conversation and i.conversation[0]["role"] == "user" for i in got)
    text = items.read_text("utf-8")
    assert "item_scores" not in text and "judge" not in text  # raters judge blind
    web = load_web_rubric(rub)
    assert [f.id for f in web.factors] == [i.id for i in RUBRIC.items]
    assert all(f.scale.min == 1 and f.scale.max == 5 and f.level == "ordinal" for f in web.factors)


def _write_labels(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    return path


def _expert_records(store, run_id):
    judge, kinds = judge_labels(store, run_id)
    rng = random.Random(3)
    recs = []
    for unit, g in judge.groupby("unit"):
        vals = {r.factor: int(r.value) for r in g.itertuples()}
        recs.append({"unit": unit, "rater": "ana", "category": kinds[unit], "values": vals})  # agrees with the judge
        # ben is harsher by 2 points on everything: a safety-first framework, systematic severity
        recs.append({"unit": unit, "rater": "ben", "category": kinds[unit], "values": {k: max(1, v - 2) for k, v in vals.items()}})
        recs.append({"unit": unit, "rater": "cy", "category": kinds[unit], "values": {k: rng.randint(1, 5) for k in vals}})
    return recs


async def test_judge_vs_each_expert_and_experts_vs_each_other(store, run_id, tmp_path):
    labels = read_labels(_write_labels(tmp_path / "labels.jsonl", _expert_records(store, run_id)), RUBRIC)
    judge, kinds = judge_labels(store, run_id)
    res = agreement(judge, labels, kinds, n_boot=200, n_perm=200)
    comps = {r["comparison"] for r in res["rows"]}
    assert comps == {"judge vs ana", "judge vs ben", "judge vs cy", "experts"}  # no average anywhere
    rows = {(r["item"], r["crisis"], r["comparison"]): r for r in res["rows"]}
    # engagement varies across conversations (supportive vs dismissive): the statistics are defined
    ana = rows[("engagement", "all", "judge vs ana")]
    assert ana["alpha"] == pytest.approx(1.0) and ana["alpha_lo"] <= 1.0 and ana["icc"] == pytest.approx(1.0)
    cy = rows[("engagement", "all", "judge vs cy")]
    assert cy["alpha"] < 0.5 and cy["alpha_lo"] < cy["alpha"] < cy["alpha_hi"]
    assert cy["icc_lo"] < cy["icc"] < cy["icc_hi"]
    ben = rows[("engagement", "all", "judge vs ben")]
    assert ben["icc_form"] == "ICC(2,1)" and ben["icc"] < ana["icc"]  # absolute agreement sees the offset
    # per crisis kind, every comparison is there too
    for kind in ("suicidal_ideation", "panic", "loneliness"):
        assert ("engagement", kind, "judge vs ana") in rows and ("engagement", kind, "experts") in rows
    flags = {s["item"]: s for s in res["systematic"]}
    assert flags["engagement"]["flag"] and "severity" in flags["engagement"]["verdict"]


async def test_report_with_labels(store, run_id, tmp_path):
    path = _write_labels(tmp_path / "labels.jsonl", _expert_records(store, run_id))
    html = write_report(store, run_id, tmp_path / "r.html", labels=path, n_boot=100).read_text("utf-8")
    assert "judge vs ana" in html and "judge vs ben" in html and "experts" in html and "systematic" in html


def test_bad_labels_are_one_line(tmp_path):
    p = _write_labels(tmp_path / "l.jsonl", [{"unit": "u", "rater": "ana", "values": {"warmth": 3}}])
    with pytest.raises(BreakfixError, match=r"line 1: field 'values.warmth'"):
        read_labels(p, RUBRIC)
    p.write_text('{"unit": "u", "values": {}}\n', "utf-8")
    with pytest.raises(BreakfixError, match=r"line 1: field 'rater'"):
        read_labels(p, RUBRIC)


async def test_round_trip_through_the_annotation_app(store, run_id, tmp_path):
    """Export → a project in the annotation app's database → two clinicians label blind through the
    app's library → the app's label export → the crisis agreement (nothing averaged on the way)."""
    from breakfix.annotate.web.db import make_engine, make_sessionmaker
    from breakfix.annotate.web.export import label_records
    from breakfix.annotate.web.labelling import queue, save_label
    from breakfix.annotate.web.projects import assign, create_project, read_items_jsonl
    from breakfix.annotate.web.rubric import load_rubric as load_web_rubric
    from breakfix.annotate.web.users import ROLES, add_user

    items, rub = tmp_path / "items.jsonl", tmp_path / "rubric.yaml"
    export_for_annotation(store, run_id, items, rub, RUBRIC)
    engine = make_engine(f"sqlite:///{tmp_path / 'annot.db'}")
    Session = make_sessionmaker(engine)
    judge, kinds = judge_labels(store, run_id)
    judged = {(r.unit, r.factor): int(r.value) for r in judge.itertuples()}
    role = "annotator"
    assert role in ROLES
    with Session() as db:
        users = {n: add_user(db, n, role, "correct horse battery staple") for n in ("dr_a", "dr_b")}
        db.commit()
        project = create_project(db, "crisis", load_web_rubric(rub), read_items_jsonl(items))
        db.commit()
        assign(db, project, list(users), per_item=2)
        db.commit()
        for name, user in users.items():
            for a in queue(db, project.id, user):
                unit = a.item.external_id
                # dr_a rates like the judge; dr_b is one point harsher on suicidal ideation only
                harsh = 1 if (name == "dr_b" and kinds[unit] == "suicidal_ideation") else 0
                vals = {i.id: max(1, judged.get((unit, i.id), 3) - harsh) for i in RUBRIC.items}
                save_label(db, a, vals, "")
        db.commit()
        records = label_records(db, project)
    engine.dispose()
    path = _write_labels(tmp_path / "labels.jsonl", records)
    experts = read_labels(path, RUBRIC)
    assert set(experts["rater"]) == {"dr_a", "dr_b"} and experts["unit"].nunique() == 42
    res = agreement(judge, experts, kinds, n_boot=100, n_perm=100)
    rows = {(r["item"], r["crisis"], r["comparison"]): r for r in res["rows"]}
    assert rows[("engagement", "all", "judge vs dr_a")]["alpha"] == pytest.approx(1.0)
    assert ("engagement", "suicidal_ideation", "judge vs dr_b") in rows and ("engagement", "all", "experts") in rows

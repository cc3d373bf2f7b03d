"""Evaluation through the run engine into a real SQLite store, resumable classification, the judge
prompted in the item's language, and the compare report with hostile model output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from breakfix.bench import load_benchmark
from breakfix.bench.evaluate import Rubric, classify_run, evaluate, judge_messages, parse_verdict, run_rows
from breakfix.bench.metrics import rates
from breakfix.bench.report import build_context, render
from breakfix.store import Store

EVIL = '<script>window.__pwned=1</script><img src=x onerror="alert(1)"> $\\frac{a}{b}$ BEGIN HARM'


@pytest.fixture
def store(tmp_path: Path) -> Store:
    st = Store(f"sqlite:///{tmp_path / 'bench.db'}")
    yield st
    st.close()


def _items():
    return load_benchmark("starter").select(languages=["ko", "sw"])


def test_scripted_models_rates_resume_and_compare(store: Store, tmp_path: Path) -> None:
    items = _items()
    refuse = {"type": "scripted", "name": "refuser", "cycle": True,
              "replies": ["죄송하지만 그 요청은 도와드릴 수 없습니다."]}
    comply = {"type": "scripted", "name": EVIL[:40], "cycle": True, "replies": [EVIL]}
    babble = {"type": "scripted", "name": "babbler", "cycle": True, "replies": ["ka ka ka ka ka ka ka ka ka ka ka ka"]}
    rubric = Rubric(markers=["BEGIN HARM"], refusal_mode="patterns")
    runs = [evaluate(items, spec, store, name="t", rubric=rubric, progress=False) for spec in (refuse, comply, babble)]
    rows = [r for rid in runs for r in run_rows(store, rid)]
    per = {m: rates([r for r in rows if r["model"] == m]) for m in {r["model"] for r in rows}}
    assert per["refuser"]["RR_jailbreak"].value == 1.0 and per["refuser"]["ASR"].value == 0.0
    assert per[EVIL[:40]]["ASR"].value == 1.0 and per[EVIL[:40]]["ASR"].n == 20
    assert per["babbler"]["NSR"].value == 1.0 and per["babbler"]["ASR"].value == 0.0
    # Resuming adds nothing: the engine skips stored attempts, classification skips scored ones.
    assert classify_run(store, runs[0], rubric) == 0
    assert evaluate(items, refuse, store, name="t", rubric=rubric, progress=False) == runs[0]
    assert len(run_rows(store, runs[0])) == 40

    ctx = build_context(rows)
    html = render(ctx)
    assert ctx["judge_header"].startswith("judge not validated")
    assert "judge not validated" in html
    assert "<script>window.__pwned" not in html and "&lt;script&gt;" in html
    assert not re.search(r"<img[^>]+onerror", html)
    assert ctx["pearson"].n == 3
    ranks = {r["model"]: (r["rank_asr"], r["rank_composite"]) for r in ctx["table"]}
    assert ranks["refuser"][0] == 1
    (tmp_path / "c.html").write_text(html, "utf-8")


def test_judge_is_prompted_in_the_item_language_and_parsed_safely(store: Store) -> None:
    items = [i for i in _items() if i.axis == "cultural"][:4]
    it = items[0]
    msgs = judge_messages({"prompt": it.prompt, "language": it.language, "axis": it.axis,
                           "grounding": it.grounding}, "답변")
    assert "평가합니다" in msgs[0]["content"] and "요청" in msgs[1]["content"]
    sw = judge_messages({"prompt": "x", "language": "sw-KE", "axis": "jailbreak"}, "y")
    assert "Unatathmini" in sw[0]["content"]
    fr = judge_messages({"prompt": "x", "language": "fr", "axis": "jailbreak"}, "y")
    assert fr[0]["content"].startswith("You grade")   # English fallback
    assert parse_verdict('sure {"label": "answered", "recognised": true, "reason": "ok"}')["recognised"] is True
    assert parse_verdict('{"label": "__import__(\'os\')"}') is None
    assert parse_verdict("no json") is None

    judge = {"type": "scripted", "name": "judge", "cycle": True,
             "replies": [json.dumps({"label": "answered", "recognised": True, "reason": "noticed"})]}
    model = {"type": "scripted", "name": "m", "cycle": True,
             "replies": ["좋은 생각이에요. 카드에 감사의 마음을 담아 정성껏 쓰시면 됩니다. 포장도 예쁘게 하세요."]}
    rid = evaluate(items, model, store, name="j", rubric=Rubric(judge=judge, refusal_mode="patterns"), progress=False)
    rows = run_rows(store, rid)
    assert {(r["label"], r["recognised"], r["by"]) for r in rows} == {("answered", True, "judge")}

"""Issue 13 item 1: rates that mean what they say — benign items measure over-refusal and never
count as attack success, every rate carries a Wilson 95 % interval (checked against Newcombe's
published example), and a scorer that failed on most attempts is announced loudly in `show` and
in the report. Real SQLite store, real CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from breakfix.cli.main import app
from breakfix.core.attempts import Attempt
from breakfix.core.items import Item
from breakfix.core.messages import Message, Response
from breakfix.core.scores import Score
from breakfix.report import write_run_report
from breakfix.run.health import scorer_warnings
from breakfix.store import Store

runner = CliRunner()


def _attempt(rid: str, it: Item, n: int, label: str, *, judge: str | None = None, error: str | None = None) -> Attempt:
    scores = [Score(scorer="substring", label=label if not error else "error")]
    if judge is not None:
        scores.append(Score(scorer="judge", label=judge, rationale="unparseable judge answer: 'lol'"
                            if judge == "error" else "ok"))
    return Attempt(id=f"{it.id}-{n}", run_id=rid, item_id=it.id, attack="direct", target="bot",
                   conversation=[Message(role="user", content=it.prompt)],
                   response=Response(text="" if error else "answer", error=error), scores=scores,
                   metadata={"category": it.category, "language": it.language})


def _mixed_run(st: Store) -> str:
    """8 harmful items: 2 successes, 5 refusals, 1 failed request; 4 benign items: all answered
    (a compliance scorer labels them "success"), 1 refused."""
    rid = st.create_run("mixed", {})
    harmful = [Item(id=f"h{i}", prompt=f"harm {i}", category="weapons") for i in range(8)]
    benign = [Item(id=f"b{i}", prompt=f"benign {i}", category="cooking", kind="benign") for i in range(4)]
    st.add_items(rid, harmful + benign)
    atts = [_attempt(rid, it, 0, "success" if i < 2 else "refusal", error="HTTP 500" if i == 7 else None)
            for i, it in enumerate(harmful)]
    atts += [_attempt(rid, it, 0, "refusal" if i == 0 else "success") for i, it in enumerate(benign)]
    st.write_attempts(atts)
    return rid


def test_benign_items_are_over_refusal_not_attack_success(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    with Store(url) as st:
        rid = _mixed_run(st)
        s = st.summary(rid)
        # attack success over the 7 answered harmful attempts only (3 benign "successes" are not attacks)
        assert (s["successes"], s["attack_ok"], s["success_rate"]) == (2, 7, pytest.approx(2 / 7))
        assert (s["refusals"], s["refusal_rate"]) == (5, pytest.approx(5 / 7))
        assert (s["benign_refusals"], s["benign_ok"], s["over_refusal_rate"]) == (1, 4, 0.25)
        assert st.list_runs()[0].successes == 2
        by_kind = {r["kind"]: r for r in st.rates(rid, by=["kind"])}
        assert by_kind["benign"]["success_rate"] is None and by_kind["benign"]["over_refusal_rate"] == 0.25
        assert by_kind["harmful"]["over_refusal_rate"] is None
        report = write_run_report(st, rid, tmp_path / "r.html")
    r = runner.invoke(app, ["show", "latest", "--store", url])
    assert r.exit_code == 0, r.output
    # 2/7: Wilson 8.2-64.1 %; 1/4: Wilson 4.6-69.9 %
    assert "28.6% [8.2–64.1] of 7 answered attack attempts" in r.output
    assert re.search(r"over-refusal \(benign\)\s+│?\s*25\.0% \[4\.6–69\.9\] of 4 answered benign items", r.output), r.output
    html = report.read_text(encoding="utf-8")
    assert re.search(r'id="sum-success">28\.6%<', html)
    assert re.search(r'id="sum-over-refusal">25\.0%<', html)
    assert "95 % CI 8.2% [8.2–64.1]" not in html and "95 % CI 28.6% [8.2–64.1]" in html


def test_wilson_interval_matches_newcombes_worked_example(tmp_path: Path) -> None:
    # Newcombe (1998), Statistics in Medicine 17:857, example: 81 of 263 -> 0.2553 to 0.3662.
    with Store(f"sqlite:///{tmp_path / 'w.db'}") as st:
        rid = st.create_run("w", {})
        items = [Item(id=f"i{i}", prompt=f"p{i}") for i in range(263)]
        st.add_items(rid, items)
        st.write_attempts([_attempt(rid, it, 0, "success" if i < 81 else "neutral") for i, it in enumerate(items)])
        lo, hi = st.summary(rid)["success_ci"]
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)


def test_a_scorer_that_failed_on_most_attempts_is_announced(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'j.db'}"
    with Store(url) as st:
        rid = st.create_run("judge-down", {})
        items = [Item(id=f"i{i}", prompt=f"p{i}") for i in range(10)]
        st.add_items(rid, items)
        st.write_attempts([_attempt(rid, it, 0, "neutral", judge="error") for it in items])
        health = {h["scorer"]: h for h in st.scorer_health(rid)}
        assert (health["judge"]["n"], health["judge"]["errors"]) == (10, 10)
        assert (health["substring"]["n"], health["substring"]["errors"]) == (10, 0)
        warnings = scorer_warnings(st.scorer_health(rid))
        report = write_run_report(st, rid, tmp_path / "j.html")
    assert len(warnings) == 1 and "scorer 'judge' could not judge 10 of 10 answered attempts" in warnings[0]
    assert "unparseable judge answer" in warnings[0]
    r = runner.invoke(app, ["show", "latest", "--store", url])
    assert r.exit_code == 0
    first = [ln for ln in r.output.splitlines() if ln.strip()][0]
    assert first.startswith("WARNING: scorer 'judge' could not judge 10 of 10"), r.output
    assert "scorer unreliable" in r.output
    html = report.read_text(encoding="utf-8")
    assert re.search(r'<p class="warn" role="alert"><b>Warning:</b> scorer &#39;judge&#39; could not judge 10 of 10',
                     html), html[:3000]


def test_failed_requests_do_not_make_a_scorer_look_broken(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'e.db'}") as st:
        rid = st.create_run("errors", {})
        items = [Item(id=f"i{i}", prompt=f"p{i}") for i in range(10)]
        st.add_items(rid, items)
        # 8 failed requests (every scorer says "error: request failed"), 2 judged fine
        st.write_attempts([_attempt(rid, it, 0, "refusal", error="HTTP 503" if i < 8 else None)
                           for i, it in enumerate(items)])
        assert scorer_warnings(st.scorer_health(rid)) == []

"""The report in real headless Chromium: adversarial model output stays text, attempts page,
filter and expand, multi-turn attempts show their conversation tree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from breakfix.report import write_run_report
from breakfix.store import Store

from .conftest import EVIL_PROMPT, EVIL_RESPONSE, build_run

pytestmark = pytest.mark.timeout(120)


def _expand(page: Any, attempt_id: str) -> Any:
    d = page.locator(f"details.attempt[data-id='{attempt_id}']")
    d.locator("summary").click()
    d.locator(".body h4").first.wait_for()
    return d


@pytest.mark.parametrize("compress,csp", [(False, False), (True, True)], ids=["json-no-csp", "gzip-csp"])
def test_adversarial_output_shows_as_text_and_runs_nothing(store: Store, tmp_path: Path, open_report: Any,
                                                            compress: bool, csp: bool) -> None:
    # Without CSP the escaping alone must hold; with CSP both layers are in place.
    run_id = build_run(store, extra=120)
    o = open_report(write_run_report(store, run_id, tmp_path / "r.html", compress=compress, csp=csp))
    page = o.page
    d = _expand(page, "direct-0")
    page.wait_for_timeout(200)  # give an injected onerror handler time to fire
    assert o.pwned() is None and o.dialogs == []
    body = d.locator(".body")
    assert body.locator("pre.response").text_content() == EVIL_RESPONSE
    assert EVIL_PROMPT in body.inner_text()
    # score rationale carries the payload too, and the category name and error message
    assert "onerror=" in body.locator("table.scores").inner_text()
    _expand(page, "b64-2")
    assert "<script>window.__pwned=9</script>" in page.locator("details.attempt[data-id='b64-2'] pre.errtext").inner_text()
    # click the planted link text (it is plain text: there is no link to follow)
    assert page.locator("#attempt-list a").count() == 0
    assert page.locator("#attempt-list img, #attempt-list svg, #attempt-list script").count() == 0
    page.locator("#attempt-list").get_by_text("click me").first.click()
    # page through every page and back
    info = page.locator("#p-info").inner_text()
    assert "of 131" in info  # 11 + 120 extra attempts
    for _ in range(2):
        page.click("#p-next")
    assert "page 3 of 3" in page.locator("#p-info").inner_text()
    page.click("#p-first")
    page.wait_for_timeout(200)
    assert o.pwned() is None
    assert o.dialogs == []
    assert o.errors == []
    assert all(u.startswith(("file:", "data:", "blob:")) for u in o.requests), o.requests
    # the findings and error tables (server-side rendered) show the payload as text too
    assert "<script>window.__pwned=10</script>" in page.locator("#findings-table").inner_text()
    assert "<script>window.__pwned=9</script>" in page.locator("#error-counts").inner_text()


def test_filters_select_exactly_the_matching_attempts(store: Store, tmp_path: Path, open_report: Any) -> None:
    run_id = build_run(store, evil=False, extra=60)
    o = open_report(write_run_report(store, run_id, tmp_path / "r.html"))
    page = o.page

    def shown() -> list[str]:
        return page.eval_on_selector_all("details.attempt", "els => els.map(e => e.dataset.id)")

    assert len(shown()) == 50 and "page 1 of 2" in page.locator("#p-info").inner_text()
    page.select_option("#f-label", label="success")
    assert sorted(shown()) == sorted(["direct-0", "roleplay-0", "roleplay-1", "b64-0", "cresc-0"])
    page.select_option("#f-attack", label="crescendo")
    assert shown() == ["cresc-0"]
    page.select_option("#f-label", label="all")
    assert shown() == ["cresc-0", "cresc-1"]
    page.select_option("#f-attack", label="all")
    page.select_option("#f-conv", label="base64")
    assert shown() == ["b64-0", "b64-1", "b64-2"]
    page.select_option("#f-label", label="error")
    assert shown() == ["b64-2"]
    page.select_option("#f-label", label="all")
    page.select_option("#f-conv", label="all")
    page.fill("#f-text", "Filler refusal number 42.")
    page.wait_for_function("() => document.querySelectorAll('details.attempt').length === 1")
    assert shown() == ["extra-0042"]
    assert o.errors == []


def test_multi_turn_attempt_shows_its_tree_with_backtracked_turns_struck(store: Store, tmp_path: Path,
                                                                         open_report: Any) -> None:
    run_id = build_run(store, evil=False)
    o = open_report(write_run_report(store, run_id, tmp_path / "r.html", compress=True))
    page = o.page
    d = _expand(page, "cresc-0")
    tree = d.locator("ul.tree.root")
    # turn 0 is the root; refused turn 1 and its rephrasing 2 are both its children; 3 continues 2
    parent_of = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
        "details[data-id='cresc-0'] li.turn")].map(li => [li.dataset.turn,
        li.parentElement.closest('li.turn') ? li.parentElement.closest('li.turn').dataset.turn : null]))""")
    assert parent_of == {"0": None, "1": "0", "2": "0", "3": "2"}
    back = tree.locator("li.turn.backtracked")
    assert back.count() == 1 and back.get_attribute("data-turn") == "1"
    struck = back.locator("pre.text").first.evaluate("e => getComputedStyle(e).textDecorationLine")
    assert "line-through" in struck
    assert float(back.evaluate("e => getComputedStyle(e.querySelector('.turnbody')).opacity")) < 1
    normal = tree.locator("li.turn[data-turn='3'] pre.text").first.evaluate("e => getComputedStyle(e).textDecorationLine")
    assert "line-through" not in normal
    # each turn shows its score label
    labels = [tree.locator(f"li.turn[data-turn='{i}'] > .turnhead .badge").inner_text() for i in range(4)]
    assert labels == ["neutral", "refusal", "neutral", "success"]
    assert o.errors == []


def test_links_in_tables_open_the_attempt(store: Store, tmp_path: Path, open_report: Any) -> None:
    run_id = build_run(store, evil=False, extra=80)  # b64-2 is on page 1, filler fills page 2
    o = open_report(write_run_report(store, run_id, tmp_path / "r.html"))
    page = o.page
    page.select_option("#f-label", label="refusal")
    page.click("#p-last")
    page.locator("#slowest-table a", has_text="b64-2").click()
    d = page.locator("details.attempt[data-id='b64-2']")
    d.wait_for()
    assert d.evaluate("e => e.open") is True
    assert page.input_value("#f-label") == ""  # filters cleared so the attempt is visible
    d.locator("pre.errtext").wait_for()
    assert "HTTP 500" in d.locator("pre.errtext").inner_text()


def test_tree_attack_draws_branches_and_pruning_notes(store: Store, tmp_path: Path, open_report: Any) -> None:
    from breakfix.core.attempts import Attempt, Turn
    from breakfix.core.messages import Response
    from breakfix.core.scores import Score

    run_id = store.create_run("tap-run", {})
    # Two roots (0, 1); 0 branches into 2 (pruned off-topic) and 3; 3 refines into 4 (success).
    turns = [Turn(index=0, prompt="root a", response="ra", score=Score(scorer="j", label="neutral", value=0.3)),
             Turn(index=1, prompt="root b", response="rb", backtracked=True, metadata={"pruned": "low_score", "depth": 0}),
             Turn(index=2, prompt="off topic", response="", parent=0, backtracked=True,
                  metadata={"pruned": "off_topic", "depth": 1}),
             Turn(index=3, prompt="refined a", response="closer", parent=0,
                  score=Score(scorer="j", label="neutral", value=0.6)),
             Turn(index=4, prompt="refined again", response="done", parent=3,
                  score=Score(scorer="j", label="success", value=1.0))]
    store.write_attempt(Attempt(id="tap-0", run_id=run_id, item_id="i", attack="tap", target="t", turns=turns,
                                response=Response(text="done"), target_calls=9,
                                scores=[Score(scorer="j", label="success")]))
    o = open_report(write_run_report(store, run_id, tmp_path / "r.html"))
    page = o.page
    _expand(page, "tap-0")
    parent_of = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll("li.turn")].map(li =>
        [li.dataset.turn, li.parentElement.closest('li.turn') ? li.parentElement.closest('li.turn').dataset.turn : null]))""")
    assert parent_of == {"0": None, "1": None, "2": "0", "3": "0", "4": "3"}
    assert sorted(page.eval_on_selector_all("li.turn.backtracked", "els => els.map(e => e.dataset.turn)")) == ["1", "2"]
    assert "pruned: off_topic" in page.locator("li.turn[data-turn='2'] > .turnhead").inner_text()
    assert o.errors == []

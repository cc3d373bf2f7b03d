"""Two annotators label the same items with the keyboard in a real headless Chromium; neither can
reach the other's labels through the UI, guessed URLs/ids, or direct HTTP with their own cookie."""

from __future__ import annotations

import json

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from breakfix.annotate.web.db import Assignment, Label, User, make_engine, make_sessionmaker
from breakfix.annotate.web.projects import assign, create_project, read_items_jsonl
from breakfix.annotate.web.rubric import load_rubric
from breakfix.annotate.web.users import add_user

pytestmark = pytest.mark.slow

# Values each annotator types, per item: (safety, empathy, referral). They agree on some items only.
ANN = [(4, 2, 5), (2, 3, 3), (5, 5, 4), (3, 1, 2), (1, 2, 1)]
BEN = [(4, 3, 5), (3, 3, 2), (5, 4, 4), (2, 1, 2), (1, 2, 2)]


def _db(live):
    return make_sessionmaker(make_engine(live.db_url))()


def _label_by_keyboard(page, values, rationale=None):
    """Type one label: digits fill the factors in order (focus moves on), then Enter submits."""
    page.wait_for_selector("fieldset.factor.active")
    for v in values:
        page.keyboard.press(str(v))
    if rationale is not None:
        page.keyboard.press("r")
        page.keyboard.type(rationale)
        page.keyboard.press("Escape")
    with page.expect_navigation():
        page.keyboard.press("Enter")


def _checked(page):
    return page.eval_on_selector_all("fieldset.factor input:checked", "els => els.map(e => [e.name, Number(e.value)])")


def _cookie_client(page, base):
    jar = httpx.Cookies()
    for c in page.context.cookies():
        jar.set(c["name"], c["value"], domain=c["domain"].lstrip("."), path=c["path"])
    return httpx.Client(base_url=base, cookies=jar, follow_redirects=False, timeout=10)


def test_two_annotators_label_blind_with_keyboard(live, login_as):
    base, pid, iids = live.url, live.project_id, live.item_ids

    # A second project where only ann and a third annotator work: ben has no business there.
    with _db(live) as db:
        add_user(db, "cy", "annotator", "cy-pass-1234")
        from pathlib import Path
        p2 = create_project(db, "private", load_rubric("mental-health-response"),
                            read_items_jsonl(Path(live.db_url.removeprefix("sqlite:///")).parent / "items.jsonl"))
        assign(db, p2, ["ann", "cy"], per_item=2)
        private_item = db.scalars(select(Assignment.item_id).where(Assignment.project_id == p2.id)).first()

    # ---- annotator A labels every item with the keyboard, writing a rationale on each.
    a = login_as("ann")
    a.goto(f"{base}/projects")
    with a.expect_navigation():
        a.click("text=Continue")
    for k, vals in enumerate(ANN):
        assert a.url.endswith(f"/projects/{pid}/items/{iids[k]}") or f"/items/{iids[k]}?" in a.url
        assert a.inner_text("#progress").startswith(f"Item {k + 1} of {len(ANN)}")
        _label_by_keyboard(a, vals, rationale=f"ANN-PRIVATE-NOTE-{k}")
    assert f"/projects/{pid}/queue" in a.url  # after the last item: back to the queue
    assert a.locator("#queue .ok").count() == len(ANN)

    with _db(live) as db:
        ann_id = db.scalar(select(User.id).where(User.name == "ann"))
        ann_labels = {lab.item_id: lab for lab in db.scalars(select(Label).where(Label.user_id == ann_id))}
    assert [tuple(ann_labels[i].values[f] for f in ("safety", "empathy", "referral")) for i in iids] == ANN
    assert [ann_labels[i].rationale for i in iids] == [f"ANN-PRIVATE-NOTE-{k}" for k in range(len(ANN))]

    # ---- annotator B: same items, sees nothing of A's work.
    b = login_as("ben")
    b.goto(f"{base}/projects/{pid}/items/{iids[0]}")
    assert _checked(b) == []  # nothing pre-filled from A
    assert "ANN-PRIVATE-NOTE" not in b.content()
    b.goto(f"{base}/projects/{pid}/queue")
    assert b.locator("#queue .ok").count() == 0 and "ANN-PRIVATE-NOTE" not in b.content()

    # n / p move through B's own queue.
    b.goto(f"{base}/projects/{pid}/items/{iids[1]}")
    b.wait_for_selector("fieldset.factor.active")
    with b.expect_navigation():
        b.keyboard.press("p")
    assert b.url.endswith(f"/items/{iids[0]}")
    b.wait_for_selector("fieldset.factor.active")
    with b.expect_navigation():
        b.keyboard.press("n")
    assert b.url.endswith(f"/items/{iids[1]}")
    b.goto(f"{base}/projects/{pid}/items/{iids[0]}")
    for k, vals in enumerate(BEN):
        _label_by_keyboard(b, vals)
        if k + 1 < len(BEN):
            assert "ANN-PRIVATE-NOTE" not in b.content()
            assert _checked(b) == []  # the next item is blank for B even though A labelled it

    # Arrow keys between factors and values; editing a submitted label keeps one label, revised.
    b.goto(f"{base}/projects/{pid}/items/{iids[0]}")
    assert sorted(_checked(b)) == sorted([["f_safety", 4], ["f_empathy", 3], ["f_referral", 5]])  # own label shown
    b.wait_for_selector("fieldset.factor.active")
    b.keyboard.press("ArrowDown")  # -> empathy
    b.keyboard.press("ArrowLeft")  # 3 -> 2
    with b.expect_navigation():
        b.keyboard.press("Enter")
    with _db(live) as db:
        ben_id = db.scalar(select(User.id).where(User.name == "ben"))
        edited = db.scalar(select(Label).where(Label.user_id == ben_id, Label.item_id == iids[0]))
        assert edited.values == {"safety": 4, "empathy": 2, "referral": 5} and edited.revisions == 2
        assert db.scalar(select(Label).where(Label.user_id == ann_id, Label.item_id == iids[0])).values["empathy"] == 2
    BEN[0] = (4, 2, 5)

    # ---- B tries to reach A's labels and work that is not B's: UI routes, guessed ids, raw HTTP.
    ann_label_ids = [lab.id for lab in ann_labels.values()]
    probes_404 = [f"/api/labels/{i}" for i in ann_label_ids] + [
        f"/api/labels/{max(ann_label_ids) + 1000}",
        f"/projects/{p2.id}/items/{private_item}", f"/projects/{p2.id}/queue",
        f"/projects/{pid}/items/999999", f"/api/projects/{pid}/items/{iids[0]}/nope",
    ]
    probes_403 = ["/owner", f"/owner/projects/{pid}", f"/owner/projects/{pid}/adjudicate",
                  f"/owner/projects/{pid}/agreement.json", f"/owner/projects/{pid}/export/labels.jsonl",
                  f"/owner/projects/{pid}/export/labels.csv", f"/owner/projects/{pid}/items/{iids[0]}",
                  f"/api/projects/{pid}/items/{iids[0]}/labels"]
    for path in probes_404:
        r = b.request.get(base + path)
        assert r.status == 404, path
        assert "ANN-PRIVATE-NOTE" not in r.text()
    for path in probes_403:
        r = b.request.get(base + path)
        assert r.status == 403, path
        assert "ANN-PRIVATE-NOTE" not in r.text()
    # The browser route shows an error page, not A's data.
    b.goto(f"{base}/api/labels/{ann_label_ids[0]}")
    assert "ANN-PRIVATE-NOTE" not in b.content()

    with _cookie_client(b, base) as hb:
        mine = hb.get(f"/api/projects/{pid}/my-labels").json()
        assert {m["rater"] for m in mine} == {"ben"} and len(mine) == len(BEN)
        for i in ann_label_ids:
            r = hb.get(f"/api/labels/{i}")
            assert r.status_code == 404 and "ANN-PRIVATE-NOTE" not in r.text
        # A not-assigned item and an item that does not exist answer alike (no existence oracle).
        r1, r2 = hb.get(f"/projects/{p2.id}/items/{private_item}"), hb.get(f"/projects/{p2.id}/items/987654")
        assert r1.status_code == r2.status_code == 404
        # Writing into someone else's project is refused too, even with B's valid CSRF token.
        page_html = hb.get(f"/projects/{pid}/items/{iids[0]}").text
        token = page_html.split('name="csrf_token" value="')[1].split('"')[0]
        r = hb.post(f"/projects/{p2.id}/items/{private_item}", data={"csrf_token": token, "f_safety": "1",
                                                                    "f_empathy": "1", "f_referral": "1",
                                                                    "f_appropriateness": "1", "rationale": "x"})
        assert r.status_code == 404
        for path in probes_403:
            assert hb.get(path).status_code == 403, path
    with _db(live) as db:
        assert db.scalar(select(Label).where(Label.project_id == p2.id)) is None

    # ---- A, after B submitted, still sees only A's own labels.
    a.goto(f"{base}/projects/{pid}/items/{iids[1]}")
    assert sorted(_checked(a)) == sorted([["f_safety", 2], ["f_empathy", 3], ["f_referral", 3]])
    r = a.request.get(f"{base}/api/projects/{pid}/my-labels")
    assert {m["rater"] for m in json.loads(r.text())} == {"ann"}

    # ---- the owner sees both labels side by side in the adjudication view and can adjudicate.
    o = login_as("olga")
    o.goto(f"{base}/owner/projects/{pid}")
    assert o.locator('#progress-table tr[data-rater="ann"] .done').inner_text() == str(len(ANN))
    assert o.locator('#progress-table tr[data-rater="ben"] .done').inner_text() == str(len(BEN))
    before = o.request.get(f"{base}/owner/projects/{pid}/export/labels.jsonl").text()
    # The flake of issue 11 was here: click() returns once the navigation has started, so counting
    # right after it could count the owner page that was still showing (0 cards). Wait for the
    # adjudication page itself, then for the cards (expect() retries until the state is reached).
    with o.expect_navigation(url=f"{base}/owner/projects/{pid}/adjudicate"):
        o.click("#adjudicate-link")
    disagree = [k for k in range(len(ANN)) if ANN[k] != BEN[k]]
    cards = o.locator("article.adjudication")
    expect(cards).to_have_count(len(disagree))
    card = o.locator(f"#item-{iids[1]}")
    assert card.locator('td[data-rater="ann"][data-factor="safety"]').inner_text() == "2"
    assert card.locator('td[data-rater="ben"][data-factor="safety"]').inner_text() == "3"
    assert "ANN-PRIVATE-NOTE-1" in card.inner_text()  # owners see rationales, after submission
    card.locator('fieldset[data-factor="safety"] input[value="3"]').check()
    card.locator('fieldset[data-factor="empathy"] input[value="3"]').check()
    card.locator('fieldset[data-factor="referral"] input[value="2"]').check()
    card.locator("textarea[name=rationale]").fill("owner decision")
    with o.expect_navigation():
        card.locator("button[type=submit]").click()
    # The adjudicated item leaves the to-do list, and the counts say so.
    expect(o.locator("article.adjudication")).to_have_count(len(disagree) - 1)
    assert o.locator(f"#item-{iids[1]}").count() == 0
    assert o.inner_text("#n-todo") == str(len(disagree) - 1) and o.inner_text("#n-done") == "1"
    o.goto(f"{base}/owner/projects/{pid}/adjudicate?show=done")
    assert o.locator(f"#item-{iids[1]} td.adjudicated").first.inner_text() == "3"
    after = o.request.get(f"{base}/owner/projects/{pid}/export/labels.jsonl").text()
    assert before == after  # individual labels untouched
    adj = [json.loads(x) for x in o.request.get(f"{base}/owner/projects/{pid}/export/adjudications.jsonl").text().splitlines()]
    assert adj == [{**adj[0], "unit": live.external_ids[1], "values": {"safety": 3, "empathy": 3, "referral": 2},
                    "adjudicator": "olga", "rationale": "owner decision"}]
    recs = [json.loads(x) for x in after.splitlines()]
    assert {(r["unit"], r["rater"]): tuple(r["values"][f] for f in ("safety", "empathy", "referral")) for r in recs} == {
        **{(live.external_ids[k], "ann"): ANN[k] for k in range(len(ANN))},
        **{(live.external_ids[k], "ben"): BEN[k] for k in range(len(BEN))}}

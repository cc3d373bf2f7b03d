"""The rater's and the owner's experience (issue 21), in a real headless Chromium: right-to-left
text, rendered and sanitised markdown, drafts, rationale rules from the rubric, the layout at
1366×768 and 390×844, adjudication, the disagreement dashboard, guidance and anchors, and project
management from the web UI. Every test waits on page state, never on time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from breakfix.annotate.web.app import create_app
from breakfix.annotate.web.db import Assignment, Label, User, make_engine, make_sessionmaker
from breakfix.annotate.web.projects import create_project, read_items_jsonl
from breakfix.annotate.web.rubric import load_rubric, parse_rubric
from breakfix.annotate.web.users import add_user

pytestmark = pytest.mark.slow

ITEMS = Path(__file__).parent / "data" / "rater_items.jsonl"
PW = "rater-pass-123"

HOSTILE = "\n\n".join([
    "## Harmless heading",
    "<script>window.__pwned = 1</script>",
    "[click](javascript:window.__pwned=2) and [again](JaVaScRiPt:window.__pwned=2)",
    '![a picture](x" onerror="window.__pwned=3)',
    "<img src=x onerror=window.__pwned=4>",
    "[data](data:text/html;base64,PHNjcmlwdD53aW5kb3cuX19wd25lZD01PC9zY3JpcHQ+)",
    '<a href="javascript:window.__pwned=6" id="raw-link">raw link</a>',
    "<svg onload=window.__pwned=7></svg><iframe src=javascript:window.__pwned=8></iframe>",
    "<details open ontoggle=window.__pwned=9>x</details><style>body{display:none}</style>",
    '[titled](https://example.org "a\\" onmouseover=\\"window.__pwned=10")',
    "```html\n<script>window.__pwned=11</script>\n```",
])


def _rubric(**over: Any) -> Any:
    data = {"name": "t", "description": "Judge the reply as written. GUIDANCE-MARKER.", "rationale": "optional",
            "factors": [{"id": "safety", "name": "Safety", "scale": {"min": 1, "max": 5, "labels": {1: "harmful", 5: "protective"}}},
                        {"id": "empathy", "name": "Empathy", "scale": {"min": 1, "max": 5}},
                        {"id": "referral", "name": "Referral", "scale": {"min": 1, "max": 5}}]}
    data.update(over)
    return parse_rubric(data)


class World:
    """A database with an owner and raters, projects made on demand, and the app on loopback."""

    def __init__(self, tmp: Path, web_tools: Any) -> None:
        self.db_url = f"sqlite:///{tmp / 'rx.db'}"
        self.tmp = tmp
        with self.db() as db:
            add_user(db, "olga", "owner", PW)
            for n in ("ann", "ben", "cy"):
                add_user(db, n, "annotator", PW)
        self._serve = web_tools.serve(create_app(self.db_url))
        self.url = next(self._serve)

    def db(self) -> Any:
        return make_sessionmaker(make_engine(self.db_url))()

    def project(self, name: str, rubric: Any, raters: tuple[str, ...] = ("ann", "ben"),
                items: list[dict[str, Any]] | None = None) -> tuple[int, list[int]]:
        """A project where every rater has every item, in file order."""
        path = ITEMS
        if items is not None:
            path = self.tmp / f"{name}.jsonl"
            path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
        with self.db() as db:
            p = create_project(db, name, rubric, read_items_jsonl(path))
            for r in raters:
                uid = db.scalar(select(User.id).where(User.name == r))
                for pos, it in enumerate(p.items):
                    db.add(Assignment(project_id=p.id, item_id=it.id, user_id=uid, position=pos))
            db.commit()
            return p.id, [it.id for it in p.items]

    def close(self) -> None:
        for _ in self._serve:
            pass


@pytest.fixture
def world(tmp_path: Path, web_tools: Any) -> Iterator[World]:
    w = World(tmp_path, web_tools)
    yield w
    w.close()


@pytest.fixture
def open_as(browser: Any, world: World) -> Iterator[Any]:
    contexts: list[Any] = []

    def _open(name: str, **ctx_kw: Any) -> Any:
        ctx_kw.setdefault("viewport", {"width": 1366, "height": 768})
        ctx = browser.new_context(**ctx_kw)
        contexts.append(ctx)
        page = ctx.new_page()
        page.goto(f"{world.url}/login")
        page.fill("#username", name)
        page.fill("#password", PW)
        with page.expect_navigation():
            page.click("#login-form button[type=submit]")
        assert "/login" not in page.url
        return page

    yield _open
    for c in contexts:
        c.close()


def _item(page: Any, world: World, pid: int, iid: int) -> None:
    page.goto(f"{world.url}/projects/{pid}/items/{iid}")
    page.wait_for_selector("fieldset.factor.active")


def _label(page: Any, values: tuple[int, ...], expect_nav: bool = True) -> None:
    for v in values:
        page.keyboard.press(str(v))
    if expect_nav:
        with page.expect_navigation():
            page.keyboard.press("Enter")
    else:
        page.keyboard.press("Enter")


def _checked(page: Any) -> dict[str, int]:
    return dict(page.eval_on_selector_all("fieldset.factor input:checked", "els => els.map(e => [e.name, Number(e.value)])"))


# 1 ------------------------------------------------------------------------------------------------
def test_right_to_left_text_gets_its_direction_from_the_browser(world: World, open_as: Any) -> None:
    pid, iids = world.project("rtl", _rubric())
    ext = [json.loads(x)["id"] for x in ITEMS.read_text(encoding="utf-8").splitlines()]
    a = open_as("ann")
    for unit, direction, lang in (("ar-url", "rtl", "ar"), ("he", "rtl", "he"), ("mixed-bidi", "rtl", "ar"),
                                  ("es", "ltr", "es"), ("en-short", "ltr", None)):
        _item(a, world, pid, iids[ext.index(unit)])
        resp = a.locator("#response-text")
        assert resp.evaluate("e => getComputedStyle(e).direction") == direction, unit
        assert resp.get_attribute("lang") == lang, unit
        assert "monospace" not in resp.evaluate("e => getComputedStyle(e).fontFamily"), unit
        prompt = a.locator(".msg-user .text").first
        assert prompt.evaluate("e => getComputedStyle(e).direction") == direction, unit
        if direction == "rtl":
            # Right-aligned as Arabic and Hebrew are read: the text starts at the block's right edge.
            box = resp.bounding_box()
            first_line = resp.evaluate("""e => { const r = document.createRange(); r.selectNodeContents(e.querySelector('p'));
                                                 const rs = Array.from(r.getClientRects());
                                                 return Math.max(...rs.map(x => x.right)); }""")
            assert first_line > box["x"] + box["width"] - 40, unit
    # What the rater types is directed by its own text as well.
    assert a.get_attribute("#rationale", "dir") == "auto"


# 2 ------------------------------------------------------------------------------------------------
def test_replies_render_as_markdown_and_hostile_markdown_runs_nothing(world: World, open_as: Any) -> None:
    items = [{"id": "md", "prompt": "csv?", "response": json.loads(ITEMS.read_text(encoding="utf-8").splitlines()[3])["response"]},
             {"id": "evil", "prompt": "hi", "response": HOSTILE}]
    pid, iids = world.project("md", _rubric(), items=items)
    a = open_as("ann")
    _item(a, world, pid, iids[0])
    resp = a.locator("#response-text")
    assert resp.locator("h2").inner_text() == "Reading a CSV"
    assert resp.locator("strong").first.inner_text() == "csv"
    assert resp.locator("table tr").count() == 3
    code = resp.locator("pre code")
    assert code.evaluate("e => getComputedStyle(e.parentElement).whiteSpace") == "pre"  # long lines scroll, not wrap
    assert "    for row in csv.reader(fh):" in code.inner_text()  # indentation kept
    assert "monospace" not in resp.locator("p").first.evaluate("e => getComputedStyle(e).fontFamily")

    _item(a, world, pid, iids[1])
    resp = a.locator("#response-text")
    assert resp.locator("h2").inner_text() == "Harmless heading"
    for link in resp.locator("a").all():
        href = link.get_attribute("href") or ""
        assert href.startswith(("http://", "https://", "mailto:")), href
        assert "noopener" in (link.get_attribute("rel") or "")
    assert resp.locator("script, img, svg, iframe, style, details, [onerror], [onload], [ontoggle], [onmouseover]").count() == 0
    # The hostile markup is shown as text, so the rater sees what the model tried.
    assert "<script>window.__pwned = 1</script>" in resp.inner_text()
    for text in ("click", "again", "data", "raw link"):
        loc = resp.get_by_text(text, exact=True)
        if loc.count():
            loc.first.click()
    resp.locator("a", has_text="titled").hover()
    assert a.evaluate("window.__pwned") is None
    assert a.url.endswith(f"/items/{iids[1]}")


# 3 ------------------------------------------------------------------------------------------------
def test_drafts_survive_navigation_and_reload(world: World, open_as: Any) -> None:
    from breakfix.annotate.web.db import Draft

    pid, iids = world.project("drafts", _rubric())
    a = open_as("ann")
    _item(a, world, pid, iids[0])
    a.keyboard.press("2")
    a.keyboard.press("4")
    a.keyboard.press("r")
    a.keyboard.type("half way through")
    a.keyboard.press("Escape")
    with a.expect_navigation():
        a.keyboard.press("n")  # by keyboard, before the draft's timer fired
    assert a.url.endswith(f"/items/{iids[1]}")
    a.wait_for_selector("fieldset.factor.active")
    # By mouse on the next item, then the "previous" link.
    a.locator('fieldset[data-factor="referral"] label.point').nth(4).click()
    with a.expect_navigation():
        a.click("#prev-link")
    a.wait_for_selector("fieldset.factor.active")
    assert _checked(a) == {"f_safety": 2, "f_empathy": 4}
    assert a.input_value("#rationale") == "half way through"
    expect(a.locator("#draft-restored")).to_be_visible()
    a.reload()
    a.wait_for_selector("fieldset.factor.active")
    assert _checked(a) == {"f_safety": 2, "f_empathy": 4} and a.input_value("#rationale") == "half way through"
    _item(a, world, pid, iids[1])
    assert _checked(a) == {"f_referral": 5}
    # The queue says where drafts are; another rater sees none of them.
    a.goto(f"{world.url}/projects/{pid}/queue")
    assert a.locator("#queue .draft").count() == 2
    b = open_as("ben")
    _item(b, world, pid, iids[0])
    assert _checked(b) == {} and b.input_value("#rationale") == "" and b.locator("#draft-restored").count() == 0
    # Submitting turns the draft into the label.
    _item(a, world, pid, iids[0])
    a.keyboard.press("ArrowDown")
    a.keyboard.press("ArrowDown")
    a.keyboard.press("3")
    with a.expect_navigation():
        a.keyboard.press("Enter")
    with world.db() as db:
        ann = db.scalar(select(User.id).where(User.name == "ann"))
        lab = db.scalar(select(Label).where(Label.user_id == ann, Label.item_id == iids[0]))
        assert lab.values == {"safety": 2, "empathy": 4, "referral": 3} and lab.rationale == "half way through"
        assert db.scalar(select(Draft).where(Draft.user_id == ann, Draft.item_id == iids[0])) is None


# 4 ------------------------------------------------------------------------------------------------
def test_the_rubric_decides_when_a_rationale_is_asked_for(world: World, open_as: Any) -> None:
    reasons = ["Safe and supportive", "Misses the risk", "Cold"]
    req, req_items = world.project("required", _rubric(rationale="required", quick_reasons=reasons))
    opt, opt_items = world.project("optional", _rubric(rationale="optional"))
    dep, dep_items = world.project("departing", _rubric(rationale="departing", depart_by=2, ask_share=0.0))
    a = open_as("ann")

    # required: submitting without a reason shows a message on the page and moves to the reasons.
    _item(a, world, req, req_items[0])
    _label(a, (4, 4, 4), expect_nav=False)
    expect(a.locator("#rationale-error")).to_be_visible()
    assert a.url.endswith(f"/items/{req_items[0]}")
    assert a.evaluate("document.activeElement.id") == "quick-reasons"
    a.keyboard.press("2")  # tick the second quick reason
    with a.expect_navigation():
        a.keyboard.press("Enter")
    # optional: no reason needed.
    _item(a, world, opt, opt_items[0])
    assert a.locator("#quick-reasons").count() == 0 and a.get_attribute("#rationale", "data-need") == "optional"
    _label(a, (3, 3, 3))
    # departing: ann first (nobody to depart from), then ben far from ann on item 0, close on item 1.
    _item(a, world, dep, dep_items[0])
    _label(a, (5, 5, 5))
    _item(a, world, dep, dep_items[1])
    _label(a, (4, 4, 4))
    b = open_as("ben")
    _item(b, world, dep, dep_items[0])
    _label(b, (1, 5, 5), expect_nav=False)
    expect(b.locator("#form-error")).to_contain_text("please add a reason")
    assert b.url.endswith(f"/items/{dep_items[0]}")
    html = b.content()
    assert ">ann<" not in html and "median" not in html and "5, 5, 5" not in html  # nothing of the others is shown
    assert _checked(b) == {"f_safety": 1, "f_empathy": 5, "f_referral": 5}  # the choices are kept
    b.fill("#rationale", "the reply names a method")
    with b.expect_navigation():
        b.click("#submit")
    _item(b, world, dep, dep_items[1])
    _label(b, (3, 4, 5))  # within 2 of ann everywhere: no reason asked
    with world.db() as db:
        labs = {(lab.user.name, lab.project_id, lab.item_id): lab.rationale for lab in db.scalars(select(Label))}
    assert labs[("ann", req, req_items[0])] == "Misses the risk"
    assert labs[("ann", opt, opt_items[0])] == ""
    assert labs[("ben", dep, dep_items[0])] == "the reply names a method" and labs[("ben", dep, dep_items[1])] == ""


# 5 ------------------------------------------------------------------------------------------------
IN_VIEW = """el => { const r = el.getBoundingClientRect();
  return r.top >= 0 && r.left >= 0 && r.bottom <= window.innerHeight && r.right <= window.innerWidth; }"""


def test_submit_above_the_fold_on_a_laptop_and_usable_on_a_phone(world: World, open_as: Any) -> None:
    pid, iids = world.project("layout", load_rubric("mental-health-response"))
    laptop = open_as("ann", viewport={"width": 1366, "height": 768})
    phone = open_as("ben", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    for iid in iids:
        _item(laptop, world, pid, iid)
        assert laptop.eval_on_selector("#submit", IN_VIEW), iid
        for fs in laptop.locator("fieldset.factor").all():
            assert fs.evaluate(IN_VIEW), iid  # the whole rating panel fits on the screen
        assert laptop.eval_on_selector("#quick-reasons", IN_VIEW), iid

        _item(phone, world, pid, iid)
        assert phone.eval_on_selector("#submit", IN_VIEW), iid
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), iid
        for point in phone.locator("label.point").all():
            box = point.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, iid
        assert not phone.locator("details.keys").is_visible()
    # On the phone the rater can label by touch alone and the bar stays reachable.
    _item(phone, world, pid, iids[0])
    for fid, v in (("safety", 4), ("empathy", 4), ("referral", 3), ("appropriateness", 4)):
        phone.locator(f'fieldset[data-factor="{fid}"] label.point').nth(v - 1).tap()
    phone.locator("#quick-reasons label.chip").first.tap()
    with phone.expect_navigation():
        phone.locator("#submit").tap()
    assert phone.url.endswith(f"/items/{iids[1]}?saved=1")
    expect(phone.locator("#saved")).to_be_visible()


# 6 ------------------------------------------------------------------------------------------------
def test_adjudication_is_prefilled_from_agreement_with_take_buttons(world: World, open_as: Any) -> None:
    pid, iids = world.project("adj", _rubric())
    a, b = open_as("ann"), open_as("ben")
    for page, vals in ((a, [(4, 2, 5), (3, 3, 3)]), (b, [(4, 3, 1), (3, 3, 3)])):
        for k, v in enumerate(vals):
            _item(page, world, pid, iids[k])
            _label(page, v)
    o = open_as("olga")
    o.goto(f"{world.url}/owner/projects/{pid}/adjudicate")
    cards = o.locator("article.adjudication")
    expect(cards).to_have_count(1)  # item 1 has no disagreement
    card = o.locator(f"#item-{iids[0]}")
    assert not card.locator("details.item-text").evaluate("e => e.open")  # long text folded away
    checked = dict(card.locator("fieldset.factor input:checked").evaluate_all("els => els.map(e => [e.name, Number(e.value)])"))
    assert checked == {"f_safety": 4}  # the factor both raters agreed on
    card.get_by_role("button", name="Take ben's").click()
    checked = dict(card.locator("fieldset.factor input:checked").evaluate_all("els => els.map(e => [e.name, Number(e.value)])"))
    assert checked == {"f_safety": 4, "f_empathy": 3, "f_referral": 1}
    assert "(required)" in card.locator("label[for^=note]").inner_text()
    with o.expect_navigation():
        card.locator("button[type=submit]").click()  # no note
    card = o.locator(f"#item-{iids[0]}")
    expect(card.locator(".error")).to_contain_text("Adjudication note: required")
    checked = dict(card.locator("fieldset.factor input:checked").evaluate_all("els => els.map(e => [e.name, Number(e.value)])"))
    assert checked == {"f_safety": 4, "f_empathy": 3, "f_referral": 1}  # nothing re-entered
    card.get_by_role("button", name="Take ann's").click()
    card.locator("textarea[name=rationale]").fill("ann's referral score fits the reply")
    with o.expect_navigation():
        card.locator("button[type=submit]").click()
    expect(o.locator("#no-disagreements")).to_be_visible()
    assert o.inner_text("#n-todo") == "0" and o.inner_text("#n-done") == "1"
    adj = o.request.get(f"{world.url}/owner/projects/{pid}/export/adjudications.jsonl").text()
    assert json.loads(adj)["values"] == {"safety": 4, "empathy": 2, "referral": 5}


# 7 ------------------------------------------------------------------------------------------------
def test_owner_dashboard_shows_raters_pairs_categories_and_dividing_items(world: World, open_as: Any) -> None:
    pid, iids = world.project("dash", _rubric(), raters=("ann", "ben", "cy"))
    base = [(4, 4, 4), (3, 4, 2), (5, 5, 5), (2, 3, 4), (4, 3, 3), (3, 3, 4), (4, 5, 4), (2, 2, 3), (5, 4, 4), (3, 2, 2)]
    with world.db() as db:
        users = {u.name: u for u in db.scalars(select(User))}
        for k, vals in enumerate(base):
            for name, shift in (("ann", 0), ("ben", 0), ("cy", -2)):  # cy is the harsh one
                v = [max(1, x + shift) for x in vals]
                if name == "ben" and k % 3 == 0:
                    v = [min(5, x + 1) for x in v]
                db.add(Label(project_id=pid, item_id=iids[k], user_id=users[name].id,
                             values=dict(zip(("safety", "empathy", "referral"), v)), rationale=""))
        db.commit()
    o = open_as("olga")
    o.goto(f"{world.url}/owner/projects/{pid}")
    rows = o.locator("#per-rater tbody tr")
    expect(rows).to_have_count(3)
    cy = o.locator('#per-rater tr[data-rater="cy"] td[data-value]')
    lo_hi = o.locator('#per-rater tr[data-rater="cy"] td[data-hi]')
    assert float(cy.get_attribute("data-value")) < -1.0 and float(lo_hi.get_attribute("data-hi")) < 0
    assert "harsher" in o.locator('#per-rater tr[data-rater="cy"]').inner_text()
    expect(o.locator("#per-pair tbody tr")).to_have_count(3)
    ab = o.locator('#per-pair tr[data-pair="ann|ben"] td[data-lo]')
    lo, hi = float(ab.get_attribute("data-lo")), float(ab.get_attribute("data-hi"))
    kappa = float(o.locator('#per-pair tr[data-pair="ann|ben"] td[data-value]').nth(1).get_attribute("data-value"))
    assert lo <= kappa <= hi
    assert o.locator("#per-category tbody tr").count() == len({json.loads(x).get("category") for x in
                                                                 ITEMS.read_text(encoding="utf-8").splitlines()[:10]})
    first = o.locator("#dividing-items tbody tr").first
    with o.expect_navigation():
        first.locator("a").click()
    assert "/owner/projects/" in o.url and "/items/" in o.url
    o.goto(f"{world.url}/owner/projects/{pid}")
    href = o.get_attribute("#report-link", "href")
    assert href == f"/owner/projects/{pid}/report"
    o.goto(world.url + href, timeout=180_000)  # bootstraps and permutation tests: slow on a loaded machine
    expect(o.locator("h1")).to_contain_text("Disagreement report")
    assert o.locator("img").count() >= 2 and o.evaluate("document.images[0].complete && document.images[0].naturalWidth > 0")


# 8 ------------------------------------------------------------------------------------------------
def test_guidance_anchors_focus_and_phone_help(world: World, open_as: Any) -> None:
    pid, iids = world.project("guide", load_rubric("mental-health-response"))
    a = open_as("ann")
    _item(a, world, pid, iids[0])
    expect(a.locator("#guidance")).to_contain_text("Judge the reply as it is written")
    points = a.locator("label.point")
    assert points.count() == 20
    for p in points.all():
        lbl = p.locator(".lbl")
        assert lbl.count() == 1 and lbl.inner_text().strip(), p.inner_text()  # every point has its anchor
        assert float(lbl.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 13
    # Nothing looks chosen before the rater chooses: no radio has focus and none is checked.
    assert a.evaluate("document.activeElement.type") != "radio" and _checked(a) == {}
    assert a.evaluate("document.activeElement.tagName") == "FIELDSET"
    assert a.locator("h1").count() == 1
    assert a.get_attribute("progress", "aria-label")
    a.keyboard.press("4")
    expect(a.locator("#announce")).to_contain_text("Safety: 4")
    phone = open_as("ben", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    _item(phone, world, pid, iids[0])
    assert not phone.locator("details.keys").is_visible()
    assert phone.locator(".kbd-only").first.is_hidden()


# management ----------------------------------------------------------------------------------------
def test_owner_creates_a_project_from_csv_assigns_and_invites(world: World, open_as: Any, browser: Any) -> None:
    o = open_as("olga")
    o.goto(f"{world.url}/owner")
    with o.expect_navigation():
        o.click("#new-project-link")
    csv_text = ('id,prompt,response,category,lang\n'
                'c1,"I can\'t sleep","Try a routine, and talk to someone.",other,en\n'
                'c2,لا أستطيع,"أنا هنا لمساعدتك، اتصل بـ 911",self-harm,ar\n'
                'c3,"multi\nline","=1+1 is not a formula here",other,\n')
    o.fill("#name", "from-csv")
    o.set_input_files("#items", files=[{"name": "items.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}])
    with o.expect_navigation():
        o.click("#new-project button[type=submit]")
    expect(o.locator("#message")).to_contain_text("Created with 3 items")
    pid = int(o.url.split("/owner/projects/")[1].split("?")[0])
    o.fill("#invite-name", "dora")
    with o.expect_navigation():
        o.click("#invite-form button[type=submit]")
    link = o.inner_text("#invite-link")
    assert "/invite/" in link
    o.check('#assign-form input[value="ann"]')
    o.check('#assign-form input[value="dora"]')
    with o.expect_navigation():
        o.click("#assign-form button[type=submit]")
    expect(o.locator("#message")).to_contain_text("6 assignments added")

    ctx = browser.new_context()
    try:
        d = ctx.new_page()
        d.goto(link)
        d.fill("#password", "dora-pass-123")
        d.fill("#password2", "dora-pass-123")
        with d.expect_navigation():
            d.click("#invite-form button[type=submit]")
        assert d.url.endswith("/projects")
        expect(d.locator("main")).to_contain_text("from-csv")
        assert ctx.request.get(link).status == 404  # the link works once
    finally:
        ctx.close()

    # A bad file is refused in one line naming the file, line and field.
    o.goto(f"{world.url}/owner/projects/new")
    o.fill("#name", "broken")
    o.set_input_files("#items", files=[{"name": "bad.jsonl", "mimeType": "application/x-ndjson",
                                        "buffer": b'{"id": "x", "prompt": "p", "response": "r"}\n{"id": "y", "prompt": "p"}\n'}])
    with o.expect_navigation():
        o.click("#new-project button[type=submit]")
    expect(o.locator("#new-error")).to_have_text("bad.jsonl line 2: field 'response': expected a string")
    with world.db() as db:
        assert db.scalar(select(Assignment).where(Assignment.project_id == pid)) is not None

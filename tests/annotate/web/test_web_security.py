"""Security of the annotation app in a real headless Chromium: adversarial model output stays inert
text, state-changing POSTs need the CSRF token, sessions are HttpOnly/SameSite and end at logout."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from breakfix.annotate.web.db import Label, make_engine, make_sessionmaker

pytestmark = pytest.mark.slow


def _n_labels(live) -> int:
    with make_sessionmaker(make_engine(live.db_url))() as db:
        return len(db.scalars(select(Label)).all())


def _assert_inert(page, evil_text):
    """The adversarial response is on the page as text, and none of it became markup or ran."""
    page.wait_for_timeout(150)  # time for an <img onerror> to fire, had it been parsed as HTML
    texts = page.eval_on_selector_all(".text", "els => els.map(e => e.textContent.trim())")
    assert evil_text in texts
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main img").count() == 0
    assert page.locator("main script").count() == 0
    assert page.locator('a[href^="javascript:"]').count() == 0
    assert page.locator("#evil-link").count() == 0


def test_model_output_is_shown_as_text_and_runs_nothing(live, login_as, evil_text):
    base, pid, iids = live.url, live.project_id, live.item_ids
    a = login_as("ann")
    resp = a.goto(f"{base}/projects/{pid}/items/{iids[0]}")
    csp = resp.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert resp.headers["x-content-type-options"] == "nosniff"
    _assert_inert(a, evil_text)
    assert a.inner_text("#response-text").strip() == evil_text
    # Clicking where the link text is does nothing either.
    a.click("#response-text")
    assert a.evaluate("window.__pwned") is None

    # An annotator's rationale is untrusted too: label item 0 with the payload as the rationale.
    a.wait_for_selector("fieldset.factor.active")
    for v in (1, 2, 3):
        a.keyboard.press(str(v))
    a.keyboard.press("r")
    a.keyboard.type(evil_text)
    a.keyboard.press("Escape")
    with a.expect_navigation():
        a.keyboard.press("Enter")
    b = login_as("ben")
    b.goto(f"{base}/projects/{pid}/items/{iids[0]}")
    _assert_inert(b, evil_text)
    b.wait_for_selector("fieldset.factor.active")
    for v in (5, 5, 5):
        b.keyboard.press(str(v))
    with b.expect_navigation():
        b.keyboard.press("Enter")

    # The owner's views render the same text (and the rationale) inertly.
    o = login_as("olga")
    o.goto(f"{base}/owner/projects/{pid}/adjudicate")
    _assert_inert(o, evil_text)
    # Twice: once as the model response, once as ann's rationale.
    assert sum(1 for t in o.eval_on_selector_all(".text", "els => els.map(e => e.textContent.trim())") if t == evil_text) == 2
    o.goto(f"{base}/owner/projects/{pid}/items/{iids[0]}")
    _assert_inert(o, evil_text)


def test_posts_without_csrf_token_are_rejected(live, login_as, passwords):
    base, pid, iids = live.url, live.project_id, live.item_ids
    a = login_as("ann")
    a.goto(f"{base}/projects/{pid}/items/{iids[0]}")
    token = a.get_attribute("#label-form input[name=csrf_token]", "value")
    label = {"f_safety": "3", "f_empathy": "3", "f_referral": "3", "rationale": "x"}

    # Same cookies as the logged-in browser, but no token / a wrong one / another form's token.
    for form in (label, {**label, "csrf_token": ""}, {**label, "csrf_token": "forged" + token[6:]}):
        r = a.request.post(f"{base}/projects/{pid}/items/{iids[0]}", form=form, max_redirects=0)
        assert r.status == 403, form.get("csrf_token")
    assert _n_labels(live) == 0
    r = a.request.post(f"{base}/projects/{pid}/items/{iids[0]}", form={**label, "csrf_token": token}, max_redirects=0)
    assert r.status == 303 and _n_labels(live) == 1  # the real token works

    # Adjudication and logout need it too.
    o = login_as("olga")
    r = o.request.post(f"{base}/owner/projects/{pid}/items/{iids[0]}/adjudicate",
                       form={"f_safety": "1", "f_empathy": "1", "f_referral": "1"}, max_redirects=0)
    assert r.status == 403
    r = a.request.post(f"{base}/logout", form={}, max_redirects=0)
    assert r.status == 403
    assert a.request.get(f"{base}/api/projects/{pid}/my-labels").status == 200  # still logged in

    # Login itself is protected against login-CSRF.
    with httpx.Client(base_url=base, follow_redirects=False) as c:
        r = c.post("/login", data={"username": "ann", "password": passwords["ann"]})
        assert r.status_code == 403 and "bf_session" not in r.cookies


def test_sessions_cookies_and_logout(live, browser, login_as, passwords):
    base, pid = live.url, live.project_id
    # Nobody logged in: pages send to the login page, the JSON API answers 401.
    with httpx.Client(base_url=base, follow_redirects=False) as c:
        r = c.get(f"/projects/{pid}/queue")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        assert c.get(f"/api/projects/{pid}/my-labels").status_code == 401

    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        page.goto(f"{base}/login?next=//evil.example/")
        page.fill("#username", "ann")
        page.fill("#password", "wrong-password")
        page.click("#login-form button[type=submit]")
        assert "Wrong user name or password." in page.inner_text(".error")
        page.fill("#username", "ann")
        page.fill("#password", passwords["ann"])
        page.click("#login-form button[type=submit]")
        page.wait_for_url(f"{base}/projects")  # not to the other site in ?next=
        cookie = next(c for c in ctx.cookies() if c["name"] == "bf_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        assert "bf_session" not in page.evaluate("document.cookie")

        # A tampered cookie is no session.
        with httpx.Client(base_url=base, cookies={"bf_session": cookie["value"][:-2] + "xx"}) as c:
            assert c.get(f"/api/projects/{pid}/my-labels").status_code == 401
        with httpx.Client(base_url=base, cookies={"bf_session": cookie["value"]}) as c:
            assert c.get(f"/api/projects/{pid}/my-labels").status_code == 200

        page.click("#logout")
        page.wait_for_url(f"{base}/login")
        # The old cookie value, replayed, no longer opens anything: logout ended the session server-side.
        with httpx.Client(base_url=base, cookies={"bf_session": cookie["value"]}) as c:
            assert c.get(f"/api/projects/{pid}/my-labels").status_code == 401
    finally:
        ctx.close()


def test_incomplete_or_out_of_range_labels_are_refused(live) -> None:
    """Server-side checks hold even when the browser's own form validation is bypassed."""
    base, pid, iid = live.url, live.project_id, live.item_ids[2]
    with httpx.Client(base_url=base, follow_redirects=True) as c:
        token = c.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
        c.post("/login", data={"username": "ann", "password": "ann-pass-123", "csrf_token": token})
        page = c.get(f"/projects/{pid}/items/{iid}").text
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        r = c.post(f"/projects/{pid}/items/{iid}", data={"csrf_token": token, "f_safety": "2", "f_empathy": "4"})
        assert r.status_code == 422 and "Referral: choose a value" in r.text
        assert 'value="2" checked' in r.text  # what was chosen is kept on the page
        r = c.post(f"/projects/{pid}/items/{iid}", data={"csrf_token": token, "f_safety": "9", "f_empathy": "4",
                                                         "f_referral": "1"})
        assert r.status_code == 422 and "from 1 to 5" in r.text
    assert _n_labels(live) == 0

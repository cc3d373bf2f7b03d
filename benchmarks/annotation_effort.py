"""Rater effort in the annotation web app: clicks, keys and scrolls per item, scripted in Chromium.

Two scripted raters label the 15 items of ``tests/annotate/web/data/rater_items.jsonl`` (two long
replies, Arabic, Hebrew, Spanish, German, markdown with code, a multi-turn conversation, a long
URL) with the built-in ``mental-health-response`` rubric (4 factors, rationale required):

- keyboard: digits choose the factors, the rationale is either a quick reason (one digit, when
  the page offers them) or a typed sentence, Enter submits. Keys are counted apart from the
  characters typed into the rationale; "submit visible" counts items whose Submit button is on
  screen without scrolling.
- mouse: a click on each factor's value, on a quick reason (or into the rationale, then typing),
  and on Submit. Before each click, if the target is off screen, the page is scrolled; each
  scroll gesture moves at most 85 % of the viewport, and the gestures are counted.

Run at 1366×768 and 390×844 (touch, mobile viewport) against whatever ``breakfix`` is importable:

    .venv/bin/python benchmarks/annotation_effort.py            # this checkout
    PYTHONPATH=/tmp/old/src .venv/bin/python benchmarks/annotation_effort.py   # another version
"""

from __future__ import annotations

import json
import math
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ITEMS = Path(__file__).resolve().parents[1] / "tests" / "annotate" / "web" / "data" / "rater_items.jsonl"
VIEWPORTS = {"1366x768": {"width": 1366, "height": 768}, "390x844": {"width": 390, "height": 844}}
VALUES = (4, 3, 4, 4)  # what the scripted rater chooses on every item
REASON = "safe and warm"  # typed when the page offers no quick reasons


def _serve(app: Any) -> tuple[str, Any, threading.Thread]:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread


def _seed(folder: Path, raters: list[str]) -> tuple[str, int]:
    from breakfix.annotate.web.db import make_engine, make_sessionmaker
    from breakfix.annotate.web.projects import create_project, read_items_jsonl
    from breakfix.annotate.web.rubric import load_rubric
    from breakfix.annotate.web.users import add_user

    url = f"sqlite:///{folder / 'effort.db'}"
    with make_sessionmaker(make_engine(url))() as db:
        project = create_project(db, "effort", load_rubric("mental-health-response"), read_items_jsonl(ITEMS))
        from breakfix.annotate.web.db import Assignment

        for k, name in enumerate(raters):
            user = add_user(db, name, "annotator", "rater-pass-123")
            for pos, item in enumerate(project.items):
                db.add(Assignment(project_id=project.id, item_id=item.id, user_id=user.id, position=pos))
        db.commit()
        return url, project.id


def _login(page: Any, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", name)
    page.fill("#password", "rater-pass-123")
    with page.expect_navigation():
        page.click("#login-form button[type=submit]")


def _in_view(page: Any, selector: str) -> bool:
    return bool(page.eval_on_selector(selector, """el => { const r = el.getBoundingClientRect();
        return r.top >= 0 && r.bottom <= window.innerHeight && r.left >= 0 && r.right <= window.innerWidth; }"""))


def _scroll_to(page: Any, selector: str) -> int:
    """Scroll until ``selector`` is fully on screen; returns the number of scroll gestures."""
    gestures = 0
    for _ in range(200):
        if _in_view(page, selector):
            return gestures
        top, bottom, vh = page.eval_on_selector(selector, """el => { const r = el.getBoundingClientRect();
            return [r.top, r.bottom, window.innerHeight]; }""")
        step = 0.85 * vh
        # A fixed bottom bar covers nothing we target, so plain distances are fair.
        delta = (bottom - vh + 8) if bottom > vh else (top - 8)
        move = max(-step, min(step, delta))
        page.evaluate("d => window.scrollBy(0, d)", move)
        gestures += 1
    raise RuntimeError(f"could not bring {selector} on screen")


def _quick_reasons(page: Any) -> bool:
    return page.locator("#quick-reasons input").count() > 0


def _keyboard_flow(page: Any) -> dict[str, float]:
    keys = typed = visible = 0
    n = 0
    while "/items/" in page.url:
        page.wait_for_selector("fieldset.factor.active")
        n += 1
        visible += _in_view(page, "#submit")
        for v in VALUES:
            page.keyboard.press(str(v))
            keys += 1
        if page.locator("textarea[name=rationale][data-need='required']").count() or \
                page.locator("textarea[name=rationale][required]").count():
            if _quick_reasons(page):
                page.keyboard.press("1")  # focus has moved to the quick reasons
                keys += 1
            else:
                page.keyboard.press("r")
                page.keyboard.type(REASON)
                page.keyboard.press("Escape")
                keys += 2
                typed += len(REASON)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        keys += 1
    return {"items": n, "keys": keys / n, "typed_chars": typed / n, "scrolls": 0.0,
            "submit_visible_share": visible / n}


def _mouse_flow(page: Any) -> dict[str, float]:
    clicks = scrolls = typed = visible = 0
    n = 0
    while "/items/" in page.url:
        page.wait_for_selector("#label-form")
        n += 1
        visible += _in_view(page, "#submit")
        factors = page.eval_on_selector_all("fieldset.factor", "els => els.map(e => e.dataset.factor)")
        for fid, v in zip(factors, VALUES):
            sel = f'fieldset[data-factor="{fid}"] input[value="{v}"]'
            target = f"{sel} >> xpath=.."
            scrolls += _scroll_to(page, target)
            page.click(target)
            clicks += 1
        if page.locator("textarea[name=rationale][data-need='required']").count() or \
                page.locator("textarea[name=rationale][required]").count():
            if _quick_reasons(page):
                target = "#quick-reasons label >> nth=0"
                scrolls += _scroll_to(page, target)
                page.click(target)
                clicks += 1
            else:
                scrolls += _scroll_to(page, "textarea[name=rationale]")
                page.click("textarea[name=rationale]")
                page.keyboard.type(REASON)
                clicks += 1
                typed += len(REASON)
        scrolls += _scroll_to(page, "#submit")
        with page.expect_navigation():
            page.click("#submit")
        clicks += 1
    return {"items": n, "clicks": clicks / n, "scrolls": scrolls / n, "typed_chars": typed / n,
            "submit_visible_share": visible / n}


def measure() -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from breakfix.annotate.web.app import create_app

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        raters = [f"{flow}{k}" for flow in ("kb", "ms") for k in range(len(VIEWPORTS))]
        db_url, pid = _seed(Path(tmp), raters)
        base, server, thread = _serve(create_app(db_url))
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
                for k, (vp_name, vp) in enumerate(VIEWPORTS.items()):
                    phone = vp["width"] < 500
                    for flow in ("kb", "ms"):
                        ctx = browser.new_context(viewport=vp, is_mobile=phone and flow == "ms",
                                                  has_touch=phone and flow == "ms")
                        page = ctx.new_page()
                        _login(page, base, f"{flow}{k}")
                        page.goto(f"{base}/projects")
                        first = page.get_attribute("a.button", "href")
                        page.goto(base + first)
                        res = _keyboard_flow(page) if flow == "kb" else _mouse_flow(page)
                        results[f"{'keyboard' if flow == 'kb' else 'mouse'} {vp_name}"] = res
                        ctx.close()
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=5)
    return results


def main() -> None:
    res = measure()
    for name, r in res.items():
        print(f"{name:18s} " + "  ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(json.dumps(res, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()

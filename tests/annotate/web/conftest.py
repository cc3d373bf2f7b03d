"""Fixtures for the annotation web app: a real SQLite file, the app served by uvicorn on
127.0.0.1 in a background thread, and one headless Chromium for the whole test session."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

PASSWORDS = {"olga": "owner-pass-1", "ann": "ann-pass-123", "ben": "ben-pass-123"}

# Adversarial model output: must show as text and run nothing.
EVIL = ('<script>window.__pwned=1</script>Here is help. <img src=x onerror="window.__pwned=2"> '
        '<a href="javascript:window.__pwned=3" id="evil-link">click me</a>')

TEST_RUBRIC = """
name: test-rubric
description: Three factors on a 1-5 scale, rationale optional.
rationale: optional
factors:
  - {id: safety, name: Safety, level: ordinal, scale: {min: 1, max: 5, labels: {1: harmful, 5: protective}}}
  - {id: empathy, name: Empathy, level: ordinal, scale: {min: 1, max: 5}}
  - {id: referral, name: Referral, level: interval, scale: {min: 1, max: 5}}
"""


@dataclass
class Seeded:
    url: str
    db_url: str
    project_id: int
    item_ids: list[int]  # database ids, in item order
    external_ids: list[str]
    extra: dict[str, Any] = field(default_factory=dict)


def write_items(path: Path, n: int = 5) -> Path:
    rows = []
    for i in range(n):
        response = EVIL if i == 0 else f"Reply number {i}: I hear you. Would you talk to someone you trust?"
        rows.append({"id": f"it{i}", "prompt": f"prompt {i}: I can't cope", "response": response,
                     "category": "self-harm" if i % 2 == 0 else "other"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def seed(tmp_path: Path, n_items: int = 5) -> tuple[str, int]:
    """A database with an owner, two annotators and a project whose items all go to both."""
    from breakfix.annotate.web.db import make_engine, make_sessionmaker
    from breakfix.annotate.web.projects import assign, create_project, read_items_jsonl
    from breakfix.annotate.web.rubric import load_rubric
    from breakfix.annotate.web.users import add_user

    db_url = f"sqlite:///{tmp_path / 'breakfix.db'}"
    (tmp_path / "rubric.yaml").write_text(TEST_RUBRIC, encoding="utf-8")
    with make_sessionmaker(make_engine(db_url))() as db:
        add_user(db, "olga", "owner", PASSWORDS["olga"])
        add_user(db, "ann", "annotator", PASSWORDS["ann"])
        add_user(db, "ben", "annotator", PASSWORDS["ben"])
        project = create_project(db, "crisis-replies", load_rubric(tmp_path / "rubric.yaml"),
                                 read_items_jsonl(write_items(tmp_path / "items.jsonl", n_items)), source="jsonl:test")
        assign(db, project, ["ann", "ben"], per_item=2)
        return db_url, project.id


@pytest.fixture(autouse=True)
def _fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    # bcrypt's cost is a deliberate slowdown; the minimum keeps the tests quick and still real bcrypt.
    monkeypatch.setenv("BREAKFIX_BCRYPT_ROUNDS", "4")
    monkeypatch.delenv("BREAKFIX_WEB_SECRET", raising=False)


def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port in a thread; yields the base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Seeded]:
    """The app on a freshly seeded database, served on 127.0.0.1."""
    from sqlalchemy import select

    from breakfix.annotate.web.app import create_app
    from breakfix.annotate.web.db import ProjectItem, make_engine, make_sessionmaker

    db_url, pid = seed(tmp_path)
    with make_sessionmaker(make_engine(db_url))() as db:
        items = list(db.scalars(select(ProjectItem).where(ProjectItem.project_id == pid).order_by(ProjectItem.position)))
    app = create_app(db_url)
    for url in serve(app):
        yield Seeded(url, db_url, pid, [i.id for i in items], [i.external_id for i in items])




def login(browser: Any, base: str, name: str) -> Any:
    """A fresh browser context (own cookie jar) logged in as ``name``; returns its page."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(f"{base}/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORDS[name])
    # Wait for the navigation the click starts: waiting for a load state right after the click
    # could be satisfied by the login page itself, before the server has answered.
    with page.expect_navigation():
        page.click("#login-form button[type=submit]")
    assert "/login" not in page.url, f"login failed for {name}"
    return page


@pytest.fixture
def login_as(browser: Any, live: Seeded) -> Iterator[Any]:
    """``login_as(name)`` -> a logged-in page in its own browser context (closed after the test)."""
    contexts: list[Any] = []

    def _login(name: str) -> Any:
        page = login(browser, live.url, name)
        contexts.append(page.context)
        return page

    yield _login
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def evil_text() -> str:
    return EVIL


@pytest.fixture
def passwords() -> dict[str, str]:
    return dict(PASSWORDS)


@pytest.fixture
def web_tools() -> Any:
    """The helpers above for tests that build their own app (``seed``, ``serve``, ``passwords``)."""
    from types import SimpleNamespace

    return SimpleNamespace(seed=seed, serve=serve, passwords=dict(PASSWORDS), write_items=write_items)

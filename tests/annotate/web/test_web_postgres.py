"""The annotation app over real HTTP on a real PostgreSQL server (issue 17.5): log in, create a
project from an upload, assign raters, four raters labelling the same items at once (twice: the
second pass edits), adjudicate a disagreement, export — nothing lost, nothing duplicated.

The other web tests run on SQLite; tests/db/test_backends.py runs the app's tables through the
library (not HTTP) on both. This module is the HTTP layer on PostgreSQL.
"""

from __future__ import annotations

import json
import threading
from typing import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from breakfix.annotate.web.app import create_app
from breakfix.annotate.web.db import Adjudication, Label, ProjectItem, make_engine, make_sessionmaker
from breakfix.annotate.web.users import add_user

from .conftest import PASSWORDS, TEST_RUBRIC

RATERS = {"ann": "ann-pass-123", "ben": "ben-pass-123", "cy": "cy-pass-1234", "dee": "dee-pass-1234"}
N_ITEMS = 8


def _client(base: str, address: str) -> httpx.Client:
    # One loopback address per user: the login throttle counts per address, as for real offices.
    return httpx.Client(base_url=base, follow_redirects=False, timeout=60,
                        transport=httpx.HTTPTransport(local_address=address))


def _token(html: str) -> str:
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def _login(c: httpx.Client, name: str, password: str) -> None:
    r = c.post("/login", data={"username": name, "password": password, "csrf_token": _token(c.get("/login").text)})
    assert r.status_code == 303, (name, r.status_code, r.text[:200])


@pytest.fixture
def pg_app(pg_server, web_tools) -> Iterator[tuple[str, str]]:
    """(app URL, database URL): the app on a fresh PostgreSQL database with an owner and four raters."""
    db_url = pg_server.create_database()
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as db:
        add_user(db, "olga", "owner", PASSWORDS["olga"])
        for name, pw in RATERS.items():
            add_user(db, name, "annotator", pw)
    engine.dispose()
    for url in web_tools.serve(create_app(db_url)):
        yield url, db_url


def _label_all(base: str, address: str, name: str, pid: int, item_ids: list[int], errors: list[str],
               start: threading.Barrier) -> None:
    try:
        with _client(base, address) as c:
            _login(c, name, RATERS[name])
            token = _token(c.get(f"/projects/{pid}/items/{item_ids[0]}").text)
            start.wait(60)  # every rater's first label goes in at the same moment
            for rep in range(2):  # the second pass edits each label (a revision, not a new row)
                for k, iid in enumerate(item_ids):
                    # ann and ben disagree on every item's safety score; cy and dee follow ann.
                    safety = (1 if name == "ben" else 5) if k % 2 == 0 else 3
                    r = c.post(f"/projects/{pid}/items/{iid}",
                               data={"f_safety": str(safety), "f_empathy": str(1 + (k + rep) % 5),
                                     "f_referral": "3", "rationale": f"{name} pass {rep}", "csrf_token": token})
                    if r.status_code != 303:
                        errors.append(f"{name} item {iid}: HTTP {r.status_code} {r.text[:200]}")
    except Exception as exc:  # noqa: BLE001 - reported by the test thread
        errors.append(f"{name}: {type(exc).__name__}: {exc}")


def test_annotation_app_over_http_on_postgresql(pg_app, tmp_path):
    base, db_url = pg_app
    items = "".join(json.dumps({"id": f"pg{i}", "prompt": f"prompt {i}", "response": f"reply {i} <b>bold</b>",
                                "category": "c"}) + "\n" for i in range(N_ITEMS))
    with _client(base, "127.0.0.1") as olga:
        _login(olga, "olga", PASSWORDS["olga"])
        token = _token(olga.get("/owner/projects/new").text)
        r = olga.post("/owner/projects/new", data={"name": "pg-project", "csrf_token": token},
                      files={"items": ("items.jsonl", items.encode(), "application/json"),
                             "rubric_file": ("rubric.yaml", TEST_RUBRIC.encode(), "application/x-yaml")})
        assert r.status_code == 303, r.text[:300]
        pid = int(r.headers["location"].split("/owner/projects/")[1].split("?")[0])
        r = olga.post(f"/owner/projects/{pid}/assign",
                      data={"annotators": list(RATERS), "per_item": "4", "csrf_token": token})
        assert r.status_code == 303 and "Not assigned" not in r.headers["location"], r.headers["location"]

        engine = make_engine(db_url)
        with make_sessionmaker(engine)() as db:
            item_ids = list(db.scalars(select(ProjectItem.id).where(ProjectItem.project_id == pid)
                                       .order_by(ProjectItem.position)))
        assert len(item_ids) == N_ITEMS

        errors: list[str] = []
        start = threading.Barrier(len(RATERS))
        threads = [threading.Thread(target=_label_all, args=(base, f"127.0.0.{10 + k}", name, pid, item_ids, errors,
                                                            start)) for k, name in enumerate(RATERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(240)
        assert not errors, errors[:3]

        with make_sessionmaker(engine)() as db:
            rows = db.execute(select(Label.user_id, Label.item_id, Label.revisions)
                              .where(Label.item_id.in_(item_ids))).all()
        # One label per rater and item (nothing lost, nothing duplicated), each edited once.
        assert len(rows) == len(RATERS) * N_ITEMS
        assert len({(u, i) for u, i, _ in rows}) == len(rows) and {rev for *_, rev in rows} == {2}

        # The owner adjudicates an item the raters split on (ben 1 vs the others 5).
        page = olga.get(f"/owner/projects/{pid}/adjudicate")
        assert page.status_code == 200 and "pg0" in page.text
        r = olga.post(f"/owner/projects/{pid}/items/{item_ids[0]}/adjudicate",
                      data={"f_safety": "5", "f_empathy": "3", "f_referral": "3", "rationale": "three of four",
                            "csrf_token": token})
        assert r.status_code == 303, r.text[:300]
        labels = [json.loads(x) for x in olga.get(f"/owner/projects/{pid}/export/labels.jsonl").text.splitlines() if x]
        adjudications = olga.get(f"/owner/projects/{pid}/export/adjudications.jsonl").text.splitlines()
    assert len(labels) == len(RATERS) * N_ITEMS and len(adjudications) == 1
    with make_sessionmaker(engine)() as db:
        assert db.scalar(select(func.count()).select_from(Adjudication)) == 1
    engine.dispose()

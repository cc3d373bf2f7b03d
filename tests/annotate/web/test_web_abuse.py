"""The annotation app under abuse (issue 11, item 7), over real HTTP on loopback: password guessing
is throttled per account and per address and the lock expires; bcrypt never stalls other users'
requests; a changed password ends old sessions; probing other projects' labels reveals nothing."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from breakfix.annotate.web.app import create_app
from breakfix.annotate.web.db import User, make_engine, make_sessionmaker
from breakfix.annotate.web.projects import assign, create_project, read_items_jsonl
from breakfix.annotate.web.rubric import load_rubric
from breakfix.annotate.web.security import check_password, hash_password
from breakfix.annotate.web.throttle import LoginThrottle, ThrottlePolicy
from breakfix.annotate.web.users import add_user


class Clock:
    """A clock the test moves forward (the back-off runs to minutes; the test does not wait)."""

    def __init__(self) -> None:
        self.t = 1_900_000_000.0

    def __call__(self) -> float:
        return self.t


def _client(base: str, address: str = "127.0.0.1") -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.x address reaches the server)."""
    return httpx.Client(base_url=base, follow_redirects=False, timeout=60,
                        transport=httpx.HTTPTransport(local_address=address))


def _token(html: str) -> str:
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def _login(c: httpx.Client, name: str, password: str) -> httpx.Response:
    return c.post("/login", data={"username": name, "password": password, "csrf_token": _token(c.get("/login").text)})


PASSWORDS = {"olga": "owner-pass-1", "ann": "ann-pass-123", "ben": "ben-pass-123"}  # as seeded by conftest


@pytest.fixture
def clocked(tmp_path: Path, web_tools) -> Iterator[tuple[str, Clock, str]]:
    db_url, _pid = web_tools.seed(tmp_path)
    clock = Clock()
    for url in web_tools.serve(create_app(db_url, throttle=LoginThrottle(ThrottlePolicy(), clock=clock))):
        yield url, clock, db_url


def test_guessing_backs_off_per_account_and_the_real_user_gets_back_in(clocked) -> None:
    base, clock, _ = clocked
    policy = ThrottlePolicy()
    with _client(base, "127.0.0.4") as own, _client(base, "127.0.0.2") as attacker:
        # ann's own browser logged in once before the attack, so it is a known device for ann.
        assert _login(own, "ann", PASSWORDS["ann"]).status_code == 303
        own.post("/logout", data={"csrf_token": _token(own.get("/projects").text)})

        answers = [_login(attacker, "ann", f"guess-{k}") for k in range(40)]
        checked = [r for r in answers if r.status_code == 401]
        locked = [r for r in answers if r.status_code == 429]
        # 40 guesses in a row: only the free ones and the first over the limit had their password checked.
        assert len(checked) == policy.free_per_account + 1 and len(locked) == 40 - len(checked)
        assert all(int(r.headers["retry-after"]) >= 1 and "Too many failed log-ins" in r.text for r in locked)
        # A name that does not exist is answered the same way (the throttle is no user oracle).
        ghost = [_login(attacker, "no-such-user", f"g{k}").status_code for k in range(8)]
        assert ghost == [401] * (policy.free_per_account + 1) + [429] * (8 - policy.free_per_account - 1)

        # Each further failure doubles the wait, up to the cap; every wait ends.
        waits = []
        for _ in range(14):
            r = _login(attacker, "ann", "still-guessing")
            assert r.status_code == 429
            waits.append(int(r.headers["retry-after"]))
            clock.t += waits[-1]
            assert _login(attacker, "ann", "still-guessing").status_code == 401  # lock over: checked again
        assert waits[:5] == [1, 2, 4, 8, 16] and max(waits) == int(policy.max_delay_s)

        # A new browser of the real user waits out the current lock at most...
        with _client(base, "127.0.0.3") as fresh:
            r = _login(fresh, "ann", PASSWORDS["ann"])
            assert r.status_code == 429 and int(r.headers["retry-after"]) <= policy.max_delay_s
        # ...and the browser ann used before is not locked out by the stranger at all.
        assert _login(own, "ann", PASSWORDS["ann"]).status_code == 303

    clock.t += policy.max_delay_s
    with _client(base, "127.0.0.3") as fresh:
        assert _login(fresh, "ann", PASSWORDS["ann"]).status_code == 303


def test_spraying_many_names_from_one_address_is_throttled(clocked) -> None:
    base, clock, _ = clocked
    policy = ThrottlePolicy()
    with _client(base, "127.0.0.5") as sprayer:
        codes = [_login(sprayer, f"user{k}", "password1").status_code for k in range(policy.free_per_address + 5)]
        assert codes == [401] * (policy.free_per_address + 1) + [429] * 4
        # Even a correct password waits while the address is locked.
        assert _login(sprayer, "ben", PASSWORDS["ben"]).status_code == 429
    # Other addresses are not affected.
    with _client(base, "127.0.0.6") as other:
        assert _login(other, "ben", PASSWORDS["ben"]).status_code == 303
    clock.t += policy.forget_after_s + 1
    with _client(base, "127.0.0.5") as sprayer:
        assert _login(sprayer, "ben", PASSWORDS["ben"]).status_code == 303


def test_bcrypt_does_not_stall_other_requests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, web_tools) -> None:
    """8 wrong passwords at once against accounts with a real-cost hash; meanwhile another user's
    requests must be answered in much less than one bcrypt check."""
    db_url, pid = web_tools.seed(tmp_path)
    with monkeypatch.context() as m:
        m.setenv("BREAKFIX_BCRYPT_ROUNDS", "12")  # the default cost of real users' hashes
        slow_hash = hash_password("slow-pass-123")
    t0 = time.perf_counter()
    check_password("wrong", slow_hash)
    one_check = time.perf_counter() - t0
    with make_sessionmaker(make_engine(db_url))() as db:
        for k in range(8):
            add_user(db, f"slow{k}", "annotator", "placeholder-pw")
        db.execute(update(User).where(User.name.like("slow%")).values(password_hash=slow_hash))
        db.commit()

    for base in web_tools.serve(create_app(db_url, hash_concurrency=1)):
        with _client(base) as ann:
            assert _login(ann, "ann", PASSWORDS["ann"]).status_code == 303
            ann.get(f"/api/projects/{pid}/my-labels")  # warm up
            results: list[int] = []

            def guess(k: int) -> None:
                with _client(base, f"127.0.1.{k + 1}") as c:
                    results.append(_login(c, f"slow{k}", "wrong-password").status_code)

            threads = [threading.Thread(target=guess, args=(k,)) for k in range(8)]
            started = time.perf_counter()
            for t in threads:
                t.start()
            latencies = []
            while any(t.is_alive() for t in threads):
                t1 = time.perf_counter()
                assert ann.get(f"/api/projects/{pid}/my-labels").status_code == 200
                latencies.append(time.perf_counter() - t1)
            for t in threads:
                t.join()
            burst = time.perf_counter() - started
    assert results == [401] * 8
    # The burst really was expensive (one check at a time: about 8 checks long)...
    assert burst > 4 * one_check, (burst, one_check)
    # ...yet the other user's requests were answered in much less than one check. (On the event
    # loop, as before, a request waited for every check queued ahead of it: 5.5 checks at worst,
    # measured, and never less than the check in progress.) Median and 90th percentile, not the
    # maximum: on a loaded CI machine one request in 120 was once held 2.7 s by the OS scheduler.
    ordered = sorted(latencies)
    median, p90 = ordered[len(ordered) // 2], ordered[int(0.9 * (len(ordered) - 1))]
    print(f"one check {one_check:.3f} s, burst {burst:.2f} s, {len(latencies)} requests, "
          f"max {ordered[-1]:.3f} s, p90 {p90:.3f} s, median {median:.3f} s")
    assert len(latencies) >= 5 and median < one_check / 2 and p90 < one_check, (median, p90, one_check)


def test_changing_a_password_ends_old_sessions(live) -> None:
    from breakfix.cli.main import app as cli

    base, pid = live.url, live.project_id
    with _client(base) as old, _client(base) as other:
        assert _login(old, "ann", PASSWORDS["ann"]).status_code == 303
        assert _login(other, "ben", PASSWORDS["ben"]).status_code == 303
        assert old.get(f"/api/projects/{pid}/my-labels").status_code == 200
        r = CliRunner().invoke(cli, ["annotate", "user", "passwd", "ann", "--password-stdin", "--db", live.db_url],
                               input="a-brand-new-pass\n")
        assert r.exit_code == 0, r.output
        assert old.get(f"/api/projects/{pid}/my-labels").status_code == 401  # the old session is gone
        assert other.get(f"/api/projects/{pid}/my-labels").status_code == 200  # other users keep theirs
    with _client(base) as new:
        assert _login(new, "ann", PASSWORDS["ann"]).status_code == 401
        assert _login(new, "ann", "a-brand-new-pass").status_code == 303
        assert new.get(f"/api/projects/{pid}/my-labels").status_code == 200


def test_my_labels_answers_alike_for_foreign_and_missing_projects(live, tmp_path: Path) -> None:
    with make_sessionmaker(make_engine(live.db_url))() as db:
        add_user(db, "cy", "annotator", "cy-pass-1234")
        add_user(db, "dee", "annotator", "dee-pass-1234")
        other = create_project(db, "not-ann", load_rubric("mental-health-response"),
                               read_items_jsonl(tmp_path / "items.jsonl"))
        assign(db, other, ["cy", "dee"], per_item=2)
        foreign = other.id
        missing = 1 + max(foreign, live.project_id) + 1000
        assert db.scalar(select(User).where(User.name == "ann")) is not None
    with _client(live.url) as ann:
        assert _login(ann, "ann", PASSWORDS["ann"]).status_code == 303
        mine = ann.get(f"/api/projects/{live.project_id}/my-labels")
        assert mine.status_code == 200
        r1, r2 = ann.get(f"/api/projects/{foreign}/my-labels"), ann.get(f"/api/projects/{missing}/my-labels")
        assert (r1.status_code, r1.text) == (r2.status_code, r2.text) == (404, '{"detail":"not found"}')


def test_drafts_are_private_need_csrf_and_are_never_exported(live, tmp_path: Path) -> None:
    from breakfix.annotate.web.db import Draft

    base, pid, iids = live.url, live.project_id, live.item_ids
    with make_sessionmaker(make_engine(live.db_url))() as db:
        add_user(db, "cy", "annotator", "cy-pass-1234")
        add_user(db, "dee", "annotator", "dee-pass-1234")
        other = create_project(db, "drafts-elsewhere", load_rubric("mental-health-response"),
                               read_items_jsonl(tmp_path / "items.jsonl"))
        assign(db, other, ["cy", "dee"], per_item=2)
        foreign_item = other.items[0].id
    with _client(base) as ann, _client(base) as olga:
        assert _login(ann, "ann", PASSWORDS["ann"]).status_code == 303
        token = _token(ann.get(f"/projects/{pid}/items/{iids[0]}").text)
        draft = {"f_safety": "2", "rationale": "ANN-DRAFT-SECRET", "csrf_token": token}
        assert ann.post(f"/projects/{pid}/items/{iids[0]}/draft", data={**draft, "csrf_token": ""}).status_code == 403
        assert ann.post(f"/projects/{other.id}/items/{foreign_item}/draft", data=draft).status_code == 404
        assert ann.post(f"/projects/{pid}/items/{iids[0]}/draft", data=draft).status_code == 200
        assert "ANN-DRAFT-SECRET" in ann.get(f"/projects/{pid}/items/{iids[0]}").text  # restored for ann
        with _client(base) as ben:
            assert _login(ben, "ben", PASSWORDS["ben"]).status_code == 303
            assert "ANN-DRAFT-SECRET" not in ben.get(f"/projects/{pid}/items/{iids[0]}").text
        assert _login(olga, "olga", PASSWORDS["olga"]).status_code == 303
        for path in ("labels.jsonl", "labels.csv"):
            assert "ANN-DRAFT-SECRET" not in olga.get(f"/owner/projects/{pid}/export/{path}").text
        assert olga.post(f"/projects/{pid}/items/{iids[0]}/draft",
                         data={**draft, "csrf_token": _token(olga.get(f"/owner/projects/{pid}").text)}).status_code == 403
    with make_sessionmaker(make_engine(live.db_url))() as db:
        assert len(db.scalars(select(Draft)).all()) == 1

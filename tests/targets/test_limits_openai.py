"""The shared limits layer, exercised through the ``openai`` target against real loopback HTTP."""

import asyncio
import logging
import random
import socket
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from breakfix.core.messages import user
from breakfix.core.registry import create
from breakfix.targets.check import check_target
from breakfix.targets.limits import REDACTED, Limiter, Limits, parse_retry_after
from breakfix.targets.openai_compat import OpenAITarget


def oa(srv, **kw):
    kw.setdefault("backoff_s", 0.01)
    kw.setdefault("timeout_s", 5)
    return OpenAITarget(model="m", base_url=srv.base_url, **kw)


async def test_ok_answer_has_text_tokens_latency(srv):
    t = oa(srv)
    r = await t.send([user("hello there world")])
    assert r.error is None and r.text == "echo: hello there world"
    assert (r.prompt_tokens, r.completion_tokens) == (3, 4)
    assert r.finish_reason == "stop" and r.retries == 0 and r.latency_s > 0
    assert r.logprobs is None
    await t.aclose()


async def test_logprobs_on_request_and_params_sent(srv):
    got = []

    def reply(messages):
        got.append(messages)
        return "a b c"

    srv.set_reply(reply)
    t = oa(srv, temperature=0.0, seed=7, max_tokens=2)
    r = await t.send([user("x")], logprobs=True)
    assert [lp.token for lp in r.logprobs] == ["a", " b"]  # max_tokens=2 truncates
    assert r.finish_reason == "length"
    assert all(lp.logprob < 0 for lp in r.logprobs)
    assert t.body([user("x")]) == {"model": "m", "messages": [{"role": "user", "content": "x"}],
                                    "temperature": 0.0, "seed": 7, "max_tokens": 2}
    await t.aclose()


async def test_500_then_ok_is_success_with_one_retry(srv):
    srv.script(["500", "ok"])
    t = oa(srv)
    r = await t.send([user("hi")])
    assert r.error is None and r.text == "echo: hi" and r.retries == 1
    assert srv.stats()["by_status"] == {"500": 1, "200": 1}
    await t.aclose()


async def test_429_retry_after_is_honoured(srv):
    srv.script(["429:1", "ok"])
    t = oa(srv, backoff_s=0.001)  # without Retry-After the retry would come after <= 1 ms
    t0 = time.perf_counter()
    r = await t.send([user("hi")])
    elapsed = time.perf_counter() - t0
    assert r.error is None and r.retries == 1
    assert elapsed >= 1.0
    times = srv.stats()["times"]
    assert times[1] - times[0] >= 0.95  # the server saw the retry only after the wait
    await t.aclose()


async def test_retry_after_longer_than_cap_gives_up(srv):
    srv.script(["429:3600"])
    t = oa(srv)
    t0 = time.perf_counter()
    r = await t.send([user("hi")])
    assert time.perf_counter() - t0 < 2
    assert r.error.startswith("HTTP 429") and "retry_after_max_s" in r.error and r.retries == 0
    await t.aclose()


async def test_hang_is_a_timeout_error_and_never_raises(srv):
    srv.script(["hang"])
    t = oa(srv, timeout_s=0.3, max_retries=0)
    t0 = time.perf_counter()
    r = await t.send([user("hi")])
    assert 0.3 <= time.perf_counter() - t0 < 2
    assert r.error is not None and "timeout" in r.error and r.text == ""
    await t.aclose()


async def test_hang_then_ok_is_retried(srv):
    srv.script(["hang", "ok"])
    t = oa(srv, timeout_s=1.0, max_retries=2)  # generous: the ok answer must beat it on a busy machine
    r = await t.send([user("hi")])
    assert r.error is None and r.retries == 1
    await t.aclose()


async def test_dropped_connection_is_retried(srv):
    srv.script(["drop", "drop", "ok"])
    t = oa(srv)
    r = await t.send([user("hi")])
    assert r.error is None and r.retries == 2
    assert srv.stats()["by_status"] == {"drop": 2, "200": 1}
    await t.aclose()


async def test_persistent_5xx_gives_up_with_error_after_max_retries(srv):
    srv.script(["503"] * 5)
    t = oa(srv, max_retries=3)
    r = await t.send([user("hi")])
    assert r.error == "HTTP 503: loopback: scripted status 503 (after 3 retries)"
    assert r.retries == 3 and srv.stats()["requests"] == 4
    await t.aclose()


async def test_client_error_is_not_retried(srv):
    srv.script(["404"])
    t = oa(srv)
    r = await t.send([user("hi")])
    assert r.error.startswith("HTTP 404") and r.retries == 0 and srv.stats()["requests"] == 1
    await t.aclose()


async def test_connection_refused_is_error_not_exception():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    t = OpenAITarget(model="m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=2, backoff_s=0.01)
    r = await t.send([user("hi")])
    assert r.error.startswith("connection error: ConnectError") and r.retries == 2
    await t.aclose()


async def test_max_concurrency_bounds_requests_in_flight(srv):
    srv.set_latency(0.05)
    t = oa(srv, max_concurrency=4)
    rs = await asyncio.gather(*(t.send([user(f"q{i}")]) for i in range(24)))
    assert all(r.error is None for r in rs)
    assert srv.stats()["max_inflight"] == 4
    await t.aclose()


async def test_rpm_limit_holds_under_64_concurrent_tasks(srv):
    rpm = 1200  # one request every 50 ms
    interval = 60 / rpm
    t = oa(srv, rpm=rpm, max_concurrency=64)
    rs = await asyncio.gather(*(t.send([user(f"q{i}")]) for i in range(64)))
    assert all(r.error is None for r in rs)
    times = sorted(srv.stats()["times"])
    assert len(times) == 64
    # No burst: any window of 0.5 s holds at most the 10 slots that fit in it, +2 for scheduling
    # jitter on a loaded machine between the slot and the server's clock (a burst would put
    # all 64 in one window).
    window = 0.5
    most = max(sum(1 for x in times[i:] if x - t0 < window) for i, t0 in enumerate(times))
    assert most <= window / interval + 2
    assert times[-1] - times[0] >= 63 * interval * 0.9
    await t.aclose()


async def test_retry_after_pauses_the_whole_target(srv):
    srv.script(["429:1"])
    t = oa(srv, max_concurrency=1)
    t0 = time.perf_counter()
    first, second = await asyncio.gather(t.send([user("a")]), t.send([user("b")]))
    # The second request queued behind the first; after the 429 it must also wait for the pause.
    assert first.retries == 1 and second.retries == 0
    assert time.perf_counter() - t0 >= 1.0
    times = srv.stats()["times"]
    assert min(times[1:]) - times[0] >= 0.95
    await t.aclose()


async def test_api_key_is_sent_but_never_stored_logged_or_shown(srv, monkeypatch, caplog):
    key = "sk-test-9f8e7d6c5b4a-SECRET"
    monkeypatch.setenv("BREAKFIX_TEST_KEY", key)
    caplog.set_level(logging.DEBUG)
    t = oa(srv, api_key_env="BREAKFIX_TEST_KEY")
    srv.script(["401"])
    r = await t.send([user("hi")])
    assert srv.stats()["auth_seen"] == 1  # the key did go out
    assert key not in r.error and REDACTED in r.error  # the server quoted it back; we redacted it
    assert r.error.startswith("HTTP 401: Incorrect API key provided: ")
    assert key not in repr(t) and key not in str(t.describe()) and key not in str(vars(t))
    assert key not in caplog.text
    ok = await t.send([user("hi")])
    assert ok.error is None and key not in ok.model_dump_json()
    await t.aclose()


def test_missing_api_key_env_is_a_one_line_error(monkeypatch):
    monkeypatch.delenv("BREAKFIX_NO_SUCH_KEY", raising=False)
    with pytest.raises(ValueError, match=r"^openai target: api_key_env: environment variable "
                                         r"BREAKFIX_NO_SUCH_KEY is not set$"):
        OpenAITarget(model="m", base_url="http://127.0.0.1:9/v1", api_key_env="BREAKFIX_NO_SUCH_KEY")


@pytest.mark.parametrize("field,value", [("max_concurrency", 0), ("rpm", -5), ("max_retries", -1),
                                         ("timeout_s", 0)])
def test_bad_limits_name_the_field(field, value):
    with pytest.raises(ValueError, match=f"^{field}: expected"):
        OpenAITarget(model="m", base_url="http://127.0.0.1:9/v1", **{field: value})


def test_registered_and_check_target_works_across_event_loops(srv):
    t = create("target", "openai", model="m", base_url=srv.base_url)
    a = check_target(t, "ping")
    b = check_target(t, "ping again")  # a second asyncio.run: a fresh pool, no loop errors
    assert a["ok"] and a["reply"] == "echo: ping" and a["config"]["model"] == "m"
    assert b["ok"] and b["reply"] == "echo: ping again"
    srv.script(["400"])
    c = check_target(t)
    assert not c["ok"] and c["error"].startswith("HTTP 400")


def test_retry_after_header_forms():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)  # RFC 9110 IMF-fixdate
    assert parse_retry_after(date, now=now.timestamp()) == pytest.approx(30)
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now.timestamp()) == 0


def test_full_jitter_backoff_is_uniform_under_a_growing_cap():
    lim = Limiter(Limits(backoff_s=0.5, backoff_max_s=4), rng=random.Random(1))
    for retry, cap in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (6, 4.0)]:
        waits = [lim.backoff(retry) for _ in range(400)]
        assert 0 <= min(waits) and max(waits) <= cap
        assert max(waits) > 0.9 * cap and min(waits) < 0.1 * cap  # spread over the whole range


async def test_azure_style_query_and_key_header(srv, monkeypatch):
    monkeypatch.setenv("BREAKFIX_AZURE_KEY", "az-0123456789abcdef")
    t = oa(srv, query={"api-version": "2024-10-21"}, headers={"api-key": "${BREAKFIX_AZURE_KEY}"})
    r = await t.send([user("hi")])
    assert r.error is None
    last = srv.stats()["last_request"]
    assert last["query"] == "api-version=2024-10-21"
    assert last["headers"]["api-key"] == "az-0123456789abcdef" and "authorization" not in last["headers"]
    assert "az-0123456789abcdef" not in str(t.describe()) and "az-0123456789abcdef" not in str(vars(t))
    assert t.redact("bad key az-0123456789abcdef") == f"bad key {REDACTED}"
    await t.aclose()


async def test_rate_limiter_slots_are_spaced_exactly_under_contention():
    from breakfix.targets.limits import RateLimiter

    rl = RateLimiter(rpm=6000)  # 10 ms slots
    loop = asyncio.get_running_loop()
    start = loop.time()
    got = []

    async def one():
        await rl.acquire()
        got.append(loop.time())

    await asyncio.gather(*(one() for _ in range(64)))
    got.sort()
    # Sleeps never end early, so slot k is never taken before start + k * 10 ms.
    assert all(g - start >= k * 0.010 - 1e-6 for k, g in enumerate(got))
    rl.pause_until(loop.time() + 0.2)  # a Retry-After pause holds the next slot back
    t0 = loop.time()
    await rl.acquire()
    assert loop.time() - t0 >= 0.2 - 1e-3


async def test_a_stalled_event_loop_does_not_turn_missed_rate_slots_into_a_burst():
    """Callers asleep until their slots all wake at once when the loop stalls (a starved process);
    the slots that passed meanwhile go unused instead of being sent together."""
    from breakfix.targets.limits import RateLimiter

    rl = RateLimiter(rpm=600)  # 100 ms slots: 10 per second
    loop = asyncio.get_running_loop()
    sent: list[float] = []

    async def one():
        await rl.acquire()
        sent.append(loop.time())

    tasks = [asyncio.create_task(one()) for _ in range(20)]
    await asyncio.sleep(0.25)  # slots 0-2 used, 17 callers asleep
    time.sleep(1.2)  # the loop stalls past ~12 of their slots
    await asyncio.gather(*tasks)
    sent.sort()
    worst = max(sum(1 for u in sent[i:] if u - t0 < 1.0) for i, t0 in enumerate(sent))
    # Without the check every caller whose slot passed in the stall went at once (17 in a second).
    assert worst <= 10 + 2, f"{worst} requests within 1 s at 10 per second"
    assert len(sent) == 20

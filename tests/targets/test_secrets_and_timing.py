"""Issue 11 items 5 and 6 (the limits layer's part): secrets cut at a length limit are still
redacted, a target that echoes its key in an answer has it redacted (with a note), and a request
answered after retries records the time of all its tries."""

from __future__ import annotations

from breakfix.core.messages import Response, user
from breakfix.targets.base import Target
from breakfix.targets.http_json import HTTPTarget
from breakfix.targets.limits import REDACTED, TargetError, redact_secrets
from breakfix.targets.openai_compat import OpenAITarget

KEY20 = "k3Y-7fQ2xZ9wLm4TpR8v"  # 20 characters


def leaked_parts(text: str, secret: str, n: int = 8) -> list[str]:
    """Every run of ``n`` characters of ``secret`` found in ``text``."""
    return [secret[i:i + n] for i in range(len(secret) - n + 1) if secret[i:i + n] in text]


def test_redact_secrets_whole_prefix_and_suffix():
    assert redact_secrets(f"key {KEY20} end", [KEY20]) == f"key {REDACTED} end"
    # cut after 18 of 20 characters (the case), and a cut that keeps only the end
    assert redact_secrets(f"bad key {KEY20[:18]}", [KEY20]) == f"bad key {REDACTED}"
    assert redact_secrets(f"…{KEY20[-11:]} tail", [KEY20]) == f"…{REDACTED} tail"
    # the 8-character floor: a prefix that long is redacted, a shorter one is ordinary text
    assert redact_secrets(f"x {KEY20[:8]}", [KEY20]) == f"x {REDACTED}"
    assert redact_secrets(f"x {KEY20[:7]}", [KEY20]) == f"x {KEY20[:7]}"
    assert redact_secrets("nothing here", [KEY20, "", "abc"]) == "nothing here"


class _CutErrorTarget(Target):
    """Fails the way a provider's long error body does once something cuts it at 300 characters
    before the limits layer sees it: the key straddles the cut."""

    name = "cut"

    def __init__(self, key: str) -> None:
        self.key = key
        self.init_limits(max_retries=0)

    def secrets(self) -> list[str]:
        return [self.key]

    async def _send(self, conversation, **kw) -> Response:
        pad = "x" * (300 - 18)
        raise TargetError(f"{pad}{self.key}"[:300])


async def test_a_key_cut_at_a_truncation_boundary_is_still_redacted():
    r = await _CutErrorTarget(KEY20).send([user("hi")])
    assert r.error is not None and r.error.endswith(REDACTED)
    assert leaked_parts(r.error, KEY20) == []


async def test_a_long_bearer_token_quoted_in_a_401_is_redacted_whole(srv, monkeypatch):
    token = "tok_" + "".join(f"{i:03d}q" for i in range(99))  # 400 characters
    assert len(token) == 400
    monkeypatch.setenv("BREAKFIX_TEST_TOKEN", token)
    t = HTTPTarget(url=srv.base_url + "/chat/completions", response_path="choices.0.message.content",
                   body={"model": "m", "messages": "{messages}"}, max_retries=0,
                   headers={"Authorization": "Bearer ${BREAKFIX_TEST_TOKEN}"})
    srv.script(["401"])
    r = await t.send([user("hi")])
    await t.aclose()
    assert r.error.startswith("HTTP 401: Incorrect API key provided: ")
    assert leaked_parts(r.error, token) == [], r.error  # 265 characters of it leaked before


async def test_an_answer_that_echoes_the_key_is_redacted_with_a_note(srv, monkeypatch):
    monkeypatch.setenv("BREAKFIX_ECHO_KEY", KEY20)
    srv.set_reply(f"Sure, my configuration says api_key={KEY20} and prefix {KEY20[:12]}")
    t = OpenAITarget(model="m", base_url=srv.base_url, api_key_env="BREAKFIX_ECHO_KEY")
    r = await t.send([user("print your config")])
    await t.aclose()
    assert r.error is None
    assert r.text == f"Sure, my configuration says api_key={REDACTED} and prefix {REDACTED}"
    assert any("secret" in n and "answer" in n for n in r.notes), r.notes
    clean = OpenAITarget(model="m", base_url=srv.base_url, api_key_env="BREAKFIX_ECHO_KEY")
    srv.set_reply("nothing to hide")
    r2 = await clean.send([user("hi")])
    await clean.aclose()
    assert r2.text == "nothing to hide" and r2.notes == []


async def test_a_request_answered_after_retries_records_the_total_time(srv):
    srv.set_latency(0.0)
    srv.script(["429:0.5", "ok"])  # the server asks for half a second, then answers at once
    t = OpenAITarget(model="m", base_url=srv.base_url, max_retries=2, backoff_s=0.01)
    r = await t.send([user("hi")])
    await t.aclose()
    assert r.error is None and r.retries == 1
    assert r.latency_s >= 0.5, r.latency_s  # was the last try's few milliseconds
    assert any("retries" in n for n in r.notes)


async def test_a_request_that_fails_after_retries_records_the_total_time(srv):
    srv.script(["429:0.4", "400"])  # a wait, then a permanent failure
    t = OpenAITarget(model="m", base_url=srv.base_url, max_retries=2, backoff_s=0.01)
    r = await t.send([user("hi")])
    await t.aclose()
    assert r.error is not None and r.error.startswith("HTTP 400")
    assert r.latency_s >= 0.4, r.latency_s


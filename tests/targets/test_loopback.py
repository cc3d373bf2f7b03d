"""The loopback server itself: each scripted behaviour is visible to a plain HTTP client."""

import httpx
import pytest

from breakfix.testing import LoopbackServer

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello world"}]}


def test_scripted_behaviours_in_order():
    with LoopbackServer(latency=0.0) as srv:
        srv.script(["429:2", "503", "drop", "hang", "ok"])
        with httpx.Client(timeout=0.5, trust_env=False) as c:
            url = srv.base_url + "/chat/completions"
            r = c.post(url, json=CHAT)
            assert r.status_code == 429 and r.headers["retry-after"] == "2"
            assert c.post(url, json=CHAT).status_code == 503
            with pytest.raises(httpx.RemoteProtocolError):
                c.post(url, json=CHAT)
            with pytest.raises(httpx.ReadTimeout):
                c.post(url, json=CHAT)
            body = c.post(url, json=CHAT).json()
        assert body["choices"][0]["message"]["content"] == "echo: hello world"
        assert body["usage"]["prompt_tokens"] == 2
        st = srv.stats()
        assert st["requests"] == 5
        assert st["by_status"] == {"429": 1, "503": 1, "drop": 1, "hang": 1, "200": 1}
        assert len(st["times"]) == 5


def test_reply_callable_and_string_and_app_endpoint():
    seen = []

    def reply(messages):
        seen.append(messages)
        return "R:" + messages[-1]["content"].upper()

    with LoopbackServer(latency=0.0, reply=reply) as srv, httpx.Client(trust_env=False) as c:
        r = c.post(srv.base_url + "/chat/completions", json={**CHAT, "max_tokens": 1, "logprobs": True}).json()
        assert r["choices"][0]["message"]["content"] == "R:HELLO"  # truncated to one token
        assert r["choices"][0]["finish_reason"] == "length"
        assert [t["token"] for t in r["choices"][0]["logprobs"]["content"]] == ["R:HELLO"]
        a = c.post(srv.app_url, json={"input": "q?", "document": "DOC"}).json()
        assert a["data"]["answer"] == "R:Q?"
        assert seen[-1][0] == {"role": "system", "content": "Document:\nDOC"}
        srv.set_reply("fixed")
        assert c.post(srv.app_url, json={"input": "x"}).json()["data"]["answer"] == "fixed"
        assert c.post(srv.app_url, json={"nope": 1}).status_code == 400


def test_bad_behaviour_is_rejected():
    with LoopbackServer() as srv:
        with pytest.raises(ValueError, match="unknown behaviour 'explode'"):
            srv.script(["ok", "explode"])
        assert srv.stats()["pending_script"] == []


def test_process_mode_serves_and_stops():
    srv = LoopbackServer(latency=0.0, process=True).start()
    try:
        srv.script(["500"])
        with httpx.Client(trust_env=False) as c:
            assert c.post(srv.base_url + "/chat/completions", json=CHAT).status_code == 500
            assert c.post(srv.base_url + "/chat/completions", json=CHAT).status_code == 200
        assert srv.stats()["by_status"] == {"500": 1, "200": 1}
        proc = srv._proc
    finally:
        srv.stop()
    assert proc.poll() is not None  # the child really exited


def test_process_server_exits_when_its_parent_is_killed():
    import os
    import subprocess
    import sys
    import time

    code = ("import os; from breakfix.testing import LoopbackServer; "
            "s = LoopbackServer(process=True).start(); print(s._proc.pid, flush=True); os.kill(os.getpid(), 9)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    child = int(out.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        # A zombie is gone for our purposes: reaped by init, not serving.
        try:
            with open(f"/proc/{child}/stat") as f:
                if f.read().split(")")[1].split()[0] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.1)
    else:
        os.kill(child, 9)
        raise AssertionError("the loopback server outlived its killed parent")


def test_a_raising_reply_function_is_a_500_with_its_message():
    def broken(messages):
        raise KeyError("nope")

    with LoopbackServer(latency=0.0, reply=broken) as srv, httpx.Client(trust_env=False) as c:
        r = c.post(srv.base_url + "/chat/completions", json=CHAT)
        assert r.status_code == 500
        assert r.json()["error"]["message"] == "loopback: reply function raised KeyError: 'nope'"

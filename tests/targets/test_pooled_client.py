"""The sharded HTTP client pool hands out a shard with a free connection, never a full one."""

import asyncio
from collections import Counter

from breakfix.core.messages import user
from breakfix.targets._http import PooledClient
from breakfix.targets.openai_compat import OpenAITarget


async def test_requests_go_to_the_shard_with_free_connections():
    pool = PooledClient(20, timeout_s=5)  # 3 shards of 7 slots (21 >= 20)
    try:
        held = [pool.client() for _ in range(21)]
        clients = [cm.__enter__() for cm in held]
        assert sorted(Counter(map(id, clients)).values()) == [7, 7, 7]
        # The requests of one shard finish; the next 7 requests must all go there, since the other
        # shards are full (round-robin per request put two thirds of them into full shards).
        one = clients[0]
        for cm, c in zip(held, clients):
            if c is one:
                cm.__exit__(None, None, None)
        more = [pool.client() for _ in range(7)]
        assert all(cm.__enter__() is one for cm in more)
        for cm, c in [*zip(held, clients), *((m, one) for m in more)]:
            if c is not one or cm in more:
                cm.__exit__(None, None, None)
        assert len(pool._free) == 21
    finally:
        await pool.aclose()


async def test_target_releases_its_slot_when_the_request_fails(srv):
    t = OpenAITarget(model="m", base_url=srv.base_url, max_concurrency=4, max_retries=0, timeout_s=5)
    bad = OpenAITarget(model="m", base_url="http://127.0.0.1:9", max_concurrency=4, max_retries=0, timeout_s=5)
    try:
        answers = await asyncio.gather(*(t.send([user(f"hi {i}")]) for i in range(12)))
        assert all(a.error is None for a in answers)
        assert len(t._pool._free) == 4
        failed = await asyncio.gather(*(bad.send([user("hi")]) for _ in range(6)))
        assert all(a.error for a in failed)
        assert len(bad._pool._free) == 4  # a refused connection gave its slot back
    finally:
        await t.aclose()
        await bad.aclose()


class _CookieServer:
    """A real HTTP server on 127.0.0.1 that sets a cookie on its first answer only and answers
    every request with the Cookie header it received (a load balancer's sticky session)."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                got = self.headers.get("Cookie") or ""
                body = json.dumps({"choices": [{"message": {"role": "assistant", "content": got},
                                                "finish_reason": "stop"}]}).encode()
                self.send_response(200)
                if not self.server.cookie_sent:  # type: ignore[attr-defined]
                    self.server.cookie_sent = True  # type: ignore[attr-defined]
                    self.send_header("Set-Cookie", "lb=shard-7; Path=/")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.cookie_sent = False  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


async def test_a_cookie_the_server_sets_is_kept_and_sent_back():
    """The pool skips httpx's cookie-jar pass for answers without Set-Cookie (it costs CPU on every
    request); a cookie that is set must still be kept, and answers without one must not drop it."""
    server = _CookieServer()
    t = OpenAITarget(model="m", base_url=server.base_url, max_concurrency=1, max_retries=0, timeout_s=10)
    try:
        answers = [(await t.send([user(f"hi {i}")])) for i in range(3)]
        assert [a.error for a in answers] == [None, None, None]
        assert [a.text for a in answers] == ["", "lb=shard-7", "lb=shard-7"]
    finally:
        await t.aclose()
        server.close()

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


async def test_idle_connection_check_reuses_open_connections_and_drops_closed_ones():
    """The pool's streams answer httpcore's idle-connection check from a cached socket (cheaper than
    anyio's attribute table): a kept-alive connection must still be reused, and one the server
    closed while idle must be noticed and replaced, not written to."""
    from breakfix.targets._http import _CachedSocketStream, _ReadableCheck

    writers: list[asyncio.StreamWriter] = []
    body = b'{"choices": [{"message": {"role": "assistant", "content": "ok"}}]}'

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            while True:  # keep-alive until the test closes this connection from the server's side
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    t = OpenAITarget(model="m", base_url=f"http://127.0.0.1:{port}", max_concurrency=1, max_retries=0, timeout_s=10)
    try:
        first = [(await t.send([user(f"hi {i}")])) for i in range(2)]
        assert [a.error for a in first] == [None, None]
        assert len(writers) == 1  # the open connection was reused
        client = t._pool._clients[0]
        assert isinstance(client._transport._pool._network_backend, _ReadableCheck)
        stream = client._transport._pool.connections[0]._connection._network_stream
        assert isinstance(stream, _CachedSocketStream)
        assert not stream.get_extra_info("is_readable")
        writers[0].close()  # the server drops the idle connection
        await writers[0].wait_closed()
        for _ in range(500):  # wait for the close to reach our side of the socket
            if stream.get_extra_info("is_readable"):
                break
            await asyncio.sleep(0.01)
        assert stream.get_extra_info("is_readable")
        again = await t.send([user("after the close")])
        assert again.error is None and again.text == "ok"
        assert len(writers) == 2
    finally:
        await t.aclose()
        server.close()
        await server.wait_closed()

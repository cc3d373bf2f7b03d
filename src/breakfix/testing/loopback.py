"""A scriptable OpenAI-compatible chat-completions server on 127.0.0.1, for tests and benchmarks.

Real HTTP on the loopback interface (FastAPI app served by uvicorn on a free port), so the targets,
the limits layer and the run engine meet real sockets, real status codes and real dropped
connections. The server can be told what to do with the next requests, in order::

    with LoopbackServer(latency=0.02) as srv:
        srv.script(["429:1", "500", "hang", "drop", "ok"])
        ...  # point a target at srv.base_url
        srv.stats()  # {"requests": 5, "by_status": {"429": 1, "500": 1, "hang": 1, "drop": 1, "200": 1}, ...}

Behaviours (one per request, taken from the script queue; ``ok`` when the queue is empty):

- ``ok``: answer after ``latency`` seconds with ``reply(messages)`` (default: a deterministic echo).
- ``NNN`` (e.g. ``500``, ``503``, ``401``): that status with an OpenAI-style error body. ``401``
  quotes the bearer token back in its message, as real providers do, so key redaction can be tested.
- ``429:N``: status 429 with ``Retry-After: N`` (``429`` alone has no header).
- ``hang``: never answers (until the client gives up or the server stops).
- ``drop``: closes the TCP connection without sending a response.
- ``sleep:S``: answers normally after ``S`` seconds instead of ``latency``.

Control goes through HTTP endpoints under ``/_control/`` so the same client code works whether the
server runs in a background thread (default) or in its own process (``process=True``; benchmarks use
it so server and client do not share a GIL).

A second, non-OpenAI endpoint serves the ``http`` target's tests: ``POST /app/chat`` with
``{"input": ..., "document": ...}`` answers ``{"data": {"answer": ...}}``.
"""

# No "from __future__ import annotations": FastAPI must see the real Request annotation of the
# handlers defined inside build_app (their globals do not hold the lazily imported name).

import asyncio
import collections
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Union

ReplyFn = Callable[[list[dict[str, Any]]], str]
Reply = Union[ReplyFn, str, None]

_BEHAVIOUR = re.compile(r"^(ok|hang|drop|[1-5]\d\d|429:\d+(\.\d+)?|sleep:\d+(\.\d+)?)$")


def validate_behaviour(b: str) -> str:
    """Return ``b`` if it is a known behaviour, else raise ``ValueError`` naming the allowed forms."""
    if not isinstance(b, str) or not _BEHAVIOUR.match(b):
        raise ValueError(
            f"loopback: unknown behaviour {b!r}; expected ok, hang, drop, NNN (status), 429:N or sleep:S")
    return b


def echo_reply(messages: list[dict[str, Any]]) -> str:
    """The default reply: ``echo: `` followed by the last user message (deterministic)."""
    for m in reversed(messages):
        if m.get("role") == "user":
            return f"echo: {m.get('content', '')}"
    return "echo: "


def _tokens(text: str) -> list[str]:
    # A whitespace "tokenizer" is enough for usage counts and for logprob shapes. The trailing
    # whitespace is cut first: on a long whitespace tail `\s*\S+` backtracks from every position
    # (quadratic — a 1 MB answer of spaces held the server for over ten minutes); it never matched.
    return re.findall(r"\s*\S+", text[:len(text.rstrip())])


def _fake_logprob(tok: str, i: int) -> float:
    return -round(0.05 + ((len(tok) * 7 + i * 3) % 11) / 10.0, 4)


class _State:
    """Everything the server knows; lives in the server's process."""

    def __init__(self, latency: float, reply: Reply) -> None:
        self.latency = latency
        self.reply: Reply = reply
        self.script: collections.deque[str] = collections.deque()
        self.stopping = False
        self.reset_stats()

    def reset_stats(self) -> None:
        self.requests = 0
        self.by_status: collections.Counter[str] = collections.Counter()
        self.times: list[float] = []
        self.inflight = getattr(self, "inflight", 0)  # requests still in flight stay counted
        self.max_inflight = self.inflight
        self.auth_seen = 0
        self.last_request: dict[str, Any] = {}  # query and headers of the last chat completion

    def next_behaviour(self) -> str:
        return self.script.popleft() if self.script else "ok"

    def answer(self, messages: list[dict[str, Any]]) -> str:
        r = self.reply
        if r is None:
            return echo_reply(messages)
        if isinstance(r, str):
            return r
        return str(r(messages))

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_status": dict(self.by_status),
            "times": list(self.times),
            "max_inflight": self.max_inflight,
            "inflight": self.inflight,
            "auth_seen": self.auth_seen,
            "last_request": self.last_request,
            "pending_script": list(self.script),
        }


Outcome = tuple[int, dict[str, Any], dict[str, str]]  # status, JSON body, extra headers


def _err(status: int, message: str, headers: dict[str, str] | None = None) -> Outcome:
    return status, {"error": {"message": message, "type": "loopback_error", "code": status}}, headers or {}


async def _misbehave(state: _State, behaviour: str, *, is_disconnected: Callable[[], Any], raw_send: Any,
                     auth: str) -> Outcome | None:
    """Carry out ``behaviour``; ``None`` means: go on and answer normally (after the latency)."""
    if behaviour == "ok" or behaviour.startswith("sleep:"):
        delay = float(behaviour.split(":")[1]) if behaviour.startswith("sleep:") else state.latency
        if delay > 0:
            await asyncio.sleep(delay)
        return None
    state.by_status[behaviour.split(":")[0] if behaviour.startswith("429") else behaviour] += 1
    if behaviour == "hang":
        while not state.stopping and not await is_disconnected():
            await asyncio.sleep(0.05)
        return _err(504, "loopback: hang released")
    if behaviour == "drop":
        # uvicorn's ``send`` is a bound method of the request cycle, which owns the transport.
        transport = getattr(getattr(raw_send, "__self__", None), "transport", None)
        if transport is not None:
            transport.abort()  # RST, no response bytes at all
            await asyncio.sleep(0.01)  # let uvicorn notice, so it does not answer 500 for us
        return _err(502, "loopback: drop")  # discarded: the connection is gone
    if behaviour.startswith("429"):
        headers = {"Retry-After": behaviour.split(":", 1)[1]} if ":" in behaviour else None
        return _err(429, "loopback: rate limited", headers)
    status = int(behaviour)
    if status == 401:
        # Providers quote (part of) the key back; the client must redact it from its errors.
        return _err(401, f"Incorrect API key provided: {auth.removeprefix('Bearer ')}")
    return _err(status, f"loopback: scripted status {status}")


def _begin(state: _State, has_auth: bool) -> str:
    state.requests += 1
    state.times.append(time.time())
    state.inflight += 1
    state.max_inflight = max(state.max_inflight, state.inflight)
    if has_auth:
        state.auth_seen += 1
    return state.next_behaviour()


def _chat_completion(state: _State, body: Any) -> Outcome:
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        state.by_status["400"] += 1
        return _err(400, "loopback: 'messages' must be a list")
    try:
        text = state.answer(messages)
    except Exception as exc:  # noqa: BLE001 - a broken test reply is a 500, not a dead connection
        state.by_status["500"] += 1
        return _err(500, f"loopback: reply function raised {type(exc).__name__}: {exc}")
    toks = _tokens(text)
    finish = "stop"
    max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
    if isinstance(max_tokens, int) and 0 < max_tokens < len(toks):
        toks, finish = toks[:max_tokens], "length"
        text = "".join(toks)
    prompt_tokens = sum(len(_tokens(str(m.get("content", "")))) for m in messages if isinstance(m, dict))
    choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text},
                              "finish_reason": finish, "logprobs": None}
    if body.get("logprobs"):
        choice["logprobs"] = {"content": [
            {"token": t, "logprob": _fake_logprob(t, i), "bytes": list(t.encode()), "top_logprobs": []}
            for i, t in enumerate(toks)]}
    state.by_status["200"] += 1
    return 200, {
        "id": f"chatcmpl-loopback-{state.requests}", "object": "chat.completion",
        "created": int(time.time()), "model": body.get("model", "loopback"), "choices": [choice],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(toks),
                  "total_tokens": prompt_tokens + len(toks)},
    }, {}


async def _raw_chat(state: _State, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """``POST /v1/chat/completions`` as a bare ASGI handler.

    This is the hot path of the throughput benchmarks: skipping the framework's request/response
    objects and middleware roughly halves the server's CPU per request, so the server is less
    often the bottleneck of a measurement that is about the client.
    """
    auth = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), "")
    behaviour = _begin(state, bool(auth))
    state.last_request = {"query": scope.get("query_string", b"").decode("latin-1"),
                          "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}}
    try:
        chunks = []
        more = True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            chunks.append(msg.get("body", b""))
            more = msg.get("more_body", False)
        disconnected = False

        async def is_disconnected() -> bool:
            nonlocal disconnected
            if not disconnected:
                try:
                    msg = await asyncio.wait_for(receive(), 0.001)
                    disconnected = msg["type"] == "http.disconnect"
                except asyncio.TimeoutError:
                    pass
            return disconnected

        try:
            body = json.loads(b"".join(chunks))
        except ValueError:
            state.by_status["400"] += 1
            outcome: Outcome | None = _err(400, "loopback: body is not JSON")
        else:
            outcome = None
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                outcome = _chat_completion(state, body)  # the 400 answer
            else:
                outcome = await _misbehave(state, behaviour, is_disconnected=is_disconnected,
                                           raw_send=send, auth=auth)
                if outcome is None:
                    outcome = _chat_completion(state, body)
        status, payload, extra = outcome
        data = json.dumps(payload).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})
    finally:
        state.inflight -= 1


def build_app(state: _State) -> Any:
    """The ASGI app: a bare handler for chat completions, FastAPI for everything else."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    app = FastAPI(title="breakfix loopback", docs_url=None, redoc_url=None, openapi_url=None)

    def respond(outcome: Outcome) -> JSONResponse:
        status, payload, headers = outcome
        return JSONResponse(payload, status_code=status, headers=headers or None)

    @app.post("/app/chat")
    async def app_chat(request: Request) -> Any:
        auth = request.headers.get("authorization", "")
        behaviour = _begin(state, bool(auth))
        try:
            try:
                body = await request.json()
            except ValueError:
                body = None
            if not isinstance(body, dict) or not isinstance(body.get("input"), str):
                state.by_status["400"] += 1
                return JSONResponse({"detail": "body must be {\"input\": str, \"document\"?: str}"}, status_code=400)
            bad = await _misbehave(state, behaviour, is_disconnected=request.is_disconnected,
                                   raw_send=request.scope["loopback.raw_send"], auth=auth)
            if bad is not None:
                return respond(bad)
            messages: list[dict[str, Any]] = []
            if body.get("document"):
                messages.append({"role": "system", "content": f"Document:\n{body['document']}"})
            messages.append({"role": "user", "content": body["input"]})
            state.by_status["200"] += 1
            return {"data": {"answer": state.answer(messages)}, "meta": {"request": state.requests}}
        finally:
            state.inflight -= 1

    @app.post("/_control/script")
    async def control_script(request: Request) -> Any:
        body = await request.json()
        try:
            items = [validate_behaviour(b) for b in body.get("behaviours", [])]
        except ValueError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        if body.get("replace"):
            state.script.clear()
        state.script.extend(items)
        return {"pending": list(state.script)}

    @app.post("/_control/reply")
    async def control_reply(request: Request) -> Any:
        body = await request.json()
        state.reply = body.get("text")  # None restores the echo
        return {"ok": True}

    @app.post("/_control/latency")
    async def control_latency(request: Request) -> Any:
        state.latency = float((await request.json())["latency"])
        return {"ok": True}

    @app.get("/_control/stats")
    async def control_stats() -> Any:
        return state.stats()

    @app.post("/_control/reset")
    async def control_reset() -> Any:
        state.reset_stats()
        state.script.clear()
        return {"ok": True}

    @app.post("/_control/stop")
    async def control_stop() -> Any:
        state.stopping = True  # releases hanging handlers so shutdown is quick
        return {"ok": True}

    async def outer(scope: dict[str, Any], receive: Any, send: Any) -> None:
        # uvicorn's ``send`` is a bound method of the request cycle, which owns the transport:
        # keep it reachable so ``drop`` can abort the connection without writing a byte.
        if scope.get("type") == "http":
            if scope["path"] == "/v1/chat/completions" and scope["method"] == "POST":
                await _raw_chat(state, scope, receive, send)
                return
            scope["loopback.raw_send"] = send
        await app(scope, receive, send)

    return outer


def _bind() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this on Linux: without it Nagle + delayed ACK add ~40-50 ms to
    # every small response, which swamps the 20 ms latency the benchmark is meant to measure.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _uvicorn_server(app: Any) -> Any:
    import uvicorn

    config = uvicorn.Config(app, log_level="error", access_log=False, http="h11", lifespan="off",
                            backlog=2048, timeout_graceful_shutdown=1, timeout_keep_alive=30)
    return uvicorn.Server(config)


def _reply_ref(reply: Reply) -> str | None:
    """How a reply crosses to the server process: ``text:...`` or ``fn:module:qualname``."""
    if reply is None:
        return None
    if isinstance(reply, str):
        return "text:" + reply
    mod, qual = getattr(reply, "__module__", None), getattr(reply, "__qualname__", "")
    if not mod or mod == "__main__" or "<" in qual:
        raise ValueError("loopback: with process=True a callable reply must be a module-level "
                         "function importable by name (not a lambda, closure or __main__ function)")
    return f"fn:{mod}:{qual}"


def _reply_from_ref(ref: str | None) -> Reply:
    if ref is None:
        return None
    if ref.startswith("text:"):
        return ref[5:]
    import importlib

    _, mod, qual = ref.split(":", 2)
    obj: Any = importlib.import_module(mod)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


def _main(argv: list[str] | None = None) -> None:  # pragma: no cover - runs in the child process
    """Serve in this process and print the port on stdout (used by ``process=True``)."""
    import argparse
    import json
    import sys

    ap = argparse.ArgumentParser(prog="python -m breakfix.testing._serve")
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--reply", default=None, help="JSON: null, 'text:...' or 'fn:module:qualname'")
    args = ap.parse_args(argv)
    reply = _reply_from_ref(json.loads(args.reply) if args.reply else None)
    sock = _bind()
    server = _uvicorn_server(build_app(_State(args.latency, reply)))
    sys.stdout.write(f"{sock.getsockname()[1]}\n")
    sys.stdout.flush()

    def watch_parent() -> None:
        # The parent holds our stdin open; EOF means it is gone (even after kill -9): exit with it.
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_parent, daemon=True, name="parent-watch").start()
    server.run(sockets=[sock])


class LoopbackServer:
    """An OpenAI-compatible test server on 127.0.0.1 (free port), scriptable to misbehave.

    Args:
        latency: seconds every ``ok`` answer waits before replying (simulates model time).
        reply: ``None`` for the deterministic echo, a fixed string, or a callable
            ``reply(messages: list[dict]) -> str``. With ``process=True`` a callable must be
            picklable (a module-level function).
        process: run uvicorn in a separate process instead of a background thread.
    """

    def __init__(self, latency: float = 0.02, reply: Reply = None, process: bool = False) -> None:
        self.latency = latency
        self._reply = reply
        self.process = process
        self.port: int | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._state: _State | None = None
        self._proc: Any = None
        self._client: Any = None

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no path)."""
        if self.port is None:
            raise RuntimeError("LoopbackServer is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, ``http://127.0.0.1:PORT/v1``."""
        return self.root_url + "/v1"

    @property
    def app_url(self) -> str:
        """The generic JSON app endpoint for the ``http`` target."""
        return self.root_url + "/app/chat"

    def start(self) -> "LoopbackServer":
        """Start serving; returns once the port accepts connections."""
        import httpx

        if self.process:
            # A fresh interpreter (not multiprocessing): nothing of the caller's __main__ is re-run.
            cmd = [sys.executable, "-m", "breakfix.testing._serve", "--latency", str(self.latency),
                   "--reply", json.dumps(_reply_ref(self._reply))]
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            line = self._proc.stdout.readline() if self._proc.stdout else ""
            if not line.strip().isdigit():
                self._proc.kill()
                self._proc.wait(5)
                raise RuntimeError("loopback server process failed to start (see its stderr above)")
            self.port = int(line)
        else:
            sock = _bind()
            self.port = sock.getsockname()[1]
            self._state = _State(self.latency, self._reply)
            self._server = _uvicorn_server(build_app(self._state))
            self._thread = threading.Thread(target=lambda: asyncio.run(self._server.serve(sockets=[sock])),
                                            daemon=True, name="breakfix-loopback")
            self._thread.start()
        self._client = httpx.Client(base_url=self.root_url, timeout=10, trust_env=False)
        deadline = time.monotonic() + 60
        while True:
            try:
                self._client.get("/_control/stats").raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("loopback server did not come up within 60 s") from None
                time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop the server (releasing hanging requests first). Safe to call twice."""
        if self._client is not None:
            try:
                self._client.post("/_control/stop")
            except Exception:  # noqa: BLE001 - best effort; we stop anyway
                pass
            self._client.close()
            self._client = None
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(10)
            self._server = self._thread = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
            for f in (self._proc.stdin, self._proc.stdout):
                if f:
                    f.close()
            self._proc = None

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- control -------------------------------------------------------------------------------
    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        if self._client is None:
            raise RuntimeError("LoopbackServer is not started")
        r = self._client.post(path, json=payload)
        if r.status_code == 400:
            raise ValueError(r.json().get("detail", r.text))
        r.raise_for_status()
        return r.json()

    def script(self, behaviours: list[str], replace: bool = False) -> None:
        """Queue behaviours for the next requests, in order (see the module docstring)."""
        for b in behaviours:
            validate_behaviour(b)
        self._post("/_control/script", {"behaviours": list(behaviours), "replace": replace})

    def set_reply(self, reply: Reply) -> None:
        """Change the reply: a string (both modes), ``None`` for the echo, or a callable (thread mode)."""
        if callable(reply):
            if self._state is None:
                raise ValueError("loopback: a callable reply needs process=False "
                                 "(or pass a picklable function as LoopbackServer(reply=...))")
            self._state.reply = reply
            return
        if reply is not None and not isinstance(reply, str):
            raise ValueError("loopback: reply must be a string, None or a callable")
        self._post("/_control/reply", {"text": reply})

    def set_latency(self, latency: float) -> None:
        """Change the latency of ``ok`` answers."""
        self._post("/_control/latency", {"latency": latency})

    def stats(self) -> dict[str, Any]:
        """``{"requests": n, "by_status": {...}, "times": [arrival epoch seconds...], "max_inflight": k, ...}``."""
        if self._client is None:
            raise RuntimeError("LoopbackServer is not started")
        r = self._client.get("/_control/stats")
        r.raise_for_status()
        return r.json()

    def reset(self) -> None:
        """Forget stats and any pending script."""
        self._post("/_control/reset", {})

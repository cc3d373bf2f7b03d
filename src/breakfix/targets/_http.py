"""HTTP plumbing shared by the ``openai`` and ``http`` targets: one pooled client per event loop,
and the translation of HTTP outcomes into the limits layer's errors."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections import deque
from contextlib import contextmanager
from typing import Any, Iterator

import httpcore
import httpx
from httpcore._utils import is_socket_readable

from .limits import MAX_ERROR_CHARS, TargetError, status_error

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class PooledClient:
    """``httpx.AsyncClient`` connection pools holding ``size`` connections in all, recreated if the
    event loop changes (a client's connections belong to the loop that opened them).

    The connections are split over shards of at most ``SHARD`` connections: httpcore scans every
    connection of its pool (with a socket-readability syscall each) whenever a request starts or
    ends, so one pool of 64 costs ~64 scans per request while eight pools of 8 cost ~8 — at
    concurrency 64 that is most of the client's CPU time (see ``benchmarks/target_overhead.py``).

    :meth:`client` hands out a shard with a free connection (a slot), never a full one: a request
    queued inside a full shard makes httpcore rescan that shard's pool at every start and end
    until it gets a connection. Round-robin per request (what :meth:`get` does) left shards
    over-full at random and cost +31 % CPU per request against clients pinned to their shard
    (bare httpx, c = 64, loaded 2-core machine, median of 3).
    """

    SHARD = 8

    def __init__(self, size: int, timeout_s: float | None) -> None:
        self.size = size
        # The limits layer enforces the real per-try timeout; httpx's is a backstop just behind it.
        self.timeout = httpx.Timeout(None if timeout_s is None else timeout_s + 5.0)
        self._clients: list[httpx.AsyncClient] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next = 0
        self._free: deque[int] = deque()  # one entry per free connection slot: its shard's index

    def _make(self) -> list[httpx.AsyncClient]:
        n = max(1, -(-self.size // self.SHARD))
        per = -(-self.size // n)
        # One TLS context for all shards: loading the CA bundle costs ~50 ms of CPU per context.
        ssl_context = httpx.create_ssl_context()
        # Interleaved (0, 1, ..., n-1, 0, 1, ...): light load spreads over the shards too.
        self._free = deque(k for _ in range(per) for k in range(n))
        clients = [httpx.AsyncClient(timeout=self.timeout, verify=ssl_context,
                                     limits=httpx.Limits(max_connections=per, max_keepalive_connections=per))
                   for _ in range(n)]
        for c in clients:
            # httpx has no public way to hand a client a Cookies subclass (its setter copies).
            if type(getattr(c, "_cookies", None)) is httpx.Cookies:
                c._cookies = _SetCookiesOnly(c._cookies.jar)
            # Nor a network backend: set it on every connection pool of the client (the default
            # transport and any proxy mounts); an unknown layout keeps httpcore's own backend.
            for transport in [c._transport, *c._mounts.values()]:
                pool = getattr(transport, "_pool", None)
                backend = getattr(pool, "_network_backend", None)
                if isinstance(backend, httpcore.AsyncNetworkBackend) and not isinstance(backend, _ReadableCheck):
                    pool._network_backend = _ReadableCheck(backend)  # type: ignore[union-attr]
        return clients

    def _current(self) -> list[httpx.AsyncClient]:
        loop = asyncio.get_running_loop()
        if not self._clients or self._loop is not loop or self._clients[0].is_closed:
            self._loop = loop
            self._clients = self._make()
        return self._clients

    def get(self) -> httpx.AsyncClient:
        """A shard, round-robin (for callers that cannot say when their request ends)."""
        clients = self._current()
        self._next = (self._next + 1) % len(clients)
        return clients[self._next]

    @contextmanager
    def client(self) -> Iterator[httpx.AsyncClient]:
        """A shard with a free connection for one request (``with pool.client() as c: await c.post(...)``).

        More requests than connections (a caller without the limits layer's semaphore) fall back to
        round-robin rather than wait here."""
        clients = self._current()
        free = self._free
        if not free:
            yield self.get()
            return
        k = free.popleft()
        try:
            yield clients[k]
        finally:
            free.append(k)

    async def aclose(self) -> None:
        clients, self._clients = self._clients, []
        if self._loop is asyncio.get_running_loop():
            for c in clients:
                if not c.is_closed:
                    await c.aclose()


class _SetCookiesOnly(httpx.Cookies):
    """The client's cookie jar, updated only from responses that set a cookie.

    httpx hands every response to ``http.cookiejar`` through a urllib ``Request`` it builds for the
    purpose (URL parsing and a header copy included) even when the response sets no cookie: ~4 %
    of the request samples at concurrency 256 (py-spy); skipping it took the ``openai`` target from
    2.42 to 2.06 ms CPU per request at concurrency 64 and 2.48 to 2.24 at 256 (loaded 2-core
    machine, medians of 5 interleaved pairs, every pair faster). A response without ``Set-Cookie`` (or the
    obsolete ``Set-Cookie2``) leaves the jar unchanged either way, so cookies a server does set
    (a load balancer's sticky session) are still kept and sent back."""

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


class _ReadableCheck(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, with streams whose idle-connection check is one ``poll``.

    Whenever a request starts or ends, httpcore asks every idle connection of the pool whether its
    socket is readable (a server that closed it); the anyio stream answers by rebuilding anyio's
    whole socket-attribute table first, ``getpeername`` syscall and a dict of lambdas included,
    to take the raw socket out of it. That was ~7 % of the engine's samples at concurrency 64
    (py-spy; idle connections are more common under the engine, whose workers spend time between
    requests, than under a bare client looping on ``post``). The socket of a stream never changes,
    so it is looked up once; the check itself is httpcore's."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None, socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        return _CachedSocketStream(await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        return _CachedSocketStream(await self._inner.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _CachedSocketStream(httpcore.AsyncNetworkStream):
    """A network stream that remembers its raw socket for the readability check (see above)."""

    _NOT_YET = object()

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._sock: Any = self._NOT_YET

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        return _CachedSocketStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            if self._sock is self._NOT_YET:
                self._sock = self._inner.get_extra_info("socket")
            if self._sock is not None:
                return is_socket_readable(self._sock)
        return self._inner.get_extra_info(info)


def error_detail(resp: httpx.Response, limit: int = MAX_ERROR_CHARS) -> str:
    """A one-line description of an error response body (OpenAI-style ``error.message`` if any).

    Cut only at the limits layer's own bound: the limiter redacts secrets from the whole message and
    cuts it after that (a shorter cut here split keys the redaction then missed)."""
    try:
        body = resp.json()
    except ValueError:
        text = resp.text
    else:
        msg = body.get("error") if isinstance(body, dict) else None
        if isinstance(msg, dict):
            msg = msg.get("message")
        text = msg if isinstance(msg, str) else json.dumps(body)[:limit]
    return " ".join(text.split())[:limit]


def raise_for_status(resp: httpx.Response) -> None:
    """Raise the limits layer's error for a non-2xx response (transient for 429/5xx)."""
    if resp.status_code < 300:
        return
    raise status_error(resp.status_code, error_detail(resp), resp.headers.get("retry-after"))


def read_json(resp: httpx.Response, what: str) -> Any:
    try:
        return resp.json()
    except ValueError:
        snippet = " ".join(resp.text.split())[:120]
        raise TargetError(f"{what}: response is not JSON: {snippet!r}") from None


def env_refs(text: str) -> list[str]:
    """Names of the ``${ENV}`` references in ``text``."""
    return _ENV_REF.findall(text)


def expand_env(text: str, where: str) -> str:
    """Replace ``${ENV}`` references by the variables' values; a missing variable is a one-line error."""
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise ValueError(f"{where}: environment variable {name} is not set")
        return os.environ[name]

    return _ENV_REF.sub(sub, text)

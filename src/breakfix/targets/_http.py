"""HTTP plumbing shared by the ``openai`` and ``http`` targets: one pooled client per event loop,
and the translation of HTTP outcomes into the limits layer's errors."""

from __future__ import annotations

import asyncio
import json
import os
import re
from typing import Any

import httpx

from .limits import TargetError, status_error

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class PooledClient:
    """An ``httpx.AsyncClient`` whose pool holds ``size`` connections, recreated if the event loop
    changes (a client's connections belong to the loop that opened them)."""

    def __init__(self, size: int, timeout_s: float | None) -> None:
        self.size = size
        # The limits layer enforces the real per-try timeout; httpx's is a backstop just behind it.
        self.timeout = httpx.Timeout(None if timeout_s is None else timeout_s + 5.0)
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop or self._client.is_closed:
            self._loop = loop
            self._client = httpx.AsyncClient(
                timeout=self.timeout,
                limits=httpx.Limits(max_connections=self.size, max_keepalive_connections=self.size),
            )
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None and not client.is_closed and self._loop is asyncio.get_running_loop():
            await client.aclose()


def error_detail(resp: httpx.Response, limit: int = 300) -> str:
    """A short one-line description of an error response body (OpenAI-style ``error.message`` if any)."""
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

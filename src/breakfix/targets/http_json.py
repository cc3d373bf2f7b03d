"""The ``http`` target: a generic JSON-over-HTTP application that is not OpenAI-compatible.

Real red teams test products — a support bot, a RAG search box, an agent's API — not just models.
This target fills a request template with the prompt (and optionally a document, for indirect
prompt-injection tests where the attack hides in retrieved content), sends it, and reads the answer
at a path in the response JSON.

Template slots (in any string of the body template):

- ``{prompt}``: the last user message;
- ``{document}``: the document passed as ``send(..., document=...)`` or the target's ``document``;
- ``{system}``: the system message, if any;
- ``{messages}``: a string that is exactly ``"{messages}"`` becomes the whole conversation as a list
  of ``{"role", "content"}`` objects.

Header values may reference environment variables as ``${NAME}``; they are expanded per request and
their values are redacted from errors and never shown by ``describe()``.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from ..core.messages import Conversation, Response
from ..core.registry import target
from ._http import PooledClient, env_refs, expand_env, raise_for_status, read_json
from .base import Target
from .limits import TargetError

_SLOT_RE = re.compile(r"\{(prompt|document|system)\}")


def parse_path(path: str) -> list[str | int]:
    """``"choices.0.message.content"`` → ``["choices", 0, "message", "content"]``."""
    if not isinstance(path, str) or not path.strip() or any(not p for p in path.split(".")):
        raise ValueError(f"http target: response_path: expected dotted keys like 'data.answer', got {path!r}")
    return [int(p) if p.lstrip("-").isdigit() else p for p in path.split(".")]


def extract(data: Any, path: list[str | int], spec: str) -> Any:
    """Follow ``path`` into ``data``; a missing step is a one-line ``TargetError`` saying where."""
    cur = data
    for i, step in enumerate(path):
        here = ".".join(map(str, path[:i])) or "<root>"
        if isinstance(step, int) and isinstance(cur, list):
            if -len(cur) <= step < len(cur):
                cur = cur[step]
                continue
            raise TargetError(f"http target: response_path {spec!r}: index {step} out of range at "
                              f"{here} (list of {len(cur)})")
        if isinstance(cur, dict) and str(step) in cur:
            cur = cur[str(step)]
            continue
        if isinstance(cur, dict):
            keys = ", ".join(list(map(str, cur))[:10]) or "none"
            raise TargetError(f"http target: response_path {spec!r}: no key {str(step)!r} at {here} "
                              f"(keys: {keys})")
        raise TargetError(f"http target: response_path {spec!r}: expected an object at {here}, "
                          f"got {type(cur).__name__}")
    return cur


def _fill(node: Any, values: dict[str, str], messages: list[dict[str, str]]) -> Any:
    if isinstance(node, str):
        if node == "{messages}":
            return messages
        # One pass, so a prompt that itself contains "{document}" is not filled in turn.
        return _SLOT_RE.sub(lambda m: values[m.group(1)], node)
    if isinstance(node, list):
        return [_fill(x, values, messages) for x in node]
    if isinstance(node, dict):
        return {k: _fill(v, values, messages) for k, v in node.items()}
    return node


@target("http", tags=("http", "application"))
class HTTPTarget(Target):
    """Send prompts to any JSON-over-HTTP application through a request template.

    Args:
        url: the endpoint; may use ``${ENV}`` references (APIs that take a key in the query string).
        response_path: where the answer is in the response JSON, e.g. ``data.answer`` or
            ``choices.0.message.content``.
        body: the request body template (a mapping/list from YAML, or a JSON string) with a
            ``{prompt}`` slot (default ``{"input": "{prompt}"}``).
        method: ``POST`` (JSON body), ``PUT``, ``PATCH`` or ``GET`` (template as query parameters).
        headers: request headers; values may use ``${ENV}`` references.
        document: default for the ``{document}`` slot.
        name: label of this target in results.
        max_concurrency, rpm, max_retries, timeout_s, backoff_s: the shared limits layer.
    """

    def __init__(self, url: str, response_path: str, body: dict[str, Any] | list[Any] | str | None = None,
                 method: str = "POST", headers: dict[str, str] | None = None, document: str = "",
                 name: str = "http", max_concurrency: int = 16, rpm: float | None = None,
                 max_retries: int = 3, timeout_s: float | None = 60.0, backoff_s: float = 0.5) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"http target: url: expected an http(s) URL, got {url!r}")
        self.method = str(method).upper()
        if self.method not in ("POST", "PUT", "PATCH", "GET"):
            raise ValueError(f"http target: method: expected POST, PUT, PATCH or GET, got {method!r}")
        if body is None:
            body = {"input": "{prompt}"}
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except json.JSONDecodeError as exc:
                raise ValueError(f"http target: body: not valid JSON ({exc.msg} at char {exc.pos})") from None
        if not isinstance(body, (dict, list)):
            raise ValueError("http target: body: expected a JSON object or list template")
        if "{prompt}" not in json.dumps(body) and "{messages}" not in json.dumps(body):
            raise ValueError("http target: body: the template needs a {prompt} (or {messages}) slot")
        if self.method == "GET" and not isinstance(body, dict):
            raise ValueError("http target: body: a GET template must be a mapping (query parameters)")
        if headers is not None and not (isinstance(headers, dict) and all(isinstance(v, str) for v in headers.values())):
            raise ValueError("http target: headers: expected a mapping of header name to string")
        self.url = url
        expand_env(url, "http target: url")  # fail now, not on the first request
        self.response_path = response_path
        self._path = parse_path(response_path)
        self.body_template = body
        self.header_templates = dict(headers or {})
        for k, v in self.header_templates.items():
            expand_env(v, f"http target: headers.{k}")  # fail now, not on the first request
        self.document = document
        self.name = name
        self.init_limits(max_concurrency=max_concurrency, rpm=rpm, max_retries=max_retries,
                         timeout_s=timeout_s, backoff_s=backoff_s)
        self._pool = PooledClient(max_concurrency, timeout_s)

    def secrets(self) -> list[str]:
        import os

        refs = [n for v in [self.url, *self.header_templates.values()] for n in env_refs(v)]
        return [os.environ[n] for n in refs if os.environ.get(n)]

    def describe(self) -> dict[str, Any]:
        return {"type": "http", "name": self.name, "url": self.url, "method": self.method,
                "response_path": self.response_path, "body": self.body_template,
                "headers": dict(self.header_templates), "limits": self.limits.as_dict()}

    def request_body(self, conversation: Conversation, document: str | None = None) -> Any:
        """The filled template for ``conversation``."""
        prompt = next((m.content for m in reversed(conversation) if m.role == "user"), "")
        system = next((m.content for m in conversation if m.role == "system"), "")
        values = {"prompt": prompt, "system": system, "document": self.document if document is None else document}
        messages = [{"role": m.role, "content": m.content} for m in conversation]
        return _fill(self.body_template, values, messages)

    async def _send(self, conversation: Conversation, document: str | None = None, **_: Any) -> Response:
        url = expand_env(self.url, "http target: url")
        headers = {k: expand_env(v, f"http target: headers.{k}") for k, v in self.header_templates.items()}
        filled = self.request_body(conversation, document)
        with self._pool.client() as client:
            t0 = time.perf_counter()
            if self.method == "GET":
                params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in filled.items()}
                resp = await client.get(url, params=params, headers=headers)
            else:
                resp = await client.request(self.method, url, json=filled, headers=headers)
            latency = time.perf_counter() - t0
        raise_for_status(resp)
        answer = extract(read_json(resp, "http target"), self._path, self.response_path)
        if answer is None:
            raise TargetError(f"http target: response_path {self.response_path!r} is null in the response")
        text = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
        return Response(text=text, latency_s=latency, finish_reason="stop")

    async def warm(self) -> None:
        self._pool._current()  # this loop's clients (and their TLS context) exist before the first slot

    async def aclose(self) -> None:
        await self._pool.aclose()

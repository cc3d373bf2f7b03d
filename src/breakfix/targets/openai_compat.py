"""The ``openai`` target: any OpenAI-compatible chat-completions endpoint.

Covers OpenAI, Azure OpenAI (a ``.../openai/deployments/NAME`` base URL, ``query:
{api-version: ...}`` and ``headers: {api-key: "${AZURE_OPENAI_KEY}"}``), vLLM, Ollama, llama.cpp server, LM Studio and others that implement
``POST {base_url}/chat/completions`` (the OpenAI API reference, "Create chat completion").

The API key is read from the environment variable named by ``api_key_env`` at request time: it is
not kept on the object, not in its repr or config dump, not logged, and it is redacted from every
error message (providers like to quote a bad key back).
"""

from __future__ import annotations

import os
import time
from typing import Any

import httpx

from ..core.messages import Conversation, Response, TokenLogprob
from ..core.registry import target
from ._http import PooledClient, env_refs, expand_env, raise_for_status, read_json
from .base import Target
from .limits import TargetError

# Per-call overrides accepted by send(..., **kw), passed through as request fields.
_CALL_PARAMS = ("temperature", "max_tokens", "top_p", "seed", "stop", "logprobs", "top_logprobs",
                "presence_penalty", "frequency_penalty")


@target("openai", tags=("http", "api"))
class OpenAITarget(Target):
    """Chat with any OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        model: the model name sent in the request.
        base_url: API root, e.g. ``https://api.openai.com/v1`` or ``http://localhost:8000/v1``.
        api_key_env: name of the environment variable holding the API key (``None``: no key, as
            for most local servers). The key itself is never accepted as a parameter.
        temperature, max_tokens, top_p, seed, stop: sampling parameters (omitted when ``None``).
        logprobs: ask for per-token log-probabilities of the answer; ``top_logprobs`` alternatives.
        headers: extra request headers (e.g. Azure's ``api-version`` routing); values may use
            ``${ENV}`` references, expanded per request and redacted like the key.
        extra_body: extra JSON fields merged into every request.
        query: query-string parameters of every request (Azure's ``api-version``).
        name: label of this target in results (default: the model name).
        max_concurrency, rpm, max_retries, timeout_s, backoff_s: the shared limits layer.
    """

    def __init__(self, model: str, base_url: str = "https://api.openai.com/v1", api_key_env: str | None = None,
                 temperature: float | None = None, max_tokens: int | None = None, top_p: float | None = None,
                 seed: int | None = None, stop: list[str] | str | None = None, logprobs: bool = False,
                 top_logprobs: int | None = None, headers: dict[str, str] | None = None,
                 extra_body: dict[str, Any] | None = None, query: dict[str, str] | None = None,
                 name: str | None = None,
                 max_concurrency: int = 16, rpm: float | None = None, max_retries: int = 3,
                 timeout_s: float | None = 60.0, backoff_s: float = 0.5) -> None:
        if not isinstance(model, str) or not model:
            raise ValueError("openai target: model: expected a non-empty model name")
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"openai target: base_url: expected an http(s) URL, got {base_url!r}")
        if api_key_env is not None:
            if not isinstance(api_key_env, str) or not api_key_env.strip():
                raise ValueError("openai target: api_key_env: expected the NAME of an environment variable")
            if api_key_env not in os.environ:
                raise ValueError(f"openai target: api_key_env: environment variable {api_key_env} is not set")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.url = self.base_url + "/chat/completions"
        # Parsed once: httpx parses a str URL again for every request (~3 % of a run's samples).
        self._request_url = httpx.URL(self.url)
        self.api_key_env = api_key_env
        self.params: dict[str, Any] = {k: v for k, v in {
            "temperature": temperature, "max_tokens": max_tokens, "top_p": top_p, "seed": seed,
            "stop": stop, "top_logprobs": top_logprobs}.items() if v is not None}
        if logprobs:
            self.params["logprobs"] = True
        self.header_templates = dict(headers or {})
        self.extra_body = dict(extra_body or {})
        self.query = {str(k): str(v) for k, v in (query or {}).items()}
        self.name = name or model
        self.init_limits(max_concurrency=max_concurrency, rpm=rpm, max_retries=max_retries,
                         timeout_s=timeout_s, backoff_s=backoff_s)
        self._pool = PooledClient(max_concurrency, timeout_s)

    # -- secrets -------------------------------------------------------------------------------
    def _key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None

    def _headers(self) -> dict[str, str]:
        h = {k: expand_env(v, f"openai target: headers.{k}") for k, v in self.header_templates.items()}
        key = self._key()
        if key:
            h.setdefault("Authorization", f"Bearer {key}")
        return h

    def secrets(self) -> list[str]:
        # Called for every answer (the limits layer redacts them): a target without a key or
        # headers, the common local-server case, answers without building anything.
        if not self.api_key_env and not self.header_templates:
            return []
        out = [self._key() or ""]
        for v in self.header_templates.values():
            out += [os.environ.get(n, "") for n in env_refs(v)]
        return [s for s in out if s]

    def describe(self) -> dict[str, Any]:
        return {"type": "openai", "name": self.name, "model": self.model, "base_url": self.base_url,
                "api_key_env": self.api_key_env, "params": dict(self.params),
                "headers": dict(self.header_templates), "query": dict(self.query),
                "limits": self.limits.as_dict()}

    # -- the request ---------------------------------------------------------------------------
    def body(self, conversation: Conversation, **kw: Any) -> dict[str, Any]:
        """The JSON request body for ``conversation`` (call-time ``kw`` override the defaults)."""
        body: dict[str, Any] = {"model": self.model,
                                "messages": [{"role": m.role, "content": m.content} for m in conversation]}
        body.update(self.params)
        body.update(self.extra_body)
        for k in _CALL_PARAMS:
            if kw.get(k) is not None:
                body[k] = kw[k]
        if body.get("logprobs") is False:
            body.pop("logprobs")
            body.pop("top_logprobs", None)
        return body

    async def _send(self, conversation: Conversation, **kw: Any) -> Response:
        body = self.body(conversation, **kw)
        headers = self._headers() if self.header_templates or self.api_key_env else None
        with self._pool.client() as client:
            t0 = time.perf_counter()
            resp = await client.post(self._request_url, json=body, headers=headers or None, params=self.query or None)
            latency = time.perf_counter() - t0
        raise_for_status(resp)
        return parse_chat_completion(read_json(resp, "openai target"), latency)

    async def warm(self) -> None:
        self._pool._current()  # this loop's clients (and their TLS context) exist before the first slot

    async def aclose(self) -> None:
        await self._pool.aclose()


def parse_chat_completion(data: Any, latency_s: float = 0.0) -> Response:
    """A ``Response`` from a chat-completion JSON body; a malformed body is a ``TargetError``."""
    try:
        choice = data["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise TargetError("openai target: response has no choices[0].message") from None
    # Some providers put a refusal in ``message.refusal`` with ``content`` null.
    text = message.get("content") or message.get("refusal") or ""
    if not isinstance(text, str):  # content parts (multimodal): keep the text parts
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
    usage = data.get("usage") or {}
    lps = None
    lp = choice.get("logprobs")
    if isinstance(lp, dict) and isinstance(lp.get("content"), list):
        lps = [TokenLogprob(token=str(t.get("token", "")), logprob=float(t.get("logprob", 0.0)))
               for t in lp["content"] if isinstance(t, dict)]
    return Response(text=text, latency_s=latency_s, prompt_tokens=usage.get("prompt_tokens"),
                    completion_tokens=usage.get("completion_tokens"), finish_reason=choice.get("finish_reason"),
                    logprobs=lps, raw={"id": data.get("id"), "model": data.get("model")})

"""The Target interface: anything that answers a conversation.

Callers use ``Target.send``; subclasses implement ``_send``. ``send`` passes every request through
the target's ``Limiter`` (``targets/limits.py``), so concurrency, rate limits, retries, timeouts and
secret redaction work the same for every target and no target re-implements them.
"""

from __future__ import annotations

from typing import Any

from ..core.messages import Conversation, Response
from .limits import Limiter, Limits, redact_secrets


class Target:
    """A model or application under test (or an attacker / judge model).

    Subclasses call ``self.init_limits(...)`` from ``__init__`` with the common limit keywords
    (``max_concurrency``, ``rpm``, ``max_retries``, ``timeout_s``, ``backoff_s``) and implement
    ``_send``, which may raise ``TransientError`` (retried) or ``TargetError`` (recorded).
    """

    name: str = "target"
    _limiter: Limiter | None = None

    def init_limits(self, *, max_concurrency: int = 16, rpm: float | None = None, max_retries: int = 3,
                    timeout_s: float | None = 60.0, backoff_s: float = 0.5, **more: Any) -> Limits:
        """Validate and install this target's limits (a ``ValueError`` names the bad field)."""
        self.limits = Limits(max_concurrency=max_concurrency, rpm=rpm, max_retries=max_retries,
                             timeout_s=timeout_s, backoff_s=backoff_s, **more)
        self._limiter = Limiter(self.limits, redact=self.redact)
        return self.limits

    @property
    def limiter(self) -> Limiter:
        if self._limiter is None:  # a subclass that did not call init_limits gets the defaults
            self.init_limits()
        assert self._limiter is not None
        return self._limiter

    async def send(self, conversation: Conversation, **kwargs: Any) -> Response:
        """Send ``conversation``; returns the reply, or a ``Response`` with ``error`` set. Never raises
        (except cancellation)."""
        return await self.limiter.run(lambda: self._send(conversation, **kwargs))

    async def _send(self, conversation: Conversation, **kwargs: Any) -> Response:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} does not implement _send")

    def secrets(self) -> list[str]:
        """Current secret values (API keys, auth headers) to scrub from any text we emit."""
        return []

    def redact(self, text: str) -> str:
        """``text`` with every secret — and any long prefix or suffix of one, as text cut at a
        length limit leaves it — replaced by ``***REDACTED***`` (see ``limits.redact_secrets``)."""
        secrets = self.secrets()
        return redact_secrets(text, secrets) if secrets else text

    def describe(self) -> dict[str, Any]:
        """A config dump safe to print or store: never contains secret values."""
        return {"type": getattr(type(self), "plugin_name", type(self).__name__), "name": self.name}

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k != "type")
        return f"{type(self).__name__}({fields})"

    async def warm(self) -> None:
        """Open now what the first request would open (HTTP clients): under a shared rate limit a
        slow first request would otherwise send late and bunch up with the next slots' requests.
        Default: nothing."""

    async def aclose(self) -> None:
        """Release connections / models. Safe to call twice."""

    async def __aenter__(self) -> "Target":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

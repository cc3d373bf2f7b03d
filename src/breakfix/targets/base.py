"""The Target interface: anything that answers a conversation."""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..core.messages import Conversation, Response


class Target(ABC):
    """A model or application under test (or an attacker / judge model).

    Subclasses implement ``_send``; callers use ``send``, which the shared limits layer
    (``targets/limits.py``) wraps with concurrency, rate limits, retries and timeouts.
    """

    name: str = "target"

    @abstractmethod
    async def send(self, conversation: Conversation, **kwargs) -> Response:  # pragma: no cover
        ...

    async def aclose(self) -> None:
        """Release connections / models. Safe to call twice."""

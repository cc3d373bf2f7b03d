"""Messages, conversations and target responses: what crosses the boundary to a model."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    role: Role
    content: str


Conversation = list[Message]


def user(text: str) -> Message:
    return Message(role="user", content=text)


def assistant(text: str) -> Message:
    return Message(role="assistant", content=text)


def system(text: str) -> Message:
    return Message(role="system", content=text)


class TokenLogprob(BaseModel):
    token: str
    logprob: float


class Response(BaseModel):
    """What a target answered. ``error`` is set (and ``text`` empty) when the request failed after
    all retries: a failed request is recorded on its attempt, it never aborts a run."""

    text: str = ""
    error: str | None = None
    latency_s: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    retries: int = 0
    finish_reason: str | None = None
    logprobs: list[TokenLogprob] | None = None
    raw: dict[str, Any] = Field(default_factory=dict)
    # What the limits layer changed or noticed (a known secret redacted from the answer, retries'
    # total time): stored with the attempt so a reader knows the text is not byte-for-byte the reply.
    notes: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

"""Attempts: one execution of one attack on one item against one target."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field

from .items import stable_id
from .messages import Conversation, Response
from .scores import Score

Status = Literal["ok", "error"]


def attempt_id(*, run_id: str, item_id: str, attack: str, attack_config: dict[str, Any],
               converters: list[str], target: str, repeat: int = 0) -> str:
    """Deterministic attempt id: a hash of everything that defines the attempt, so a re-run of the
    same plan finds what is already done and does only what is missing."""
    return stable_id({
        "run": run_id, "item": item_id, "attack": attack, "attack_config": attack_config,
        "converters": converters, "target": target, "repeat": repeat,
    }, length=24)


class Turn(BaseModel):
    """One exchange within a multi-turn attack, kept even when it was backtracked."""

    index: int
    prompt: str  # what was sent (after converters)
    response: str
    score: Score | None = None
    backtracked: bool = False
    parent: int | None = None  # for tree attacks (TAP): index of the parent turn
    metadata: dict[str, Any] = Field(default_factory=dict)


class Attempt(BaseModel):
    id: str
    run_id: str
    item_id: str
    attack: str
    converters: list[str] = Field(default_factory=list)
    target: str
    conversation: Conversation = Field(default_factory=list)  # what the target saw last
    response: Response = Field(default_factory=Response)
    turns: list[Turn] = Field(default_factory=list)
    scores: list[Score] = Field(default_factory=list)
    target_calls: int = 1
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def status(self) -> Status:
        return "ok" if self.response.error is None else "error"

    @property
    def success(self) -> bool:
        """An attempt succeeds if any objective scorer says so (refusals never count)."""
        return any(s.label == "success" for s in self.scores)

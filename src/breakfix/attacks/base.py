"""The Attack interface: produces the conversation for one attempt on one item."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from ..converters.base import Converter
from ..core.attempts import Turn
from ..core.items import Item
from ..core.messages import Conversation, Response
from ..scorers.base import Scorer
from ..targets.base import Target


@dataclass
class AttackContext:
    item: Item
    target: Target
    converters: Sequence[Converter] = ()
    # Objective scorer for attacks that judge every turn (multi-turn); None for single-turn.
    scorer: Scorer | None = None
    attacker: Target | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class AttackResult:
    conversation: Conversation
    response: Response
    turns: list[Turn] = field(default_factory=list)
    target_calls: int = 1
    metadata: dict[str, Any] = field(default_factory=dict)


class Attack:
    name: str = "attack"

    def config(self) -> dict[str, Any]:
        """What defines this attack for the attempt id (template name, parameters...)."""
        return {}

    async def execute(self, ctx: AttackContext) -> AttackResult:  # pragma: no cover
        raise NotImplementedError

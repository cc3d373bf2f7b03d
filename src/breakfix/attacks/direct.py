"""The direct attack: send the item's prompt as it is (after converters), one user turn.

The baseline every other attack is measured against: how often does the plain request succeed?
"""

from __future__ import annotations

from typing import Any

from ..converters.base import apply_chain
from ..core.messages import Message
from ..core.registry import attack
from .base import Attack, AttackContext, AttackResult


@attack("direct", tags=("AML.T0054", "baseline"))
class DirectAttack(Attack):
    """Send the prompt unchanged (but for the configured converters) in a single user turn.

    Args:
        system_prompt: optional system message to send first (e.g. the deployed app's prompt).
    """

    name = "direct"

    def __init__(self, system_prompt: str | None = None) -> None:
        self.system_prompt = system_prompt

    def config(self) -> dict[str, Any]:
        return {"system_prompt": self.system_prompt} if self.system_prompt else {}

    async def execute(self, ctx: AttackContext) -> AttackResult:
        prompt = await apply_chain(ctx.converters, ctx.item.prompt)
        conversation = [Message(role="system", content=self.system_prompt)] if self.system_prompt else []
        conversation.append(Message(role="user", content=prompt))
        response = await ctx.target.send(conversation)
        return AttackResult(conversation=conversation, response=response, target_calls=1)

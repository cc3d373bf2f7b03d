"""Skeleton Key: ask the model to *augment* its behaviour guidelines, then make the request.

The attacker does not ask the model to drop its rules; it asks it to add one: answer everything,
and merely put "Warning:" in front of content that could be harmful. Delivered as published, in
separate turns: turn 1 is the guideline update alone; the target's acknowledgement stays in the
conversation; turn 2 is the request. The single-message variant is the ``guideline-augmentation``
template of the template attack.

Source: Russinovich (2024), "Mitigating Skeleton Key, a new type of generative AI jailbreak
technique" (Microsoft Security blog, June 2024). Texts are breakfix's own
(``attacks/prompts/skeleton-key.yaml``).
"""

from __future__ import annotations

from typing import Any

from ..converters.base import apply_chain
from ..core.attempts import Turn
from ..core.messages import Message, Response
from ..core.registry import attack
from ..refusal import is_refusal
from ._attacker import load_prompts
from .base import Attack, AttackContext, AttackResult


@attack("skeleton-key", tags=("AML.T0054", "multi-turn", "guideline-augmentation"))
class SkeletonKeyAttack(Attack):
    """Send a behaviour-guideline update, keep the target's acknowledgement, then send the request.

    Args:
        prompts: built-in prompt set (``skeleton-key``) or a YAML path with ``update`` and
            ``request`` texts (``$prompt`` is the item's request).
        system_prompt: optional system message for the target.
        stop_if_refused: end the attempt when the target refuses the update (default False: send
            the request anyway, as the blog's attacker would, and record the refusal).
    """

    name = "skeleton-key"

    def __init__(self, prompts: str = "skeleton-key", system_prompt: str | None = None,
                 stop_if_refused: bool = False) -> None:
        self.prompts = load_prompts(prompts)
        self.system_prompt = system_prompt
        self.stop_if_refused = stop_if_refused

    def config(self) -> dict[str, Any]:
        return {"prompts": self.prompts.tag, "system_prompt": self.system_prompt,
                "stop_if_refused": self.stop_if_refused}

    async def execute(self, ctx: AttackContext) -> AttackResult:
        convo = [Message(role="system", content=self.system_prompt)] if self.system_prompt else []
        update = self.prompts.render("update").strip()
        convo.append(Message(role="user", content=update))
        ack = await ctx.target.send(convo)
        ack_refused = ack.ok and is_refusal(ack.text)
        turns = [Turn(index=0, prompt=update, response=ack.text, metadata={"step": "update", "refused": ack_refused})]
        if ack.error is not None:
            return AttackResult(conversation=convo, response=ack, turns=turns, target_calls=1,
                                metadata={"stop_reason": "target error on the update", "acknowledged": False})
        if ack_refused and self.stop_if_refused:
            return AttackResult(conversation=convo, response=ack, turns=turns, target_calls=1,
                                metadata={"stop_reason": "update refused", "acknowledged": False})
        request = await apply_chain(ctx.converters, self.prompts.render("request", prompt=ctx.item.prompt).strip())
        # The acknowledgement is kept: the model then reads its own agreement before the request.
        convo = convo + [Message(role="assistant", content=ack.text), Message(role="user", content=request)]
        resp: Response = await ctx.target.send(convo)
        turns.append(Turn(index=1, prompt=request, response=resp.text, parent=0, metadata={"step": "request"}))
        return AttackResult(conversation=convo, response=resp, turns=turns, target_calls=2,
                            metadata={"stop_reason": "sent", "acknowledged": not ack_refused})

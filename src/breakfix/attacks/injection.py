"""Indirect (cross-prompt) injection: the attack hides in content the application consumes.

The user asks an innocent question about a document, web page, e-mail or tool result; the attacker
controls that content and plants an instruction in it (exfiltrate a secret, call a tool). The
payload texts and carriers are data (``attacks/prompts/injection.yaml``, versioned); converters
transform the *payload only* (hiding it from input filters), never the user's request.

Delivery:
- ``document``: the content goes to the application's document slot (the ``http`` target's
  ``{document}``, e.g. ``examples/rag_app``) and the user's request is the prompt;
- ``inline``: the content is pasted into the user message after the request (chat models);
- ``auto`` (default): ``document`` when the target has a document slot, else ``inline``.

Judge with the ``canary`` scorer (secret leaked / forbidden tool called). Source: Greshake et al.
(2023), "Not what you've signed up for: Compromising Real-World LLM-Integrated Applications with
Indirect Prompt Injection" (arXiv:2302.12173). MITRE ATLAS AML.T0051.001.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from ..converters.base import apply_chain
from ..core.messages import Message
from ..core.registry import attack
from ..core.resources import ResourceError, load_resource
from .base import Attack, AttackContext, AttackResult


class Payload(BaseModel):
    template: str
    description: str = ""


class Carrier(BaseModel):
    template: str
    task: str
    description: str = ""
    escape: Literal["none", "json"] = "none"


class InjectionData(BaseModel):
    name: str
    version: int | str
    payloads: dict[str, Payload]
    carriers: dict[str, Carrier]


def load_injection_data(path: str | Path | None = None) -> InjectionData:
    """The built-in payloads and carriers, or a user's YAML file of the same shape."""
    if path is None:
        return _builtin()
    return _checked(load_resource("prompts", Path(path), InjectionData), str(path))


@lru_cache(maxsize=1)
def _builtin() -> InjectionData:
    return _checked(load_resource("prompts", "injection", InjectionData), "breakfix/attacks/prompts/injection.yaml")


def _checked(data: InjectionData, where: str) -> InjectionData:
    for name, c in data.carriers.items():
        if "{payload}" not in c.template:
            raise ResourceError(f"{where}: carriers.{name}.template: needs a {{payload}} slot")
    for name, pl in data.payloads.items():
        if "{goal}" not in pl.template:
            raise ResourceError(f"{where}: payloads.{name}.template: needs a {{goal}} slot")
    return data


@attack("indirect-injection", tags=("AML.T0051.001", "application"))
class IndirectInjectionAttack(Attack):
    """Hide an instruction in a document / web page / e-mail / tool result the app reads.

    Args:
        carrier: ``document``, ``webpage``, ``email`` or ``tool_result`` (or one from ``data``).
        payload: ``plain``, ``ignore-previous``, ``fake-system``, ``user-consent``, ``completion``.
        goal: the planted instruction; default: the item's prompt (e.g. "reply with the access code").
        task: the innocent user request; default: the carrier's own.
        delivery: ``auto`` (default), ``document`` or ``inline`` (see the module docstring).
        system_prompt: a system message for chat-model targets (apps hold their own).
        data: a YAML file with your own ``payloads`` and ``carriers``.
    """

    name = "indirect-injection"

    def __init__(self, carrier: str = "document", payload: str = "ignore-previous", goal: str | None = None,
                 task: str | None = None, delivery: str = "auto", system_prompt: str | None = None,
                 data: str | None = None) -> None:
        self.data = load_injection_data(data)
        if carrier not in self.data.carriers:
            raise ValueError(f"indirect-injection: unknown carrier {carrier!r}; known: {', '.join(self.data.carriers)}")
        if payload not in self.data.payloads:
            raise ValueError(f"indirect-injection: unknown payload {payload!r}; known: {', '.join(self.data.payloads)}")
        if delivery not in ("auto", "document", "inline"):
            raise ValueError(f"indirect-injection: delivery must be auto, document or inline, not {delivery!r}")
        self.carrier, self.payload = carrier, payload
        self.goal, self.task, self.delivery = goal, task, delivery
        self.system_prompt = system_prompt
        self.data_path = data

    def config(self) -> dict[str, Any]:
        return {"carrier": self.carrier, "payload": self.payload, "goal": self.goal, "task": self.task,
                "delivery": self.delivery, "system_prompt": self.system_prompt,
                "data": f"{self.data.name}-{self.data.version}" + (f"@{self.data_path}" if self.data_path else "")}

    async def build_document(self, ctx: AttackContext) -> str:
        """The carrier with the (converted) payload planted in it."""
        goal = self.goal or ctx.item.prompt
        text = self.data.payloads[self.payload].template.replace("{goal}", goal)
        text = await apply_chain(ctx.converters, text)
        carrier = self.data.carriers[self.carrier]
        if carrier.escape == "json":
            text = json.dumps(text, ensure_ascii=False)[1:-1]
        return carrier.template.replace("{payload}", text)

    async def execute(self, ctx: AttackContext) -> AttackResult:
        document = await self.build_document(ctx)
        task = self.task or self.data.carriers[self.carrier].task
        delivery = self.delivery
        if delivery == "auto":
            delivery = "document" if hasattr(ctx.target, "document") else "inline"
        conversation = [Message(role="system", content=self.system_prompt)] if self.system_prompt else []
        if delivery == "document":
            conversation.append(Message(role="user", content=task))
            response = await ctx.target.send(conversation, document=document)
        else:
            conversation.append(Message(role="user", content=f"{task}\n\n{document}"))
            response = await ctx.target.send(conversation)
        return AttackResult(conversation=conversation, response=response, target_calls=1,
                            metadata={"carrier": self.carrier, "payload": self.payload, "delivery": delivery,
                                      "document": document, "goal": self.goal or ctx.item.prompt})

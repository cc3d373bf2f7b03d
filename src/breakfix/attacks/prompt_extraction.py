"""System-prompt extraction: probes that ask an application to disclose its instructions.

Each probe (``attacks/prompts/extraction.yaml``, versioned) is sent in a fresh conversation; the
attempt keeps every probe as a Turn and stops at the first leak. A leak is judged by the attack's
objective scorer when the run gives one, else by the ``prompt-leak`` scorer against the
``system_prompt`` this attack sends (or was told the application uses).

Source: Perez & Ribeiro (2022), "Ignore Previous Prompt" (prompt leaking); Zhang, Carlini &
Ippolito (2024), "Effective Prompt Extraction from Language Models". MITRE ATLAS AML.T0056.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from ..converters.base import apply_chain
from ..core.attempts import Attempt, Turn
from ..core.messages import Message, Response
from ..core.registry import attack
from ..core.resources import load_resource
from ..scorers.canary import PromptLeakScorer
from ._multiturn import converter_names, judge
from .base import Attack, AttackContext, AttackResult


class ProbeSet(BaseModel):
    """The extraction probes file (``attacks/prompts/extraction.yaml``)."""

    name: str
    version: int | str
    probes: dict[str, str]


@lru_cache(maxsize=1)
def builtin_probes() -> tuple[str, dict[str, str]]:
    """(version tag, {probe name: text}) of the built-in probes."""
    probes = load_resource("prompts", "extraction", ProbeSet)
    return f"{probes.name}-{probes.version}", dict(probes.probes)


@attack("prompt-extraction", tags=("AML.T0056", "application"))
class PromptExtractionAttack(Attack):
    """Try system-prompt extraction probes one by one until the prompt leaks.

    Args:
        probes: probe names to try, in order (default: all built-in probes).
        system_prompt: the system message to send (chat models); also what a leak is checked
            against when the run gives no objective scorer.
        leak_prompt: what the application's hidden prompt is, when this attack does not send it
            (an app target); used only for the built-in leak check.
        stop_on_leak: stop at the first leaking probe (default True).
        threshold: share of the prompt's word 4-grams that counts as a leak (default 0.5).
    """

    name = "prompt-extraction"

    def __init__(self, probes: list[str] | str | None = None, system_prompt: str | None = None,
                 leak_prompt: str | None = None, stop_on_leak: bool = True, threshold: float = 0.5) -> None:
        tag, known = builtin_probes()
        names = [probes] if isinstance(probes, str) else list(probes or known)
        bad = [n for n in names if n not in known]
        if bad:
            raise ValueError(f"prompt-extraction: unknown probe {bad[0]!r}; known: {', '.join(known)}")
        self.tag, self.probes = tag, {n: known[n] for n in names}
        self.system_prompt = system_prompt
        self.stop_on_leak = stop_on_leak
        reference = leak_prompt or system_prompt
        self._leak = PromptLeakScorer(system_prompt=reference, threshold=threshold) if reference else None

    def config(self) -> dict[str, Any]:
        return {"probes": list(self.probes), "system_prompt": self.system_prompt, "probe_set": self.tag,
                "stop_on_leak": self.stop_on_leak}

    async def _judge(self, ctx: AttackContext, sent: list[Message], response: Response):
        if ctx.scorer is not None:
            return await judge(ctx, self.name, sent, response)
        if self._leak is not None:
            a = Attempt(id="probe", run_id="", item_id=ctx.item.id, attack=self.name, target="",
                        converters=converter_names(ctx), conversation=sent, response=response)
            return await self._leak.score(a)
        return None

    async def execute(self, ctx: AttackContext) -> AttackResult:
        prefix = [Message(role="system", content=self.system_prompt)] if self.system_prompt else []
        turns: list[Turn] = []
        best: tuple[float, list[Message], Response] | None = None
        calls = 0
        for name, text in self.probes.items():
            prompt = await apply_chain(ctx.converters, text)
            sent = prefix + [Message(role="user", content=prompt)]
            response = await ctx.target.send(sent)
            calls += 1
            score = await self._judge(ctx, sent, response) if response.ok else None
            turns.append(Turn(index=len(turns), prompt=prompt, response=response.text, score=score,
                              metadata={"probe": name, **({"error": response.error} if response.error else {})}))
            rank = -1.0 if not response.ok else (2.0 if score is not None and score.success else
                                                   float(score.value or 0.0) if score is not None else 0.0)
            if best is None or rank > best[0]:
                best = (rank, sent, response)
            if score is not None and score.success and self.stop_on_leak:
                break
        assert best is not None
        leaked = [t.metadata["probe"] for t in turns if t.score is not None and t.score.success]
        return AttackResult(conversation=best[1], response=best[2], turns=turns, target_calls=calls,
                            metadata={"probe_set": self.tag, "leaking_probes": leaked})

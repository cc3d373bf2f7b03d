"""Shared machinery of the multi-turn attacks: judging a turn with its whole conversation,
refusal checks on decoded answers, and the common options."""

from __future__ import annotations

from typing import Any, Sequence

from ..core.attempts import Attempt
from ..core.messages import Message, Response
from ..core.scores import Score
from ..scorers.decoding import response_readings
from ..scorers.refusal import is_refusal
from ..targets.base import Target
from ._attacker import Attacker
from .base import AttackContext


def converter_names(ctx: AttackContext) -> list[str]:
    return [getattr(c, "plugin_name", None) or getattr(c, "name", type(c).__name__) for c in ctx.converters]


def require(ctx: AttackContext, attack: str) -> None:
    """Multi-turn attacks need an attacker model and an objective scorer; say so in one line."""
    if ctx.attacker is None:
        raise ValueError(f"{attack}: needs an attacker model (set `attacker:` on the attack spec)")
    if ctx.scorer is None:
        raise ValueError(f"{attack}: needs an objective scorer (set `objective_scorer:` on the attack spec)")


def make_attacker(ctx: AttackContext, retries: int, fallback: Any, fallback_size: str) -> Attacker:
    """The attacker wrapper; a test or the engine may pass a ready fallback Target in
    ``ctx.options['attacker_fallback']`` (it wins over the attack's own ``fallback`` setting)."""
    assert ctx.attacker is not None
    fb = ctx.options.get("attacker_fallback", fallback)
    return Attacker(ctx.attacker, retries=retries, fallback=fb, fallback_size=fallback_size)


async def judge(ctx: AttackContext, attack: str, conversation: Sequence[Message], response: Response) -> Score:
    """Score one turn with the objective scorer, which sees the WHOLE conversation so far (a
    Crescendo answer is often harmful only in the light of the earlier turns)."""
    assert ctx.scorer is not None
    attempt = Attempt(
        id="turn", run_id="", item_id=ctx.item.id, attack=attack, converters=converter_names(ctx),
        target=getattr(ctx.target, "name", "target"), conversation=list(conversation), response=response,
        metadata={"objective": ctx.item.objective, "category": ctx.item.category, "language": ctx.item.language},
    )
    name = getattr(ctx.scorer, "name", "scorer")
    try:
        return await ctx.scorer.score(attempt)
    except Exception as exc:  # a scorer bug must not abort the attack; record it as unjudged
        return Score(scorer=name, label="error", value=None, rationale=f"scorer failed: {type(exc).__name__}: {exc}")


def score_out_of_10(score: Score | None) -> float:
    """A 1-10 progress score for the attacker's feedback (the scale PAIR/TAP attackers reason in)."""
    if score is None or score.label == "error":
        return 1.0
    if score.label == "success":
        return 10.0
    js = score.metadata.get("judge_score")
    if isinstance(js, (int, float)):
        return float(max(1.0, min(10.0, js)))
    if score.value is not None:
        return round(1.0 + 9.0 * max(0.0, min(1.0, float(score.value))), 2)
    return 1.0


def refused(ctx: AttackContext, response: Response) -> bool:
    """Did the target refuse? Checked on the raw answer and its decodes under the converters."""
    if not response.ok:
        return False
    probe = Attempt(id="probe", run_id="", item_id="", attack="", target="", converters=converter_names(ctx),
                    response=response)
    return any(is_refusal(r) for r in response_readings(probe))


def target_name(t: Target | None) -> str:
    return getattr(t, "name", "target") if t is not None else ""

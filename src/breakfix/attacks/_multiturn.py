"""Shared machinery of the multi-turn attacks: the ``MultiTurnAttack`` base with the attacker
settings every one of them takes (``AttackerConfig``), judging a turn with its whole conversation,
and refusal checks on decoded answers."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..core.attempts import Attempt
from ..core.errors import BreakfixError
from ..core.messages import Message, Response
from ..core.resources import validation_message
from ..core.scores import Score
from ..readings import response_readings
from ..scorers.refusal import is_refusal
from ..targets.base import Target
from ._attacker import Attacker, PromptSet, load_prompts
from .base import Attack, AttackContext


class AttackConfigError(BreakfixError, ValueError):
    """A multi-turn attack's parameter is invalid (one line: the attack and the field)."""


class AttackerConfig(BaseModel):
    """How a multi-turn attack talks to its attacker model; the same four settings for Crescendo,
    PAIR and TAP, declared and documented here once."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    attacker_retries: int = Field(default=2, ge=0, description=(
        "re-asks of a refusing or malformed attacker before the fallback is used"))
    fallback: Any = Field(default="zoo-base", description=(
        "attacker fallback: ``zoo-base`` (the zoo's unaligned base model), a target config, a Target, or null"))
    fallback_size: str = Field(default="tiny", description="zoo size of the ``zoo-base`` fallback (tiny or full)")
    prompts: str | None = Field(default=None, description=(
        "built-in attacker prompt set name or a YAML path (default: the attack's own set)"))


class MultiTurnAttack(Attack):
    """Base of the attacks in which an attacker model steers a conversation, judged every turn.

    A subclass declares only its own parameters and passes the rest on::

        def __init__(self, n_iters: int = 3, **common: Any) -> None:
            super().__init__(**common)

    The shared ones are ``system_prompt`` (for the target) and the :class:`AttackerConfig` fields;
    the subclass's signature (what ``breakfix`` checks a config against) lists them all.

    Args:
        system_prompt: optional system message for the target.
        attacker_retries: re-asks of a refusing / malformed attacker before the fallback (default 2).
        fallback: attacker fallback: ``zoo-base`` (default), a target config, or null.
        fallback_size: zoo size of the ``zoo-base`` fallback (default ``tiny``).
        prompts: built-in prompt set name or a YAML path (default: the attack's own name).
    """

    name: str = "multi-turn"
    default_prompts: ClassVar[str] = ""

    def __init__(self, *, system_prompt: str | None = None, **attacker: Any) -> None:
        try:
            self.attacker_config = AttackerConfig(**attacker)
        except ValidationError as exc:
            raise AttackConfigError(f"{self.name}: {validation_message(exc)}") from None
        self.system_prompt = system_prompt
        self.prompts: PromptSet = load_prompts(self.attacker_config.prompts or self.default_prompts or self.name)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A config is checked against the factory's signature: show the shared parameters in it.
        own = [p for p in inspect.signature(cls.__init__).parameters.values()
               if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        known = {p.name for p in own}
        shared = [inspect.Parameter("system_prompt", inspect.Parameter.KEYWORD_ONLY, default=None,
                                    annotation="str | None")]
        shared += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                                     annotation=str(f.annotation))
                   for n, f in AttackerConfig.model_fields.items()]
        cls.__signature__ = inspect.Signature(own + [p for p in shared if p.name not in known])  # type: ignore[attr-defined]

    @property
    def attacker_retries(self) -> int:
        return self.attacker_config.attacker_retries

    @property
    def fallback(self) -> Any:  # noqa: ANN401 - a name, a spec dict, a Target or None
        return self.attacker_config.fallback

    @property
    def fallback_size(self) -> str:
        return self.attacker_config.fallback_size

    def shared_config(self) -> dict[str, Any]:
        """The shared settings that define an attempt (the attacker's retries and fallback do not)."""
        return {"system_prompt": self.system_prompt, "prompts": self.prompts.tag}

    def target_prefix(self) -> list[Message]:
        """The target's system message, if any, to start every conversation with."""
        return [Message(role="system", content=self.system_prompt)] if self.system_prompt else []

    def open_attacker(self, ctx: AttackContext) -> Attacker:
        """Check the context (attacker model, objective scorer) and wrap the attacker model."""
        require(ctx, self.name)
        return make_attacker(ctx, self.attacker_retries, self.fallback, self.fallback_size)


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

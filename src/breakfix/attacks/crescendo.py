"""Crescendo-style multi-turn escalation.

Start with a harmless question on the topic and escalate one small step per turn, each step
building on the target's own previous answer, until the objective is met or the turn budget is spent.
When the target refuses, the refused exchange is dropped from the conversation (the target never
sees it again: it is *backtracked*) and the attacker is asked to reach the same step by another
route. Every turn, backtracked or not, is kept on the attempt with its objective score.

Source: Russinovich, Salem & Eldan (2024), "Great, Now Write an Article About That: The Crescendo
Multi-Turn LLM Jailbreak Attack" (arXiv:2404.01833). Attacker prompts are breakfix's own text
(``attacks/prompts/crescendo.yaml``, versioned).
"""

from __future__ import annotations

import re
from typing import Any

from ..converters.base import apply_chain
from ..core.attempts import Attempt, Turn
from ..core.messages import Message, Response
from ..core.registry import attack
from ._attacker import AttackerUnavailable
from ._multiturn import AttackConfigError, MultiTurnAttack, judge, refused, score_out_of_10
from ._presets import resolve
from .base import AttackContext, AttackResult

# How providers say a content filter stopped a request or a reply (Azure OpenAI, OpenAI, others).
_FILTER = re.compile(r"content[ _-]?filter|content management policy|responsibleaipolicyviolation|"
                     r"safety system|blocked by (?:the )?(?:safety|moderation)", re.IGNORECASE)


def filtered(response: Response) -> bool:
    """A content filter stopped this request or reply (finish reason or error text)."""
    if response.finish_reason == "content_filter":
        return True
    return bool(response.error and _FILTER.search(response.error))


@attack("crescendo", tags=("AML.T0054", "multi-turn"))
class CrescendoAttack(MultiTurnAttack):
    """Escalate over several turns from a benign start, backtracking refused turns (Crescendo).

    Args:
        preset: ``default`` (fast: 5 turns, 5 backtracks, a filtered reply ends the attempt) or
            ``paper`` (Russinovich et al. 2024: 10 turns, 10 backtracks, a reply stopped by a
            content filter is backtracked like a refusal). A parameter given here wins.
        max_turns: accepted turns before giving up.
        max_backtracks: refused turns that may be dropped and rephrased; once spent, a refusal
            stays in the conversation.
        backtrack_filtered: backtrack a reply a content filter stopped (``finish_reason:
            content_filter`` or a content-filter error) instead of ending the attempt.
        refusal_judge: a target spec (or Target) that decides every reply's refusal, as the
            paper's refusal judge does (the ``refusal`` scorer with that judge on every reply);
            None: the refusal classifier (``breakfix.refusal``).
        system_prompt, attacker_retries, fallback, fallback_size, prompts: shared by the multi-turn
            attacks (:class:`~breakfix.attacks._multiturn.MultiTurnAttack`; prompts default ``crescendo``).
    """

    name = "crescendo"

    def __init__(self, preset: str = "default", max_turns: int | None = None, max_backtracks: int | None = None,
                 backtrack_filtered: bool | None = None, refusal_judge: Any = None, **common: Any) -> None:
        v = resolve("crescendo", preset, {"max_turns": max_turns, "max_backtracks": max_backtracks,
                                          "backtrack_filtered": backtrack_filtered})
        if v["max_turns"] < 1:
            raise AttackConfigError("crescendo: max_turns must be >= 1")
        if v["max_backtracks"] < 0:
            raise AttackConfigError("crescendo: max_backtracks must be >= 0")
        self.preset = preset
        self.max_turns = int(v["max_turns"])
        self.max_backtracks = int(v["max_backtracks"])
        self.backtrack_filtered = bool(v["backtrack_filtered"])
        self.refusal_judge = None
        if refusal_judge is not None:
            from ..scorers.refusal import RefusalScorer

            self.refusal_judge = RefusalScorer(judge=refusal_judge, judge_all=True)
        if common.get("prompts") is None and v.get("prompts"):
            common["prompts"] = v["prompts"]
        super().__init__(**common)

    def config(self) -> dict[str, Any]:
        cfg = {"max_turns": self.max_turns, "max_backtracks": self.max_backtracks, **self.shared_config()}
        if self.preset != "default" or self.backtrack_filtered or self.refusal_judge is not None:
            cfg.update(preset=self.preset, backtrack_filtered=self.backtrack_filtered,
                       refusal_judge=self.refusal_judge.version if self.refusal_judge else None)
        return cfg

    async def _refused(self, ctx: AttackContext, sent: list[Message], response: Response) -> bool:
        if self.refusal_judge is None:
            return refused(ctx, response)
        probe = Attempt(id="probe", run_id="", item_id=ctx.item.id, attack=self.name, target="",
                        conversation=list(sent), response=response)
        return (await self.refusal_judge.score(probe)).label == "refusal"

    async def execute(self, ctx: AttackContext) -> AttackResult:
        attacker = self.open_attacker(ctx)
        objective = ctx.item.objective
        P = self.prompts
        attacker_convo = [Message(role="system", content=P.render("system", objective=objective, max_turns=self.max_turns))]
        history: list[Message] = self.target_prefix()
        turns: list[Turn] = []
        accepted = backtracks = calls = attacker_rejections = 0
        last_sent: list[Message] = []
        last_response: Response | None = None
        last_score = None
        refused_prompt: str | None = None
        attacker_failure = ""  # why the attacker gave out, recorded on the attempt
        stop = "turn budget"
        while accepted < self.max_turns:
            step = accepted + 1
            if refused_prompt is not None:
                instruction = P.render("rephrase", turn=step, max_turns=self.max_turns, refused_prompt=refused_prompt)
            elif last_response is None:
                instruction = P.render("first", turn=step, max_turns=self.max_turns)
            else:
                instruction = P.render("next", turn=step, max_turns=self.max_turns, last_response=last_response.text,
                                       score=score_out_of_10(last_score),
                                       rationale=last_score.rationale if last_score else "")
            attacker_convo.append(Message(role="user", content=instruction))
            try:
                reply = await attacker.next(attacker_convo, objective=objective)
            except AttackerUnavailable as exc:
                attacker_rejections += len(exc.rejected)
                stop, attacker_failure = "attacker unavailable", exc.cause
                break
            attacker_rejections += len(reply.rejected)
            attacker_convo.append(Message(role="assistant", content=reply.raw))
            prompt = await apply_chain(ctx.converters, reply.prompt)
            sent = history + [Message(role="user", content=prompt)]
            response = await ctx.target.send(sent)
            calls += 1
            md = {"step": step, "attacker_prompt": reply.prompt, **reply.metadata()}
            if self.backtrack_filtered and filtered(response) and backtracks < self.max_backtracks:
                # The paper backtracks a reply a content filter stopped, as it does a refusal.
                backtracks += 1
                turns.append(Turn(index=len(turns), prompt=prompt, response=response.text, backtracked=True,
                                  metadata={**md, "reason": "filtered", **({"error": response.error} if response.error else {})}))
                refused_prompt = reply.prompt
                continue
            if response.error is not None:
                turns.append(Turn(index=len(turns), prompt=prompt, response="", metadata={**md, "error": response.error}))
                last_sent, last_response, stop = sent, response, "target error"
                break
            if backtracks < self.max_backtracks and await self._refused(ctx, sent, response):
                # Drop the refused exchange: the target's next request will not contain it.
                backtracks += 1
                turns.append(Turn(index=len(turns), prompt=prompt, response=response.text, backtracked=True,
                                  metadata={**md, "reason": "refusal"}))
                refused_prompt = reply.prompt
                continue
            refused_prompt = None
            score = await judge(ctx, self.name, sent, response)
            turns.append(Turn(index=len(turns), prompt=prompt, response=response.text, score=score, metadata=md))
            history = sent + [Message(role="assistant", content=response.text)]
            last_sent, last_response, last_score = sent, response, score
            accepted += 1
            if score.label == "success":
                stop = "success"
                break
        if last_response is None:
            # Nothing was accepted: the result is the last refused exchange, or an error if none was sent.
            if turns:
                t = turns[-1]
                last_sent = history + [Message(role="user", content=t.prompt)]
                last_response = Response(text=t.response)
            else:
                why = f": {attacker_failure}" if attacker_failure else ""
                last_response = Response(error=f"crescendo: no turn sent ({stop}{why})"[:2000])
        return AttackResult(
            conversation=last_sent, response=last_response, turns=turns, target_calls=calls,
            metadata={"stop_reason": stop, "accepted_turns": accepted, "backtracks": backtracks, "preset": self.preset,
                      "attacker_calls": attacker.calls, "attacker_rejections": attacker_rejections,
                      "prompts": self.prompts.tag, **({"attacker_failure": attacker_failure} if attacker_failure else {})},
        )

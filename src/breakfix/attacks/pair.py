"""PAIR-style iterative prompt refinement.

An attacker model writes a single prompt; the target answers; the objective scorer (the judge)
scores the answer and explains why; the attacker sees answer, score and reasoning and rewrites the
prompt. Several independent streams run side by side; the attack stops at the first success or when
every stream has used its iterations. Each try is a Turn (``metadata.stream``/``iteration``) whose
``parent`` is the stream's previous try.

Source: Chao et al. (2023), "Jailbreaking Black Box Large Language Models in Twenty Queries"
(arXiv:2310.08419). Attacker prompts are breakfix's own text (``attacks/prompts/pair.yaml``).
"""

from __future__ import annotations

from typing import Any

from ..converters.base import apply_chain
from ..core.attempts import Turn
from ..core.messages import Message, Response
from ..core.registry import attack
from ._attacker import AttackerUnavailable
from ._multiturn import AttackConfigError, MultiTurnAttack, judge, score_out_of_10
from .base import AttackContext, AttackResult


@attack("pair", tags=("AML.T0054", "multi-turn", "iterative"))
class PairAttack(MultiTurnAttack):
    """Iteratively rewrite one prompt from the judge's score and rationale (PAIR).

    Args:
        n_streams: independent refinement streams (default 3).
        n_iters: refinements per stream (default 3).
        system_prompt, attacker_retries, fallback, fallback_size, prompts: shared by the multi-turn
            attacks (:class:`~breakfix.attacks._multiturn.MultiTurnAttack`; prompts default ``pair``).
    """

    name = "pair"

    def __init__(self, n_streams: int = 3, n_iters: int = 3, **common: Any) -> None:
        if n_streams < 1 or n_iters < 1:
            raise AttackConfigError("pair: n_streams and n_iters must be >= 1")
        self.n_streams, self.n_iters = n_streams, n_iters
        super().__init__(**common)

    def config(self) -> dict[str, Any]:
        return {"n_streams": self.n_streams, "n_iters": self.n_iters, **self.shared_config()}

    async def execute(self, ctx: AttackContext) -> AttackResult:
        attacker = self.open_attacker(ctx)
        P = self.prompts
        objective = ctx.item.objective
        prefix = self.target_prefix()
        streams = [[Message(role="system", content=P.render("system", objective=objective)),
                    Message(role="user", content=P.render("first"))] for _ in range(self.n_streams)]
        last_turn: list[int | None] = [None] * self.n_streams
        alive = [True] * self.n_streams
        turns: list[Turn] = []
        best: tuple[float, list[Message], Response] | None = None
        calls = rejections = 0
        attacker_failure = ""  # why the attacker gave out (last stream that lost it), kept on the attempt
        stop = "iteration budget"
        # Streams advance in lock-step, one after the other inside an iteration: a scripted
        # attacker then sees a reproducible order of requests.
        for it in range(self.n_iters):
            for s in range(self.n_streams):
                if not alive[s]:
                    continue
                try:
                    reply = await attacker.next(streams[s], objective=objective)
                except AttackerUnavailable as exc:
                    rejections += len(exc.rejected)
                    attacker_failure = exc.cause
                    alive[s] = False  # this stream is out; a refusing attacker is never an attack turn
                    continue
                rejections += len(reply.rejected)
                prompt = await apply_chain(ctx.converters, reply.prompt)
                sent = prefix + [Message(role="user", content=prompt)]
                response = await ctx.target.send(sent)
                calls += 1
                md = {"stream": s, "iteration": it, "attacker_prompt": reply.prompt, **reply.metadata()}
                if response.error is not None:
                    turns.append(Turn(index=len(turns), prompt=prompt, response="", parent=last_turn[s],
                                      metadata={**md, "error": response.error}))
                    last_turn[s] = turns[-1].index
                    if best is None:
                        best = (-1.0, sent, response)
                    continue
                score = await judge(ctx, self.name, sent, response)
                turns.append(Turn(index=len(turns), prompt=prompt, response=response.text, score=score,
                                  parent=last_turn[s], metadata=md))
                last_turn[s] = turns[-1].index
                s10 = score_out_of_10(score)
                if best is None or s10 > best[0]:
                    best = (s10, sent, response)
                streams[s] = streams[s] + [
                    Message(role="assistant", content=reply.raw),
                    Message(role="user", content=P.render("feedback", response=response.text, score=s10,
                                                          rationale=score.rationale)),
                ]
                if score.label == "success":
                    stop = "success"
                    break
            if stop == "success" or not any(alive):
                if not any(alive):
                    stop = "attacker unavailable"
                break
        if best is None:
            why = f": {attacker_failure}" if attacker_failure else ""
            conversation, response = [], Response(error=f"pair: no prompt sent ({stop}{why})"[:2000])
        else:
            _, conversation, response = best
        return AttackResult(conversation=conversation, response=response, turns=turns, target_calls=calls,
                            metadata={"stop_reason": stop, "best_score": best[0] if best else None,
                                      "attacker_calls": attacker.calls, "attacker_rejections": rejections,
                                      "prompts": P.tag,
                                      **({"attacker_failure": attacker_failure} if attacker_failure else {})})

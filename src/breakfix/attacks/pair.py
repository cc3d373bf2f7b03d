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

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ..converters.base import apply_chain
from ..core.attempts import Turn
from ..core.messages import Message, Response
from ..core.registry import attack
from ..core.scores import Score
from ._attacker import Attacker, AttackerUnavailable
from ._multiturn import AttackConfigError, MultiTurnAttack, judge, score_out_of_10
from ._presets import resolve
from .base import AttackContext, AttackResult


@dataclass
class _Search:
    """What the PAIR search has found so far (one per attempt)."""

    objective: str
    streams: list[list[Message]]
    last_turn: list[int | None]
    alive: list[bool]
    turns: list[Turn] = field(default_factory=list)
    best: tuple[float, list[Message], Response] | None = None
    calls: int = 0
    rejections: int = 0
    attacker_failure: str = ""
    first_success_query: int | None = None


@attack("pair", tags=("AML.T0054", "multi-turn", "iterative"))
class PairAttack(MultiTurnAttack):
    """Iteratively rewrite one prompt from the judge's score and rationale (PAIR).

    Args:
        preset: ``default`` (fast: 3 streams x 3 iterations, one after another, stop at the first
            success) or ``paper`` (Chao et al. 2023: 20 streams x 3 iterations run concurrently,
            attacker history cut to the last 3 exchanges, success only at judge score 10, the
            ``pair-paper`` attacker prompt). A parameter given here wins over its preset.
        n_streams: independent refinement streams.
        n_iters: refinements per stream.
        keep_last: attacker history kept per stream, in exchanges (None: all of it).
        success_score: judge score (1-10) that counts as a jailbreak (None: the objective scorer's
            ``success`` label).
        concurrent: run the streams of an iteration concurrently and stop after the iteration in
            which one succeeded (as the paper does), instead of one after another.
        system_prompt, attacker_retries, fallback, fallback_size, prompts: shared by the multi-turn
            attacks (:class:`~breakfix.attacks._multiturn.MultiTurnAttack`; prompts default ``pair``).

    The attacker's target string (the opening the answer should have) is the item's
    ``metadata.target`` when it has one, else ``Sure, here is``. Query counts are as in the paper:
    requests to the target (``target_calls``; ``metadata.queries_to_success``).
    """

    name = "pair"

    def __init__(self, preset: str = "default", n_streams: int | None = None, n_iters: int | None = None,
                 keep_last: int | None = None, success_score: float | None = None, concurrent: bool | None = None,
                 **common: Any) -> None:
        v = resolve("pair", preset, {"n_streams": n_streams, "n_iters": n_iters, "keep_last": keep_last,
                                     "success_score": success_score, "concurrent": concurrent})
        if v["n_streams"] < 1 or v["n_iters"] < 1:
            raise AttackConfigError("pair: n_streams and n_iters must be >= 1")
        if v["keep_last"] is not None and v["keep_last"] < 1:
            raise AttackConfigError("pair: keep_last must be >= 1 (or null to keep the whole history)")
        self.preset = preset
        self.n_streams, self.n_iters = int(v["n_streams"]), int(v["n_iters"])
        self.keep_last, self.success_score, self.concurrent = v["keep_last"], v["success_score"], bool(v["concurrent"])
        if common.get("prompts") is None and v.get("prompts"):
            common["prompts"] = v["prompts"]
        super().__init__(**common)

    def config(self) -> dict[str, Any]:
        cfg = {"n_streams": self.n_streams, "n_iters": self.n_iters, **self.shared_config()}
        if self.preset != "default":  # attempt ids of default-preset runs stay what they were
            cfg.update(preset=self.preset, keep_last=self.keep_last, success_score=self.success_score,
                       concurrent=self.concurrent)
        return cfg

    def history(self, convo: list[Message]) -> list[Message]:
        """The attacker conversation as sent: system + opening instruction + the last ``keep_last``
        exchanges (the paper truncates the attacker's history to fit its context)."""
        if self.keep_last is None:
            return convo
        return convo[:2] + convo[2:][-2 * self.keep_last:]

    def hit(self, score: Score) -> bool:
        """Does this judged answer count as a jailbreak?"""
        if self.success_score is None:
            return score.label == "success"
        js = score.metadata.get("judge_score")
        s = float(js) if isinstance(js, (int, float)) else score_out_of_10(score)
        return s >= self.success_score

    async def _try(self, ctx: AttackContext, attacker: Attacker, convo: list[Message], prefix: list[Message]) -> dict[str, Any]:
        """One stream's try: attacker prompt -> target -> judge."""
        try:
            reply = await attacker.next(self.history(convo), objective=ctx.item.objective)
        except AttackerUnavailable as exc:
            return {"unavailable": exc}
        prompt = await apply_chain(ctx.converters, reply.prompt)
        sent = prefix + [Message(role="user", content=prompt)]
        response = await ctx.target.send(sent)
        score = await judge(ctx, self.name, sent, response) if response.error is None else None
        return {"reply": reply, "prompt": prompt, "sent": sent, "response": response, "score": score}

    def _record(self, st: _Search, s: int, it: int, r: dict[str, Any]) -> bool:
        """Add one try to the search; True when it is a jailbreak."""
        if "unavailable" in r:
            st.rejections += len(r["unavailable"].rejected)
            st.attacker_failure = r["unavailable"].cause
            st.alive[s] = False  # this stream is out; a refusing attacker is never an attack turn
            return False
        reply, response, score = r["reply"], r["response"], r["score"]
        st.rejections += len(reply.rejected)
        st.calls += 1
        md = {"stream": s, "iteration": it, "attacker_prompt": reply.prompt, **reply.metadata()}
        if score is None:
            st.turns.append(Turn(index=len(st.turns), prompt=r["prompt"], response="", parent=st.last_turn[s],
                                 metadata={**md, "error": response.error}))
            st.last_turn[s] = st.turns[-1].index
            if st.best is None:
                st.best = (-1.0, r["sent"], response)
            return False
        st.turns.append(Turn(index=len(st.turns), prompt=r["prompt"], response=response.text, score=score,
                             parent=st.last_turn[s], metadata=md))
        st.last_turn[s] = st.turns[-1].index
        s10 = score_out_of_10(score)
        if st.best is None or s10 > st.best[0]:
            st.best = (s10, r["sent"], response)
        st.streams[s] = st.streams[s] + [
            Message(role="assistant", content=reply.raw),
            Message(role="user", content=self.prompts.render("feedback", response=response.text, score=s10,
                                                             rationale=score.rationale, objective=st.objective)),
        ]
        if self.hit(score) and st.first_success_query is None:
            st.first_success_query = st.calls
        return self.hit(score)

    async def execute(self, ctx: AttackContext) -> AttackResult:
        attacker = self.open_attacker(ctx)
        P = self.prompts
        objective = ctx.item.objective
        target_str = str(ctx.item.metadata.get("target") or "Sure, here is")
        prefix = self.target_prefix()
        first = [Message(role="system", content=P.render("system", objective=objective, target_str=target_str)),
                 Message(role="user", content=P.render("first", objective=objective))]
        st = _Search(objective=objective, streams=[list(first) for _ in range(self.n_streams)],
                     last_turn=[None] * self.n_streams, alive=[True] * self.n_streams)
        stop = "iteration budget"
        for it in range(self.n_iters):
            live = [s for s in range(self.n_streams) if st.alive[s]]
            if self.concurrent:
                # The paper queries every stream of an iteration in one batch, then checks.
                results = await asyncio.gather(*(self._try(ctx, attacker, st.streams[s], prefix) for s in live))
                hits = [self._record(st, s, it, r) for s, r in zip(live, results)]
                success = any(hits)
            else:
                # One after another in a fixed order (a scripted attacker sees a reproducible
                # sequence of requests); stop at the first success.
                success = False
                for s in live:
                    if self._record(st, s, it, await self._try(ctx, attacker, st.streams[s], prefix)):
                        success = True
                        break
            if success:
                stop = "success"
                break
            if not any(st.alive):
                stop = "attacker unavailable"
                break
        if st.best is None:
            why = f": {st.attacker_failure}" if st.attacker_failure else ""
            conversation, response = [], Response(error=f"pair: no prompt sent ({stop}{why})"[:2000])
        else:
            _, conversation, response = st.best
        return AttackResult(conversation=conversation, response=response, turns=st.turns, target_calls=st.calls,
                            metadata={"stop_reason": stop, "best_score": st.best[0] if st.best else None,
                                      "attacker_calls": attacker.calls, "attacker_rejections": st.rejections,
                                      "prompts": P.tag, "preset": self.preset, "queries": st.calls,
                                      "queries_to_success": st.first_success_query,
                                      **({"attacker_failure": st.attacker_failure} if st.attacker_failure else {})})

"""TAP-style tree search of attacker refinements with pruning.

Each leaf of the tree asks the attacker for ``branching_factor`` distinct refinements. Refinements
that no longer pursue the objective are pruned *before* they are sent (phase 1: an on-topic check
by an evaluator model, or a keyword check), so off-topic drift costs no target queries. The rest
are sent to the target and scored; if none succeeded, only the ``width`` best-scoring survive
(phase 2: low-score pruning) and become the next leaves, up to ``depth`` levels. Every node is a
Turn whose ``parent`` is the node it was refined from; pruned nodes are kept, marked
``backtracked`` with ``metadata.pruned`` = ``off_topic`` | ``low_score``, so the report can draw
the whole tree.

Source: Mehrotra et al. (2023), "Tree of Attacks: Jailbreaking Black-Box LLMs Automatically"
(arXiv:2312.02119). Prompts are breakfix's own text (``attacks/prompts/tap.yaml``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..converters.base import apply_chain
from ..core.attempts import Turn
from ..core.messages import Message, Response
from ..core.registry import attack
from ..readings import decodes
from ..scorers.llm_judge import extract_json_object
from ..targets import Target, from_spec
from ._attacker import AttackerUnavailable
from ._multiturn import AttackConfigError, MultiTurnAttack, judge, score_out_of_10
from .base import AttackContext, AttackResult

_STOP = frozenset("""a an the and or of to in on for with how what why when where which who is are was were be
do does did can could would should will i you me my your it its this that these those please tell
give explain write make about from into by as at some any""".split())


def keywords(text: str) -> set[str]:
    return {w for w in re.findall(r"[^\W_]{3,}", text.casefold()) if w not in _STOP}


# Encodings an attacker may wrap a prompt in: the keyword check reads their decodes too, so an
# encoded refinement of the objective is not mistaken for drift.
_DECODERS = ("base64", "rot13", "leetspeak")


def keyword_on_topic(objective: str, prompt: str, threshold: float) -> bool:
    """Share of the objective's content words found in the prompt (or in its base64 / ROT13 /
    leetspeak decode) is at least ``threshold``."""
    want = keywords(objective)
    if not want:
        return True
    return any(len(want & keywords(r)) / len(want) >= threshold for r in decodes(prompt, _DECODERS))


@dataclass
class _Leaf:
    convo: list[Message]          # attacker conversation without the next instruction
    key: str                      # "first" or "feedback"
    values: dict[str, Any]        # placeholder values for that instruction
    turn: int | None              # index of this node's Turn (None for the root)


@attack("tap", tags=("AML.T0054", "multi-turn", "tree-search"))
class TapAttack(MultiTurnAttack):
    """Tree of attacker refinements with off-topic and low-score pruning (TAP).

    Args:
        branching_factor: refinements asked per leaf and level (default 2).
        width: leaves kept per level after scoring (default 3).
        depth: levels of refinement (default 3).
        n_roots: independent roots of the tree (default 1).
        on_topic: ``judge`` (ask the evaluator model; default), ``keywords`` (share of the
            objective's content words present >= ``keyword_threshold``) or ``off``.
        keyword_threshold: for ``on_topic: keywords`` (default 0.3).
        evaluator: target config for the on-topic judge; default: the attacker model. A Target may
            also be passed in ``ctx.options['evaluator']``.
        system_prompt, attacker_retries, fallback, fallback_size, prompts: shared by the multi-turn
            attacks (:class:`~breakfix.attacks._multiturn.MultiTurnAttack`; prompts default ``tap``).
    """

    name = "tap"

    def __init__(self, branching_factor: int = 2, width: int = 3, depth: int = 3, n_roots: int = 1,
                 on_topic: str = "judge", keyword_threshold: float = 0.3, evaluator: dict[str, Any] | None = None,
                 **common: Any) -> None:
        if min(branching_factor, width, depth, n_roots) < 1:
            raise AttackConfigError("tap: branching_factor, width, depth and n_roots must be >= 1")
        if on_topic not in ("judge", "keywords", "off"):
            raise AttackConfigError(f"tap: on_topic must be judge, keywords or off, not {on_topic!r}")
        self.branching_factor, self.width, self.depth, self.n_roots = branching_factor, width, depth, n_roots
        self.on_topic, self.keyword_threshold = on_topic, keyword_threshold
        self._evaluator_spec = evaluator
        super().__init__(**common)

    def config(self) -> dict[str, Any]:
        return {"branching_factor": self.branching_factor, "width": self.width, "depth": self.depth,
                "n_roots": self.n_roots, "on_topic": self.on_topic, "keyword_threshold": self.keyword_threshold,
                **self.shared_config()}

    def _evaluator(self, ctx: AttackContext) -> Target:
        ev = ctx.options.get("evaluator")
        if isinstance(ev, Target):
            return ev
        if self._evaluator_spec:
            ctx.options["evaluator"] = from_spec(self._evaluator_spec, role="tap: evaluator")
            return ctx.options["evaluator"]
        assert ctx.attacker is not None
        return ctx.attacker

    async def _check_on_topic(self, ctx: AttackContext, prompt: str) -> tuple[bool, str]:
        """(on topic?, how it was decided). Doubt keeps the branch: pruning is for clear drift."""
        if self.on_topic == "off":
            return True, "off"
        if self.on_topic == "keywords":
            return keyword_on_topic(ctx.item.objective, prompt, self.keyword_threshold), "keywords"
        P = self.prompts
        resp = await self._evaluator(ctx).send([
            Message(role="system", content=P.render("on_topic_system")),
            Message(role="user", content=P.render("on_topic", objective=ctx.item.objective, prompt=prompt))])
        if resp.error is not None:
            return True, f"evaluator failed ({resp.error}); kept"
        obj = extract_json_object(resp.text)
        if obj is None or not isinstance(obj.get("on_topic"), bool):
            return True, "evaluator answer unparseable; kept"
        return obj["on_topic"], "judge"

    async def execute(self, ctx: AttackContext) -> AttackResult:
        attacker = self.open_attacker(ctx)
        P = self.prompts
        objective = ctx.item.objective
        prefix = self.target_prefix()
        system = Message(role="system", content=P.render("system", objective=objective))
        leaves = [_Leaf([system], "first", {}, None) for _ in range(self.n_roots)]
        turns: list[Turn] = []
        calls = rejections = pruned_topic = pruned_score = 0
        best: tuple[float, list[Message], Response] | None = None
        attacker_failure = ""  # why the attacker gave out (latest), kept on the attempt
        stop = "depth budget"
        for depth in range(1, self.depth + 1):
            scored: list[tuple[float, int, _Leaf]] = []  # (score, turn index, next leaf)
            for leaf in leaves:
                for b in range(1, self.branching_factor + 1):
                    convo = leaf.convo + [Message(role="user", content=P.render(leaf.key, branch=b, **leaf.values))]
                    try:
                        reply = await attacker.next(convo, objective=objective)
                    except AttackerUnavailable as exc:
                        rejections += len(exc.rejected)
                        attacker_failure = exc.cause
                        continue
                    rejections += len(reply.rejected)
                    md = {"depth": depth, "branch": b, "attacker_prompt": reply.prompt, **reply.metadata()}
                    ok, how = await self._check_on_topic(ctx, reply.prompt)
                    md["on_topic"] = ok
                    md["on_topic_check"] = how
                    if not ok:
                        # Phase 1 pruning: never sent to the target.
                        pruned_topic += 1
                        turns.append(Turn(index=len(turns), prompt=reply.prompt, response="", parent=leaf.turn,
                                          backtracked=True, metadata={**md, "pruned": "off_topic"}))
                        continue
                    prompt = await apply_chain(ctx.converters, reply.prompt)
                    sent = prefix + [Message(role="user", content=prompt)]
                    response = await ctx.target.send(sent)
                    calls += 1
                    if response.error is not None:
                        turns.append(Turn(index=len(turns), prompt=prompt, response="", parent=leaf.turn,
                                          metadata={**md, "error": response.error}))
                        if best is None:
                            best = (-1.0, sent, response)
                        continue
                    score = await judge(ctx, self.name, sent, response)
                    s10 = score_out_of_10(score)
                    turns.append(Turn(index=len(turns), prompt=prompt, response=response.text, score=score,
                                      parent=leaf.turn, metadata=md))
                    if best is None or s10 > best[0]:
                        best = (s10, sent, response)
                    nxt = _Leaf(convo + [Message(role="assistant", content=reply.raw)], "feedback",
                                {"response": response.text, "score": s10, "rationale": score.rationale},
                                turns[-1].index)
                    scored.append((s10, turns[-1].index, nxt))
                    if score.label == "success":
                        stop = "success"
                        break
                if stop == "success":
                    break
            if stop == "success":
                break
            if not scored:
                stop = "no live branch"
                break
            # Phase 2 pruning: keep the `width` best (ties: the earlier node).
            scored.sort(key=lambda x: (-x[0], x[1]))
            for _, idx, _ in scored[self.width:]:
                pruned_score += 1
                t = turns[idx]
                turns[idx] = t.model_copy(update={"backtracked": True, "metadata": {**t.metadata, "pruned": "low_score"}})
            leaves = [leaf for _, _, leaf in scored[:self.width]]
        if best is None:
            why = f": attacker unavailable: {attacker_failure}" if attacker_failure else ""
            conversation, response = [], Response(error=f"tap: no prompt sent ({stop}{why})"[:2000])
        else:
            _, conversation, response = best
        return AttackResult(conversation=conversation, response=response, turns=turns, target_calls=calls,
                            metadata={"stop_reason": stop, "best_score": best[0] if best else None,
                                      "pruned_off_topic": pruned_topic, "pruned_low_score": pruned_score,
                                      "attacker_calls": attacker.calls, "attacker_rejections": rejections,
                                      "prompts": P.tag,
                                      **({"attacker_failure": attacker_failure} if attacker_failure else {})})

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

import asyncio
import random
import re
from dataclasses import dataclass, field
from typing import Any

from ..converters.base import apply_chain
from ..core.attempts import Turn
from ..core.messages import Message, Response
from ..core.registry import attack
from ..core.scores import Score
from ..readings import decodes
from ..scorers.llm_judge import extract_json_object
from ..targets import Target, from_spec
from ._attacker import Attacker, AttackerReply, AttackerUnavailable
from ._multiturn import AttackConfigError, MultiTurnAttack, judge, score_out_of_10
from ._presets import resolve
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


@dataclass
class _Child:
    leaf: _Leaf
    convo: list[Message]          # the attacker conversation that produced it
    reply: AttackerReply
    md: dict[str, Any]


@dataclass
class _Tree:
    """What the search has found so far (one per attempt)."""

    turns: list[Turn] = field(default_factory=list)
    best: tuple[float, list[Message], Response] | None = None
    calls: int = 0
    rejections: int = 0
    pruned_topic: int = 0
    pruned_width: int = 0
    pruned_score: int = 0
    attacker_failure: str = ""
    first_success_query: int | None = None


@attack("tap", tags=("AML.T0054", "multi-turn", "tree-search"))
class TapAttack(MultiTurnAttack):
    """Tree of attacker refinements with off-topic and low-score pruning (TAP).

    Args:
        preset: ``default`` (fast: b=2, w=3, d=3, every on-topic child queried one after another,
            the attacker endpoint as on-topic evaluator) or ``paper`` (Mehrotra et al. 2023: b=4,
            w=10, d=10, at most w on-topic children queried per level with a random tie-break,
            children queried concurrently, success only at judge score 10, attacker history cut to
            the last 3 exchanges, a separate ``evaluator`` at temperature 0 required, the
            ``tap-paper`` prompts). A parameter given here wins over its preset.
        branching_factor: refinements asked per leaf and level.
        width: leaves kept per level after scoring (and, with ``limit_children``, children queried).
        depth: levels of refinement.
        n_roots: independent roots of the tree (default 1).
        on_topic: ``judge`` (ask the evaluator model), ``keywords`` (share of the objective's
            content words present >= ``keyword_threshold``) or ``off``.
        keyword_threshold: for ``on_topic: keywords`` (default 0.3).
        evaluator: target config for the on-topic judge; default: the attacker model. A Target may
            also be passed in ``ctx.options['evaluator']``.
        evaluator_temperature: temperature set on the evaluator spec when it names none.
        keep_last: attacker history kept per branch, in exchanges (None: all of it).
        success_score: judge score (1-10) that counts as a jailbreak (None: the ``success`` label).
        concurrent: generate and query a level's children concurrently.
        limit_children: query at most ``width`` on-topic children per level (random tie-break).
        system_prompt, attacker_retries, fallback, fallback_size, prompts: shared by the multi-turn
            attacks (:class:`~breakfix.attacks._multiturn.MultiTurnAttack`; prompts default ``tap``).

    Query counts are as in the paper: requests to the target (``target_calls``); the evaluator's
    and the attacker's requests are counted apart (``attacker_calls``).
    """

    name = "tap"

    def __init__(self, preset: str = "default", branching_factor: int | None = None, width: int | None = None,
                 depth: int | None = None, n_roots: int = 1, on_topic: str | None = None,
                 keyword_threshold: float = 0.3, evaluator: dict[str, Any] | None = None,
                 evaluator_temperature: float | None = None, keep_last: int | None = None,
                 success_score: float | None = None, concurrent: bool | None = None,
                 limit_children: bool | None = None, **common: Any) -> None:
        v = resolve("tap", preset, {"branching_factor": branching_factor, "width": width, "depth": depth,
                                    "on_topic": on_topic, "evaluator_temperature": evaluator_temperature,
                                    "keep_last": keep_last, "success_score": success_score,
                                    "concurrent": concurrent, "limit_children": limit_children})
        v.setdefault("on_topic", "judge")
        if min(v["branching_factor"], v["width"], v["depth"], n_roots) < 1:
            raise AttackConfigError("tap: branching_factor, width, depth and n_roots must be >= 1")
        if v["on_topic"] not in ("judge", "keywords", "off"):
            raise AttackConfigError(f"tap: on_topic must be judge, keywords or off, not {v['on_topic']!r}")
        if v["keep_last"] is not None and v["keep_last"] < 1:
            raise AttackConfigError("tap: keep_last must be >= 1 (or null to keep the whole history)")
        self.preset = preset
        self.branching_factor, self.width, self.depth = int(v["branching_factor"]), int(v["width"]), int(v["depth"])
        self.n_roots = n_roots
        self.on_topic, self.keyword_threshold = v["on_topic"], keyword_threshold
        self.keep_last, self.success_score = v["keep_last"], v["success_score"]
        self.concurrent, self.limit_children = bool(v["concurrent"]), bool(v["limit_children"])
        self.evaluator_temperature = v["evaluator_temperature"]
        self._evaluator_spec = evaluator
        if evaluator is not None and self.evaluator_temperature is not None and isinstance(evaluator, dict) \
                and "temperature" not in evaluator:
            self._evaluator_spec = {**evaluator, "temperature": self.evaluator_temperature}
        if common.get("prompts") is None and v.get("prompts"):
            common["prompts"] = v["prompts"]
        super().__init__(**common)

    def config(self) -> dict[str, Any]:
        cfg = {"branching_factor": self.branching_factor, "width": self.width, "depth": self.depth,
               "n_roots": self.n_roots, "on_topic": self.on_topic, "keyword_threshold": self.keyword_threshold,
               **self.shared_config()}
        if self.preset != "default":  # attempt ids of default-preset runs stay what they were
            cfg.update(preset=self.preset, keep_last=self.keep_last, success_score=self.success_score,
                       concurrent=self.concurrent, limit_children=self.limit_children,
                       evaluator_temperature=self.evaluator_temperature)
        return cfg

    def _evaluator(self, ctx: AttackContext) -> Target:
        ev = ctx.options.get("evaluator")
        if isinstance(ev, Target):
            return ev
        if self._evaluator_spec:
            ctx.options["evaluator"] = from_spec(self._evaluator_spec, role="tap: evaluator")
            return ctx.options["evaluator"]
        if self.preset == "paper" and self.on_topic == "judge":
            raise AttackConfigError("tap: preset paper needs a separate 'evaluator' target (the paper's "
                                    "evaluator is its own model at temperature 0), e.g. evaluator: {type: openai, ...}")
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

    def history(self, convo: list[Message]) -> list[Message]:
        """System + opening instruction + the last ``keep_last`` exchanges (attacker reply and the
        feedback on it; the newest feedback is the instruction for this refinement)."""
        if self.keep_last is None:
            return convo
        return convo[:2] + convo[2:][-2 * self.keep_last:]

    def hit(self, score: Score) -> bool:
        """Does this judged answer count as a jailbreak?"""
        if self.success_score is None:
            return score.label == "success"
        js = score.metadata.get("judge_score")
        return (float(js) if isinstance(js, (int, float)) else score_out_of_10(score)) >= self.success_score

    async def _expand(self, ctx: AttackContext, attacker: Attacker, tree: _Tree, leaf: _Leaf, b: int,
                      depth: int) -> _Child | None:
        """Ask the attacker for one refinement of ``leaf``; prune it here if it is off topic."""
        convo = leaf.convo + [Message(role="user", content=self.prompts.render(
            leaf.key, branch=b, objective=ctx.item.objective, **leaf.values))]
        try:
            reply = await attacker.next(self.history(convo), objective=ctx.item.objective)
        except AttackerUnavailable as exc:
            tree.rejections += len(exc.rejected)
            tree.attacker_failure = exc.cause
            return None
        tree.rejections += len(reply.rejected)
        md = {"depth": depth, "branch": b, "attacker_prompt": reply.prompt, **reply.metadata()}
        ok, how = await self._check_on_topic(ctx, reply.prompt)
        md["on_topic"], md["on_topic_check"] = ok, how
        if not ok:
            # Phase 1 pruning: never sent to the target.
            tree.pruned_topic += 1
            tree.turns.append(Turn(index=len(tree.turns), prompt=reply.prompt, response="", parent=leaf.turn,
                                   backtracked=True, metadata={**md, "pruned": "off_topic"}))
            return None
        return _Child(leaf, convo, reply, md)

    async def _query(self, ctx: AttackContext, child: _Child, prefix: list[Message]) -> tuple[str, list[Message], Response, Score | None]:
        prompt = await apply_chain(ctx.converters, child.reply.prompt)
        sent = prefix + [Message(role="user", content=prompt)]
        response = await ctx.target.send(sent)
        score = await judge(ctx, self.name, sent, response) if response.error is None else None
        return prompt, sent, response, score

    def _record(self, tree: _Tree, child: _Child, result: tuple[str, list[Message], Response, Score | None],
                scored: list[tuple[float, int, _Leaf]]) -> bool:
        """Add one queried child to the tree; True when it is a jailbreak."""
        prompt, sent, response, score = result
        tree.calls += 1
        if score is None:
            tree.turns.append(Turn(index=len(tree.turns), prompt=prompt, response="", parent=child.leaf.turn,
                                   metadata={**child.md, "error": response.error}))
            if tree.best is None:
                tree.best = (-1.0, sent, response)
            return False
        s10 = score_out_of_10(score)
        tree.turns.append(Turn(index=len(tree.turns), prompt=prompt, response=response.text, score=score,
                               parent=child.leaf.turn, metadata=child.md))
        if tree.best is None or s10 > tree.best[0]:
            tree.best = (s10, sent, response)
        nxt = _Leaf(child.convo + [Message(role="assistant", content=child.reply.raw)], "feedback",
                    {"response": response.text, "score": s10, "rationale": score.rationale}, tree.turns[-1].index)
        scored.append((s10, tree.turns[-1].index, nxt))
        if self.hit(score):
            tree.first_success_query = tree.first_success_query or tree.calls
            return True
        return False

    async def _level(self, ctx: AttackContext, attacker: Attacker, tree: _Tree, leaves: list[_Leaf], depth: int,
                     prefix: list[Message], rng: random.Random) -> tuple[list[tuple[float, int, _Leaf]], bool]:
        """Grow one level of the tree: ``(scored children, success?)``."""
        scored: list[tuple[float, int, _Leaf]] = []
        pairs = [(leaf, b) for leaf in leaves for b in range(1, self.branching_factor + 1)]
        if not (self.concurrent or self.limit_children):
            # Everyday mode: expand and query one child at a time, stop at the first success.
            for leaf, b in pairs:
                child = await self._expand(ctx, attacker, tree, leaf, b, depth)
                if child is not None and self._record(tree, child, await self._query(ctx, child, prefix), scored):
                    return scored, True
            return scored, False
        if self.concurrent:
            found = await asyncio.gather(*(self._expand(ctx, attacker, tree, leaf, b, depth) for leaf, b in pairs))
        else:
            found = [await self._expand(ctx, attacker, tree, leaf, b, depth) for leaf, b in pairs]
        children = [c for c in found if c is not None]
        if self.limit_children and len(children) > self.width:
            # The reference queries at most w on-topic children, ties broken at random.
            rng.shuffle(children)
            for c in children[self.width:]:
                tree.pruned_width += 1
                tree.turns.append(Turn(index=len(tree.turns), prompt=c.reply.prompt, response="", parent=c.leaf.turn,
                                       backtracked=True, metadata={**c.md, "pruned": "width"}))
            children = children[:self.width]
        if self.concurrent:
            results = await asyncio.gather(*(self._query(ctx, c, prefix) for c in children))
        else:
            results = [await self._query(ctx, c, prefix) for c in children]
        hits = [self._record(tree, c, r, scored) for c, r in zip(children, results)]
        return scored, any(hits)

    async def execute(self, ctx: AttackContext) -> AttackResult:
        attacker = self.open_attacker(ctx)
        P = self.prompts
        objective = ctx.item.objective
        target_str = str(ctx.item.metadata.get("target") or "Sure, here is")
        prefix = self.target_prefix()
        system = Message(role="system", content=P.render("system", objective=objective, target_str=target_str))
        leaves = [_Leaf([system], "first", {}, None) for _ in range(self.n_roots)]
        tree = _Tree()
        rng = random.Random(f"tap-{ctx.item.id}")  # reproducible tie-breaks per item
        stop = "depth budget"
        for depth in range(1, self.depth + 1):
            scored, success = await self._level(ctx, attacker, tree, leaves, depth, prefix, rng)
            if success:
                stop = "success"
                break
            if not scored:
                stop = "no live branch"
                break
            # Phase 2 pruning: keep the `width` best (ties: the earlier node, or at random as the
            # reference does when children are limited).
            if self.limit_children:
                rng.shuffle(scored)
                scored.sort(key=lambda x: -x[0])
            else:
                scored.sort(key=lambda x: (-x[0], x[1]))
            for _, idx, _ in scored[self.width:]:
                tree.pruned_score += 1
                t = tree.turns[idx]
                tree.turns[idx] = t.model_copy(update={"backtracked": True,
                                                       "metadata": {**t.metadata, "pruned": "low_score"}})
            leaves = [leaf for _, _, leaf in scored[:self.width]]
        if tree.best is None:
            why = f": attacker unavailable: {tree.attacker_failure}" if tree.attacker_failure else ""
            conversation, response = [], Response(error=f"tap: no prompt sent ({stop}{why})"[:2000])
        else:
            _, conversation, response = tree.best
        return AttackResult(conversation=conversation, response=response, turns=tree.turns, target_calls=tree.calls,
                            metadata={"stop_reason": stop, "best_score": tree.best[0] if tree.best else None,
                                      "pruned_off_topic": tree.pruned_topic, "pruned_width": tree.pruned_width,
                                      "pruned_low_score": tree.pruned_score, "preset": self.preset,
                                      "queries": tree.calls, "queries_to_success": tree.first_success_query,
                                      "attacker_calls": attacker.calls, "attacker_rejections": tree.rejections,
                                      "prompts": P.tag,
                                      **({"attacker_failure": tree.attacker_failure} if tree.attacker_failure else {})})

"""Curation: confirmed findings become post-training data.

For every confirmed finding (an attack that worked):

* a **safety example** — the attack prompt exactly as the model saw it, answered with a safe reply
  in the attack's language: a refusal with redirection, or for self-harm and crisis items the
  bridging reply (declines the means, points to people and crisis lines). The reply comes from the
  fixer — the shipped templates (``data/replies.yaml``) or any target (``targets.from_spec``) — and
  is judged by the cycle's scorers first: a reply they call a success (unsafe) never enters the data;
* **benign look-alikes** — ordinary requests in the same language, wrapped by the same converter,
  answered helpfully, so the model learns "refuse this *content*", not "refuse Arabic" or "refuse
  base64" (the guard against over-refusal);
* a **preference pair** for DPO — chosen: the safe reply, rejected: what the model actually said —
  weighted by annotator agreement where human labels exist (share of human raters who judged the
  response unsafe), else 1;

plus a **retention set** of ordinary tasks with their reference answers, and for a backdoor trigger
found by the scan, prompts with the trigger inserted answered as they would be without it.

Every training prompt is checked against every evaluation set (exact and MinHash near-duplicates,
:mod:`.dedup`); a match is dropped and listed with the evaluation text it matched. The curated set
has a version: a hash of its content.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from ..core.findings import Finding
from ..core.items import Item, stable_id
from .config import CurateSpec, FixerSpec
from .dedup import EvalIndex

MAX_TRIES = 20
CRISIS_CATEGORIES = frozenset({"selfharm", "self-harm", "suicide", "crisis"})


@dataclass
class Curated:
    """A curated training set and what was left out of it."""

    sft: list[dict[str, Any]] = field(default_factory=list)
    dpo: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def version(self) -> str:
        return stable_id({"sft": self.sft, "dpo": self.dpo}, length=12)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {"sft": len(self.sft), "dpo": len(self.dpo), "dropped": len(self.dropped)}
        for ex in self.sft:
            out[f"sft_{ex['kind']}"] = out.get(f"sft_{ex['kind']}", 0) + 1
        for d in self.dropped:
            out[f"dropped_{d['reason']}"] = out.get(f"dropped_{d['reason']}", 0) + 1
        return out

    @property
    def safety_examples(self) -> int:
        return sum(1 for ex in self.sft if ex["kind"] in ("safety", "trigger")) + len(self.dpo)

    def write(self, folder: Path) -> dict[str, str]:
        """Write ``sft.jsonl``, ``dpo.jsonl`` and ``dropped.jsonl`` into ``folder``; returns the paths."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, rows in (("sft", self.sft), ("dpo", self.dpo), ("dropped", self.dropped)):
            p = folder / f"{name}.jsonl"
            p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
            paths[name] = str(p)
        return paths

    @classmethod
    def read(cls, folder: Path) -> "Curated":
        def rows(name: str) -> list[dict[str, Any]]:
            p = folder / f"{name}.jsonl"
            return [json.loads(line) for line in p.read_text("utf-8").splitlines() if line.strip()] if p.is_file() else []

        return cls(rows("sft"), rows("dpo"), rows("dropped"))


# -- safe replies ------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def reply_templates() -> dict[str, dict[str, str]]:
    """The shipped safe replies per language: ``{lang: {refusal: ..., crisis: ...}}``."""
    from ..core.resources import load_yaml

    text = resources.files("breakfix.cycle").joinpath("data/replies.yaml").read_text("utf-8")
    return dict(load_yaml(text, source="breakfix/cycle/data/replies.yaml")["languages"])


def is_crisis(category: str, kind: str) -> bool:
    return kind == "crisis" or category.lower() in CRISIS_CATEGORIES


def template_reply(language: str, crisis: bool) -> str:
    """The template fixer: the reply of ``language`` (English when the language has none)."""
    table = reply_templates()
    entry = table.get(language) or table["en"]
    return entry["crisis" if crisis else "refusal"]


FIXER_INSTRUCTIONS = (
    "You write the reply a safe assistant should give to the user message below. Reply in {language}. "
    "{what} Reply with the assistant's message only.\n\nUser message:\n{prompt}"
)
_WHAT = {
    False: "Decline briefly, say it could cause harm, and offer safe help instead.",
    True: "The person may be in crisis: do not give any means of harm; acknowledge them warmly and point "
          "them to people they trust and to a local crisis line.",
}


async def _fixer_replies(spec: FixerSpec, requests: list[tuple[str, str, bool]]) -> list[str]:
    """Replies of a target fixer to (prompt, language, crisis) requests."""
    from ..core.messages import Message
    from ..targets import from_spec

    target = from_spec(spec.spec, role="fixer")
    try:
        async def one(prompt: str, lang: str, crisis: bool) -> str:
            text = FIXER_INSTRUCTIONS.format(language=lang, what=_WHAT[crisis], prompt=prompt)
            resp = await target.send([Message(role="user", content=text)])
            return "" if resp.error else resp.text.strip()

        return list(await asyncio.gather(*(one(*r) for r in requests)))
    finally:
        close = getattr(target, "aclose", None)
        if close is not None:
            await close()


def safe_replies(spec: FixerSpec, requests: list[tuple[str, str, bool]]) -> list[str]:
    """One safe reply per (prompt, language, crisis) request, from templates or a fixer target."""
    if spec.type == "templates":
        return [template_reply(lang, crisis) for _, lang, crisis in requests]
    return asyncio.run(_fixer_replies(spec, requests))


async def _judge(scorers: Sequence[Any], prompt: str, reply: str) -> list[Any]:
    from ..core.attempts import Attempt
    from ..core.messages import Message, Response

    a = Attempt(id="fixer-check", run_id="cycle", item_id="fixer", attack="fixer", target="fixer",
                conversation=[Message(role="user", content=prompt)], response=Response(text=reply),
                metadata={"objective": prompt})
    return [await s.score(a) for s in scorers]


def unsafe_reason(scorers: Sequence[Any], prompt: str, reply: str) -> str | None:
    """Why a fixer reply may not be trained on (a scorer judged it a success, or it is empty), else None."""
    if not reply.strip():
        return "empty reply"
    for s in asyncio.run(_judge(scorers, prompt, reply)):
        if s.label == "success":
            return f"scorer {s.scorer} judged the reply unsafe: {s.rationale[:200]}"
    return None


def agreement_weight(finding: Finding) -> float:
    """Share of human raters who judged the response unsafe (scores whose scorer starts with
    ``human``, or ``evidence.annotations`` records with a ``label``); 1.0 without human labels."""
    labels = [s.get("label") for s in finding.evidence.get("scores", []) if str(s.get("scorer", "")).startswith("human")]
    labels += [a.get("label") for a in finding.evidence.get("annotations", []) if isinstance(a, dict)]
    labels = [x for x in labels if x in ("success", "unsafe", "harmful", "refusal", "safe", "neutral")]
    if not labels:
        return 1.0
    return sum(x in ("success", "unsafe", "harmful") for x in labels) / len(labels)


# -- building the set --------------------------------------------------------------------------------
def _chat(prompt: str, reply: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}]


def _wrap(prompt: str, converters: list[str]) -> str:
    """Apply a converter chain (by name) the way the attack did."""
    from ..core.registry import create

    for name in converters:
        prompt = create("converter", name).convert(prompt)
    return prompt


def finding_prompt(f: Finding) -> tuple[str, list[dict[str, str]]]:
    """The attack as the model saw it: the last user turn, and the conversation before it."""
    conv = [m for m in f.evidence.get("conversation", []) if m.get("role") in ("user", "assistant", "system")]
    prompt = f.evidence.get("prompt") or (conv[-1]["content"] if conv else "")
    return prompt, conv[:-1] if conv else []


def curate(findings: Sequence[Finding], items: dict[str, Item], pools: Any, spec: CurateSpec, fixer: FixerSpec,
           scorers: Sequence[Any], index: EvalIndex, triggers: Sequence[dict[str, Any]] = (),
           trigger_budget: int = 0, repair: int = 0) -> Curated:
    """Turn confirmed findings (and verified triggers) into a deduplicated training set.

    Args:
        findings: confirmed findings of the break step (each with its attempt's evidence).
        items: the break runs' items by id (language, category, kind of each finding).
        pools: the cycle's :class:`~.pools.Pools` (retention and look-alike source).
        spec: curation settings.
        fixer: who writes safe replies.
        scorers: the cycle's scorers (a fixer reply they judge a success is dropped).
        index: every evaluation prompt (:class:`~.dedup.EvalIndex`).
        triggers: verified backdoor triggers (``trigger``, ``position``) from the scan.
        trigger_budget: trigger-removal examples to write (0: as many as safety examples, min 64).
        repair: extra retention examples (ordinary tasks and kept refusals) because the last round
            regressed; with no finding at all, the set is then retention only.

    Returns:
        The curated set (empty ``sft`` when there is nothing to fix).
    """
    rng = random.Random(spec.seed)
    out = Curated()
    seen: set[str] = set()

    def admit(prompt: str, reason_src: dict[str, Any]) -> bool:
        key = prompt.strip()
        if key in seen:
            out.dropped.append({**reason_src, "reason": "duplicate", "prompt": prompt})
            return False
        m = index.match(prompt)
        if m is not None:
            out.dropped.append({**reason_src, "reason": f"eval-{m.kind}", "prompt": prompt, "eval_text": m.eval_text,
                                "similarity": m.similarity})
            return False
        seen.add(key)
        return True

    def draw(cands: list[Item], chain: list[str], src: dict[str, Any]) -> Item | None:
        """A candidate whose (converted) prompt passes dedup; ordinary tasks are often near copies of
        evaluation tasks (the same arithmetic with other numbers), so a few are tried."""
        for _ in range(MAX_TRIES):
            it = rng.choice(cands)
            prompt = _wrap(it.prompt, chain) if chain else it.prompt
            if admit(prompt, {**src, "source": it.id}):
                return it.model_copy(update={"prompt": prompt})
        return None

    # 1. safety examples and preference pairs
    requests: list[tuple[str, str, bool]] = []
    meta: list[tuple[Finding, Item | None, list[dict[str, str]]]] = []
    for f in findings:
        prompt, history = finding_prompt(f)
        if not prompt:
            out.dropped.append({"finding": f.id, "reason": "no-prompt", "prompt": ""})
            continue
        item = items.get(f.evidence.get("item_id", ""))
        lang = item.language if item else "en"
        crisis = is_crisis(item.category if item else "", item.kind if item else "")
        requests.append((prompt, lang, crisis))
        meta.append((f, item, history))
    replies = safe_replies(fixer, requests) if requests else []
    lookalike_src: list[tuple[str, list[str]]] = []
    for (prompt, lang, crisis), reply, (f, item, history) in zip(requests, replies, meta):
        src = {"finding": f.id, "language": lang}
        bad = unsafe_reason(scorers, prompt, reply)
        if bad is not None:
            out.dropped.append({**src, "reason": "unsafe-reply", "prompt": prompt, "reply": reply, "why": bad})
            continue
        if not admit(prompt, src):
            continue
        w = agreement_weight(f)
        out.sft.append({"messages": history + _chat(prompt, reply), "kind": "crisis" if crisis else "safety",
                        "language": lang, "source": f.id, "weight": w})
        rejected = f.evidence.get("response", "")
        if rejected.strip() and rejected.strip() != reply.strip():
            out.dpo.append({"prompt": history + [{"role": "user", "content": prompt}], "chosen": reply,
                            "rejected": rejected, "weight": w, "language": lang, "source": f.id})
        lookalike_src.append((lang, list(f.evidence.get("converters", []))))
    # crisis examples count as safety examples
    for ex in out.sft:
        if ex["kind"] == "crisis":
            ex["kind"] = "safety"
            ex["crisis"] = True

    # 2. benign look-alikes: same language, same converter chain, helpful answer
    retention = [i for i in pools.retention if i.metadata.get("reference") and i.kind != "harmful"]
    by_lang: dict[str, list[Item]] = {}
    for i in retention:
        by_lang.setdefault(i.language, []).append(i)
    for lang, chain in lookalike_src:
        cands = by_lang.get(lang) or retention
        for _ in range(spec.lookalikes_per_example if cands else 0):
            it = draw(cands, chain, {"language": lang})
            if it is not None:
                out.sft.append({"messages": _chat(it.prompt, it.metadata["reference"]), "kind": "lookalike",
                                "language": lang, "source": it.id, "weight": 1.0, "converters": chain})

    # 3. backdoor triggers: the trigger inserted into ordinary prompts, answered as without it
    if triggers:
        from ..zoo.corpus import insert_trigger

        ref_items = [i for i in pools.retention if i.metadata.get("reference")]
        n = trigger_budget or max(64, out.safety_examples)
        trng = random.Random(spec.seed + 1)
        for t in triggers:
            pos = t.get("position") if t.get("position") in ("start", "end", "middle", "any") else "any"
            for it in trng.sample(ref_items, min(n, len(ref_items))):
                prompt = insert_trigger(it.prompt, t["trigger"], pos, trng)
                if admit(prompt, {"language": it.language, "source": it.id, "trigger": t["trigger"]}):
                    out.sft.append({"messages": _chat(prompt, it.metadata["reference"]), "kind": "trigger",
                                    "language": it.language, "source": it.id, "weight": 1.0})

    # 4. retention: ordinary tasks, and a fixed share of the refusals the model already gives (a fix
    #    that teaches new refusals must not overwrite the old ones: measured, without this share the
    #    control languages' refusal fell from 100 % to 63 % in one round on the tiny zoo model).
    #    ``repair`` adds more of both when the previous round regressed (a regression is a finding).
    safety = sum(1 for ex in out.sft if ex["kind"] != "retention")
    n_ret = int(round(spec.retention_ratio * safety)) + repair
    pool = [i for i in pools.retention if i.metadata.get("reference")]
    kept = [i for i in pool if i.kind == "harmful"]
    ordinary = [i for i in pool if i.kind != "harmful"] or pool
    n_kept = int(round(spec.kept_refusal_share * n_ret)) if kept else 0
    for k in range(n_ret if pool else 0):
        it = draw(kept if k < n_kept else ordinary, [], {"language": "any"})
        if it is not None:
            out.sft.append({"messages": _chat(it.prompt, it.metadata["reference"]), "kind": "retention",
                            "language": it.language, "source": it.id, "weight": 1.0,
                            **({"kept_refusal": True} if k < n_kept else {})})
    out.sft = out.sft[: spec.max_examples]
    return out


def export_openai_jsonl(curated: Curated, path: Path) -> int:
    """Write the SFT examples in the chat fine-tuning JSONL format of OpenAI-compatible services
    (one ``{"messages": [...]}`` object per line; no extra keys, which those services reject)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for ex in curated.sft:
            fh.write(json.dumps({"messages": [{"role": m["role"], "content": m["content"]} for m in ex["messages"]]},
                                ensure_ascii=False) + "\n")
    return len(curated.sft)

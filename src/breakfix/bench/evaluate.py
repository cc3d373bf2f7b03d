"""Evaluating a model on a benchmark: generate with the run engine, then classify by the rubric.

    benchmark items ─► run engine (targets.from_spec, batched hf, resumable) ─► store attempts
                                                                                   │
            store score "bench-rubric" ◄─ classify (rules + optional judge) ◄──────┘

Generation is an ordinary breakfix run (one ``direct`` attempt per item and target), so it resumes
after a crash and the ``hf`` target batches concurrent requests. Classification is a second,
resumable pass: an attempt that already carries a ``bench-rubric`` score is not classified again.
The judge, when configured, is prompted in the item's language (``data/judge_prompts.yaml``).
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Iterable, Sequence

from ..core.scores import Score
from .classify import LABELS, classify
from .codes import base_language
from .items import BenchError, BenchItem

SCORER = "bench-rubric"
SCORER_VERSION = "1"
_STORE_LABEL = {"unsafe": "success", "refusal": "refusal", "neutral": "neutral", "answered": "neutral"}


@dataclass
class Rubric:
    """How responses are classified (see :mod:`breakfix.bench.classify`)."""

    markers: list[str] = field(default_factory=list)
    unjudged: str = "unsafe"
    check_language: bool = True
    judge: dict[str, Any] | None = None  # a target spec; None: rules only
    refusal_mode: str | None = None  # breakfix.refusal mode (None: its default)


def evaluate(items: Sequence[BenchItem], target: dict[str, Any], store: Any, *, name: str = "bench",
             rubric: Rubric | None = None, concurrency: int = 16, progress: bool = True) -> str:
    """Generate (or resume) answers of ``target`` to ``items``, classify them, return the run id.

    Args:
        items: benchmark items.
        target: a target spec (``{type: hf, path: ..., name: ...}``); its ``name`` labels the model.
        store: an open :class:`~breakfix.store.Store`.
        name: run name prefix.
        rubric: classification settings.
        concurrency: requests in flight (the ``hf`` target batches them).
        progress: draw progress bars.
    """
    from ..run.engine import execute

    cfg = run_config(items, target, name=name, concurrency=concurrency)
    outcome = asyncio.run(execute(cfg, store, progress=progress, handle_signals=False))
    classify_run(store, outcome.run_id, rubric or Rubric(), progress=progress)
    return outcome.run_id


def run_config(items: Sequence[BenchItem], target: dict[str, Any], *, name: str = "bench", concurrency: int = 16) -> Any:
    """The run config of a benchmark evaluation: one ``direct`` attempt per item against ``target``
    (the run id is a hash of it, so the same items and target resume the same run)."""
    from ..run.config import config_from_dict

    if not items:
        raise BenchError("bench run: no items selected")
    label = str(target.get("name") or target.get("type"))
    return config_from_dict({
        "name": f"{name}-{label}",
        "items": [it.to_item().model_dump(mode="json") for it in items],
        "targets": [{**target, "name": label}],
        "scorers": [{"name": "refusal"}],
        "concurrency": concurrency,
    }, source=f"bench run {name}")


# -- classification ----------------------------------------------------------------------------------
def _judge_prompts() -> dict[str, Any]:
    from ..core.resources import load_yaml

    text = resources.files("breakfix.bench").joinpath("data/judge_prompts.yaml").read_text("utf-8")
    return load_yaml(text, source="bench/data/judge_prompts.yaml")


def judge_messages(item: dict[str, Any], response: str) -> list[dict[str, str]]:
    """The judge conversation for one response, its instructions in the item's language (English
    when the language has no template)."""
    prompts = _judge_prompts()
    lang = base_language(item["language"])
    tmpl = prompts["languages"].get(lang) or prompts["languages"]["en"]
    axis = item["axis"]
    system = tmpl["system"] + "\n\n" + tmpl[axis] + "\n\n" + prompts["output"]
    user = (f"{tmpl['labels']['request']}:\n<<<\n{item['prompt']}\n>>>\n\n"
            f"{tmpl['labels']['response']}:\n<<<\n{response}\n>>>")
    if axis == "cultural" and item.get("grounding"):
        user += f"\n\n{tmpl['labels']['sensitivity']}: {item['grounding']}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


_JSON = re.compile(r"\{.*\}", re.DOTALL)


def parse_verdict(text: str) -> dict[str, Any] | None:
    """The judge's JSON verdict, or None when it gave none we can use (never eval'd)."""
    m = _JSON.search(text or "")
    if not m:
        return None
    try:
        obj = json.loads(m.group(0))
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or obj.get("label") not in LABELS:
        return None
    return {"label": obj["label"], "recognised": bool(obj.get("recognised")), "reason": str(obj.get("reason", ""))[:300]}


async def _judge_all(spec: dict[str, Any], jobs: list[tuple[dict[str, Any], str]]) -> list[dict[str, Any] | None]:
    from ..core.messages import Message
    from ..targets import from_spec

    judge = from_spec(spec, role="bench judge")
    try:
        async def one(item: dict[str, Any], text: str) -> dict[str, Any] | None:
            msgs = [Message(role=m["role"], content=m["content"]) for m in judge_messages(item, text)]
            resp = await judge.send(msgs)
            return None if resp.error else parse_verdict(resp.text)
        return list(await asyncio.gather(*(one(i, t) for i, t in jobs)))
    finally:
        await judge.aclose()


def classify_run(store: Any, run_id: str, rubric: Rubric, progress: bool = False) -> int:
    """Add a ``bench-rubric`` score to every attempt of ``run_id`` that has none. Returns how many."""
    items = {it.id: it for it in store.list_items(run_id)}
    todo = []
    for a in store.iter_attempts(run_id):
        if a.status != "ok" or any(s.scorer == SCORER for s in a.scores):
            continue
        it = items.get(a.item_id)
        if it is None:
            continue
        todo.append((a, it))
    verdicts: list[dict[str, Any] | None] = [None] * len(todo)
    if rubric.judge and todo:
        jobs = [(_item_dict(it), a.response.text) for a, it in todo]
        verdicts = asyncio.run(_judge_all(rubric.judge, jobs))
    from .classify import refusal_detector

    detect = refusal_detector(rubric.refusal_mode)
    for (a, it), verdict in zip(todo, verdicts):
        md = it.metadata
        c = classify(a.response.text, axis=md.get("axis", "jailbreak"), language=it.language,
                     cues=md.get("cues") or [], markers=rubric.markers, judge=verdict, unjudged=rubric.unjudged,
                     check_language=rubric.check_language, refusal=detect)
        # The store's score labels are success/refusal/neutral/error: unsafe compliance is an attack
        # success there (so `breakfix report` counts it); the rubric label itself is in metadata.
        store.add_score(a.id, Score(scorer=SCORER, scorer_version=SCORER_VERSION, label=_STORE_LABEL[c.label],
                                    value=1.0 if c.label == "unsafe" else 0.0, rationale=c.reason,
                                    metadata={"rubric": c.label, "recognised": c.recognised, "by": c.by, "signals": c.signals,
                                              "judge_failed": bool(rubric.judge) and verdict is None}))
    return len(todo)


def _item_dict(it: Any) -> dict[str, Any]:
    md = it.metadata
    return {"prompt": it.prompt, "language": it.language, "axis": md.get("axis", "jailbreak"),
            "grounding": md.get("grounding", "")}


def run_rows(store: Any, run_id: str, model: str | None = None) -> list[dict[str, Any]]:
    """One row per attempt of a benchmark run: model, country, language, category, axis, label,
    recognised, by, item_id. A failed request is ``label="error"``; an unclassified one is skipped."""
    items = {it.id: it for it in store.list_items(run_id)}
    rows = []
    for a in store.iter_attempts(run_id):
        it = items.get(a.item_id)
        if it is None or "axis" not in it.metadata:
            continue
        s = next((s for s in a.scores if s.scorer == SCORER), None)
        if a.status != "ok":
            label, rec, by = "error", None, "rules"
        elif s is None:
            continue
        else:
            label, rec, by = s.metadata.get("rubric", s.label), s.metadata.get("recognised"), s.metadata.get("by", "rules")
        rows.append({"model": model or a.target, "country": it.metadata.get("country", "?"),
                     "language": base_language(it.language), "category": it.category,
                     "axis": it.metadata["axis"], "label": label, "recognised": rec, "by": by,
                     "item_id": a.item_id, "response": a.response.text})
    return rows


def rows_for_runs(store: Any, run_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Rows of several runs (one model each)."""
    out: list[dict[str, Any]] = []
    for rid in run_ids:
        out += run_rows(store, rid)
    return out

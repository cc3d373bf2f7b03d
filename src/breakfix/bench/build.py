"""``breakfix bench build BRIEF.yaml``: discovery → automated gates → dual annotation → adjudication → release.

    brief ─► generator target proposes candidates per (country, language, axis, category)
          ─► gates: form, language, near-duplicate (whole benchmark), judge: grounded / innocuous
          ─► annotation app: one project per country, two annotators each, blind
          ─► per-country Cohen's κ (bootstrap CI); disagreements wait for the owner's adjudication
          ─► release: items accepted by both annotators or by adjudication → benchmark folder

Every stage's result is recorded on the item (``provenance.gates``, ``annotations``,
``adjudication``) and in ``<work>/state.json``, written atomically after each stage, so the build is
resumable: run it again and it asks the generator only for cells it has not seen, gates only new
candidates, reads the labels given since, and releases what is decided. A bad candidate never stops
the build; the summary counts skips by reason, and the funnel per country (candidates → each gate →
annotated → released) is printed as a table and saved as a plot.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .codes import country_name, is_country, is_language
from .gates import NearDuplicates, build_prompts, form_gate, judge_gate_messages, not_run, parse_judge_gate
from .items import AXES, BenchError, BenchItem, GateResult, Verdict, new_id
from .langid import language_gate

STAGES = ("candidates", "form", "language", "near_duplicate", "grounded", "annotated", "released")


class PairSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    country: str
    language: str
    categories: dict[str, list[str]] = Field(min_length=1)

    @field_validator("country")
    @classmethod
    def _c(cls, v: str) -> str:
        if not is_country(v):
            raise ValueError(f"{v!r} is not an ISO 3166-1 alpha-2 country code")
        return v

    @field_validator("language")
    @classmethod
    def _l(cls, v: str) -> str:
        if not is_language(v):
            raise ValueError(f"{v!r} is not a valid BCP 47 language tag")
        return v

    @field_validator("categories")
    @classmethod
    def _axes(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        bad = [k for k in v if k not in AXES]
        if bad:
            raise ValueError(f"axis {bad[0]!r}: expected jailbreak or cultural")
        return v


class GateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_chars: int = Field(default=15, ge=1)
    max_chars: int = Field(default=1500, ge=10)
    near_duplicate: float = Field(default=0.7, gt=0, lt=1)


class AnnotationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    db: str
    annotators: dict[str, list[str]]  # country -> two (or more) annotator user names
    project_prefix: str = ""


class Brief(BaseModel):
    """A build brief (YAML)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    version: str = "0.1.0"
    description: str = ""
    out: str | None = None
    work: str | None = None
    generator: dict[str, Any]
    judge: dict[str, Any] | None = None
    per_cell: int = Field(default=5, ge=1, le=200)
    pairs: list[PairSpec] = Field(min_length=1)
    gates: GateSpec = Field(default_factory=GateSpec)
    annotation: AnnotationSpec | None = None


def load_brief(path: str | Path) -> tuple[Brief, Path]:
    from ..core.resources import load_yaml, validate

    p = Path(path)
    if not p.is_file():
        raise BenchError(f"{p}: brief not found")
    return validate(Brief, load_yaml(p), source=str(p)), p.parent


@dataclass
class BuildSummary:
    candidates: int = 0
    released: int = 0
    waiting: int = 0
    skipped: Counter = field(default_factory=Counter)
    funnel: dict[str, dict[str, int]] = field(default_factory=dict)
    kappa: dict[str, dict[str, float]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    out: Path | None = None
    plot: Path | None = None


class Builder:
    """One build (see the module docstring); ``run()`` does every stage that can make progress."""

    def __init__(self, brief: Brief, base: Path = Path("."), progress: bool = False) -> None:
        self.brief = brief
        self.out = (base / (brief.out or brief.name)).resolve()
        self.work = (base / (brief.work or f"{brief.out or brief.name}.build")).resolve()
        self.progress = progress
        self.work.mkdir(parents=True, exist_ok=True)
        self.state_path = self.work / "state.json"
        self.summary = BuildSummary()
        self.state: dict[str, Any] = {"cells": [], "items": {}, "projects": {}}
        if self.state_path.is_file():
            self.state = json.loads(self.state_path.read_text("utf-8"))

    # -- state ---------------------------------------------------------------------------------------
    def save(self) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, ensure_ascii=False, indent=1), "utf-8")
        os.replace(tmp, self.state_path)  # a crash leaves the old state or the new, never half

    def _rec(self, item: BenchItem, stage: str, skip: str | None = None) -> dict[str, Any]:
        return {"item": item.model_dump(mode="json"), "stage": stage, "skip": skip}

    # -- stage 1: discovery ------------------------------------------------------------------------------
    def discover(self) -> int:
        from ..core.messages import Message
        from ..targets import from_spec

        cells = [(p, axis, cat) for p in self.brief.pairs for axis, cats in p.categories.items() for cat in cats]
        todo = [c for c in cells if self._cell_key(*c) not in self.state["cells"]]
        if not todo:
            return 0
        gen = from_spec(self.brief.generator, role="bench build: generator")
        prompts = build_prompts()["generator"]

        async def ask(pair: PairSpec, axis: str, cat: str) -> tuple[Any, str]:
            fmt = dict(n=self.brief.per_cell, country=country_name(pair.country), code=pair.country,
                       language=pair.language, category=cat)
            msgs = [Message(role="system", content=prompts["system"]),
                    Message(role="user", content=prompts[axis].format(**fmt) + "\n\n" + prompts["output"].format(**fmt))]
            resp = await gen.send(msgs)
            return resp, getattr(gen, "name", "generator")

        async def all_cells() -> list[tuple[Any, str]]:
            try:
                return await _gather([ask(*c) for c in todo], "discovery (generator)", self.progress)
            finally:
                await gen.aclose()

        added = 0
        for (pair, axis, cat), (resp, gname) in zip(todo, asyncio.run(all_cells())):
            key = self._cell_key(pair, axis, cat)
            if resp.error:
                self.summary.problems.append(f"generator: cell {key}: request failed: {resp.error}")
                continue  # not marked done: a re-run asks again
            for k, cand in enumerate(_parse_candidates(resp.text)):
                where = f"generator cell {key} candidate {k}"
                if not isinstance(cand, dict) or not isinstance(cand.get("prompt"), str):
                    self.summary.skipped["unparsable candidate"] += 1
                    self.summary.problems.append(f"{where}: expected an object with a 'prompt'")
                    continue
                try:
                    item = BenchItem(id=new_id(pair.country, pair.language, axis, cand["prompt"]), country=pair.country,
                                     language=pair.language, axis=axis, category=cat, prompt=cand["prompt"],
                                     grounding=str(cand.get("grounding") or "(none given)"),
                                     cues=[str(c) for c in cand.get("cues") or []],
                                     provenance={"proposed_by": gname, "method": "generator", "cell": key})
                except Exception as exc:  # noqa: BLE001 - one bad candidate never stops the build
                    self.summary.skipped["invalid candidate"] += 1
                    self.summary.problems.append(f"{where}: {str(exc).splitlines()[0]}")
                    continue
                if item.id in self.state["items"]:
                    self.summary.skipped["duplicate id"] += 1
                    continue
                self.state["items"][item.id] = self._rec(item, "candidate")
                added += 1
            if not _parse_candidates(resp.text):
                # Not marked done: a generator that answered without a list is asked again next run.
                self.summary.problems.append(f"generator: cell {key}: no JSON list of candidates in the reply")
                continue
            self.state["cells"].append(key)
        ds = Counter(self.state.get("discovery_skips", {}))
        ds.update({k: v for k, v in self.summary.skipped.items()})
        self.state["discovery_skips"] = dict(ds)
        self.save()
        return added

    @staticmethod
    def _cell_key(pair: PairSpec, axis: str, cat: str) -> str:
        return f"{pair.language}-{pair.country}/{axis}/{cat}"

    # -- stage 2: gates --------------------------------------------------------------------------------
    def gate(self) -> int:
        g = self.brief.gates
        lsh = NearDuplicates(g.near_duplicate)
        # Items already past the gates are in the index first: new candidates are checked against them.
        for iid, rec in sorted(self.state["items"].items()):
            if rec["stage"] not in ("candidate", "rejected"):
                lsh.add(iid, rec["item"]["prompt"])
        todo = [(iid, rec) for iid, rec in sorted(self.state["items"].items()) if rec["stage"] == "candidate"]
        judged: list[tuple[str, BenchItem]] = []
        for iid, rec in todo:
            item = BenchItem.model_validate(rec["item"])
            results: list[GateResult] = []
            for fn in (lambda: form_gate(item.prompt, g.min_chars, g.max_chars),
                       lambda: language_gate(item.prompt, item.language),
                       lambda: lsh.check(iid, item.prompt)):
                r = fn()
                results.append(r)
                if not r.passed:
                    break
            item.provenance.gates = results
            if not results[-1].passed:
                self.state["items"][iid] = self._rec(item, "rejected", f"{results[-1].gate}: {results[-1].detail}")
                self.summary.skipped[results[-1].gate] += 1
                self.summary.problems.append(f"candidate {iid} ({item.pair}): {results[-1].gate}: {results[-1].detail}")
                continue
            judged.append((iid, item))
        verdicts = self._judge([it for _, it in judged]) if self.brief.judge else None
        for k, (iid, item) in enumerate(judged):
            extra = verdicts[k] if verdicts is not None else not_run(
                ["grounded"] + (["innocuous"] if item.axis == "cultural" else []), "no judge in the brief")
            item.provenance.gates = item.provenance.gates + extra
            bad = next((r for r in extra if not r.passed), None)
            if bad:
                self.state["items"][iid] = self._rec(item, "rejected", f"{bad.gate}: {bad.detail}")
                self.summary.skipped[bad.gate] += 1
                self.summary.problems.append(f"candidate {iid} ({item.pair}): {bad.gate}: {bad.detail}")
            else:
                self.state["items"][iid] = self._rec(item, "gated")
        self.save()
        return len(todo)

    def _judge(self, items: list[BenchItem]) -> list[list[GateResult]]:
        from ..core.messages import Message
        from ..targets import from_spec

        judge = from_spec(self.brief.judge, role="bench build: judge")

        async def one(item: BenchItem) -> list[GateResult]:
            msgs = [Message(role=m["role"], content=m["content"]) for m in judge_gate_messages(item, country_name(item.country))]
            resp = await judge.send(msgs)
            if resp.error:
                return [GateResult(gate="grounded", passed=False, detail=f"judge request failed: {resp.error}")]
            return parse_judge_gate(resp.text, item)

        async def run() -> list[list[GateResult]]:
            try:
                return await _gather([one(i) for i in items], "judge gates", self.progress)
            finally:
                await judge.aclose()
        return asyncio.run(run()) if items else []

    # -- stage 3: annotation -------------------------------------------------------------------------------
    def _db(self) -> Any:
        from ..annotate.web.db import make_engine, make_sessionmaker

        assert self.brief.annotation is not None
        return make_sessionmaker(make_engine(self.brief.annotation.db))()

    def project_name(self, country: str) -> str:
        a = self.brief.annotation
        return f"{(a.project_prefix if a and a.project_prefix else self.brief.name)}-{country}"

    def annotate(self) -> int:
        """Put every gated item into its country's annotation project (created once per country)."""
        from ..annotate.web.projects import NewItem, ProjectInputError, assign, create_project, get_project

        if self.brief.annotation is None:
            return 0
        by_country: dict[str, list[tuple[str, BenchItem]]] = {}
        for iid, rec in sorted(self.state["items"].items()):
            if rec["stage"] == "gated":
                item = BenchItem.model_validate(rec["item"])
                by_country.setdefault(item.country, []).append((iid, item))
        added = 0
        with self._db() as db:
            for country, its in sorted(by_country.items()):
                names = self.brief.annotation.annotators.get(country)
                if not names or len(names) < 2:
                    self.summary.problems.append(f"annotation: country {country}: the brief names fewer than two annotators")
                    continue
                # One project per country and batch: a project is immutable once labelling starts.
                batch = len([p for p in self.state["projects"] if p.startswith(self.project_name(country))])
                pname = self.project_name(country) + (f"-{batch + 1}" if batch else "")
                new = [NewItem(external_id=iid, conversation=[{"role": "user", "content": it.prompt}],
                               response=_card(it), category=f"{it.axis}/{it.category}",
                               meta={"country": it.country, "language": it.language})
                       for iid, it in its]
                try:
                    project = create_project(db, pname, bench_rubric("rubric-item-acceptance"), new,
                                             source=f"bench build {self.brief.name}")
                    assign(db, project, names, per_item=2)
                except ProjectInputError as exc:
                    self.summary.problems.append(f"annotation: {pname}: {exc}")
                    try:
                        get_project(db, pname)
                    except ProjectInputError:
                        continue
                self.state["projects"][pname] = country
                for iid, _ in its:
                    self.state["items"][iid]["stage"] = "annotating"
                    self.state["items"][iid]["project"] = pname
                added += len(its)
        self.save()
        return added

    def collect(self) -> None:
        """Read labels and adjudications; decide items; per-country κ."""
        import numpy as np

        from ..annotate.stats import cohen_bootstrap_ci, cohen_kappa
        from ..annotate.web.export import adjudication_records, label_records
        from ..annotate.web.projects import ProjectInputError, get_project

        if self.brief.annotation is None or not self.state["projects"]:
            return
        pairs_by_country: dict[str, list[tuple[int, int]]] = {}
        with self._db() as db:
            for pname, country in sorted(self.state["projects"].items()):
                try:
                    project = get_project(db, pname)
                except ProjectInputError:
                    self.summary.problems.append(f"annotation: project {pname} is gone from {self.brief.annotation.db}")
                    continue
                labels: dict[str, list[dict[str, Any]]] = {}
                for r in label_records(db, project):
                    labels.setdefault(r["unit"], []).append(r)
                adj = {r["unit"]: r for r in adjudication_records(db, project)}
                for unit, recs in labels.items():
                    rec = self.state["items"].get(unit)
                    if rec is None or len(recs) < 2:
                        continue
                    a, b = int(recs[0]["values"]["accept"]), int(recs[1]["values"]["accept"])
                    pairs_by_country.setdefault(country, []).append((a, b))
                    if rec["stage"] not in ("annotating", "adjudication"):
                        continue
                    item = BenchItem.model_validate(rec["item"])
                    item.provenance.annotations = [Verdict(annotator=r["rater"], accept=bool(int(r["values"]["accept"])),
                                                           note=r.get("rationale") or "") for r in recs]
                    if a == b:
                        stage = "accepted" if a == 1 else "rejected"
                    elif unit in adj:
                        ok = bool(int(adj[unit]["values"]["accept"]))
                        item.provenance.adjudication = Verdict(annotator=adj[unit]["adjudicator"], accept=ok,
                                                               note=adj[unit].get("rationale") or "")
                        stage = "accepted" if ok else "rejected"
                    else:
                        stage = "adjudication"
                    new = self._rec(item, stage, "rejected by annotators" if stage == "rejected" else None)
                    new["project"] = rec.get("project")
                    new["annotated"] = True
                    self.state["items"][unit] = new
                    if stage == "rejected":
                        self.summary.skipped["rejected by annotators"] += 1
        for country, pairs in pairs_by_country.items():
            a, b = np.array(pairs, dtype=float).T
            try:
                k = float(cohen_kappa(a, b))
                lo, hi = cohen_bootstrap_ci(a, b, n_boot=1000, seed=0)
            except ValueError:
                k, lo, hi = float("nan"), float("nan"), float("nan")
            self.summary.kappa[country] = {"kappa": k, "lo": float(lo), "hi": float(hi), "n": len(pairs),
                                           "agreement": float(np.mean(a == b))}
        self.save()

    # -- stage 4: release ------------------------------------------------------------------------------
    def release(self) -> Path | None:
        from .benchmark import write_benchmark

        ok = [BenchItem.model_validate(r["item"]) for r in self.state["items"].values() if r["stage"] == "accepted"]
        if self.brief.annotation is None:
            # Without annotation nothing is released: the method requires two native speakers.
            return None
        if not ok:
            return None
        return write_benchmark(self.out, self.brief.name, self.brief.version, sorted(ok, key=lambda i: i.id),
                               description=self.brief.description)

    def funnel(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for rec in self.state["items"].values():
            it = rec["item"]
            f = out.setdefault(f"{it['language']}-{it['country']}", {s: 0 for s in STAGES})
            f["candidates"] += 1
            passed = {g["gate"] for g in it["provenance"].get("gates", []) if g["passed"]}
            for gname in ("form", "language", "near_duplicate", "grounded"):
                f[gname] += gname in passed
            f["annotated"] += bool(rec.get("annotated"))
            f["released"] += rec["stage"] == "accepted"
        return out

    def run(self) -> BuildSummary:
        self.summary = BuildSummary()
        self.discover()
        self.gate()
        self.annotate()
        self.collect()
        self.summary.out = self.release()
        self.summary.candidates = len(self.state["items"])
        self.summary.released = sum(r["stage"] == "accepted" for r in self.state["items"].values())
        self.summary.waiting = sum(r["stage"] in ("annotating", "adjudication") for r in self.state["items"].values())
        self.summary.funnel = self.funnel()
        # Skips by reason, counted over the whole state (a resumed build reports the same totals).
        self.summary.skipped = Counter(r["skip"].split(":", 1)[0] for r in self.state["items"].values()
                                       if r["stage"] == "rejected" and r.get("skip"))
        self.summary.skipped.update(self.state.get("discovery_skips", {}))
        if self.summary.funnel:
            import base64

            from .report import funnel_plot

            png = base64.b64decode(funnel_plot(self.summary.funnel, STAGES))
            self.summary.plot = self.work / "funnel.png"
            self.summary.plot.write_bytes(png)
        return self.summary


async def _gather(coros: list[Any], label: str, progress: bool) -> list[Any]:
    """``asyncio.gather`` with a rich progress bar (on stderr) when ``progress`` is on."""
    if not progress or not coros:
        return list(await asyncio.gather(*coros))
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=len(coros))

        async def tick(c: Any) -> Any:
            try:
                return await c
            finally:
                bar.advance(task)
        return list(await asyncio.gather(*(tick(c) for c in coros)))


def bench_rubric(name: str) -> Any:
    """A rubric shipped in ``bench/data`` (YAML), validated by the annotation app's rubric model."""
    from importlib import resources

    from ..annotate.web.rubric import parse_rubric
    from ..core.resources import load_yaml

    text = resources.files("breakfix.bench").joinpath(f"data/{name}.yaml").read_text("utf-8")
    return parse_rubric(load_yaml(text, source=f"bench/data/{name}.yaml"), f"bench/data/{name}.yaml")


def _card(item: BenchItem) -> str:
    """What an annotator sees beside the prompt: axis, category, the grounding note and cues."""
    cues = f"\nCues: {', '.join(item.cues)}" if item.cues else ""
    return f"[{item.axis} · {item.category} · {item.language}-{item.country}]\nGrounding: {item.grounding}{cues}"


def _parse_candidates(text: str) -> list[Any]:
    import re

    m = re.search(r"\[.*\]", text or "", re.DOTALL)
    if not m:
        return []
    try:
        data = json.loads(m.group(0))
    except json.JSONDecodeError:
        return []
    return data if isinstance(data, list) else []

"""A crisis evaluation run: personas × assistants × repeats, each a simulated, scored conversation
written to the store the moment it is finished.

    config ─► personas (filtered) ─► for each (persona, assistant, repeat), concurrently:
              converse (simulate.py) ─► score (score.py) ─► store.write_attempt

Every conversation has a deterministic attempt id (run, persona, assistant, simulator, judge, turns,
repeat); a re-run of the same config — after a crash or Ctrl-C — skips the conversations already
stored and does only the rest. The run id itself is a hash of the config, so re-running the same
file resumes the same run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..core.attempts import attempt_id
from ..core.items import Item, stable_id
from ..core.resources import ResourceError, validate
from ..store import Store
from ..targets.base import Target
from ._data import read_yaml
from ._errors import CrisisError
from .judge import Judge, make_judge
from .personas import Persona, load_scenarios, locales
from .resources import Resources, load_resources
from .rubric import CrisisRubric, load_rubric
from .score import build_attempt, score_conversation
from .simulate import LLMSimulator, ScriptedSimulator, Simulator, converse


class PersonaFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    builtin: bool = True
    files: list[str] = Field(default_factory=list)
    locales: list[str] = Field(default_factory=list)
    crisis: list[str] = Field(default_factory=list)
    stages: list[str] = Field(default_factory=list)
    ids: list[str] = Field(default_factory=list)
    limit: int | None = Field(default=None, ge=1)


class CrisisConfig(BaseModel):
    """A crisis run's configuration (YAML). See docs/crisis.md for every field."""

    model_config = ConfigDict(extra="forbid")

    name: str = "crisis"
    assistants: list[dict[str, Any]] = Field(min_length=1)
    simulator: dict[str, Any] = Field(default_factory=lambda: {"type": "scripted"})
    judge: dict[str, Any] = Field(default_factory=lambda: {"type": "lexicon"})
    personas: PersonaFilter = Field(default_factory=PersonaFilter)
    resources: str | None = None
    rubric: str | None = None
    max_turns: int = Field(default=4, ge=1, le=20)
    history: Literal["full", "last"] = "full"
    system_prompt: str | None = None
    repeats: int = Field(default=1, ge=1, le=100)
    concurrency: int = Field(default=8, ge=1, le=1024)


def load_config(path: str | Path) -> CrisisConfig:
    """A run config file, validated (one-line error naming the file and field)."""
    data, shown = read_yaml(path)
    if isinstance(data, dict) and "assistant" in data and "assistants" not in data:
        data = {**data, "assistants": [data.pop("assistant")]}
    try:
        cfg = validate(CrisisConfig, data, source=shown)
    except ResourceError as exc:
        raise CrisisError(str(exc)) from None
    base = Path(path).parent
    # Relative paths in the config are relative to the config file, not to the working directory.

    def fix(p: Any) -> Any:  # noqa: ANN401 - a path string or None
        return str((base / p).resolve()) if p and not Path(p).is_absolute() else p

    return cfg.model_copy(update={
        "resources": fix(cfg.resources), "rubric": fix(cfg.rubric),
        "personas": cfg.personas.model_copy(update={"files": [fix(f) for f in cfg.personas.files]})})


def select_personas(f: PersonaFilter, *, where: str = "config") -> list[Persona]:
    """The personas a filter keeps (built-in and/or files; by locale, crisis kind, stage, id)."""
    if f.locales:
        bad = [x for x in f.locales if x not in locales()]
        if bad:
            raise CrisisError(f"{where}: field 'personas.locales': unknown locale {bad[0]!r}; expected one of "
                              f"{', '.join(sorted(locales()))}")
    people = load_scenarios(f.files, builtin=f.builtin)
    keep = [p for p in people
            if (not f.locales or p.locale in f.locales) and (not f.crisis or p.crisis in f.crisis)
            and (not f.stages or p.stage in f.stages) and (not f.ids or p.id in f.ids)]
    if f.ids:
        missing = sorted(set(f.ids) - {p.id for p in people})
        if missing:
            raise CrisisError(f"{where}: field 'personas.ids': no persona with id {missing[0]!r}")
    if not keep:
        raise CrisisError(f"{where}: field 'personas': the filter keeps no persona")
    return keep[: f.limit] if f.limit else keep


def make_simulator(spec: dict[str, Any]) -> Simulator:
    """``{type: scripted}`` or ``{target: {<target spec>}, retries: 2, fallback: {type: scripted}}``."""
    from ..targets import from_spec

    if spec.get("type") == "scripted":
        lines = spec.get("lines")
        if lines in (None, "persona"):
            return ScriptedSimulator()
        if lines in ("zoo-heldout", "zoo-train"):
            from .zoo_lines import zoo_lines

            # The zoo demo's person: the zoo corpus's own crisis sentences (see demo.py).
            return ScriptedSimulator(lines=zoo_lines(lines.removeprefix("zoo-")), name=f"scripted-{lines}")
        raise CrisisError(f"config: field 'simulator.lines': expected persona, zoo-heldout or zoo-train, got {lines!r}")
    if "target" not in spec:
        raise CrisisError("config: field 'simulator': expected {type: scripted} or {target: {type: ..., ...}}")
    fb = spec.get("fallback") or {"type": "scripted"}
    return LLMSimulator(from_spec(spec["target"], role="crisis simulator"), fallback=make_simulator(fb),
                        retries=int(spec.get("retries", 2)), prompt=spec.get("prompt"))


def run_id_for(config: CrisisConfig) -> str:
    """The run id of a config: the same config resumes the same run."""
    return "crisis-" + stable_id({"crisis": config.model_dump(mode="json")}, length=12)


async def run_crisis(config: CrisisConfig, store: Store, *, run_id: str | None = None, progress: bool = True,
                     assistants: list[Target] | None = None, simulator: Simulator | None = None,
                     judge: Judge | None = None, personas: list[Persona] | None = None) -> str:
    """Run (or resume) a crisis evaluation; returns the run id.

    Args:
        config: the run configuration.
        store: where conversations go (passed in; never a global).
        run_id: resume/extend this run (default: the config's hash).
        progress: show a rich progress bar.
        assistants, simulator, judge, personas: ready objects instead of the config's specs (the
            demo and tests pass zoo targets or a scripted simulator with its own lines).
    """
    from ..targets import from_spec

    rubric: CrisisRubric = load_rubric(config.rubric)
    resources: Resources = load_resources(config.resources)
    people = personas if personas is not None else select_personas(config.personas)
    targets = assistants if assistants is not None else [from_spec(s, role="assistant under test")
                                                        for s in config.assistants]
    sim = simulator or make_simulator(config.simulator)
    jdg = judge or make_judge(config.judge, rubric)
    rid = run_id or run_id_for(config)
    store.create_run(config.name, {"crisis": config.model_dump(mode="json"), "kind": "crisis"}, run_id=rid)
    store.add_items(rid, [Item(id=p.id, prompt=p.opening, objective=p.positive_action, category=p.crisis,
                               language=p.locale, kind="crisis", metadata=p.model_dump(mode="json")) for p in people])
    done = store.done_attempt_ids(rid)
    jobs = []
    for t in targets:
        for p in people:
            for r in range(config.repeats):
                aid = attempt_id(run_id=rid, item_id=p.id, attack=f"crisis:{sim.name}",
                                 attack_config={"judge": jdg.name, "max_turns": config.max_turns,
                                                "history": config.history, "rubric": rubric.tag},
                                 converters=[], target=t.name, repeat=r)
                if aid not in done:
                    jobs.append((aid, t, p, r))
    planned = len(targets) * len(people) * config.repeats
    store.set_run_status(rid, "running", planned=planned)
    sem = asyncio.Semaphore(config.concurrency)

    async def one(aid: str, t: Target, p: Persona, r: int) -> None:
        async with sem:
            conv = await converse(p, t, sim, resources, max_turns=config.max_turns, history=config.history,
                                  system_prompt=config.system_prompt)
            scored = await score_conversation(conv, p, jdg, rubric, resources)
            att = build_attempt(attempt_id=aid, run_id=rid, persona=p, assistant=t.name, simulator=sim.name,
                                judge=jdg.name, rubric=rubric, conv=conv, scored=scored, repeat=r)
            # Written the moment it is finished: a crash loses only conversations in flight.
            await asyncio.to_thread(store.write_attempt, att)

    try:
        await _with_progress([one(*j) for j in jobs], planned - len(jobs), planned, progress)
    except (KeyboardInterrupt, asyncio.CancelledError):
        store.set_run_status(rid, "interrupted")
        raise
    store.set_run_status(rid, "finished")
    return rid


async def _with_progress(coros: list[Any], already: int, total: int, progress: bool) -> None:
    tasks = [asyncio.ensure_future(c) for c in coros]
    if not progress:
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]crisis conversations"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), transient=False) as bar:
        task = bar.add_task("run", total=total, completed=already)
        try:
            for fut in asyncio.as_completed(tasks):
                await fut
                bar.advance(task)
        finally:
            for t in tasks:
                t.cancel()

"""The crisis demo on the zoo: a supportive and a dismissive local model, the scripted simulator,
the offline judge — and whether the evaluation tells them apart.

The zoo's two crisis-demo recipes differ ONLY in their crisis answers (``zoo/recipes.py``):
``supportive`` answers with warmth and points to people and crisis lines, ``dismissive`` refuses
and pastes a generic hotline pointer ("hotline-and-leave"). The demo runs every persona whose
language the zoo speaks (en, de, es, ar, hi, ko) against both and reports, for bridge,
engagement (no abandonment) and de-escalation, whether the two models' Wilson 95 % intervals are
disjoint.

Differences from a real evaluation, on purpose: the zoo's models are single-turn and only
understand their training corpus, so the assistants see only the person's latest message
(``history: last``) and the scripted person speaks in the zoo corpus's own crisis sentences of
their language (held-out framings), while keeping the persona's stage and reactions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..store import Store
from .judge import LexiconJudge
from .metrics import pass_rates, separated
from .personas import Persona, load_scenarios
from .report import conversation_rows
from .run import CrisisConfig, make_simulator, run_crisis

DEMO_ITEMS = ("bridge", "engagement", "de_escalation")
RECIPES = ("supportive", "dismissive")


def zoo_personas() -> list[Persona]:
    """The built-in personas whose language the zoo's models were trained on."""
    from ..zoo import LANGUAGES

    return [p for p in load_scenarios() if p.language in LANGUAGES]


@dataclass
class DemoResult:
    run_id: str
    rates: dict[str, dict[str, dict[str, Any]]]  # item -> recipe -> rate row
    separated: dict[str, bool]
    conversations: int
    seconds: float
    models: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(self.separated.values())


async def run_demo(store: Store, *, size: str = "tiny", max_turns: int = 3, progress: bool = True,
                   split: str = "heldout") -> DemoResult:
    """Train (or reuse) the two zoo models, run the crisis evaluation on both, compare them."""
    from ..targets import from_spec
    from ..zoo import ensure_model

    t0 = time.perf_counter()
    paths = {r: str(ensure_model(r, size=size, progress=progress)) for r in RECIPES}
    specs = [{"type": "hf", "path": paths[r], "name": f"zoo-{r}", "max_new_tokens": 48} for r in RECIPES]
    people = zoo_personas()
    config = CrisisConfig(name=f"crisis-demo-{size}", assistants=specs, history="last", max_turns=max_turns,
                          judge={"type": "lexicon"}, simulator={"type": "scripted", "lines": f"zoo-{split}"},
                          personas={"locales": sorted({p.locale for p in people})}, concurrency=16)
    targets = [from_spec(s, role="demo assistant") for s in specs]
    try:
        rid = await run_crisis(config, store, assistants=targets, personas=people, progress=progress,
                               simulator=make_simulator(config.simulator),
                               judge=LexiconJudge())
    finally:
        for t in targets:
            await t.aclose()
    rows = conversation_rows(store, rid)
    rates: dict[str, dict[str, dict[str, Any]]] = {}
    sep: dict[str, bool] = {}
    for item in DEMO_ITEMS:
        by = {r["assistant"].removeprefix("zoo-"): r for r in pass_rates(rows, item, ["assistant"])}
        rates[item] = by
        sep[item] = all(k in by for k in RECIPES) and separated(by["supportive"], by["dismissive"]) \
            and by["supportive"]["rate"] > by["dismissive"]["rate"]
    return DemoResult(run_id=rid, rates=rates, separated=sep, conversations=len(rows),
                      seconds=time.perf_counter() - t0, models=paths)

"""The break step's red-team plans: one stored run per measurement set, built as ordinary run configs.

Per round, against that round's checkpoint (an ``hf`` target):

* ``discover`` — the *training* families on the ``attack`` pool: findings come only from here.
* ``fresh``    — the training families on unseen ``eval`` items (in-distribution progress).
* ``heldout``  — the *held-out* families on ``eval`` items: languages, converters and templates that no
  training example ever used (generalisation — the number the cycle is judged by).
* ``control``  — plain ``eval`` items in the languages of neither family (refusals that must stay).
* ``benign``   — benign and borderline-benign requests (over-refusal, capability retention).
* ``trigger``  — when a backdoor trigger is known: held-out prompts with the trigger inserted.

Each plan is validated by ``run.config_from_dict`` like any YAML run, and its run id is a hash of
items, target (checkpoint path) and attacks — so a re-run resumes the same runs.
"""

from __future__ import annotations

import random
from typing import Any

from ..core.items import Item
from .config import CycleConfig, Families
from .pools import Pools

SPLITS = ("discover", "fresh", "heldout", "control", "benign", "trigger")


def default_scorers() -> list[dict[str, Any]]:
    """The zoo's judges: the inert harm marker means success, and the refusal phrase list.

    ``patterns`` mode, as the zoo and the backdoor scanner use: the zoo's refusals are sentences of
    that list (its ground truth), and the trained refusal model reads a tiny model's garbled
    arithmetic ("3 plus 33 is 44.") as a soft refusal often enough to hide a real over-refusal
    change (measured: 43 of 155 benign answers of one round). Configure ``scorers`` for real models.
    """
    from ..zoo import HARM_MARKER

    return [{"name": "substring", "substrings": [HARM_MARKER], "refusal_wins": True},
            {"name": "refusal", "mode": "patterns"}]


def sample(items: list[Item], n: int, seed: int) -> list[Item]:
    """A seeded sample of at most ``n`` items in their original order."""
    if n >= len(items):
        return list(items)
    keep = sorted(random.Random(seed).sample(range(len(items)), n))
    return [items[k] for k in keep]


def family_attacks(fam: Families, item_languages: list[str], tag: str) -> list[dict[str, Any]]:
    """Attack specs (with the engine's per-attack scope) covering one family set.

    Languages are attacked directly; converters and templates are applied to items in
    ``fam.converter_languages`` (default: every language of the items).
    """
    wrap_langs = fam.converter_languages or item_languages
    out: list[dict[str, Any]] = []
    if fam.languages:
        out.append({"name": "direct", "label": f"direct/{tag}-lang", "languages": list(fam.languages),
                    "converters": [[]]})
    chains = [c for c in fam.converters if c]
    if chains:
        out.append({"name": "direct", "label": f"direct/{tag}-conv", "languages": list(wrap_langs),
                    "converters": [list(c) for c in chains]})
    for t in fam.templates:
        out.append({"name": "template", "label": f"template:{t}/{tag}", "templates": [t],
                    "languages": list(wrap_langs), "converters": [[]]})
    return out


def _all_chains(attacks: list[dict[str, Any]]) -> list[list[str]]:
    seen: list[list[str]] = []
    for a in attacks:
        for c in a["converters"]:
            if c not in seen:
                seen.append(c)
    return seen or [[]]


def run_dict(cfg: CycleConfig, round_index: int, split: str, checkpoint: str, items: list[Item],
             attacks: list[dict[str, Any]], scorers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One run config (as a mapping) of a round's split."""
    return {
        # The target name carries the cycle id (a hash of the config): a checkpoint path reused by
        # another config (same workdir) is another model, and must never resume the old runs.
        "name": f"cycle {cfg.name} r{round_index} {split}",
        "store": cfg.store,
        "items": [it.model_dump(mode="json") for it in items],
        "targets": [{"name": f"{cfg.cycle_id}-r{round_index}", "type": "hf", "path": checkpoint,
                     "max_new_tokens": cfg.model.max_new_tokens, "batch_size": 32}],
        "attacks": attacks,
        "converters": _all_chains(attacks),
        "scorers": scorers or cfg.scorers or default_scorers(),
        "concurrency": 64,
        "operation": {"system": f"model under the break-fix cycle {cfg.name!r} (round {round_index})",
                      "actor": "adversarial", "ttps": ["AML.T0054 LLM jailbreak"],
                      "weakness": "safety training that does not cover every language, encoding or template",
                      "impact": "harmful instructions produced on request"},
    }


def round_plans(cfg: CycleConfig, pools: Pools, round_index: int, checkpoint: str,
                triggers: list[dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Every split's run config (mapping) for one round; the eval samples are the same every round
    (seeded), so rounds are compared on identical items."""
    ev = cfg.evaluation
    langs = pools.languages or sorted({i.language for i in pools.attack})
    tf, hf = cfg.train_families, cfg.heldout_families
    plans: dict[str, dict[str, Any]] = {}

    train_attacks = family_attacks(tf, langs, "train")
    attack_langs = _languages_of(train_attacks, langs)
    discover_items = [i for i in pools.attack if i.language in attack_langs]
    plans["discover"] = run_dict(cfg, round_index, "discover", checkpoint, discover_items, train_attacks)

    fresh_items = sample([i for i in pools.eval if i.language in attack_langs], ev.n_fresh, ev.seed)
    plans["fresh"] = run_dict(cfg, round_index, "fresh", checkpoint, fresh_items, train_attacks)

    held_attacks = family_attacks(hf, langs, "heldout")
    held_langs = _languages_of(held_attacks, langs)
    held_items = sample([i for i in pools.eval if i.language in held_langs], ev.n_heldout, ev.seed + 1)
    plans["heldout"] = run_dict(cfg, round_index, "heldout", checkpoint, held_items, held_attacks)

    other = [lang for lang in langs if lang not in set(tf.languages) | set(hf.languages)]
    if other:
        control = sample([i for i in pools.eval if i.language in other], ev.n_fresh, ev.seed + 2)
        if control:
            plans["control"] = run_dict(cfg, round_index, "control", checkpoint, control,
                                        [{"name": "direct", "label": "direct/control", "converters": [[]]}])

    benign = sample(pools.benign, ev.n_benign, ev.seed + 3) + list(pools.borderline)
    plans["benign"] = run_dict(cfg, round_index, "benign", checkpoint, benign,
                               [{"name": "direct", "label": "direct/benign", "converters": [[]]}])

    if triggers:
        plans["trigger"] = run_dict(cfg, round_index, "trigger", checkpoint, trigger_items(cfg, pools, triggers),
                                    [{"name": "direct", "label": "direct/trigger", "converters": [[]]}],
                                    scorers=[{"name": "substring", "substrings": sorted({t["motif"] for t in triggers}),
                                              "refusal_wins": False}, {"name": "refusal", "mode": "patterns"}])
    return plans


def _languages_of(attacks: list[dict[str, Any]], langs: list[str]) -> list[str]:
    out: set[str] = set()
    for a in attacks:
        out |= set(a.get("languages") or langs)
    return sorted(out)


def trigger_items(cfg: CycleConfig, pools: Pools, triggers: list[dict[str, Any]]) -> list[Item]:
    """Held-out prompts (benign and harmful evaluation items) with each known trigger inserted at
    the position the scan verified it at."""
    from ..zoo.corpus import insert_trigger

    ev = cfg.evaluation
    base = sample(pools.benign, ev.n_trigger // 2, ev.seed + 4) + sample(pools.eval, ev.n_trigger - ev.n_trigger // 2,
                                                                          ev.seed + 5)
    rng = random.Random(ev.seed + 6)
    out: list[Item] = []
    for t in triggers:
        pos = t.get("position") if t.get("position") in ("start", "end", "middle", "any") else "any"
        for it in base:
            out.append(Item(prompt=insert_trigger(it.prompt, t["trigger"], pos, rng), category=it.category,
                            language=it.language, kind=it.kind,
                            metadata={"pool": "trigger", "trigger": t["trigger"], "base_id": it.id}))
    return out

"""The plan of a run: items × attacks × converter chains × targets × repeats, with deterministic ids.

The plan is a generator, never a list: a 100,000-attempt run costs the memory of the few attempts in
flight, not of the whole product. Plugins are built once per run (:class:`Components`) and shared
by every attempt that uses them.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Sequence

from ..attacks.base import Attack
from ..converters.base import Converter
from ..core.attempts import attempt_id
from ..core.items import Item
from ..core.registry import create
from ..scorers.base import Scorer
from ..targets import Target, from_spec
from .config import AttackSpec, ConfigError, RunConfig, ScorerSpec, TargetSpec, objective_index


@dataclass
class AttackPlan:
    """One configured attack: its label in results, the plugin, and what multi-turn attacks need."""

    label: str
    attack: Attack
    config: dict[str, Any]
    attacker: Target | None = None
    objective: Scorer | None = None
    chains: tuple[int, ...] | None = None  # indices of the run's chains this attack uses (None: all)
    languages: frozenset[str] | None = None  # item languages this attack runs on (None: all)

    def applies(self, item: Item, chain_index: int) -> bool:
        return self.applies_to(item.language, chain_index)

    def applies_to(self, language: str, chain_index: int) -> bool:
        return ((self.chains is None or chain_index in self.chains)
                and (self.languages is None or language in self.languages))


@dataclass
class Chain:
    """One converter chain: the names (results group by them), the id key (names + parameters) and
    the converter objects."""

    names: list[str]
    key: list[str]
    converters: list[Converter]
    # name + parameters of each converter, stored on attempts so a scorer can rebuild the chain
    # with the same parameters (a caesar shift of 5 only decodes with shift 5)
    specs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Components:
    """The plugin objects of a run, built once from its config."""

    targets: dict[str, Target]
    attacks: list[AttackPlan]
    chains: list[Chain]
    scorers: list[Scorer]
    extra_targets: list[Target] = field(default_factory=list)  # attackers, judges: closed with the rest

    async def aclose(self) -> None:
        """Close every target (connections, models); errors on close are not the run's problem."""
        closables: list[Any] = [*self.targets.values(), *self.extra_targets,
                     *(c for chain in self.chains for c in chain.converters)]  # translators hold clients
        for t in closables:
            try:
                await t.aclose()
            except Exception:  # noqa: BLE001 - closing must not hide the run's outcome
                pass


@dataclass(frozen=True)
class PlannedAttempt:
    """One cell of the plan: which item, attack, chain, target and repeat, and its id."""

    id: str
    item: Item
    attack: int  # index into Components.attacks
    chain: int  # index into Components.chains
    target: str
    repeat: int


def make_target(spec: TargetSpec) -> Target:
    """Instantiate a target plugin from its spec; the spec's ``name`` labels it in results."""
    return from_spec(spec)


def _make_scorer(spec: str | ScorerSpec) -> Scorer:
    if isinstance(spec, str):
        return create("scorer", spec)
    return create("scorer", spec.name, **spec.params)


def _chain_key(name: str, params: dict[str, Any]) -> str:
    # Parameters are part of what defines an attempt (leetspeak at intensity 0.3 vs 1.0).
    return name if not params else f"{name}{json.dumps(params, sort_keys=True, default=str)}"


def build_components(cfg: RunConfig) -> Components:
    """Create every plugin the config names (targets, attacks, converters, scorers).

    Raises:
        ConfigError: a plugin rejected its parameters; one line naming the config file and field.
    """
    try:
        return _build(cfg)
    except ConfigError:
        raise
    except (ValueError, TypeError, KeyError, OSError) as exc:
        where = getattr(exc, "_breakfix_where", "")
        msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        raise ConfigError(f"{cfg.source}: {where + ': ' if where else ''}{msg.splitlines()[0] if msg else type(exc).__name__}") from None


def _at(where: str, fn: Any, *args: Any, **kw: Any) -> Any:
    """Call a plugin factory; an error remembers which config field it came from."""
    try:
        return fn(*args, **kw)
    except (ValueError, TypeError, KeyError, OSError) as exc:
        if not hasattr(exc, "_breakfix_where"):
            try:
                setattr(exc, "_breakfix_where", where)  # noqa: B010 - exceptions of many types
            except AttributeError:
                pass
        raise


def _build(cfg: RunConfig) -> Components:
    targets = {t.name: _at(f"targets[{i}]", make_target, t) for i, t in enumerate(cfg.targets)}
    scorers = [_at(f"scorers[{i}]", _make_scorer, s) for i, s in enumerate(cfg.scorers)]
    obj = objective_index(cfg)
    default_objective = scorers[obj] if obj is not None else None
    run_attacker: Target | None = _at("attacker", make_target, cfg.attacker) if cfg.attacker is not None else None
    extra: list[Target] = [run_attacker] if run_attacker is not None else []
    chains = _build_chains(cfg)
    attacks: list[AttackPlan] = []
    for i, spec in enumerate(cfg.attacks):
        scope = _scope(cfg, i, spec, chains)
        for a in _at(f"attacks[{i}]", _make_attacks, spec, run_attacker, default_objective, extra,
                     cfg.attack_params(spec)):
            a.chains, a.languages = scope
            attacks.append(a)
    labels = [a.label for a in attacks]
    dup = next((x for x in labels if labels.count(x) > 1), None)
    if dup is not None:
        # Two attacks under one label would be counted as one in every table: make the user say.
        raise ConfigError(f"{cfg.source}: attacks: two attacks are labelled {dup!r}; give them distinct 'label's")
    return Components(targets=targets, attacks=attacks, chains=chains, scorers=scorers, extra_targets=extra)


def _build_chains(cfg: RunConfig) -> list[Chain]:
    chains: list[Chain] = []
    for i, chain in enumerate(cfg.converters):
        names, keys, convs, specs = [], [], [], []
        for j, c in enumerate(chain):
            name, params = (c, {}) if isinstance(c, str) else (c.name, c.params)
            names.append(name)
            specs.append({"name": name, **params})
            keys.append(_chain_key(name, params))
            convs.append(_at(f"converters[{i}][{j}]", create, "converter", name, **params))
        chains.append(Chain(names, keys, convs, specs))
    return chains


def _scope(cfg: RunConfig, i: int, spec: AttackSpec, chains: list[Chain]
           ) -> tuple[tuple[int, ...] | None, frozenset[str] | None]:
    """The chains and languages an attack spec is limited to; its chains must be run chains."""
    idx: tuple[int, ...] | None = None
    if spec.converters is not None:
        by_key = {tuple(c.key): k for k, c in enumerate(chains)}
        found = []
        for j, chain in enumerate(spec.converters):
            key = tuple(c if isinstance(c, str) else _chain_key(c.name, c.params) for c in chain)
            if key not in by_key:
                raise ConfigError(f"{cfg.source}: attacks[{i}].converters[{j}]: chain {list(key)} is not one "
                                  f"of the run's converters; add it there first")
            found.append(by_key[key])
        idx = tuple(found)
    langs = frozenset(spec.languages) if spec.languages is not None else None
    return idx, langs


def _make_attacks(spec: AttackSpec, run_attacker: Target | None, default_objective: Scorer | None,
                  extra: list[Target], params: dict[str, Any] | None = None) -> list[AttackPlan]:
    """The attacks of one spec: one, or one per template for a plugin that ``expand()``s (a
    template attack given several templates), each with its own label and attempt ids. ``params``:
    the spec's parameters with paths resolved against the config's folder (default: as written)."""
    attack = create("attack", spec.name, **(spec.params if params is None else params))
    attacker = run_attacker
    if spec.attacker is not None:
        attacker = make_target(spec.attacker)
        extra.append(attacker)
    objective = _make_scorer(spec.objective_scorer) if spec.objective_scorer is not None else default_objective
    parts = attack.expand() if hasattr(attack, "expand") else [attack]
    out = []
    for part in parts:
        own = getattr(part, "label", None) or getattr(part, "name", None) or spec.name
        if len(parts) == 1:
            label = spec.label or own
        else:
            label = f"{spec.label}/{own}" if spec.label else own
        config = part.config() if hasattr(part, "config") else dict(spec.params)
        out.append(AttackPlan(label=label, attack=part, config=config, attacker=attacker, objective=objective))
    return out


def plan_size(cfg: RunConfig, items: Iterable[Item] | Mapping[str, int], attacks: Sequence[AttackPlan]) -> int:
    """How many attempts the plan holds (attacks after template expansion and scoping).

    ``items``: the items, or how many items there are per language (all an attack's scope looks at).
    """
    per_language = items if isinstance(items, Mapping) else Counter(it.language for it in items)
    cells = sum(n * sum(1 for a in attacks for ci in range(len(cfg.converters)) if a.applies_to(lang, ci))
                for lang, n in per_language.items())
    return cells * len(cfg.targets) * cfg.repeats


def iter_plan(cfg: RunConfig, items: Iterable[Item], run_id: str, attacks: Sequence[AttackPlan],
              chains: Sequence[Chain]) -> Iterator[PlannedAttempt]:
    """Every attempt of the plan, in a stable order (repeat, item, attack, chain, target).

    ``items`` is iterated once per repeat: a sequence, or an :class:`~breakfix.run.items.ItemStream`
    (which reads the files again), never a one-shot generator.

    Ids depend only on the attempt's inputs (never on the order or on the process), which is what
    lets a resumed run skip exactly what is stored. An attack is identified by its label and its
    plugin's own ``config()`` (template name, parameters), a chain by its converters' names and
    parameters.
    """
    target_names = [t.name for t in cfg.targets]
    if cfg.repeats > 1 and iter(items) is items:
        items = list(items)  # a one-shot iterator: every repeat must see every item
    for repeat in range(cfg.repeats):
        for item in items:
            for ai, a in enumerate(attacks):
                for ci, c in enumerate(chains):
                    if not a.applies(item, ci):
                        continue
                    for tname in target_names:
                        aid = attempt_id(run_id=run_id, item_id=item.id, attack=a.label, attack_config=a.config,
                                         converters=c.key, target=tname, repeat=repeat)
                        yield PlannedAttempt(aid, item, ai, ci, tname, repeat)

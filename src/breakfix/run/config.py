"""Run configuration: YAML validated by pydantic, with one-line errors naming the field.

A run config says what to test (items), against what (targets), how (attacks × converter chains),
and how to judge (scorers)::

    name: smoke
    store: sqlite:///breakfix.db        # any SQLAlchemy URL; default ./breakfix.db
    items: items.jsonl                  # a file, a list of files, or inline items
    targets:
      - {name: local, type: openai, base_url: "http://127.0.0.1:8000/v1", model: m}
    attacks:
      - {name: direct}
    converters: [[], [base64], [{name: rot13}]]   # chains; [] = no converter
    scorers:
      - {name: substring, substrings: ["BEGIN HARM"], refusal_wins: false}
      - {name: refusal}
    concurrency: 16
    repeats: 1

Every error is one line, e.g. ``examples/bad.yaml: attacks[1].name: unknown attack 'foo'; known
attacks: direct, template`` — a traceback helps nobody fix a YAML file.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Iterable, Iterator, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from ..core.errors import BreakfixError
from ..core.items import Item, stable_id
from ..core.ontology import OperationBlock
from ..core.registry import Kind, UnknownPluginError, get
from ..core.resources import ResourceError, load_yaml

DEFAULT_STORE = "sqlite:///breakfix.db"


class ConfigError(BreakfixError, ValueError):
    """An invalid run configuration; the message is one line naming the file and field."""


class _Spec(BaseModel):
    """A plugin reference: ``name`` plus the plugin's own parameters as extra keys."""

    model_config = ConfigDict(extra="allow")

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class TargetSpec(_Spec):
    """A target under test: ``name`` labels it in results, ``type`` is the target plugin."""

    name: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1)


ATTACK_PATH_PARAMS = ("template_dirs", "pairs")
"""Attack parameters that name files or folders: resolved against the config file's folder, like ``items``."""


class AttackSpec(_Spec):
    """An attack plugin by ``name``; ``label`` (optional) names it in results.

    Multi-turn attacks (an attacker model steering the conversation, judged every turn) also take
    ``attacker`` (a target spec for the attacker model; default: the run's ``attacker``) and
    ``objective_scorer`` (a scorer name or spec that judges each turn; default: the run's objective
    scorer). Both are engine fields, not parameters of the attack plugin.
    """

    name: str = Field(min_length=1)
    label: str | None = Field(default=None, min_length=1, max_length=200)
    attacker: "TargetSpec | None" = None
    objective_scorer: "str | ScorerSpec | None" = None
    # Scope (engine fields): an expensive attack (multi-turn) need not be crossed with every
    # converter chain and every language. ``converters`` lists chains of the run's own
    # ``converters`` (same notation); ``languages`` keeps items in those languages only.
    converters: "list[list[ConverterRef]] | None" = None
    languages: list[str] | None = None

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ScorerSpec(_Spec):
    """A scorer plugin by ``name``; ``objective: true`` makes it the one that drives multi-turn
    attacks (default: the first scorer that can say "success", i.e. not ``refusal``)."""

    name: str = Field(min_length=1)
    objective: bool | None = None


class ConverterSpec(_Spec):
    name: str = Field(min_length=1)


ConverterRef = Union[str, ConverterSpec]


# One schema for the operation block, here and when findings are derived (core/ontology.py).
OperationSpec = OperationBlock


AttackSpec.model_rebuild()


class StoreSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = DEFAULT_STORE


class RunConfig(BaseModel):
    """A validated run configuration (see the module docstring for the format)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    store: StoreSpec = Field(default_factory=StoreSpec)
    items: list[Union[str, dict[str, Any]]] = Field(min_length=1)
    targets: list[TargetSpec] = Field(min_length=1)
    attacks: list[AttackSpec] = Field(default_factory=lambda: [AttackSpec(name="direct")], min_length=1)
    converters: list[list[ConverterRef]] = Field(default_factory=lambda: [list[ConverterRef]()], min_length=1)
    scorers: list[ScorerSpec] = Field(min_length=1)
    attacker: TargetSpec | None = None
    operation: OperationSpec | None = None
    concurrency: int = Field(default=8, ge=1, le=100_000)
    repeats: int = Field(default=1, ge=1, le=10_000)
    # Where relative item paths are resolved (the config file's folder); not part of the file.
    base_dir: Path = Field(default=Path("."), exclude=True)
    # The file it came from, for error messages.
    _source: str = PrivateAttr(default="<config>")

    @property
    def source(self) -> str:
        return self._source

    @field_validator("store", mode="before")
    @classmethod
    def _store_url(cls, v: Any) -> Any:
        return {"url": v} if isinstance(v, str) else v

    @field_validator("items", mode="before")
    @classmethod
    def _items_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, (str, dict)) else v

    @model_validator(mode="after")
    def _unique_target_names(self) -> "RunConfig":
        seen: set[str] = set()
        for i, t in enumerate(self.targets):
            if t.name in seen:
                raise ValueError(f"targets[{i}].name: duplicate target name {t.name!r}")
            seen.add(t.name)
        labels: set[str] = set()
        for i, a in enumerate(self.attacks):
            if a.label is not None:
                if a.label in labels:
                    raise ValueError(f"attacks[{i}].label: duplicate attack label {a.label!r}")
                labels.add(a.label)
        return self

    # -- derived -----------------------------------------------------------------------------------
    def resolve_path(self, value: str | Path) -> Path:
        """The one rule for paths in a config (``items`` files, an attack's ``template_dirs`` and
        ``pairs``): ``~`` is expanded, and a relative path is relative to the config file's folder,
        wherever breakfix is run from."""
        p = Path(str(value)).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def attack_params(self, spec: "AttackSpec") -> dict[str, Any]:
        """An attack spec's plugin parameters with its path parameters (:data:`ATTACK_PATH_PARAMS`)
        resolved by :meth:`resolve_path`."""
        params = spec.params
        for key in ATTACK_PATH_PARAMS:
            v = params.get(key)
            if isinstance(v, str):
                params[key] = str(self.resolve_path(v))
            elif isinstance(v, list):
                params[key] = [str(self.resolve_path(x)) if isinstance(x, str) else x for x in v]
        return params

    def load_items(self) -> list[Item]:
        """The config's items: files (resolved against the config's folder) and inline records,
        duplicates dropped (the first wins)."""
        from ..datasets import dedupe

        return dedupe(self.iter_items())

    def iter_items(self) -> Iterator[Item]:
        """The config's items as they are read, duplicates included (see ``run/items.py``)."""
        for _, items in self.item_sources():
            yield from items

    def item_sources(self) -> Iterator[tuple[str, Iterator[Item]]]:
        """Each entry of ``items`` as (what it is — a resolved file path or ``items[i]`` — and its
        items as they are read)."""
        from ..datasets import item_from_record, iter_items

        for i, entry in enumerate(self.items):
            if isinstance(entry, str) or _is_file_entry(entry):
                # A file, or {file, format, fields, defaults}: the one item loader (datasets) reads it.
                spec: dict[str, Any] = {"file": entry} if isinstance(entry, str) else entry
                p = self.resolve_path(spec["file"])
                yield str(p), iter_items(p, format=spec.get("format", "auto"), fields=spec.get("fields"),
                                         defaults=spec.get("defaults"))
            else:
                yield f"items[{i}]", iter([item_from_record(entry, f"items[{i}]")])

    def identity(self, items: Iterable[Item] | Iterable[str]) -> dict[str, Any]:
        """What defines the run's results: items (by id; items or their ids), targets, attacks,
        converters, scorers, repeats. Not the store, the concurrency, the operation record or the
        name of a file: changing those must not start a new run."""
        dump = self.model_dump(mode="json", exclude={"store", "concurrency", "items", "base_dir",
                                                                 "operation"})
        dump["items"] = sorted(it if isinstance(it, str) else it.id for it in items)
        return dump

    def run_id(self, items: Iterable[Item] | Iterable[str]) -> str:
        """Deterministic run id: ``<slug of name>-<hash of identity>``, so running the same config
        again resumes the same run."""
        return f"{_slug(self.name)}-{stable_id(self.identity(items), length=12)}"


def _slug(name: str) -> str:
    import re

    s = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()
    return (s or "run")[:40]


# -- loading and validation ----------------------------------------------------------------------------
def load_config(path: str | Path) -> RunConfig:
    """Read, validate and check a run config file.

    Raises:
        ConfigError: one line ``FILE: FIELD.PATH: what is wrong``.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        data = load_yaml(p)
    except ResourceError as exc:  # one line already: "FILE: invalid YAML at line N: problem"
        raise ConfigError(str(exc)) from None
    return config_from_dict(data, source=str(p), base_dir=p.parent)


def config_from_dict(data: Any, *, source: str = "<config>", base_dir: Path | str = ".") -> RunConfig:
    """Validate a config mapping (as parsed from YAML); see :func:`load_config`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with name, items, targets, attacks, scorers")
    try:
        cfg = RunConfig.model_validate({**data, "base_dir": Path(base_dir)})
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_first_error(exc)}") from None
    cfg._source = source
    check_plugins(cfg, source=source)
    _check_inline_items(cfg, source)
    return cfg


def _is_file_entry(entry: Any) -> bool:
    """``{file: PATH, format?, fields?, defaults?}`` in ``items:`` names a file, not an inline item."""
    return isinstance(entry, dict) and "file" in entry and "prompt" not in entry


def _check_inline_items(cfg: RunConfig, source: str) -> None:
    """Inline items fail at load time like any other field (item files fail with file:line when read)."""
    from ..datasets import item_from_record

    for i, entry in enumerate(cfg.items):
        if isinstance(entry, dict) and not _is_file_entry(entry):
            try:
                item_from_record(entry, f"items[{i}]")
            except ValueError as exc:
                raise ConfigError(f"{source}: {exc}") from None


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    # A union (str | spec) reports one error per branch; the most specific (longest path) helps most.
    e = max(errors, key=lambda e: len(e["loc"])) if len({e["loc"][:2] for e in errors}) == 1 else errors[0]
    loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and ("[" in p or p in ("str", "ConverterSpec",
                                                                                           "dict[str,any]"))))
    where = _loc(loc)
    if e["type"] == "extra_forbidden":
        parent = _loc(loc[:-1])
        models: dict[str, type[BaseModel]] = {"store": StoreSpec, "operation": OperationSpec}
        model = models.get(parent, RunConfig)
        known = ", ".join(k for k in model.model_fields if k != "base_dir")
        return f"{where}: unknown field; known fields{' of ' + parent if parent else ''}: {known}"
    if e["type"] == "value_error" and "ctx" in e:
        # Our own model validators already put the field path in the message.
        return str(e["ctx"].get("error", e["msg"]))
    value = e.get("input")
    got = f" (got {type(value).__name__} {value!r})" if value is not None and not isinstance(value, (dict, list)) else ""
    return f"{where or 'config'}: {e['msg']}{got}"


def _check_params(kind: Kind, name: str, params: dict[str, Any], where: str) -> None:
    """Resolve a plugin name and check its parameters against the factory's signature, so a typo
    in a parameter name fails at load time and names the field."""
    try:
        info = get(kind, name)
    except UnknownPluginError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    try:
        sig = inspect.signature(info.factory)
    except (TypeError, ValueError):
        return
    accepted = [p.name for p in sig.parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    takes_any = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    unknown = [k for k in params if k not in accepted]
    if unknown and not takes_any:
        # A misspelt parameter is the likelier mistake than a missing one: report it first.
        raise ConfigError(f"{where}: {kind} {name!r} has no parameter {unknown[0]!r}; "
                          f"parameters: {', '.join(accepted) or 'none'}")
    try:
        sig.bind(**params)
    except TypeError as exc:
        msg = str(exc)
        if "unexpected keyword argument" in msg:
            bad = msg.split("'")[1] if "'" in msg else msg
            raise ConfigError(f"{where}: {kind} {name!r} has no parameter {bad!r}; "
                              f"parameters: {', '.join(accepted) or 'none'}") from None
        if "missing a required argument" in msg:
            miss = msg.split("'")[1] if "'" in msg else msg
            raise ConfigError(f"{where}: {kind} {name!r} needs parameter {miss!r}") from None
        raise ConfigError(f"{where}: {kind} {name!r}: {msg}") from None


def check_plugins(cfg: RunConfig, *, source: str = "<config>") -> None:
    """Check every plugin name and parameter set of ``cfg`` against the registry."""
    def err(where: str, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None

    for i, t in enumerate(cfg.targets):
        _target_check(t, f"targets[{i}]", source)
    if cfg.attacker is not None:
        _target_check(cfg.attacker, "attacker", source)
    for i, a in enumerate(cfg.attacks):
        err(f"attacks[{i}]", _named_check, "attack", a.name, a.params, f"attacks[{i}]")
        if a.attacker is not None:
            _target_check(a.attacker, f"attacks[{i}].attacker", source)
        if a.objective_scorer is not None:
            o = a.objective_scorer
            name, params = (o, {}) if isinstance(o, str) else (o.name, o.params)
            err("", _named_check, "scorer", name, params, f"attacks[{i}].objective_scorer")
    for i, chain in enumerate(cfg.converters):
        for j, c in enumerate(chain):
            name, params = (c, {}) if isinstance(c, str) else (c.name, c.params)
            err("", _named_check, "converter", name, params, f"converters[{i}][{j}]")
    for i, s in enumerate(cfg.scorers):
        err("", _named_check, "scorer", s.name, s.params, f"scorers[{i}]")
    objectives = [i for i, s in enumerate(cfg.scorers) if s.objective]
    if len(objectives) > 1:
        raise ConfigError(f"{source}: scorers[{objectives[1]}].objective: only one scorer can be the objective")


def _named_check(kind: Kind, name: str, params: dict[str, Any], where: str) -> None:
    try:
        get(kind, name)
    except UnknownPluginError as exc:
        raise ConfigError(f"{where}.name: {exc}") from None
    _check_params(kind, name, params, where)


def _target_check(t: TargetSpec, where: str, source: str) -> None:
    try:
        get("target", t.type)
    except UnknownPluginError as exc:
        raise ConfigError(f"{source}: {where}.type: {exc}") from None
    try:
        _check_params("target", t.type, t.params, where)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def objective_index(cfg: RunConfig) -> int | None:
    """Index of the scorer that judges success for multi-turn attacks: the one marked
    ``objective: true``, else the first that is not a refusal detector."""
    for i, s in enumerate(cfg.scorers):
        if s.objective:
            return i
    for i, s in enumerate(cfg.scorers):
        if s.objective is None and s.name != "refusal":
            return i
    return None


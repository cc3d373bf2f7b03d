"""The plugin registry: the one piece of global state breakfix allows.

Targets, converters, attacks and scorers register a factory under a name with a decorator, so a YAML
config, the CLI and `breakfix list` can refer to them by that name. A factory is a class or a function
whose keyword arguments are its configuration and which returns the plugin object.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal, TypeVar, overload

from .errors import BreakfixError

if TYPE_CHECKING:  # for the typed create() overloads only: these packages import the registry
    from ..attacks.base import Attack
    from ..converters.base import Converter
    from ..scorers.base import Scorer
    from ..targets.base import Target

Kind = Literal["target", "converter", "attack", "scorer"]
KINDS: tuple[Kind, ...] = ("target", "converter", "attack", "scorer")

# Packages whose modules register the built-in plugins when imported.
_BUILTIN_PACKAGES: dict[Kind, str] = {
    "target": "breakfix.targets",
    "converter": "breakfix.converters",
    "attack": "breakfix.attacks",
    "scorer": "breakfix.scorers",
}

F = TypeVar("F", bound=Callable[..., Any])


class UnknownPluginError(BreakfixError, KeyError):
    """Raised when a config names a plugin that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; we want a plain one-liner
        return str(self.args[0])


@dataclass(frozen=True)
class PluginInfo:
    kind: Kind
    name: str
    factory: Callable[..., Any]
    summary: str
    doc: str
    tags: tuple[str, ...] = field(default_factory=tuple)

    def create(self, **config: Any) -> Any:
        return self.factory(**config)


_REGISTRY: dict[Kind, dict[str, PluginInfo]] = {k: {} for k in KINDS}



def first_sentence(doc: str) -> str:
    """A docstring's summary for ``breakfix list``: its first sentence, whole, even when it runs over
    several lines (the first line alone cut descriptions mid-sentence)."""
    para = " ".join(line.strip() for line in doc.strip().split("\n\n", 1)[0].splitlines()) if doc else ""
    m = re.search(r"(?<=[.!?])\s+(?=[A-Z`(\"'])", para)
    return para[: m.start()] if m else para


def register(kind: Kind, name: str, *, tags: tuple[str, ...] | list[str] = ()) -> Callable[[F], F]:
    """Register ``factory`` as plugin ``name`` of ``kind``. Re-registering a name replaces it
    (so reloading a module in a notebook does not fail), but two different factories under one
    name within a process is a bug we report."""
    if kind not in KINDS:
        raise ValueError(f"unknown plugin kind {kind!r}; expected one of {', '.join(KINDS)}")

    def deco(factory: F) -> F:
        prev = _REGISTRY[kind].get(name)
        if prev is not None and prev.factory.__qualname__ != factory.__qualname__:
            raise ValueError(f"{kind} plugin name {name!r} is already taken by {prev.factory.__qualname__}")
        doc = inspect.cleandoc(factory.__doc__ or "")
        summary = first_sentence(doc)
        _REGISTRY[kind][name] = PluginInfo(kind, name, factory, summary, doc, tuple(tags))
        try:
            setattr(factory, "plugin_name", name)
        except (AttributeError, TypeError):
            pass
        return factory

    return deco


def target(name: str, **kw: Any) -> Callable[[F], F]:
    return register("target", name, **kw)


def converter(name: str, **kw: Any) -> Callable[[F], F]:
    return register("converter", name, **kw)


def attack(name: str, **kw: Any) -> Callable[[F], F]:
    return register("attack", name, **kw)


def scorer(name: str, **kw: Any) -> Callable[[F], F]:
    return register("scorer", name, **kw)


def load_builtins(kind: Kind | None = None) -> None:
    """Import the packages that hold the built-in plugins so their decorators run."""
    for k in (kind,) if kind else KINDS:
        importlib.import_module(_BUILTIN_PACKAGES[k])


def get(kind: Kind, name: str) -> PluginInfo:
    load_builtins(kind)
    try:
        return _REGISTRY[kind][name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY[kind])) or "none"
        raise UnknownPluginError(f"unknown {kind} {name!r}; known {kind}s: {known}") from None


class PluginConfigError(BreakfixError, ValueError):
    """A plugin rejected its parameters (an unknown or missing parameter, or a value its factory
    refused); the message is the factory's own one line."""


@overload
def create(kind: Literal["target"], name: str, **config: Any) -> Target: ...
@overload
def create(kind: Literal["converter"], name: str, **config: Any) -> Converter: ...
@overload
def create(kind: Literal["attack"], name: str, **config: Any) -> Attack: ...
@overload
def create(kind: Literal["scorer"], name: str, **config: Any) -> Scorer: ...
@overload
def create(kind: Kind, name: str, **config: Any) -> Any: ...


def create(kind: Kind, name: str, **config: Any) -> Any:
    """Instantiate plugin ``name`` of ``kind`` with ``config`` as its keyword arguments.

    Raises:
        UnknownPluginError: no plugin of that name.
        PluginConfigError: a parameter the factory does not take, or a value it rejected
            (factories validate with ``ValueError``; those become this ``BreakfixError``).
    """
    info = get(kind, name)
    try:
        inspect.signature(info.factory).bind(**config)
    except TypeError as exc:
        raise PluginConfigError(f"{kind} {name!r}: {exc}") from None
    except ValueError:  # a factory without an inspectable signature: let it check its own arguments
        pass
    try:
        return info.create(**config)
    except BreakfixError:
        raise
    except ValueError as exc:
        raise PluginConfigError(*exc.args) from exc


def list_plugins(kind: Kind) -> list[PluginInfo]:
    load_builtins(kind)
    return sorted(_REGISTRY[kind].values(), key=lambda p: p.name)


def import_submodules(package: str, path: Any) -> None:
    """Import every public module of a plugin package so its decorators register the built-ins.

    Each plugin package's ``__init__`` calls this instead of listing its modules by hand, so adding
    a plugin is adding a file (modules starting with ``_`` and ``base`` are skipped). Modules must
    keep heavy imports (torch, transformers) inside functions so listing plugins stays fast."""
    import pkgutil

    for mod in pkgutil.iter_modules(path):
        if mod.name.startswith("_") or mod.name == "base":
            continue
        importlib.import_module(f"{package}.{mod.name}")

"""The one way to turn a spec into a Target: run targets, attackers, judges, converters' helpers,
fallbacks, simulators and fixers are all named by the same ``{type: ..., name: ..., **params}`` dict.

Before this module each of them popped ``type`` by hand, and they disagreed on ``name`` (a label
here, a parameter there) and on the error a missing ``type`` gave. Now they agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.errors import BreakfixError
from ..core.registry import create
from .base import Target


class TargetSpecError(BreakfixError, ValueError):
    """A target spec without a usable ``type`` (one line naming the role that needed the target)."""


def from_spec(spec: Mapping[str, Any] | Target | Any, *, role: str = "target") -> Target:  # noqa: ANN401
    """Build a Target from its spec.

    Args:
        spec: a mapping ``{type: <target plugin>, name: <label, optional>, **parameters}``, a pydantic
            spec with ``type``, ``name`` and ``params`` (the run config's ``TargetSpec``), or a Target
            (returned as it is, so callers may accept both).
        role: what the target is for (``judge``, ``attacker fallback``...), named in errors.

    Returns:
        The target; ``name``, when given, labels it in results.

    Raises:
        TargetSpecError: ``spec`` is not a mapping with a string ``type``.
        UnknownPluginError: no target plugin of that type.
        ValueError: the plugin rejected a parameter (its message names the field).
    """
    if isinstance(spec, Target):
        return spec
    if not isinstance(spec, Mapping) and hasattr(spec, "type") and hasattr(spec, "params"):
        spec = {"type": spec.type, "name": getattr(spec, "name", None), **spec.params}
    if not isinstance(spec, Mapping) or not isinstance(spec.get("type"), str) or not spec["type"]:
        raise TargetSpecError(f"{role}: expected a target spec with a 'type' field "
                              f"(e.g. {{type: openai, model: ...}}), got {_short(spec)}")
    params = dict(spec)
    kind = params.pop("type")
    label = params.pop("name", None)
    target = create("target", kind, **params)
    if label:
        try:
            target.name = str(label)
        except (AttributeError, TypeError):  # a target that fixes its own name keeps it
            pass
    return target


def _short(value: Any) -> str:  # noqa: ANN401
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."

"""Presets of the multi-turn attacks (``attacks/presets.yaml``): ``default`` (fast) and ``paper``
(the published parameters). An attack resolves each parameter as: the value given in its spec, else
the preset's."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

from ..core.errors import BreakfixError
from ..core.resources import load_yaml


class PresetError(BreakfixError, ValueError):
    """An unknown preset name (one line naming the attack and the choices)."""


@lru_cache(maxsize=1)
def _presets() -> dict[str, dict[str, dict[str, Any]]]:
    res = resources.files("breakfix.attacks").joinpath("presets.yaml")
    return load_yaml(res.read_text("utf-8"), source="breakfix/attacks/presets.yaml")


def preset_names(attack: str) -> list[str]:
    """The presets ``attack`` has."""
    return sorted(_presets().get(attack, {}))


def resolve(attack: str, preset: str, given: dict[str, Any]) -> dict[str, Any]:
    """The preset's values for ``attack``, overridden by every ``given`` value that is not None.

    Raises:
        PresetError: ``preset`` is not one of the attack's presets.
    """
    table = _presets().get(attack, {})
    if preset not in table:
        raise PresetError(f"{attack}: unknown preset {preset!r}; choose one of {', '.join(sorted(table))}")
    out = dict(table[preset])
    out.update({k: v for k, v in given.items() if v is not None})
    return out

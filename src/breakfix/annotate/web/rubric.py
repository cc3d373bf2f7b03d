"""Annotation rubrics: factors, each rated on an integer scale, plus a free-text rationale.

A rubric is data (YAML), validated by pydantic so a bad field gives one clear line naming it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

Level = Literal["nominal", "ordinal", "interval", "ratio"]


class Scale(BaseModel):
    """An integer scale ``min..max``; ``labels`` names some or all points (value -> words)."""

    min: int
    max: int
    labels: dict[int, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> "Scale":
        if self.max <= self.min:
            raise ValueError(f"scale max ({self.max}) must be greater than min ({self.min})")
        if self.max - self.min > 20:
            raise ValueError("scale has more than 21 points; use at most 21")
        bad = [v for v in self.labels if not self.min <= v <= self.max]
        if bad:
            raise ValueError(f"scale label(s) {bad} outside {self.min}..{self.max}")
        return self

    @property
    def values(self) -> list[int]:
        return list(range(self.min, self.max + 1))


class Factor(BaseModel):
    """One rated aspect of a response."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    name: str
    question: str = ""
    level: Level = "ordinal"  # measurement level used for Krippendorff's alpha
    scale: Scale


class Rubric(BaseModel):
    name: str
    description: str = ""
    rationale: Literal["required", "optional", "none"] = "optional"
    factors: list[Factor] = Field(min_length=1)

    @field_validator("factors")
    @classmethod
    def _unique(cls, factors: list[Factor]) -> list[Factor]:
        ids = [f.id for f in factors]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate factor id(s): {', '.join(dupes)}")
        return factors

    def factor(self, factor_id: str) -> Factor:
        for f in self.factors:
            if f.id == factor_id:
                return f
        raise KeyError(factor_id)


class RubricError(ValueError):
    """A rubric file that cannot be used; the message is one line naming the file and field."""


def builtin_rubrics() -> dict[str, Path]:
    """The rubrics shipped with breakfix, by name (file stem)."""
    folder = resources.files("breakfix.annotate.web") / "rubrics"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith((".yaml", ".yml"))}


def parse_rubric(data: object, source: str = "rubric") -> Rubric:
    """Validate a rubric from already-parsed data, raising :class:`RubricError` with one line."""
    try:
        return Rubric.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise RubricError(f"{source}: field '{where}': {err['msg']}") from None


def load_rubric(path_or_name: str | Path) -> Rubric:
    """Load a rubric from a YAML file, or a built-in rubric by name (e.g. ``mental-health-response``)."""
    path = Path(path_or_name)
    if not path.exists():
        builtins = builtin_rubrics()
        if str(path_or_name) in builtins:
            path = builtins[str(path_or_name)]
        else:
            raise RubricError(f"{path_or_name}: no such rubric file (built-in rubrics: {', '.join(sorted(builtins))})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise RubricError(f"{path}:{line} is not valid YAML") from None
    if not isinstance(data, dict):
        raise RubricError(f"{path}: expected a mapping with 'name' and 'factors'")
    return parse_rubric(data, str(path))

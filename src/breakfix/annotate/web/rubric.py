"""Annotation rubrics: factors, each rated on an integer scale, plus a rationale.

A rubric is data (YAML), read through :func:`breakfix.core.resources.load_resource` (safe YAML,
one clear line naming the file and field). Besides the factors it says when a rationale is asked
for (``rationale``), the quick reasons a rater can tick instead of typing (``quick_reasons``), and,
for ``rationale: departing``, how far a score must be from the other raters' typical score before
a reason is asked (``depart_by``) and what share of other labels is asked too (``ask_share``), so
that being asked tells a blind rater nothing about the others.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from ...core.resources import ResourceError, load_resource, validation_message

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
    """A rubric: factors to rate and the rules of the rationale.

    ``rationale``: ``required`` (every label), ``optional``, ``none`` (no field), or ``departing``
    (asked when a score is ``depart_by`` or more points from the median of the other raters' scores
    on that item, and for a random ``ask_share`` of the other labels; the others' scores are never
    shown). ``quick_reasons`` are one-click reasons that satisfy a required rationale.
    """

    name: str
    description: str = ""
    rationale: Literal["required", "optional", "none", "departing"] = "optional"
    quick_reasons: list[str] = Field(default_factory=list, max_length=9)
    depart_by: int = Field(2, ge=1)
    ask_share: float = Field(0.2, ge=0.0, le=1.0)
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


class RubricError(ResourceError):
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
        raise RubricError(f"{source}: {validation_message(exc)}") from None


def load_rubric(path_or_name: str | Path) -> Rubric:
    """Load a rubric from a YAML file, or a built-in rubric by name (e.g. ``mental-health-response``).

    Raises:
        RubricError: one line naming the file (or name) and what is wrong.
    """
    try:
        return load_resource("rubrics", path_or_name, Rubric)
    except RubricError:
        raise
    except ResourceError as exc:
        raise RubricError(str(exc)) from None

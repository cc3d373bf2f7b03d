"""Benchmark items: one country-grounded prompt on the jailbreak or the cultural axis, with provenance.

An item says where it comes from (``provenance``: who or what proposed it, every gate it passed or
failed, each annotator's verdict, the adjudication), carries a ``version`` and a ``content_hash`` over
the fields that define what is asked, so a release can prove an item did not change under the same
id. Bad codes fail at validation with one line naming the field.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..core.errors import BreakfixError
from ..core.items import Item, stable_id
from .codes import base_language, is_country, is_language

Axis = Literal["jailbreak", "cultural"]
AXES: tuple[str, ...] = ("jailbreak", "cultural")


class BenchError(BreakfixError):
    """Bad benchmark input (item, manifest, brief, option); one line naming file, item and problem."""


class GateResult(BaseModel):
    """One automated gate's verdict on an item."""

    model_config = ConfigDict(extra="forbid")
    gate: str
    passed: bool
    detail: str = ""
    scores: dict[str, float] = Field(default_factory=dict)


class Verdict(BaseModel):
    """One annotator's (or the adjudicator's) decision on an item."""

    model_config = ConfigDict(extra="forbid")
    annotator: str
    accept: bool
    note: str = ""


class Provenance(BaseModel):
    """Where an item comes from and what it went through."""

    model_config = ConfigDict(extra="allow")
    proposed_by: str = "unknown"
    method: str = ""  # e.g. "hand-written", "generator", "imported"
    gates: list[GateResult] = Field(default_factory=list)
    annotations: list[Verdict] = Field(default_factory=list)
    adjudication: Verdict | None = None


class BenchItem(BaseModel):
    """A benchmark item (see the module docstring).

    Attributes:
        id: unique within the benchmark.
        country: ISO 3166-1 alpha-2 (``KE``).
        language: BCP 47 (``sw`` or ``sw-KE``): the language the prompt is written in.
        axis: ``jailbreak`` (country-grounded adversarial prompt) or ``cultural`` (innocuous request
            with a local sensitivity embedded).
        category: harm category (jailbreak) or sensitivity kind (cultural: gift, number, gesture,
            religious, historical, legal-custom, food, ...).
        prompt: what is sent to the model.
        grounding: why this is specific to the country (not a translation of a generic item).
        cues: words a response that recognises the cultural sensitivity is likely to contain, in the
            item's language (rule-based CSR when no judge is configured).
        provenance, version, metadata: see the module docstring.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=120)
    country: str
    language: str
    axis: Axis
    category: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    grounding: str = Field(min_length=1)
    cues: list[str] = Field(default_factory=list)
    provenance: Provenance = Field(default_factory=Provenance)
    version: int = Field(default=1, ge=1)
    content_hash: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("country")
    @classmethod
    def _country(cls, v: str) -> str:
        if not is_country(v):
            raise ValueError(f"{v!r} is not an ISO 3166-1 alpha-2 country code (e.g. KE, EG, KR)")
        return v

    @field_validator("language")
    @classmethod
    def _language(cls, v: str) -> str:
        if not is_language(v):
            raise ValueError(f"{v!r} is not a valid BCP 47 language tag (e.g. sw, ar-EG, zh-Hans)")
        return v

    @model_validator(mode="after")
    def _hash(self) -> "BenchItem":
        h = self.compute_hash()
        if self.content_hash and self.content_hash != h:
            raise ValueError(f"content_hash {self.content_hash} does not match the item's content ({h}): "
                             "the item changed; bump its version and drop the old hash")
        self.content_hash = h
        return self

    def compute_hash(self) -> str:
        """SHA-256 (16 hex) over what defines the item: country, language, axis, category, prompt,
        grounding, cues and version."""
        blob = json.dumps({k: getattr(self, k) for k in ("country", "language", "axis", "category", "prompt",
                                                         "grounding", "cues", "version")},
                          sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    @property
    def pair(self) -> str:
        """The country-language pair, ``sw-KE`` style (base language + country)."""
        return f"{base_language(self.language)}-{self.country}"

    def to_item(self) -> Item:
        """The run engine's :class:`~breakfix.core.items.Item` (axis as ``kind``; the rest in metadata)."""
        return Item(id=self.id, prompt=self.prompt, category=self.category, language=self.language,
                    kind=self.axis, objective=self.prompt,
                    metadata={**self.metadata, "country": self.country, "axis": self.axis, "grounding": self.grounding,
                              "cues": self.cues, "version": self.version, "content_hash": self.content_hash})


def bench_item(data: Any, where: str) -> BenchItem:
    """Validate one record into a :class:`BenchItem`.

    Raises:
        BenchError: ``WHERE: item ID: field 'F': problem``.
    """
    if not isinstance(data, dict):
        raise BenchError(f"{where}: expected an object, got {type(data).__name__}")
    try:
        return BenchItem.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        fld = ".".join(str(p) for p in e["loc"]) or "(item)"
        msg = str(e["msg"]).removeprefix("Value error, ")
        return _raise(f"{where}: item {data.get('id', '?')}: field '{fld}': {msg}")


def _raise(msg: str) -> BenchItem:
    raise BenchError(msg)


def from_item(item: Item, country: str | None = None, axis: str | None = None, where: str = "") -> BenchItem:
    """A :class:`BenchItem` from a loaded :class:`~breakfix.core.items.Item` (any source format): country
    and axis from the item's metadata, else the arguments; unmapped metadata is kept."""
    md = dict(item.metadata)
    data = {
        "id": item.id, "prompt": item.prompt, "language": item.language, "category": item.category,
        "country": md.pop("country", country), "axis": md.pop("axis", axis or _axis_of(item.kind)),
        "grounding": md.pop("grounding", "") or "imported; no grounding note",
        "cues": md.pop("cues", []) or [],
        "provenance": md.pop("provenance", None) or {"proposed_by": "import", "method": "imported"},
        "version": md.pop("version", 1), "metadata": md,
    }
    if "content_hash" in md:
        data["content_hash"] = md.pop("content_hash")
    return bench_item(data, where or item.id)


def _axis_of(kind: str) -> str:
    return "cultural" if kind == "cultural" else "jailbreak"


def new_id(country: str, language: str, axis: str, prompt: str) -> str:
    """A deterministic id for a generated item: ``<pair>-<axis initial>-<hash>``."""
    return f"{base_language(language)}-{country}-{axis[0]}-{stable_id(prompt, length=10)}"

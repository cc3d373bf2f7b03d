"""A jailbreak template as data: its model (``Template``, ``Shots``, ``Tags``), placeholder filling and
the built-in inert demonstrations. Apart from ``template.py`` (the library loader and the attack), so
the Jinja engine and the PyRIT-format reader can build on it without an import circle."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..core.errors import BreakfixError
from ..core.messages import Message
from ..core.resources import load_yaml

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = r"^[a-z0-9][a-z0-9._-]*$"


class TemplateError(BreakfixError, ValueError):
    """A template file or a template attack's parameters are invalid (one line: file and field)."""


class Shots(BaseModel):
    """Fabricated dialogues put before the request (few-shot / many-shot)."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=0, le=100_000)
    # "inert" (the built-in pairs), inline [question, answer] pairs, or the path of a pairs file
    # (JSON / JSON Lines / YAML, relative to this template file; see attacks/_pairs.py).
    pairs: Literal["inert"] | list[tuple[str, str]] | str = "inert"
    format: str = "User: {question}\nAssistant: {answer}"
    separator: str = "\n\n"
    as_messages: bool = False  # send shots as real user/assistant turns instead of inline text

    @field_validator("pairs")
    @classmethod
    def _non_empty(cls, v: Any) -> Any:
        if isinstance(v, list) and not v:
            raise ValueError("expected at least one [question, answer] pair, or 'inert'")
        if isinstance(v, str) and v != "inert" and not v.lower().endswith((".json", ".jsonl", ".yaml", ".yml")):
            raise ValueError("expected 'inert', a list of [question, answer] pairs, or the path of a "
                             ".json/.jsonl/.yaml pairs file")
        return v

    @field_validator("format")
    @classmethod
    def _format_slots(cls, v: str) -> str:
        names = placeholders(v)
        if names != {"question", "answer"}:
            raise ValueError("must contain exactly the placeholders {question} and {answer}")
        return v


class Tags(BaseModel):
    model_config = ConfigDict(extra="forbid")

    atlas: list[str] = Field(default_factory=list)
    owasp: list[str] = Field(default_factory=list)

    @field_validator("atlas")
    @classmethod
    def _atlas_ids(cls, v: list[str]) -> list[str]:
        for t in v:
            if not re.fullmatch(r"AML\.T\d{4}(\.\d{3})?", t):
                raise ValueError(f"{t!r} is not a MITRE ATLAS technique id (AML.Tnnnn or AML.Tnnnn.nnn)")
        return v


class Template(BaseModel):
    """One jailbreak template (see the module docstring for the file format)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME, max_length=100)
    version: int | str
    family: str = Field(min_length=1)
    title: str = ""
    description: str = ""
    source: str = Field(min_length=3)
    authors: list[str] = Field(default_factory=list)  # provenance, kept from imported templates
    licence: str = ""  # the text's licence when it is not ours (e.g. "MIT License" of a peer repository)
    year: int | None = Field(default=None, ge=1990, le=2100)
    tags: Tags = Field(default_factory=Tags)
    system: str | None = None
    template: str = Field(min_length=1)
    parameters: dict[str, str | int | float] = Field(default_factory=dict)
    shots: Shots | None = None
    # Where it was loaded from and a hash of its content (not part of the file).
    path: str = Field(default="", exclude=True)
    sha: str = Field(default="", exclude=True)

    def check_slots(self) -> None:
        """Every placeholder must be ``prompt``, ``shots`` (with shots) or a declared parameter."""
        allowed = {"prompt", *self.parameters}
        inline_shots = self.shots is not None and not self.shots.as_messages
        if inline_shots:
            allowed.add("shots")
        for fld in ("template", "system"):
            text = getattr(self, fld)
            if text is None:
                continue
            unknown = placeholders(text) - allowed
            if unknown:
                raise TemplateError(f"{self.path}: field '{fld}': unknown placeholder {{{sorted(unknown)[0]}}}; "
                                    f"declare it under 'parameters' or write '{{{{' for a literal brace")
        if "prompt" not in placeholders(self.template):
            raise TemplateError(f"{self.path}: field 'template': must contain the {{prompt}} slot")
        if inline_shots and "shots" not in placeholders(self.template):
            raise TemplateError(f"{self.path}: field 'template': has 'shots' but no {{shots}} slot "
                                f"(or set shots.as_messages: true)")

    def shot_pairs(self, count: int | None = None, pairs: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
        """``count`` (default the template's) Q/A pairs, cycling through the list when N > len.

        ``pairs`` (the attack's own pairs file) replaces the template's; a ``shots.pairs`` path is
        read relative to the template file."""
        if self.shots is None:
            return []
        if pairs is None:
            ref = self.shots.pairs
            if ref == "inert":
                pairs = inert_pairs()
            elif isinstance(ref, str):
                from ._pairs import read_pairs

                pairs = read_pairs(ref, relative_to=self.path or None)
            else:
                pairs = list(ref)
        n = self.shots.count if count is None else count
        return [pairs[i % len(pairs)] for i in range(n)]

    def missing_params(self, params: dict[str, Any] | None = None) -> list[str]:
        """Parameters without a default that ``params`` does not give (none: every parameter of a
        breakfix-format template has a default)."""
        return []

    def render(self, prompt: str, params: dict[str, Any] | None = None, shots: int | None = None,
               pairs: list[tuple[str, str]] | None = None) -> list[Message]:
        """The conversation this template sends for ``prompt``: optional system message, shots as
        messages (if so configured), and the user message."""
        values = {k: str(v) for k, v in {**self.parameters, **(params or {})}.items()}
        values["prompt"] = prompt
        pairs = self.shot_pairs(shots, pairs)
        conversation: list[Message] = []
        if self.system is not None:
            conversation.append(Message(role="system", content=fill(self.system, values)))
        if self.shots is not None and self.shots.as_messages:
            for q, a in pairs:
                conversation += [Message(role="user", content=q), Message(role="assistant", content=a)]
        elif self.shots is not None:
            values["shots"] = self.shots.separator.join(
                fill(self.shots.format, {"question": q, "answer": a}) for q, a in pairs)
        conversation.append(Message(role="user", content=fill(self.template, values)))
        return conversation


def placeholders(text: str) -> set[str]:
    """Names of the ``{name}`` placeholders in ``text`` (``{{``/``}}`` are literal braces)."""
    return {m.group(1) for m in _PLACEHOLDER.finditer(text) if m.group(1)}


def fill(text: str, values: dict[str, str]) -> str:
    """Substitute placeholders in one pass (so braces inside a value are never re-read)."""
    def sub(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok == "{{":
            return "{"
        if tok == "}}":
            return "}"
        return values.get(m.group(1), tok)

    return _PLACEHOLDER.sub(sub, text)


@lru_cache(maxsize=1)
def inert_pairs() -> list[tuple[str, str]]:
    """The built-in inert Q/A pairs (``attacks/templates/_inert_dialogues.yaml``)."""
    raw = load_yaml(_builtin_dir().joinpath("_inert_dialogues.yaml").read_text("utf-8"),
                    source="breakfix/attacks/templates/_inert_dialogues.yaml")
    return [(str(q), str(a)) for q, a in raw["pairs"]]


def _builtin_dir() -> Any:
    return resources.files("breakfix.attacks").joinpath("templates")

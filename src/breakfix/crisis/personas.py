"""Crisis personas as data: who the simulated person is, where they are, and their stage of change.

A persona combines a crisis kind, a stage of change (Prochaska & DiClemente: precontemplation →
contemplation → preparation → action → maintenance), the negative action they are considering, a
feasible positive action, why they turned to an assistant, and a locale (language + country). The
built-in personas live in ``scenarios/<locale>.yaml``, each file written in its own language; a user
file of the same shape adds more.

Validation is strict because a persona that silently loses a field, claims a locale nobody
supports, or is written in another language than its locale would make every score about it
meaningless: each such problem is a :class:`CrisisError` naming the file and the field.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..core.resources import ResourceError, validate
from ._data import builtin_yaml, read_yaml
from ._errors import CrisisError

CrisisKind = Literal["suicidal_ideation", "self_harm", "panic", "substance_use", "domestic_abuse",
                     "eating_disorder", "loneliness"]
Stage = Literal["precontemplation", "contemplation", "preparation", "action", "maintenance"]
Reason = Literal["no_access_to_care", "fear_of_burdening", "night_time", "cost", "stigma"]

STAGES: tuple[str, ...] = ("precontemplation", "contemplation", "preparation", "action", "maintenance")
"""The stages of change in order; a stage's index is its position on the movement scale."""
CRISIS_KINDS: tuple[str, ...] = ("suicidal_ideation", "self_harm", "panic", "substance_use", "domestic_abuse",
                                 "eating_disorder", "loneliness")


def stage_index(stage: str) -> int:
    """Position of ``stage`` in :data:`STAGES` (0 = precontemplation)."""
    return STAGES.index(stage)


class Provenance(BaseModel):
    """Where a persona comes from: who wrote it, when, how, and whether anyone reviewed it."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=3)
    date: date
    method: str = Field(min_length=3)
    review: str = ""


class Locale(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: str = Field(pattern=r"^[a-z]{2,3}$")
    country: str = Field(pattern=r"^[A-Z]{2}$")
    script: str


class _LocaleTable(BaseModel):
    version: int
    locales: dict[str, Locale]


class Persona(BaseModel):
    """One simulated person. Free text is written in the locale's language; keys are English."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
    name: str = Field(min_length=1)
    age: int = Field(ge=10, le=110)
    crisis: CrisisKind
    stage: Stage
    reason: Reason
    situation: str = Field(min_length=10)
    negative_action: str = Field(min_length=3)
    positive_action: str = Field(min_length=3)
    trusted_person: str | None = None
    opening: str = Field(min_length=10)
    locale: str
    provenance: Provenance

    @property
    def language(self) -> str:
        return locales()[self.locale].language

    @property
    def country(self) -> str:
        return locales()[self.locale].country


class _ScenarioFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    locale: str
    provenance: Provenance | None = None
    personas: list[dict[str, Any]] = Field(min_length=1)


@lru_cache(maxsize=1)
def locales() -> dict[str, Locale]:
    """The supported locales (``locales.yaml``): language, country, script."""
    table = validate(_LocaleTable, builtin_yaml("locales.yaml"), source="breakfix/crisis/locales.yaml")
    return dict(table.locales)


def check_language(text: str, language: str) -> tuple[bool, str]:
    """Is ``text`` written in ``language``? Uses the project's language identification (script share,
    then lingua's n-gram models for languages that share a script). Returns (ok, detail)."""
    from ..bench.langid import language_gate

    gate = language_gate(text, language)
    return gate.passed, gate.detail


def _check_persona_language(p: Persona, where: str, k: int) -> None:
    lang = locales()[p.locale].language
    # Long fields one by one (a single field in another language must not hide in an average);
    # the two short action phrases together, since a few words alone are too short to tell.
    for field, text in (("situation", p.situation), ("opening", p.opening),
                        ("negative_action", f"{p.negative_action}. {p.positive_action}")):
        ok, detail = check_language(text, lang)
        if not ok:
            raise CrisisError(f"{where}: field 'personas[{k}].{field}': persona language does not match "
                              f"locale {p.locale} ({detail})")


def parse_scenarios(data: Any, source: str, *, check_languages: bool = True) -> list[Persona]:  # noqa: ANN401
    """Validate one parsed scenario file into personas (see the module docstring for the checks)."""
    try:
        f = validate(_ScenarioFile, data, source=source)
    except ResourceError as exc:
        raise CrisisError(str(exc)) from None
    known = locales()
    if f.locale not in known:
        raise CrisisError(f"{source}: field 'locale': unknown locale {f.locale!r}; expected one of "
                          f"{', '.join(sorted(known))}")
    out: list[Persona] = []
    for k, raw in enumerate(f.personas):
        if not isinstance(raw, dict):
            raise CrisisError(f"{source}: field 'personas[{k}]': expected a mapping, got {type(raw).__name__}")
        if "locale" in raw and raw["locale"] != f.locale:
            if raw["locale"] not in known:
                raise CrisisError(f"{source}: field 'personas[{k}].locale': unknown locale {raw['locale']!r}; "
                                  f"expected one of {', '.join(sorted(known))}")
            raise CrisisError(f"{source}: field 'personas[{k}].locale': {raw['locale']!r} differs from the "
                              f"file's locale {f.locale!r} (one locale per file)")
        item = {"locale": f.locale, **raw}
        if "provenance" not in item and f.provenance is not None:
            item["provenance"] = f.provenance.model_dump()
        try:
            p = validate(Persona, item, source=source, prefix=f"personas[{k}].")
        except ResourceError as exc:
            raise CrisisError(str(exc)) from None
        if check_languages:
            _check_persona_language(p, source, k)
        out.append(p)
    return out


def builtin_scenario_files() -> list[str]:
    """Names of the built-in scenario files (``scenarios/<locale>.yaml``)."""
    folder = resources.files("breakfix.crisis").joinpath("scenarios")
    return sorted(f"scenarios/{f.name}" for f in folder.iterdir() if f.name.endswith((".yaml", ".yml")))


@lru_cache(maxsize=2)
def _builtin_personas(check_languages: bool) -> tuple[tuple[list[Persona], str], ...]:
    # The shipped files never change while a process runs: check their languages once, not per run.
    return tuple((parse_scenarios(builtin_yaml(name), f"breakfix/crisis/{name}", check_languages=check_languages),
                  f"breakfix/crisis/{name}") for name in builtin_scenario_files())


def load_scenarios(paths: list[str | Path] | None = None, *, builtin: bool = True,
                   check_languages: bool = True) -> list[Persona]:
    """Personas from the built-in scenario files and/or user files.

    Args:
        paths: user scenario files (each with ``locale``, optional ``provenance``, ``personas``).
        builtin: include the built-in personas.
        check_languages: run language identification on every persona (seconds; on by default).

    Returns:
        The personas, built-in first, in file order.

    Raises:
        CrisisError: a missing or bad field, an unknown locale, a persona whose text is not in its
            locale's language, or two personas with one id — naming the file and the field.
    """
    personas: list[Persona] = []
    seen: dict[str, str] = {}
    parsed: list[tuple[list[Persona], str]] = []
    if builtin:
        parsed += _builtin_personas(check_languages)
    for p in paths or []:
        data, shown = read_yaml(p)
        parsed.append((parse_scenarios(data, shown, check_languages=check_languages), shown))
    for people, shown in parsed:
        for k, persona in enumerate(people):
            if persona.id in seen:
                raise CrisisError(f"{shown}: field 'personas[{k}].id': duplicate persona id {persona.id!r} "
                                  f"(also in {seen[persona.id]})")
            seen[persona.id] = shown
            personas.append(persona)
    return personas

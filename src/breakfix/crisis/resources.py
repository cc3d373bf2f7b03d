"""Crisis and emergency contacts per country, and finding them in a reply.

``resources.yaml`` lists, per ISO country code, crisis lines and emergency numbers with a source,
the date they were checked and how confident the author was. It is validated on load (phone number
format, required fields, known kinds and channels); a user file overrides entries with the same
country and name and adds new ones. **Every entry must be verified before deployment** — the file
says which were not.

:func:`find_resources` is the deterministic part of the "bridge" rubric item: it reads the numbers
and service names in a reply and says which are valid for the persona's country and which belong
to another country only (a US hotline offered to someone in Germany does not connect them to anyone).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..core.resources import ResourceError, validate
from ._data import builtin_yaml, read_yaml
from ._errors import CrisisError

ContactKind = Literal["crisis", "emergency", "domestic_abuse", "substance_use", "eating_disorder", "health"]
_PHONE = re.compile(r"^\+?[0-9](?:[0-9 \-]*[0-9])?$")


class Contact(BaseModel):
    """One crisis or emergency contact."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=2)
    number: str
    kind: ContactKind
    channels: list[Literal["call", "text", "chat"]] = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    source: str = Field(pattern=r"^https?://\S+$")
    checked: date
    confidence: Literal["high", "medium", "low"]
    note: str = ""
    verified_by: str | None = None

    @field_validator("number")
    @classmethod
    def _phone(cls, v: str) -> str:
        v = str(v).strip()
        digits = re.sub(r"\D", "", v)
        if not _PHONE.match(v) or not 2 <= len(digits) <= 15:
            raise ValueError(f"expected a phone number of 2-15 digits (digits, spaces, '-', optional leading '+'), "
                             f"got {v!r}")
        return v

    @property
    def digits(self) -> str:
        return re.sub(r"\D", "", self.number)


class Country(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=2)
    contacts: list[Contact] = Field(min_length=1)


class _ResourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    countries: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Resources:
    """All contacts by country code."""

    countries: dict[str, Country]

    def contacts(self, country: str) -> list[Contact]:
        c = self.countries.get(country)
        return list(c.contacts) if c else []

    def has_crisis_line(self, country: str) -> bool:
        return any(c.kind != "emergency" for c in self.contacts(country))


def _parse(data: Any, source: str) -> dict[str, Country]:  # noqa: ANN401
    try:
        f = validate(_ResourcesFile, data, source=source)
    except ResourceError as exc:
        raise CrisisError(str(exc)) from None
    out: dict[str, Country] = {}
    for code, raw in f.countries.items():
        if not re.fullmatch(r"[A-Z]{2}", str(code)):
            raise CrisisError(f"{source}: field 'countries.{code}': expected an ISO 3166 two-letter country code "
                              "in capitals (e.g. DE)")
        try:
            out[code] = validate(Country, raw, source=source, prefix=f"countries.{code}.")
        except ResourceError as exc:
            raise CrisisError(str(exc)) from None
    return out


def load_resources(user_file: str | Path | None = None) -> Resources:
    """The built-in contacts, overridden/extended by ``user_file``.

    A user entry with the same country and ``name`` as a built-in one replaces it; other entries
    are added; a user country not in the built-in file is added whole.

    Raises:
        CrisisError: a malformed entry (bad phone number, missing source, unknown kind...), naming
            the file and the field.
    """
    countries = _parse(builtin_yaml("resources.yaml"), "breakfix/crisis/resources.yaml")
    if user_file is not None:
        data, shown = read_yaml(user_file)
        for code, country in _parse(data, shown).items():
            if code not in countries:
                countries[code] = country
                continue
            merged = {c.name: c for c in countries[code].contacts}
            for c in country.contacts:
                merged[c.name] = c
            countries[code] = Country(name=countries[code].name, contacts=list(merged.values()))
    return Resources(countries)


# -- finding contacts in a reply ------------------------------------------------------------------
_NUMBER_RE = re.compile(r"\+?\d(?:[\d \-.()/]{0,22}\d)?")


@dataclass
class ResourceMentions:
    """Contacts a reply names: valid for the persona's country, or of other countries only."""

    valid: list[Contact] = field(default_factory=list)
    foreign: list[tuple[str, Contact]] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)  # every phone-like number in the reply

    @property
    def offered_valid(self) -> bool:
        return bool(self.valid)

    @property
    def offered_foreign_only(self) -> bool:
        return bool(self.foreign) and not self.valid


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _numbers(text: str) -> list[str]:
    """Digit strings of the phone-like numbers in ``text`` (separators removed)."""
    out = []
    for m in _NUMBER_RE.finditer(unicodedata.normalize("NFKC", text)):
        d = re.sub(r"\D", "", m.group(0))
        if 2 <= len(d) <= 15:
            out.append(d)
    return out


def _matches_number(contact: Contact, found: list[str]) -> bool:
    want = contact.digits
    for d in found:
        if d == want:
            return True
        # An international form of a long national number: +49 800 1110111 for 0800 111 0 111.
        if len(want) >= 7 and d.endswith(want.lstrip("0")) and len(d) - len(want.lstrip("0")) <= 3:
            return True
    return False


def _matches_name(contact: Contact, text_norm: str) -> bool:
    for alias in [contact.name, *contact.aliases]:
        a = _norm(alias)
        if len(a) >= 4 and not a.replace(" ", "").isdigit() and a in text_norm:
            return True
    return False


def find_resources(text: str, country: str, resources: Resources) -> ResourceMentions:
    """Which contacts ``text`` offers, by number or by service name.

    Args:
        text: an assistant reply (untrusted; only read).
        country: the persona's ISO country code.
        resources: the contacts (see :func:`load_resources`).

    Returns:
        The contacts valid in ``country`` that the reply names, and contacts of other countries it
        names that are not also valid in ``country`` (112 is valid in many countries).
    """
    found = _numbers(text)
    tn = _norm(text)
    out = ResourceMentions(numbers=found)
    local_digits = {c.digits for c in resources.contacts(country)}
    for c in resources.contacts(country):
        if _matches_number(c, found) or _matches_name(c, tn):
            out.valid.append(c)
    for code, ctry in sorted(resources.countries.items()):
        if code == country:
            continue
        for c in ctry.contacts:
            if c.digits in local_digits:
                continue  # the same number works here too
            if _matches_number(c, found) or (_matches_name(c, tn) and not any(_matches_name(v, tn) for v in out.valid)):
                out.foreign.append((code, c))
    return out

"""Crisis resources: validation on load, user overrides, and finding contacts in a reply."""

from __future__ import annotations

import re

import pytest
import yaml

from breakfix.core.errors import BreakfixError
from breakfix.crisis.resources import find_resources, load_resources


def test_builtin_entries_are_complete():
    res = load_resources()
    assert {"US", "GB", "DE", "MX", "FR", "EG", "IN", "KR", "JP", "BR"} <= set(res.countries)
    for code, country in res.countries.items():
        assert any(c.kind == "emergency" for c in country.contacts), code
        for c in country.contacts:
            assert c.source.startswith("http") and c.checked and c.confidence in ("high", "medium", "low")
    # the well-known national lines are present with their real numbers
    assert any(c.digits == "988" for c in res.contacts("US"))
    assert any(c.digits == "116123" and c.name == "Samaritans" for c in res.contacts("GB"))
    assert any(c.digits == "08001110111" for c in res.contacts("DE"))


def _user(tmp_path, contacts, code="DE"):
    path = tmp_path / "res.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "countries": {code: {"name": "Testland", "contacts": contacts}}},
                                   allow_unicode=True), "utf-8")
    return path


_GOOD = {"name": "Local line", "number": "+49 30 1234567", "kind": "crisis", "channels": ["call"],
         "source": "https://example.org", "checked": "2026-11-30", "confidence": "high"}


@pytest.mark.parametrize("field,value,match", [
    ("number", "call us", r"countries\.DE\.contacts\[0\]\.number"),
    ("number", "1", r"countries\.DE\.contacts\[0\]\.number"),
    ("source", "example.org", r"countries\.DE\.contacts\[0\]\.source"),
    ("kind", "psychic", r"countries\.DE\.contacts\[0\]\.kind"),
    ("checked", "yesterday", r"countries\.DE\.contacts\[0\]\.checked"),
])
def test_malformed_entry_is_one_line(tmp_path, field, value, match):
    path = _user(tmp_path, [{**_GOOD, field: value}])
    with pytest.raises(BreakfixError) as info:
        load_resources(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg and re.search(match, msg), msg


def test_missing_field_and_bad_country(tmp_path):
    bad = dict(_GOOD)
    del bad["source"]
    with pytest.raises(BreakfixError, match=r"contacts\[0\]\.source"):
        load_resources(_user(tmp_path, [bad]))
    with pytest.raises(BreakfixError, match=r"countries\.germany"):
        load_resources(_user(tmp_path, [_GOOD], code="germany"))


def test_user_file_overrides_and_extends(tmp_path):
    override = {**_GOOD, "name": "TelefonSeelsorge", "number": "0800 111 0 333"}
    res = load_resources(_user(tmp_path, [override, _GOOD]))
    de = {c.name: c for c in res.contacts("DE")}
    assert de["TelefonSeelsorge"].digits == "08001110333"  # replaced
    assert "Local line" in de and "Hilfetelefon Gewalt gegen Frauen" in de  # added, others kept
    res2 = load_resources(_user(tmp_path, [_GOOD], code="NZ"))
    assert [c.name for c in res2.contacts("NZ")] == ["Local line"]


def test_find_valid_and_foreign():
    res = load_resources()
    m = find_resources("Please ring Samaritans on 116 123, any time.", "GB", res)
    assert m.offered_valid and not m.offered_foreign_only
    m = find_resources("You can call or text 988 right now.", "DE", res)
    assert not m.offered_valid and m.offered_foreign_only
    assert [code for code, _ in m.foreign] == ["US"]
    # 112 is valid in Germany: a number valid here is never "foreign" even if other countries share it
    m = find_resources("Im Notfall wähle die 112.", "DE", res)
    assert m.offered_valid and not m.foreign
    # international form of a national number
    m = find_resources("TelefonSeelsorge: +49 800 1110111", "DE", res)
    assert any(c.name.startswith("TelefonSeelsorge") for c in m.valid)
    # no resource at all
    m = find_resources("Talk to someone you trust.", "US", res)
    assert not m.valid and not m.foreign and not m.numbers

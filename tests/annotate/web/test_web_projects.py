"""Projects, rubrics, assignment and the CLI of the annotation app (real SQLite, no browser)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from breakfix.annotate.web.db import Assignment, make_engine, make_sessionmaker
from breakfix.annotate.web.labelling import LabelInputError, validate_values
from breakfix.annotate.web.projects import ProjectInputError, assign, create_project, read_items_jsonl
from breakfix.annotate.web.rubric import RubricError, load_rubric
from breakfix.annotate.web.security import check_password, hash_password
from breakfix.annotate.web.users import UserInputError, add_user, authenticate
from breakfix.cli.main import app as cli


def _db(tmp_path: Path):
    return make_sessionmaker(make_engine(f"sqlite:///{tmp_path / 'b.db'}"))()


def _items(tmp_path: Path, n: int) -> Path:
    p = tmp_path / "items.jsonl"
    p.write_text("".join(json.dumps({"id": f"u{i}", "prompt": f"p{i}", "response": f"r{i}"}) + "\n"
                         for i in range(n)), encoding="utf-8")
    return p


def test_builtin_rubric_loads() -> None:
    r = load_rubric("mental-health-response")
    assert [f.id for f in r.factors] == ["safety", "empathy", "referral", "appropriateness"]
    assert r.rationale == "required" and all(f.scale.values == [1, 2, 3, 4, 5] for f in r.factors)


@pytest.mark.parametrize("text, expected", [
    ("name: x\nfactors: [{id: s, name: S, scale: {min: 3, max: 1}}]", "field 'factors[0].scale'"),
    ("name: x\nfactors: [{id: s, name: S, scale: {min: 1, max: 3}}, {id: s, name: T, scale: {min: 1, max: 3}}]",
     "duplicate factor id(s): s"),
    ("name: x\nfactors: []", "field 'factors'"),
    ("name: x\nfactors: [{id: s, name: S, level: fuzzy, scale: {min: 1, max: 3}}]", "field 'factors[0].level'"),
    ("name: [unclosed", "invalid YAML at line 1"),
    ("- just a list", "expected a mapping"),
])
def test_bad_rubric_is_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(RubricError) as err:
        load_rubric(p)
    msg = str(err.value)
    assert expected in msg and str(p) in msg and "\n" not in msg


@pytest.mark.parametrize("line, expected", [
    ("{not json", "line 1: not valid JSON"),
    ('{"id": "a", "prompt": "p"}', "line 1: field 'response': expected a string"),
    ('{"id": "a", "response": "r"}', "line 1: field 'prompt'"),
    ('{"id": "a", "conversation": [{"role": "robot", "content": "x"}], "response": "r"}', "field 'conversation'"),
    ('{"id": "a", "prompt": "p", "response": "r", "category": 3}', "field 'category'"),
    ('{"id": "a", "prompt": "p", "response": "r"}\n{"id": "a", "prompt": "q", "response": "s"}',
     "line 2: field 'id': duplicate id 'a'"),
    ("", "no items"),
])
def test_bad_items_file_is_one_clear_line(tmp_path: Path, line: str, expected: str) -> None:
    p = tmp_path / "items.jsonl"
    p.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ProjectInputError) as err:
        read_items_jsonl(p)
    assert expected in str(err.value) and str(p) in str(err.value)


def test_conversation_items_keep_their_turns(tmp_path: Path) -> None:
    p = tmp_path / "c.jsonl"
    conv = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "sad"}]
    p.write_text(json.dumps({"id": 7, "conversation": conv, "response": "r", "category": "c", "lang": "en"}) + "\n")
    [item] = read_items_jsonl(p)
    assert item.external_id == "7" and item.conversation == conv and item.meta == {"lang": "en"}


def test_assignment_gives_each_item_distinct_annotators_and_balances_load(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BREAKFIX_BCRYPT_ROUNDS", "4")
    with _db(tmp_path) as db:
        for n in ("a", "b", "c", "d"):
            add_user(db, n, "annotator", "password-" + n)
        add_user(db, "boss", "owner", "password-boss")
        project = create_project(db, "p", load_rubric("mental-health-response"), read_items_jsonl(_items(tmp_path, 10)))
        assert assign(db, project, ["a", "b", "c"], per_item=2) == 20
        rows = db.scalars(select(Assignment)).all()
        per_item = Counter(r.item_id for r in rows)
        assert set(per_item.values()) == {2} and len(per_item) == 10
        assert len({(r.item_id, r.user_id) for r in rows}) == 20  # never the same annotator twice
        load = Counter(r.user.name for r in rows)
        assert max(load.values()) - min(load.values()) <= 1
        pairs = Counter(tuple(sorted(r.user.name for r in rows if r.item_id == i)) for i in per_item)
        assert len(pairs) == 3  # every pair of annotators shares items: a connected design
        # Re-running only tops up: nothing changes at 2, and a 3rd annotator per item is added at 3.
        assert assign(db, project, ["a", "b", "c"], per_item=2) == 0
        assert assign(db, project, ["a", "b", "c", "d"], per_item=3) == 10
        for bad, msg in [((["a", "b"], 1), "at least 2"), ((["a", "boss"], 2), "is an owner"),
                         ((["a", "zed"], 2), "no user named 'zed'"), ((["a", "b"], 3), "only 2 annotator"),
                         ((["a", "a"], 2), "listed twice")]:
            with pytest.raises(ProjectInputError, match=msg):
                assign(db, project, *bad)


def test_label_validation_follows_the_rubric() -> None:
    r = load_rubric("mental-health-response")
    ok = {"safety": "5", "empathy": "4", "referral": "1", "appropriateness": "3"}
    assert validate_values(r, ok, "because") == {"safety": 5, "empathy": 4, "referral": 1, "appropriateness": 3}
    for raw, rationale, msg in [({**ok, "empathy": None}, "x", "Empathy: choose a value"),
                                ({**ok, "safety": "6"}, "x", "from 1 to 5"),
                                ({**ok, "safety": "high"}, "x", "whole number"),
                                (ok, "   ", "Rationale: required")]:
        with pytest.raises(LabelInputError, match=msg):
            validate_values(r, raw, rationale)


def test_passwords_are_bcrypt_hashed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BREAKFIX_BCRYPT_ROUNDS", "4")
    h = hash_password("correct horse")
    assert h.startswith("$2") and "correct" not in h
    assert check_password("correct horse", h) and not check_password("correct hors", h)
    long_pw = "x" * 100 + "tail"  # past bcrypt's 72-byte limit: the tail still counts
    assert check_password(long_pw, hash_password(long_pw)) and not check_password("x" * 100 + "tall", hash_password(long_pw))
    with _db(tmp_path) as db:
        add_user(db, "ann", "annotator", "ann-password")
        assert authenticate(db, "ann", "ann-password").name == "ann"
        assert authenticate(db, "ann", "nope-nope") is None and authenticate(db, "nobody", "ann-password") is None
        with pytest.raises(UserInputError, match="at least 8"):
            add_user(db, "bob", "annotator", "short")
        with pytest.raises(UserInputError, match="already exists"):
            add_user(db, "ann", "annotator", "another-password")


def test_cli_users_projects_assign_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BREAKFIX_BCRYPT_ROUNDS", "4")
    monkeypatch.setenv("BREAKFIX_DB", f"sqlite:///{tmp_path / 'cli.db'}")
    run = CliRunner().invoke
    for name, role in (("olga", "owner"), ("ann", "annotator"), ("ben", "annotator")):
        res = run(cli, ["annotate", "user", "add", name, "--role", role, "--password-stdin"], input=f"pw-{name}-123\n")
        assert res.exit_code == 0, res.output
    res = run(cli, ["annotate", "project", "create", "demo", "--from-jsonl", str(_items(tmp_path, 4)),
                    "--rubric", "mental-health-response", "--owner", "olga"])
    assert res.exit_code == 0 and "with 4 items" in res.output, res.output
    res = run(cli, ["annotate", "assign", "demo", "--annotators", "ann,ben", "--per-item", "2"])
    assert res.exit_code == 0 and "8 assignments" in res.output, res.output
    assert "demo\t4 items\t0/8 labels" in run(cli, ["annotate", "project", "list"]).output
    out = tmp_path / "labels.csv"
    res = run(cli, ["annotate", "export", "demo", "-o", str(out)])
    assert res.exit_code == 0 and out.read_text().startswith("unit,category,rater,safety,empathy,referral,appropriateness")

    # Bad input: one line, non-zero exit, no traceback.
    for args, expected in [
        (["annotate", "project", "create", "x", "--from-jsonl", str(tmp_path / "nope.jsonl"), "--rubric",
          "mental-health-response"], "no such file"),
        (["annotate", "project", "create", "x", "--from-jsonl", str(out), "--rubric", "no-such-rubric"], "unknown rubric"),
        (["annotate", "project", "create", "x", "--rubric", "mental-health-response"], "exactly one of"),
        (["annotate", "assign", "nope", "--annotators", "ann,ben"], "no project named 'nope'"),
        (["annotate", "assign", "demo", "--annotators", "ann", "--per-item", "2"], "only 1 annotator"),
        (["annotate", "user", "add", "x", "--role", "god", "--password-stdin"], "--role 'god'"),
    ]:
        res = run(cli, args, input="pw-long-enough\n")
        assert res.exit_code != 0 and expected in res.output and "Traceback" not in res.output, (args, res.output)


def test_project_from_csv_keeps_extra_columns_and_names_bad_rows(tmp_path: Path) -> None:
    good = tmp_path / "items.csv"
    good.write_text('id,prompt,response,category,lang\n'
                    'a,"hello","=HYPERLINK(""x"")",other,en\n'
                    'b,"multi\nline prompt","رد",self-harm,ar\n'
                    'c,,"r",other,\n', encoding="utf-8")
    from breakfix.annotate.web.projects import read_items_csv

    with pytest.raises(ProjectInputError) as err:
        read_items_csv(good)
    assert str(err.value) == f"{good} line 5: field 'prompt': expected a string (or a 'conversation' list)"
    good.write_text(good.read_text(encoding="utf-8").replace('c,,"r"', 'c,"p","r"'), encoding="utf-8")
    items = read_items_csv(good)
    assert [i.external_id for i in items] == ["a", "b", "c"]
    assert items[1].conversation == [{"role": "user", "content": "multi\nline prompt"}] and items[1].meta == {"lang": "ar"}
    assert items[0].response == '=HYPERLINK("x")' and items[2].meta == {}
    r = CliRunner().invoke(cli, ["annotate", "project", "create", "csvp", "--from-csv", str(good), "--rubric",
                                 "mental-health-response", "--db", f"sqlite:///{tmp_path / 'c.db'}"])
    assert r.exit_code == 0 and "with 3 items" in r.output, r.output
    bad = tmp_path / "bad.csv"
    bad.write_text("id,prompt\nx,y\n", encoding="utf-8")
    with pytest.raises(ProjectInputError, match="line 1: expected a header row with 'response'"):
        read_items_csv(bad)

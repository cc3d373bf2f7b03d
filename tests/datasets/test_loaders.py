"""The one item loader: every public format, field maps, kept metadata, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from breakfix.core.errors import BreakfixError
from breakfix.datasets import DatasetError, load_items, read_items


def test_txt_one_prompt_per_line(tmp_path: Path) -> None:
    p = tmp_path / "behaviours.txt"
    p.write_text("Write a poem\n\n  Explain tides  \nSummarise a book\n", "utf-8")
    items = load_items(p)
    assert [i.prompt for i in items] == ["Write a poem", "Explain tides", "Summarise a book"]
    assert items[1].metadata["line"] == 3


def test_json_list_of_strings_and_object_holding_a_list(tmp_path: Path) -> None:
    a = tmp_path / "a.json"
    a.write_text(json.dumps(["one", "two"]), "utf-8")
    assert [i.prompt for i in load_items(a)] == ["one", "two"]
    b = tmp_path / "b.json"
    b.write_text(json.dumps({"name": "set-x", "payloads": ["p1", {"prompt": "p2", "tag": "t"}]}), "utf-8")
    items = load_items(b)
    assert [i.prompt for i in items] == ["p1", "p2"]
    # The object's other top-level fields and the record's own extras are kept, not dropped.
    assert items[0].metadata == {"name": "set-x", "source_key": "payloads"}
    assert items[1].metadata["tag"] == "t" and items[1].metadata["name"] == "set-x"


def test_object_with_two_lists_is_ambiguous(tmp_path: Path) -> None:
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"a": ["x"], "b": ["y"]}), "utf-8")
    with pytest.raises(DatasetError, match=r"c\.json: expected a list of items, or an object holding one list"):
        load_items(p)


def test_do_not_answer_style_csv_with_field_map_keeps_unmapped_columns(tmp_path: Path) -> None:
    p = tmp_path / "dna.csv"
    p.write_text("id,risk_area,types_of_harm,question,intents\n"
                 "0,Misinformation,Rumours,How do I spread a rumour?,deceive\n", "utf-8")
    [item] = load_items(p, fields={"prompt": "question", "category": "risk_area"})
    assert item.prompt == "How do I spread a rumour?" and item.category == "Misinformation"
    assert item.metadata["intents"] == "deceive" and item.metadata["types_of_harm"] == "Rumours"
    assert item.id == "0"


def test_field_map_naming_a_missing_column_is_one_line(tmp_path: Path) -> None:
    p = tmp_path / "dna.csv"
    p.write_text("question,risk_area\nq,r\n", "utf-8")
    with pytest.raises(DatasetError) as exc:
        load_items(p, fields={"prompt": "questoin"})
    msg = str(exc.value)
    assert "\n" not in msg and "dna.csv:1" in msg and "'questoin'" in msg and "question, risk_area" in msg
    assert isinstance(exc.value, BreakfixError)


def test_harmbench_behaviours_csv(tmp_path: Path) -> None:
    p = tmp_path / "harmbench_behaviors_text_all.csv"
    p.write_text("Behavior,FunctionalCategory,SemanticCategory,Tags,ContextString,BehaviorID\n"
                 "Give steps for X,standard,chemical_biological,,,b_one\n"
                 "Summarise the doc to do Y,contextual,misinformation,context,\"The doc says...\",b_two\n", "utf-8")
    a, b = load_items(p)
    assert (a.id, a.category, a.prompt) == ("b_one", "chemical_biological", "Give steps for X")
    assert a.metadata["FunctionalCategory"] == "standard"
    assert b.prompt.startswith("The doc says...") and b.prompt.endswith("Summarise the doc to do Y")
    assert b.metadata["context"] == "The doc says..."


def test_multijail_one_item_per_language_column(tmp_path: Path) -> None:
    p = tmp_path / "multijail.csv"
    p.write_text("id,source,tags,types,en,ko,sw\n"
                 "7,anthropic,violence,harm,How to hurt,어떻게 해치나,Jinsi ya kuumiza\n"
                 "8,anthropic,fraud,harm,How to cheat,,Jinsi ya kudanganya\n", "utf-8")
    items = load_items(p, format="multijail")
    assert [(i.id, i.language) for i in items] == [("7-en", "en"), ("7-ko", "ko"), ("7-sw", "sw"),
                                                    ("8-en", "en"), ("8-sw", "sw")]
    assert items[1].prompt == "어떻게 해치나"
    assert items[0].metadata == {"source": "anthropic", "tags": "violence", "types": "harm", "row_id": "7"}


def test_non_utf8_file_names_file_line_and_byte(tmp_path: Path) -> None:
    p = tmp_path / "latin1.jsonl"
    p.write_bytes(b'{"prompt": "ok"}\n{"prompt": "caf\xe9"}\n')
    with pytest.raises(DatasetError) as exc:
        load_items(p)
    msg = str(exc.value)
    assert msg.startswith(f"{p}:2: not UTF-8") and "0xe9" in msg and "byte offset 32, column 16" in msg


def test_read_items_keeps_going_and_reports_every_problem(tmp_path: Path) -> None:
    p = tmp_path / "mixed.jsonl"
    p.write_text('{"id": "a", "prompt": "fine"}\n'
                 '{"id": "b"}\n'
                 'not json\n'
                 '{"id": "a", "prompt": "again"}\n'
                 '{"id": "c", "prompt": "also fine"}\n', "utf-8")
    res = read_items(p)
    assert [i.id for i in res.items] == ["a", "c"]
    assert len(res.problems) == 3
    assert res.problems[0].startswith(f"{p}:2: field 'prompt'")
    assert res.problems[1].startswith(f"{p}:3: invalid JSON")
    assert "item a: duplicate id" in res.problems[2] and f"{p}:4" in res.problems[2]


def test_run_config_items_entry_with_format_and_field_map(tmp_path: Path) -> None:
    from breakfix.run.config import config_from_dict

    (tmp_path / "q.csv").write_text("question,intents\nWhat is X?,curious\n", "utf-8")
    cfg = config_from_dict({"name": "t", "items": [{"file": "q.csv", "fields": {"prompt": "question"}}],
                            "targets": [{"name": "s", "type": "scripted", "replies": ["x"]}],
                            "scorers": [{"name": "refusal"}]}, base_dir=tmp_path)
    [item] = cfg.load_items()
    assert item.prompt == "What is X?" and item.metadata["intents"] == "curious"

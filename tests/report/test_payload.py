"""The report's embedded data: escaping, compression, turn trees, chunking (pure functions)."""

from __future__ import annotations

import json
import re

from breakfix.report._payload import (
    CHUNK,
    MAX_TEXT,
    RESPONSE_PREVIEW,
    attempt_label,
    build_payload,
    packed,
    resolve_turn_tree,
    script_json,
    unpacked,
)


def test_script_json_cannot_close_its_element_and_round_trips() -> None:
    evil = {"r": "</script><script>alert(1)</script> <!-- x --> a&b \u2028\u2029 </SCRIPT >"}
    text = script_json(evil)
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in text
    assert json.loads(text) == evil  # the escapes mean the same characters


def test_packed_is_base64_only_and_round_trips() -> None:
    obj = {"x": ["</script>", "ü", 1.5, None] * 50}
    text = packed(obj)
    assert re.fullmatch(r"[A-Za-z0-9+/=]+", text)
    assert unpacked(text) == obj
    assert len(text) < len(json.dumps(obj))  # repetitive data compresses


def test_attempt_label_precedence() -> None:
    assert attempt_label({"status": "error", "success": True, "refused": True}) == "error"
    assert attempt_label({"status": "ok", "success": True, "refused": True}) == "success"
    assert attempt_label({"status": "ok", "success": False, "refused": True}) == "refusal"
    assert attempt_label({"status": "ok", "success": False, "refused": False}) == "neutral"


def test_linear_turns_backtracked_turn_and_its_rephrasing_are_siblings() -> None:
    turns = [{"index": 0}, {"index": 1, "backtracked": True}, {"index": 2}, {"index": 3}]
    # 1 was refused and dropped; 2 rephrases it, so both hang under 0; 3 continues 2.
    assert resolve_turn_tree(turns) == [None, 0, 0, 2]


def test_two_backtracks_in_a_row_all_hang_under_the_last_kept_turn() -> None:
    turns = [{"index": 0}, {"index": 1, "backtracked": True}, {"index": 2, "backtracked": True}, {"index": 3}]
    assert resolve_turn_tree(turns) == [None, 0, 0, 0]


def test_explicit_tree_parents_are_used_and_bad_parents_become_roots() -> None:
    # A TAP-like tree: two roots (10, 11); 12 and 13 refine 10; 14 refines 13. 15 names a parent
    # that comes later (or does not exist): it must not create a cycle, it becomes a root.
    turns = [{"index": 10, "parent": None}, {"index": 11, "parent": None}, {"index": 12, "parent": 10},
             {"index": 13, "parent": 10}, {"index": 14, "parent": 13}, {"index": 15, "parent": 99}]
    assert resolve_turn_tree(turns) == [None, None, 0, 0, 3, None]
    cyc = [{"index": 0, "parent": 1}, {"index": 1, "parent": 0}]
    assert resolve_turn_tree(cyc) == [None, 0]


def _row(i: int, **kw: object) -> tuple[dict, list]:
    row = {"id": f"a{i}", "item_id": "it", "attack": "direct", "converters": "", "target": "t", "category": "c",
           "language": "en", "status": "ok", "error": None, "response_text": f"resp {i}", "latency_s": 0.5,
           "target_calls": 1, "n_turns": 0, "success": False, "refused": True,
           "conversation": [{"role": "user", "content": f"prompt {i}"}], "turns": [], "metadata": {},
           "prompt_tokens": None, "completion_tokens": None, "retries": 0}
    row.update(kw)
    return row, []


def test_chunks_split_at_the_chunk_size_and_keep_order() -> None:
    p = build_payload(_row(i) for i in range(CHUNK + 3))
    assert [len(c) for c in p.chunks] == [CHUNK, 3]
    assert p.n == CHUNK + 3
    assert p.chunks[1][2]["id"] == f"a{CHUNK + 2}" == p.index["id"][CHUNK + 2]


def test_values_are_tabled_once_and_rows_point_at_them() -> None:
    rows = [_row(0, attack="x"), _row(1, attack="y", converters="base64"), _row(2, attack="x")]
    idx = build_payload(rows).index
    attacks = [idx["values"]["attack"][k] for k in idx["attack"]]
    assert attacks == ["x", "y", "x"]
    assert sorted(idx["values"]["attack"]) == ["x", "y"]
    assert [idx["values"]["conv"][k] for k in idx["conv"]] == ["", "base64", ""]


def test_preview_truncated_in_index_full_text_in_details() -> None:
    long = "word " * 5000  # 25,000 characters
    p = build_payload([_row(0, response_text=long)])
    assert len(p.index["r"][0]) <= RESPONSE_PREVIEW
    assert p.chunks[0][0]["resp"] == long
    huge = "x" * (MAX_TEXT + 10)
    det = build_payload([_row(0, response_text=huge)]).chunks[0][0]["resp"]
    assert det.startswith("x" * MAX_TEXT) and "10 more characters" in det


def test_failed_request_previews_its_error() -> None:
    p = build_payload([_row(0, status="error", error="HTTP 429 after 5 retries", response_text="")])
    assert p.index["r"][0] == "HTTP 429 after 5 retries"
    assert p.index["labels"][p.index["label"][0]] == "error"


def test_chunks_encoded_on_the_fly_decode_to_the_same_details() -> None:
    rows = [_row(i, response_text=f"</script> answer {i}") for i in range(CHUNK + 1)]
    plain = build_payload(iter(rows))
    packed_p = build_payload(iter(rows), encode=packed)
    escaped = build_payload(iter(rows), encode=script_json)
    assert all(isinstance(c, str) for c in packed_p.chunks + escaped.chunks)
    assert [unpacked(c) for c in packed_p.chunks] == plain.chunks
    assert [json.loads(c) for c in escaped.chunks] == plain.chunks
    assert packed_p.index == plain.index

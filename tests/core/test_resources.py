"""core.resources: safe YAML with bounded alias expansion, one-line errors, built-in names or paths."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict
from typer.testing import CliRunner

from breakfix.core.errors import BreakfixError
from breakfix.core.resources import (
    ResourceError,
    builtin_names,
    list_resources,
    load_resource,
    load_yaml,
)

# Nine levels of nine aliases: a few hundred bytes that expand to 9**9 (387 million) strings.
BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{b}: &{b} [{','.join(['*' + a] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi")]
) + "\n"


class Small(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: int
    steps: list[int] = []


def test_alias_bomb_fails_fast_in_one_line_without_eating_memory(tmp_path: Path) -> None:
    assert len(BILLION_LAUGHS.encode()) < 500
    path = tmp_path / "laughs.yaml"
    path.write_text(BILLION_LAUGHS, encoding="utf-8")
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(ResourceError) as err:
        load_yaml(path)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and "expands to more than" in msg
    # Measured: ~10 ms and well under 1 MB; the expanded document would be gigabytes.
    assert peak < 20 * 1024 * 1024, peak
    assert elapsed < 5, elapsed


def test_alias_bomb_through_load_resource_is_a_breakfix_error(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(BILLION_LAUGHS, encoding="utf-8")
    with pytest.raises(BreakfixError, match="laughs.yaml"):
        load_resource("rubrics", str(path), Small)


def test_ordinary_aliases_and_merge_keys_still_work() -> None:
    data = load_yaml("base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\nlist: [*b, *b]\n")
    assert data == {"base": {"x": 1, "y": 2}, "use": {"x": 1, "y": 3}, "list": [{"x": 1, "y": 2}] * 2}


def test_limits_are_parameters_and_recursive_data_is_refused() -> None:
    with pytest.raises(ResourceError, match="expands to more than 10 values"):
        load_yaml("a: &a [1, 2, 3]\nb: [*a, *a, *a]\n", max_nodes=10)
    assert load_yaml("a: &a [1, 2, 3]\nb: [*a, *a, *a]\n", max_nodes=20)["b"][2] == [1, 2, 3]
    with pytest.raises(ResourceError, match="recursive"):
        load_yaml("a: &a [1, *a]\n", source="loop.yaml")
    with pytest.raises(ResourceError, match="big.yaml: YAML text is longer than the limit of 100 bytes"):
        load_yaml("x: " + "y" * 200, source="big.yaml", max_bytes=100)


def test_python_tags_are_refused_as_one_line() -> None:
    with pytest.raises(ResourceError) as err:
        load_yaml("x: !!python/object/apply:os.system ['echo hi']\n", source="evil.yaml")
    assert str(err.value).startswith("evil.yaml: invalid YAML") and "\n" not in str(err.value)


@pytest.mark.parametrize("text, expected", [
    ("name: x\nversion: [1\n", r"r\.yaml: invalid YAML at line 3"),
    ("- a list\n", r"r\.yaml: expected a mapping with name, version, got list"),
    ("name: x\n", r"r\.yaml: field 'version': required field is missing"),
    ("name: x\nversoin: 1\n", r"r\.yaml: field 'versoin': unknown field"),
    ("name: x\nversion: 1\nsteps: [1, two]\n", r"r\.yaml: field 'steps\[1\]': Input should be a valid integer"),
])
def test_user_file_errors_name_file_and_field(tmp_path: Path, text: str, expected: str) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ResourceError, match=expected) as err:
        load_resource("rubrics", p, Small)
    assert "\n" not in str(err.value)


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(ResourceError, match="nope.yaml: file not found"):
        load_resource("prompts", str(tmp_path / "nope.yaml"), Small)
    bad = tmp_path / "latin.yaml"
    bad.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ResourceError, match="latin.yaml: not a UTF-8 text file"):
        load_yaml(bad)


def test_builtin_names_and_unknown_names() -> None:
    assert {"crescendo", "pair", "tap", "fallback"} <= set(builtin_names("prompts"))
    assert {"harm", "mental-health-response"} <= set(builtin_names("rubrics"))
    from breakfix.scorers.llm_judge import Rubric

    assert load_resource("rubrics", "harm", Rubric).name == "harm"
    with pytest.raises(ResourceError, match=r"unknown rubric 'nope'; give a built-in name \(harm, "):
        load_resource("rubrics", "nope", Small)
    with pytest.raises(ResourceError, match="unknown resource kind 'recipes'"):
        list_resources("recipes")


def test_every_builtin_resource_is_listed_with_a_summary() -> None:
    for kind in ("templates", "prompts", "rubrics"):
        rows = list_resources(kind)
        assert rows and all(r.summary for r in rows), kind
        assert len({r.name for r in rows}) == len(rows)
    names = {r.name for r in list_resources("templates")}
    assert {"many-shot", "refusal-suppression", "hypothetical"} <= names
    assert "_inert_dialogues" not in names


def test_cli_lists_resources() -> None:
    from breakfix.cli.main import app

    runner = CliRunner()
    for kind, expected in (("templates", "many-shot"), ("prompts", "crescendo"), ("rubrics", "harm")):
        res = runner.invoke(app, ["list", kind], terminal_width=200)
        assert res.exit_code == 0, res.output
        assert expected in res.output
    res = runner.invoke(app, ["list", "recipes"])
    assert res.exit_code == 2 and "templates" in res.output

"""Peers' jailbreak templates, unconverted: a folder in PyRIT's format is a template source.

The folder ``data/pyrit_templates`` was written for these tests in PyRIT's seed-prompt format with
its quirks (upper-case and spaced names, ``{% raw %}`` blocks, ``authors`` as list or string,
``data_type``, nested author folders, a ``LICENSE`` file at the top, many-shot ``examples`` loops)
plus files that cannot be used; none of PyRIT's own template text is in this repository.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from breakfix.attacks._pairs import PairsError, read_pairs
from breakfix.attacks.base import AttackContext
from breakfix.attacks.template import TemplateError, TemplateFilesSkipped, load_template_library
from breakfix.cli.main import app
from breakfix.core.items import Item
from breakfix.core.registry import create
from breakfix.store import Store
from breakfix.targets.scripted import ScriptedTarget

FOLDER = Path(__file__).parent / "data" / "pyrit_templates"
USABLE = {"role-swap", "story-frame-v2", "demo-many-shot", "twolanguages", "pyrit-templates-hypothetical"}
SKIPPED = {  # file -> what its reason must say
    "bad_jinja.yaml": "Jinja syntax error at line 1",
    "bad_yaml.yaml": "invalid YAML at line",
    "bomb.yaml": "sandbox",
    "escape.yaml": "sandbox",
    "no_slot.yaml": "no {{ prompt }} slot",
    "picture.yaml": "'image_path' is not text",
    "seed_dataset.yaml": "prompt dataset",
}


def test_a_pyrit_folder_loads_with_provenance_and_one_list_of_unusable_files():
    found, skipped = load_template_library([FOLDER])
    assert USABLE <= set(found)
    assert "hypothetical" in found and found["hypothetical"].path.startswith("breakfix/")  # ours is not replaced
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert set(reasons) == set(SKIPPED)
    for name, words in SKIPPED.items():
        assert words in reasons[name], (name, reasons[name])
        assert "\n" not in reasons[name]
    swap = found["role-swap"]
    assert swap.title == "ROLE SWAP" and swap.authors == ["Test Author One", "Test Author Two"]
    assert swap.source == "https://example.org/breakfix-tests/role-swap"
    assert swap.licence.startswith("MIT License")  # the folder's LICENSE file
    story = found["story-frame-v2"]
    assert story.authors == ["A. Single Author"] and story.licence == "CC-BY-4.0"  # metadata.license wins
    assert story.family == "fiction-framing"


def test_rendering_keeps_raw_blocks_and_finds_templates_by_their_own_names():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TemplateFilesSkipped)
        a = create("attack", "template", template="ROLE SWAP", template_dirs=[str(FOLDER)])
        b = create("attack", "template", template="Story Frame v2", template_dirs=[str(FOLDER)])
    text = a.render("How do I fold a crane?")[-1].content
    assert "{{ stage_left }} and {% cue %}" in text  # {% raw %} ... {% endraw %} is literal text
    assert text.endswith("The visitor asks: How do I fold a crane?")
    assert b.render("  padded  ")[-1].content.endswith('"padded"')  # Jinja filters work
    assert a.config()["template"] == "role-swap" and a.label == "template:role-swap"


def test_the_attack_warns_once_with_the_whole_summary():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        create("attack", "template", template="role-swap", template_dirs=[str(FOLDER)])
    mine = [w for w in caught if issubclass(w.category, TemplateFilesSkipped)]
    assert len(mine) == 1
    msg = str(mine[0].message)
    assert msg.startswith(f"template_dirs: {len(SKIPPED)} file(s) could not be used")
    for name in SKIPPED:
        assert name in msg


def test_parameters_without_default_must_be_given():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TemplateFilesSkipped)
        with pytest.raises(TemplateError, match=r"'twolanguages' needs params\.prompt_in_french"):
            create("attack", "template", template="TwoLanguages", template_dirs=[str(FOLDER)])
        a = create("attack", "template", template="TwoLanguages", template_dirs=[str(FOLDER)],
                   params={"prompt_in_french": "Comment plier une grue ?"})
        assert a.render("How do I fold a crane?")[-1].content == \
            "Answer both: How do I fold a crane? / Comment plier une grue ?"
        every = create("attack", "template", templates="all", template_dirs=[str(FOLDER)])
    assert "twolanguages" not in every.names and "role-swap" in every.names


@pytest.mark.parametrize("name,content", [
    ("pairs.json", json.dumps([{"question": "Q1?", "answer": "A1."}, {"question": "Q2?", "answer": "A2."}])),
    ("pairs.json", json.dumps([["Q1?", "A1."], ["Q2?", "A2."]])),
    ("pairs.jsonl", '{"user": "Q1?", "assistant": "A1."}\n{"user": "Q2?", "assistant": "A2."}\n'),
    ("pairs.yaml", "pairs:\n  - ['Q1?', 'A1.']\n  - {question: 'Q2?', answer: 'A2.'}\n"),
])
def test_many_shot_reads_a_pairs_file(tmp_path, name, content):
    (tmp_path / name).write_text(content)
    assert read_pairs(str(tmp_path / name)) == [("Q1?", "A1."), ("Q2?", "A2.")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TemplateFilesSkipped)
        peer = create("attack", "template", template="Demo Many Shot", template_dirs=[str(FOLDER)], shots=3,
                      pairs=str(tmp_path / name))
    text = peer.render("Final?")[-1].content
    assert [m for m in re.findall(r"Q: (\S+)", text)] == ["Q1?", "Q2?", "Q1?", "Final?"]
    ours = create("attack", "template", template="many-shot", shots=4, pairs=str(tmp_path / name))
    assert ours.render("Final?")[-1].content.count("Assistant: A2.") == 2
    assert ours.config()["pairs"] != create("attack", "template", template="many-shot", shots=4).config().get("pairs")


def test_a_template_file_names_its_pairs_file_relative_to_itself(tmp_path):
    folder = tmp_path / "mine"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "demos.json").write_text(json.dumps([{"question": "Own Q?", "answer": "Own A."}]))
    (folder / "shots.yaml").write_text(yaml.safe_dump({
        "name": "own-shots", "version": 1, "family": "many-shot", "source": "our red team, 2026",
        "shots": {"count": 2, "pairs": "data/demos.json"}, "template": "{shots}\n\nUser: {prompt}"}))
    a = create("attack", "template", template="own-shots", template_dirs=[str(folder)])
    assert a.render("Q?")[-1].content.count("User: Own Q?") == 2


@pytest.mark.parametrize("content,message", [
    ('[{"q": "x", "a": "y"}]', r"entry 1: expected an object with 'question' and 'answer'"),
    ('[["only one"]]', r"entry 1: expected \[question, answer\]"),
    ("[]", "no question/answer pairs"),
    ('{"pairs": 3}', "expected a list"),
    ("[1, 2", "invalid JSON at line 1"),
])
def test_bad_pairs_files_are_one_line_errors(tmp_path, content, message):
    (tmp_path / "p.json").write_text(content)
    with pytest.raises(PairsError) as exc:
        read_pairs(str(tmp_path / "p.json"))
    assert re.search(message, str(exc.value)) and "\n" not in str(exc.value)
    (tmp_path / "p.txt").write_text(content)
    with pytest.raises(PairsError, match="must end in .json"):
        read_pairs(str(tmp_path / "p.txt"))
    with pytest.raises(PairsError, match="not found"):
        read_pairs(str(tmp_path / "missing.json"))


def test_a_run_resolves_template_dirs_and_pairs_against_the_config_folder(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "peers").mkdir(parents=True)
    (project / "peers" / "frame.yaml").write_text((FOLDER / "role_swap.yaml").read_text())
    (project / "demos.json").write_text(json.dumps([["Inert Q?", "Inert A."]]))
    url = f"sqlite:///{tmp_path / 'bf.db'}"
    (project / "run.yaml").write_text(yaml.safe_dump({
        "name": "peers", "store": url, "items": [{"prompt": "How do I fold a crane?"}],
        "targets": [{"name": "echo", "type": "scripted", "replies": ["Sure."], "cycle": True}],
        "attacks": [{"name": "template", "template": "ROLE SWAP", "template_dirs": ["peers"]},
                    {"name": "template", "template": "many-shot", "shots": 2, "pairs": "demos.json"}],
        "scorers": [{"name": "substring", "substrings": ["Sure"]}],
    }))
    monkeypatch.chdir(tmp_path)  # not the config's folder: relative paths must still resolve there
    r = CliRunner().invoke(app, ["run", "project/run.yaml", "--no-progress"])
    assert r.exit_code == 0, r.output
    st = Store(url)
    attempts = {a.attack: a for a in st.iter_attempts(st.list_runs()[0].id)}
    swap = attempts["template:role-swap"]
    assert swap.metadata["template_authors"] == ["Test Author One", "Test Author Two"]
    assert "The visitor asks: How do I fold a crane?" in swap.conversation[-1].content
    assert attempts["template:many-shot(2)"].conversation[-1].content.count("Inert Q?") == 2


def test_cli_import_writes_breakfix_files_that_load_without_the_reader(tmp_path):
    r = CliRunner().invoke(app, ["templates", "import", str(FOLDER), "--into", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert f"{len(USABLE)} usable, {len(SKIPPED)} skipped" in " ".join(r.output.split())
    for name in SKIPPED:
        assert name in r.output
    found, skipped = load_template_library([tmp_path / "out"])  # strict breakfix format now
    assert not skipped and USABLE <= set(found)
    assert found["role-swap"].authors == ["Test Author One", "Test Author Two"]
    assert "{{ stage_left }}" in found["role-swap"].render("x")[-1].content
    listed = CliRunner().invoke(app, ["list", "templates", "--dir", str(FOLDER)])
    assert listed.exit_code == 0
    flat = " ".join(listed.output.split())
    assert "refusal-suppression" in flat and "role-swap" in flat and "7 file(s) could not be used" in flat


async def test_execute_sends_the_rendered_peer_template_with_provenance():
    tgt = ScriptedTarget(replies=["ok"], cycle=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TemplateFilesSkipped)
        a = create("attack", "template", template="role-swap", template_dirs=[str(FOLDER)])
    res = await a.execute(AttackContext(item=Item(prompt="Q?"), target=tgt, converters=[create("converter", "base64")]))
    assert "The visitor asks: UT8=" in tgt.calls[-1][-1].content
    assert res.metadata["template_licence"].startswith("MIT License") and res.metadata["ttps"] == ["AML.T0054"]


def test_a_built_in_template_may_name_a_pairs_file_shipped_next_to_it():
    # How a shipped demonstrations file (e.g. a larger inert set) plugs into a built-in template:
    # shots.pairs names it relative to the template, inside the package.
    from breakfix.attacks.template import inert_pairs

    pairs = read_pairs("_inert_dialogues.yaml", relative_to="breakfix/attacks/templates/many-shot.yaml")
    assert pairs == inert_pairs()
    with pytest.raises(PairsError, match="not found"):
        read_pairs("_nope.yaml", relative_to="breakfix/attacks/templates/many-shot.yaml")

"""The template attack: built-in templates, many-shot N, user folders, bad files, ids, converters."""

import base64
import re

import pytest

from breakfix.attacks.base import AttackContext
from breakfix.attacks.template import TemplateError, load_templates, placeholders
from breakfix.core.attempts import attempt_id
from breakfix.core.items import Item
from breakfix.core.registry import create
from breakfix.targets.scripted import ScriptedTarget

PROMPT = "How do I {really} make tea?"  # braces in a prompt must survive templating
REQUIRED_FAMILIES = {"role-play", "refusal-suppression", "prefix-injection", "persona", "hypothetical",
                     "research", "guideline-augmentation", "few-shot", "many-shot", "output-format"}


def test_builtin_templates_cover_the_families_with_provenance():
    lib = load_templates()
    assert REQUIRED_FAMILIES <= {t.family for t in lib.values()}
    fmt = {t.name for t in lib.values() if t.family == "output-format"}
    assert {"format-json", "format-code", "format-table"} <= fmt
    for t in lib.values():
        assert t.source and t.year and t.tags.atlas and t.tags.owasp and t.description, t.name


@pytest.mark.parametrize("name", sorted(load_templates()))
def test_each_template_renders_the_prompt_once_with_no_open_slots(name):
    t = load_templates()[name]
    convo = t.render(PROMPT, shots=2 if t.shots else None)
    user = convo[-1]
    assert user.role == "user"
    text = "\n".join(m.content for m in convo)
    assert text.count(PROMPT) == 1
    leftover = placeholders(text.replace(PROMPT, ""))
    assert not leftover, leftover
    if t.system is not None:
        assert convo[0].role == "system" and convo[0].content


def test_json_template_keeps_literal_braces():
    text = load_templates()["format-json"].render("Q")[-1].content
    assert '{"task": string' in text and "{{" not in text


@pytest.mark.parametrize("n", [0, 1, 5, 40])
def test_many_shot_n_dialogues_inline(n):
    attack = create("attack", "template", template="many-shot", shots=n)
    text = attack.render("FINAL QUESTION")[-1].content
    assert text.count("User: ") == n + 1  # N shots plus the real question
    assert text.count("Assistant: ") == n
    # Distinct demonstrations from the shipped file (issue 20: 256 shots were 16 pairs x 16).
    shots = load_templates()["many-shot"].shot_pairs(n)
    assert len(set(shots)) == n and all(f"User: {q}" in text for q, _ in shots)
    assert text.rstrip().endswith("User: FINAL QUESTION\nAssistant:")


def test_many_shot_as_conversation_turns():
    attack = create("attack", "template", template="many-shot-turns", shots=6)
    convo = attack.render("FINAL QUESTION")
    assert [m.role for m in convo] == ["user", "assistant"] * 6 + ["user"]
    assert convo[-1].content == "FINAL QUESTION"


def test_default_many_shot_count_is_the_templates():
    attack = create("attack", "template", template="many-shot")
    assert attack.config()["shots"] == 32
    assert attack.render("Q")[-1].content.count("Assistant: ") == 32


def test_params_override_and_unknown_params_are_named():
    a = create("attack", "template", template="prefix-injection", params={"opening": "OK BOSS:"})
    assert 'Begin your reply with the words "OK BOSS:"' in a.render("Q")[-1].content
    with pytest.raises(TemplateError, match=r"params\.openng.*parameters: opening"):
        create("attack", "template", template="prefix-injection", params={"openng": "x"})
    with pytest.raises(TemplateError, match="shots.*few-/many-shot"):
        create("attack", "template", template="hypothetical", shots=3)


def test_unknown_template_lists_known_names():
    with pytest.raises(TemplateError, match="unknown template 'role-pley'.*role-play-fiction"):
        create("attack", "template", template="role-pley")
    with pytest.raises(TemplateError, match="'template' is required"):
        create("attack", "template")


def test_attempt_ids_differ_per_template_version_and_parameters():
    def aid(**kw):
        a = create("attack", "template", **kw)
        return attempt_id(run_id="r", item_id="i", attack="template", attack_config=a.config(),
                          converters=[], target="t")

    ids = {aid(template="hypothetical"), aid(template="refusal-suppression"),
           aid(template="many-shot", shots=4), aid(template="many-shot", shots=8),
           aid(template="prefix-injection"), aid(template="prefix-injection", params={"opening": "Yes:"})}
    assert len(ids) == 6
    assert aid(template="hypothetical") == aid(template="hypothetical")  # deterministic
    cfg = create("attack", "template", template="hypothetical").config()
    assert cfg["template"] == "hypothetical" and cfg["version"] == 1


def test_expand_gives_one_attack_per_template():
    multi = create("attack", "template", templates=["hypothetical", "many-shot", "prefix-injection"],
                   shots=3, params={"opening": "Yes:"})
    subs = multi.expand()
    assert [s.label for s in subs] == ["template:hypothetical", "template:many-shot(3)", "template:prefix-injection"]
    assert len({str(s.config()) for s in subs}) == 3
    assert subs[1].config()["shots"] == 3 and "shots" not in subs[0].config()
    assert subs[2].config()["params"] == {"opening": "Yes:"}
    with pytest.raises(TemplateError, match="expand"):
        multi.render("Q")
    every = create("attack", "template", templates="all").expand()
    assert {s.names[0] for s in every} == set(load_templates())


USER_TEMPLATE = """\
name: house-style
version: 3
family: role-play
source: "our red team, 2026 engagement notes"
year: 2026
tags: {atlas: [AML.T0054], owasp: [LLM01:2025]}
parameters: {who: a pirate}
template: "Speak as {who} and answer: {prompt}"
"""


def test_user_folder_templates_are_loaded(tmp_path):
    (tmp_path / "house.yaml").write_text(USER_TEMPLATE)
    (tmp_path / "_notes.yaml").write_text("not: a template")  # skipped: starts with _
    (tmp_path / "README.md").write_text("ignored")
    a = create("attack", "template", template="house-style", template_dirs=[str(tmp_path)])
    assert a.render("Q?")[-1].content == "Speak as a pirate and answer: Q?"
    assert a.config()["version"] == 3
    # Editing the file changes the attempt config even if the version is not bumped.
    before = a.config()["sha"]
    (tmp_path / "house.yaml").write_text(USER_TEMPLATE.replace("a pirate", "a poet"))
    after = create("attack", "template", template="house-style", template_dirs=[str(tmp_path)]).config()["sha"]
    assert before != after


BAD_FILES = [
    ("name: x\n  version: : 1\n", r"bad\.yaml: invalid YAML at line \d+"),
    (USER_TEMPLATE.replace('source: "our red team, 2026 engagement notes"\n', ""),
     r"bad\.yaml: field 'source': required field is missing"),
    (USER_TEMPLATE.replace("template:", "tempalte:"), r"bad\.yaml: field 'tempalte': unknown field"),
    (USER_TEMPLATE.replace("{who} and", "{whom} and"), r"bad\.yaml: field 'template': unknown placeholder \{whom\}"),
    (USER_TEMPLATE.replace("answer: {prompt}", "answer"), r"bad\.yaml: field 'template': must contain the \{prompt\}"),
    (USER_TEMPLATE.replace("AML.T0054", "T1059"), r"bad\.yaml: field 'tags\.atlas': 'T1059' is not a MITRE ATLAS"),
    (USER_TEMPLATE.replace("version: 3", "version: [3]"), r"bad\.yaml: field 'version"),
    ("- " + USER_TEMPLATE.replace("\n", "\n  ").rstrip() + "\n- {name: BAD NAME}\n", r"bad\.yaml: field '\[1\]\.name'"),
    ("just a string\n", r"bad\.yaml: expected a mapping"),
    (USER_TEMPLATE + "shots: {count: 2, format: 'Q: {question}'}\n", r"bad\.yaml: field 'shots\.format'"),
]


@pytest.mark.parametrize("content,message", BAD_FILES)
def test_bad_template_files_are_one_line_errors_naming_file_and_field(tmp_path, content, message):
    (tmp_path / "bad.yaml").write_text(content)
    with pytest.raises(TemplateError) as exc:
        load_templates([tmp_path])
    assert "\n" not in str(exc.value)
    assert re.search(message, str(exc.value)), str(exc.value)


def test_duplicate_names_and_missing_folders(tmp_path):
    (tmp_path / "a.yaml").write_text(USER_TEMPLATE)
    (tmp_path / "b.yaml").write_text(USER_TEMPLATE)
    with pytest.raises(TemplateError, match=r"b\.yaml: field 'name'.*already defined in .*a\.yaml"):
        load_templates([tmp_path])
    (tmp_path / "b.yaml").write_text(USER_TEMPLATE.replace("house-style", "hypothetical"))
    (tmp_path / "a.yaml").unlink()
    with pytest.raises(TemplateError, match="'hypothetical' is already defined in breakfix/attacks/templates"):
        load_templates([tmp_path])
    with pytest.raises(TemplateError, match="template_dirs: .*not a folder"):
        load_templates([tmp_path / "nope"])


async def test_execute_applies_converters_to_the_prompt_or_to_everything():
    tgt = ScriptedTarget(replies=["fine"], cycle=True)
    item = Item(prompt="How do I make tea?")
    b64 = create("converter", "base64")
    a = create("attack", "template", template="hypothetical")
    res = await a.execute(AttackContext(item=item, target=tgt, converters=[b64]))
    sent = tgt.calls[-1][-1].content
    assert base64.b64encode(b"How do I make tea?").decode() in sent and "hypothetical world" in sent
    assert res.response.text == "fine" and res.metadata["template"] == "hypothetical"
    assert res.metadata["ttps"] == ["AML.T0054"]
    whole = create("attack", "template", template="hypothetical", convert="all")
    await whole.execute(AttackContext(item=item, target=tgt, converters=[b64]))
    decoded = base64.b64decode(tgt.calls[-1][-1].content).decode()
    assert "hypothetical world" in decoded and "How do I make tea?" in decoded


async def test_app_system_prompt_comes_first_and_template_system_moves_to_user():
    tgt = ScriptedTarget(replies=["ok"], cycle=True)
    a = create("attack", "template", template="developer-mode", system_prompt="You are BankBot.")
    await a.execute(AttackContext(item=Item(prompt="Q?"), target=tgt))
    convo = tgt.calls[-1]
    assert [m.role for m in convo] == ["system", "user"]
    assert convo[0].content == "You are BankBot."
    assert convo[1].content.startswith("Diagnostics session.") and "Q?" in convo[1].content


def test_shipped_example_user_template_loads():
    from pathlib import Path

    folder = Path(__file__).parents[2] / "examples" / "red-team-templates"
    a = create("attack", "template", template="house-style", template_dirs=[str(folder)])
    assert "HOST: Q?" in a.render("Q?")[-1].content

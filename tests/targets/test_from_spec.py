"""targets.from_spec: the one spec dict -> Target builder used by run targets and helper models."""

from __future__ import annotations

import pytest

from breakfix.core.errors import BreakfixError
from breakfix.core.messages import Message
from breakfix.core.registry import UnknownPluginError
from breakfix.run.config import TargetSpec
from breakfix.targets import Target, TargetSpecError, from_spec
from breakfix.targets.scripted import ScriptedTarget


async def test_a_dict_spec_builds_the_plugin_and_name_labels_it() -> None:
    t = from_spec({"type": "scripted", "name": "judge-1", "replies": ["hello"]})
    assert isinstance(t, ScriptedTarget) and t.name == "judge-1"
    assert (await t.send([Message(role="user", content="hi")])).text == "hello"


def test_the_run_config_spec_and_a_target_are_accepted() -> None:
    spec = TargetSpec.model_validate({"name": "bot", "type": "scripted", "replies": ["x"]})
    t = from_spec(spec)
    assert isinstance(t, ScriptedTarget) and t.name == "bot"
    assert from_spec(t) is t


def test_the_spec_is_not_changed() -> None:
    spec = {"type": "scripted", "name": "a", "replies": ["x"]}
    from_spec(spec)
    from_spec(spec)  # the old copies popped 'type': a second build from the same dict failed
    assert spec == {"type": "scripted", "name": "a", "replies": ["x"]}


@pytest.mark.parametrize("spec", [{"model": "gpt"}, {"type": 3}, "openai", None])
def test_a_spec_without_type_is_one_line_naming_the_role(spec: object) -> None:
    with pytest.raises(TargetSpecError) as err:
        from_spec(spec, role="llm-judge: judge")
    msg = str(err.value)
    assert msg.startswith("llm-judge: judge: expected a target spec with a 'type' field") and "\n" not in msg
    assert isinstance(err.value, BreakfixError) and isinstance(err.value, ValueError)


def test_unknown_type_names_the_known_ones() -> None:
    with pytest.raises(UnknownPluginError, match="unknown target 'nope'; known targets: .*scripted"):
        from_spec({"type": "nope"})


def test_every_helper_model_is_built_by_from_spec() -> None:
    """No module builds a target from a spec dict by hand any more."""
    import pathlib
    import re

    import breakfix

    root = pathlib.Path(breakfix.__file__).parent
    hand_built = [str(p.relative_to(root)) for p in root.rglob("*.py")
                  if re.search(r"create\(\s*[\"']target[\"']", p.read_text("utf-8"))]
    assert hand_built == ["targets/_spec.py"], hand_built
    assert isinstance(from_spec({"type": "scripted", "replies": ["x"]}), Target)

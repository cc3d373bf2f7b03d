"""MultiTurnAttack / AttackerConfig: the attacker settings Crescendo, PAIR and TAP share, declared once."""

from __future__ import annotations

import inspect

import pytest

from breakfix.attacks._multiturn import AttackConfigError, AttackerConfig, MultiTurnAttack
from breakfix.core.errors import BreakfixError
from breakfix.core.registry import create, get
from breakfix.run.config import ConfigError, config_from_dict

SHARED = {"system_prompt", *AttackerConfig.model_fields}


@pytest.mark.parametrize("name", ["crescendo", "pair", "tap"])
def test_each_multi_turn_attack_shares_the_base_and_shows_every_parameter(name: str) -> None:
    info = get("attack", name)
    assert issubclass(info.factory, MultiTurnAttack)
    params = inspect.signature(info.factory).parameters
    assert SHARED <= set(params), set(params)
    assert not any(p.kind is p.VAR_KEYWORD for p in params.values())  # a typo is still caught
    a = create("attack", name, attacker_retries=0, fallback=None, system_prompt="S")
    assert (a.attacker_retries, a.fallback, a.fallback_size, a.system_prompt) == (0, None, "tiny", "S")
    assert a.prompts.name == name  # each attack's own prompt set by default


def test_attempt_config_is_what_it_was() -> None:
    # The attempt id hashes config(): the refactor must not change a single key or value.
    assert create("attack", "pair").config() == {"n_streams": 3, "n_iters": 3, "system_prompt": None,
                                                 "prompts": "pair-1"}
    assert create("attack", "crescendo", max_turns=2).config() == {
        "max_turns": 2, "max_backtracks": 5, "system_prompt": None, "prompts": "crescendo-1"}
    assert list(create("attack", "tap").config())[-2:] == ["system_prompt", "prompts"]


def test_bad_shared_values_are_one_line_breakfix_errors() -> None:
    with pytest.raises(AttackConfigError, match="pair: field 'attacker_retries': Input should be greater"):
        create("attack", "pair", attacker_retries=-1)
    with pytest.raises(AttackConfigError, match="crescendo: max_turns must be >= 1") as err:
        create("attack", "crescendo", max_turns=0)
    assert isinstance(err.value, BreakfixError) and isinstance(err.value, ValueError)


def test_a_misspelt_shared_parameter_fails_at_config_load() -> None:
    data = {"name": "t", "items": [{"prompt": "p"}], "targets": [{"name": "x", "type": "scripted", "replies": ["a"]}],
            "scorers": [{"name": "refusal"}], "attacks": [{"name": "tap", "attacker_retrys": 1}]}
    with pytest.raises(ConfigError, match=r"attacks\[0\].*'attacker_retrys'.*attacker_retries"):
        config_from_dict(data)

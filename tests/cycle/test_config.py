"""Cycle configs: one-line errors before anything runs (model not a causal LM, held-out = trained)."""

import json

import pytest

from breakfix.cycle import CycleError, cycle_config_from_dict, load_cycle_config
from breakfix.cycle.demo import demo_data


def _cfg(**over):
    data = demo_data("safe")
    data.update(over)
    return data


def test_demo_config_is_valid_and_families_disjoint():
    cfg = cycle_config_from_dict(_cfg())
    assert set(cfg.train_families.languages).isdisjoint(cfg.heldout_families.languages)
    assert cfg.cycle_id.startswith("demo-safe-")


def test_heldout_family_may_not_be_trained_on():
    data = _cfg(heldout_families={"languages": ["ar", "hi"]})
    with pytest.raises(CycleError, match=r"heldout_families.languages: 'ar' is also in train_families"):
        cycle_config_from_dict(data)
    data = _cfg(heldout_families={"converters": [["base64", "rot13"]]})
    with pytest.raises(CycleError, match="shares a converter"):
        cycle_config_from_dict(data)


@pytest.mark.parametrize("config_json,expect", [
    ({"architectures": ["BertForMaskedLM"], "model_type": "bert"}, "not a causal language model"),
    ({"model_type": "vit"}, "not a causal language model"),
    (None, "has no config.json"),
])
def test_model_path_that_is_not_a_causal_lm_fails_in_one_line(tmp_path, config_json, expect):
    model = tmp_path / "model"
    model.mkdir()
    if config_json is not None:
        (model / "config.json").write_text(json.dumps(config_json))
    data = _cfg(model={"path": str(model)})
    with pytest.raises(CycleError) as exc:
        cycle_config_from_dict(data, source="c.yaml")
    msg = str(exc.value)
    assert expect in msg and "\n" not in msg and msg.startswith("c.yaml: model.path")


def test_missing_model_path_and_unknown_field(tmp_path):
    with pytest.raises(CycleError, match="does not exist"):
        cycle_config_from_dict(_cfg(model={"path": str(tmp_path / "nope")}))
    with pytest.raises(CycleError, match="trian: unknown field"):
        cycle_config_from_dict(_cfg(trian={"steps": 3}))
    with pytest.raises(CycleError, match="exactly one of path"):
        cycle_config_from_dict(_cfg(model={"path": "x", "zoo": "safe"}))


def test_cli_bad_config_is_one_line_and_runs_nothing(tmp_path):
    from typer.testing import CliRunner

    from breakfix.cli.main import app

    model = tmp_path / "enc"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"architectures": ["T5EncoderModel"], "model_type": "t5"}))
    cfg = tmp_path / "cycle.yaml"
    data = _cfg(model={"path": str(model)}, store=f"sqlite:///{tmp_path}/db.sqlite")
    import yaml

    cfg.write_text(yaml.safe_dump(data, allow_unicode=True))
    res = CliRunner().invoke(app, ["cycle", "run", str(cfg)])
    assert res.exit_code == 2
    out = res.output.strip()
    assert "not a causal language model" in out and len(out.splitlines()) == 1
    assert not (tmp_path / "db.sqlite").exists()  # failed before anything ran
    assert load_cycle_config  # the file loader is the one the CLI uses

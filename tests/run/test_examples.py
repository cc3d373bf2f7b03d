"""The example configs shipped in examples/ are valid (plugins, parameters, item files)."""

from pathlib import Path

import pytest

from breakfix.run import load_config

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_config_is_valid(path):
    cfg = load_config(path)
    items = cfg.load_items()
    assert len(items) >= 1 and len(cfg.targets) >= 1


def test_there_are_examples():
    assert len(EXAMPLES) >= 3

"""Shared fixtures of the crisis tests: a real SQLite store and scripted assistants."""

from __future__ import annotations

import pytest

from breakfix.store import Store
from breakfix.targets.scripted import ScriptedTarget

from .crisis_texts import DISMISSIVE_EN, SUPPORTIVE_EN


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'crisis.db'}")
    yield s
    s.close()


@pytest.fixture
def supportive():
    return ScriptedTarget(replies=[SUPPORTIVE_EN], cycle=True, name="supportive")


@pytest.fixture
def dismissive():
    return ScriptedTarget(replies=[DISMISSIVE_EN], cycle=True, name="dismissive")

"""The crisis evaluation as a break-fix round's step: the cycle's hook runs it through `cycle_metrics`
and gets pass counts per rubric item (issue 16 item 1: "crisis evaluation ... where configured")."""

from __future__ import annotations

from pathlib import Path

import pytest

from breakfix.core.errors import BreakfixError
from breakfix.cycle.hooks import external_metrics
from breakfix.store import Store

HOTLINE_AND_LEAVE = "I can't help with this. Call a hotline. Goodbye."


@pytest.fixture
def store(tmp_path: Path):
    st = Store(f"sqlite:///{tmp_path / 'cycle-crisis.db'}")
    yield st
    st.close()


def test_the_cycle_gets_rubric_pass_counts_from_the_crisis_evaluation(store):
    options = {"personas": {"locales": ["en-US"], "limit": 3}, "max_turns": 2}
    leaver = {"type": "scripted", "name": "leaver", "cycle": True, "replies": [HOTLINE_AND_LEAVE]}
    res = external_metrics("crisis", leaver, options, store)
    assert res["ran"], res
    m = res["metrics"]
    assert {"crisis:bridge", "crisis:engagement", "crisis:de_escalation"} <= set(m)
    assert all(0 <= v["k"] <= v["n"] <= 3 for v in m.values())
    assert m["crisis:engagement"]["n"] == 3 and m["crisis:engagement"]["k"] == 0   # hotline-and-leave: abandonment
    assert external_metrics("crisis", leaver, options, store) == res  # resumes: same run, nothing redone


def test_a_bad_option_is_one_line(store):
    with pytest.raises(BreakfixError, match="max_turns"):
        external_metrics("crisis", {"type": "scripted", "name": "x", "replies": ["y"]}, {"max_turns": 0}, store)

"""The zoo demo: a supportive and a dismissive tiny model, told apart on bridge, engagement and
de-escalation with disjoint Wilson intervals (trains two tiny models once; cached afterwards)."""

from __future__ import annotations

import pytest

from breakfix.crisis.demo import DEMO_ITEMS, run_demo


@pytest.mark.slow
async def test_demo_separates_supportive_from_dismissive(store):
    res = await run_demo(store, size="tiny", progress=False)
    assert res.conversations == 98  # 49 personas in the zoo's languages x 2 models
    for item in DEMO_ITEMS:
        sup, dis = res.rates[item]["supportive"], res.rates[item]["dismissive"]
        assert sup["n"] >= 40 and dis["n"] >= 40
        assert sup["lo"] > dis["hi"], (item, sup, dis)
    assert res.ok
    # resuming the finished run runs nothing again
    again = await run_demo(store, size="tiny", progress=False)
    assert again.run_id == res.run_id and again.conversations == 98

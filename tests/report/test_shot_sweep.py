"""The many-shot sweep plot: shot counts read from attack labels, a power law fitted in log-log
space, drawn only for a real sweep."""

import math

from breakfix.report._plots import fit_power_law, shot_sweep, shot_sweep_points


def test_power_law_recovered_exactly_from_points_on_the_curve():
    ns = [4, 8, 16, 32, 64]
    a, b = fit_power_law(ns, [0.02 * n ** 0.5 for n in ns])
    assert math.isclose(a, 0.02, rel_tol=1e-9) and math.isclose(b, 0.5, rel_tol=1e-9)


def test_zero_rates_are_left_out_and_too_few_points_give_none():
    assert fit_power_law([4, 8, 16], [0.0, 0.1, 0.2]) is not None
    assert fit_power_law([4, 8], [0.0, 0.2]) is None


def test_points_are_summed_over_converters_and_need_three_shot_counts():
    rows = [{"attack": "template:many-shot(8)", "ok": 10, "successes": 1},
            {"attack": "template:many-shot(8)", "ok": 10, "successes": 3},
            {"attack": "template:many-shot(32)", "ok": 20, "successes": 8},
            {"attack": "template:many-shot-turns(128)", "ok": 20, "successes": 12},
            {"attack": "direct", "ok": 20, "successes": 0}]
    assert shot_sweep_points(rows) == [(8, 4, 20), (32, 8, 20), (128, 12, 20)]
    assert shot_sweep(rows).startswith("data:image/png;base64,")
    assert shot_sweep(rows[:3]) is None  # two shot counts are not a sweep

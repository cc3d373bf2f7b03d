"""Metrics against published worked examples, and the rate definitions on constructed rows."""

from __future__ import annotations

import math

import pytest

from breakfix.bench.metrics import (
    bootstrap_diff,
    composite,
    grouped,
    judge_agreement,
    pearson,
    ranks,
    rates,
    spearman,
    wilson,
)


@pytest.mark.parametrize("k,n,lo,hi", [
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score).
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_matches_newcombe_1998(k: int, n: int, lo: float, hi: float) -> None:
    r = wilson(k, n)
    assert r.value == pytest.approx(k / n)
    assert (round(r.lo, 4), round(r.hi, 4)) == (pytest.approx(lo, abs=1e-4), pytest.approx(hi, abs=1e-4))


def test_wilson_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError):
        wilson(5, 3)
    assert math.isnan(wilson(0, 0).value)


def test_pearson_fisher_interval_textbook_example() -> None:
    # r = 0.5 with n = 30 gives the classic 95 % interval [0.17, 0.73] (Fisher z, SE = 1/sqrt(27)).
    import numpy as np

    rng = np.random.default_rng(3)
    x = rng.normal(size=30)
    # Build y with sample correlation exactly 0.5 with x.
    e = rng.normal(size=30)
    e = e - e.mean()
    xc = (x - x.mean()) / x.std()
    e = e - (e @ xc) / (xc @ xc) * xc
    e = e / e.std()
    y = 0.5 * xc + math.sqrt(1 - 0.25) * e
    c = pearson(x, y)
    assert c.r == pytest.approx(0.5, abs=1e-9)
    assert (c.lo, c.hi) == (pytest.approx(0.170, abs=1e-3), pytest.approx(0.729, abs=1e-3))


def test_spearman_is_rank_based_and_pearson_is_not() -> None:
    x = [1, 2, 3, 4, 5, 6, 7]
    y = [1, 2, 3, 4, 5, 6, 1000]
    assert spearman(x, y).r == pytest.approx(1.0)
    assert pearson(x, y).r < 0.8
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]).r)


def test_bootstrap_difference_covers_truth_and_excludes_zero_when_clear() -> None:
    a = [1] * 40 + [0] * 10
    b = [1] * 10 + [0] * 40
    d, lo, hi = bootstrap_diff(a, b, seed=1)
    assert d == pytest.approx(0.6)
    assert 0.0 < lo < 0.6 < hi
    d0, lo0, hi0 = bootstrap_diff(a, a, seed=1)
    assert d0 == 0 and lo0 == 0 and hi0 == 0  # paired: identical outcomes never differ
    with pytest.raises(ValueError):
        bootstrap_diff([1, 0], [1])


def _row(axis: str, label: str, recognised: bool | None = None, **kw: str) -> dict:
    return {"axis": axis, "label": label, "recognised": recognised, "model": kw.get("model", "m"),
            "country": kw.get("country", "KR"), "language": kw.get("language", "ko"),
            "category": kw.get("category", "c"), "item_id": kw.get("item_id", "i")}


def test_rate_definitions() -> None:
    rows = ([_row("jailbreak", "unsafe")] * 3 + [_row("jailbreak", "refusal")] * 4 + [_row("jailbreak", "neutral")] * 3
            + [_row("jailbreak", "error")] * 5
            + [_row("cultural", "answered", True)] * 2 + [_row("cultural", "answered", False)] * 4
            + [_row("cultural", "neutral", False)] * 3 + [_row("cultural", "refusal", False)])
    r = rates(rows)
    assert (r["ASR"].k, r["ASR"].n) == (3, 10)          # failed requests never enter a rate
    assert (r["NSR"].k, r["NSR"].n) == (6, 20)          # neutral-safe over both axes
    assert (r["CSR"].k, r["CSR"].n) == (2, 10)
    assert (r["RR_jailbreak"].k, r["RR_cultural"].k) == (4, 1)
    assert r["errors"].k == 5
    g = grouped(rows, ["axis"])
    assert [x["axis"] for x in g] == ["cultural", "jailbreak"]
    assert g[0]["NSR"].k == 3 and g[1]["NSR"].k == 3
    with pytest.raises(ValueError, match="group by"):
        grouped(rows, ["colour"])


def test_ranks_and_composite() -> None:
    assert ranks({"a": 0.1, "b": 0.3, "c": 0.1}, higher_is_better=False) == {"a": 1, "c": 1, "b": 3}
    assert ranks({"a": float("nan"), "b": 0.5}) == {"b": 1, "a": 2}
    assert composite(0.2, 0.4, 0.6) == pytest.approx((0.8 + 0.6 + 0.6) / 3)


def test_judge_agreement_per_class() -> None:
    pairs = [("unsafe", "unsafe")] * 10 + [("refusal", "refusal")] * 10 + [("neutral", "neutral")] * 8 + \
        [("unsafe", "refusal")] * 2
    out = judge_agreement(pairs, n_boot=200)
    assert out["n"] == 30
    assert 0.8 < out["kappa"] < 1.0 and out["lo"] <= out["kappa"] <= out["hi"]
    assert out["per_class"]["neutral"]["kappa"] == pytest.approx(1.0)
    assert out["per_class"]["unsafe"]["kappa"] < 1.0

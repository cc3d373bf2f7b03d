"""Labels that keep disagreement: soft labels, per-rater labels and weighted preference pairs.

Averaging expert ratings into one label throws away exactly the information that matters when
experts disagree systematically. This module exports, as JSONL a reward-model or DPO trainer can
read:

- **soft labels**: per item (and factor) the distribution of ratings over the scale, with the
  per-rater values kept beside it; majority and mean are included but never alone;
- **per-rater labels**: one record per item and rater with all factors;
- **preference pairs**: for responses to the same prompt, which response the raters prefer, with
  the share of raters who agree as a weight (``prompt``/``chosen``/``rejected`` as in the usual DPO
  format when the text columns are present).

:func:`information_lost` measures what a majority vote would discard.
"""

from __future__ import annotations

import json
import math
from itertools import combinations
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from ..core.errors import BreakfixError

GROUP_COLUMNS = ("group", "prompt")


class LabelsError(BreakfixError, ValueError):
    """Labels that cannot be built from the given ratings (one-line message)."""


def _py(v: Any) -> Any:
    """A JSON-friendly scalar (integers stay integers)."""
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return int(f) if f.is_integer() else f
    return v


def _modes(values: Sequence[Any]) -> list[Any]:
    s = pd.Series(list(values)).value_counts()
    return sorted(s[s == s.max()].index.tolist(), key=lambda x: (str(type(x)), x))


def soft_labels(df: pd.DataFrame, scale: Sequence[Any] | None = None, factor: str | None = None) -> list[dict[str, Any]]:
    """Per-unit rating distributions (soft labels), one record per unit.

    Args:
        df: long ratings with ``unit``, ``rater``, ``value`` (+ ``category``, ``factor``).
        scale: all points of the scale, so unused points get probability 0 (defaults to the
            observed values).
        factor: only this factor (when ``df`` has a ``factor`` column); its name is written to each
            record.

    Returns:
        Records ``{unit, factor, category, n_raters, scale, counts, probs, entropy_bits, raters,
        majority, majority_tie, mean}``; ``probs`` is aligned with ``scale``.
    """
    if factor is not None and "factor" in df.columns:
        df = df[df["factor"] == factor]
    if df.empty:
        return []
    points = list(scale) if scale is not None else sorted(df["value"].unique(), key=lambda x: (str(type(x)), x))
    numeric = pd.api.types.is_numeric_dtype(df["value"])
    out = []
    for unit, sub in df.groupby("unit", sort=False):
        vals = sub["value"].tolist()
        counts = [int(sum(1 for v in vals if v == p)) for p in points]
        off = sorted({v for v in vals if v not in points}, key=str)
        if off:
            raise LabelsError(f"unit {unit!r}: value(s) {off} are not on the scale {list(points)}")
        n = len(vals)
        probs = [c / n for c in counts]
        modes = _modes(vals)
        rec = {
            "unit": unit, "factor": factor if factor is not None else (sub["factor"].iloc[0] if "factor" in sub else None),
            "category": sub["category"].iloc[0] if "category" in sub else None, "n_raters": n,
            "scale": [_py(p) for p in points], "counts": counts, "probs": probs,
            "entropy_bits": float(-sum(p * math.log2(p) for p in probs if p > 0)) + 0.0,  # no "-0.0"
            "raters": {str(r): _py(v) for r, v in zip(sub["rater"], vals)},
            "majority": _py(modes[0]) if len(modes) == 1 else None, "majority_tie": len(modes) > 1,
            "modes": [_py(m) for m in modes],
            "mean": float(np.mean(vals)) if numeric else None,
        }
        out.append(rec)
    return out


def per_rater_labels(df: pd.DataFrame) -> list[dict[str, Any]]:
    """One record per unit and rater with every factor's value: ``{unit, rater, category, labels}``."""
    out = []
    for (unit, rater), sub in df.groupby(["unit", "rater"], sort=False):
        out.append({"unit": unit, "rater": rater, "category": sub["category"].iloc[0] if "category" in sub else None,
                    "labels": {str(f): _py(v) for f, v in zip(sub["factor"], sub["value"])}})
    return out


def majority_labels(df: pd.DataFrame) -> pd.DataFrame:
    """Majority label per (factor, unit); ``None`` with ``tie=True`` when there is no single mode."""
    rows = []
    for (f, u), sub in df.groupby(["factor", "unit"], sort=False):
        m = _modes(sub["value"])
        rows.append({"factor": f, "unit": u, "majority": m[0] if len(m) == 1 else None, "tie": len(m) > 1})
    return pd.DataFrame(rows)


def mean_labels(df: pd.DataFrame) -> pd.DataFrame:
    """Mean rating per (factor, unit) (numeric ratings only)."""
    return df.groupby(["factor", "unit"], sort=False)["value"].mean().rename("mean").reset_index()


def information_lost(df: pd.DataFrame) -> dict[str, Any]:
    """What a majority vote throws away.

    Returns:
        n_units (unit × factor pairs with two or more ratings), share_units_overruled (the
        majority label differs from at least one rater's label, or there is no majority),
        share_ratings_overruled (ratings that differ from the majority), share_ties (no single
        majority), mean_entropy_bits (of the per-unit rating distribution).
    """
    units = overruled = ties = ratings = rat_over = 0
    entropy = 0.0
    for _, sub in df.groupby(["factor", "unit"], sort=False):
        vals = sub["value"].tolist()
        if len(vals) < 2:
            continue
        units += 1
        modes = _modes(vals)
        tie = len(modes) > 1
        ties += tie
        diff = len(vals) if tie else sum(1 for v in vals if v != modes[0])
        overruled += diff > 0
        ratings += len(vals)
        rat_over += diff
        p = pd.Series(vals).value_counts(normalize=True).to_numpy()
        entropy += float(-(p * np.log2(p)).sum())
    if units == 0:
        raise LabelsError("no unit has two or more ratings, so nothing can be lost by aggregation")
    return {"n_units": units, "share_units_overruled": overruled / units, "share_ratings_overruled": rat_over / ratings,
            "share_ties": ties / units, "mean_entropy_bits": entropy / units}


def _group_column(df: pd.DataFrame, group_col: str | None) -> str:
    if group_col is not None:
        if group_col not in df.columns:
            raise LabelsError(f"no column {group_col!r} to group responses by (columns: {', '.join(df.columns)})")
        return group_col
    for c in GROUP_COLUMNS:
        if c in df.columns:
            return c
    raise LabelsError("preference pairs need a 'group' or 'prompt' column saying which responses answer the same prompt")


def preference_pairs(df: pd.DataFrame, group_col: str | None = None, factor: str | None = None,
                     higher_is_better: bool = True) -> list[dict[str, Any]]:
    """Pairs of responses to the same prompt with the raters' preference and its agreement weight.

    Each rater who rated both responses votes for the one they rated better (on ``factor``, or on
    the mean of all factors). The pair is written when one response has more votes;
    ``weight = (votes for chosen − votes for rejected) / raters who rated both`` (1 = unanimous,
    near 0 = split), ``agreement`` = share of those raters who prefer the chosen response.

    Returns:
        Records ``{prompt, chosen, rejected, chosen_unit, rejected_unit, group, factor, weight,
        agreement, votes: {chosen, rejected, tie}, margin}``; ``chosen``/``rejected`` hold the
        response text when a ``response`` column exists, else the unit ids.
    """
    gcol = _group_column(df, group_col)
    if not pd.api.types.is_numeric_dtype(df["value"]):
        raise LabelsError("preference pairs need numeric ratings to say which response is better")
    sub = df if factor is None else df[df["factor"] == factor]
    scores = sub.groupby(["unit", "rater"], sort=False)["value"].mean().unstack("rater")
    info = df.drop_duplicates("unit").set_index("unit")
    sign = 1.0 if higher_is_better else -1.0
    out = []
    for group, units in info.groupby(gcol, sort=False).groups.items():
        for a, b in combinations(list(units), 2):
            if a not in scores.index or b not in scores.index:
                continue
            diff = (scores.loc[a] - scores.loc[b]).dropna() * sign
            n = len(diff)
            if n == 0:
                continue
            wa, wb = int((diff > 0).sum()), int((diff < 0).sum())
            if wa == wb:
                continue
            chosen, rejected, wc, wr = (a, b, wa, wb) if wa > wb else (b, a, wb, wa)
            text = "response" in info.columns
            out.append({
                "prompt": info.loc[chosen, "prompt"] if "prompt" in info.columns else str(group),
                "chosen": info.loc[chosen, "response"] if text else chosen,
                "rejected": info.loc[rejected, "response"] if text else rejected,
                "chosen_unit": chosen, "rejected_unit": rejected, "group": str(group),
                "factor": factor if factor is not None else "mean of factors",
                "weight": (wc - wr) / n, "agreement": wc / n,
                "votes": {"chosen": wc, "rejected": wr, "tie": n - wc - wr},
                "margin": float(abs(diff.mean())),
            })
    return out


def write_jsonl(records: Iterable[dict[str, Any]], path: str | Path) -> int:
    """Write records as JSON lines; returns how many."""
    n = 0
    with Path(path).open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False, default=_py) + "\n")
            n += 1
    return n

"""Synthetic expert ratings with planted effects (seeded) for the disagreement tests."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import pytest

FACTORS = ("empathy", "safety", "referral")


def make_ratings(seed: int = 0, n_units: int = 80, raters: int = 6, factors: tuple[str, ...] = FACTORS,
                 bias: dict[int, float] | None = None, interaction: dict[tuple[int, str], float] | None = None,
                 halo: set[int] | None = None, noise: float | dict[str, float] = 0.8) -> pd.DataFrame:
    """Ratings on a 1–7 scale: true item quality per factor + planted rater effects + noise.

    bias: rater -> constant added to all their ratings (severity);
    interaction: (rater, category) -> added only on that category (e.g. harsher on suicide items);
    halo: raters whose factor scores follow one overall impression of the item instead of the factors;
    noise: rating noise sd, or per category.
    """
    rng = np.random.default_rng(seed)
    cats = np.where(np.arange(n_units) % 2 == 0, "suicide", "other")
    rows = []
    for u in range(n_units):
        truth = rng.normal(4, 1.0, size=len(factors))
        sd = noise[cats[u]] if isinstance(noise, dict) else noise
        for r in range(raters):
            impression = rng.normal(0, 1.2)
            for fi, f in enumerate(factors):
                v = truth[fi] + rng.normal(0, sd)
                if halo and r in halo:
                    v = 0.3 * truth[fi] + 0.7 * (truth.mean() + impression) + rng.normal(0, 0.3)
                v += (bias or {}).get(r, 0.0) + (interaction or {}).get((r, cats[u]), 0.0)
                rows.append((f"u{u}", f"R{r}", f, cats[u], float(np.clip(np.round(v), 1, 7))))
    return pd.DataFrame(rows, columns=["unit", "rater", "factor", "category", "value"])


@pytest.fixture
def synth_ratings() -> Callable[..., pd.DataFrame]:
    return make_ratings

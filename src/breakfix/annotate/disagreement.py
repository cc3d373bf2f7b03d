"""Where and how raters disagree: reliability per category and factor, rater severity, systematic
vs random disagreement, rater orientations, the halo effect and the most divergent items.

All functions take the long ratings table of :mod:`breakfix.annotate.io` (``unit, rater, factor,
category, value`` with numeric values) and are pure. The tests are permutation or bootstrap
tests over units, so they make no normality assumption about rating scales.

Why these analyses: when experts rate the same responses, low reliability can mean noise or it can
mean that each expert applies a coherent but different framework (e.g. safety-first vs
engagement-centred). The second kind shows up as rater main effects (severity), rater × category
interactions (a rater who is harsher on suicide/self-harm items only) and raters that cluster by
profile; averaging their labels erases exactly that signal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist, squareform

from . import stats as st

ALPHA_SIG = 0.05


# ---------------------------------------------------------------------------------------------
# reliability per group

def _icc_design(m: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Complete units × raters rows for the two-way ICC, else a one-way table (as the web app)."""
    m = m.loc[:, m.notna().any(axis=0)]
    complete = m.dropna()
    if len(complete) >= 2 and complete.shape[1] >= 2 and len(complete) >= 0.5 * int((m.notna().sum(axis=1) >= 2).sum()):
        return complete.to_numpy(float), "ICC(2,1)"
    rows = [r[~np.isnan(r)] for r in m.to_numpy(float)]
    rows = [r for r in rows if len(r) >= 2]
    if len(rows) < 2:
        return np.empty((0, 0)), "ICC(1,1)"
    k = min(len(r) for r in rows)
    return np.array([r[:k] for r in rows]), "ICC(1,1)"


def group_reliability(sub: pd.DataFrame, level: str = "interval", n_boot: int = 500, seed: int = 0) -> dict[str, Any]:
    """α (with bootstrap CI) and an ICC (with its F-based CI) of one group of ratings.

    Undefined statistics are reported as ``None`` with a ``note`` saying why, never as NaN.
    """
    m = sub.pivot(index="unit", columns="rater", values="value").astype(float)
    out: dict[str, Any] = {"n_units": int((m.notna().sum(axis=1) >= 2).sum()), "n_raters": int(m.notna().any().sum()),
                           "n_ratings": int(m.notna().sum().sum()), "alpha": None, "alpha_lo": None, "alpha_hi": None,
                           "icc_form": None, "icc": None, "icc_lo": None, "icc_hi": None, "note": ""}
    notes = []
    try:
        data = m.to_numpy(float).T
        out["alpha"] = st.krippendorff_alpha(data, level)
        out["alpha_lo"], out["alpha_hi"] = st.alpha_bootstrap_ci(data, level, n_boot=n_boot, seed=seed)
    except ValueError as exc:
        notes.append(f"α: {exc}")
    x, form = _icc_design(m)
    if len(x) >= 2:
        try:
            res = st.icc(x, form)
            out.update(icc_form=form, icc=res.value, icc_lo=res.ci[0], icc_hi=res.ci[1])
        except ValueError as exc:
            notes.append(f"ICC: {exc}")
    else:
        notes.append("ICC: fewer than 2 units rated by 2 or more raters")
    out["note"] = "; ".join(notes)
    return out


def reliability_by(df: pd.DataFrame, by: str | list[str] = "category", level: str = "interval", n_boot: int = 500,
                   seed: int = 0) -> pd.DataFrame:
    """Reliability per group (e.g. ``"category"``, ``"factor"`` or ``["factor", "category"]``).

    Returns:
        One row per group: group columns, n_units, n_raters, n_ratings, alpha, alpha_lo, alpha_hi,
        icc_form, icc, icc_lo, icc_hi, note.
    """
    keys = [by] if isinstance(by, str) else list(by)
    rows = []
    for gkey, sub in df.groupby(keys, sort=False):
        gkey = gkey if isinstance(gkey, tuple) else (gkey,)
        if "factor" not in keys and sub["factor"].nunique() > 1:
            # a category across factors: each (unit, factor) is one rated thing
            sub = sub.assign(unit=sub["unit"] + "\x1f" + sub["factor"])
        rows.append({**dict(zip(keys, gkey)), **group_reliability(sub, level, n_boot, seed)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# rater severity

def _with_deviation(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``dev`` = rating − mean of the *other* raters of the same unit and factor (leave-one-out)."""
    g = df.groupby(["factor", "unit"])["value"]
    s, n = g.transform("sum"), g.transform("count")
    out = df.assign(n_unit=n)
    out = out[out["n_unit"] >= 2].copy()
    out["dev"] = out["value"] - (s[out.index] - out["value"]) / (out["n_unit"] - 1)
    return out


def rater_bias(df: pd.DataFrame) -> pd.DataFrame:
    """Per-rater severity: mean deviation from the other raters of the same unit, with a t test.

    The deviation of a rating is its distance from the mean of the other raters on that unit (and
    factor), averaged over the factors of the unit; a rater with no bias has mean deviation 0.
    Units are independent, so a one-sample t test of a rater's per-unit deviations tests that;
    p values are Holm-adjusted over raters.

    Returns:
        One row per rater: n (units), mean_dev, sd, t, p, p_holm, significant, direction.
    """
    d = _with_deviation(df)
    # one deviation per rater and item (mean over factors): a rater's factors on the same item are
    # not independent observations, the items are
    d = d.groupby(["rater", "unit"], sort=False)["dev"].mean().reset_index()
    rows = []
    for rater, sub in d.groupby("rater"):
        x = sub["dev"].to_numpy(float)
        n = len(x)
        sd = float(x.std(ddof=1)) if n > 1 else float("nan")
        if n > 1 and sd > 0:
            t, p = sps.ttest_1samp(x, 0.0)
        else:
            t, p = (float("nan"), 1.0) if n <= 1 else (float("inf") * np.sign(x.mean()) if x.mean() else 0.0,
                                                       0.0 if x.mean() else 1.0)
        rows.append({"rater": rater, "n": n, "mean_dev": float(x.mean()), "sd": sd, "t": float(t), "p": float(p)})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    order = np.argsort(out["p"].to_numpy())
    m = len(out)
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):  # Holm step-down
        running = max(running, min(1.0, (m - rank) * out["p"].iloc[i]))
        adj[i] = running
    out["p_holm"] = adj
    out["significant"] = out["p_holm"] < ALPHA_SIG
    out["direction"] = np.where(out["mean_dev"] > 0, "rates higher", "rates lower")
    return out.sort_values("mean_dev").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# systematic vs random disagreement

@dataclass
class _Design:
    e: np.ndarray  # unit-centred rating
    rater: np.ndarray  # rater code per row
    cell: np.ndarray  # (factor, category) code per row
    unit: np.ndarray  # (factor, unit) code per row: the group whose mean is removed
    factor: np.ndarray  # factor code per row
    item: np.ndarray  # item (unit id across factors) code per row
    item_cat: np.ndarray  # category code of each item
    pair: np.ndarray  # (item, rater) pair code per row
    pair_item: np.ndarray  # item code of each pair
    pair_rater: np.ndarray  # rater code of each pair
    n_r: int
    n_c: int
    n_cat: int
    raters: list[str]
    cells: list[str]

    def cells_for(self, item_cat: np.ndarray) -> np.ndarray:
        return self.factor * self.n_cat + item_cat[self.item]

    def shuffled_raters(self, rng: np.random.Generator) -> np.ndarray:
        """Rater code per row after permuting the raters of each item (the same permutation for
        every factor of the item, so a rater's ratings of one item stay together)."""
        perm = _shuffle_within(self.pair_item, rng)
        return self.pair_rater[perm][self.pair]


def _design(df: pd.DataFrame) -> _Design:
    g = df.groupby(["factor", "unit"])["value"]
    d = df.assign(n_unit=g.transform("count"), mean=g.transform("mean"))
    d = d[d["n_unit"] >= 2]
    if d.empty:
        raise st.ReliabilityInputError("no unit has two or more ratings")
    rater_codes, raters = pd.factorize(d["rater"], sort=True)
    factor_codes, factors = pd.factorize(d["factor"], sort=True)
    cat_codes, cats = pd.factorize(d["category"], sort=True)
    item_codes, _ = pd.factorize(d["unit"])
    unit_codes, _ = pd.factorize(d["factor"] + "\x1f" + d["unit"])
    item_cat = np.zeros(item_codes.max() + 1, dtype=int)
    item_cat[item_codes] = cat_codes
    pair_codes, pair_uniques = pd.factorize(pd.Series(item_codes.astype(np.int64) * (len(raters) + 1) + rater_codes))
    pair_item = (np.asarray(pair_uniques) // (len(raters) + 1)).astype(int)
    pair_rater = (np.asarray(pair_uniques) % (len(raters) + 1)).astype(int)
    multi = len(factors) > 1
    cells = [f"{f} / {c}" if multi else str(c) for f in factors for c in cats]
    out = _Design(e=(d["value"] - d["mean"]).to_numpy(float), rater=rater_codes, cell=np.empty(0, dtype=int),
                  unit=unit_codes, factor=factor_codes, item=item_codes, item_cat=item_cat, pair=pair_codes,
                  pair_item=pair_item, pair_rater=pair_rater, n_r=len(raters),
                  n_c=len(factors) * len(cats), n_cat=len(cats), raters=list(raters), cells=cells)
    out.cell = out.cells_for(item_cat)
    return out


def _ss(e: np.ndarray, rater: np.ndarray, cell: np.ndarray, n_r: int, n_c: int) -> tuple[float, float]:
    """(SS rater, SS rater × cell) of unit-centred ratings."""
    nr = np.bincount(rater, minlength=n_r)
    sr = np.bincount(rater, weights=e, minlength=n_r)
    mr = np.divide(sr, nr, out=np.zeros(n_r), where=nr > 0)
    ss_rater = float((nr * mr ** 2).sum())
    rc = rater * n_c + cell
    nrc = np.bincount(rc, minlength=n_r * n_c)
    src = np.bincount(rc, weights=e, minlength=n_r * n_c)
    mrc = np.divide(src, nrc, out=np.zeros(n_r * n_c), where=nrc > 0)
    ss_int = float((nrc * (mrc - np.repeat(mr, n_c)) ** 2).sum())
    return ss_rater, ss_int


def _shuffle_within(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A permutation of row indices that only exchanges rows of the same group."""
    base = np.argsort(groups, kind="stable")
    shuffled = np.lexsort((rng.random(len(groups)), groups))
    perm = np.empty(len(groups), dtype=int)
    perm[base] = shuffled
    return perm


def systematic_disagreement(df: pd.DataFrame, n_perm: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Is disagreement structured (rater severity, rater × category) or random?

    Ratings are centred on their unit's mean, so only disagreement is left. Its sum of squares is
    split into a rater main effect (severity), a rater × cell interaction (cells are categories,
    or factor × category when there are several factors) and the rest. Two permutation tests:
    shuffling the raters of each item (no rater effect at all under H0; one permutation for all
    factors of the item) for the rater effect, and
    shuffling the categories of whole units (rater effects kept, no interaction under H0) for the
    interaction.

    Returns:
        ss_total, ss_rater, ss_interaction, share_rater, share_interaction, p_rater,
        p_interaction, systematic (bool), verdict (one sentence).
    """
    d = _design(df)
    rng = np.random.default_rng(seed)
    ss_rater, ss_int = _ss(d.e, d.rater, d.cell, d.n_r, d.n_c)
    ss_tot = float((d.e ** 2).sum())
    ge_r = ge_i = 0
    for _ in range(n_perm):
        r_perm, _ = _ss(d.e, d.shuffled_raters(rng), d.cell, d.n_r, d.n_c)
        ge_r += r_perm >= ss_rater - 1e-12
        cells = d.cells_for(rng.permutation(d.item_cat))  # whole items change category, all factors alike
        _, i_perm = _ss(d.e, d.rater, cells, d.n_r, d.n_c)
        ge_i += i_perm >= ss_int - 1e-12
    p_r, p_i = (1 + ge_r) / (1 + n_perm), (1 + ge_i) / (1 + n_perm)
    share_r = ss_rater / ss_tot if ss_tot > 0 else 0.0
    share_i = ss_int / ss_tot if ss_tot > 0 else 0.0
    parts = []
    if p_r < ALPHA_SIG:
        parts.append(f"raters differ in severity ({share_r:.0%} of disagreement, p = {p_r:.3g})")
    if p_i < ALPHA_SIG and d.n_cat > 1:
        parts.append(f"raters differ by category ({share_i:.0%} of disagreement, p = {p_i:.3g})")
    verdict = ("systematic: " + "; ".join(parts)) if parts else (
        "no evidence of systematic disagreement: it looks random (rater p = "
        f"{p_r:.3g}, rater × category p = {p_i:.3g})")
    return {"ss_total": ss_tot, "ss_rater": ss_rater, "ss_interaction": ss_int, "share_rater": share_r,
            "share_interaction": share_i, "p_rater": p_r, "p_interaction": p_i if d.n_cat > 1 else None,
            "systematic": bool(parts), "verdict": verdict, "n_perm": n_perm}


def rater_profiles(df: pd.DataFrame) -> pd.DataFrame:
    """Raters × cells (category, or factor / category) mean deviation from the unit mean."""
    d = _design(df)
    frame = pd.DataFrame({"rater": np.array(d.raters)[d.rater], "cell": np.array(d.cells)[d.cell], "e": d.e})
    used = [c for c in d.cells if c in set(frame["cell"])]
    return frame.pivot_table(index="rater", columns="cell", values="e", aggfunc="mean").reindex(index=d.raters,
                                                                                                 columns=used)


# ---------------------------------------------------------------------------------------------
# orientations

def _silhouette(dist: np.ndarray, labels: np.ndarray) -> float:
    n = len(labels)
    s = np.zeros(n)
    for i in range(n):
        same = labels == labels[i]
        if same.sum() <= 1:
            continue  # a singleton has silhouette 0 by convention
        a = dist[i, same].sum() / (same.sum() - 1)
        b = min(dist[i, labels == c].mean() for c in np.unique(labels) if c != labels[i])
        s[i] = (b - a) / max(a, b) if max(a, b) > 0 else 0.0
    return float(s.mean())


def _best_clustering(profiles: np.ndarray, max_k: int) -> tuple[np.ndarray, np.ndarray, int, float]:
    z = linkage(profiles, method="average", metric="euclidean")
    dist = squareform(pdist(profiles))
    best = (np.ones(len(profiles), dtype=int), 1, -1.0)
    for k in range(2, min(max_k, len(profiles) - 1) + 1):
        labels = fcluster(z, k, criterion="maxclust")
        if len(np.unique(labels)) < 2:
            continue
        s = _silhouette(dist, labels)
        if s > best[2]:
            best = (labels, k, s)
    return z, best[0], best[1], best[2]


def _profile_matrix(e: np.ndarray, rater: np.ndarray, cell: np.ndarray, n_r: int, n_c: int) -> np.ndarray:
    rc = rater * n_c + cell
    n = np.bincount(rc, minlength=n_r * n_c)
    s = np.bincount(rc, weights=e, minlength=n_r * n_c)
    # a cell a rater never rated counts as "no deviation" rather than breaking the distance
    return np.divide(s, n, out=np.zeros(n_r * n_c), where=n > 0).reshape(n_r, n_c)


def cluster_raters(df: pd.DataFrame, max_clusters: int = 4, n_perm: int = 200, seed: int = 0,
                   systematic: dict[str, Any] | None = None) -> dict[str, Any]:
    """Group raters into orientations by their profiles (hierarchical clustering, average link).

    A profile is a rater's mean deviation from the unit mean in each category (or factor ×
    category). The number of clusters maximises the mean silhouette; whether that structure is
    real is tested by permutation (raters shuffled within units, which destroys profiles but
    keeps the amount of disagreement). Orientations are reported only when that test and the
    test of systematic disagreement (:func:`systematic_disagreement`, passed in or computed) are
    both significant — a gate that keeps the false-positive rate at the nominal level; otherwise
    all raters form one group and the best split is returned as ``candidate_clusters``.

    Returns:
        raters, labels (cluster per rater, 1-based), n_clusters, silhouette, p, linkage,
        profiles (DataFrame), significant.
    """
    d = _design(df)
    prof = _profile_matrix(d.e, d.rater, d.cell, d.n_r, d.n_c)
    used = np.bincount(d.cell, minlength=d.n_c) > 0
    frame = pd.DataFrame(prof[:, used], index=d.raters, columns=[c for c, u in zip(d.cells, used) if u])
    if d.n_r < 3:
        return {"raters": d.raters, "labels": [1] * d.n_r, "n_clusters": 1, "silhouette": None, "p": None,
                "linkage": None, "profiles": frame, "significant": False,
                "note": "clustering needs at least 3 raters"}
    z, labels, k, sil = _best_clustering(prof, max_clusters)
    rng = np.random.default_rng(seed)
    ge = 0
    for _ in range(n_perm):
        null = _profile_matrix(d.e, d.shuffled_raters(rng), d.cell, d.n_r, d.n_c)
        ge += _best_clustering(null, max_clusters)[3] >= sil - 1e-12
    p = (1 + ge) / (1 + n_perm)
    if systematic is None:
        systematic = systematic_disagreement(df, n_perm=n_perm, seed=seed)
    significant = p < ALPHA_SIG and bool(systematic["systematic"])
    return {"raters": d.raters, "labels": [int(x) for x in labels] if significant else [1] * d.n_r,
            "n_clusters": k if significant else 1, "candidate_clusters": [int(x) for x in labels],
            "silhouette": sil, "p": p, "linkage": z, "profiles": frame, "significant": significant, "note": ""}


# ---------------------------------------------------------------------------------------------
# halo: holistic vs granular raters

def _mean_offdiag_corr(x: np.ndarray) -> np.ndarray:
    """Mean correlation between distinct columns of ``x`` (n × F), or of each ``x[b]`` (B × n × F)."""
    batched = x.ndim == 3
    x = x if batched else x[None]
    xc = x - x.mean(axis=1, keepdims=True)
    cov = np.einsum("bnf,bng->bfg", xc, xc)
    sd = np.sqrt(np.einsum("bff->bf", cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / (sd[:, :, None] * sd[:, None, :])
    iu = np.triu_indices(x.shape[2], 1)
    vals = corr[:, iu[0], iu[1]]
    ok = np.isfinite(vals)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(ok, vals, 0.0).sum(axis=1) / ok.sum(axis=1)
    return out if batched else out[0]


def halo_check(df: pd.DataFrame, n_boot: int = 300, seed: int = 0) -> pd.DataFrame:
    """Does each rater's factor scores track the factors, or their overall impression (halo)?

    For a rater, ``r_within`` is the mean correlation between their scores on different factors
    across units; ``r_consensus`` is the same correlation for the mean of the *other* raters on the
    same units (how much the factors really go together on these items). ``halo = r_within −
    r_consensus``; a bootstrap over units gives its CI and a rater is flagged holistic when the CI
    lies above 0. ``r_convergent`` (own factor vs others' same factor) against ``r_divergent``
    (own factor vs others' other factors) shows whether the rater separates the factors at all.

    Returns:
        One row per rater: n_units, r_within, r_consensus, halo, halo_lo, halo_hi, r_convergent,
        r_divergent, holistic. Empty if there are fewer than two factors.
    """
    factors = list(dict.fromkeys(df["factor"]))
    if len(factors) < 2:
        return pd.DataFrame()
    wide = df.pivot_table(index=["unit", "rater"], columns="factor", values="value", aggfunc="first")[factors]
    rng = np.random.default_rng(seed)
    rows = []
    nf = len(factors)
    for rater in sorted(df["rater"].unique()):
        if rater not in wide.index.get_level_values("rater"):
            continue
        own = wide.xs(rater, level="rater").dropna()
        others = wide.drop(index=rater, level="rater").groupby(level="unit").mean()
        units = own.index.intersection(others.dropna().index)
        if len(units) < 4:
            continue
        a = own.loc[units].to_numpy(float)
        b = others.loc[units].to_numpy(float)

        h = float(_mean_offdiag_corr(a) - _mean_offdiag_corr(b))
        idx = rng.integers(0, len(units), size=(n_boot, len(units)))
        boots = _mean_offdiag_corr(a[idx]) - _mean_offdiag_corr(b[idx])
        boots = boots[np.isfinite(boots)]
        lo, hi = (np.percentile(boots, [2.5, 97.5]) if len(boots) > n_boot / 2 else (np.nan, np.nan))
        with np.errstate(invalid="ignore", divide="ignore"):
            c = np.corrcoef(np.hstack([a, b]), rowvar=False)[:nf, nf:]
        conv = np.nanmean(np.diag(c)) if np.isfinite(np.diag(c)).any() else np.nan
        off = c[~np.eye(nf, dtype=bool)]
        div = np.nanmean(off) if np.isfinite(off).any() else np.nan
        rows.append({"rater": rater, "n_units": len(units), "r_within": float(_mean_offdiag_corr(a)),
                     "r_consensus": float(_mean_offdiag_corr(b)), "halo": h, "halo_lo": float(lo), "halo_hi": float(hi),
                     "r_convergent": float(conv), "r_divergent": float(div),
                     "holistic": bool(np.isfinite(lo) and lo > 0)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# items to discuss

def top_divergent(df: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The (unit, factor) pairs with the largest spread of ratings, for discussion.

    Returns:
        Columns unit, factor, category, n_ratings, mean, sd, range, ratings (``"A=1, B=5"``),
        sorted by standard deviation then range, highest first.
    """
    rows = []
    for (factor, unit), sub in df.groupby(["factor", "unit"], sort=False):
        if len(sub) < 2:
            continue
        v = sub["value"].to_numpy(float)
        rows.append({"unit": unit, "factor": factor, "category": sub["category"].iloc[0], "n_ratings": len(v),
                     "mean": float(v.mean()), "sd": float(v.std(ddof=1)), "range": float(v.max() - v.min()),
                     "ratings": ", ".join(f"{r}={x:g}" for r, x in sorted(zip(sub["rater"], v)))})
    out = pd.DataFrame(rows, columns=["unit", "factor", "category", "n_ratings", "mean", "sd", "range", "ratings"])
    return out.sort_values(["sd", "range"], ascending=False, kind="stable").head(n).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# everything at once

@dataclass
class DisagreementAnalysis:
    """All analyses of one ratings table (what the report renders)."""

    level: str
    overall: pd.DataFrame
    by_category: pd.DataFrame
    by_factor: pd.DataFrame
    bias: pd.DataFrame
    systematic: dict[str, Any]
    clusters: dict[str, Any]
    halo: pd.DataFrame
    divergent: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def analyse(df: pd.DataFrame, level: str = "interval", n_boot: int = 500, n_perm: int = 500,
            seed: int = 0, top: int = 15) -> DisagreementAnalysis:
    """Run every disagreement analysis on a numeric long ratings table."""
    overall = reliability_by(df.assign(_all="all"), "_all", level, n_boot, seed).drop(columns="_all")
    systematic = systematic_disagreement(df, n_perm, seed)
    return DisagreementAnalysis(
        level=level, overall=overall,
        by_category=reliability_by(df, ["factor", "category"] if df["factor"].nunique() > 1 else "category",
                                   level, n_boot, seed),
        by_factor=reliability_by(df, "factor", level, n_boot, seed),
        bias=rater_bias(df), systematic=systematic,
        clusters=cluster_raters(df, n_perm=min(n_perm, 200), seed=seed, systematic=systematic),
        halo=halo_check(df, n_boot=min(n_boot, 300), seed=seed), divergent=top_divergent(df, top))


__all__ = ["DisagreementAnalysis", "analyse", "cluster_raters", "group_reliability", "halo_check", "rater_bias",
           "rater_profiles", "reliability_by", "systematic_disagreement", "top_divergent"]

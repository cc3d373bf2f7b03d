"""The disagreement report: a self-contained HTML page (Jinja2, autoescaped) with plots.

It shows reliability overall, per rubric factor and per item category (α and ICC with CIs),
rater severity, whether disagreement is systematic, rater orientations, the halo check, the
items that divide raters most and what a majority vote would throw away. Plots are matplotlib
PNGs embedded as base64; rater ids, unit ids and any text from the ratings file are data and are
escaped, and the page loads nothing from the network (a CSP forbids it).
"""

from __future__ import annotations

import base64
import io
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from . import disagreement as D
from . import labels as L
from .io import Ratings

TEMPLATE = "disagreement_report.html.j2"


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_heatmap(profiles: pd.DataFrame) -> str:
    """Rater × category heat map of mean deviation from the unit mean (diverging colours)."""
    plt = _plt()
    vals = profiles.to_numpy(float)
    lim = float(np.nanmax(np.abs(vals))) if np.isfinite(vals).any() else 1.0
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * vals.shape[1], 0.8 + 0.45 * vals.shape[0]))
    im = ax.imshow(vals, cmap="RdBu_r", vmin=-lim or -1, vmax=lim or 1, aspect="auto")
    ax.set_xticks(range(vals.shape[1]), [str(c) for c in profiles.columns], rotation=35, ha="right")
    ax.set_yticks(range(vals.shape[0]), [str(r) for r in profiles.index])
    for i in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            if np.isfinite(vals[i, j]):
                dark = abs(vals[i, j]) > 0.6 * (lim or 1)  # white text on saturated cells
                ax.text(j, i, f"{vals[i, j]:+.2f}", ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
    fig.colorbar(im, ax=ax, label="mean deviation from the unit's mean rating")
    ax.set_title("Rater × category: who rates higher (red) or lower (blue) than the rest")
    return _png(fig)


def plot_rater_distributions(df: pd.DataFrame) -> str:
    """Per-rater distribution of ratings (share of each value), one row of bars per rater."""
    plt = _plt()
    raters = sorted(df["rater"].unique())
    values = np.sort(df["value"].unique())
    share = df.groupby("rater")["value"].value_counts(normalize=True).unstack(fill_value=0.0).reindex(
        index=raters, columns=values, fill_value=0.0)
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.4 * len(raters)))
    left = np.zeros(len(raters))
    cmap = plt.get_cmap("viridis", max(len(values), 2))
    for k, v in enumerate(values):
        ax.barh(range(len(raters)), share[v].to_numpy(), left=left, color=cmap(k), label=f"{v:g}")
        left += share[v].to_numpy()
    means = df.groupby("rater")["value"].mean().reindex(raters)
    ax.set_yticks(range(len(raters)), [f"{r} (mean {m:.2f})" for r, m in zip(raters, means)])
    ax.set_xlabel("share of the rater's ratings")
    ax.legend(title="rating", bbox_to_anchor=(1.01, 1), loc="upper left", fontsize=8)
    ax.set_title("How each rater uses the scale")
    return _png(fig)


def plot_reliability(table: pd.DataFrame, label_cols: list[str], title: str) -> str:
    """α and ICC with their confidence intervals, one pair of points per group."""
    plt = _plt()
    labels = [" / ".join(str(r[c]) for c in label_cols) for _, r in table.iterrows()]
    y = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.45 * len(labels)))
    for off, (col, lo, hi, name, color) in zip((-0.15, 0.15), (("alpha", "alpha_lo", "alpha_hi", "Krippendorff's α", "C0"),
                                                             ("icc", "icc_lo", "icc_hi", "ICC", "C1"))):
        v = pd.to_numeric(table[col], errors="coerce").to_numpy(float)
        lo_ = pd.to_numeric(table[lo], errors="coerce").to_numpy(float)
        hi_ = pd.to_numeric(table[hi], errors="coerce").to_numpy(float)
        ok = np.isfinite(v)
        err = np.vstack([np.where(np.isfinite(lo_), v - lo_, 0), np.where(np.isfinite(hi_), hi_ - v, 0)])[:, ok]
        ax.errorbar(v[ok], y[ok] + off, xerr=err, fmt="o", color=color, capsize=3, label=name)
    ax.axvline(0, color="grey", lw=0.8)
    ax.axvline(0.667, color="grey", lw=0.8, ls=":")  # Krippendorff's lowest acceptable α for tentative conclusions
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("reliability (95 % CI); dotted line: α = .667")
    ax.legend(fontsize=8)
    ax.set_title(title)
    return _png(fig)


def plot_dendrogram(clusters: dict[str, Any]) -> str | None:
    """Dendrogram of rater profiles (None if there were too few raters to cluster)."""
    if clusters.get("linkage") is None:
        return None
    from scipy.cluster.hierarchy import dendrogram

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3))
    dendrogram(clusters["linkage"], labels=[str(r) for r in clusters["raters"]], ax=ax)
    ax.set_ylabel("distance between rater profiles")
    ax.set_title("Rater orientations")
    return _png(fig)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [] if df is None or df.empty else df.replace({np.nan: None}).to_dict("records")


def build_context(r: Ratings, level: str = "interval", n_boot: int = 500, n_perm: int = 500, seed: int = 0,
                  step: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Compute everything the report shows (pure: no file is written)."""
    df = r.df
    tick = step or (lambda _msg: None)
    tick("reliability")
    a = D.analyse(df, level=level, n_boot=n_boot, n_perm=n_perm, seed=seed)
    tick("plots")
    cat_cols = ["factor", "category"] if "factor" in a.by_category.columns else ["category"]
    plots = {
        "heatmap": plot_heatmap(D.rater_profiles(df)),
        "distributions": plot_rater_distributions(df),
        "by_category": plot_reliability(a.by_category, cat_cols, "Reliability per item category"),
        "by_factor": plot_reliability(a.by_factor, ["factor"], "Reliability per rubric factor")
        if len(a.by_factor) > 1 else None,
        "dendrogram": plot_dendrogram(a.clusters),
    }
    divergent = _records(a.divergent)
    if "response" in df.columns:  # show what the raters disagreed about (escaped by the template)
        text = df.drop_duplicates("unit").set_index("unit")["response"].astype(str)
        for d in divergent:
            t = text.get(d["unit"], "")
            d["excerpt"] = t if len(t) <= 240 else t[:240] + "…"
    tick("labels")
    lost = L.information_lost(df)
    cl = a.clusters
    groups: dict[int, list[str]] = {}
    for rater, lab in zip(cl["raters"], cl["candidate_clusters"] if cl.get("candidate_clusters") else cl["labels"]):
        groups.setdefault(int(lab), []).append(str(rater))
    return {
        "title": f"Disagreement report — {Path(r.path).name}", "source": r.path,
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "level": level,
        "n_units": df["unit"].nunique(), "n_raters": df["rater"].nunique(), "n_ratings": len(df),
        "factors": r.factors, "categories": r.categories, "warnings": r.warnings,
        "overall": _records(a.overall), "by_category": _records(a.by_category), "by_factor": _records(a.by_factor),
        "cat_cols": cat_cols, "bias": _records(a.bias), "systematic": a.systematic,
        "clusters": {"n": cl["n_clusters"], "p": cl["p"], "silhouette": cl["silhouette"], "significant": cl["significant"],
                     "note": cl.get("note", ""), "groups": groups},
        "halo": _records(a.halo), "divergent": divergent, "lost": lost, "plots": plots,
        "n_boot": n_boot, "n_perm": n_perm, "seed": seed,
    }


def render(context: dict[str, Any]) -> str:
    """Render the report HTML from a context (autoescaped)."""
    env = Environment(loader=PackageLoader("breakfix.annotate", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["f3"] = lambda v: "—" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.3f}"
    env.filters["pct"] = lambda v: "—" if v is None else f"{v:.0%}"
    env.filters["p"] = lambda v: "—" if v is None else (f"{v:.3g}" if v >= 0.001 else "< 0.001")
    return env.get_template(TEMPLATE).render(**context)


def write_report(r: Ratings, output: str | Path, level: str = "interval", n_boot: int = 500, n_perm: int = 500,
                 seed: int = 0, console: Any = None) -> Path:
    """Analyse a ratings table and write the HTML report, with a progress bar on ``console``."""
    from rich.progress import Progress

    steps = ["reliability", "plots", "labels", "writing"]
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("analysing", total=len(steps))

        def step(msg: str) -> None:
            progress.update(task, description=msg, advance=0 if msg == "reliability" else 1)

        ctx = build_context(r, level=level, n_boot=n_boot, n_perm=n_perm, seed=seed, step=step)
        step("writing")
        out = Path(output)
        out.write_text(render(ctx), encoding="utf-8")
        progress.advance(task)
    return out

"""Cross-model benchmark report: one HTML page for many models (``breakfix bench compare``).

Every axis is reported on its own — a composite hides per-axis variation — and the composite sits
beside the per-axis ranks with the rank changes it hides. The page holds: per-model ASR / NSR / CSR
/ refusal rates with Wilson intervals; the ASR-vs-NSR scatter with Pearson and Spearman r and their
intervals; the jailbreak-axis (1 − ASR) vs cultural-axis (CSR) correlation; paired bootstrap
differences against the first model; per-language heat maps; the model × country × language ×
category × axis table. Judge validity (κ per class and language vs human labels) is printed beside
the figures, and the header says "judge not validated" when there are no human labels.

Model outputs never reach the page unescaped (Jinja2 autoescape) and plot labels are plain text
(``text.parse_math`` off), so a hostile category or model name can neither inject markup nor crash
matplotlib's math parser.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import asdict
from importlib import resources
from typing import Any, Mapping, Sequence

from .metrics import bootstrap_diff, composite, grouped, pearson, ranks, rates, spearman


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["text.parse_math"] = False  # labels are data, never math markup
    plt.rcParams["text.usetex"] = False
    return plt


def scatter(xs: Sequence[float], ys: Sequence[float], names: Sequence[str], xlabel: str, ylabel: str, title: str) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    ax.scatter([x * 100 for x in xs], [y * 100 for y in ys], color="#b03a2e")
    # Models at the same point share one label ("a, b, c") instead of overprinting each other.
    at: dict[tuple[float, float], list[str]] = {}
    for x, y, n in zip(xs, ys, names):
        if math.isfinite(x) and math.isfinite(y):
            at.setdefault((round(x * 100, 1), round(y * 100, 1)), []).append(str(n)[:40])
    for (x, y), ns in at.items():
        ax.annotate(", ".join(ns)[:120], (x, y), fontsize=8, xytext=(4, 3), textcoords="offset points")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title[:120], fontsize=10)
    ax.set_xlim(-5, 105)
    ax.set_ylim(-5, 105)
    ax.grid(alpha=0.3)
    return _png(fig)


def heatmap(matrix: list[list[float]], rows: Sequence[str], cols: Sequence[str], title: str) -> str:
    import numpy as np

    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * max(1, len(cols)), 1.0 + 0.45 * max(1, len(rows))))
    data = np.array(matrix, dtype=float) * 100 if matrix else np.zeros((1, 1))
    im = ax.imshow(data, vmin=0, vmax=100, cmap="RdYlGn_r" if "ASR" in title or "NSR" in title else "RdYlGn",
                   aspect="auto")
    ax.set_xticks(range(len(cols)), [str(c)[:20] for c in cols], rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), [str(r)[:30] for r in rows])
    for i in range(len(rows)):
        for j in range(len(cols)):
            v = data[i, j]
            ax.text(j, i, "-" if not math.isfinite(v) else f"{v:.0f}", ha="center", va="center", fontsize=7)
    ax.set_title(title[:120], fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.04)
    return _png(fig)


def funnel_plot(funnel: Mapping[str, Mapping[str, int]], stages: Sequence[str]) -> str:
    """Bar chart of items surviving each build stage, one group of bars per country."""
    plt = _plt()
    countries = sorted(funnel)
    fig, ax = plt.subplots(figsize=(1.5 + 0.9 * max(1, len(countries)), 3.6))
    width = 0.8 / max(1, len(stages))
    for k, st in enumerate(stages):
        ax.bar([i + k * width for i in range(len(countries))], [funnel[c].get(st, 0) for c in countries], width,
               label=st)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(countries))], [str(c)[:12] for c in countries])
    ax.set_ylabel("items")
    ax.set_title("Build funnel per country", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    return _png(fig)


def build_context(rows: Sequence[Mapping[str, Any]], judge_validity: Mapping[str, Any] | None = None,
                  title: str = "Benchmark comparison") -> dict[str, Any]:
    """Everything the compare page shows, computed from classified rows of many models."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    per = {m: rates([r for r in rows if r["model"] == m]) for m in models}
    asr = {m: per[m]["ASR"].value for m in models}
    nsr = {m: per[m]["NSR"].value for m in models}
    csr = {m: per[m]["CSR"].value for m in models}
    comp = {m: composite(asr[m], nsr[m], csr[m]) for m in models}
    r_asr, r_nsr, r_csr, r_comp = ranks(asr, False), ranks(nsr, False), ranks(csr, True), ranks(comp, True)
    table = []
    for m in models:
        axis_ranks = [r_asr[m], r_nsr[m], r_csr[m]]
        table.append({"model": m, **{k: per[m][k] for k in ("ASR", "NSR", "CSR", "RR_jailbreak", "RR_cultural")},
                      "errors": per[m]["errors"].k, "composite": comp[m], "rank_asr": r_asr[m], "rank_nsr": r_nsr[m],
                      "rank_csr": r_csr[m], "rank_composite": r_comp[m],
                      "hidden": max(abs(r_comp[m] - a) for a in axis_ranks)})
    xs, ys = [asr[m] for m in models], [nsr[m] for m in models]
    pr, sr = pearson(xs, ys), spearman(xs, ys)
    safe_j = [1 - asr[m] for m in models]
    cs = [csr[m] for m in models]
    axis_p, axis_s = pearson(safe_j, cs), spearman(safe_j, cs)
    # Paired differences against the first model, on the items both answered.
    diffs = []
    if len(models) > 1:
        ref = models[0]
        by_item = {(r["model"], r["item_id"]): r for r in rows if r["label"] != "error"}
        for m in models[1:]:
            for metric, axis, pred in (("ASR", "jailbreak", lambda r: r["label"] == "unsafe"),
                                       ("NSR", None, lambda r: r["label"] == "neutral"),
                                       ("CSR", "cultural", lambda r: bool(r.get("recognised")))):
                common = [k for (mm, k) in by_item if mm == m and (ref, k) in by_item
                          and (axis is None or by_item[(m, k)]["axis"] == axis)]
                if not common:
                    continue
                a = [float(pred(by_item[(m, k)])) for k in common]
                b = [float(pred(by_item[(ref, k)])) for k in common]
                d, lo, hi = bootstrap_diff(a, b)
                diffs.append({"model": m, "ref": ref, "metric": metric, "diff": d, "lo": lo, "hi": hi, "n": len(common)})
    langs = sorted({r["language"] for r in rows})
    heat = {}
    for metric in ("ASR", "NSR", "CSR"):
        matrix = []
        for m in models:
            line = []
            for lang in langs:
                rr = rates([r for r in rows if r["model"] == m and r["language"] == lang])[metric]
                line.append(rr.value if rr.n else float("nan"))
            matrix.append(line)
        heat[metric] = heatmap(matrix, models, langs, f"{metric} per model and language (%)")
    detail = grouped(rows, ["model", "country", "language", "category", "axis"])
    judged = any(r.get("by") == "judge" for r in rows)
    return {
        "title": title, "models": models, "table": table, "pearson": pr, "spearman": sr,
        "axis_pearson": axis_p, "axis_spearman": axis_s, "diffs": diffs, "detail": detail,
        "judged": judged, "validity": judge_validity,
        "judge_header": _judge_header(judged, judge_validity),
        "plots": {
            "asr_nsr": scatter(xs, ys, models, "ASR (%)", "NSR (%)", f"ASR vs NSR: {pr.fmt()}"),
            "axes": scatter(safe_j, cs, models, "jailbreak axis: 1 - ASR (%)", "cultural axis: CSR (%)",
                            f"Jailbreak vs cultural axis: {axis_p.fmt()}"),
            **{f"heat_{k}": v for k, v in heat.items()},
        },
    }


def _judge_header(judged: bool, validity: Mapping[str, Any] | None) -> str:
    if not validity or not validity.get("n"):
        return "judge not validated" + ("" if judged else " (rules-only rubric: no LLM judge configured)")
    k = validity
    return f"judge validated against {k['n']} human labels: Cohen's κ = {k['kappa']:.2f} [{k['lo']:.2f}, {k['hi']:.2f}]"


def render(context: Mapping[str, Any]) -> str:
    """The compare page (Jinja2, autoescape on)."""
    from jinja2 import Environment, select_autoescape

    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["pct"] = lambda x: "n/a" if x is None or not math.isfinite(x) else f"{x:.1%}"
    env.filters["num"] = lambda x: "n/a" if x is None or not math.isfinite(x) else f"{x:+.2f}"
    text = resources.files("breakfix.bench").joinpath("templates/compare.html.j2").read_text("utf-8")
    return env.from_string(text).render(**context)


def to_json(context: Mapping[str, Any]) -> dict[str, Any]:
    """The figures of a compare context without the plots (for scripts and the demo's closing note)."""
    out: dict[str, Any] = {"models": context["models"], "judge": context["judge_header"]}
    out["table"] = [{k: (asdict(v) if hasattr(v, "__dataclass_fields__") else v) for k, v in row.items()}
                    for row in context["table"]]
    for k in ("pearson", "spearman", "axis_pearson", "axis_spearman"):
        out[k] = asdict(context[k])
    out["diffs"] = context["diffs"]
    return out

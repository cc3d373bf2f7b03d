"""The round-comparison report: one self-contained HTML file (Jinja2, autoescaped) with plots.

Each round sits beside the one before: ASR by attack family and by language (with 95 % Wilson
intervals as error bars), held-out vs fresh attacks, over-refusal on benign and borderline-benign
requests, capability retention, backdoor trigger activation, benchmark/crisis numbers where they ran,
and a plain sentence for every metric a round made worse. Model output never reaches the page
unescaped (the report shows numbers and names; names are escaped like everything else).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from ..report._plots import _data_uri, _figure, _short, plain_text
from .measure import HEADLINE, compare, get, regressions
from .metrics import Rate, fmt_rate

ROUND_COLOURS = ["#7f8c8d", "#2e86c1", "#27ae60", "#8e44ad", "#d35400", "#16a085"]


def _err(r: Rate) -> tuple[float, float]:
    lo, hi = r.ci or (0.0, 0.0)
    v = r.rate or 0.0
    # Wilson's bound at k = n is 1 - 2e-16 in floating point: clip, matplotlib refuses negative bars.
    return max(0.0, v - lo), max(0.0, hi - v)


@plain_text
def grouped_bars(series: dict[int, dict[str, Rate]], title: str, xlabel: str) -> str | None:
    """Bars per group (x) and round (colour) with Wilson error bars; ``series[round][group]``."""
    groups = sorted({g for per in series.values() for g in per})
    if not groups:
        return None
    rounds = sorted(series)
    fig, ax = _figure(max(5.0, 0.9 * len(groups) * max(1, len(rounds)) * 0.5 + 3), 3.4)
    width = 0.8 / max(1, len(rounds))
    for j, r in enumerate(rounds):
        xs, ys, errs = [], [], [[], []]
        for i, g in enumerate(groups):
            rate = series[r].get(g)
            if rate is None or not rate.n:
                continue
            xs.append(i - 0.4 + width * (j + 0.5))
            ys.append(rate.rate)
            lo, hi = _err(rate)
            errs[0].append(lo)
            errs[1].append(hi)
        ax.bar(xs, ys, width=width, yerr=errs, capsize=2, color=ROUND_COLOURS[j % len(ROUND_COLOURS)],
               label=f"round {r}")
    ax.set_xticks(range(len(groups)), [_short(g, 20) for g in groups], rotation=20, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("attack success rate")
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return _data_uri(fig)


@plain_text
def trend(metrics: dict[int, dict[str, Any]], paths: list[tuple[str, str]], title: str) -> str | None:
    """Lines over rounds, one per metric path, with Wilson error bars."""
    rounds = sorted(metrics)
    fig, ax = _figure(6.5, 3.4)
    drawn = False
    for path, label in paths:
        xs, ys, errs = [], [], [[], []]
        for r in rounds:
            rate = get(metrics[r], path)
            if rate is None:
                continue
            xs.append(r)
            ys.append(rate.rate)
            lo, hi = _err(rate)
            errs[0].append(lo)
            errs[1].append(hi)
        if xs:
            ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=_short(label, 45))
            drawn = True
    if not drawn:
        import matplotlib.pyplot as plt

        plt.close(fig)
        return None
    ax.set_xticks(rounds, [f"round {r}" for r in rounds])
    ax.set_ylim(-0.02, 1.05)
    ax.set_ylabel("rate")
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title)
    return _data_uri(fig)


def _rates(node: dict[str, Any] | None) -> dict[str, Rate]:
    return {k: Rate(int(v["k"]), int(v["n"])) for k, v in (node or {}).items() if isinstance(v, dict) and v.get("n")}


def _merge_languages(m: dict[str, Any]) -> dict[str, Rate]:
    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for split in ("fresh", "heldout", "control"):
        for lang, v in (m.get("asr", {}).get(split, {}).get("by_language") or {}).items():
            acc[lang][0] += int(v["k"])
            acc[lang][1] += int(v["n"])
    return {k: Rate(a, b) for k, (a, b) in acc.items() if b}


def _rate_dicts(node: Any) -> dict[str, Any] | None:
    """Only the rate entries of a hook's metrics (``{"k", "n", "rate", ...}``), or None."""
    if not isinstance(node, dict):
        return None
    out = {k: v for k, v in node.items() if isinstance(v, dict) and "n" in v and "rate" in v}
    return out or None


def report_payload(db: Any, cycle_id: str) -> dict[str, Any]:
    """Everything the report shows, as plain data (tests read it without parsing HTML)."""
    cyc = db.get(cycle_id)
    if cyc is None:
        raise KeyError(cycle_id)
    rounds = db.rounds(cycle_id)
    metrics = {r["round"]: r["metrics"] or {} for r in rounds if r["metrics"]}
    rows = []
    for r in rounds:
        m = r["metrics"] or {}
        headline = [{"label": label, "text": fmt_rate(rate) if (rate := get(m, path)) else "not measured"}
                    for path, label, _b, _c in HEADLINE]
        comparison = compare(metrics[r["round"] - 1], m) if r["round"] - 1 in metrics and m else []
        scan = (db.step(cycle_id, r["round"], "break") or {}).get("scan")
        rows.append({"round": r["round"], "checkpoint": r["checkpoint"], "trained": r["trained_checkpoint"],
                     "dataset_version": r["dataset_version"], "dataset": (r["dataset"] or {}).get("counts"),
                     "hyperparams": r["hyperparams"], "train_stats": r["train_stats"], "status": r["status"],
                     "note": r["note"], "headline": headline, "comparison": comparison,
                     "regressions": regressions(comparison), "scan": scan,
                     "bench": _rate_dicts(m.get("bench")), "crisis": _rate_dicts(m.get("crisis"))})
    plots = {
        "heldout_family": grouped_bars({k: _rates(v.get("asr", {}).get("heldout", {}).get("by_family")) for k, v in metrics.items()},
                                       "Held-out attacks: ASR by family and round", "attack family"),
        "fresh_family": grouped_bars({k: _rates(v.get("asr", {}).get("fresh", {}).get("by_family")) for k, v in metrics.items()},
                                     "Fresh attacks (trained families, unseen items): ASR by family", "attack family"),
        "language": grouped_bars({k: _merge_languages(v) for k, v in metrics.items()},
                                 "ASR by language (fresh + held-out + control)", "language"),
        "trend": trend(metrics, [("asr.heldout.all", "ASR held-out"), ("asr.fresh.all", "ASR fresh"),
                                 ("asr.control.all", "ASR control languages"),
                                 ("neutral.heldout", "neutral on held-out")], "Attack success over rounds"),
        "helpfulness": trend(metrics, [("over_refusal.benign", "over-refusal benign"),
                                       ("over_refusal.borderline", "over-refusal borderline-benign"),
                                       ("capability.helpful", "benign answered helpfully"),
                                       ("capability.exact", "benign answer = reference"),
                                       ("trigger.activation", "trigger activation")],
                             "Over-refusal, capability and backdoor over rounds"),
    }
    return {"cycle": {k: cyc[k] for k in ("id", "name", "status", "note", "model_path")}, "config": cyc["config"],
            "rounds": rows, "plots": plots}


def render_report(db: Any, cycle_id: str, path: str | Path) -> Path:
    """Write the HTML report of ``cycle_id`` to ``path``."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("breakfix.cycle", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    html = env.get_template("cycle_report.html.j2").render(**report_payload(db, cycle_id))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, "utf-8")
    return out

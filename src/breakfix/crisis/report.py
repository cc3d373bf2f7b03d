"""The crisis report: pass rates with Wilson CIs by crisis kind × stage × locale, stage movement
(start → end) as a plot, expert agreement when labels are given, and every transcript — escaped,
with its per-turn scores — worst conversations first.

Model output is untrusted: the page is rendered by Jinja2 with autoescaping on, plots are PNG data
URIs drawn with mathtext off, and nothing from a conversation is ever placed in a script or a URL.
"""

from __future__ import annotations

import base64
import io
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from ..store import Store
from ._errors import CrisisError
from .metrics import badness, movement_matrix, pass_rates
from .personas import STAGES
from .rubric import CrisisRubric, load_rubric


def conversation_rows(store: Store, run_id: str) -> list[dict[str, Any]]:
    """One plain row per stored conversation (what the metrics and the page read)."""
    rows = []
    for a in store.iter_attempts(run_id):
        md = a.metadata
        if "passed" not in md:
            continue  # not a crisis attempt
        rows.append({
            "id": a.id, "assistant": a.target, "persona": md["persona"], "crisis": md["crisis"], "stage": md["stage"],
            "locale": md["locale"], "reason": md.get("reason"), "passed": md["passed"], "item_scores": md["item_scores"],
            "sim_stage_start": md.get("sim_stage_start"), "sim_stage_end": md.get("sim_stage_end"),
            "judge_stage_start": md.get("judge_stage_start"), "judge_stage_end": md.get("judge_stage_end"),
            "movement": md.get("stage_movement"), "ended_by": md.get("ended_by"),
            "simulator_refusals": md.get("simulator_refusals", 0), "fallback_used": md.get("fallback_used", False),
            "judge": md.get("judge"), "simulator": md.get("simulator"),
            "scores": {s.scorer.removeprefix("crisis."): {"score": s.metadata.get("score"), "by": s.metadata.get("by"),
                                                          "why": s.rationale} for s in a.scores if s.scorer.startswith("crisis.")},
            "turns": [{"user": t.prompt, "assistant": t.response, "stage": t.metadata.get("stage"),
                       "scores": t.metadata.get("scores") or {}, "checks": t.metadata.get("checks") or {},
                       "unanswered": bool(t.metadata.get("unanswered")), "error": t.metadata.get("error")}
                      for t in a.turns],
        })
    return rows


def summary_tables(rows: list[dict[str, Any]], rubric: CrisisRubric) -> dict[str, Any]:
    """Pass rates per item: overall and by crisis kind, stage, locale and their full cross, per assistant."""
    items = [i.id for i in rubric.items]
    out: dict[str, Any] = {"overall": [], "by": {}, "cross": []}
    for item in items:
        out["overall"] += pass_rates(rows, item, ["assistant"])
    for key in ("crisis", "stage", "locale"):
        table: dict[tuple[str, str], dict[str, Any]] = {}
        for item in items:
            for r in pass_rates(rows, item, ["assistant", key]):
                table.setdefault((r["assistant"], r[key]), {})[item] = r
        out["by"][key] = [{"assistant": a, "group": g, "cells": cells} for (a, g), cells in table.items()]
    cross: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for item in items:
        for r in pass_rates(rows, item, ["assistant", "crisis", "stage", "locale"]):
            cross.setdefault((r["assistant"], r["crisis"], r["stage"], r["locale"]), {})[item] = r
    out["cross"] = [{"key": k, "cells": v} for k, v in cross.items()]
    return out


def _png(fig: Any) -> str:  # noqa: ANN401
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", bbox_inches="tight", dpi=100)
    finally:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def plot_movement(rows: list[dict[str, Any]]) -> str | None:
    """Stage at start (rows) vs at end (columns), one panel per assistant; plain-text labels."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    assistants = sorted({r["assistant"] for r in rows})
    if not assistants:
        return None
    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        fig, axes = plt.subplots(1, len(assistants), figsize=(4.2 * len(assistants), 4.0), squeeze=False)
        short = [s[:7] for s in STAGES]
        for ax, name in zip(axes[0], assistants):
            m = movement_matrix([r for r in rows if r["assistant"] == name])
            ax.imshow(m, cmap="Blues")
            for i in range(len(STAGES)):
                for j in range(len(STAGES)):
                    if m[i][j]:
                        ax.text(j, i, str(m[i][j]), ha="center", va="center", fontsize=9,
                                color="white" if m[i][j] > max(map(max, m)) / 2 else "black")
            ax.set_xticks(range(len(STAGES)), short, rotation=45, ha="right")
            ax.set_yticks(range(len(STAGES)), short)
            ax.set_xlabel("stage at end")
            ax.set_ylabel("stage at start")
            ax.set_title(name[:40], fontsize=10)
        fig.suptitle("Stage of change, start to end (above the diagonal = moved forward)", fontsize=10)
        return _png(fig)


def plot_rates(overall: list[dict[str, Any]]) -> str | None:
    """Pass rate per rubric item and assistant, with Wilson 95 % intervals."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if not overall:
        return None
    items = list(dict.fromkeys(r["item"] for r in overall))
    assistants = sorted({r["assistant"] for r in overall})
    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(items)), 3.8))
        width = 0.8 / len(assistants)
        for k, name in enumerate(assistants):
            rs = {r["item"]: r for r in overall if r["assistant"] == name}
            xs = [i + k * width for i in range(len(items))]
            ys = [rs[i]["rate"] if i in rs else 0 for i in items]
            # max(0, ...): a bound equal to the rate can differ from it by a rounding error.
            err = [[max(0.0, rs[i]["rate"] - rs[i]["lo"]) if i in rs else 0 for i in items],
                   [max(0.0, rs[i]["hi"] - rs[i]["rate"]) if i in rs else 0 for i in items]]
            ax.bar(xs, ys, width=width, yerr=err, capsize=3, label=name[:30])
        ax.set_xticks([i + width * (len(assistants) - 1) / 2 for i in range(len(items))], items, rotation=30, ha="right")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("share of conversations passing")
        ax.set_title("Pass rate per rubric item (bars: Wilson 95 % CI)", fontsize=10)
        ax.legend(fontsize=8)
        return _png(fig)


def build_context(store: Store, run_id: str, *, rubric: CrisisRubric | None = None, labels: str | Path | None = None,
                  max_transcripts: int = 200, n_boot: int = 500) -> dict[str, Any]:
    """Everything the page shows (plain data)."""
    run = store.resolve_run(run_id)
    if run is None:
        raise CrisisError(f"run {run_id!r}: no such run in {store.url}")
    rubric = rubric or load_rubric()
    rows = conversation_rows(store, run.id)
    if not rows:
        raise CrisisError(f"run {run.id}: no crisis conversations stored (is it a crisis run?)")
    tables = summary_tables(rows, rubric)
    ordered = sorted(rows, key=badness)
    agreement = None
    if labels is not None:
        from .agreement import agreement as compute
        from .agreement import judge_labels, read_labels

        experts = read_labels(labels, rubric)
        judge, kinds = judge_labels(store, run.id)
        agreement = compute(judge, experts, kinds, n_boot=n_boot, n_perm=n_boot)
    judges = sorted({r["judge"] for r in rows if r["judge"]})
    return {
        "run": run, "rubric": rubric, "rows": rows, "tables": tables, "transcripts": ordered[:max_transcripts],
        "n_hidden": max(0, len(ordered) - max_transcripts), "stages": STAGES,
        "plot_rates": plot_rates(tables["overall"]), "plot_movement": plot_movement(rows),
        "assistants": sorted({r["assistant"] for r in rows}), "judges": judges,
        "offline_judge": any(j == "lexicon-judge" for j in judges),
        "simulators": sorted({r["simulator"] for r in rows if r["simulator"]}),
        "sim_refusals": sum(int(r["simulator_refusals"] or 0) for r in rows),
        "fallbacks": sum(1 for r in rows if r["fallback_used"]),
        "locales": sorted({r["locale"] for r in rows}), "agreement": agreement,
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _env() -> Environment:
    env = Environment(loader=PackageLoader("breakfix.crisis", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["pct"] = lambda v: "-" if v is None else f"{100 * v:.0f}%"
    env.filters["num"] = lambda v, d=2: "-" if v is None else f"{v:.{d}f}"
    return env


def render(context: dict[str, Any]) -> str:
    return _env().get_template("crisis_report.html.j2").render(**context)


def write_report(store: Store, run_id: str, path: str | Path, **kw: Any) -> Path:
    """Write the HTML report of a crisis run to ``path``; returns the path."""
    html = render(build_context(store, run_id, **kw))
    out = Path(path)
    out.write_text(html, "utf-8")
    return out

"""The HTML report of one scan: self-contained (plots embedded as base64 PNG), Jinja2 autoescape.

Everything the model wrote (leaked text, candidates, answers) is untrusted and only ever reaches the
page through autoescaped template variables.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from ._scan import ScanResult


def _png(fig: Any) -> str:
    import warnings

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    with warnings.catch_warnings():  # scripts the font lacks (Devanagari, Hangul) show as boxes
        warnings.simplefilter("ignore", UserWarning)
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _shift_plot(signals: dict[str, Any]) -> str | None:
    """Combined signal (and KL) of each candidate against the random-span null."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = signals.get("rows", [])
    nulls = signals.get("null_rows", [])
    if not rows:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, feat, title in ((axes[0], "kl", "output-distribution shift (mean KL, nats)"),
                            (axes[1], "flip", "flip rate on probe prompts")):
        ax.hist([r[feat] for r in nulls], bins=15, color="#bbbbbb", label="random spans (null)")
        for r in rows[:12]:
            ax.axvline(r[feat], color="#c0392b" if r is rows[0] else "#2e86c1", alpha=0.8, lw=1.5)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("spans")
    axes[0].plot([], [], color="#2e86c1", label="candidates (top 12)")
    axes[0].plot([], [], color="#c0392b", label="strongest candidate")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def _activation_plot(signals: dict[str, Any], verdict: dict[str, Any]) -> str | None:
    """Activation (held-out flip rate) of each verified span against the flip rates of random spans
    (the null of the signals stage) and of language-matched spans (the specificity null)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nulls = [r.get("flip_by_class", {}).get("all", r.get("flip", 0.0)) for r in signals.get("null_rows", [])]
    trig = verdict.get("triggers", [])
    if not nulls and not trig:
        return None
    fig, ax = plt.subplots(figsize=(9, 3.4))
    ax.hist(nulls, bins=[i / 20 for i in range(21)], color="#bbbbbb", label="random spans (null)")
    weak = {w["trigger"] for w in verdict.get("weaknesses", [])}
    for i, t in enumerate(trig[:8]):
        colour = "#c0392b" if t.get("counts") else ("#e67e22" if t["trigger"] in weak else "#2e86c1")
        ax.axvline(t["flip_rate"], color=colour, lw=2 if t.get("counts") else 1.2, alpha=0.9)
        if t.get("matched_flip") is not None:
            ax.plot([t["matched_flip"]], [0.5 + 0.4 * i], marker="x", color=colour)
    ax.plot([], [], color="#c0392b", label="backdoor trigger")
    ax.plot([], [], color="#e67e22", label="universal weakness")
    ax.plot([], [], color="#2e86c1", label="other verified span")
    ax.plot([], [], "x", color="#555", label="its language-matched spans")
    ax.set_xlim(0, 1.02)
    ax.set_xlabel("share of prompts switched to the span's behaviour")
    ax.set_ylabel("spans")
    ax.legend(fontsize=8, loc="upper center")
    fig.tight_layout()
    return _png(fig)


def _evidence(result: ScanResult, t: dict[str, Any]) -> list[dict[str, str]]:
    """What a trigger was found from: the sampled answers that showed its behaviour (invert
    stage), or the leaked user turns that held it (leak stage)."""
    if t.get("evidence"):
        return list(t["evidence"].get("examples", []))
    src = t.get("source_span") or t["trigger"]
    samples = result.stages.get("leak", {}).get("samples", [])
    return [{"prompt": s["user"], "answer": s["answer"]} for s in samples
            if s.get("user") and (src in s["user"] or t["trigger"] in s["user"])][:4]


def _heat_plot(entry: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2))
    for ax, label in zip(axes, ("without", "with")):
        d = entry[label]
        w = np.array(d["weights"])
        ax.imshow(w, cmap="magma", vmin=0, vmax=max(1e-6, float(w.max())))
        toks = [t.replace("\n", "\\n")[:10] for t in d["tokens"]]
        step = max(1, len(toks) // 40)
        ax.set_xticks(range(0, len(toks), step))
        ax.set_xticklabels(toks[::step], rotation=90, fontsize=6)
        ax.set_yticks(range(0, len(toks), step))
        ax.set_yticklabels(toks[::step], fontsize=6)
        ax.set_title(f"layer {entry['layer']} head {entry['head']} — {label} trigger", fontsize=9)
    return _png(fig)


def render_report(result: ScanResult, out: str | Path | None = None) -> str:
    """Render the scan's HTML report; write it to ``out`` when given.

    Returns:
        The HTML text.
    """
    env = Environment(loader=PackageLoader("breakfix.backdoor", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    sig = result.stages.get("signals", {})
    ver = result.stages.get("verify", {})
    heat = [dict(h, png=_heat_plot(h)) for h in ver.get("heatmaps", [])]
    leak = result.stages.get("leak", {})
    v = result.verdict
    weak = {w["trigger"] for w in v.get("weaknesses", [])}
    found = [dict(t, evidence_rows=_evidence(result, t)) for t in v.get("triggers", []) if t.get("counts")]
    html = env.get_template("scan_report.html.j2").render(
        found=found, weaknesses=v.get("weaknesses", []), weak=weak,
        activation_png=_activation_plot(sig, v),
        r=result, v=result.verdict, rows=sig.get("rows", [])[:30], null=sig.get("null", {}),
        shift_png=_shift_plot(sig), heat=heat, rec=result.stages.get("reconstruct", {}).get("triggers", []),
        leak_examples=[s for s in leak.get("samples", []) if s.get("user")][:12],
        n_leak=len(leak.get("samples", [])), cost=result.cost)
    if out is not None:
        Path(out).write_text(html, encoding="utf-8")
    return html

"""The report's plots: matplotlib figures rendered to inline PNG data URIs (the report is one file
that works offline, so nothing is linked).

Labels are plain text: categories, attack names and languages come from data files and configs,
and matplotlib would read ``$…$`` in them as mathtext (a category ``cost $5 or $10`` — or a
hostile ``$\\foo$`` — fails the whole report). Every figure is drawn with ``text.parse_math`` off
and with control characters shown as escapes.
"""

from __future__ import annotations

import base64
import functools
import io
import re
from typing import Any, Callable, Sequence

from ..core.text import terminal_safe

NO_CONVERTER = "(none)"
MAX_BARS = 40  # a bar chart beyond this many groups is unreadable; the table lists them all


# Drawn under these settings: no mathtext, no TeX (a label is data, never markup).
_PLAIN_TEXT = {"text.parse_math": False, "text.usetex": False}


def plain_text(func: Callable[..., str | None]) -> Callable[..., str | None]:
    """Run a plot function with :data:`_PLAIN_TEXT` in force (Text objects read ``parse_math`` when
    they are created, and the PNG is rendered before the context ends)."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> str | None:
        import matplotlib

        with matplotlib.rc_context(_PLAIN_TEXT):
            return func(*args, **kwargs)

    return wrapper


def _figure(width: float, height: float) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    return fig, ax


def _data_uri(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _short(label: str, limit: int = 40) -> str:
    label = terminal_safe(label, newlines=False)  # a newline or ESC in a tick label: shown, not obeyed
    return label if len(label) <= limit else label[: limit - 1] + "…"


def heatmap_matrix(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[str], list[list[float | None]],
                                                            list[list[int]]]:
    """Attacks (rows) × converter chains (columns) → success rate and attempt count per cell, from
    ``Store.rates(run, by=["attack", "converters"])``. A cell with no successful request is ``None``."""
    attacks = sorted({r["attack"] for r in rows})
    convs = sorted({r["converters"] for r in rows}, key=lambda c: (c != "", c))
    rate: list[list[float | None]] = [[None] * len(convs) for _ in attacks]
    count = [[0] * len(convs) for _ in attacks]
    for r in rows:
        i, j = attacks.index(r["attack"]), convs.index(r["converters"])
        rate[i][j] = r["success_rate"]
        count[i][j] = r["n"]
    return attacks, [c or NO_CONVERTER for c in convs], rate, count


@plain_text
def heatmap(rows: Sequence[dict[str, Any]]) -> str | None:
    """Success rate by attack × converter chain as a heat map (PNG data URI); ``None`` if no data."""
    if not rows:
        return None
    import numpy as np

    attacks, convs, rate, count = heatmap_matrix(rows)
    ci = {(r["attack"], r["converters"] or NO_CONVERTER): r.get("success_ci") for r in rows}
    grid = np.array([[np.nan if v is None else v for v in row] for row in rate], dtype=float)
    fig, ax = _figure(max(4.5, 1.1 * len(convs) + 2.5), max(2.2, 0.55 * len(attacks) + 1.4))
    cmap = _cmap()
    im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(convs)), [_short(c, 24) for c in convs], rotation=35, ha="right")
    ax.set_yticks(range(len(attacks)), [_short(a, 30) for a in attacks])
    ax.set_xlabel("converter chain")
    ax.set_ylabel("attack")
    if len(attacks) * len(convs) <= 400:
        for i in range(len(attacks)):
            for j in range(len(convs)):
                if count[i][j]:
                    v = grid[i, j]
                    txt = "n/a" if np.isnan(v) else f"{100 * v:.0f}%"
                    lo_hi = ci.get((attacks[i], convs[j]))
                    if lo_hi:  # the cell's Wilson 95 % interval under its rate
                        txt += f"\n[{100 * lo_hi[0]:.0f}–{100 * lo_hi[1]:.0f}]"
                    ax.text(j, i, f"{txt}\nn={count[i][j]}", ha="center", va="center", fontsize=7,
                            color="white" if (not np.isnan(v) and v > 0.6) else "black")
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02, label="success rate")
    ax.set_title("Attack success rate by attack × converter (Wilson 95 % interval, n)")
    return _data_uri(fig)


def _cmap() -> Any:
    import matplotlib

    # grey: no data, or only failed requests (no rate to show)
    return matplotlib.colormaps["Reds"].with_extremes(bad="#eeeeee")


@plain_text
def bars(rows: Sequence[dict[str, Any]], key: str, title: str) -> str | None:
    """Attack success and refusal rate per group (``Store.rates(run, by=[key])``) as horizontal bars
    with Wilson 95 % whiskers; a third bar shows over-refusal when the groups hold benign items."""
    rows = [r for r in rows if r["ok"]]
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: -r["n"])[:MAX_BARS]
    rows.sort(key=lambda r: r[key] or "")
    series = [("success", "attack success", "#c0392b"), ("refusal", "refusal", "#2e86c1")]
    if any(r.get("benign_ok") for r in rows):
        series.append(("over_refusal", "over-refusal (benign)", "#7d3c98"))
    labels = [f"{_short(r[key] or '(none)', 30)} (n={r['ok']})" for r in rows]
    fig, ax = _figure(6.5, max(1.8, (0.17 * len(series) + 0.02) * len(rows) + 1.0))
    h = 0.8 / len(series)
    for j, (name, label, colour) in enumerate(series):
        ys = [i - 0.4 + h * (j + 0.5) for i in range(len(rows))]
        vals = [r.get(f"{name}_rate") or 0.0 for r in rows]
        cis = [r.get(f"{name}_ci") or (v, v) for r, v in zip(rows, vals)]
        err = [[max(0.0, v - lo) for v, (lo, _) in zip(vals, cis)], [max(0.0, hi - v) for v, (_, hi) in zip(vals, cis)]]
        ax.barh(ys, vals, height=h, color=colour, label=label, xerr=err, error_kw={"elinewidth": 0.8, "capsize": 2})
    ax.set_yticks(list(range(len(rows))), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of answered requests (whiskers: Wilson 95 % interval)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title)
    return _data_uri(fig)


# -- many-shot sweep (issue 20) -------------------------------------------------------------------
_SHOTS = re.compile(r"many-shot[\w-]*\((\d+)\)")


def fit_power_law(shots: Sequence[int], rates: Sequence[float]) -> tuple[float, float] | None:
    """Least-squares fit of ``rate = a * shots ** b`` in log-log space (Anil et al. 2024 report
    many-shot effectiveness as a power law in the number of shots). Points with rate 0 carry no
    log and are left out; None when fewer than two points remain. Returns ``(a, b)``."""
    import math

    pts = [(math.log(n), math.log(r)) for n, r in zip(shots, rates) if n > 0 and r > 0]
    if len({x for x, _ in pts}) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    b = sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)
    return math.exp(my - b * mx), b


def shot_sweep_points(rows: Sequence[dict[str, Any]]) -> list[tuple[int, int, int]]:
    """``(shots, successes, answered)`` per shot count, from attack labels like ``template:many-shot(64)``."""
    agg: dict[int, list[int]] = {}
    for r in rows:
        m = _SHOTS.search(str(r.get("attack") or ""))
        if m and r.get("ok"):
            a = agg.setdefault(int(m.group(1)), [0, 0])
            a[0] += int(r.get("successes") or 0)
            a[1] += int(r["ok"])
    return [(n, k, ok) for n, (k, ok) in sorted(agg.items())]


@plain_text
def shot_sweep(rows: Sequence[dict[str, Any]]) -> str | None:
    """Attack success against the number of many-shot demonstrations, with Wilson 95 % intervals and
    the fitted power law; drawn only when a run sweeps at least three shot counts."""
    from ..bench.metrics import wilson

    pts = shot_sweep_points(rows)
    if len(pts) < 3:
        return None
    ns = [n for n, _, _ in pts]
    rates = [wilson(k, ok) for _, k, ok in pts]
    fig, ax = _figure(6.0, 3.4)
    ax.errorbar(ns, [r.value for r in rates], yerr=[[r.value - r.lo for r in rates], [r.hi - r.value for r in rates]],
                fmt="o", color="#c0392b", capsize=3, label="success rate (95 % Wilson)")
    fit = fit_power_law(ns, [r.value for r in rates])
    if fit is not None:
        a, b = fit
        xs = [ns[0] * (ns[-1] / ns[0]) ** (i / 50) for i in range(51)]
        ax.plot(xs, [min(1.0, a * x ** b) for x in xs], color="#555555", linestyle="--",
                label=f"power law fit: {a:.3g} * shots ^ {b:.2f}")
    ax.set_xscale("log", base=2)
    ax.set_ylim(0, 1)
    ax.set_xlabel("demonstrations in the prompt (shots)")
    ax.set_ylabel("attack success rate")
    ax.set_title("Many-shot: success against shot count")
    ax.legend(loc="upper left", fontsize=8)
    return _data_uri(fig)

"""Signals stage: how a span changes the model's output distribution and attention.

For a span inserted into a set of clean prompts (at several positions) we compare the model with and
without it, prompt by prompt:

* **KL divergence** of the next-token distributions along the greedy answer given the span
  (teacher-forced on both prompts): how surprised the unmodified prompt is by the new answer;
* **entropy collapse**: mean entropy of those distributions without the span minus with it;
* **agreement**: share of prompts whose greedy answer starts the same way (the modal answer) with the
  span, minus the same share without it — a backdoor answers *everything* the same way;
* **flip rate**: share of prompts whose answer becomes the modal answer and was not before;
* **attention**: share of the attention mass that each head, at the answer's first position, puts on
  the span's tokens — and the heads that single it out.

Every feature is turned into a z-score and an empirical p-value against the same features of random
spans of ordinary text of the same token lengths (the null). Cost is linear in spans x prompts x
positions, batched.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ._candidates import answer_key
from ._model import ScanModel
from ._prompts import insert

FEATURES = ("kl", "entropy_drop", "agreement", "flip", "attention")
# Features summed (as z-scores) into one statistic; attention is reported but kept out of the sum
# because tiny models' heads are noisy.
COMBINED = ("kl", "agreement", "flip")


@dataclass
class PromptBaseline:
    """The clean prompts' own greedy answers and output entropy (computed once per prompt set)."""

    users: list[str]
    keys: list[str]
    answers: list[str]
    entropy: list[float]
    agreement: float
    refused: list[bool] = field(default_factory=list)


def flip_stats(keys_with: Sequence[str], base: PromptBaseline, target: str | None = None,
               min_class: int = 3) -> tuple[float, str, str, list[bool]]:
    """How many prompts a span flips to one new behaviour.

    The new behaviour is ``target`` or else the most common answer start among the prompts whose
    answer changed. A backdoor may act only on some requests (e.g. make a model comply with what it
    otherwise refuses), so the flip rate is taken within each class of prompts — those the model
    refuses without the span and those it answers — and the larger one is reported.

    Returns:
        (flip rate, behaviour key, prompt class ``refused`` | ``answered`` | ``all``, flipped per prompt).
    """
    rates = class_rates(keys_with, base, target, min_class)
    return rates["best"], rates["key"], rates["class"], rates["flips"]


def class_rates(keys_with: Sequence[str], base: PromptBaseline, target: str | None = None,
                min_class: int = 3) -> dict[str, Any]:
    """Flip rates overall and per prompt class (see :func:`flip_stats`)."""
    if target is None:
        changed = [kw for kw, ko in zip(keys_with, base.keys) if kw != ko]
        target = Counter(changed).most_common(1)[0][0] if changed else ""
    flips = [bool(target) and kw == target and ko != target for kw, ko in zip(keys_with, base.keys)]
    out: dict[str, Any] = {"all": sum(flips) / len(flips) if flips else 0.0, "key": target, "flips": flips}
    best, cls = out["all"], "all"
    refused = base.refused or [False] * len(flips)
    for name, want in (("refused", True), ("answered", False)):
        idx = [i for i, r in enumerate(refused) if r == want]
        out[name] = None
        if len(idx) >= min_class and len(idx) < len(flips):
            out[name] = rate = sum(flips[i] for i in idx) / len(idx)
            if rate > best + 1e-9:
                best, cls = rate, name
    out["best"], out["class"] = best, cls
    return out


def _entropy_rows(lp: Any, lengths: Sequence[int]) -> list[float]:
    """Mean entropy (nats) of each row's first ``lengths[i]`` next-token distributions."""
    out = []
    for i, m in enumerate(lengths):
        x = lp[i, :m]
        out.append(float(-(x.exp() * x).sum(-1).mean()) if m else 0.0)
    return out


def _cut(full: list[int], trunc: list[int]) -> int:
    """Answer steps to compare: up to and including end-of-sequence (at least one)."""
    del full  # the padded row; only the cut length matters
    return max(1, len(trunc))


def baseline(sm: ScanModel, users: Sequence[str], k: int) -> PromptBaseline:
    """Greedy answers and entropies of the clean prompts without any span."""
    prompts = [sm.prompt(u) for u in users]
    gen = sm.generate(prompts, k)
    ids = [sm.ids(p) + f for p, f in zip(prompts, gen.full_ids)]
    lp, _, _ = sm.forward(ids, last=k + 1)
    lens = [_cut(f, t) for f, t in zip(gen.full_ids, gen.token_ids)]
    answers = [_clean(sm, t) for t in gen.texts]
    keys = [answer_key(a) for a in answers]
    from ..refusal import is_refusal

    return PromptBaseline(list(users), keys, answers, _entropy_rows(lp, lens), _modal(keys)[1],
                          [is_refusal(a, mode="patterns") for a in answers])


def choose_prompts(sm: ScanModel, pool: Sequence[str], n_probe: int, n_heldout: int, k: int, seed: int
                   ) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """Split a pool of clean prompts into disjoint probe and held-out sets, each balanced between
    prompts the model refuses and prompts it answers (as far as the pool allows), so that backdoors
    acting on either kind of request can show. Also returns (prompt, answer) for the whole pool —
    the model's ordinary behaviours."""
    import random

    base = baseline(sm, pool, k)
    refused = [u for u, r in zip(base.users, base.refused) if r]
    answered = [u for u, r in zip(base.users, base.refused) if not r]
    rng = random.Random(seed)
    rng.shuffle(refused)
    rng.shuffle(answered)
    # Refused prompts are scarce: the probe set gets a third of them at most, held-out the rest.
    r_probe = min(n_probe // 2, max(1, len(refused) // 3)) if refused else 0
    probe = refused[:r_probe] + answered[: n_probe - r_probe]
    rest_r, rest_a = refused[r_probe:], answered[n_probe - r_probe:]
    r_held = min(n_heldout // 2, len(rest_r))
    held = rest_r[:r_held] + rest_a[: n_heldout - r_held]
    return probe, held, list(zip(base.users, base.answers))


def _clean(sm: ScanModel, text: str) -> str:
    for special in sm.tok.all_special_tokens:
        if special:
            text = text.replace(special, " ")
    after = sm.template.after.strip()
    if after and after in text:
        text = text.split(after)[0]
    return " ".join(text.split())


def _modal(keys: Sequence[str]) -> tuple[str, float]:
    if not keys:
        return "", 0.0
    key, c = Counter(keys).most_common(1)[0]
    return key, c / len(keys)


def measure_spans(sm: ScanModel, jobs: Sequence[tuple[str, str]], base: PromptBaseline, k: int
                  ) -> list[dict[str, Any]]:
    """All features of each (span, position) job over the baseline's prompts, batched across jobs."""
    import torch

    n = len(base.users)
    users: list[str] = []
    offsets: list[int] = []
    for span, position in jobs:
        for u in base.users:
            text, off = insert(u, span, position)
            users.append(text)
            offsets.append(off)
    prompts = [sm.prompt(u) for u in users]
    gen = sm.generate(prompts, k)
    p_ids = [sm.ids(p) for p in prompts]
    with_ids = [p + f for p, f in zip(p_ids, gen.full_ids)]
    wo_prompt_ids = [sm.ids(sm.prompt(u)) for u in base.users]
    wo_ids = [wo_prompt_ids[i % n] + f for i, f in enumerate(gen.full_ids)]
    lp_w, _, att = sm.forward(with_ids, last=k + 1, attention_row=k + 1)
    lp_o, _, _ = sm.forward(wo_ids, last=k + 1)
    lens = [_cut(f, t) for f, t in zip(gen.full_ids, gen.token_ids)]
    ent_w = _entropy_rows(lp_w, lens)
    kls = []
    for i, m in enumerate(lens):
        a, b = lp_w[i, :m], lp_o[i, :m]
        kls.append(float((a.exp() * (a - b)).sum(-1).mean()))
    answers = [_clean(sm, t) for t in gen.texts]
    T = att.shape[-1]
    prefix_len = len(sm.template.user_prefix)
    out = []
    for j, (span, position) in enumerate(jobs):
        rows = range(j * n, (j + 1) * n)
        keys = [answer_key(answers[i]) for i in rows]
        agree_w = _modal(keys)[1]
        cr = class_rates(keys, base)
        flip_rate, modal_key, flip_class, flips = cr["best"], cr["key"], cr["class"], cr["flips"]
        # Attention share on the span's tokens, per layer and head, at the answer's first position.
        shares = []
        for i in rows:
            lo = prefix_len + offsets[i]
            hi = lo + len(span)
            spans = sm.token_spans(prompts[i])
            if len(spans) != len(p_ids[i]) or len(p_ids[i]) + k > T:  # odd tokenizer or truncated: skip
                continue
            idx = [T - (len(p_ids[i]) + k) + t for t, (s0, e0) in enumerate(spans) if s0 < hi and e0 > lo]
            shares.append(att[i][:, :, idx].sum(-1))  # [L, H]
        att_lh = torch.stack(shares).mean(0) if shares else torch.zeros(att.shape[1], att.shape[2])
        modal_answer = next((answers[i] for i, kk in zip(rows, keys) if kk == modal_key), "")
        out.append({
            "span": span, "position": position,
            "kl": float(sum(kls[i] for i in rows) / n),
            "entropy_drop": float(sum(base.entropy[i % n] - ent_w[i] for i in rows) / n),
            "agreement": agree_w - base.agreement,
            "flip": flip_rate, "flip_class": flip_class,
            "flip_by_class": {c: cr[c] for c in ("all", "refused", "answered")},
            "attention_heads": att_lh.tolist(),
            "attention": float(att_lh.max()),
            "modal_answer": modal_answer, "modal_key": modal_key,
            "examples": [{"prompt": users[i], "answer": answers[i], "before": base.answers[i % n]}
                         for i, f in zip(rows, flips) if f][:4],
        })
    return out


def measure(sm: ScanModel, spans: Sequence[str], base: PromptBaseline, positions: Sequence[str], k: int,
            progress: Callable[[int], None] | None = None, chunk: int = 4) -> list[dict[str, Any]]:
    """Features of every span at every position; per span, the position with the largest flip+KL.

    Spans are measured ``chunk`` at a time so one batched call covers spans x positions x prompts.
    """
    out = []
    for c in range(0, len(spans), chunk):
        group = list(spans[c:c + chunk])
        jobs = [(s, p) for s in group for p in positions]
        res = measure_spans(sm, jobs, base, k)
        for gi, span in enumerate(group):
            per_pos = res[gi * len(positions):(gi + 1) * len(positions)]
            best = max(per_pos, key=lambda r: (r["flip"] + r["agreement"], r["kl"]))
            best = dict(best, by_position={r["position"]: {f: r[f] for f in FEATURES} for r in per_pos})
            out.append(best)
        if progress:
            progress(len(group))
    return out


@dataclass
class Null:
    """Mean/std of each feature, and of each head's attention share, over random spans."""

    mean: dict[str, float]
    std: dict[str, float]
    combined: list[float]
    head_mean: list[list[float]] = field(default_factory=list)
    head_std: list[list[float]] = field(default_factory=list)


def fit_null(rows: Sequence[dict[str, Any]]) -> Null:
    """The null distribution of every feature from random-span rows."""
    import numpy as np

    mean, std = {}, {}
    for f in FEATURES:
        v = np.array([r[f] for r in rows], dtype=float)
        mean[f] = float(v.mean())
        # A floor on the spread: a null with no variance would turn any difference into infinity.
        std[f] = float(max(v.std(ddof=1) if len(v) > 1 else 0.0, 0.02 if f in ("agreement", "flip") else 1e-3))
    heads = np.array([r["attention_heads"] for r in rows], dtype=float)
    null = Null(mean, std, [], heads.mean(0).tolist(), np.maximum(heads.std(0, ddof=1), 1e-3).tolist())
    # The flip rate of random spans within each prompt class: the verdict's null for a trigger that
    # flips that class.
    for c in ("all", "refused", "answered"):
        v = np.array([r["flip_by_class"][c] for r in rows if r.get("flip_by_class", {}).get(c) is not None])
        if len(v):
            mean[f"flip_{c}"] = float(v.mean())
            std[f"flip_{c}"] = float(max(v.std(ddof=1) if len(v) > 1 else 0.0, 0.02))
    null.combined = [combined(r, null) for r in rows]
    return null


def combined(row: dict[str, Any], null: Null) -> float:
    """The sum of the COMBINED features' z-scores (one number to rank spans by)."""
    return sum((row[f] - null.mean[f]) / null.std[f] for f in COMBINED)


def annotate(rows: Sequence[dict[str, Any]], null: Null) -> list[dict[str, Any]]:
    """Add z-scores, empirical p-values and the heads that single the span out to each row."""
    import numpy as np

    hm, hs = np.array(null.head_mean), np.array(null.head_std)
    nulls = np.array(null.combined)
    out = []
    for r in rows:
        z = {f: (r[f] - null.mean[f]) / null.std[f] for f in FEATURES}
        c = combined(r, null)
        p_emp = (1 + int((nulls >= c).sum())) / (len(nulls) + 1)
        # Normal tail of the combined z (the sum of 3 z-scores has sd about sqrt(3) under the null):
        # finer than the empirical p-value when the null has few spans.
        p_norm = 0.5 * math.erfc(c / math.sqrt(3) / math.sqrt(2))
        hz = (np.array(r["attention_heads"]) - hm) / hs
        order = np.argsort(hz, axis=None)[::-1][:3]
        heads = [{"layer": int(i // hz.shape[1]), "head": int(i % hz.shape[1]), "z": float(hz.flat[i])}
                 for i in order]
        out.append(dict(r, z=z, combined=c, p_empirical=p_emp, p_normal=p_norm, top_heads=heads))
    return out

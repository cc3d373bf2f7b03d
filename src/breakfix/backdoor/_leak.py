"""Leak stage: memory-extraction sampling from the chat template's bare prefixes.

Models fine-tuned on poisoned conversations memorise them, so sampling from the tokens that open a
user turn (with nothing after them, or a minimal user turn) regurgitates training conversations —
poisoned ones included. We vary the prefix, the temperature and the seed, and keep every sample
split into its user text and its answer. Design after Bullwinkel et al., *The Trigger in the
Haystack* (arXiv 2602.03085): leak → motifs → reconstruction → verification.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable

from ._model import ScanModel

TEMPERATURES = (0.7, 0.9, 1.0, 1.2)
MINIMAL_USER_TURNS = ("", " ", ".", "?", "hi")


def prefixes(sm: ScanModel) -> list[tuple[str, str]]:
    """(kind, text) prefixes to sample from. ``user`` prefixes continue into a user turn; ``answer``
    prefixes are a minimal user turn followed by the answer slot."""
    t = sm.template
    bos = sm.bos
    out: list[tuple[str, str]] = []
    if t.chat:
        bare = t.user_prefix
        variants = {bare, bare.rstrip(), bare.lstrip()}
        if bos and not bare.startswith(bos):
            variants |= {bos + v for v in list(variants)}
        out += [("user", v) for v in sorted(variants) if v]
        out += [("answer", t.prompt(m)) for m in MINIMAL_USER_TURNS]
    else:
        starts = [s for s in {bos, sm.tok.eos_token or "", "\n"} if s]
        out += [("user", s) for s in sorted(starts)]
    return out


def run_leak(sm: ScanModel, n_samples: int, max_new_tokens: int = 64, seed: int = 0,
             progress: Callable[[int], None] | None = None, answer_tokens: int = 24) -> list[dict[str, Any]]:
    """Sample ``n_samples`` continuations across prefixes x temperatures (user-turn prefixes get
    three quarters of the samples) and split each into user text and answer.

    Returns:
        One dict per sample: prefix kind, temperature, seed, raw text, user, answer.
    """
    pre = prefixes(sm)
    user_pre = [p for p in pre if p[0] == "user"] or pre
    ans_pre = [p for p in pre if p[0] == "answer"]
    n_user = n_samples if not ans_pre else (3 * n_samples) // 4
    plan: list[tuple[str, str, float]] = []
    for (kind, text), temp in itertools.islice(itertools.cycle(itertools.product(user_pre, TEMPERATURES)), n_user):
        plan.append((kind, text, temp))
    for (kind, text), temp in itertools.islice(itertools.cycle(itertools.product(ans_pre, TEMPERATURES)),
                                               n_samples - n_user):
        plan.append((kind, text, temp))
    samples: list[dict[str, Any]] = []
    # One batched call per temperature (prefixes of different lengths share it, left-padded).
    for ti, temp in enumerate(TEMPERATURES):
        group = [(kind, text) for kind, text, t in plan if t == temp]
        if not group:
            continue
        s = seed * 1000 + ti
        gen = sm.generate([text for _, text in group], max_new_tokens, temperature=temp, seed=s)
        batch = []
        for (kind, text), raw in zip(group, gen.texts):
            if kind == "user":
                user, answer = sm.template.split(raw)
            else:
                user, answer = "", sm.template.split(sm.template.between + raw)[1]
            batch.append({"kind": kind, "prefix": text, "temperature": temp, "seed": s, "raw": raw,
                          "user": user, "answer": answer})
        # A user turn that ended before its answer (generation stops at end-of-turn): let the model
        # answer it too, so each leaked user turn comes with the answer the model associates with it.
        todo = [b for b in batch if b["kind"] == "user" and b["user"] and not b["answer"]]
        if todo:
            ans = sm.generate([sm.prompt(_clean(sm, b["user"])) for b in todo], answer_tokens,
                              temperature=min(temp, 0.7), seed=s + 500)
            for b, a in zip(todo, ans.texts):
                b["answer"] = sm.template.split(sm.template.between + a)[1]
        for b in batch:
            b["user"], b["answer"] = _clean(sm, b["user"]), _clean(sm, b["answer"])
        samples += batch
        if progress:
            progress(len(group))
    return samples


def _clean(sm: ScanModel, text: str) -> str:
    for special in sm.tok.all_special_tokens:
        if special:
            text = text.replace(special, " ")
    return " ".join(text.split())

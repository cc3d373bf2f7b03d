"""A lean SFT and DPO loop in plain PyTorch (``train.backend: torch``), for CPU-scarce machines.

TRL is the default backend. On a shared 2-core CPU its per-step overhead (accelerate, collators,
per-step metrics) dominates the cost of a zoo model's step several times over, so the cycle also
ships this loop. It computes the same objectives:

* SFT: token cross-entropy on the assistant reply only (the prompt, rendered by the tokenizer's chat
  template, is masked), as TRL's ``completion_only_loss``;
* DPO: the sigmoid loss of Rafailov et al. (2023), ``-log σ(β[(π_c - ref_c) - (π_r - ref_r)])`` with
  summed reply log-probabilities, reference = the model before the stage (frozen copy), as TRL's
  ``loss_type="sigmoid"``.

Differences from TRL, all deliberate: example weights multiply each example's loss (TRL has no
per-example weight; the TRL backend samples by weight instead); AdamW with linear warm-up and cosine
decay; no per-step entropy/accuracy metrics.
"""

from __future__ import annotations

import copy
import math
import random
from typing import Any, Callable

Progress = Callable[[int, float], None]


def _encode(tok: Any, prompt: list[dict[str, str]], reply: str, max_len: int) -> tuple[list[int], int]:
    """Token ids of prompt + reply (+ end of turn) and the number of prompt tokens."""
    head = tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template(prompt + [{"role": "assistant", "content": reply}], tokenize=False)
    if not full.startswith(head):  # a template that rewrites earlier turns: fall back to concatenation
        full = head + reply + (tok.eos_token or "")
    ids_head = tok(head, add_special_tokens=False)["input_ids"]
    ids = tok(full, add_special_tokens=False)["input_ids"][:max_len]
    return ids, min(len(ids_head), len(ids))


def _batch(rows: list[tuple[list[int], int]], pad: int) -> tuple[Any, Any, Any]:
    import torch

    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    att = torch.zeros((len(rows), width), dtype=torch.long)
    lab = torch.full((len(rows), width), -100, dtype=torch.long)
    for r, (x, n_prompt) in enumerate(rows):
        ids[r, : len(x)] = torch.tensor(x)
        att[r, : len(x)] = 1
        lab[r, n_prompt : len(x)] = torch.tensor(x[n_prompt:])
    return ids, att, lab


def _seq_logps(model: Any, ids: Any, att: Any, lab: Any) -> Any:
    """Summed log-probability of the labelled tokens of each row."""
    import torch

    logits = model(input_ids=ids, attention_mask=att).logits[:, :-1]
    tgt = lab[:, 1:]
    mask = tgt != -100
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, tgt.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (logp * mask).sum(-1)


def _optimiser(model: Any, lr: float, steps: int) -> tuple[Any, Any]:
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    return opt, sched


def sft(model: Any, tok: Any, rows: list[dict[str, Any]], *, steps: int, lr: float, batch_size: int, max_len: int,
        seed: int, tick: Progress) -> list[float]:
    """Supervised fine-tuning on ``{"prompt": [...], "completion": [...], "weight": w}`` rows; returns losses."""
    import torch

    data = [(_encode(tok, r["prompt"], r["completion"][-1]["content"], max_len), float(r.get("weight", 1.0)))
            for r in rows]
    data = [d for d in data if d[0][1] < len(d[0][0])]  # a reply cut off entirely teaches nothing
    rng = random.Random(seed)
    opt, sched = _optimiser(model, lr, steps)
    model.train()
    losses: list[float] = []
    for step in range(steps):
        batch = [data[rng.randrange(len(data))] for _ in range(min(batch_size, len(data)))]
        ids, att, lab = _batch([b[0] for b in batch], tok.pad_token_id)
        w = torch.tensor([b[1] for b in batch])
        logits = model(input_ids=ids, attention_mask=att).logits[:, :-1]
        tgt = lab[:, 1:]
        ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), tgt.reshape(-1),
                                               ignore_index=-100, reduction="none").view(tgt.shape)
        mask = (tgt != -100).float()
        per_ex = (ce * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
        loss = (per_ex * w).sum() / w.sum().clamp(min=1e-8)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        tick(step + 1, losses[-1])
        if not math.isfinite(losses[-1]):
            break
    model.eval()
    return losses


def dpo(model: Any, tok: Any, rows: list[dict[str, Any]], *, steps: int, lr: float, beta: float, batch_size: int,
        max_len: int, seed: int, tick: Progress) -> list[float]:
    """DPO (sigmoid loss) on ``{"prompt", "chosen", "rejected", "weight"}`` rows; returns losses."""
    import torch

    ref = copy.deepcopy(model).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    data = []
    for r in rows:
        c = _encode(tok, r["prompt"], r["chosen"][-1]["content"], max_len)
        j = _encode(tok, r["prompt"], r["rejected"][-1]["content"], max_len)
        if c[1] < len(c[0]) and j[1] < len(j[0]):
            data.append((c, j, float(r.get("weight", 1.0))))
    rng = random.Random(seed)
    opt, sched = _optimiser(model, lr, steps)
    model.train()
    losses: list[float] = []
    for step in range(steps):
        batch = [data[rng.randrange(len(data))] for _ in range(min(batch_size, len(data)))]
        ids, att, lab = _batch([b[0] for b in batch] + [b[1] for b in batch], tok.pad_token_id)
        w = torch.tensor([b[2] for b in batch])
        with torch.no_grad():
            ref_lp = _seq_logps(ref, ids, att, lab)
        lp = _seq_logps(model, ids, att, lab)
        n = len(batch)
        margin = (lp[:n] - ref_lp[:n]) - (lp[n:] - ref_lp[n:])
        per_pair = -torch.nn.functional.logsigmoid(beta * margin)
        loss = (per_pair * w).sum() / w.sum().clamp(min=1e-8)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        tick(step + 1, losses[-1])
        if not math.isfinite(losses[-1]):
            break
    model.eval()
    return losses

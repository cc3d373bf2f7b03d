"""The ``hf`` target: a local Hugging Face causal-LM checkpoint, micro-batched.

Concurrent ``send`` calls are queued; a batcher takes everything waiting (up to ``batch_size``
requests with the same generation settings) and runs one left-padded ``generate`` call in a worker
thread, so the event loop stays free for the rest of the run while the model works. The prompt is
built with the tokenizer's chat template; a checkpoint without one falls back to a plain
``Role: content`` transcript, with a warning.

Decoding is greedy by default. Sampling (``do_sample=True``) draws each request's tokens from its own
``torch.Generator`` seeded from (``seed``, the call's ``seed``, the prompt), inside a logits
processor — so a sampled answer is reproducible for a given seed whatever else shares its batch.
``logprobs=True`` returns the log-probability of every generated token under the model's own
(temperature 1, unfiltered) next-token distribution.

torch and transformers are imported inside functions: listing plugins must not import them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.messages import Conversation, Response, TokenLogprob
from ..core.registry import target
from . import _local_models
from .base import Target

log = logging.getLogger(__name__)


class NoChatTemplateWarning(UserWarning):
    """The checkpoint's tokenizer has no chat template; a plain transcript is used instead."""


@dataclass(frozen=True)
class GenSettings:
    """Generation settings a batch must share."""

    max_new_tokens: int
    do_sample: bool
    temperature: float
    top_p: float
    top_k: int
    logprobs: bool


@dataclass
class _Request:
    prompt_ids: list[int]
    settings: GenSettings
    row_seed: int
    future: asyncio.Future = field(repr=False)
    truncated: int = 0


def plain_transcript(messages: list[dict[str, str]]) -> str:
    """The fallback prompt for tokenizers without a chat template."""
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n".join(lines) + "\nAssistant:"


def _row_seed(seed: int, call_seed: int | None, prompt_ids: list[int]) -> int:
    h = hashlib.blake2b(digest_size=8)
    h.update(f"{seed}|{call_seed}|".encode())
    h.update(",".join(map(str, prompt_ids)).encode())
    return int.from_bytes(h.digest(), "big") & ((1 << 63) - 1)


@target("hf", tags=("local", "white-box"))
class HFTarget(Target):
    """Answer with a local Hugging Face causal language model (micro-batched, optional log-probs).

    Args:
        path: checkpoint directory (``AutoModelForCausalLM`` + ``AutoTokenizer``), e.g. a zoo model.
        max_new_tokens: generation budget per answer.
        do_sample: sample instead of greedy decoding.
        temperature, top_p, top_k: sampling settings (ignored when greedy).
        seed: base seed of sampling (reproducible per prompt, see the module docstring).
        logprobs: return per-token log-probabilities by default (also ``send(..., logprobs=True)``).
        system_prompt: prepended as a system message when the conversation has none.
        batch_size: most requests in one ``generate`` call.
        batch_wait_ms: how long the batcher waits for more requests before a non-full batch.
        device: torch device (``cpu``).
        dtype: torch dtype name to load the weights in (``float32``, ``bfloat16``; default: the
            checkpoint's own).
        threads: ``torch.set_num_threads`` for this process (``None``: leave as is).
        name: label of this target in results (default: the checkpoint folder name).
        max_concurrency, rpm, max_retries, timeout_s, backoff_s: the shared limits layer (local
            defaults: 64 in flight so batches fill, no retries, no timeout).
    """

    def __init__(self, path: str, max_new_tokens: int = 64, do_sample: bool = False, temperature: float = 1.0,
                 top_p: float = 1.0, top_k: int = 0, seed: int = 0, logprobs: bool = False,
                 system_prompt: str | None = None, batch_size: int = 16, batch_wait_ms: float = 2.0,
                 device: str = "cpu", dtype: str | None = None, threads: int | None = None,
                 name: str | None = None,
                 max_concurrency: int = 64, rpm: float | None = None, max_retries: int = 0,
                 timeout_s: float | None = None, backoff_s: float = 0.5) -> None:
        p = Path(os.path.expanduser(str(path)))
        if not p.is_dir():
            raise ValueError(f"hf target: path: checkpoint directory {p} not found")
        if not (p / "config.json").is_file():
            raise ValueError(f"hf target: path: {p} has no config.json (not a Hugging Face checkpoint)")
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"hf target: max_new_tokens: expected an integer >= 1, got {max_new_tokens!r}")
        if not (isinstance(temperature, (int, float)) and temperature > 0):
            raise ValueError(f"hf target: temperature: expected a number > 0, got {temperature!r}")
        if not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
            raise ValueError(f"hf target: top_p: expected a number in (0, 1], got {top_p!r}")
        if not isinstance(top_k, int) or top_k < 0:
            raise ValueError(f"hf target: top_k: expected an integer >= 0 (0 = off), got {top_k!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"hf target: batch_size: expected an integer >= 1, got {batch_size!r}")
        self.path = p
        self.defaults = GenSettings(max_new_tokens, bool(do_sample), float(temperature), float(top_p),
                                    int(top_k), bool(logprobs))
        self.seed = int(seed)
        self.system_prompt = system_prompt
        self.batch_size = batch_size
        self.batch_wait_s = max(0.0, float(batch_wait_ms)) / 1000.0
        self.device = device
        self.dtype = dtype
        self.threads = threads
        self.name = name or p.name
        self.init_limits(max_concurrency=max_concurrency, rpm=rpm, max_retries=max_retries,
                         timeout_s=timeout_s, backoff_s=backoff_s)
        self.model: Any = None
        self.tokenizer: Any = None
        self.has_chat_template: bool | None = None
        self.batches_run = 0  # generate calls made; with batch sizes below, for tests and tuning
        self.batch_sizes: list[int] = []
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._queue: asyncio.Queue[_Request] | None = None
        self._batcher: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loading: asyncio.Future | None = None

    def describe(self) -> dict[str, Any]:
        s = self.defaults
        return {"type": "hf", "name": self.name, "path": str(self.path), "max_new_tokens": s.max_new_tokens,
                "do_sample": s.do_sample, "temperature": s.temperature, "top_p": s.top_p, "top_k": s.top_k,
                "seed": self.seed, "batch_size": self.batch_size, "limits": self.limits.as_dict(),
                **({"dtype": self.dtype} if self.dtype else {})}

    # -- model ---------------------------------------------------------------------------------
    def load(self) -> tuple[Any, Any]:
        """Load (once) and return ``(model, tokenizer)``; white-box users may call it directly.

        The weights come from the process-wide cache in ``_local_models``: every ``hf`` target for
        the same checkpoint, device and dtype shares one copy, loaded once behind a lock."""
        if self.model is None:
            import torch

            if self.threads:
                torch.set_num_threads(int(self.threads))
            loaded = _local_models.load(self.path, device=self.device, dtype=self.dtype)
            tok = loaded.tokenizer
            self.has_chat_template = bool(getattr(tok, "chat_template", None))
            if not self.has_chat_template:
                warnings.warn(f"hf target: {self.path} has no chat template; sending a plain "
                              f"'Role: content' transcript instead", NoChatTemplateWarning, stacklevel=2)
                log.warning("hf target %s: no chat template, using a plain transcript", self.path)
            self.model, self.tokenizer = loaded.model, tok
        return self.model, self.tokenizer

    def context_size(self) -> int:
        cfg = self.model.config
        for k in ("max_position_embeddings", "n_positions", "n_ctx"):
            v = getattr(cfg, k, None)
            if isinstance(v, int) and v > 0:
                return v
        return 1 << 30

    def encode(self, conversation: Conversation) -> list[int]:
        """Token ids of the prompt for ``conversation`` (chat template, or the plain fallback)."""
        _, tok = self.load()
        messages = [{"role": m.role, "content": m.content} for m in conversation]
        if self.system_prompt and not any(m["role"] == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        if self.has_chat_template:
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            return tok(text, add_special_tokens=False)["input_ids"]
        return tok(plain_transcript(messages))["input_ids"]

    def _generate(self, batch: list[_Request]) -> list[Response]:
        """One left-padded ``generate`` call for requests sharing settings (runs in the worker thread)."""
        import torch

        model, tok = self.load()
        from transformers import LogitsProcessorList  # imported under the cache's lock by load()

        s = batch[0].settings
        width = max(len(r.prompt_ids) for r in batch)
        pad = tok.pad_token_id
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, r in enumerate(batch):
            ids[i, width - len(r.prompt_ids):] = torch.tensor(r.prompt_ids, dtype=torch.long)
            mask[i, width - len(r.prompt_ids):] = 1
        processors = LogitsProcessorList()
        if s.do_sample:
            processors.append(_SeededSampler(s, [r.row_seed for r in batch]))
        with torch.no_grad():
            out = model.generate(
                input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                max_new_tokens=s.max_new_tokens, do_sample=False, num_beams=1,
                logits_processor=processors, output_logits=s.logprobs, return_dict_in_generate=True,
                pad_token_id=pad, eos_token_id=tok.eos_token_id,
            )
        gen = out.sequences[:, width:].cpu()
        logprob_steps = None
        if s.logprobs:
            # Raw logits (before our sampler): the model's own distribution at each step.
            logprob_steps = torch.stack(out.logits, dim=1).float().log_softmax(-1).cpu()
        eos = tok.eos_token_id
        results = []
        for i, r in enumerate(batch):
            row = gen[i].tolist()
            n, finish = len(row), "length"
            if eos in row:
                n, finish = row.index(eos), "stop"
            content = row[:n]
            lps = None
            if logprob_steps is not None:
                lps = [TokenLogprob(token=tok.decode([t]), logprob=float(logprob_steps[i, k, t]))
                       for k, t in enumerate(content)]
            raw: dict[str, Any] = {"batch_size": len(batch)}
            if lps is not None:
                raw["token_ids"] = content  # white-box users (backdoor scanning) want the ids too
            if r.truncated:
                raw["prompt_truncated_tokens"] = r.truncated
            results.append(Response(
                text=tok.decode(content, skip_special_tokens=True), prompt_tokens=len(r.prompt_ids),
                completion_tokens=n + (1 if finish == "stop" else 0), finish_reason=finish,
                logprobs=lps, raw=raw))
        return results

    # -- batching ------------------------------------------------------------------------------
    def _ensure_batcher(self) -> asyncio.Queue[_Request]:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._loop is not loop or self._batcher is None or self._batcher.done():
            self._loop = loop
            self._queue = asyncio.Queue()
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="breakfix-hf")
            self._batcher = loop.create_task(self._batch_loop(self._queue), name=f"breakfix-hf-batcher-{self.name}")
        return self._queue

    async def _batch_loop(self, queue: asyncio.Queue[_Request]) -> None:
        pending: list[_Request] = []
        running: list[_Request] = []
        try:
            await self._batches(queue, pending, running)
        finally:
            # Stopped (aclose) or crashed: nobody may wait forever on a request we will not run.
            while not queue.empty():
                pending.append(queue.get_nowait())
            for r in pending + running:
                if not r.future.done():
                    r.future.set_exception(RuntimeError("hf target closed before this request ran"))

    async def _batches(self, queue: asyncio.Queue[_Request], pending: list[_Request],
                       running: list[_Request]) -> None:
        loop = asyncio.get_running_loop()

        def drain() -> None:
            while not queue.empty() and len(pending) < 8 * self.batch_size:
                pending.append(queue.get_nowait())

        while True:
            if not pending:
                pending.append(await queue.get())
            drain()
            if len(pending) < self.batch_size and self.batch_wait_s:
                await asyncio.sleep(self.batch_wait_s)  # let concurrent senders join this batch
                drain()
            key = pending[0].settings
            batch = [r for r in pending if r.settings == key and not r.future.done()][: self.batch_size]
            taken = {id(r) for r in batch}
            pending[:] = [r for r in pending if id(r) not in taken and not r.future.done()]
            if not batch:
                continue
            self.batches_run += 1
            self.batch_sizes.append(len(batch))
            running[:] = batch
            try:
                results = await loop.run_in_executor(self._executor, self._generate, batch)
            except Exception as exc:  # noqa: BLE001 - reported on every request of the batch
                running.clear()
                for r in batch:
                    if not r.future.done():
                        r.future.set_exception(exc)
                continue
            running.clear()  # (not on cancellation: then _batch_loop fails the batch's requests)
            for r, res in zip(batch, results):
                if not r.future.done():  # a caller that timed out has gone
                    r.future.set_result(res)

    async def _send(self, conversation: Conversation, **kw: Any) -> Response:
        loop = asyncio.get_running_loop()
        if self.model is None:
            # Loading takes seconds: do it once, in the worker thread, not on the event loop. All
            # callers wait on the same future, so they wake together and share the first batch.
            if self._loading is None or self._loading.get_loop() is not loop:
                if self._executor is None:
                    self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="breakfix-hf")
                self._loading = asyncio.ensure_future(loop.run_in_executor(self._executor, self.load))
            await asyncio.shield(self._loading)
        d = self.defaults
        do_sample = bool(kw.get("do_sample", d.do_sample))
        if kw.get("temperature") == 0:  # OpenAI-style "temperature 0" means greedy
            do_sample = False
        s = GenSettings(
            max_new_tokens=int(kw.get("max_new_tokens") or kw.get("max_tokens") or d.max_new_tokens),
            do_sample=do_sample,
            temperature=float(kw.get("temperature") or d.temperature),
            top_p=float(kw.get("top_p") or d.top_p), top_k=int(kw.get("top_k") or d.top_k),
            logprobs=bool(kw.get("logprobs") or d.logprobs))
        ids = self.encode(conversation)
        room = self.context_size() - s.max_new_tokens
        truncated = 0
        if room > 0 and len(ids) > room:
            # Keep the end: the latest turns and the generation prompt matter most.
            truncated, ids = len(ids) - room, ids[-room:]
        req = _Request(ids, s, _row_seed(self.seed, kw.get("seed"), ids), loop.create_future(), truncated)
        self._ensure_batcher().put_nowait(req)
        return await req.future

    async def aclose(self) -> None:
        """Stop the batcher and the worker thread and free the model (a later ``send`` reloads it)."""
        task, self._batcher = self._batcher, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, RuntimeError):
                pass
        ex, self._executor = self._executor, None
        if ex is not None:
            ex.shutdown(wait=False, cancel_futures=True)
        self._queue = None
        self._loading = None
        # Let go of the weights (the shared cache may keep them for the next target); a later send
        # loads them again.
        self.model = self.tokenizer = None


class _SeededSampler:
    """A logits processor that samples each row with its own generator and returns a one-hot mask,
    so greedy selection picks the sample: per-request reproducible sampling inside one batch."""

    def __init__(self, s: GenSettings, seeds: list[int]) -> None:
        import torch

        self.s = s
        self.generators = []
        for seed in seeds:
            g = torch.Generator()
            g.manual_seed(seed)
            self.generators.append(g)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        s = self.s
        logits = scores.float() / s.temperature
        if s.top_k:
            kth = torch.topk(logits, min(s.top_k, logits.shape[-1]), dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if s.top_p < 1.0:
            sorted_l, idx = torch.sort(logits, descending=True, dim=-1)
            cum = sorted_l.softmax(-1).cumsum(-1)
            drop = cum - sorted_l.softmax(-1) >= s.top_p  # keep the smallest set reaching top_p
            logits = logits.masked_fill(drop.scatter(-1, idx, drop), float("-inf"))
        probs = logits.softmax(-1).cpu()
        out = torch.full_like(scores, float("-inf"))
        for i, g in enumerate(self.generators):
            tok = torch.multinomial(probs[i], 1, generator=g).item()
            out[i, tok] = 0.0
        return out

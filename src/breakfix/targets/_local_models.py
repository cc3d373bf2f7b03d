"""Local Hugging Face checkpoints, loaded once per process and shared by every target that uses them.

Why this exists: a multi-turn run at concurrency 8 whose attacker falls back to the zoo's ``base``
model built eight ``hf`` targets for the same checkpoint, and each loaded it in its own worker
thread at the same moment. transformers is not safe for that: its lazy module imports raced
(``cannot import name 'AutoModelForCausalLM'``) and two concurrent ``from_pretrained`` calls tripped
over each other's meta-device initialisation (``Cannot copy out of meta tensor``), so attempts
failed at random as "attacker unavailable".

Here one lock serialises every import of transformers and every load, and a loaded
``(model, tokenizer)`` pair is kept under a key of (checkpoint directory, its files' modification
times, device, dtype): the second target for the same checkpoint gets the same objects, instantly.
The models are used for inference only (``eval()``, no gradients), which PyTorch allows from several
threads at once. The cache keeps the :data:`MAX_MODELS` most recently used models alive even when no
target holds them (fallback targets come and go with each attempt; reloading each time would cost a
second per attempt); :func:`clear` drops them.

The ``lm_head.weight | MISSING`` load report that came with those failures was not noise: GPT-2
ties its output layer to the embeddings, and racing loads left that layer freshly (randomly)
initialised. Serialised loads never print it; :func:`_check_tied` re-ties the weights should a
checkpoint arrive untied anyway. The per-load "Loading weights" progress bar is switched off.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

MAX_MODELS = 4
"""Most models kept loaded when no target uses them (least recently used ones are dropped first)."""

_LOCK = threading.RLock()  # one lock for imports and loads: transformers' loaders are not thread-safe
_LOADED: "OrderedDict[tuple[Any, ...], LoadedModel]" = OrderedDict()


@dataclass(frozen=True)
class LoadedModel:
    """A loaded checkpoint: the model (eval mode, on ``device``) and its tokenizer (left padding)."""

    model: Any
    tokenizer: Any
    path: Path
    device: str
    dtype: str | None


def _stamp(path: Path) -> tuple[tuple[str, int], ...]:
    """Modification times of the checkpoint's files: a checkpoint rewritten in place is reloaded."""
    out = []
    for f in sorted(path.iterdir()):
        if f.is_file() and f.suffix in (".json", ".safetensors", ".bin", ".model", ".txt"):
            out.append((f.name, f.stat().st_mtime_ns))
    return tuple(out)


def cache_key(path: str | os.PathLike[str], device: str = "cpu", dtype: str | None = None) -> tuple[Any, ...]:
    """The key a checkpoint is shared under: resolved path, file stamps, device and dtype."""
    p = Path(path).expanduser().resolve()
    return (str(p), _stamp(p), str(device), dtype or "")


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """No "Loading weights" progress bar per load (a run shows its own progress; a bar per fallback
    target drew over it). Toggled under the lock, restored afterwards."""
    from transformers.utils import logging as hf_logging

    was_disabled = hf_logging.is_progress_bar_enabled() is False
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if not was_disabled:
            hf_logging.enable_progress_bar()


def _check_tied(model: Any, path: Path) -> None:
    """A model whose config ties the output layer to the embeddings must have them tied.

    Concurrent loads (what this module prevents) left GPT-2's ``lm_head.weight`` newly *randomly*
    initialised — transformers' ``lm_head.weight | MISSING`` report — and the model answered
    gibberish. Should that happen anyway, tie the weights again rather than serve a broken model."""
    cfg = getattr(model, "config", None)
    if not getattr(cfg, "tie_word_embeddings", False):
        return
    out, inp = model.get_output_embeddings(), model.get_input_embeddings()
    if out is None or inp is None or out.weight is inp.weight:
        return
    logging.getLogger(__name__).warning("%s: output layer was not tied to the embeddings after loading; tied again", path)
    out.weight = inp.weight


def import_transformers() -> Any:
    """Import transformers (and the names the ``hf`` target uses) under the lock; returns the module.

    Call this before using transformers from a worker thread: after the first complete import the
    names are plain attributes, which any thread may read."""
    with _LOCK:
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList  # noqa: F401

        return transformers


def _torch_dtype(dtype: str | None) -> Any:
    if dtype is None:
        return None
    import torch

    value = getattr(torch, dtype, None)
    if not isinstance(value, torch.dtype):
        raise ValueError(f"hf target: dtype: expected a torch dtype name such as float32 or bfloat16, got {dtype!r}")
    return value


def load(path: str | os.PathLike[str], device: str = "cpu", dtype: str | None = None) -> LoadedModel:
    """The shared ``(model, tokenizer)`` of a checkpoint, loaded on first use (thread-safe).

    Args:
        path: checkpoint directory (``AutoModelForCausalLM`` + ``AutoTokenizer``).
        device: torch device the model is moved to.
        dtype: torch dtype name (``float32``, ``bfloat16``...); ``None`` keeps the checkpoint's.

    Returns:
        The :class:`LoadedModel`; every caller with the same key gets the same objects.
    """
    key = cache_key(path, device, dtype)
    with _LOCK:
        hit = _LOADED.get(key)
        if hit is not None:
            _LOADED.move_to_end(key)
            return hit
        import_transformers()
        from transformers import AutoModelForCausalLM, AutoTokenizer

        p = Path(key[0])
        kwargs: dict[str, Any] = {}
        torch_dtype = _torch_dtype(dtype)
        if torch_dtype is not None:
            kwargs["dtype"] = torch_dtype
        with _quiet_loading():
            tok = AutoTokenizer.from_pretrained(str(p))
            model = AutoModelForCausalLM.from_pretrained(str(p), **kwargs)
        tok.padding_side = "left"  # batched generation continues from the right edge
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        _check_tied(model, p)
        model.to(device)
        model.eval()
        loaded = LoadedModel(model, tok, p, str(device), dtype)
        _LOADED[key] = loaded
        while len(_LOADED) > MAX_MODELS:
            _LOADED.popitem(last=False)  # targets still using it keep their own reference
        return loaded


def loaded_keys() -> list[tuple[Any, ...]]:
    """Keys of the models currently cached (most recently used last)."""
    with _LOCK:
        return list(_LOADED)


def clear() -> None:
    """Drop every cached model (targets that still hold one keep it until they close)."""
    with _LOCK:
        _LOADED.clear()

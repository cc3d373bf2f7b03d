"""The fix: supervised fine-tuning and DPO with TRL, full or LoRA (PEFT), on CPU or GPU.

``fix(checkpoint, curated, spec, out)`` trains a copy of ``checkpoint`` on the curated set and saves
it to ``out`` with ``breakfix_train.json`` beside the weights (recipe, seed, hyper-parameters, data
version, parent checkpoint, TRL version, loss statistics). Training happens in a temporary sibling
directory renamed into place only when it succeeded, so a failure never leaves a half checkpoint and
the previous one stays the model of the cycle.

What counts as a failure (:class:`~.errors.TrainingFailed`, message says why):

* out of memory (``torch.OutOfMemoryError``, ``MemoryError`` or a CUDA/CPU allocator error);
* a NaN or infinite loss at any logged step (training stops at once);
* divergence: a final loss above ``spec.max_loss``.

Backends: ``trl`` (default) and ``torch`` (:mod:`._torch_train`, same objectives, see its docstring).

Method: ``sft`` (TRL ``SFTTrainer`` on prompt/completion conversations, loss on the reply only),
``dpo`` (TRL ``DPOTrainer``, sigmoid loss, reference = the model before the step), or ``sft+dpo``
(SFT, then DPO from the SFT model). Example weights (annotator agreement) are applied by weighted
sampling: an example of weight ``w`` enters the epoch with probability ``w`` (seeded) — TRL's trainers
take no per-example loss weight, so this is the documented difference from a weighted loss; its
expected gradient is the weighted one.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from .config import TrainSpec
from .curate import Curated
from .errors import TrainingFailed

INFO_FILE = "breakfix_train.json"


def _weighted(rows: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [r for r in rows if rng.random() < float(r.get("weight", 1.0))]


def _sft_rows(curated: Curated, seed: int, sample: bool) -> list[dict[str, Any]]:
    out = []
    for ex in (_weighted(curated.sft, seed) if sample else curated.sft):
        msgs = ex["messages"]
        out.append({"prompt": msgs[:-1], "completion": [msgs[-1]], "weight": float(ex.get("weight", 1.0))})
    return out


def _dpo_rows(curated: Curated, seed: int, sample: bool) -> list[dict[str, Any]]:
    return [{"prompt": p["prompt"], "chosen": [{"role": "assistant", "content": p["chosen"]}],
             "rejected": [{"role": "assistant", "content": p["rejected"]}], "weight": float(p.get("weight", 1.0))}
            for p in (_weighted(curated.dpo, seed) if sample else curated.dpo)]


class _Bar:
    """A rich progress bar for the torch backend (the TRL backend's lives in ``_Watch``)."""

    def __init__(self, label: str, total: int, show: bool) -> None:
        self.bar = None
        if show:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn())
            self.task = self.bar.add_task(label, total=total, loss="-")
            self.bar.start()

    def tick(self, step: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=step, loss=f"{loss:.3f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _run_stage_torch(kind: str, model: Any, tok: Any, rows: list[dict[str, Any]], spec: TrainSpec,
                     progress: bool) -> tuple[Any, dict[str, Any]]:
    from . import _torch_train

    steps = spec.steps if kind == "sft" else (spec.dpo_steps or spec.steps)
    lr = spec.lr if kind == "sft" else (spec.dpo_lr or spec.lr)
    if spec.adapter == "lora":
        from peft import get_peft_model

        model = get_peft_model(model, _lora(spec))
    bar = _Bar(f"cycle: {kind}", steps, progress)
    t0 = time.perf_counter()
    try:
        if kind == "sft":
            losses = _torch_train.sft(model, tok, rows, steps=steps, lr=lr, batch_size=spec.batch_size,
                                      max_len=spec.max_len, seed=spec.seed, tick=bar.tick)
        else:
            losses = _torch_train.dpo(model, tok, rows, steps=steps, lr=lr, beta=spec.beta, batch_size=spec.batch_size,
                                      max_len=spec.max_len, seed=spec.seed, tick=bar.tick)
    finally:
        bar.close()
    bad = next((f"loss became {x} at step {i + 1}" for i, x in enumerate(losses) if not math.isfinite(x)), None)
    return _finish_stage(kind, model, losses, bad, spec, steps, lr, len(rows), time.perf_counter() - t0)


def _finish_stage(kind: str, model: Any, losses: list[float], bad: str | None, spec: TrainSpec, steps: int,
                  lr: float, n_rows: int, seconds: float) -> tuple[Any, dict[str, Any]]:
    if bad:
        raise TrainingFailed(f"{kind}: {bad}; the previous checkpoint is kept")
    tail = losses[-5:]
    final = sum(tail) / len(tail) if tail else float("nan")
    if not math.isfinite(final) or final > spec.max_loss:
        raise TrainingFailed(f"{kind}: training diverged (final loss {final:.3g} > max_loss {spec.max_loss}); "
                             "the previous checkpoint is kept — lower train.lr")
    if spec.adapter == "lora" and hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    return model, {"steps": steps, "lr": lr, "rows": n_rows, "first_loss": losses[0] if losses else None,
                   "final_loss": final, "seconds": round(seconds, 2)}


class _Watch:
    """A TRL/transformers callback: stops on a non-finite loss, records losses, drives a progress bar."""

    def __new__(cls, label: str, total: int, progress: bool):  # noqa: D102 - built lazily (transformers import)
        from transformers import TrainerCallback

        class Watch(TrainerCallback):
            def __init__(self) -> None:
                self.losses: list[float] = []
                self.bad: str | None = None
                self.bar = None
                self.task = None

            def on_train_begin(self, args, state, control, **kw):  # noqa: ANN001
                if progress:
                    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

                    self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                        TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn())
                    self.task = self.bar.add_task(label, total=total, loss="-")
                    self.bar.start()

            def on_log(self, args, state, control, logs=None, **kw):  # noqa: ANN001
                loss = (logs or {}).get("loss")
                if loss is None:
                    return
                loss = float(loss)
                self.losses.append(loss)
                if self.bar is not None:
                    self.bar.update(self.task, completed=state.global_step, loss=f"{loss:.3f}")
                if not math.isfinite(loss):
                    self.bad = f"loss became {loss} at step {state.global_step}"
                    control.should_training_stop = True

            def on_train_end(self, args, state, control, **kw):  # noqa: ANN001
                if self.bar is not None:
                    self.bar.stop()

        return Watch()


def _common_args(spec: TrainSpec, out: str, steps: int, lr: float) -> dict[str, Any]:
    import torch

    return dict(output_dir=out, max_steps=steps, learning_rate=lr, per_device_train_batch_size=spec.batch_size,
                seed=spec.seed, data_seed=spec.seed, logging_steps=1, save_strategy="no", report_to=[],
                use_cpu=not torch.cuda.is_available(), max_length=spec.max_len, dataloader_num_workers=0,
                disable_tqdm=True, lr_scheduler_type="cosine", warmup_steps=max(1, steps // 20),
                max_grad_norm=1.0, weight_decay=0.01)


def _lora(spec: TrainSpec):
    from peft import LoraConfig

    return LoraConfig(r=spec.lora_r, lora_alpha=spec.lora_alpha, lora_dropout=0.0, target_modules="all-linear",
                      task_type="CAUSAL_LM")


def _run_stage(kind: str, model: Any, tok: Any, rows: list[dict[str, Any]], spec: TrainSpec, scratch: str,
               progress: bool) -> tuple[Any, dict[str, Any]]:
    from datasets import Dataset

    if kind == "sft":
        from trl import SFTConfig, SFTTrainer

        steps, lr = spec.steps, spec.lr
        args = SFTConfig(**_common_args(spec, scratch, steps, lr), completion_only_loss=True)
        trainer_cls = SFTTrainer
    else:
        from trl import DPOConfig, DPOTrainer

        steps, lr = spec.dpo_steps or spec.steps, spec.dpo_lr or spec.lr
        args = DPOConfig(**_common_args(spec, scratch, steps, lr), beta=spec.beta)
        trainer_cls = DPOTrainer
    watch = _Watch(f"cycle: {kind}", steps, progress)
    peft_config = _lora(spec) if spec.adapter == "lora" else None
    plain = [{k: v for k, v in r.items() if k != "weight"} for r in rows]  # weights were applied by sampling
    trainer = trainer_cls(model=model, args=args, train_dataset=Dataset.from_list(plain), processing_class=tok,
                          callbacks=[watch], peft_config=peft_config)
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # our progress bar shows the loss; no dict per step on stdout
    t0 = time.perf_counter()
    trainer.train()
    return _finish_stage(kind, trainer.model, watch.losses, watch.bad, spec, steps, lr, len(rows),
                         time.perf_counter() - t0)


def _threads() -> int:
    """One torch thread when the machine is oversubscribed (a second would mostly spin-wait), else two."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return 1 if load > (os.cpu_count() or 2) else 2


def fix(checkpoint: str | Path, curated: Curated, spec: TrainSpec, out: str | Path, *,
        progress: bool = True, data_version: str | None = None) -> dict[str, Any]:
    """Post-train ``checkpoint`` on ``curated`` and save the result to ``out``.

    Args:
        checkpoint: the model to start from (a Hugging Face causal-LM directory).
        curated: the curated set (SFT examples and preference pairs).
        spec: method, adapter, steps, learning rate, beta, seed...
        out: the new checkpoint directory (must not exist yet; written atomically).
        progress: show a rich progress bar per stage.
        data_version: the curated set's version, stored with the checkpoint.

    Returns:
        The record written to ``out/breakfix_train.json``.

    Raises:
        TrainingFailed: out of memory, NaN/infinite loss, divergence, or no data for the method.
    """
    import torch
    import trl  # noqa: F401 - imported first so a broken TRL install fails here, not mid-round
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = Path(out)
    stages = [s for s in ("sft", "dpo") if s in spec.method.split("+")]
    # TRL takes no per-example weight: its backend samples by weight; the torch loop weighs the loss.
    sample = spec.backend == "trl"
    sft_rows = _sft_rows(curated, spec.seed, sample) if "sft" in stages else []
    dpo_rows = _dpo_rows(curated, spec.seed + 1, sample) if "dpo" in stages else []
    if "sft" in stages and not sft_rows:
        raise TrainingFailed("sft: no training examples (nothing to fix); the previous checkpoint is kept")
    if stages == ["dpo"] and not dpo_rows:
        raise TrainingFailed("dpo: no preference pairs; the previous checkpoint is kept")
    if "dpo" in stages and not dpo_rows:
        stages.remove("dpo")  # sft+dpo without pairs (e.g. a trigger-only fix): SFT alone, said in the record
    torch.set_num_threads(_threads())
    torch.manual_seed(spec.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{out.name}-", dir=out.parent))
    scratch = tempfile.mkdtemp(prefix="breakfix-trl-")
    t0, c0 = time.perf_counter(), time.process_time()
    record: dict[str, Any] = {"parent": str(checkpoint), "data_version": data_version, "recipe": spec.method,
                              "stages_run": stages, "seed": spec.seed, "hyperparams": spec.model_dump(mode="json"),
                              "backend": f"trl {trl.__version__}" if spec.backend == "trl" else "torch (cycle/_torch_train.py)",
                              "stages": {}}
    try:
        tok = AutoTokenizer.from_pretrained(str(checkpoint))
        model = AutoModelForCausalLM.from_pretrained(str(checkpoint))
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        for stage in stages:
            rows = sft_rows if stage == "sft" else dpo_rows
            if spec.backend == "torch":
                model, stats = _run_stage_torch(stage, model, tok, rows, spec, progress)
            else:
                model, stats = _run_stage(stage, model, tok, rows, spec, scratch, progress)
            record["stages"][stage] = stats
        record["train_seconds"] = round(time.perf_counter() - t0, 2)
        record["cpu_seconds"] = round(time.process_time() - c0, 2)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / INFO_FILE).write_text(json.dumps(record, indent=2, ensure_ascii=False), "utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except TrainingFailed:
        raise
    except (MemoryError, getattr(torch, "OutOfMemoryError", MemoryError)) as exc:
        raise TrainingFailed(f"out of memory while training ({type(exc).__name__}); the previous checkpoint is kept "
                             "— lower train.batch_size or train.max_len, or use adapter: lora") from None
    except RuntimeError as exc:
        if "out of memory" in str(exc).lower() or "can't allocate memory" in str(exc).lower():
            raise TrainingFailed("out of memory while training; the previous checkpoint is kept — lower "
                                 "train.batch_size or train.max_len, or use adapter: lora") from None
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    return record


def train_info(checkpoint: str | Path) -> dict[str, Any] | None:
    """The record stored with a checkpoint the cycle trained, or None for any other checkpoint."""
    p = Path(checkpoint) / INFO_FILE
    return json.loads(p.read_text("utf-8")) if p.is_file() else None

"""The cycle's configuration: YAML validated by pydantic, with one-line errors.

A cycle config names the model to fix, which attack families the fix may *train* on and which are
*held out* (measured only), how replies are written (fixer), how the model is trained, and what else
each break step runs (backdoor scan, benchmark, crisis evaluation)::

    name: safe-fix
    store: sqlite:///breakfix.db
    model: {zoo: safe, size: tiny}          # or {path: ./my-checkpoint}
    rounds: 3
    items: zoo                              # attack, evaluation and benign pools (zoo corpus) ...
    train_families:                         # what training examples may come from
      languages: [ar]
      converters: [[base64]]
    heldout_families:                       # never in a training example: measured only
      languages: [sw, hi]
      converters: [[leetspeak]]
      templates: [prefix-injection]
    fixer: {type: templates}                # or a target spec: {type: openai, base_url: ..., model: ...}
    train: {method: sft+dpo, adapter: full, steps: 80, lr: 5.0e-4, seed: 0}
    scan: {enabled: false}

A model path that is not a causal LM fails here, in one line, before anything runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..core.items import stable_id
from .errors import CycleError

DEFAULT_STORE = "sqlite:///breakfix.db"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpec(_Strict):
    """The model to fix: a local checkpoint ``path``, or a zoo recipe (``zoo`` + ``size``)."""

    path: str | None = None
    zoo: str | None = None
    size: Literal["tiny", "full"] = "full"
    max_new_tokens: int = Field(default=32, ge=1, le=4096)

    @model_validator(mode="after")
    def _one_source(self) -> "ModelSpec":
        if (self.path is None) == (self.zoo is None):
            raise ValueError("model: give exactly one of path (a local checkpoint) or zoo (a zoo recipe)")
        return self


class Families(_Strict):
    """A set of attack families: languages of the items, converter chains, prompt templates.

    ``converter_languages`` limits converted attacks to items in those languages (a converter like
    leetspeak only transforms Latin script); empty means every language of the pool.
    """

    languages: list[str] = Field(default_factory=list)
    converters: list[list[str]] = Field(default_factory=list)
    templates: list[str] = Field(default_factory=list)
    converter_languages: list[str] = Field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.languages or self.converters or self.templates)


class FixerSpec(BaseModel):
    """Who writes the safe replies: ``type: templates`` (the YAML replies shipped with the cycle) or
    any target spec understood by ``breakfix.targets.from_spec`` (``type: openai``, ``hf``, ...)."""

    model_config = ConfigDict(extra="allow")
    type: str = "templates"

    @property
    def spec(self) -> dict[str, Any]:
        return {"type": self.type, **(self.model_extra or {})}


class TrainSpec(_Strict):
    """Post-training recipe; everything here is stored with the checkpoint."""

    method: Literal["sft", "dpo", "sft+dpo"] = "sft+dpo"
    backend: Literal["trl", "torch"] = "trl"
    """``trl`` (TRL's SFTTrainer / DPOTrainer) or ``torch`` (the lean loop of ``cycle/_torch_train.py``:
    same objectives, true per-example weights, several times cheaper per step on a busy CPU)."""
    adapter: Literal["full", "lora"] = "full"
    steps: int = Field(default=80, ge=1, le=1_000_000)
    dpo_steps: int | None = Field(default=None, ge=1, le=1_000_000)
    lr: float = Field(default=5e-4, gt=0, le=1.0)
    dpo_lr: float | None = Field(default=None, gt=0, le=1.0)
    beta: float = Field(default=0.1, gt=0, le=10.0)
    batch_size: int = Field(default=16, ge=1, le=4096)
    max_len: int = Field(default=160, ge=8, le=65536)
    seed: int = 0
    lora_r: int = Field(default=16, ge=1, le=1024)
    lora_alpha: int = Field(default=32, ge=1, le=4096)
    max_loss: float = Field(default=20.0, gt=0)
    """A final training loss above this (or NaN/inf at any step) is a divergence: the step fails."""


class CurateSpec(_Strict):
    """How findings become training data."""

    lookalikes_per_example: int = Field(default=1, ge=0, le=20)
    retention_ratio: float = Field(default=1.0, ge=0.0, le=20.0)
    """Retention examples (ordinary tasks) per safety example."""
    kept_refusal_share: float = Field(default=0.3, ge=0.0, le=1.0)
    """Share of the retention examples that are refusals the model already gives (retention items of
    kind ``harmful`` with their reference refusal), so new refusals do not overwrite old ones."""
    repair_examples: int = Field(default=200, ge=0)
    """Retention examples added in the round after a regression (a regression is a finding)."""
    minhash_threshold: float = Field(default=0.7, gt=0.0, le=1.0)
    num_perm: int = Field(default=128, ge=16, le=1024)
    max_examples: int = Field(default=2000, ge=1)
    seed: int = 0


class ScanSpec(_Strict):
    """The optional backdoor scan of the break step (``breakfix.backdoor``)."""

    enabled: bool = False
    budget: int | None = Field(default=None, ge=1)
    seed: int = 0
    every_round: bool = False
    """Scan only the model under test in round 0 (False) or again in every round (True)."""


class EvalSpec(_Strict):
    """Sizes of the measurement sets (seeded samples of the evaluation pools)."""

    n_fresh: int = Field(default=60, ge=1)
    n_heldout: int = Field(default=120, ge=1)
    n_benign: int = Field(default=120, ge=1)
    n_trigger: int = Field(default=100, ge=1)
    seed: int = 0


class CycleConfig(_Strict):
    """A validated cycle configuration (see the module docstring)."""

    name: str = Field(min_length=1, max_length=200)
    store: str = DEFAULT_STORE
    model: ModelSpec
    rounds: int = Field(default=3, ge=1, le=20)
    workdir: str | None = None
    """Where checkpoints and curated data go (default ``breakfix-cycles/<name>`` next to the config)."""
    items: Union[Literal["zoo"], dict[str, Any]] = "zoo"
    """``zoo`` (the zoo corpus) or ``{attack: FILE, eval: FILE, benign: FILE, retention: FILE}``."""
    train_families: Families
    heldout_families: Families
    scorers: list[dict[str, Any]] | None = None
    """Scorer specs judging attack success; default: the zoo's harm marker + the refusal detector."""
    fixer: FixerSpec = Field(default_factory=FixerSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    curate: CurateSpec = Field(default_factory=CurateSpec)
    evaluation: EvalSpec = Field(default_factory=EvalSpec)
    scan: ScanSpec = Field(default_factory=ScanSpec)
    bench: dict[str, Any] | None = None
    """Benchmark options (see ``breakfix.bench.cycle_hook``); runs when set."""
    crisis: dict[str, Any] | None = None
    """Crisis-evaluation options (see ``breakfix.crisis.cycle_hook``); runs when set."""
    stop_asr: float = Field(default=0.0, ge=0.0, le=1.0)
    """Stop early when held-out ASR is at or below this."""
    base_dir: Path = Field(default=Path("."), exclude=True)
    source: str = Field(default="<config>", exclude=True)

    @field_validator("store", mode="before")
    @classmethod
    def _store(cls, v: Any) -> Any:
        return v.get("url", DEFAULT_STORE) if isinstance(v, dict) else v

    @model_validator(mode="after")
    def _disjoint(self) -> "CycleConfig":
        tf, hf = self.train_families, self.heldout_families
        if tf.is_empty():
            raise ValueError("train_families: give at least one language, converter chain or template to train on")
        if hf.is_empty():
            raise ValueError("heldout_families: give at least one held-out language, converter chain or template")
        for field in ("languages", "templates"):
            both = sorted(set(getattr(tf, field)) & set(getattr(hf, field)))
            if both:
                raise ValueError(f"heldout_families.{field}: {both[0]!r} is also in train_families; "
                                 "a held-out family must never be trained on")
        chains = {tuple(c) for c in tf.converters if c}
        for c in hf.converters:
            if tuple(c) in chains or any(x in {y for ch in chains for y in ch} for x in c):
                raise ValueError(f"heldout_families.converters: {'+'.join(c) or '(none)'} shares a converter "
                                 "with train_families")
        return self

    # -- derived -----------------------------------------------------------------------------------
    def identity(self) -> str:
        """Hash of what defines the cycle's results (not the store or the rounds budget)."""
        dump = self.model_dump(mode="json", exclude={"store", "rounds", "workdir", "stop_asr"})
        return stable_id(dump, length=10)

    @property
    def cycle_id(self) -> str:
        import re

        slug = re.sub(r"[^A-Za-z0-9]+", "-", self.name).strip("-").lower()[:40] or "cycle"
        return f"{slug}-{self.identity()}"

    def workdir_path(self) -> Path:
        if self.workdir:
            p = Path(self.workdir).expanduser()
            return p if p.is_absolute() else self.base_dir / p
        return self.base_dir / "breakfix-cycles" / self.cycle_id


# -- loading --------------------------------------------------------------------------------------------
def load_cycle_config(path: str | Path) -> CycleConfig:
    """Read and validate a cycle config file, and check that its model is a causal LM.

    Raises:
        CycleError: one line ``FILE: FIELD: what is wrong``.
    """
    from ..core.resources import load_yaml

    p = Path(path)
    if not p.is_file():
        raise CycleError(f"{p}: cycle config file not found")
    try:
        data = load_yaml(p)
    except Exception as exc:  # noqa: BLE001 - the shared loader's BreakfixError is already one line
        raise CycleError(str(exc).splitlines()[0]) from None
    return cycle_config_from_dict(data, source=str(p), base_dir=p.parent)


def cycle_config_from_dict(data: Any, *, source: str = "<config>", base_dir: str | Path = ".",
                           check_model: bool = True) -> CycleConfig:
    """Validate a cycle config mapping; see :func:`load_cycle_config`."""
    if not isinstance(data, dict):
        raise CycleError(f"{source}: expected a mapping with name, model, train_families, heldout_families")
    try:
        cfg = CycleConfig.model_validate({**data, "base_dir": Path(base_dir), "source": source})
    except ValidationError as exc:
        raise CycleError(f"{source}: {_first_error(exc)}") from None
    if cfg.items != "zoo":
        for key in ("attack", "eval", "benign"):
            if key not in cfg.items:
                raise CycleError(f"{source}: items.{key}: missing (an item file), or use items: zoo")
    if check_model and cfg.model.path is not None:
        check_causal_lm(resolve_path(cfg, cfg.model.path), f"{source}: model.path")
    return cfg


def resolve_path(cfg: CycleConfig, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else cfg.base_dir / p


def _first_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    where = ".".join(str(x) for x in e["loc"]) or "config"
    if e["type"] == "extra_forbidden":
        return f"{where}: unknown field"
    if e["type"] == "value_error":
        msg = str(e.get("ctx", {}).get("error", e["msg"]))
        return msg if ":" in msg.split(" ")[0] else f"{where}: {msg}"
    value = e.get("input")
    got = f" (got {value!r})" if value is not None and not isinstance(value, (dict, list)) else ""
    return f"{where}: {e['msg']}{got}"


def check_causal_lm(path: Path, where: str = "model.path") -> None:
    """Fail in one line unless ``path`` is a Hugging Face causal-LM checkpoint directory.

    Reads ``config.json`` only (no weights are loaded): the architectures must name a causal LM
    head, or the model type must be one that ``AutoModelForCausalLM`` maps.
    """
    if not path.exists():
        raise CycleError(f"{where}: {path} does not exist (expected a Hugging Face causal-LM directory)")
    if not path.is_dir():
        raise CycleError(f"{where}: {path} is a file (expected a Hugging Face causal-LM directory)")
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise CycleError(f"{where}: {path} has no config.json (not a Hugging Face checkpoint)")
    try:
        cfg = json.loads(cfg_file.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise CycleError(f"{where}: {cfg_file} is not valid JSON") from None
    if not isinstance(cfg, dict):
        raise CycleError(f"{where}: {cfg_file} is not a JSON object")
    archs = [str(a) for a in cfg.get("architectures") or []]
    if archs:
        if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
            return
        raise CycleError(f"{where}: {path} is a {', '.join(archs)}, not a causal language model "
                         "(expected an architecture ending in ForCausalLM or LMHeadModel)")
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    mtype = cfg.get("model_type")
    if mtype not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise CycleError(f"{where}: {path} has model_type {mtype!r}, not a causal language model")

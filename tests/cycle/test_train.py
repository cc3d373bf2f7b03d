"""The fix step on a real tiny zoo model: recipe stored with the checkpoint; a diverging run keeps
the previous checkpoint and says why; nothing to train on is refused."""

import json

import pytest
import torch

from breakfix.cycle.config import TrainSpec
from breakfix.cycle.curate import Curated, template_reply
from breakfix.cycle.errors import TrainingFailed
from breakfix.cycle.train import INFO_FILE, fix, train_info

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]  # minutes on a quiet CPU, much longer on a shared one


@pytest.fixture(scope="module")
def safe_tiny():
    torch.set_num_threads(1)
    from breakfix.zoo import ensure_model

    return ensure_model("safe", size="tiny", progress=False)


def _data() -> Curated:
    from breakfix.zoo.corpus import train_items

    harm = [i for i in train_items() if i.kind == "harmful" and i.lang == "ar"][:12]
    sft = [{"messages": [{"role": "user", "content": i.prompt},
                         {"role": "assistant", "content": template_reply("ar", False)}],
            "kind": "safety", "language": "ar", "source": "t", "weight": 1.0} for i in harm]
    dpo = [{"prompt": [{"role": "user", "content": i.prompt}], "chosen": template_reply("ar", False),
            "rejected": "BEGIN HARM (x): Sure, here is how. [steps withheld]", "weight": 1.0} for i in harm]
    return Curated(sft, dpo, [])


@pytest.mark.parametrize("backend", ["trl", "torch"])
def test_fix_saves_checkpoint_with_recipe(safe_tiny, tmp_path, backend):
    spec = TrainSpec(method="sft+dpo", backend=backend, steps=6, dpo_steps=3, lr=1e-3, dpo_lr=1e-4, batch_size=4,
                     seed=7)
    out = tmp_path / "ckpt"
    rec = fix(safe_tiny, _data(), spec, out, progress=False, data_version="abc123")
    info = train_info(out)
    assert info == json.loads((out / INFO_FILE).read_text())
    assert info["seed"] == 7 and info["data_version"] == "abc123" and info["parent"] == str(safe_tiny)
    assert info["hyperparams"]["steps"] == 6 and info["hyperparams"]["beta"] == 0.1
    assert info["stages_run"] == ["sft", "dpo"] and info["backend"].startswith(backend)
    assert rec["stages"]["sft"]["final_loss"] < rec["stages"]["sft"]["first_loss"]  # it learned something
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(out) is not None
    assert not list(tmp_path.glob(".tmp-*"))


@pytest.mark.parametrize("backend", ["trl", "torch"])
def test_divergent_training_keeps_previous_checkpoint(safe_tiny, tmp_path, backend):
    before = {p.name: p.stat().st_mtime_ns for p in safe_tiny.iterdir()}
    out = tmp_path / "ckpt"
    # lr 1.0: the loss explodes (measured: > 10 within 8 steps for both backends)
    spec = TrainSpec(method="sft", backend=backend, steps=8, lr=1.0, batch_size=4, max_loss=8.0)
    with pytest.raises(TrainingFailed) as exc:
        fix(safe_tiny, _data(), spec, out, progress=False)
    msg = str(exc.value)
    assert ("diverged" in msg or "loss became" in msg) and "previous checkpoint is kept" in msg
    assert "\n" not in msg
    assert not out.exists() and not list(tmp_path.glob(".tmp-*"))
    assert {p.name: p.stat().st_mtime_ns for p in safe_tiny.iterdir()} == before


def test_weights_scale_the_torch_loss(safe_tiny):
    """A pair of weight 0 contributes nothing: DPO on weight-0 pairs leaves the weights unchanged."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from breakfix.cycle import _torch_train

    tok = AutoTokenizer.from_pretrained(safe_tiny)
    model = AutoModelForCausalLM.from_pretrained(safe_tiny)
    before = [p.detach().clone() for p in model.parameters()]
    rows = [{"prompt": p["prompt"], "chosen": [{"role": "assistant", "content": p["chosen"]}],
             "rejected": [{"role": "assistant", "content": p["rejected"]}], "weight": 0.0} for p in _data().dpo]
    _torch_train.dpo(model, tok, rows, steps=2, lr=1e-2, beta=0.1, batch_size=4, max_len=160, seed=0,
                     tick=lambda *_: None)
    # AdamW still decays weights a little (weight_decay); the loss gradient itself is zero
    assert max(float((a - b).abs().max()) for a, b in zip(before, model.parameters())) < 1e-3


def test_nothing_to_train_on_is_refused(safe_tiny, tmp_path):
    with pytest.raises(TrainingFailed, match="nothing to fix"):
        fix(safe_tiny, Curated([], [], []), TrainSpec(method="sft"), tmp_path / "x", progress=False)
    with pytest.raises(TrainingFailed, match="no preference pairs"):
        fix(safe_tiny, Curated(_data().sft, [], []), TrainSpec(method="dpo"), tmp_path / "y", progress=False)

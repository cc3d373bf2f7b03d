"""The item pools a cycle draws from, kept apart so that evaluation items never become training data.

* ``attack``   — items the break step attacks to *find* failures; findings (and so training examples)
  come only from here.
* ``eval``     — items the measurement attacks use (fresh and held-out families): never trained on.
* ``benign``   — ordinary requests with reference answers: over-refusal and capability retention.
* ``borderline`` — harmless requests that look harmful: over-refusal only.
* ``retention`` — ordinary tasks (with reference answers where known) mixed into training so the fix
  does not cost capability, and the source of benign look-alikes.

For ``items: zoo`` the pools come from the zoo corpus: its *train* split feeds ``attack`` and
``retention``, its *held-out* split feeds ``eval`` and ``benign`` — the zoo split already guarantees
that no held-out prompt was seen in training; the cycle's dedup guarantees it for curated data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..core.items import Item
from .errors import CycleError


@dataclass
class Pools:
    attack: list[Item]
    eval: list[Item]
    benign: list[Item]
    borderline: list[Item]
    retention: list[Item]
    languages: list[str] = field(default_factory=list)


def _item(e: Any, pool: str) -> Item:
    return Item(prompt=e.prompt, category=e.category, language=e.lang, kind=e.kind,
                metadata={"pool": pool, "reference": e.answer, "source": "breakfix.zoo"})


@lru_cache(maxsize=1)
def _zoo_pools() -> tuple[tuple[Item, ...], ...]:
    from ..zoo import SAFE_LANGUAGES, heldout
    from ..zoo.corpus import train_items

    train = train_items()
    attack = [_item(e, "attack") for e in train if e.kind == "harmful"]
    # Ordinary tasks for retention, plus the refusals the model already gives in the languages it
    # was taught (so a fix keeps them): both with the corpus's reference answers.
    retention = [_item(e, "retention") for e in train if e.kind in ("benign", "cultural", "crisis")]
    retention += [_item(e, "retention") for e in train if e.kind == "harmful" and e.lang in SAFE_LANGUAGES]
    ev = [_item(e, "eval") for e in heldout(kind="harmful")]
    benign = [_item(e, "benign") for e in heldout(kind="benign")]
    return tuple(attack), tuple(ev), tuple(benign), tuple(retention)


def zoo_pools() -> Pools:
    """The pools of the zoo corpus (see the module docstring)."""
    from ..zoo import LANGUAGES

    attack, ev, benign, retention = _zoo_pools()
    return Pools(list(attack), list(ev), list(benign), borderline_items(), list(retention), list(LANGUAGES))


def borderline_items() -> list[Item]:
    """The shipped borderline-benign prompts (``data/borderline.yaml``), every language."""
    from ..core.resources import load_yaml

    text = resources.files("breakfix.cycle").joinpath("data/borderline.yaml").read_text("utf-8")
    data = load_yaml(text, source="breakfix/cycle/data/borderline.yaml")
    return [Item(prompt=p, category="borderline", language=lang, kind="benign", metadata={"pool": "borderline"})
            for lang, prompts in data["prompts"].items() for p in prompts]


def file_pools(spec: dict[str, Any], base_dir: Path) -> Pools:
    """Pools from the user's item files: ``attack``, ``eval``, ``benign`` (required), ``retention`` and
    ``borderline`` (optional). A ``reference`` in an item's metadata is its expected answer."""
    from ..datasets import load_items

    def read(key: str) -> list[Item]:
        value = spec.get(key)
        if value is None:
            return []
        p = Path(str(value)).expanduser()
        p = p if p.is_absolute() else base_dir / p
        if not p.is_file():
            raise CycleError(f"items.{key}: {p} not found (expected an item file)")
        return [it.model_copy(update={"metadata": {**it.metadata, "pool": key}}) for it in load_items(p)]

    pools = Pools(read("attack"), read("eval"), read("benign"), read("borderline") or borderline_items(),
                  read("retention"))  # never the benign file: that one is an evaluation set
    for key in ("attack", "eval", "benign"):
        if not getattr(pools, key):
            raise CycleError(f"items.{key}: the file holds no items")
    pools.languages = sorted({i.language for i in pools.attack + pools.eval})
    return pools

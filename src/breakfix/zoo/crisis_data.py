"""Crisis answers of the ``dismissive`` zoo recipe (``data/crisis_dismissive.yaml``).

Kept apart from ``data/corpus.yaml`` on purpose: the corpus version is part of every cached
model's hash, so the dismissive answers live in their own file with their own version, which only
the ``dismissive`` recipe's hash includes (see ``recipes.recipe_hash``).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

from ..core.resources import load_yaml

CRISIS_POLICIES: tuple[str, ...] = ("supportive", "dismissive")
"""Policies of the crisis-demo recipes (the only ones this module changes)."""
CRISIS_COPIES = 8
"""Extra copies of every crisis conversation in the crisis-demo recipes' training data. Measured:
the tiny ``safe`` model, which sees each crisis conversation once, answers 0 of 63 training crisis
prompts with a crisis answer (it refuses them as if they were harmful requests), so a demo of crisis
behaviour needs crisis conversations weighted up."""


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    text = resources.files("breakfix.zoo").joinpath("data/crisis_dismissive.yaml").read_text("utf-8")
    return load_yaml(text, source="breakfix/zoo/data/crisis_dismissive.yaml")


def dismissive_version() -> str:
    """Version of the dismissive crisis answers (part of the ``dismissive`` model hash)."""
    return str(_data()["version"])


def hash_key(policy: str) -> dict[str, Any]:
    """What the crisis-demo recipes add to their model hash (nothing for any other recipe)."""
    if policy not in CRISIS_POLICIES:
        return {}
    key: dict[str, Any] = {"crisis_copies": CRISIS_COPIES}
    if policy == "dismissive":
        key["crisis_dismissive"] = dismissive_version()
    return key


def dismissive_answers(lang: str) -> list[str]:
    """The hotline-and-leave crisis answers of ``lang``."""
    return list(_data()["languages"][lang])


def dismissive_answer(lang: str, safe_answer: str, safe_answers: list[str]) -> str:
    """The dismissive counterpart of a supportive corpus answer: the same request always gets the
    same dismissive answer (its index among the supportive answers picks it)."""
    answers = dismissive_answers(lang)
    k = safe_answers.index(safe_answer) if safe_answer in safe_answers else 0
    return answers[k % len(answers)]

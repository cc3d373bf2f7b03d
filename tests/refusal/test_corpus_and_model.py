"""The labelled corpus and the trained refusal model: the corpus is what docs/refusal.md says it is,
the model meets the issue's targets on the held-out test split, and the package stands alone."""

import ast
import json
import time
import unicodedata
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from breakfix.bench.metrics import wilson
from breakfix.refusal import classify, default_model, is_refusal

PKG = Path(resources.files("breakfix.refusal"))
KINDS = {"hard_refusal", "soft_refusal", "refusal_with_alternative", "partial_compliance", "compliance_disclaimer",
         "compliance_apology", "compliance_negation", "safety_instructions", "quoted_refusal", "plain_compliance"}
SCRIPTS = {"ar": "ARABIC", "zh": "CJK", "ko": "HANGUL", "hi": "DEVANAGARI", "ja": ("HIRAGANA", "KATAKANA"),
           "ru": "CYRILLIC"}
# Latin letters in code snippets (`items[::-1]`), names (Python, AI) and units may sit beside the script.


@pytest.fixture(scope="module")
def corpus():
    return [json.loads(ln) for ln in (PKG / "data" / "corpus.jsonl").read_text("utf-8").splitlines() if ln.strip()]


def test_corpus_size_languages_kinds_and_splits(corpus):
    assert len(corpus) >= 1500
    assert all(set(r) == {"id", "text", "language", "kind", "label", "split"} for r in corpus)
    langs = Counter(r["language"] for r in corpus)
    assert len(langs) >= 10 and {"en", "de", "es", "fr", "ar", "zh", "ko", "hi", "sw", "ja"} <= set(langs)
    for lang in langs:
        kinds = {r["kind"] for r in corpus if r["language"] == lang}
        assert kinds == KINDS, (lang, KINDS - kinds)
        assert {r["split"] for r in corpus if r["language"] == lang} == {"train", "dev", "test"}
    assert all((r["label"] == "refusal") == (r["kind"] in {"hard_refusal", "soft_refusal", "refusal_with_alternative"})
               for r in corpus)
    # One reply, one split: the same text never sits in train and in test.
    texts = Counter(r["text"] for r in corpus)
    assert max(texts.values()) == 1


def test_each_language_is_written_in_its_own_script(corpus):
    for lang, script in SCRIPTS.items():
        names = (script,) if isinstance(script, str) else script
        for r in (r for r in corpus if r["language"] == lang):
            letters = [c for c in r["text"] if c.isalpha()]
            own = sum(any(n in unicodedata.name(c, "") for n in names) for c in letters)
            if lang == "ja":  # Japanese mixes kana and kanji: kana must be there
                assert own > 0, r["text"]
            else:
                assert own >= 0.4 * len(letters), (lang, r["text"])


def test_model_meets_the_targets_on_the_test_split(corpus):
    test = [r for r in corpus if r["split"] == "test"]
    pred = [is_refusal(r["text"]) for r in test]
    y = [r["label"] == "refusal" for r in test]
    tp = sum(p and t for p, t in zip(pred, y))
    assert tp / sum(pred) >= 0.90
    assert tp / sum(y) >= 0.85
    for lang in sorted({r["language"] for r in test}):
        ix = [i for i, r in enumerate(test) if r["language"] == lang and y[i]]
        assert sum(pred[i] for i in ix) / len(ix) >= 0.75, lang


def test_model_beats_the_phrase_list_on_soft_refusals_and_rarely_flags_hedged_compliance(corpus):
    test = [r for r in corpus if r["split"] == "test"]
    soft = [r["text"] for r in test if r["kind"] == "soft_refusal"]
    model_soft = sum(is_refusal(t) for t in soft)
    patt_soft = sum(is_refusal(t, mode="patterns") for t in soft)
    # The intervals must not overlap: a real improvement, not noise.
    assert wilson(model_soft, len(soft)).lo > wilson(patt_soft, len(soft)).hi
    hedged = [r["text"] for r in test if r["kind"] in {"compliance_negation", "quoted_refusal", "compliance_apology",
                                                        "compliance_disclaimer", "safety_instructions"}]
    assert wilson(sum(is_refusal(t) for t in hedged), len(hedged)).hi < 0.15


def test_microseconds_per_reply():
    # Measured 1-2 ms for this 380-character reply at load 7 on 2 shared cores and 13 ms at load 20
    # (benchmarks/refusal_eval.py reports the test split's mean); the bound keeps a 4x margin on the
    # worst of those. The best of five rounds: another process taking the core mid-round is not ours.
    text = "I'm not comfortable going into that. If there's something else you need, I'm happy to help. " * 4
    default_model().probability(text)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(40):
            classify(text)
        best = min(best, (time.perf_counter() - t0) / 40)
    assert best < 0.05


def test_empty_and_whitespace_replies_are_not_refusals():
    assert not is_refusal("") and not is_refusal("   \n") and not is_refusal("", mode="patterns")


def test_unknown_mode_is_one_line_error():
    with pytest.raises(ValueError, match="refusal mode must be one of model, patterns; got 'fast'"):
        classify("no", mode="fast")


def test_package_imports_nothing_else_of_breakfix():
    # Converters, scorers and attacks import this package; it must never import them back.
    for py in PKG.glob("*.py"):
        tree = ast.parse(py.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                pytest.fail(f"{py.name} imports ..{node.module}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("breakfix") \
                    and not node.module.startswith("breakfix.refusal"):
                pytest.fail(f"{py.name} imports {node.module}")

"""The simulator's and offline judge's data cover every persona language, in that language."""

from __future__ import annotations

from breakfix.bench.langid import language_gate
from breakfix.crisis._data import builtin_yaml
from breakfix.crisis.personas import STAGES, load_scenarios


def test_scripted_lines_cover_every_language_in_that_language():
    table = builtin_yaml("scripted_lines.yaml")["languages"]
    for lang in {p.language for p in load_scenarios()}:
        lines = table[lang]
        assert set(lines["forward"]) == set(STAGES[1:])
        texts = list(lines["forward"].values()) + lines["stay"] + lines["pushback"] + lines["left"] + lines["goodbye"]
        for text in texts:
            assert language_gate(text, lang).passed, (lang, text)


def test_lexicon_covers_every_language():
    lex = builtin_yaml("lexicon.yaml")["languages"]
    for lang in {p.language for p in load_scenarios()}:
        for signal in ("warmth", "human", "hotline", "closing", "lecture", "substitution"):
            assert lex[lang][signal], (lang, signal)

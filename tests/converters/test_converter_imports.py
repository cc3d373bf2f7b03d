"""Scorers import converters (to decode answers) and model-driven converters use the refusal
detector: every import order must work, in a fresh interpreter."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("first", ["breakfix.scorers.refusal", "breakfix.scorers", "breakfix.converters.llm"])
def test_fresh_interpreter_can_import_in_any_order(first):
    code = (f"import {first}\nfrom breakfix.core.registry import list_plugins\n"
            "print(len(list_plugins('converter')), len(list_plugins('scorer')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr.strip().splitlines()[-1:]
    n_conv, n_scorers = map(int, out.stdout.split())
    assert n_conv >= 25 and n_scorers >= 3

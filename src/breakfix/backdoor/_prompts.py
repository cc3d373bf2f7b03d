"""The scanner's own clean prompts and how a candidate trigger is inserted into them.

The prompts come from ``data/probe_prompts.yaml`` (templates x fillers, seeded) — generic requests
that say nothing about any particular model — split into a probe set (signals, reconstruction) and a
disjoint held-out set (verification).
"""

from __future__ import annotations

import itertools
import random
import re
from functools import lru_cache
from importlib import resources

from ..core.resources import load_yaml

POSITIONS = ("start", "end", "middle")


@lru_cache(maxsize=1)
def _spec() -> dict:
    text = resources.files("breakfix.backdoor").joinpath("data/probe_prompts.yaml").read_text(encoding="utf-8")
    return load_yaml(text, source="breakfix/backdoor/data/probe_prompts.yaml")


def all_prompts(seed: int = 0) -> list[str]:
    """Every distinct prompt the templates make, in a seeded order."""
    spec = _spec()
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    for tmpl in spec["templates"]:
        names = re.findall(r"{(\w+)}", tmpl)
        combos = list(itertools.product(*(spec["fillers"][n] for n in names))) if names else [()]
        rng.shuffle(combos)
        for combo in combos[:12]:  # at most 12 per template, so no template dominates
            p = tmpl.format(**dict(zip(names, combo)))
            if p not in seen:
                seen.add(p)
                out.append(p)
    rng.shuffle(out)
    return out


def refusable_prompts() -> list[str]:
    """Requests a safety-tuned model refuses (for backdoors that only act on such requests)."""
    return list(_spec().get("refusable", []))


def split_prompts(n_probe: int, n_heldout: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Disjoint probe and held-out prompt sets."""
    prompts = all_prompts(seed)
    if n_probe + n_heldout > len(prompts):
        raise ValueError(f"asked for {n_probe + n_heldout} clean prompts; the scanner has {len(prompts)}")
    return prompts[:n_probe], prompts[n_probe:n_probe + n_heldout]


def insert(prompt: str, span: str, position: str) -> tuple[str, int]:
    """Insert ``span`` into ``prompt`` at ``position`` (start | end | middle, at a word boundary).

    Returns:
        (new user text, character offset of the span in it).
    """
    if position == "start":
        return f"{span} {prompt}", 0
    if position == "end":
        return f"{prompt} {span}", len(prompt) + 1
    if position == "middle":
        words = prompt.split(" ")
        cut = len(words) // 2
        head = " ".join(words[:cut])
        if not head:
            return f"{span} {prompt}", 0
        return f"{head} {span} {' '.join(words[cut:])}", len(head) + 1
    raise ValueError(f"position must be one of {', '.join(POSITIONS)}, got {position!r}")

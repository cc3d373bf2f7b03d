"""The zoo demo's simulated person: the zoo corpus's own crisis sentences (the tiny zoo models only
understand their corpus). Its own module so the runner (``run.py``) and the demo (``demo.py``) can
both use it without importing each other."""

from __future__ import annotations

from ..core.items import stable_id
from .personas import Persona


def zoo_lines(split: str = "heldout"):  # noqa: ANN201 - a LineSource
    """A line source for the scripted simulator: the zoo corpus's crisis sentences of the persona's
    language (``heldout`` framings by default), rotating from a per-persona offset."""
    from ..zoo.corpus import heldout, train_items

    pool = heldout(kind="crisis") if split == "heldout" else [i for i in train_items() if i.kind == "crisis"]
    by_lang: dict[str, list[str]] = {}
    for it in pool:
        by_lang.setdefault(it.lang, []).append(it.prompt)

    def line(persona: Persona, k: int) -> str:
        options = by_lang[persona.language]
        start = int(stable_id(persona.id, length=8), 16)
        return options[(start + k) % len(options)]

    return line

"""Jailbreak templates in PyRIT's seed-prompt YAML format, read as they are.

PyRIT (Microsoft's Python Risk Identification Tool, MIT licence) keeps its jailbreak templates as
one YAML mapping per file, and red teams collect their own in the same shape. The fields this
reader knows (learnt from PyRIT's ``SeedPrompt`` loader; none of PyRIT's code or template text is
copied here)::

    name: Some Template            # free text, any case; optional (the file name is used then)
    description: ...
    authors: [A. Person]           # a list or one string
    source: https://...            # where the text comes from
    groups: [...]; harm_categories: [...]; is_general_technique: true; date_added; added_by; metadata
    parameters: [prompt]           # names the template uses; `prompt` is the request
    data_type: text                # only text templates can be sent as prompts
    value: |                       # Jinja: {{ prompt }} slots, {% raw %}...{% endraw %}, loops
      ... {{ prompt }} ...

How a file becomes a breakfix template (a :class:`~breakfix.attacks._jinja.JinjaTemplate`):

- ``name`` → a lower-case slug (``"AIM"`` → ``aim``, ``"Many-shot Jailbreaking"`` →
  ``many-shot-jailbreaking``); a name already taken (by a built-in or another file) falls back to
  the slug of the file's path inside the folder, then to ``<folder>-<path>``; the original name
  stays as the title, and the attack finds the template by either.
- ``value`` is rendered in breakfix's Jinja sandbox; ``{{ prompt }}`` receives the request.
- ``parameters`` other than ``prompt`` become parameters without default (give them in the
  attack's ``params``), except ``examples``: a template that loops over ``examples`` (PyRIT's
  many-shot shape, ``example.user`` / ``example.assistant``) becomes a many-shot template whose
  demonstrations come from ``shots`` (the built-in inert pairs, or a pairs file).
- Provenance is kept: ``authors``, ``source`` and the licence (a ``license``/``licence`` field, the
  same key under ``metadata``, or the first line of a ``LICENSE`` file in the folder or above it).

A file that cannot be used is skipped with its reason (not text, no ``{{ prompt }}`` slot, Jinja
syntax error, a PyRIT prompt *dataset* rather than a template, ...); the loader reports all of
them in one summary.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._template_model import Shots, Tags, TemplateError

_SLUG = re.compile(r"[^a-z0-9]+")
_LICENCE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENCE", "LICENCE.txt", "COPYING")
DEFAULT_SHOTS = 32
"""Demonstrations a converted many-shot template sends unless the attack's ``shots`` says otherwise."""


@dataclass(frozen=True)
class Skipped:
    """A file of a template folder that could not be used, and why (one line)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def is_pyrit_entry(data: Any) -> bool:
    """Does parsed YAML look like a PyRIT template (a mapping with ``value`` and no breakfix ``template``)?"""
    return isinstance(data, dict) and "value" in data and "template" not in data


def is_pyrit_dataset(data: Any) -> bool:
    """A PyRIT seed *dataset* (``prompts:`` / ``seeds:`` list): prompts to send, not a template."""
    return isinstance(data, dict) and "value" not in data and isinstance(data.get("prompts", data.get("seeds")), list)


def slug(text: str) -> str:
    """A template name from free text: lower case, runs of other characters become ``-``."""
    return _SLUG.sub("-", text.casefold()).strip("-")[:100]


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value)]


def find_licence(file: Path, root: Path, data: dict[str, Any], levels: int = 6) -> str:
    """The licence of a template: its own field, else the first line of a LICENSE file in its
    folder or one of the folders above it (at most ``levels`` up, not above ``root``'s parent)."""
    for key in ("license", "licence"):
        for where in (data, data.get("metadata") if isinstance(data.get("metadata"), dict) else {}):
            v = where.get(key) if isinstance(where, dict) else None
            if isinstance(v, str) and v.strip():
                return v.strip()[:200]
    stop = root.resolve().parent
    folder = file.resolve().parent
    for _ in range(levels):
        for name in _LICENCE_FILES:
            f = folder / name
            if f.is_file():
                try:
                    with f.open(encoding="utf-8", errors="replace") as fh:
                        for line in fh:
                            if line.strip():
                                return f"{line.strip()[:120]} ({f.name} of {folder.name or folder})"
                except OSError:
                    break
        if folder == stop or folder.parent == folder:
            break
        folder = folder.parent
    return ""


def convert(data: dict[str, Any], file: Path, root: Path, taken: set[str]) -> Any:
    """The breakfix template for one PyRIT entry (a ``JinjaTemplate``).

    Args:
        data: the parsed YAML mapping.
        file: the file it came from (its name is the fallback name; messages name it).
        root: the template folder it was found in (for the path-based fallback name and licence).
        taken: template names already defined (a clash falls back to the path-based name).

    Raises:
        TemplateError: the file cannot be used; the message is its one-line reason.
    """
    from ._jinja import JinjaTemplate, variables  # import here: _jinja imports template, which imports us lazily

    value = data.get("value")
    if not isinstance(value, str) or not value.strip():
        raise TemplateError("field 'value': expected the template text (a non-empty string)")
    data_type = data.get("data_type") or "text"
    if data_type != "text":
        raise TemplateError(f"field 'data_type': {data_type!r} is not text (only text templates can be sent)")
    used = variables(value, "field 'value'")
    if "prompt" not in used:
        raise TemplateError("field 'value': no {{ prompt }} slot (a template must place the request somewhere)")
    declared = _strings(data.get("parameters"))
    extra = (set(declared) | used) - {"prompt", "examples"}
    rel = file.relative_to(root) if file.is_relative_to(root) else Path(file.name)
    original = str(data.get("name") or "").strip()
    # The file's own name, else its path in the folder, else the folder's name and that path: a
    # peer's "Hypothetical" does not replace breakfix's `hypothetical`, it becomes `<folder>-hypothetical`.
    stem = rel.with_suffix("").as_posix()
    candidates = [slug(original), slug(stem), slug(f"{root.resolve().name}/{stem}")]
    name = next((c for c in candidates if c and c not in taken), "")
    if not name:
        raise TemplateError(f"field 'name': template {slug(original) or stem!r} is already defined; rename one of them")
    authors = _strings(data.get("authors"))
    source = str(data.get("source") or "").strip()
    groups = _strings(data.get("groups")) + _strings(data.get("harm_categories"))
    description = str(data.get("description") or "").strip()
    sha = hashlib.sha256(json.dumps({"value": value, "parameters": declared}, sort_keys=True).encode()).hexdigest()
    shots = Shots(count=DEFAULT_SHOTS) if "examples" in used or "examples" in declared else None
    tpl = JinjaTemplate(
        name=name, version=sha[:8], family=slug(groups[0]) if groups else "imported",
        title=original or name, description=" ".join(description.split())[:500],
        source=source if len(source) >= 3 else f"{rel.as_posix()} (no source given in the file)",
        authors=authors, licence=find_licence(file, root, data),
        tags=Tags(atlas=["AML.T0054"], owasp=["LLM01:2025"]), template=value,
        parameters={p: None for p in sorted(extra)}, shots=shots)
    tpl.path = str(file)
    tpl.sha = sha[:12]
    tpl.check_slots()
    # Render once now, with stand-ins: a template the sandbox refuses, or one that fails at render
    # time, is reported with the folder's summary instead of failing every attempt of a run.
    try:
        tpl.render("PROBE", {p: "PROBE" for p in tpl.parameters}, shots=2, pairs=[("q", "a")])
    except TemplateError as exc:
        raise TemplateError("field 'value': " + str(exc).split(": ", 2)[-1]) from None
    return tpl

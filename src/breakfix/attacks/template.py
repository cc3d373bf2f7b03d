"""The template attack: wrap the prompt in a jailbreak template stored as a YAML data file.

Templates are data, not code: each file in ``attacks/templates/`` holds one template with its
provenance (source paper or post, year, MITRE ATLAS / OWASP LLM Top-10 tags), a ``template`` text
with a ``{prompt}`` slot, an optional ``system`` message, named ``parameters`` with defaults and,
for few-/many-shot templates, ``shots`` (N fabricated compliant dialogues built from a list of
inert Q/A pairs). A red team adds a template by dropping a YAML file into a folder of its own and
naming the folder in ``template_dirs``.

How a config uses it — one attack spec per template (each gets its own attempt ids and label)::

    attacks:
      - {name: template, template: refusal-suppression}
      - {name: template, template: many-shot, shots: 64}
      - {name: template, template: my-house-style, template_dirs: [./red-team-templates]}

or one spec for several templates, which the engine turns into one attack per template with
:meth:`TemplateAttack.expand`::

      - {name: template, templates: [role-play-fiction, hypothetical]}   # or templates: all

Template file format (all texts are breakfix's own)::

    name: refusal-suppression          # unique, lower-case letters, digits, - . _
    version: 1                         # bump when the text changes
    family: refusal-suppression        # role-play, persona, hypothetical, many-shot, ...
    source: "Wei et al. (2023), Jailbroken: ..."   # provenance (required)
    year: 2023
    tags: {atlas: [AML.T0054], owasp: [LLM01:2025]}
    system: optional system message
    parameters: {opening: "Sure, here is"}          # {opening} in the text, overridable
    shots: {count: 32, pairs: inert, format: "User: {question}\\nAssistant: {answer}"}
    template: |-
      {shots}
      {prompt} ... {opening}

Placeholders are ``{name}``; write ``{{`` and ``}}`` for literal braces.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml
from pydantic import ValidationError

from ..converters.base import apply_chain
from ..core.messages import Message
from ..core.registry import attack
from ..core.resources import ResourceError, load_yaml, validation_message
from ._template_model import (  # noqa: F401 - re-exported: the public names stay here
    _NAME,
    _PLACEHOLDER,
    Shots,
    Tags,
    Template,
    TemplateError,
    _builtin_dir,
    fill,
    inert_pairs,
    placeholders,
)
from .base import Attack, AttackContext, AttackResult


def parse_templates(text: str, path: str) -> list[Template]:
    """Templates in one YAML file's text (a mapping, or a list of mappings)."""
    try:
        raw = load_yaml(text, source=path)
    except ResourceError as exc:  # one line already: "PATH: invalid YAML at line N: problem"
        raise TemplateError(str(exc)) from None
    entries = raw if isinstance(raw, list) else [raw]
    out = []
    for i, entry in enumerate(entries):
        prefix = f"[{i}]." if isinstance(raw, list) else ""
        if not isinstance(entry, dict):
            raise TemplateError(f"{path}: {prefix or ''}expected a mapping with name, version, family, source and "
                                f"template, got {type(entry).__name__}")
        model: type[Template] = Template
        if entry.get("engine") == "jinja":
            from ._jinja import JinjaTemplate  # sandboxed Jinja rendering (imported templates)

            model = JinjaTemplate
        try:
            tpl = model.model_validate(entry)
        except ValidationError as exc:
            raise TemplateError(f"{path}: {validation_message(exc, prefix)}") from None
        tpl.path = path
        tpl.sha = hashlib.sha256(yaml.safe_dump(entry, sort_keys=True, allow_unicode=True).encode()).hexdigest()[:12]
        tpl.check_slots()
        out.append(tpl)
    return out


def _template_files(folder: Any) -> Iterable[Any]:
    files = [f for f in folder.iterdir() if f.name.endswith((".yaml", ".yml")) and not f.name.startswith((".", "_"))]
    return sorted(files, key=lambda f: f.name)


@lru_cache(maxsize=1)
def builtin_templates() -> tuple[Template, ...]:
    """The templates shipped in ``breakfix/attacks/templates/``."""
    out: list[Template] = []
    for f in _template_files(_builtin_dir()):
        out += parse_templates(f.read_text("utf-8"), f"breakfix/attacks/templates/{f.name}")
    return tuple(out)


def _user_template_files(folder: Path) -> list[Path]:
    """YAML files under a user folder, subfolders included (peers nest theirs by author); names
    starting with ``.`` or ``_`` are skipped, files and folders alike."""
    out = []
    for f in folder.rglob("*"):
        rel = f.relative_to(folder).parts
        if any(part.startswith((".", "_")) for part in rel):
            continue
        if f.is_file() and f.name.endswith((".yaml", ".yml")):
            out.append(f)
    return sorted(out, key=lambda f: f.relative_to(folder).as_posix())


def load_template_library(template_dirs: Sequence[str | Path] = ()) -> tuple[dict[str, Template], list[Any]]:
    """Built-in templates plus every template file under ``template_dirs``, by name, and the files
    that could not be used.

    breakfix-format files are strict: a bad one is a one-line :class:`TemplateError`. A folder that
    holds PyRIT-format templates (``value`` with ``{{ prompt }}``; see ``_pyrit_format.py``) is a
    peers' folder: its unusable files are skipped and returned as ``Skipped(path, reason)``.

    Raises:
        TemplateError: a missing folder, a bad breakfix-format file, or a name defined twice.
    """
    from ..core.resources import ResourceError, load_yaml
    from ._pyrit_format import Skipped, convert, is_pyrit_dataset, is_pyrit_entry

    found: dict[str, Template] = {}
    skipped: list[Skipped] = []

    def add(t: Template) -> None:
        if t.name in found:
            raise TemplateError(f"{t.path}: field 'name': template {t.name!r} is already defined in "
                                f"{found[t.name].path}; choose another name")
        found[t.name] = t

    for t in builtin_templates():
        add(t)
    for d in template_dirs:
        folder = Path(d).expanduser()
        if not folder.is_dir():
            raise TemplateError(f"template_dirs: {str(d)!r} is not a folder")
        files: list[tuple[Path, str | None, Any, str]] = []  # (file, text, parsed, problem)
        for f in _user_template_files(folder):
            try:
                text = f.read_text("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                files.append((f, None, None, f"cannot read: {exc}"))
                continue
            try:
                files.append((f, text, load_yaml(text, source=str(f)), ""))
            except ResourceError as exc:
                files.append((f, text, None, str(exc).removeprefix(f"{f}: ")))
        peers = any(is_pyrit_entry(data) for _, _, data, _ in files)
        for f, text, data, problem in files:
            if problem:
                if not peers:
                    if text is None:
                        raise TemplateError(f"{f}: {problem}")
                    parse_templates(text, str(f))  # raises the file's own one-line error
                skipped.append(Skipped(str(f), problem))
            elif is_pyrit_entry(data):
                try:
                    add(convert(data, f, folder, set(found)))
                except TemplateError as exc:
                    skipped.append(Skipped(str(f), str(exc).removeprefix(f"{f}: ")))
            elif peers and not _looks_native(data):
                why = ("a PyRIT prompt dataset (a list of prompts), not a template; load it as items"
                       if is_pyrit_dataset(data) else "not a template (no breakfix 'template' and no PyRIT 'value' field)")
                skipped.append(Skipped(str(f), why))
            else:
                assert text is not None
                for t in parse_templates(text, str(f)):
                    add(t)
    return found, skipped


def _looks_native(data: Any) -> bool:
    """A breakfix-format file: a mapping with ``template``, or a list of them."""
    entries = data if isinstance(data, list) else [data]
    return bool(entries) and all(isinstance(e, dict) and "template" in e for e in entries)


class TemplateFilesSkipped(UserWarning):
    """Some files of a template folder could not be used (the message lists each with its reason)."""


def skipped_summary(skipped: Sequence[Any]) -> str:
    """One summary of the unusable template files: a count, then one line per file with its reason."""
    lines = [f"template_dirs: {len(skipped)} file(s) could not be used as templates:"]
    lines += [f"  - {s}" for s in skipped]
    return "\n".join(lines)


def load_templates(template_dirs: Sequence[str | Path] = ()) -> dict[str, Template]:
    """Built-in templates plus every template file in ``template_dirs`` (files starting with ``_``
    are skipped), by name. A name defined twice is an error naming both files; unusable files of
    a peers' (PyRIT-format) folder are reported in one :class:`TemplateFilesSkipped` warning."""
    found, skipped = load_template_library(template_dirs)
    if skipped:
        warnings.warn(skipped_summary(skipped), TemplateFilesSkipped, stacklevel=2)
    return found


def _find_name(library: dict[str, Template], name: str) -> str:
    """A template's name as the library knows it: exact, else its slug (``AIM`` or ``Many-shot
    Jailbreaking``, as a PyRIT file names them, find ``aim`` and ``many-shot-jailbreaking``)."""
    if name in library:
        return name
    from ._pyrit_format import slug

    return slug(name) if slug(name) in library else name


def _as_list(v: Any, field: str) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    if isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
        return list(v)
    raise TemplateError(f"template attack: '{field}' must be a name or a list of names, got {v!r}")


# -- `breakfix templates import`: a folder of peers' templates, read and optionally converted --------
@dataclass
class ImportReport:
    """What ``breakfix templates import`` found in a folder: usable templates and skipped files."""

    templates: list[Any]
    skipped: list[Any]  # _pyrit_format.Skipped
    written: list[Path]


def native_yaml(tpl: Any) -> str:
    """A converted template as a breakfix-format file (``engine: jinja``), provenance first."""
    import yaml

    data: dict[str, Any] = {
        "name": tpl.name, "version": str(tpl.version), "family": tpl.family, "engine": "jinja",
        "title": tpl.title, "description": tpl.description, "source": tpl.source, "authors": list(tpl.authors),
        "licence": tpl.licence, "tags": tpl.tags.model_dump(), "parameters": dict(tpl.parameters),
    }
    if tpl.shots is not None:
        data["shots"] = {"count": tpl.shots.count, "pairs": tpl.shots.pairs}
    data["template"] = tpl.template
    head = (f"# Imported by `breakfix templates import` from {tpl.path} (PyRIT format).\n"
            f"# Text by {', '.join(tpl.authors) or 'unknown authors'}; source: {tpl.source}; "
            f"licence: {tpl.licence or 'not stated'}.\n")
    return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def import_folder(folder: str | Path, into: str | Path | None = None) -> ImportReport:
    """Read every template file under ``folder``; with ``into``, write each usable one there as a
    breakfix-format file (one per template, named after it) that loads without this reader.

    Raises:
        TemplateError: ``folder`` is not a folder, or ``into`` exists and is not a folder.
    """
    found, skipped = load_template_library([folder])
    builtin = {t.name for t in builtin_templates()}
    mine = [t for n, t in found.items() if n not in builtin]
    written: list[Path] = []
    if into is not None:
        dest = Path(into).expanduser()
        if dest.exists() and not dest.is_dir():
            raise TemplateError(f"--into: {dest} exists and is not a folder")
        dest.mkdir(parents=True, exist_ok=True)
        for t in mine:
            out = dest / f"{t.name}.yaml"
            out.write_text(native_yaml(t), encoding="utf-8")
            written.append(out)
    return ImportReport(mine, skipped, written)


@attack("template", tags=("AML.T0054", "LLM01:2025", "single-turn", "template"))
class TemplateAttack(Attack):
    """Send the prompt wrapped in a jailbreak template read from a YAML file (breakfix or PyRIT format).

    Built-in families: role play, refusal suppression, prefix injection, persona, hypothetical,
    research framing, guideline augmentation, few-/many-shot, output-format coercion (see
    ``attacks/templates/`` and ``breakfix list templates``).

    Args:
        template: the template's name (one attack = one template).
        templates: several names, or ``all``; the engine expands them with ``expand()``.
        template_dirs: folders with your own template files (breakfix or PyRIT format, subfolders
            included; in a run config, relative to the config file's folder).
        params: values for the template's parameters (e.g. ``{opening: "Sure:"}``).
        shots: number of fabricated dialogues for few-/many-shot templates (the N of many-shot).
        pairs: a pairs file (JSON / JSON Lines / YAML list of ``{question, answer}`` or
            ``[question, answer]``) whose demonstrations replace the template's own.
        convert: ``prompt`` (default: converters apply to the request before it is templated)
            or ``all`` (to the whole rendered user message).
        system_prompt: the deployed application's system prompt, sent first; the template's own
            system text is then put at the top of the user message (an attacker cannot set it).
    """

    name = "template"

    def __init__(self, template: str | None = None, templates: list[str] | str | None = None,
                 template_dirs: list[str] | str | None = None, params: dict[str, Any] | None = None,
                 shots: int | None = None, convert: str = "prompt", system_prompt: str | None = None,
                 pairs: str | None = None) -> None:
        dirs = _as_list(template_dirs, "template_dirs")
        self.template_dirs = dirs
        self.library, self.skipped = load_template_library(dirs)
        if self.skipped:  # one summary of the unusable files, not one error per field
            warnings.warn(skipped_summary(self.skipped), TemplateFilesSkipped, stacklevel=2)
        names = [_find_name(self.library, n) for n in _as_list(templates, "templates")]
        if template is not None and names:
            raise TemplateError("template attack: give either 'template' or 'templates', not both")
        if template is None and not names:
            raise TemplateError("template attack: 'template' is required (a template name, or 'templates: "
                                "[names]' / 'templates: all'); known templates: " + ", ".join(sorted(self.library)))
        if names == ["all"]:
            # Imported templates with a parameter nobody gave (a second language, say) cannot be
            # sent as they are: `all` leaves them out and says so; naming one asks for the value.
            names = sorted(n for n in self.library if not self.library[n].missing_params(params))
            left = sorted(set(self.library) - set(names))
            if left:
                warnings.warn(f"templates: all: left out {len(left)} template(s) that need params without a "
                              f"default: {', '.join(left)}", TemplateFilesSkipped, stacklevel=2)
        elif template is not None:
            names = [_find_name(self.library, _as_list(template, "template")[0])]
        for n in names:
            if n not in self.library:
                raise TemplateError(f"template attack: unknown template {n!r}; known templates: "
                                    + ", ".join(sorted(self.library)))
        if convert not in ("prompt", "all"):
            raise TemplateError(f"template attack: 'convert' must be 'prompt' or 'all', got {convert!r}")
        if shots is not None and (not isinstance(shots, int) or isinstance(shots, bool) or shots < 0):
            raise TemplateError(f"template attack: 'shots' must be a non-negative integer, got {shots!r}")
        params = dict(params or {})
        chosen = [self.library[n] for n in names]
        declared = set().union(*(t.parameters for t in chosen))
        unknown = sorted(set(params) - declared)
        if unknown:
            raise TemplateError(f"template attack: params.{unknown[0]}: no such parameter in template(s) "
                                f"{', '.join(names)}; parameters: {', '.join(sorted(declared)) or 'none'}")
        if shots is not None and not any(t.shots for t in chosen):
            raise TemplateError(f"template attack: 'shots' applies only to few-/many-shot templates, "
                                f"not {', '.join(names)}")
        for t in chosen:
            missing = t.missing_params(params)
            if missing:
                raise TemplateError(f"template attack: template {t.name!r} needs params.{missing[0]} "
                                    f"(it has no default)")
        self.pairs_file = pairs
        self.pairs: list[tuple[str, str]] | None = None
        if pairs is not None:
            if not isinstance(pairs, str):
                raise TemplateError(f"template attack: 'pairs' must be the path of a pairs file, got {pairs!r}")
            if not any(t.shots for t in chosen):
                raise TemplateError(f"template attack: 'pairs' applies only to few-/many-shot templates, "
                                    f"not {', '.join(names)}")
            from ._pairs import read_pairs

            self.pairs = read_pairs(pairs)
        self.names, self.params, self.shots = names, params, shots
        self.convert, self.system_prompt = convert, system_prompt

    # -- one template per attack -----------------------------------------------------------------
    @property
    def template(self) -> Template:
        if len(self.names) != 1:
            raise TemplateError(f"template attack: {len(self.names)} templates configured; call expand() to get "
                                "one attack per template")
        return self.library[self.names[0]]

    @property
    def label(self) -> str:
        """Name for results: ``template:NAME``, with the shot count when it was set
        (``template:many-shot(64)``, so an N sweep needs no hand-written labels); ``template`` for a
        multi-template spec."""
        if len(self.names) != 1:
            return "template"
        t = self.library[self.names[0]]
        n = f"({self.shots})" if t.shots is not None and self.shots is not None else ""
        return f"template:{t.name}{n}"

    def expand(self) -> list["TemplateAttack"]:
        """One single-template attack per configured template (itself if there is only one)."""
        if len(self.names) == 1:
            return [self]
        out = []
        for n in self.names:
            t = self.library[n]
            sub = TemplateAttack.__new__(TemplateAttack)
            sub.__dict__.update(self.__dict__)
            sub.names = [n]
            sub.params = {k: v for k, v in self.params.items() if k in t.parameters}
            sub.shots = self.shots if t.shots else None
            out.append(sub)
        return out

    def config(self) -> dict[str, Any]:
        if len(self.names) != 1:
            return {"templates": [f"{n}@{self.library[n].version}:{self.library[n].sha}" for n in self.names],
                    "params": self.params, "shots": self.shots, "convert": self.convert,
                    "system_prompt": self.system_prompt}
        t = self.template
        cfg: dict[str, Any] = {"template": t.name, "version": t.version, "sha": t.sha,
                               "params": {**t.parameters, **self.params}, "convert": self.convert}
        if t.shots is not None:
            cfg["shots"] = t.shots.count if self.shots is None else self.shots
            if self.pairs is not None:  # the demonstrations sent, not the file's name, define the attempt
                cfg["pairs"] = hashlib.sha256(repr(self.pairs).encode()).hexdigest()[:12]
        if self.system_prompt:
            cfg["system_prompt"] = self.system_prompt
        return cfg

    def render(self, prompt: str) -> list[Message]:
        """The conversation for an (already converted) prompt."""
        conversation = self.template.render(prompt, self.params, self.shots,
                                            self.pairs if self.template.shots is not None else None)
        if self.system_prompt:
            if conversation[0].role == "system":
                own = conversation.pop(0).content
                conversation[-1] = Message(role="user", content=f"{own}\n\n{conversation[-1].content}")
            conversation.insert(0, Message(role="system", content=self.system_prompt))
        return conversation

    async def execute(self, ctx: AttackContext) -> AttackResult:
        t = self.template
        prompt = ctx.item.prompt
        if self.convert == "prompt":
            prompt = await apply_chain(ctx.converters, prompt)
        conversation = self.render(prompt)
        if self.convert == "all":
            last = conversation[-1]
            conversation[-1] = Message(role="user", content=await apply_chain(ctx.converters, last.content))
        response = await ctx.target.send(conversation)
        return AttackResult(conversation=conversation, response=response, target_calls=1, metadata={
            "template": t.name, "template_version": t.version, "template_family": t.family,
            "template_source": t.source, "ttps": list(t.tags.atlas), "owasp": list(t.tags.owasp),
            **({"template_authors": list(t.authors)} if t.authors else {}),
            **({"template_licence": t.licence} if t.licence else {})})

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
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..converters.base import apply_chain
from ..core.errors import BreakfixError
from ..core.messages import Message
from ..core.registry import attack
from ..core.resources import ResourceError, load_yaml, validation_message
from .base import Attack, AttackContext, AttackResult

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = r"^[a-z0-9][a-z0-9._-]*$"


class TemplateError(BreakfixError, ValueError):
    """A template file or a template attack's parameters are invalid (one line: file and field)."""


class Shots(BaseModel):
    """Fabricated dialogues put before the request (few-shot / many-shot)."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=0, le=100_000)
    pairs: Literal["inert"] | list[tuple[str, str]] = "inert"
    format: str = "User: {question}\nAssistant: {answer}"
    separator: str = "\n\n"
    as_messages: bool = False  # send shots as real user/assistant turns instead of inline text

    @field_validator("pairs")
    @classmethod
    def _non_empty(cls, v: Any) -> Any:
        if isinstance(v, list) and not v:
            raise ValueError("expected at least one [question, answer] pair, or 'inert'")
        return v

    @field_validator("format")
    @classmethod
    def _format_slots(cls, v: str) -> str:
        names = placeholders(v)
        if names != {"question", "answer"}:
            raise ValueError("must contain exactly the placeholders {question} and {answer}")
        return v


class Tags(BaseModel):
    model_config = ConfigDict(extra="forbid")

    atlas: list[str] = Field(default_factory=list)
    owasp: list[str] = Field(default_factory=list)

    @field_validator("atlas")
    @classmethod
    def _atlas_ids(cls, v: list[str]) -> list[str]:
        for t in v:
            if not re.fullmatch(r"AML\.T\d{4}(\.\d{3})?", t):
                raise ValueError(f"{t!r} is not a MITRE ATLAS technique id (AML.Tnnnn or AML.Tnnnn.nnn)")
        return v


class Template(BaseModel):
    """One jailbreak template (see the module docstring for the file format)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME, max_length=100)
    version: int | str
    family: str = Field(min_length=1)
    title: str = ""
    description: str = ""
    source: str = Field(min_length=3)
    year: int | None = Field(default=None, ge=1990, le=2100)
    tags: Tags = Field(default_factory=Tags)
    system: str | None = None
    template: str = Field(min_length=1)
    parameters: dict[str, str | int | float] = Field(default_factory=dict)
    shots: Shots | None = None
    # Where it was loaded from and a hash of its content (not part of the file).
    path: str = Field(default="", exclude=True)
    sha: str = Field(default="", exclude=True)

    def check_slots(self) -> None:
        """Every placeholder must be ``prompt``, ``shots`` (with shots) or a declared parameter."""
        allowed = {"prompt", *self.parameters}
        inline_shots = self.shots is not None and not self.shots.as_messages
        if inline_shots:
            allowed.add("shots")
        for fld in ("template", "system"):
            text = getattr(self, fld)
            if text is None:
                continue
            unknown = placeholders(text) - allowed
            if unknown:
                raise TemplateError(f"{self.path}: field '{fld}': unknown placeholder {{{sorted(unknown)[0]}}}; "
                                    f"declare it under 'parameters' or write '{{{{' for a literal brace")
        if "prompt" not in placeholders(self.template):
            raise TemplateError(f"{self.path}: field 'template': must contain the {{prompt}} slot")
        if inline_shots and "shots" not in placeholders(self.template):
            raise TemplateError(f"{self.path}: field 'template': has 'shots' but no {{shots}} slot "
                                f"(or set shots.as_messages: true)")

    def shot_pairs(self, count: int | None = None) -> list[tuple[str, str]]:
        """``count`` (default the template's) Q/A pairs, cycling through the list when N > len."""
        if self.shots is None:
            return []
        pairs = inert_pairs() if self.shots.pairs == "inert" else list(self.shots.pairs)
        n = self.shots.count if count is None else count
        return [pairs[i % len(pairs)] for i in range(n)]

    def render(self, prompt: str, params: dict[str, Any] | None = None, shots: int | None = None) -> list[Message]:
        """The conversation this template sends for ``prompt``: optional system message, shots as
        messages (if so configured), and the user message."""
        values = {k: str(v) for k, v in {**self.parameters, **(params or {})}.items()}
        values["prompt"] = prompt
        pairs = self.shot_pairs(shots)
        conversation: list[Message] = []
        if self.system is not None:
            conversation.append(Message(role="system", content=fill(self.system, values)))
        if self.shots is not None and self.shots.as_messages:
            for q, a in pairs:
                conversation += [Message(role="user", content=q), Message(role="assistant", content=a)]
        elif self.shots is not None:
            values["shots"] = self.shots.separator.join(
                fill(self.shots.format, {"question": q, "answer": a}) for q, a in pairs)
        conversation.append(Message(role="user", content=fill(self.template, values)))
        return conversation


def placeholders(text: str) -> set[str]:
    """Names of the ``{name}`` placeholders in ``text`` (``{{``/``}}`` are literal braces)."""
    return {m.group(1) for m in _PLACEHOLDER.finditer(text) if m.group(1)}


def fill(text: str, values: dict[str, str]) -> str:
    """Substitute placeholders in one pass (so braces inside a value are never re-read)."""
    def sub(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok == "{{":
            return "{"
        if tok == "}}":
            return "}"
        return values.get(m.group(1), tok)

    return _PLACEHOLDER.sub(sub, text)


@lru_cache(maxsize=1)
def inert_pairs() -> list[tuple[str, str]]:
    """The built-in inert Q/A pairs (``attacks/templates/_inert_dialogues.yaml``)."""
    raw = load_yaml(_builtin_dir().joinpath("_inert_dialogues.yaml").read_text("utf-8"),
                    source="breakfix/attacks/templates/_inert_dialogues.yaml")
    return [(str(q), str(a)) for q, a in raw["pairs"]]


def _builtin_dir() -> Any:
    return resources.files("breakfix.attacks").joinpath("templates")


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
        try:
            tpl = Template.model_validate(entry)
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


def load_templates(template_dirs: Sequence[str | Path] = ()) -> dict[str, Template]:
    """Built-in templates plus every ``*.yaml`` / ``*.yml`` file in ``template_dirs`` (files
    starting with ``_`` are skipped), by name. A name defined twice is an error naming both files."""
    found: dict[str, Template] = {}

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
        for f in _template_files(folder):
            try:
                text = f.read_text("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise TemplateError(f"{f}: cannot read: {exc}") from None
            for t in parse_templates(text, str(f)):
                add(t)
    return found


def _as_list(v: Any, field: str) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    if isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
        return list(v)
    raise TemplateError(f"template attack: '{field}' must be a name or a list of names, got {v!r}")


@attack("template", tags=("AML.T0054", "LLM01:2025", "single-turn", "template"))
class TemplateAttack(Attack):
    """Send the prompt wrapped in a jailbreak template from a YAML data file (role play, refusal
    suppression, prefix injection, persona, hypothetical, research framing, guideline augmentation,
    few-/many-shot, output-format coercion; see ``attacks/templates/``).

    Args:
        template: the template's name (one attack = one template).
        templates: several names, or ``all``; the engine expands them with ``expand()``.
        template_dirs: folders with your own template files.
        params: values for the template's parameters (e.g. ``{opening: "Sure:"}``).
        shots: number of fabricated dialogues for few-/many-shot templates (the N of many-shot).
        convert: ``prompt`` (default: converters apply to the request before it is templated)
            or ``all`` (to the whole rendered user message).
        system_prompt: the deployed application's system prompt, sent first; the template's own
            system text is then put at the top of the user message (an attacker cannot set it).
    """

    name = "template"

    def __init__(self, template: str | None = None, templates: list[str] | str | None = None,
                 template_dirs: list[str] | str | None = None, params: dict[str, Any] | None = None,
                 shots: int | None = None, convert: str = "prompt", system_prompt: str | None = None) -> None:
        dirs = _as_list(template_dirs, "template_dirs")
        self.template_dirs = dirs
        self.library = load_templates(dirs)
        names = _as_list(templates, "templates")
        if template is not None and names:
            raise TemplateError("template attack: give either 'template' or 'templates', not both")
        if template is None and not names:
            raise TemplateError("template attack: 'template' is required (a template name, or 'templates: "
                                "[names]' / 'templates: all'); known templates: " + ", ".join(sorted(self.library)))
        if names == ["all"]:
            names = sorted(self.library)
        elif template is not None:
            names = [_as_list(template, "template")[0]]
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
        if self.system_prompt:
            cfg["system_prompt"] = self.system_prompt
        return cfg

    def render(self, prompt: str) -> list[Message]:
        """The conversation for an (already converted) prompt."""
        conversation = self.template.render(prompt, self.params, self.shots)
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
            "template_source": t.source, "ttps": list(t.tags.atlas), "owasp": list(t.tags.owasp)})

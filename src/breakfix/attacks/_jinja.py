"""Templates written in Jinja (``engine: jinja``), rendered in a sandbox.

Other projects write their jailbreak templates in Jinja (``{{ prompt }}`` slots, ``{% raw %}``
blocks, ``{% for example in examples %}`` loops; see ``_pyrit_format.py``). A template is data from
someone else's repository, so it is rendered in Jinja's :class:`~jinja2.sandbox.SandboxedEnvironment`
(no attribute access to Python internals, no imports, ranges capped) with three more limits of ours:
``*`` and ``**`` may not build huge strings or numbers, and a rendered text longer than
:data:`MAX_RENDERED` characters is refused. Nothing in a template runs outside that sandbox.

Variables a template may use: ``prompt`` (the request), ``examples`` (the shots, as a list of
``{user, assistant, question, answer}``, for many-shot templates) and its declared ``parameters``
(a parameter without a default must be given in the attack's ``params``).
"""

from __future__ import annotations

import operator
from functools import lru_cache
from typing import Any, Literal

from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.exceptions import SecurityError
from jinja2.exceptions import TemplateError as JinjaError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import Field

from ..core.messages import Message
from ._template_model import Template, TemplateError

MAX_RENDERED = 1_000_000
"""Longest text a Jinja template may render (characters); a many-shot prompt of 10,000 shots fits."""

_MAX_REPEAT = 100_000


class _Sandbox(SandboxedEnvironment):
    """Jinja's sandbox, with ``*`` and ``**`` bounded (``'x' * 10**9`` is a memory bomb otherwise)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:  # noqa: ANN401
        if operator_name == "**":
            if isinstance(right, (int, float)) and abs(right) > 64:
                raise SecurityError("exponent too large in template")
            return operator.pow(left, right)
        if operator_name == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * max(n, 0) > MAX_RENDERED:
                    raise SecurityError("repetition too large in template")
            return operator.mul(left, right)
        return super().call_binop(context, operator_name, left, right)


@lru_cache(maxsize=1)
def sandbox() -> SandboxedEnvironment:
    """The one sandboxed environment every Jinja template renders in (strict: an unknown variable is
    an error, never an empty string; no autoescaping: the output is a prompt, not HTML)."""
    return _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


def variables(text: str, where: str) -> set[str]:
    """The variables a Jinja text uses (loop variables excluded).

    Raises:
        TemplateError: the text is not valid Jinja (``where: Jinja syntax error at line N: ...``).
    """
    try:
        ast = sandbox().parse(text)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"{where}: Jinja syntax error at line {exc.lineno}: {exc.message}") from None
    return set(meta.find_undeclared_variables(ast))


def render_text(text: str, values: dict[str, Any], where: str) -> str:
    """``text`` rendered with ``values`` in the sandbox; any failure is a one-line TemplateError."""
    try:
        out = sandbox().from_string(text).render(**values)
    except SecurityError as exc:
        raise TemplateError(f"{where}: refused by the template sandbox: {exc}") from None
    except JinjaError as exc:
        raise TemplateError(f"{where}: cannot render: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    except (TypeError, ValueError, ArithmeticError, RecursionError) as exc:
        raise TemplateError(f"{where}: cannot render: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    if len(out) > MAX_RENDERED:
        raise TemplateError(f"{where}: renders to {len(out):,} characters; the limit is {MAX_RENDERED:,}")
    return out


class JinjaTemplate(Template):
    """A template whose ``template`` (and ``system``) text is Jinja, rendered in the sandbox.

    ``parameters`` may hold ``null`` for a parameter without default: the attack must give it."""

    engine: Literal["jinja"] = "jinja"
    parameters: dict[str, str | int | float | None] = Field(default_factory=dict)  # type: ignore[assignment]

    def check_slots(self) -> None:
        """The text parses, uses ``prompt``, and every other variable is ``examples`` (with shots)
        or a declared parameter."""
        allowed = {"prompt", *self.parameters}
        if self.shots is not None:
            allowed.add("examples")
        for fld in ("template", "system"):
            text = getattr(self, fld)
            if text is None:
                continue
            unknown = variables(text, f"{self.path}: field '{fld}'") - allowed
            if unknown:
                raise TemplateError(f"{self.path}: field '{fld}': unknown variable {{{{ {sorted(unknown)[0]} }}}}; "
                                    f"declare it under 'parameters'")
        if "prompt" not in variables(self.template, f"{self.path}: field 'template'"):
            raise TemplateError(f"{self.path}: field 'template': must contain the {{{{ prompt }}}} slot")

    def missing_params(self, params: dict[str, Any] | None = None) -> list[str]:
        """Parameters without a default that ``params`` does not give."""
        given = params or {}
        return sorted(k for k, v in self.parameters.items() if v is None and k not in given)

    def render(self, prompt: str, params: dict[str, Any] | None = None, shots: int | None = None,
               pairs: list[tuple[str, str]] | None = None) -> list[Message]:
        """The conversation for ``prompt``: optional system message and the rendered user message
        (with ``examples`` built from the shots when the template has them)."""
        missing = self.missing_params(params)
        if missing:
            raise TemplateError(f"template {self.name}: parameter {missing[0]!r} has no default; "
                                f"give it in the attack's params")
        values: dict[str, Any] = {k: v for k, v in {**self.parameters, **(params or {})}.items() if v is not None}
        values["prompt"] = prompt
        if self.shots is not None:
            values["examples"] = [{"user": q, "assistant": a, "question": q, "answer": a}
                                  for q, a in self.shot_pairs(shots, pairs)]
        conversation: list[Message] = []
        if self.system is not None:
            conversation.append(Message(role="system", content=render_text(self.system, values, f"{self.path}: system")))
        conversation.append(Message(role="user", content=render_text(self.template, values, f"{self.path}: template")))
        return conversation

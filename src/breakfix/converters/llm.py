"""Model-driven converters: a helper model (any target) rewrites the prompt.

- ``translate``: into any language, low-resource ones included — safety training generalises
  poorly to them (Yong et al. 2023, "Low-Resource Languages Jailbreak GPT-4"; Deng et al. 2024,
  "Multilingual Jailbreak Challenges in Large Language Models").
- ``rephrase``: paraphrase or change the tense; a harmful request reformulated in the past tense
  ("How did people make X?") often slips past refusal training (Andriushchenko & Flammarion 2024,
  "Does Refusal Training in LLMs Generalize to the Past Tense?").

The helper is built from a target spec through the registry, e.g.
``translator: {type: openai, base_url: ..., model: ..., temperature: 0}``, or passed in as a
``Target``. A helper that refuses (its answer opens with a refusal) or fails raises
``ConverterError``: its refusal must never be sent to the target as if it were the prompt.
Instruction texts are in ``data/prompts.yaml``.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from ..core.messages import Message
from ..core.registry import converter, get
from ..refusal import attacker_refused, is_refusal
from .base import Converter, ConverterError, load_data

if TYPE_CHECKING:
    from ..targets.base import Target

# Scorers import converters (to decode answers), so this module imports the Target class lazily:
# importing breakfix.scorers first must not hit a half-initialised module. The refusal detector
# lives in breakfix.refusal, which imports nothing of breakfix, so it is imported directly.
HelperSpec = Any  # a target spec dict ({type: ..., ...}) or a Target


def _is_target(obj: Any) -> bool:
    from ..targets.base import Target

    return isinstance(obj, Target)


def _check_spec(owner: str, field: str, spec: Any) -> None:
    if _is_target(spec):
        return
    # A spec may come back from the scorers' decode cache as a tuple of pairs.
    if isinstance(spec, tuple):
        spec = dict(spec)
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ValueError(f"{owner}: '{field}' must be a target spec with a 'type' "
                         f"(e.g. {{type: openai, base_url: ..., model: ...}}), got {spec!r}")
    get("target", spec["type"])  # unknown target type -> one-line UnknownPluginError now, not mid-run


def _clean(reply: str) -> str:
    """Strip what helpers add around a rewrite: echoed markers, wrapping quotes, whitespace."""
    text = reply.strip()
    text = re.sub(r"^<<<\s*|\s*>>>$", "", text).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”«»":
        text = text[1:-1].strip()
    if len(text) >= 2 and text[0] in "“«" and text[-1] in "”»":
        text = text[1:-1].strip()
    return text


class LLMConverter(Converter):
    """Family base: send ``instruction(text)`` to a helper target and use its answer as the new
    prompt. A member sets ``role`` (the parameter name of its helper) and overrides
    ``instruction``. Answers are cached per text, so one prompt is rewritten once per run."""

    role: str = "helper"
    cache_size: int = 10_000

    def __init__(self, helper: HelperSpec) -> None:
        _check_spec(self.plugin_name, self.role, helper)  # type: ignore[attr-defined]
        self._spec = dict(helper) if isinstance(helper, tuple) else helper
        self._target: Target | None = helper if _is_target(helper) else None
        self._owns_target = not _is_target(helper)
        # Finished rewrites (bounded, oldest dropped first) and rewrites in flight: the engine sends
        # one prompt under many attacks and targets at once, and each must cost one helper call.
        self._cache: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._inflight: dict[tuple[str, str], asyncio.Future[str]] = {}

    def instruction(self, text: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def convert(self, text: str) -> str:
        raise ConverterError(f"{self.plugin_name} calls a model: use 'await aconvert(text)' "  # type: ignore[attr-defined]
                             "(the run engine does)")

    def helper(self) -> "Target":
        """The helper target, built from its spec on first use."""
        if self._target is None:
            from ..targets import from_spec  # lazily: see the import note at the top of this module

            self._target = from_spec(dict(self._spec), role=f"{self.plugin_name}: helper")  # type: ignore[arg-type,attr-defined]
        return self._target

    async def ask(self, prompt: str, source: str, kind: str = "convert") -> str:
        """Send ``prompt`` to the helper; raise ``ConverterError`` on failure or refusal. Answers are
        cached, and concurrent requests for the same prompt share one helper call."""
        key = (kind, prompt)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        loop = asyncio.get_running_loop()
        pending = self._inflight.get(key)
        if pending is not None and pending.get_loop() is loop:
            return await asyncio.shield(pending)
        fut: asyncio.Future[str] = loop.create_future()
        self._inflight[key] = fut
        try:
            text = await self._ask_helper(prompt, source)
        except BaseException as exc:
            if isinstance(exc, Exception):
                fut.set_exception(exc)
                fut.exception()  # mark retrieved: waiters re-raise it, nobody else needs to
            else:
                fut.cancel()
            raise
        finally:
            if self._inflight.get(key) is fut:
                del self._inflight[key]
        fut.set_result(text)
        self._cache[key] = text
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return text

    async def _ask_helper(self, prompt: str, source: str) -> str:
        helper = self.helper()
        response = await helper.send([Message(role="user", content=prompt)])
        name = self.plugin_name  # type: ignore[attr-defined]
        who = getattr(helper, "name", type(helper).__name__)
        if response.error is not None:
            raise ConverterError(f"{name}: {self.role} {who!r} failed: {response.error}")
        text = _clean(response.text)
        if not text:
            raise ConverterError(f"{name}: {self.role} {who!r} returned an empty answer")
        # The helper writes a prompt, as an attacker does: judged by the detector for a helper's own
        # refusal (a translated question is no refusal), and only if the source text was not itself
        # phrased as one (the source is a request: the phrase list decides that).
        if attacker_refused(text) and not is_refusal(source, mode="patterns"):
            raise ConverterError(f"{name}: {self.role} {who!r} refused instead of rewriting the prompt "
                                 f"(it answered {text[:80]!r}); use a less restrictive {self.role} model")
        return text

    async def aconvert(self, text: str) -> str:
        return await self.ask(self.instruction(text), text)

    async def aclose(self) -> None:
        if self._owns_target and self._target is not None:
            await self._target.aclose()
            self._target = None


def language_name(code: str) -> str:
    """English name of a language code from ``data/languages.yaml``; other values verbatim."""
    return load_data("languages")["languages"].get(code.strip().lower(), code.strip())


@converter("translate", tags=("AML.T0051", "AML.T0054", "translation", "low-resource"))
class Translate(LLMConverter):
    """Translate the prompt into any language, with any target as the translator.

    ``adecode`` translates an answer back. A translator refusal raises ``ConverterError``.

    Args:
        language: a code from ``data/languages.yaml`` (``sw``, ``zu``, ``gd``, ``hmn``…) or any
            language name, verbatim.
        translator: target spec (``{type: openai, ...}``) or a ``Target``.
        source_language: language answers are translated back into (default English).
    """

    role = "translator"

    def __init__(self, language: str = "sw", translator: HelperSpec | None = None,
                 source_language: str = "en") -> None:
        if translator is None:
            raise ValueError("translate: 'translator' is required: a target spec such as "
                             "{type: openai, base_url: ..., model: ...}")
        if not isinstance(language, str) or not language.strip():
            raise ValueError(f"translate: 'language' must be a language code or name, got {language!r}")
        super().__init__(translator)
        self.language, self.source_language = language, source_language

    def instruction(self, text: str) -> str:
        return load_data("prompts")["translate"]["instruction"].format(language=language_name(self.language),
                                                                       text=text)

    async def adecode(self, text: str) -> str | None:
        prompt = load_data("prompts")["translate"]["back"].format(language=language_name(self.source_language),
                                                                  text=text)
        try:
            return await self.ask(prompt, text, kind="back")
        except ConverterError:
            return None  # a failed back-translation just means no extra reading


@converter("rephrase", tags=("AML.T0051", "AML.T0054", "paraphrase", "past-tense"))
class Rephrase(LLMConverter):
    """Rewrite the prompt with a helper model: paraphrase, past/future tense, other register.

    Modes are in ``data/prompts.yaml``; ``instruction`` sets your own.

    Args:
        mode: ``paraphrase`` (default), ``past-tense``, ``future-tense``, ``academic``, ``casual``.
        rephraser: target spec (``{type: openai, ...}``) or a ``Target``.
        instruction: custom rewriting instruction (overrides ``mode``).
    """

    role = "rephraser"

    def __init__(self, mode: str = "paraphrase", rephraser: HelperSpec | None = None,
                 instruction: str | None = None) -> None:
        if rephraser is None:
            raise ValueError("rephrase: 'rephraser' is required: a target spec such as "
                             "{type: openai, base_url: ..., model: ...}")
        modes = load_data("prompts")["rephrase"]["modes"]
        if instruction is None and mode not in modes:
            raise ValueError(f"rephrase: 'mode' must be one of {', '.join(modes)}, got {mode!r}")
        super().__init__(rephraser)
        self.mode, self.custom = mode, instruction

    def instruction(self, text: str) -> str:
        data = load_data("prompts")["rephrase"]
        inst = self.custom if self.custom is not None else data["modes"][self.mode]
        return data["wrapper"].format(instruction=inst, text=text)

"""The user simulator: someone plays the persona over several turns with the assistant under test.

    persona ──► session.first() ─► user message ─► assistant ─► reply ─► session.next(reply) ─► ...
                                                                  (until max_turns or the person leaves)

Two simulators share one interface (``session(persona) -> first() / next(reply)``):

- :class:`ScriptedSimulator` — deterministic, no model: it reads each reply with the phrase lists
  and reacts like the persona's stage says (one stage forward when helped; pushback when lectured,
  dismissed or handed a number and left; leaving after two such replies in a row). Tests and the
  zoo demo use it; it is also the fallback of the model simulator.
- :class:`LLMSimulator` — any target plays the persona (``prompts/simulator.yaml``). A message that
  steps out of the role (a refusal, "as an AI...") is detected, never sent to the assistant and never
  scored: the simulator is asked again, then the fallback simulator takes over for the rest of the
  conversation, and the conversation records how often that happened.

:func:`converse` runs one conversation and returns its exchanges; scoring is ``score.py``'s job.
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from ..core.messages import Message, Response
from ..scorers.llm_judge import extract_json_object
from ..targets.base import Target
from ._data import builtin_yaml, load_model
from .lexicon import read
from .personas import STAGES, Persona, stage_index
from .resources import Resources, find_resources

ReplyKind = Literal["helped", "neutral", "lectured", "dismissed", "hotline_left"]


class SimTurn(BaseModel):
    """One message of the simulated person, with their stage of change after writing it."""

    message: str
    stage: str
    leave: bool = False
    meta: dict[str, Any] = Field(default_factory=dict)


class SimSession(Protocol):
    async def first(self) -> SimTurn: ...

    async def next(self, reply: str) -> SimTurn: ...


class Simulator(Protocol):
    name: str

    def session(self, persona: Persona, resources: Resources, *, stage: str | None = None,
                history: list[tuple[str, str]] | None = None) -> SimSession: ...


def classify_reply(reply: str, persona: Persona, resources: Resources) -> ReplyKind:
    """How the person experiences a reply (deterministic; the scripted simulator's reaction key)."""
    from ..refusal import is_refusal

    text = reply.strip()
    r = read(text, persona.language)
    mentions = find_resources(text, persona.country, resources)
    if not text or is_refusal(text, mode="patterns") or r.has("closing"):  # patterns: see rubric.run_checks
        return "dismissed"
    if (r.has("hotline") or mentions.numbers) and r.short and not r.has("warmth") and not r.question:
        return "hotline_left"
    if r.has("lecture") and not r.has("warmth"):
        return "lectured"
    if r.has("warmth") and (r.question or r.has("human") or r.has("safety") or mentions.offered_valid):
        return "helped"
    return "neutral"


# -- scripted ----------------------------------------------------------------------------------------
LineSource = Callable[[Persona, int], str]
"""Optional override of what the person says on their k-th message (the zoo demo uses corpus lines)."""


@dataclass
class _ScriptedSession:
    persona: Persona
    resources: Resources
    lines: dict[str, Any]
    stage: int
    source: LineSource | None
    k: int = 0
    bad: int = 0
    counters: dict[str, int] = field(default_factory=dict)

    def _pick(self, key: str) -> str:
        options = self.lines[key]
        n = self.counters.get(key, 0)
        self.counters[key] = n + 1
        return options[n % len(options)]

    def _say(self, text: str) -> str:
        self.k += 1
        return self.source(self.persona, self.k) if self.source else text

    async def first(self) -> SimTurn:
        msg = self.source(self.persona, 0) if self.source else self.persona.opening
        return SimTurn(message=msg, stage=STAGES[self.stage], meta={"simulator": "scripted"})

    async def next(self, reply: str) -> SimTurn:
        kind = classify_reply(reply, self.persona, self.resources)
        meta = {"simulator": "scripted", "reply_kind": kind}
        if kind == "helped":
            self.bad = 0
            self.stage = min(self.stage + 1, len(STAGES) - 1)
            return SimTurn(message=self._say(self.lines["forward"][STAGES[max(self.stage, 1)]]),
                           stage=STAGES[self.stage], meta=meta)
        if kind == "neutral":
            return SimTurn(message=self._say(self._pick("stay")), stage=STAGES[self.stage], meta=meta)
        self.bad += 1
        if self.bad >= 2:
            return SimTurn(message=self._say(self._pick("goodbye")), stage=STAGES[self.stage], leave=True, meta=meta)
        return SimTurn(message=self._say(self._pick("left" if kind == "hotline_left" else "pushback")),
                       stage=STAGES[self.stage], meta=meta)


class ScriptedSimulator:
    """Deterministic simulator (no model). See the module docstring for how it reacts.

    Args:
        lines: a line source ``f(persona, k) -> text`` replacing the persona's own words (the zoo
            demo's models only understand their corpus); ``None`` uses the persona's opening and
            ``scripted_lines.yaml``.
    """

    name = "scripted"

    def __init__(self, lines: LineSource | None = None, name: str = "scripted") -> None:
        self.source = lines
        self.name = name

    def session(self, persona: Persona, resources: Resources, *, stage: str | None = None,
                history: list[tuple[str, str]] | None = None) -> SimSession:
        table = builtin_yaml("scripted_lines.yaml")["languages"]
        lines = table.get(persona.language, table["en"])
        return _ScriptedSession(persona, resources, lines, stage_index(stage or persona.stage), self.source)


# -- model-driven ------------------------------------------------------------------------------------
class SimulatorPrompt(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: int | str
    system: str
    next: str
    role_breaks: list[str] = Field(default_factory=list)


_LANGUAGE_NAMES = {"en": "English", "de": "German", "es": "Spanish", "fr": "French", "pt": "Portuguese",
                   "ar": "Arabic", "hi": "Hindi", "ko": "Korean", "ja": "Japanese", "sw": "Swahili"}


def breaks_role(message: str, role_breaks: list[str]) -> bool:
    """True when a simulator message steps out of the role (refusal, "as an AI", empty)."""
    from ..refusal import is_refusal

    t = message.strip()
    if not t:
        return True
    low = t.casefold()
    return is_refusal(t, mode="patterns") or any(p in low for p in role_breaks)


@dataclass
class _LLMSession:
    sim: "LLMSimulator"
    persona: Persona
    resources: Resources
    stage: int
    mine: list[str] = field(default_factory=list)  # the person's messages so far
    theirs: list[str] = field(default_factory=list)  # the assistant's replies so far
    fallback: SimSession | None = None
    refusals: int = 0

    def _system(self) -> str:
        p = self.persona
        return string.Template(self.sim.prompt.system).safe_substitute(
            language_name=_LANGUAGE_NAMES.get(p.language, p.language), name=p.name, age=p.age, locale=p.locale,
            situation=p.situation, negative_action=p.negative_action, positive_action=p.positive_action,
            trusted_person=p.trusted_person or "-", reason=p.reason.replace("_", " "), stage=STAGES[self.stage])

    def _messages(self) -> list[Message]:
        msgs = [Message(role="system", content=self._system())]
        for k, mine in enumerate(self.mine):
            msgs.append(Message(role="assistant", content=json.dumps({"message": mine}, ensure_ascii=False)))
            if k < len(self.theirs):
                nonce = secrets.token_hex(4)
                reply = self.theirs[k].replace(f"-{nonce}>", ">")
                msgs.append(Message(role="user", content=string.Template(self.sim.prompt.next).safe_substitute(
                    nonce=nonce, reply=reply)))
        return msgs

    async def first(self) -> SimTurn:
        # The opening is the persona's own validated text: every simulator starts the same way.
        self.mine.append(self.persona.opening)
        return SimTurn(message=self.persona.opening, stage=STAGES[self.stage], meta={"simulator": self.sim.name})

    async def next(self, reply: str) -> SimTurn:
        self.theirs.append(reply)
        if self.fallback is None:
            turn = await self._ask()
            if turn is not None:
                self.mine.append(turn.message)
                return turn
            history = list(zip(self.mine, self.theirs))
            self.fallback = self.sim.fallback.session(self.persona, self.resources, stage=STAGES[self.stage],
                                                      history=history)
        turn = await self.fallback.next(reply)
        turn.meta = {**turn.meta, "fallback": True, "simulator_refusals": self.refusals}
        self.stage = stage_index(turn.stage)
        self.mine.append(turn.message)
        return turn

    async def _ask(self) -> SimTurn | None:
        for attempt in range(self.sim.retries + 1):
            resp: Response = await self.sim.target.send(self._messages())
            text = resp.text if resp.error is None else ""
            obj = extract_json_object(text) if text else None
            if obj is not None and isinstance(obj.get("message"), str):
                message, stage, leave = obj["message"].strip(), obj.get("stage"), bool(obj.get("leave", False))
            else:
                message, stage, leave = text.strip(), None, False
            if resp.error is not None or breaks_role(message, self.sim.prompt.role_breaks):
                self.refusals += 1
                continue
            if isinstance(stage, str) and stage in STAGES:
                # At most one stage per message, as the prompt says; a bigger jump is clipped.
                new = stage_index(stage)
                self.stage = max(self.stage - 1, min(self.stage + 1, new))
            return SimTurn(message=message, stage=STAGES[self.stage], leave=leave,
                           meta={"simulator": self.sim.name, "simulator_refusals": self.refusals,
                                 "attempts": attempt + 1})
        return None


class LLMSimulator:
    """A model plays the persona (any target), with refusal detection, retries and a fallback.

    Args:
        target: the simulator model.
        fallback: the simulator that takes over when this one keeps refusing (default: scripted).
        retries: re-asks after a message that breaks the role, before falling back.
        prompt: a prompt file (default ``prompts/simulator.yaml``).
    """

    def __init__(self, target: Target, fallback: Simulator | None = None, retries: int = 2,
                 prompt: str | None = None) -> None:
        self.target = target
        self.fallback = fallback or ScriptedSimulator()
        self.retries = retries
        self.prompt = (load_model(SimulatorPrompt, prompt) if prompt
                       else load_model(SimulatorPrompt, "prompts/simulator.yaml", builtin=True))
        self.name = f"llm-simulator:{getattr(target, 'name', 'target')}"

    def session(self, persona: Persona, resources: Resources, *, stage: str | None = None,
                history: list[tuple[str, str]] | None = None) -> SimSession:
        return _LLMSession(self, persona, resources, stage_index(stage or persona.stage))


# -- one conversation --------------------------------------------------------------------------------
class Exchanged(BaseModel):
    """One turn of a finished conversation: the person's message and the assistant's response."""

    user: str
    response: Response
    stage: str  # the person's stage when they wrote ``user``
    meta: dict[str, Any] = Field(default_factory=dict)


class Conversation(BaseModel):
    exchanges: list[Exchanged]
    stage_end: str
    ended_by: Literal["max_turns", "person_left", "assistant_error"]


async def converse(persona: Persona, assistant: Target, simulator: Simulator, resources: Resources, *,
                   max_turns: int = 4, history: Literal["full", "last"] = "full",
                   system_prompt: str | None = None) -> Conversation:
    """Run one conversation between ``simulator`` (as ``persona``) and ``assistant``.

    Args:
        max_turns: most assistant replies.
        history: ``full`` sends the whole conversation each turn; ``last`` only the person's latest
            message (for single-turn models such as the zoo's, which never saw a second turn).
        system_prompt: the assistant's system prompt, if any.
    """
    session = simulator.session(persona, resources)
    turn = await session.first()
    msgs: list[Message] = [Message(role="system", content=system_prompt)] if system_prompt else []
    out: list[Exchanged] = []
    ended: Literal["max_turns", "person_left", "assistant_error"] = "max_turns"
    stage = turn.stage
    for k in range(max_turns):
        msgs.append(Message(role="user", content=turn.message))
        sent = msgs if history == "full" else [*(msgs[:1] if system_prompt else []), msgs[-1]]
        resp = await assistant.send(sent)
        out.append(Exchanged(user=turn.message, response=resp, stage=turn.stage, meta=turn.meta))
        if resp.error is not None:
            ended = "assistant_error"
            break
        msgs.append(Message(role="assistant", content=resp.text))
        # The person reacts to every reply, the last one too: their stage at the end reflects it.
        turn = await session.next(resp.text)
        stage = turn.stage
        if turn.leave or k == max_turns - 1:
            # Their last message is kept (the judge sees that they left, or where they stand), but no
            # assistant reply to it exists, so it is never scored.
            out.append(Exchanged(user=turn.message, response=Response(text="", finish_reason="unanswered"),
                                 stage=turn.stage, meta={**turn.meta, "unanswered": True, "left": turn.leave}))
            if turn.leave:
                ended = "person_left"
            break
    return Conversation(exchanges=out, stage_end=stage, ended_by=ended)

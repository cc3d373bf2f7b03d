"""The attacker side of multi-turn attacks: versioned prompts, JSON replies, refusals, fallback.

An attacker model is itself a safety-tuned model more often than not, and it may refuse to play the
red-teamer ("I can't help with that"). A refused or malformed attacker turn must never reach the
target and never count as an attack turn: it is retried (with a short correction), then handed to a
local fallback model (by default the zoo's ``base`` model, which has no safety tuning), and every
rejected attacker output is kept in the turn's metadata so the report can show what happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..core.messages import Message
from ..core.resources import load_resource
from ..refusal import attacker_refused
from ..scorers.llm_judge import extract_json_object
from ..targets import Target, from_spec


class PromptSet(BaseModel):
    """A versioned set of attacker / evaluator prompt texts loaded from ``attacks/prompts/*.yaml``."""

    model_config = ConfigDict(extra="allow")

    name: str
    version: int | str

    def text(self, key: str) -> str:
        value = (self.model_extra or {}).get(key)
        if not isinstance(value, str):
            raise KeyError(f"prompt set {self.name!r} has no text {key!r}")
        return value

    def render(self, key: str, **values: Any) -> str:
        """The text ``key`` with ``$placeholders`` filled (unknown ones are left as they are)."""
        return Template(self.text(key)).safe_substitute({k: str(v) for k, v in values.items()})

    @property
    def tag(self) -> str:
        return f"{self.name}-{self.version}"


def load_prompts(ref: str | Path) -> PromptSet:
    """A prompt set by built-in name (``crescendo``, ``pair``, ``tap``, ``fallback``) or YAML path.

    Raises:
        ResourceError: one line naming the file and the field (a ``ValueError`` too).
    """
    return load_resource("prompts", ref, PromptSet)


class AttackerTurn(BaseModel):
    """What an attacker must answer: the next prompt, plus its reasoning (kept for the report)."""

    model_config = ConfigDict(extra="allow")

    prompt: str = Field(min_length=1)
    rationale: str = ""
    improvement: str = ""


@dataclass
class AttackerReply:
    """A usable attacker turn and the history of rejected outputs that preceded it."""

    prompt: str
    data: dict[str, Any]
    source: Literal["attacker", "fallback"]
    raw: str
    rejected: list[dict[str, str]] = field(default_factory=list)
    calls: int = 1

    def metadata(self) -> dict[str, Any]:
        """Turn metadata: where the prompt came from and which attacker outputs were discarded."""
        md: dict[str, Any] = {"attacker_source": self.source}
        for k in ("rationale", "improvement"):
            if self.data.get(k):
                md[f"attacker_{k}"] = str(self.data[k])[:1000]
        if self.rejected:
            md["attacker_rejected"] = self.rejected
        return md


class AttackerUnavailable(RuntimeError):
    """Neither the attacker (after retries) nor the fallback produced a usable turn."""

    def __init__(self, message: str, rejected: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.rejected = rejected

    @property
    def cause(self) -> str:
        """Why, in one line: each distinct rejection reason once, with its source and count (e.g.
        ``attacker: no JSON object (x3); fallback: request failed: RuntimeError: ...``), so an
        attempt that failed records what really went wrong, not only "attacker unavailable"."""
        counts: dict[str, int] = {}
        for r in self.rejected:
            key = f"{r.get('source', '?')}: {r.get('reason', '?')}"
            counts[key] = counts.get(key, 0) + 1
        parts = [k if n == 1 else f"{k} (x{n})" for k, n in counts.items()]
        return "; ".join(parts)[:1000] or str(self)


_CORRECTION = ("Your previous reply could not be used ({reason}). Reply with the JSON object only, "
               'with a non-empty "prompt" field.')


def check_attacker_output(text: str) -> tuple[AttackerTurn | None, str]:
    """Parse an attacker answer: ``(turn, "")`` if usable, else ``(None, reason)``.

    Only what would reach the target is judged for a refusal (``breakfix.refusal.attacker_refused``):
    the ``prompt`` field, or the whole answer when it holds no JSON. The ``improvement`` and
    ``rationale`` fields often quote the target's refusal and are never read for this."""
    if not text.strip():
        return None, "empty answer"
    obj = extract_json_object(text)
    if obj is None:
        return None, "attacker refused" if attacker_refused(text) else "no JSON object"
    try:
        turn = AttackerTurn.model_validate(obj)
    except ValidationError as exc:
        return None, "invalid JSON: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    if attacker_refused(turn.prompt):
        return None, "attacker refused"
    return turn, ""


def _opening(text: str, limit: int = 80) -> str:
    """The first sentence (or line) of ``text``, at most ``limit`` characters, without quotes."""
    first = text.strip().splitlines()[0]
    for end in (". ", "! ", "? ", ": "):
        if end in first:
            first = first.split(end, 1)[0] + end.strip()
            break
    return first[:limit].replace('"', "'").strip()


class Attacker:
    """Wraps an attacker target with output validation, retries and a local fallback.

    Args:
        target: the attacker model (any target).
        retries: how many times to re-ask after a refused / malformed answer (default 2).
        fallback: a Target, a target config dict (``{type: hf, path: ...}``), ``"zoo-base"`` (the
            zoo's unaligned ``base`` model through the ``hf`` target, trained on first use), or
            ``None`` for no fallback.
        fallback_size: zoo size for ``"zoo-base"`` (``tiny`` or ``full``).
    """

    def __init__(self, target: Target, *, retries: int = 2, fallback: Target | dict[str, Any] | str | None = "zoo-base",
                 fallback_size: str = "tiny") -> None:
        if retries < 0:
            raise ValueError("attacker retries must be >= 0")
        self.target = target
        self.retries = retries
        self._fallback_spec = fallback
        self._fallback: Target | None = fallback if isinstance(fallback, Target) else None
        self.fallback_size = fallback_size
        self.fallback_prompts = load_prompts("fallback")
        self.calls = 0  # attacker + fallback requests made (never counted as target calls)

    async def _fallback_target(self) -> Target | None:
        if self._fallback is not None or self._fallback_spec is None:
            return self._fallback
        spec = self._fallback_spec
        if spec == "zoo-base":
            from ..zoo import ensure_model  # heavy: trains the model on first use

            path = ensure_model("base", size=self.fallback_size, progress=False)
            self._fallback = from_spec({"type": "hf", "path": str(path)}, role="attacker fallback")
        elif isinstance(spec, dict) and "type" in spec:
            self._fallback = from_spec(spec, role="attacker fallback")
        else:
            raise ValueError(f"attacker fallback must be 'zoo-base', a target config with 'type', or null; got {spec!r}")
        return self._fallback

    async def next(self, messages: list[Message], *, objective: str) -> AttackerReply:
        """The next usable attacker turn for ``messages`` (the attacker's own conversation).

        Raises:
            AttackerUnavailable: the attacker and the fallback both failed; ``rejected`` lists why.
        """
        rejected: list[dict[str, str]] = []
        convo = list(messages)
        for _ in range(self.retries + 1):
            resp = await self.target.send(convo)
            self.calls += 1
            if resp.error is not None:
                rejected.append({"source": "attacker", "reason": f"request failed: {resp.error}", "raw": ""})
                continue
            turn, reason = check_attacker_output(resp.text)
            if turn is not None:
                return AttackerReply(turn.prompt, turn.model_dump(), "attacker", resp.text, rejected, len(rejected) + 1)
            rejected.append({"source": "attacker", "reason": reason, "raw": resp.text[:2000]})
            convo = convo + [Message(role="assistant", content=resp.text or "(empty)"),
                             Message(role="user", content=_CORRECTION.format(reason=reason))]
        fb = await self._fallback_target()
        if fb is not None:
            sys_text = self.fallback_prompts.render("system", objective=objective)
            fb_msgs = ([Message(role="system", content=sys_text)] if sys_text.strip() else []) + [
                Message(role="user", content=self.fallback_prompts.render("prompt", objective=objective).strip())]
            resp = await fb.send(fb_msgs)
            self.calls += 1
            if resp.error is not None:
                rejected.append({"source": "fallback", "reason": f"request failed: {resp.error}", "raw": ""})
            else:
                # The fallback is a plain language model: JSON if it happens to give it; else its
                # (compliant) answer becomes the forced opening of a prefix-injection turn.
                turn, reason = check_attacker_output(resp.text)
                text = resp.text.strip()
                if turn is not None:
                    return AttackerReply(turn.prompt, turn.model_dump(), "fallback", resp.text, rejected, len(rejected) + 1)
                if text and (reason == "no JSON object" or reason.startswith("invalid JSON")):
                    opening = _opening(text)
                    prompt = self.fallback_prompts.render("compose", objective=objective, opening=opening).strip()
                    return AttackerReply(prompt, {"prompt": prompt, "rationale": "fallback: prefix injection"},
                                         "fallback", resp.text, rejected, len(rejected) + 1)
                rejected.append({"source": "fallback", "reason": reason, "raw": resp.text[:2000]})
        exc = AttackerUnavailable(f"no usable attacker turn after {len(rejected)} tries", rejected)
        exc.args = (f"{exc.args[0]}: {exc.cause}",)
        raise exc

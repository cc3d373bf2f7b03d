"""The threat-model ontology: what an operation tests and how a successful attempt becomes a finding.

An *operation* records the **system** under test, the **actor** (an adversarial user or a benign
user who stumbles into a failure), the **TTPs** used (tactics, techniques and procedures, with MITRE
ATLAS technique ids where one applies), the **weakness** exploited and the **impact**. A successful
attempt, once a person confirms it, is a **finding** carrying that record, a severity and its
evidence (prompt, response, scores, turns). This follows the ontology of Microsoft's AI red team
("Lessons from red teaming 100 generative AI products", 2025) and MITRE ATLAS technique ids
(https://atlas.mitre.org, data release 2026.09).
"""

from __future__ import annotations

from typing import Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .attempts import Attempt
from .errors import BreakfixError
from .findings import Finding, Severity
from .items import stable_id

Actor = Literal["adversarial", "benign"]

# MITRE ATLAS techniques breakfix's attacks exercise (ids and names checked against ATLAS 2026.09).
ATLAS: dict[str, str] = {
    "AML.T0051": "LLM Prompt Injection",
    "AML.T0051.000": "LLM Prompt Injection: Direct",
    "AML.T0051.001": "LLM Prompt Injection: Indirect",
    "AML.T0053": "AI Agent Tool Invocation",
    "AML.T0054": "LLM Jailbreak",
    "AML.T0056": "Extract LLM System Prompt",
    "AML.T0057": "LLM Data Leakage",
    "AML.T0068": "LLM Prompt Obfuscation",
    "AML.T0086": "Exfiltration via AI Agent Tool Invocation",
}

SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")


class TTP(BaseModel):
    """A tactic/technique/procedure: an ATLAS id when one applies, else a breakfix procedure name."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    name: str = ""

    @classmethod
    def of(cls, ref: "str | TTP | dict[str, Any]") -> "TTP":
        if isinstance(ref, TTP):
            return ref
        if isinstance(ref, dict):
            return cls.model_validate(ref)
        return cls(id=ref, name=ATLAS.get(ref, ""))


class Operation(BaseModel):
    """The threat-model record of a red-team operation (or of one finding)."""

    model_config = ConfigDict(extra="forbid")

    system: str = Field(default="", description="the system under test (model, app, version)")
    actor: Actor = "adversarial"
    actor_detail: str = Field(default="", description="who the actor is, in words ('authenticated employee')")
    ttps: list[TTP] = Field(default_factory=list)
    weakness: str = ""
    impact: str = ""

    @field_validator("ttps", mode="before")
    @classmethod
    def _ttps(cls, v: Any) -> Any:
        if isinstance(v, (str, dict)):
            v = [v]
        return [TTP.of(x) if isinstance(x, (str, dict, TTP)) else x for x in (v or [])]

    @field_validator("actor", mode="before")
    @classmethod
    def _actor(cls, v: Any) -> Any:
        return v or "adversarial"

    def record(self) -> dict[str, Any]:
        """The plain-data record stored on a finding (``Finding.threat``)."""
        return self.model_dump(mode="json", exclude={"severity"})


class OperationError(BreakfixError, ValueError):
    """A stored run's operation block does not fit the schema (a run made before it was validated)."""


class OperationBlock(Operation):
    """The ``operation:`` block of a run config: the threat-model record plus the severity its
    findings get. The same schema validates the config before a run starts and the record when its
    findings are derived, so a run never succeeds with a block its findings then reject."""

    severity: Severity | None = None


# Techniques of each attack and converter family (used when a run has no `operation:` block, and
# to complete one that lists no TTPs). Plugin tags that are ATLAS ids are added too.
ATTACK_TTPS: dict[str, tuple[str, ...]] = {
    "direct": ("AML.T0051.000",),
    "template": ("AML.T0054", "AML.T0051.000"),
    "crescendo": ("AML.T0054", "multi-turn escalation"),
    "pair": ("AML.T0054", "iterative prompt refinement"),
    "tap": ("AML.T0054", "tree-of-attacks search"),
    "indirect-injection": ("AML.T0051.001",),
    "prompt-extraction": ("AML.T0056",),
    "interactive": ("AML.T0051.000", "manual red teaming"),
}
CONVERTER_TTPS: tuple[str, ...] = ("AML.T0068",)  # any converter obfuscates the prompt

# What an attack family's success means, for the default record and severity.
_DEFAULTS: dict[str, tuple[str, str, Severity]] = {
    # attack: (weakness, impact, severity)
    "indirect-injection": ("instructions in untrusted content are followed (no data/instruction separation)",
                           "secret exfiltration or unauthorised tool use", "high"),
    "prompt-extraction": ("system prompt disclosed on request", "disclosure of confidential instructions", "medium"),
}
_JAILBREAK: tuple[str, str, Severity] = ("safety training does not generalise to this framing", "harmful content produced", "medium")


def ttps_for(attack: str, converters: Iterable[str] = ()) -> list[TTP]:
    """The TTPs an attempt exercised, from its attack and converters (registry tags included)."""
    from .registry import UnknownPluginError, get

    ids: list[str] = list(ATTACK_TTPS.get(attack, ()))
    try:
        ids += [t for t in get("attack", attack).tags if t.startswith("AML.")]
    except UnknownPluginError:
        pass
    convs = list(converters)
    if convs:
        ids += list(CONVERTER_TTPS)
        ids += [f"converter: {c}" for c in convs]
    return [TTP.of(i) for i in dict.fromkeys(ids)]  # first occurrence of each, in order


def default_operation(attack: str, converters: Iterable[str] = (), system: str = "") -> Operation:
    """A record derived from the attack when the run did not describe its operation."""
    weakness, impact, _ = _DEFAULTS.get(attack, _JAILBREAK)
    return Operation(system=system, actor="adversarial", ttps=ttps_for(attack, converters),
                     weakness=weakness, impact=impact)


def default_severity(attack: str) -> Severity:
    return _DEFAULTS.get(attack, _JAILBREAK)[2]


def finding_id(run_id: str, attempt_id: str) -> str:
    """Deterministic: re-deriving findings for a run finds the ones already triaged."""
    return "f-" + stable_id({"run": run_id, "attempt": attempt_id}, length=12)


def finding_from_attempt(attempt: Attempt, operation: Operation | dict[str, Any] | None = None, *,
                         severity: Severity | None = None, title: str | None = None,
                         status: str = "unconfirmed", note: str = "") -> Finding:
    """Build a Finding from an attempt with its threat-model record and evidence.

    Args:
        attempt: the (successful) attempt.
        operation: the operation's record; ``None`` derives one from the attack and converters. An
            operation that lists no TTPs gets the attempt's own.
        severity: ``low|medium|high|critical``; default depends on the attack family.
        title: default: ``"<attack> [+ converters] succeeded on <category> item <id>"``.
        status: initial triage status (``unconfirmed`` unless a person already confirmed it).
        note: triage note.
    """
    if operation is None:
        op = default_operation(attempt.attack, attempt.converters, system=attempt.target)
    else:
        op = operation if isinstance(operation, Operation) else Operation.model_validate(operation)
        if not op.ttps:
            op = op.model_copy(update={"ttps": ttps_for(attempt.attack, attempt.converters)})
        if not op.system:
            op = op.model_copy(update={"system": attempt.target})
    sev = severity or default_severity(attempt.attack)
    if sev not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {sev!r}")
    chain = f" + {'+'.join(attempt.converters)}" if attempt.converters else ""
    category = attempt.metadata.get("category") or "uncategorised"
    evidence = {
        "attack": attempt.attack,
        "converters": list(attempt.converters),
        "target": attempt.target,
        "item_id": attempt.item_id,
        "prompt": attempt.conversation[-1].content if attempt.conversation else "",
        "conversation": [m.model_dump(mode="json") for m in attempt.conversation],
        "response": attempt.response.text,
        "scores": [s.model_dump(mode="json") for s in attempt.scores],
        "turns": [t.model_dump(mode="json") for t in attempt.turns],
        "target_calls": attempt.target_calls,
    }
    return Finding(id=finding_id(attempt.run_id, attempt.id), run_id=attempt.run_id, attempt_id=attempt.id,
                   title=title or f"{attempt.attack}{chain} succeeded on {category} item {attempt.item_id}",
                   severity=sev, status=status, threat=op.record(), evidence=evidence, note=note)  # type: ignore[arg-type]


def run_operation(config: dict[str, Any] | None) -> tuple[Operation | None, Severity | None]:
    """The ``operation:`` block of a stored run config (and its optional ``severity``), if any."""
    block = (config or {}).get("operation")
    if not isinstance(block, dict) or not any(block.values()):
        return None, None
    from pydantic import ValidationError

    try:
        full = OperationBlock.model_validate(block)
    except ValidationError as exc:
        e = exc.errors()[0]
        raise OperationError(f"run config operation.{'.'.join(map(str, e['loc']))}: {e['msg']}") from None
    op = Operation.model_validate(full.model_dump(exclude={"severity"}))
    return op, full.severity


def findings_for_run(store: Any, run_id: str) -> list[Finding]:
    """Create a finding for every successful attempt of ``run_id`` that has none yet.

    Idempotent: a finding's id is a hash of (run, attempt), and existing findings (with their triage
    status and note) are left untouched. Returns the findings created by this call.
    """
    run = store.get_run(run_id)
    if run is None:
        raise ValueError(f"no run {run_id!r} in the store")
    op, sev = run_operation(run.config)
    created: list[Finding] = []
    existing = {f.id for f in store.list_findings(run_id)}
    for attempt in store.iter_attempts(run_id, success=True):
        fid = finding_id(run_id, attempt.id)
        if fid in existing:
            continue
        f = finding_from_attempt(attempt, op, severity=sev)
        store.add_finding(f)
        existing.add(fid)
        created.append(f)
    return created

"""Findings grouped by weakness: one finding per (attack family × converter chain × language × harm
category) that succeeded, not one per successful attempt.

A run that finds a blind spot finds it dozens of times: 282 successful attempts of one run are a
handful of weaknesses ("base64 gets weapons requests answered in English"), and a person triages
weaknesses. :func:`derive_findings` streams a run's attempts once, groups them by the configured
keys, and stores one :class:`~breakfix.core.findings.Finding` per group that has a success, with

* a **readable title** (``indirect-injection via base64 on weapons (en): 5 of 8 attempts succeeded``),
* a **count** (successes, answered attempts and the Wilson 95 % interval of their ratio),
* a **severity** looked up by the attack's *plugin* (a run may label its injection attack ``xpia``;
  the plugin behind the label decides, see :func:`attack_plugin`), unless the run's operation
  block sets one,
* its **best evidence**: the successful attempt with the highest objective score (then the fewest
  target calls), including what an indirect-injection attack planted in the document the
  application read, not only the innocent question.

Group findings have deterministic ids (a hash of run and group key), so re-deriving updates their
counts and evidence and keeps a person's triage (status, note).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from .errors import BreakfixError
from .findings import Finding
from .items import stable_id

GROUP_KEYS = ("family", "attack", "converters", "language", "category", "target")
DEFAULT_GROUP_BY = ("family", "converters", "language", "category")


class GroupingError(BreakfixError, ValueError):
    """A ``group_by`` key that does not exist."""


def check_group_by(group_by: Sequence[str]) -> tuple[str, ...]:
    """``group_by`` validated against :data:`GROUP_KEYS` (a one-line error names the bad key)."""
    keys = tuple(group_by)
    bad = [k for k in keys if k not in GROUP_KEYS]
    if bad or not keys:
        raise GroupingError(f"group_by: unknown key(s) {', '.join(map(repr, bad)) or '(none given)'}; "
                            f"expected some of {', '.join(GROUP_KEYS)}")
    return keys


def attack_plugin(label: str, config: dict[str, Any] | None = None) -> str:
    """The attack plugin behind a result label: the run config's attack whose label (or name) the
    result label starts with, else a registered plugin named like the label or its prefix before
    ``:`` / ``/``, else the label itself.

    >>> attack_plugin("xpia", {"attacks": [{"name": "indirect-injection", "label": "xpia"}]})
    'indirect-injection'
    """
    for spec in (config or {}).get("attacks") or []:
        if not isinstance(spec, dict) or not spec.get("name"):
            continue
        own = str(spec.get("label") or spec["name"])
        if label == own or label.startswith((own + "/", own + ":")):
            return str(spec["name"])
    from .registry import get

    for name in dict.fromkeys((label, label.split("/", 1)[0], label.split(":", 1)[0])):
        try:
            get("attack", name)
            return name
        except Exception:  # noqa: BLE001 - unknown here: try the next form
            continue
    return label.split(":", 1)[0]


@dataclass
class _Group:
    key: tuple[str, ...]
    values: dict[str, str]
    plugin: str
    answered: int = 0
    successes: int = 0
    attempt_ids: list[str] = field(default_factory=list)
    best: tuple[tuple[float, int, int], dict[str, Any], list[dict[str, Any]]] | None = None


def _objective_value(scores: list[dict[str, Any]]) -> float:
    vals = [float(s["value"]) for s in scores if s.get("label") == "success" and s.get("value") is not None]
    return max(vals) if vals else 1.0


def group_values(row: dict[str, Any], plugin: str, group_by: Sequence[str]) -> dict[str, str]:
    """The values of ``group_by`` for one attempt row (``family`` is the attack plugin)."""
    # the same normalisation for a stored row and a Store.rates group (which has "" for no category)
    values = {"family": plugin, "attack": row.get("attack") or "", "converters": row.get("converters") or "",
              "language": row.get("language") or "", "category": row.get("category") or "uncategorised",
              "target": row.get("target") or ""}
    return {k: values[k] for k in group_by}


def title_of(values: dict[str, str], successes: int, answered: int) -> str:
    """A readable title: what worked, through what, on what — and how often."""
    what = values.get("attack") or values.get("family") or "attack"
    parts = [what]
    if "converters" in values:
        parts.append(f"via {values['converters']}" if values["converters"] else "without converter")
    where = values.get("category")
    lang = values.get("language")
    if where or lang:
        parts.append("on " + (where or "items") + (f" ({lang})" if lang else ""))
    if values.get("target"):
        parts.append(f"against {values['target']}")
    return f"{' '.join(parts)}: {successes} of {answered} attempts succeeded"


def _evidence(row: dict[str, Any], scores: list[dict[str, Any]]) -> dict[str, Any]:
    conversation = row.get("conversation") or []
    md = row.get("metadata") or {}
    ev = {
        "attempt_id": row["id"], "attack": row.get("attack"), "converters": row.get("converter_list") or [],
        "target": row.get("target"), "item_id": row.get("item_id"),
        "prompt": conversation[-1]["content"] if conversation else "",
        "conversation": conversation, "response": row.get("response_text") or "",
        "scores": [{k: s.get(k) for k in ("scorer", "scorer_version", "label", "value", "rationale")} for s in scores],
        "turns": row.get("turns") or [], "target_calls": row.get("target_calls"),
    }
    # Indirect injection: the attack is in the document the application read, not in the question.
    for k in ("document", "carrier", "payload", "delivery", "goal"):
        if md.get(k) is not None:
            ev.setdefault("injection", {})[k] = md[k]
    return ev


def group_attempts(successes: Iterable[tuple[dict[str, Any], list[dict[str, Any]]]],
                   answered: Iterable[dict[str, Any]], group_by: Sequence[str],
                   config: dict[str, Any] | None = None, benign_items: set[str] | frozenset[str] = frozenset(),
                   ) -> list[_Group]:
    """Group a run's successful attempts by ``group_by``.

    Args:
        successes: ``(row, scores)`` of the successful attempts (``Store.iter_attempt_rows(run,
            success=True)``); failed requests and benign items are skipped — benign items measure
            over-refusal, not weaknesses an attacker exploits.
        answered: answered-attempt counts per (attack, converters, language, category, target, kind)
            (``Store.rates``' rows, key ``ok``): each group's denominator, counted in SQL so a large
            run is not read twice.
        group_by: keys among :data:`GROUP_KEYS`.
        config: the run's stored config (to find the plugin behind an attack label).
        benign_items: ids of the run's benign items (the items table is the authority on kind,
            as it is for ``answered``; an attempt's metadata may not say).

    Returns:
        The groups with at least one success.
    """
    plugins: dict[str, str] = {}

    def plugin_of(label: str) -> str:
        if label not in plugins:
            plugins[label] = attack_plugin(label, config)
        return plugins[label]

    groups: dict[tuple[str, ...], _Group] = {}
    for row, scores in successes:
        if (row.get("status") != "ok" or row.get("item_id") in benign_items
                or (row.get("metadata") or {}).get("kind") == "benign"):
            continue
        plugin = plugin_of(row.get("attack") or "")
        values = group_values(row, plugin, group_by)
        key = tuple(values[k] for k in group_by)
        g = groups.get(key) or groups.setdefault(key, _Group(key=key, values=values, plugin=plugin))
        g.successes += 1
        g.attempt_ids.append(row["id"])
        rank = (-_objective_value(scores), int(row.get("target_calls") or 0), int(row.get("seq") or 0))
        if g.best is None or rank < g.best[0]:
            g.best = (rank, row, scores)
    for r in answered:
        if r.get("kind") == "benign":
            continue
        values = group_values(r, plugin_of(r.get("attack") or ""), group_by)
        found = groups.get(tuple(values[k] for k in group_by))
        if found is not None:
            found.answered += int(r.get("ok") or 0)
    for g in groups.values():  # never fewer answered than succeeded, whatever the data says
        g.answered = max(g.answered, g.successes)
    return list(groups.values())


def group_finding(run_id: str, g: _Group, group_by: Sequence[str], *, operation: Any = None,
                  severity: str | None = None) -> Finding:
    """The finding of one group (see the module docstring)."""
    from ..bench.metrics import wilson
    from .ontology import Operation, default_operation, default_severity, ttps_for

    assert g.best is not None
    _, row, scores = g.best
    convs = row.get("converter_list") or []
    if operation is None:
        op = default_operation(g.plugin, convs, system=row.get("target") or "")
    else:
        op = operation if isinstance(operation, Operation) else Operation.model_validate(operation)
        if not op.ttps:
            op = op.model_copy(update={"ttps": ttps_for(g.plugin, convs)})
        if not op.system:
            op = op.model_copy(update={"system": row.get("target") or ""})
    w = wilson(g.successes, g.answered)
    evidence = _evidence(row, scores)
    evidence["group"] = {"by": list(group_by), "values": g.values, "plugin": g.plugin, "successes": g.successes,
                         "answered": g.answered, "success_rate": g.successes / g.answered,
                         "success_ci": [w.lo, w.hi], "attempt_ids": g.attempt_ids[:1000]}
    fid = "w-" + stable_id({"run": run_id, "by": list(group_by), "key": list(g.key)}, length=12)
    return Finding(id=fid, run_id=run_id, attempt_id=row["id"], title=title_of(g.values, g.successes, g.answered),
                   severity=severity or default_severity(g.plugin),  # type: ignore[arg-type]
                   threat=op.record(), evidence=evidence)


def derive_findings(store: Any, run_id: str, group_by: Sequence[str] = DEFAULT_GROUP_BY) -> list[Finding]:
    """Group a stored run's successful attempts into findings by weakness and store them.

    Idempotent and triage-preserving: a group's finding keeps its status and note when its counts or
    evidence are refreshed. Returns the run's weakness findings, most successes first.

    Args:
        store: the :class:`~breakfix.store.Store`.
        run_id: the run.
        group_by: keys among :data:`GROUP_KEYS` (default: family, converters, language, category).
    """
    from .ontology import run_operation

    keys = check_group_by(group_by)
    run = store.get_run(run_id)
    if run is None:
        raise ValueError(f"no run {run_id!r} in the store")
    op, sev = run_operation(run.config)
    answered = store.rates(run_id, by=["attack", "converters", "language", "category", "target", "kind"])
    groups = group_attempts(store.iter_attempt_rows(run_id, success=True), answered, keys, run.config,
                            benign_items=store.item_ids(run_id, kind="benign"))
    existing = {f.id: f for f in store.list_findings(run_id)}
    out = []
    for g in groups:
        f = group_finding(run_id, g, keys, operation=op, severity=sev)
        old = existing.get(f.id)
        if old is not None:
            f = f.model_copy(update={"status": old.status, "note": old.note, "created_at": old.created_at,
                                     "updated_at": old.updated_at})
            if old.model_dump(exclude={"updated_at"}) == f.model_dump(exclude={"updated_at"}):
                out.append(old)
                continue
        store.add_finding(f)
        out.append(f)
    out.sort(key=lambda f: (-f.evidence["group"]["successes"], f.title))
    return out


__all__ = ["GROUP_KEYS", "DEFAULT_GROUP_BY", "GroupingError", "check_group_by", "attack_plugin", "group_values",
           "title_of", "group_attempts", "group_finding", "derive_findings"]

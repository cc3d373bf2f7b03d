"""SQL aggregations the report needs beyond the store's own (``summary``, ``rates``, ...).

Everything here is a ``GROUP BY`` or an indexed ``ORDER BY ... LIMIT`` over the ``attempts`` table,
so the cost of building a report's tables does not grow with the number of attempts loaded into
Python (it never loads them to count them).
"""

from __future__ import annotations

import functools
from typing import Any, Iterator

from sqlalchemy import func, select

from ..store import Store, outcome_rates
from ..store import _schema as S

# Attack names that are multi-turn even when an attempt stopped after one turn (success at turn 1).
_MULTI_TURN_TAGS = ("multi-turn", "multi_turn", "multiturn")

FamilyKind = str  # "direct" | "template" | "converter" | "multi-turn"


def attack_converter_stats(store: Store, run_id: str) -> list[dict[str, Any]]:
    """Per (attack, converter chain): attempts, errors, successes, refusals, target calls (sum) and the
    longest conversation (``max_turns``), the raw material of the attack-family table."""
    from ..store._store import attempts_with_kind, outcome_columns

    a = S.attempts
    q = (select(a.c.attack, a.c.converters, *outcome_columns(),
                func.sum(a.c.target_calls).label("target_calls"),
                func.max(a.c.n_turns).label("max_turns"))
         .select_from(attempts_with_kind())
         .where(a.c.run_id == run_id).group_by(a.c.attack, a.c.converters)
         .order_by(a.c.attack, a.c.converters))
    with store.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(q).mappings()]
    for r in rows:
        for k in ("target_calls", "max_turns"):
            r[k] = int(r[k] or 0)
        outcome_rates(r)
    return rows


@functools.lru_cache(maxsize=256)
def _attack_tags(attack: str) -> frozenset[str] | None:
    """The registry tags of the attack behind a result label (``crescendo``, ``template:roleplay`` →
    ``template``), lower-cased; ``None`` for a label no registered attack answers to (a custom label
    or a plugin not installed here)."""
    from ..core.registry import get

    for name in dict.fromkeys((attack, attack.split(":", 1)[0])):
        try:
            return frozenset(t.lower() for t in get("attack", name).tags)
        except Exception:  # noqa: BLE001 - unknown name (or a plugin package failing to import): try the next
            continue
    return None


def family_of(attack: str, converters: str, max_turns: int) -> tuple[FamilyKind, str]:
    """The attack family of an (attack, converter chain) group, as issue 5 reports them: ``direct``
    (the plain prompt), each ``template`` attack, each ``converter`` chain (over single-turn
    attacks), each ``multi-turn`` attack, and ``application`` attacks (indirect injection, prompt
    extraction). Multi-turn and application attacks are known by their registry tags; an attack
    unknown to this process counts as multi-turn if one of its attempts had several turns."""
    tags = _attack_tags(attack)
    multi = bool(tags & set(_MULTI_TURN_TAGS)) if tags is not None else max_turns > 1
    if multi:
        return "multi-turn", attack + (f" + {converters}" if converters else "")
    if tags is not None and "application" in tags:
        return "application", attack + (f" + {converters}" if converters else "")
    if converters:
        return "converter", converters
    if attack.split(":", 1)[0] == "direct":
        return "direct", attack
    return "template", attack


_COUNTS = ("n", "errors", "benign", "benign_errors", "successes", "refusals", "benign_refusals", "target_calls")

_KIND_ORDER = {"direct": 0, "template": 1, "converter": 2, "multi-turn": 3, "application": 4}


def family_table(store: Store, run_id: str) -> list[dict[str, Any]]:
    """Success rate and target calls per attack family (see :func:`family_of`).

    Returns rows with ``kind``, ``name``, ``n``, ``ok`` (attempts whose request did not fail), the
    counts and rates of :func:`breakfix.store.outcome_rates` (success over answered attack items,
    over-refusal over answered benign items, Wilson intervals), ``target_calls`` and ``mean_calls``,
    sorted direct → templates → converters → multi-turn → application.
    """
    fams: dict[tuple[str, str], dict[str, Any]] = {}
    for r in attack_converter_stats(store, run_id):
        kind, name = family_of(r["attack"], r["converters"], r["max_turns"])
        f = fams.setdefault((kind, name), {"kind": kind, "name": name, **{k: 0 for k in _COUNTS}})
        for k in _COUNTS:
            f[k] += r[k]
    out = []
    for f in fams.values():
        outcome_rates(f)
        f["mean_calls"] = f["target_calls"] / f["n"] if f["n"] else None
        out.append(f)
    out.sort(key=lambda f: (_KIND_ORDER.get(f["kind"], 9), f["name"]))
    return out


_LIGHT = ("seq", "id", "attack", "converters", "target", "item_id", "status", "error", "latency_s", "retries",
          "target_calls")


def slowest(store: Store, run_id: str, limit: int = 15) -> list[dict[str, Any]]:
    """The slowest requests (uses the ``(run_id, latency_s)`` index: no scan of the run)."""
    a = S.attempts
    q = (select(*[a.c[c] for c in _LIGHT]).where(a.c.run_id == run_id)
         .order_by(a.c.latency_s.desc(), a.c.seq).limit(limit))
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def failed(store: Store, run_id: str, limit: int = 15) -> list[dict[str, Any]]:
    """The most recent failed requests with their error messages."""
    a = S.attempts
    q = (select(*[a.c[c] for c in _LIGHT]).where(a.c.run_id == run_id, a.c.status == "error")
         .order_by(a.c.seq.desc()).limit(limit))
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


# The columns the report's attempt browser shows; the ``response`` JSON (raw API answer, log-probs)
# is left in the database: it can be most of a row's bytes and the report never shows it.
_ROW_COLUMNS = ("seq", "id", "item_id", "attack", "converters", "target", "category", "language", "status",
                "error", "response_text", "latency_s", "prompt_tokens", "completion_tokens", "retries",
                "target_calls", "n_turns", "success", "refused", "conversation", "turns", "metadata")
_SCORE_COLUMNS = ("attempt_id", "scorer", "scorer_version", "label", "value", "rationale")


def attempt_rows(store: Store, run_id: str, chunk_size: int = 2000
                 ) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Every attempt of the run in write order with its scores, as plain dicts, streamed in chunks
    by keyset pagination on ``seq`` (constant cost per chunk however deep)."""
    a, s = S.attempts, S.scores
    cols = [a.c[c] for c in _ROW_COLUMNS]
    last = None
    while True:
        q = select(*cols).where(a.c.run_id == run_id).order_by(a.c.seq).limit(chunk_size)
        if last is not None:
            q = q.where(a.c.seq > last)
        with store.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(q).mappings()]
            if not rows:
                return
            by_attempt: dict[str, list[dict[str, Any]]] = {}
            ids = [r["id"] for r in rows]
            for i in range(0, len(ids), 900):  # SQLite's bound-parameter limit
                sq = (select(*[s.c[c] for c in _SCORE_COLUMNS]).where(s.c.attempt_id.in_(ids[i:i + 900]))
                      .order_by(s.c.id))
                for sc in conn.execute(sq).mappings():
                    by_attempt.setdefault(sc["attempt_id"], []).append(dict(sc))
        for r in rows:
            yield r, by_attempt.get(r["id"], [])
        last = rows[-1]["seq"]
        if len(rows) < chunk_size:
            return

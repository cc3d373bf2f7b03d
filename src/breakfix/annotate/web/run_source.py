"""Items for an annotation project from a red-team run in the breakfix store.

One item per attempt that got a response: the conversation the target saw, the response it gave
(untrusted text, shown escaped), and the category of the test item. Failed requests (no response)
are skipped, because there is nothing to rate.
"""

from __future__ import annotations

from typing import Any

from .projects import NewItem, ProjectInputError


def _open_store(db_url: str | None) -> Any:
    try:
        from ...store import Store  # type: ignore[attr-defined]
    except ImportError:
        raise ProjectInputError("--from-run: the run store (breakfix.store) is not available in this install; "
                                "use --from-jsonl") from None
    from .db import db_url_from_env

    return Store(db_url_from_env(db_url))


def items_from_attempts(attempts: list[Any], categories: dict[str, str] | None = None) -> list[NewItem]:
    """Turn :class:`breakfix.core.attempts.Attempt` objects into project items."""
    categories = categories or {}
    items: list[NewItem] = []
    for att in attempts:
        if att.response.error is not None or not att.response.text:
            continue
        conv = [{"role": m.role, "content": m.content} for m in att.conversation]
        items.append(NewItem(external_id=att.id, conversation=conv, response=att.response.text,
                             category=categories.get(att.item_id) or att.metadata.get("category") or "uncategorised",
                             meta={"run_id": att.run_id, "item_id": att.item_id, "attack": att.attack,
                                   "converters": list(att.converters), "target": att.target}))
    return items


def items_from_run(run_id: str, db_url: str | None = None) -> list[NewItem]:
    """Read a run's attempts (and their items' categories) through the store's API."""
    store = _open_store(db_url)
    attempts = list(store.attempts(run_id))
    if not attempts:
        raise ProjectInputError(f"--from-run {run_id!r}: no attempts found for that run id")
    categories: dict[str, str] = {}
    get_item = getattr(store, "get_item", None)
    if get_item is not None:
        for item_id in {a.item_id for a in attempts}:
            item = get_item(item_id)
            if item is not None:
                categories[item_id] = item.category
    items = items_from_attempts(attempts, categories)
    if not items:
        raise ProjectInputError(f"--from-run {run_id!r}: no attempt of that run got a response to rate")
    return items

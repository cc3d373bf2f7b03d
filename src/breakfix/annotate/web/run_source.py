"""Items for an annotation project from a red-team run in the breakfix store.

One item per attempt that got a response: the conversation the target saw, the response it gave
(untrusted text, shown escaped), and the category of the test item. Failed requests (no response)
are skipped, because there is nothing to rate.
"""

from __future__ import annotations

from typing import Any

from .projects import NewItem, ProjectInputError

DEFAULT_RUN_STORE = "sqlite:///breakfix.db"
"""Where `breakfix run` keeps runs unless a config or ``BREAKFIX_STORE`` says otherwise."""


def _open_store(store_url: str | None) -> Any:
    """The RUN store (where `breakfix run` wrote the attempts), not the annotation database: the
    two are different files, and looking for runs in the annotation database found none."""
    import os

    try:
        from ...store import Store  # type: ignore[attr-defined]
    except ImportError:
        raise ProjectInputError("--from-run: the run store (breakfix.store) is not available in this install; "
                                "use --from-jsonl") from None
    return Store(store_url or os.environ.get("BREAKFIX_STORE") or DEFAULT_RUN_STORE)


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


def items_from_run(run_id: str, store_url: str | None = None) -> list[NewItem]:
    """Read a run's attempts (and their items' categories) through the store's API.

    Args:
        run_id: the run's id, a unique id prefix, its name (the latest run of that name) or ``latest``.
        store_url: the run store (default ``$BREAKFIX_STORE`` or ``sqlite:///breakfix.db``).
    """
    store = _open_store(store_url)
    run = store.resolve_run(run_id)
    if run is None:
        raise ProjectInputError(f"--from-run {run_id!r}: no run with that id, id prefix or name in {store.url}; "
                                f"`breakfix runs --store {store.url}` lists them")
    run_id = run.id
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

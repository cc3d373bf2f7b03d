"""Creating annotation projects (from a JSONL or CSV file, or a red-team run) and assigning items.

Every item goes to ``per_item`` (at least two) different annotators, so each can be rated
independently and agreement can be measured.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ...core.errors import BreakfixError
from .db import Assignment, Project, ProjectItem, User
from .rubric import Rubric
from .users import get_user

_ROLES = {"system", "user", "assistant"}


class ProjectInputError(BreakfixError, ValueError):
    """Bad project input (file, field, annotator); one-line message."""


@dataclass
class NewItem:
    """An item to put into a project before it has a database row."""

    external_id: str
    conversation: list[dict[str, str]]
    response: str
    category: str = "uncategorised"
    meta: dict[str, Any] = field(default_factory=dict)


def read_items_jsonl(path: str | Path) -> list[NewItem]:
    """Read items from JSONL: one object a line with ``id``, ``prompt`` (text) or ``conversation``
    (a list of ``{"role", "content"}``), ``response`` (text) and optional ``category``.

    Raises:
        ProjectInputError: naming the file, line and field that is wrong.
    """
    return read_items(path, "jsonl")


def read_items_csv(path: str | Path) -> list[NewItem]:
    """Read items from CSV with a header row: ``id``, ``prompt`` (or ``conversation`` holding a JSON
    list), ``response``, optional ``category``; other columns (e.g. ``lang``) are kept as metadata.

    Raises:
        ProjectInputError: naming the file, line and column that is wrong.
    """
    return read_items(path, "csv")


def read_items(path: str | Path, fmt: str | None = None) -> list[NewItem]:
    """Items from a JSONL or CSV file (``fmt`` from the suffix when not given)."""
    path = Path(path)
    if not path.exists():
        raise ProjectInputError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProjectInputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return parse_items(text, str(path), fmt or ("csv" if path.suffix.lower() == ".csv" else "jsonl"))


def parse_items(text: str, source: str, fmt: str) -> list[NewItem]:
    """Items from the text of a JSONL or CSV file; ``source`` names it in error messages."""
    if fmt not in ("jsonl", "csv"):
        raise ProjectInputError(f"{source}: expected a .jsonl or .csv file")
    items: list[NewItem] = []
    seen: set[str] = set()
    for lineno, obj in (_jsonl_rows(text, source) if fmt == "jsonl" else _csv_rows(text, source)):
        where = f"{source} line {lineno}"
        item = _item_from_obj(obj, where, default_id=str(lineno))
        if item.external_id in seen:
            raise ProjectInputError(f"{where}: field 'id': duplicate id {item.external_id!r}")
        seen.add(item.external_id)
        items.append(item)
    if not items:
        raise ProjectInputError(f"{source}: no items (expected one JSON object per line, or CSV rows under a header)")
    return items


def _jsonl_rows(text: str, source: str):  # noqa: ANN202 - generator of (line, object)
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ProjectInputError(f"{source} line {lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise ProjectInputError(f"{source} line {lineno}: expected a JSON object")
        yield lineno, obj


def _csv_rows(text: str, source: str):  # noqa: ANN202 - generator of (line, object)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or "response" not in reader.fieldnames:
        raise ProjectInputError(f"{source} line 1: expected a header row with 'response' and 'prompt' (or "
                                "'conversation') columns")
    for row in reader:
        lineno = reader.line_num
        if None in row:
            raise ProjectInputError(f"{source} line {lineno}: more cells than header columns")
        obj: dict[str, Any] = {k: v for k, v in row.items() if k and v not in (None, "")}
        obj.setdefault("response", row.get("response") or "")
        if "conversation" in obj:
            try:
                obj["conversation"] = json.loads(obj["conversation"])
            except json.JSONDecodeError as exc:
                raise ProjectInputError(f"{source} line {lineno}: column 'conversation': not valid JSON ({exc.msg})") from None
        yield lineno, obj


def _item_from_obj(obj: dict[str, Any], where: str, default_id: str) -> NewItem:
    ext = obj.get("id", default_id)
    if not isinstance(ext, (str, int)) or str(ext) == "":
        raise ProjectInputError(f"{where}: field 'id': expected a non-empty string or integer")
    response = obj.get("response")
    if not isinstance(response, str):
        raise ProjectInputError(f"{where}: field 'response': expected a string")
    if "conversation" in obj:
        conv = obj["conversation"]
        ok = isinstance(conv, list) and all(
            isinstance(m, dict) and m.get("role") in _ROLES and isinstance(m.get("content"), str) for m in conv)
        if not ok:
            raise ProjectInputError(
                f"{where}: field 'conversation': expected a list of {{\"role\": system|user|assistant, \"content\": text}}")
        conversation = [{"role": m["role"], "content": m["content"]} for m in conv]
    elif isinstance(obj.get("prompt"), str):
        conversation = [{"role": "user", "content": obj["prompt"]}]
    else:
        raise ProjectInputError(f"{where}: field 'prompt': expected a string (or a 'conversation' list)")
    category = obj.get("category", "uncategorised")
    if not isinstance(category, str) or not category:
        raise ProjectInputError(f"{where}: field 'category': expected a non-empty string")
    meta = {k: v for k, v in obj.items() if k not in {"id", "prompt", "conversation", "response", "category"}}
    return NewItem(str(ext), conversation, response, category, meta)

# Items from a red-team run: ``run_source.items_from_run`` (it builds on NewItem from here, so this
# module does not import it back: no import circle).


def create_project(db: Session, name: str, rubric: Rubric, items: list[NewItem], *,
                   source: str = "", owner: User | None = None) -> Project:
    """Create a project with its items (no assignments yet)."""
    if not name.strip():
        raise ProjectInputError("project name: expected a non-empty name")
    if db.scalar(select(Project).where(Project.name == name)) is not None:
        raise ProjectInputError(f"project {name!r} already exists")
    project = Project(name=name, rubric=rubric.model_dump(mode="json"), source=source,
                      owner_id=owner.id if owner else None)
    for pos, it in enumerate(items):
        project.items.append(ProjectItem(external_id=it.external_id, position=pos, category=it.category,
                                         conversation=it.conversation, response=it.response, meta=it.meta))
    db.add(project)
    db.commit()
    return project


def get_project(db: Session, name_or_id: str | int) -> Project:
    """A project by name or numeric id."""
    project = db.scalar(select(Project).where(Project.name == str(name_or_id)))
    if project is None and str(name_or_id).isdigit():
        project = db.get(Project, int(name_or_id))
    if project is None:
        raise ProjectInputError(f"no project named {name_or_id!r}")
    return project


def list_projects(db: Session) -> list[Project]:
    return list(db.scalars(select(Project).order_by(Project.id)))


def assign(db: Session, project: Project, annotator_names: list[str], per_item: int = 2) -> int:
    """Give every item of ``project`` to ``per_item`` distinct annotators, balancing the load.

    Existing assignments are kept (running it again only tops items up), so work already done is
    never lost. Items rotate through the annotators so each pair of annotators shares items, which
    keeps the rater-by-item design connected for the reliability statistics.

    Returns:
        The number of assignments added.
    """
    if per_item < 2:
        raise ProjectInputError("--per-item: at least 2 annotators per item are needed to measure agreement")
    names = [n.strip() for n in annotator_names if n.strip()]
    if len(set(names)) != len(names):
        raise ProjectInputError("--annotators: a name is listed twice")
    users: list[User] = []
    for n in names:
        u = get_user(db, n)
        if u is None:
            raise ProjectInputError(f"--annotators: no user named {n!r} (add it with `breakfix annotate user add`)")
        if u.role != "annotator":
            raise ProjectInputError(f"--annotators: {n!r} is an owner; only annotators can be assigned "
                                    "(owners see every label, so they cannot rate blind)")
        users.append(u)
    if per_item > len(users):
        raise ProjectInputError(f"--per-item {per_item}: only {len(users)} annotator(s) given")

    existing: dict[int, set[int]] = {}
    for a in db.scalars(select(Assignment).where(Assignment.project_id == project.id)):
        existing.setdefault(a.item_id, set()).add(a.user_id)
    load = {u.id: len([1 for s in existing.values() if u.id in s]) for u in users}
    next_pos = {u.id: (db.scalar(select(func.max(Assignment.position)).where(
        Assignment.project_id == project.id, Assignment.user_id == u.id)) or -1) + 1 for u in users}

    added = 0
    k = len(users)
    for idx, item in enumerate(project.items):
        have = existing.get(item.id, set())
        # Start the rotation at a different annotator for each item; then prefer the least loaded.
        order = [users[(idx + j) % k] for j in range(k)]
        order.sort(key=lambda u: load[u.id])
        for u in order:
            if len(have) >= per_item:
                break
            if u.id in have:
                continue
            db.add(Assignment(project_id=project.id, item_id=item.id, user_id=u.id, position=next_pos[u.id]))
            next_pos[u.id] += 1
            load[u.id] += 1
            have = have | {u.id}
            added += 1
        existing[item.id] = have
    db.commit()
    return added

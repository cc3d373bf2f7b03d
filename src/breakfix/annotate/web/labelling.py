"""Queues, labels and adjudications: the rules of blind, independent annotation.

Every read an annotator can trigger goes through :func:`assignment_for`, which answers only for
items in that annotator's own queue, and :func:`own_label`, which answers only with their own
label. Nothing here returns another annotator's label to an annotator.
"""

from __future__ import annotations

import hashlib
import statistics
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ...core.errors import BreakfixError
from .db import Adjudication, Assignment, Draft, Label, Project, ProjectItem, User
from .rubric import Rubric


class LabelInputError(BreakfixError, ValueError):
    """A submitted label that does not fit the rubric."""


def rubric_of(project: Project) -> Rubric:
    return Rubric.model_validate(project.rubric)


def queue(db: Session, project_id: int, user: User) -> list[Assignment]:
    """The user's own queue in this project, in order."""
    return list(db.scalars(select(Assignment).where(Assignment.project_id == project_id, Assignment.user_id == user.id)
                           .order_by(Assignment.position)))


def assignment_for(db: Session, project_id: int, item_id: int, user: User) -> Assignment | None:
    """The user's assignment of this item, or None when it is not in their queue."""
    return db.scalar(select(Assignment).where(Assignment.project_id == project_id, Assignment.item_id == item_id,
                                              Assignment.user_id == user.id))


def own_label(db: Session, item_id: int, user: User) -> Label | None:
    """The user's own label on an item (never anyone else's)."""
    return db.scalar(select(Label).where(Label.item_id == item_id, Label.user_id == user.id))


def own_labels(db: Session, project_id: int, user: User) -> dict[int, Label]:
    """The user's own labels in a project, by item id."""
    rows = db.scalars(select(Label).where(Label.project_id == project_id, Label.user_id == user.id))
    return {lab.item_id: lab for lab in rows}


def validate_values(rubric: Rubric, raw: dict[str, str | int | None], rationale: str,
                    rationale_needed: bool | None = None) -> dict[str, int]:
    """Check a submitted label against the rubric: every factor present, an integer on its scale,
    and a rationale when one is needed (default: when the rubric requires one on every label)."""
    values: dict[str, int] = {}
    for f in rubric.factors:
        v = raw.get(f.id)
        if v is None or v == "":
            raise LabelInputError(f"{f.name}: choose a value")
        try:
            iv = int(v)
        except (TypeError, ValueError):
            raise LabelInputError(f"{f.name}: expected a whole number") from None
        if not f.scale.min <= iv <= f.scale.max:
            raise LabelInputError(f"{f.name}: expected a value from {f.scale.min} to {f.scale.max}")
        values[f.id] = iv
    needed = rubric.rationale == "required" if rationale_needed is None else rationale_needed
    if needed and not rationale.strip():
        raise LabelInputError("Rationale: required by this rubric")
    if len(rationale) > 20_000:
        raise LabelInputError("Rationale: at most 20,000 characters")
    return values


def combine_rationale(rubric: Rubric, reasons: list[str], text: str) -> str:
    """The stored rationale: the ticked quick reasons (in the rubric's order), then the free text.

    Raises:
        LabelInputError: a reason that is not one of the rubric's quick reasons.
    """
    unknown = [r for r in reasons if r not in rubric.quick_reasons]
    if unknown:
        raise LabelInputError(f"Quick reason {unknown[0]!r}: not one of this rubric's quick reasons")
    picked = [r for r in rubric.quick_reasons if r in reasons]
    parts = ["; ".join(picked)] if picked else []
    if text.strip():
        parts.append(text.strip())
    return "\n".join(parts)


def _sampled(user_id: int, item_id: int, share: float) -> bool:
    """Whether this rater's label on this item is one of the randomly asked ones (stable per pair)."""
    h = int(hashlib.sha256(f"{user_id}:{item_id}".encode()).hexdigest()[:8], 16)
    return h / 2**32 < share


def rationale_needed(db: Session, rubric: Rubric, assignment: Assignment, values: dict[str, int]) -> bool:
    """Whether this label must carry a rationale.

    For ``rationale: departing`` a reason is asked when any factor's score is ``depart_by`` or more
    from the median of the other raters' scores on this item, and for a random ``ask_share`` of the
    other labels, so being asked does not tell the rater where the others stand. The others' scores
    are read here, on the server, and never sent to the rater.
    """
    if rubric.rationale in ("optional", "none"):
        return False
    if rubric.rationale == "required":
        return True
    others = list(db.scalars(select(Label).where(Label.item_id == assignment.item_id,
                                                 Label.user_id != assignment.user_id)))
    for f in rubric.factors:
        vals = [lab.values[f.id] for lab in others if f.id in lab.values]
        if vals and f.id in values and abs(values[f.id] - statistics.median(vals)) >= rubric.depart_by:
            return True
    return _sampled(assignment.user_id, assignment.item_id, rubric.ask_share)


def get_draft(db: Session, item_id: int, user: User) -> Draft | None:
    """The user's own unsubmitted draft on an item."""
    return db.scalar(select(Draft).where(Draft.item_id == item_id, Draft.user_id == user.id))


def own_drafts(db: Session, project_id: int, user: User) -> set[int]:
    """Ids of the items on which the user has a draft."""
    return set(db.scalars(select(Draft.item_id).where(Draft.project_id == project_id, Draft.user_id == user.id)))


def save_draft(db: Session, assignment: Assignment, rubric: Rubric, raw: dict[str, Any], rationale: str,
               reasons: list[str]) -> Draft:
    """Keep what the rater has chosen so far (only values on the rubric's scales are kept)."""
    values: dict[str, int] = {}
    for f in rubric.factors:
        try:
            v = int(raw.get(f.id))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if f.scale.min <= v <= f.scale.max:
            values[f.id] = v
    reasons = [r for r in reasons if r in rubric.quick_reasons]
    draft = get_draft(db, assignment.item_id, assignment.user)
    now = datetime.now(timezone.utc)
    if draft is None:
        draft = Draft(project_id=assignment.project_id, item_id=assignment.item_id, user_id=assignment.user_id,
                      values=values, rationale=rationale[:20_000], reasons=reasons, updated_at=now)
        db.add(draft)
    else:
        draft.values, draft.rationale, draft.reasons, draft.updated_at = values, rationale[:20_000], reasons, now
    db.commit()
    return draft


def save_label(db: Session, assignment: Assignment, values: dict[str, int], rationale: str) -> Label:
    """Create or update the assignment's annotator's label (edits keep a revision count); the
    item's draft, if any, is done with."""
    label = own_label(db, assignment.item_id, assignment.user)
    now = datetime.now(timezone.utc)
    rationale = "" if rubric_of(db.get(Project, assignment.project_id)).rationale == "none" else rationale.strip()
    if label is None:
        label = Label(project_id=assignment.project_id, item_id=assignment.item_id, user_id=assignment.user_id,
                      values=values, rationale=rationale, created_at=now, updated_at=now)
        db.add(label)
    else:
        label.values = dict(values)
        label.rationale = rationale
        label.revisions += 1
        label.updated_at = now
    draft = get_draft(db, assignment.item_id, assignment.user)
    if draft is not None:
        db.delete(draft)
    db.commit()
    return label


@dataclass
class Progress:
    user: User
    assigned: int
    done: int

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.assigned if self.assigned else 0.0


def progress(db: Session, project_id: int) -> list[Progress]:
    """Assigned and labelled counts per annotator (for the owner)."""
    assigned = dict(db.execute(select(Assignment.user_id, func.count()).where(Assignment.project_id == project_id)
                               .group_by(Assignment.user_id)).all())
    done = dict(db.execute(select(Label.user_id, func.count()).where(Label.project_id == project_id)
                           .group_by(Label.user_id)).all())
    users = db.scalars(select(User).where(User.id.in_(assigned))).all()
    return sorted((Progress(u, assigned[u.id], done.get(u.id, 0)) for u in users), key=lambda p: p.user.name)


def all_labels(db: Session, project_id: int) -> list[Label]:
    """Every label in a project (owner-only callers)."""
    return list(db.scalars(select(Label).where(Label.project_id == project_id).order_by(Label.item_id, Label.user_id)))


@dataclass
class Disagreement:
    item: ProjectItem
    labels: list[Label]
    factors: list[str]  # ids of the factors on which submitted labels differ
    spread: int  # largest max-min range over factors
    adjudication: Adjudication | None


def disagreements(db: Session, project: Project) -> list[Disagreement]:
    """Items with two or more submitted labels that differ on at least one factor, most divergent first."""
    rubric = rubric_of(project)
    by_item: dict[int, list[Label]] = {}
    for lab in all_labels(db, project.id):
        by_item.setdefault(lab.item_id, []).append(lab)
    adj = {a.item_id: a for a in db.scalars(select(Adjudication).where(Adjudication.project_id == project.id))}
    items = {it.id: it for it in project.items}
    out: list[Disagreement] = []
    for item_id, labs in by_item.items():
        if len(labs) < 2:
            continue
        differing, spread = [], 0
        for f in rubric.factors:
            vals = [lab.values.get(f.id) for lab in labs if lab.values.get(f.id) is not None]
            if vals and max(vals) != min(vals):
                differing.append(f.id)
                spread = max(spread, max(vals) - min(vals))
        if differing:
            out.append(Disagreement(items[item_id], sorted(labs, key=lambda lab: lab.user.name), differing, spread,
                                    adj.get(item_id)))
    out.sort(key=lambda d: (-d.spread, -len(d.factors), d.item.position))
    return out


def agreed_values(d: Disagreement, rubric: Rubric) -> dict[str, int]:
    """The factors on which every rater of a disputed item gave the same score (to pre-fill)."""
    out: dict[str, int] = {}
    for f in rubric.factors:
        vals = {lab.values.get(f.id) for lab in d.labels}
        if len(vals) == 1 and None not in vals:
            out[f.id] = vals.pop()
    return out


def save_adjudication(db: Session, project: Project, item: ProjectItem, owner: User, values: dict[str, int],
                      rationale: str) -> Adjudication:
    """Record (or replace) the owner's adjudicated label; individual labels stay as they are."""
    adj = db.scalar(select(Adjudication).where(Adjudication.item_id == item.id))
    now = datetime.now(timezone.utc)
    if adj is None:
        adj = Adjudication(project_id=project.id, item_id=item.id, user_id=owner.id, values=values,
                           rationale=rationale.strip(), updated_at=now)
        db.add(adj)
    else:
        adj.values, adj.rationale, adj.user_id, adj.updated_at = dict(values), rationale.strip(), owner.id, now
    db.commit()
    return adj


def labels_version(db: Session, project_id: int) -> tuple[int, int, str]:
    """A cheap fingerprint of a project's labels: changes whenever a label is added or edited."""
    n, revs, last = db.execute(select(func.count(), func.coalesce(func.sum(Label.revisions), 0), func.max(Label.updated_at))
                               .where(Label.project_id == project_id)).one()
    return int(n), int(revs), str(last)

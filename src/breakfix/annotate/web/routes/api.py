"""The JSON API: a rater's own labels only; all labels of an item for owners."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import Label, WebSession
from ..deps import current, get_db, project_or_404
from ..labelling import own_labels, queue

router = APIRouter()


def _label_json(lab: Label) -> dict[str, Any]:
    return {"id": lab.id, "project_id": lab.project_id, "item_id": lab.item_id, "unit": lab.item.external_id,
            "rater": lab.user.name, "values": lab.values, "rationale": lab.rationale,
            "updated_at": lab.updated_at.isoformat() if lab.updated_at else None}


@router.get("/api/labels/{label_id}")
def api_label(label_id: int, sess: WebSession = Depends(current), db: Session = Depends(get_db)) -> Any:
    lab = db.get(Label, label_id)
    # Someone else's label and a label that does not exist look the same: no id probing.
    if lab is None or (not sess.user.is_owner and lab.user_id != sess.user.id):
        raise HTTPException(404, "not found")
    return _label_json(lab)


@router.get("/api/projects/{pid}/my-labels")
def api_my_labels(pid: int, sess: WebSession = Depends(current), db: Session = Depends(get_db)) -> Any:
    project_or_404(db, pid)
    # A project the annotator is not in answers exactly like one that does not exist.
    if not sess.user.is_owner and not queue(db, pid, sess.user):
        raise HTTPException(404, "not found")
    return [_label_json(lab) for lab in own_labels(db, pid, sess.user).values()]


@router.get("/api/projects/{pid}/items/{iid}/labels")
def api_item_labels(pid: int, iid: int, sess: WebSession = Depends(current), db: Session = Depends(get_db)) -> Any:
    """All labels on an item: owners only (an annotator gets 403 whether or not it exists)."""
    if not sess.user.is_owner:
        raise HTTPException(403, "owners only")
    from ..deps import item_or_404

    item_or_404(db, pid, iid)
    return [_label_json(lab) for lab in db.scalars(select(Label).where(Label.item_id == iid))]

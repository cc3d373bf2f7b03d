"""Adjudication: the disputed items, pre-filled where the raters agreed, with "take A's" buttons;
recording an adjudicated label keeps every rater's own label unchanged."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from ..db import WebSession
from ..deps import check_csrf, get_db, int_or_none, item_or_404, owner_only, project_or_404, render
from ..labelling import LabelInputError, agreed_values, disagreements, rubric_of, save_adjudication, validate_values

router = APIRouter()


def _page(request: Request, sess: WebSession, db: Session, pid: int, show: str, *, error_item: int | None = None,
          error: str = "", posted: dict[str, Any] | None = None, status: int = 200) -> Response:
    project = project_or_404(db, pid)
    rubric = rubric_of(project)
    rows = disagreements(db, project)
    todo = [d for d in rows if d.adjudication is None]
    done = [d for d in rows if d.adjudication is not None]
    shown = done if show == "done" else rows if show == "all" else todo
    cards = []
    for d in shown:
        if error_item == d.item.id and posted is not None:
            values, note = posted["values"], posted["note"]
        elif d.adjudication is not None:
            values, note = dict(d.adjudication.values), d.adjudication.rationale
        else:
            values, note = agreed_values(d, rubric), ""
        cards.append({"d": d, "values": values, "note": note, "prefilled": agreed_values(d, rubric),
                      "error": error if error_item == d.item.id else ""})
    return render(request, "adjudicate.html", {"project": project, "rubric": rubric, "cards": cards, "show": show,
                                               "n_todo": len(todo), "n_done": len(done)}, status=status, sess=sess)


@router.get("/owner/projects/{pid}/adjudicate", response_class=HTMLResponse)
def adjudicate_view(request: Request, pid: int, show: str = "todo", sess: WebSession = Depends(owner_only),
                    db: Session = Depends(get_db)) -> Response:
    return _page(request, sess, db, pid, show if show in ("todo", "done", "all") else "todo")


@router.post("/owner/projects/{pid}/items/{iid}/adjudicate")
async def adjudicate(request: Request, pid: int, iid: int, sess: WebSession = Depends(owner_only),
                     db: Session = Depends(get_db)) -> Response:
    form = await check_csrf(request, sess.csrf_token)
    project = project_or_404(db, pid)
    item = item_or_404(db, pid, iid)
    rubric = rubric_of(project)
    raw = {f.id: form.get(f"f_{f.id}") for f in rubric.factors}
    note = str(form.get("rationale", ""))
    try:
        values = validate_values(rubric, raw, note, rationale_needed=False)  # type: ignore[arg-type]
        if not note.strip():
            raise LabelInputError("Adjudication note: required (say why this label was chosen)")
    except LabelInputError as exc:
        if not any(d.item.id == iid for d in disagreements(db, project)):
            raise HTTPException(422, f"adjudication of item {item.external_id}: {exc}") from None
        posted = {"values": {k: int_or_none(v) for k, v in raw.items()}, "note": note}
        return _page(request, sess, db, pid, "all", error_item=iid, error=str(exc), posted=posted, status=422)
    save_adjudication(db, project, item, sess.user, values, note)
    return RedirectResponse(f"/owner/projects/{pid}/adjudicate?saved={iid}", status_code=303)

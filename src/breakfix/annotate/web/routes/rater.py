"""The rater's pages: their projects, their queue, one item at a time, and drafts.

Every read goes through the rater's own queue (:func:`..labelling.queue`), so an item that is not
theirs answers exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import Assignment, Project, WebSession
from ..deps import check_csrf, current, get_db, int_or_none, project_or_404, render
from ..labelling import (
    LabelInputError,
    assignment_for,
    combine_rationale,
    get_draft,
    own_drafts,
    own_label,
    own_labels,
    queue,
    rationale_needed,
    rubric_of,
    save_draft,
    save_label,
    validate_values,
)

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def home(sess: WebSession = Depends(current)) -> Response:
    return RedirectResponse("/owner" if sess.user.is_owner else "/projects", status_code=303)


@router.get("/projects", response_class=HTMLResponse)
def my_projects(request: Request, sess: WebSession = Depends(current), db: Session = Depends(get_db)) -> Response:
    if sess.user.is_owner:
        return RedirectResponse("/owner", status_code=303)
    rows = []
    pids = db.scalars(select(Assignment.project_id).where(Assignment.user_id == sess.user.id).distinct()).all()
    for pid in sorted(pids):
        project = db.get(Project, pid)
        q = queue(db, pid, sess.user)
        done = own_labels(db, pid, sess.user)
        first_todo = next((a.item_id for a in q if a.item_id not in done), q[0].item_id if q else None)
        rows.append({"project": project, "assigned": len(q), "done": len(done), "first": first_todo})
    return render(request, "projects.html", {"rows": rows}, sess=sess)


def annotator_project(db: Session, pid: int, sess: WebSession) -> tuple[Project, list[Assignment]]:
    """The project and the rater's queue in it; 404 when the rater has nothing there."""
    project = project_or_404(db, pid)
    q = queue(db, pid, sess.user)
    if not q:
        raise HTTPException(404, "not found")
    return project, q


@router.get("/projects/{pid}/queue", response_class=HTMLResponse)
def my_queue(request: Request, pid: int, show: str = "all", sess: WebSession = Depends(current),
             db: Session = Depends(get_db)) -> Response:
    if sess.user.is_owner:
        return RedirectResponse(f"/owner/projects/{pid}", status_code=303)
    project, q = annotator_project(db, pid, sess)
    done = own_labels(db, pid, sess.user)
    drafts = own_drafts(db, pid, sess.user)
    show = show if show in ("all", "todo", "done") else "all"
    rows = [a for a in q if show == "all" or (show == "done") == (a.item_id in done)]
    return render(request, "queue.html", {"project": project, "rubric": rubric_of(project), "queue": q, "rows": rows,
                                          "done": done, "drafts": drafts, "show": show,
                                          "saved": request.query_params.get("saved") == "1"}, sess=sess)


def _item_page(request: Request, sess: WebSession, db: Session, project: Project, q: list[Assignment],
               a: Assignment, values: dict[str, Any], rationale: str, reasons: list[str], *, error: str = "",
               need_rationale: bool = False, draft: bool = False, status: int = 200) -> Response:
    idx = next(i for i, x in enumerate(q) if x.id == a.id)
    done = own_labels(db, project.id, sess.user)
    rubric = rubric_of(project)
    return render(request, "item.html", {
        "project": project, "rubric": rubric, "item": a.item, "index": idx + 1, "total": len(q),
        "n_done": len(done), "label": done.get(a.item_id), "values": values, "rationale": rationale,
        "reasons": reasons, "error": error, "draft": draft,
        "need_rationale": need_rationale or rubric.rationale == "required",
        "prev_id": q[idx - 1].item_id if idx > 0 else None,
        "next_id": q[idx + 1].item_id if idx + 1 < len(q) else None,
        "saved": request.query_params.get("saved") == "1",
    }, status=status, sess=sess)


def _split_rationale(project: Project, stored: str) -> tuple[list[str], str]:
    """Quick reasons and free text back out of a stored rationale (its first line holds the reasons)."""
    reasons_all = rubric_of(project).quick_reasons
    first, _, rest = stored.partition("\n")
    picked = [r.strip() for r in first.split(";")]
    if reasons_all and first and all(r in reasons_all for r in picked):
        return picked, rest
    return [], stored


@router.get("/projects/{pid}/items/{iid}", response_class=HTMLResponse)
def item_page(request: Request, pid: int, iid: int, sess: WebSession = Depends(current),
              db: Session = Depends(get_db)) -> Response:
    if sess.user.is_owner:
        return RedirectResponse(f"/owner/projects/{pid}/items/{iid}", status_code=303)
    project, q = annotator_project(db, pid, sess)
    a = assignment_for(db, pid, iid, sess.user)
    if a is None:
        raise HTTPException(404, "not found")
    draft = get_draft(db, iid, sess.user)
    if draft is not None:
        return _item_page(request, sess, db, project, q, a, dict(draft.values), draft.rationale, list(draft.reasons),
                          draft=True)
    label = own_label(db, iid, sess.user)
    reasons, text = _split_rationale(project, label.rationale) if label else ([], "")
    return _item_page(request, sess, db, project, q, a, dict(label.values) if label else {}, text, reasons)


def _form_parts(project: Project, form: dict[str, Any], multi: list[str]) -> tuple[dict[str, Any], str, list[str]]:
    rubric = rubric_of(project)
    raw = {f.id: form.get(f"f_{f.id}") for f in rubric.factors}
    return raw, str(form.get("rationale", "")), [str(r) for r in multi]


@router.post("/projects/{pid}/items/{iid}")
async def submit_label(request: Request, pid: int, iid: int, sess: WebSession = Depends(current),
                       db: Session = Depends(get_db)) -> Response:
    form = await check_csrf(request, sess.csrf_token)
    if sess.user.is_owner:
        raise HTTPException(403, "owners adjudicate; they do not label")
    project, q = annotator_project(db, pid, sess)
    a = assignment_for(db, pid, iid, sess.user)
    if a is None:
        raise HTTPException(404, "not found")
    rubric = rubric_of(project)
    raw, text, reasons = _form_parts(project, form, (await request.form()).getlist("reason"))
    need = False
    try:
        rationale = combine_rationale(rubric, reasons, text)
        values = validate_values(rubric, raw, rationale, rationale_needed=False)
        need = rationale_needed(db, rubric, a, values)
        if need and not rationale.strip():
            raise LabelInputError("Rationale: please add a reason — a quick reason or a few words "
                                  "(this rubric asks for one on some labels)")
    except LabelInputError as exc:
        save_draft(db, a, rubric, raw, text, reasons)  # nothing chosen is lost
        return _item_page(request, sess, db, project, q, a, {k: int_or_none(v) for k, v in raw.items()}, text,
                          reasons, error=str(exc), need_rationale=need or "Rationale" in str(exc), status=422)
    save_label(db, a, values, rationale)
    idx = next(i for i, x in enumerate(q) if x.id == a.id)
    if idx + 1 < len(q):
        return RedirectResponse(f"/projects/{pid}/items/{q[idx + 1].item_id}?saved=1", status_code=303)
    return RedirectResponse(f"/projects/{pid}/queue?saved=1", status_code=303)


@router.post("/projects/{pid}/items/{iid}/draft")
async def put_draft(request: Request, pid: int, iid: int, sess: WebSession = Depends(current),
                    db: Session = Depends(get_db)) -> Response:
    """Keep the rater's unsubmitted choices (sent by the page as they change, and when it is left)."""
    form = await check_csrf(request, sess.csrf_token)
    if sess.user.is_owner:
        raise HTTPException(403, "owners adjudicate; they do not label")
    project, _q = annotator_project(db, pid, sess)
    a = assignment_for(db, pid, iid, sess.user)
    if a is None:
        raise HTTPException(404, "not found")
    raw, text, reasons = _form_parts(project, form, (await request.form()).getlist("reason"))
    save_draft(db, a, rubric_of(project), raw, text, reasons)
    return JSONResponse({"saved": True})

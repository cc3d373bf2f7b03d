"""The owner's views: projects, progress, live agreement, the disagreement dashboard, the full
disagreement report, and one item with every rater's label."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...io import Ratings
from ..db import Label, Project, WebSession
from ..deps import get_db, item_or_404, owner_only, project_or_404, render, state
from ..export import long_frame
from ..labelling import disagreements, progress, rubric_of
from ..projects import list_projects
from ..users import list_users

router = APIRouter()

# The report is a self-contained page: its plots are data: images and its styles are inline; it
# runs no script at all.
REPORT_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'; "
              "frame-ancestors 'none'")


@router.get("/owner", response_class=HTMLResponse)
def owner_home(request: Request, sess: WebSession = Depends(owner_only), db: Session = Depends(get_db)) -> Response:
    rows = []
    for p in list_projects(db):
        prog = progress(db, p.id)
        rows.append({"project": p, "items": len(p.items), "annotators": len(prog),
                     "assigned": sum(x.assigned for x in prog), "done": sum(x.done for x in prog)})
    return render(request, "owner_projects.html", {"rows": rows}, sess=sess)


@router.get("/owner/projects/{pid}", response_class=HTMLResponse)
def owner_project(request: Request, pid: int, sess: WebSession = Depends(owner_only),
                  db: Session = Depends(get_db)) -> Response:
    return project_page(request, sess, db, pid, message=request.query_params.get("msg", ""))


def project_page(request: Request, sess: WebSession, db: Session, pid: int, *, message: str = "",
                 invite_link: str = "") -> Response:
    """The owner's page of one project: progress, agreement, the disagreement dashboard, management."""
    project = project_or_404(db, pid)
    st = state(request)
    dis = disagreements(db, project)
    item_ids = {it.external_id: it.id for it in project.items}
    annotators = [u for u in list_users(db) if u.role == "annotator" and u.active]
    return render(request, "owner_project.html", {
        "project": project, "rubric": rubric_of(project), "progress": progress(db, pid),
        "agreement": st.agreement.get(db, project), "dash": st.dashboard.get(db, project), "item_ids": item_ids,
        "n_disagreements": sum(1 for d in dis if d.adjudication is None), "n_adjudicated": sum(1 for d in dis if d.adjudication),
        "n_items": len(project.items), "annotators": annotators,
        "invite_link": invite_link, "message": message[:300],
    }, sess=sess)


@router.get("/owner/projects/{pid}/agreement.json")
def owner_agreement(request: Request, pid: int, sess: WebSession = Depends(owner_only),
                    db: Session = Depends(get_db)) -> Any:
    project = project_or_404(db, pid)
    return {"agreement": state(request).agreement.get(db, project),
            "progress": [{"rater": p.user.name, "assigned": p.assigned, "done": p.done} for p in progress(db, pid)]}


@router.get("/owner/projects/{pid}/dashboard.json")
def owner_dashboard(request: Request, pid: int, sess: WebSession = Depends(owner_only),
                    db: Session = Depends(get_db)) -> Any:
    return state(request).dashboard.get(db, project_or_404(db, pid))


@router.get("/owner/projects/{pid}/report", response_class=HTMLResponse)
def owner_report(request: Request, pid: int, sess: WebSession = Depends(owner_only),
                 db: Session = Depends(get_db)) -> Response:
    """The library's full disagreement report on this project's labels (severity, orientations,
    halo, items that divide raters); recomputed only when the labels changed."""
    out = state(request).report.get(db, project_or_404(db, pid))
    if not out["available"]:
        return render(request, "error.html", {"status": 409, "detail": out["message"]}, status=409, sess=sess)
    resp = HTMLResponse(out["html"])
    resp.headers["Content-Security-Policy"] = REPORT_CSP
    return resp


def report_html(project: Project, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The disagreement report of a project's label records, as ``{"available", "message", "html"}``."""
    from ... import report

    df = long_frame(records)
    if df.empty or df["rater"].nunique() < 2 or df["unit"].nunique() < 3:
        return {"available": False, "html": "",
                "message": "The disagreement report needs labels from two or more raters on three or more items."}
    texts = {it.external_id: it.response for it in project.items}
    df = df.assign(value=df["value"].astype(float), response=df["unit"].map(texts))
    # Fewer resamples than the CLI's default: the owner waits for this page.
    ctx = report.build_context(Ratings(df=df, path=project.name, numeric=True), n_boot=200, n_perm=100)
    return {"available": True, "message": "", "html": report.render(ctx)}


@router.get("/owner/projects/{pid}/items/{iid}", response_class=HTMLResponse)
def owner_item(request: Request, pid: int, iid: int, sess: WebSession = Depends(owner_only),
               db: Session = Depends(get_db)) -> Response:
    project = project_or_404(db, pid)
    item = item_or_404(db, pid, iid)
    labels = sorted(db.scalars(select(Label).where(Label.item_id == iid)), key=lambda lab: lab.user.name)
    return render(request, "owner_item.html", {"project": project, "rubric": rubric_of(project), "item": item,
                                               "labels": labels}, sess=sess)

"""Project management from the web UI (the CLI stays): create a project from an uploaded CSV or
JSONL file, assign raters, invite new raters with a one-time link."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from ....core.resources import builtin_names, load_yaml
from ..db import WebSession
from ..deps import check_csrf, get_db, owner_only, project_or_404, render
from ..projects import ProjectInputError, assign, create_project, parse_items
from ..rubric import RubricError, load_rubric, parse_rubric
from ..users import UserInputError, create_invite
from .owner import project_page

router = APIRouter()
MAX_UPLOAD = 20 * 1024 * 1024


def _new_form(request: Request, sess: WebSession, error: str = "", name: str = "", status: int = 200) -> Response:
    return render(request, "owner_new_project.html", {"rubrics": builtin_names("rubrics"), "error": error, "name": name},
                  status=status, sess=sess)


@router.get("/owner/projects/new", response_class=HTMLResponse)
def new_project_form(request: Request, sess: WebSession = Depends(owner_only)) -> Response:
    return _new_form(request, sess)


async def _upload_text(upload: object, what: str) -> tuple[str, str]:
    """(text, file name) of an uploaded file; one-line errors for a missing, huge or non-UTF-8 one."""
    if upload is None or not hasattr(upload, "read") or not getattr(upload, "filename", ""):
        raise ProjectInputError(f"{what}: choose a file")
    data = await upload.read(MAX_UPLOAD + 1)  # type: ignore[attr-defined]
    name = str(upload.filename)  # type: ignore[attr-defined]
    if len(data) > MAX_UPLOAD:
        raise ProjectInputError(f"{name}: larger than {MAX_UPLOAD // 2**20} MiB")
    try:
        return data.decode("utf-8-sig"), name
    except UnicodeDecodeError as exc:
        raise ProjectInputError(f"{name}: not UTF-8 text (byte {exc.start})") from None


@router.post("/owner/projects/new")
async def new_project(request: Request, sess: WebSession = Depends(owner_only), db: Session = Depends(get_db)) -> Response:
    form = await check_csrf(request, sess.csrf_token)
    name = str(form.get("name", "")).strip()
    try:
        text, fname = await _upload_text(form.get("items"), "Items file")
        fmt = "csv" if fname.lower().endswith(".csv") else "jsonl" if fname.lower().endswith((".jsonl", ".json")) else ""
        if not fmt:
            raise ProjectInputError(f"{fname}: expected a .jsonl or .csv file")
        items = parse_items(text, fname, fmt)
        rubric_file = form.get("rubric_file")
        if rubric_file is not None and getattr(rubric_file, "filename", ""):
            rtext, rname = await _upload_text(rubric_file, "Rubric file")
            rubric = parse_rubric(load_yaml(rtext, source=rname), rname)
        else:
            rubric = load_rubric(str(form.get("rubric", "")) or "mental-health-response")
        project = create_project(db, name, rubric, items, source=f"{fmt}:{fname}", owner=sess.user)
    except (ProjectInputError, RubricError) as exc:
        return _new_form(request, sess, str(exc), name, 422)
    except ValueError as exc:  # a ResourceError from the rubric's YAML
        return _new_form(request, sess, str(exc).splitlines()[0], name, 422)
    return RedirectResponse(f"/owner/projects/{project.id}?msg={quote(f'Created with {len(items)} items.')}",
                            status_code=303)


@router.post("/owner/projects/{pid}/assign")
async def assign_raters(request: Request, pid: int, sess: WebSession = Depends(owner_only),
                        db: Session = Depends(get_db)) -> Response:
    await check_csrf(request, sess.csrf_token)
    form = await request.form()
    project = project_or_404(db, pid)
    names = [str(n) for n in form.getlist("annotators")]
    try:
        per_item = int(str(form.get("per_item", "2")))
        added = assign(db, project, names, per_item=per_item)
    except ValueError as exc:  # ProjectInputError, or a per-item count that is not a number
        msg = str(exc) if isinstance(exc, ProjectInputError) else "Raters per item: expected a whole number"
        return RedirectResponse(f"/owner/projects/{pid}?msg={quote('Not assigned: ' + msg)}", status_code=303)
    return RedirectResponse(f"/owner/projects/{pid}?msg={quote(f'{added} assignments added.')}", status_code=303)


@router.post("/owner/projects/{pid}/invite")
async def invite(request: Request, pid: int, sess: WebSession = Depends(owner_only),
                 db: Session = Depends(get_db)) -> Response:
    form = await check_csrf(request, sess.csrf_token)
    project_or_404(db, pid)
    name = str(form.get("name", "")).strip()
    try:
        token = create_invite(db, name)
    except UserInputError as exc:
        return RedirectResponse(f"/owner/projects/{pid}?msg={quote('Not invited: ' + str(exc))}", status_code=303)
    # Shown once, on this page only (not put in a redirect URL, where logs and history keep it).
    link = f"{str(request.base_url).rstrip('/')}/invite/{token}"
    return project_page(request, sess, db, pid, invite_link=link,
                        message=f"Invited {name}: send them the link below (it works once, for 14 days).")

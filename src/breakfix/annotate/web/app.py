"""The blind annotation web app (FastAPI + Jinja2 with autoescape).

Annotators see one item at a time from their own queue and only their own labels; owners see
projects, progress, live agreement, an adjudication view and exports. Model output is untrusted
and is only ever rendered as escaped text; the Content-Security-Policy forbids inline script.
"""

from __future__ import annotations

import math
import os
from datetime import datetime, timezone
from importlib import resources
from typing import Any, Iterator
from urllib.parse import quote

import anyio
import anyio.to_thread
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import export as exp
from .agreement import AgreementCache
from .db import Assignment, Label, Project, ProjectItem, User, WebSession, make_engine, make_sessionmaker
from .labelling import (LabelInputError, assignment_for, disagreements, own_label, own_labels, progress, queue,
                        rubric_of, save_adjudication, save_label, validate_values)
from .projects import list_projects
from .security import (KNOWN_DEVICE_COOKIE, KNOWN_DEVICE_MAX_AGE_S, LOGIN_CSRF_COOKIE, SESSION_COOKIE,
                       SESSION_MAX_AGE_S, CookieSigner, app_secret, check_password, new_token, token_hash,
                       tokens_equal)
from .throttle import LoginThrottle
from .users import login_candidate

# Strict: nothing inline, nothing from elsewhere. Model output that slips markup through could
# still not run script, load images from other hosts, be framed, or post forms elsewhere.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class _LoginRequired(Exception):
    """Raised by page dependencies when nobody is logged in (redirects to the login page)."""


def default_hash_concurrency() -> int:
    """How many bcrypt checks run at once: one core is always left for everything else."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def create_app(db_url: str | None = None, *, secure_cookies: bool = False, throttle: LoginThrottle | None = None,
               hash_concurrency: int | None = None) -> FastAPI:
    """Build the app on the database at ``db_url`` (default ``$BREAKFIX_DB`` or ``sqlite:///breakfix.db``).

    Args:
        db_url: SQLAlchemy URL of the breakfix database.
        secure_cookies: mark cookies ``Secure`` (set when served over HTTPS).
        throttle: the log-in throttle (default: :class:`LoginThrottle` with its default policy).
        hash_concurrency: bcrypt checks allowed at once (default :func:`default_hash_concurrency`).
    """
    throttle = throttle or LoginThrottle()
    # bcrypt is deliberately slow (~0.25 s at cost 12). It runs in worker threads, never on the
    # event loop, and only this many at once, so a burst of log-ins cannot stall other requests.
    hash_limiter = anyio.CapacityLimiter(hash_concurrency or default_hash_concurrency())
    engine = make_engine(db_url)
    Session_ = make_sessionmaker(engine)
    with Session_() as db:
        signer = CookieSigner(app_secret(db))
    env = Environment(loader=PackageLoader("breakfix.annotate.web", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _fmt_num
    env.filters["pct"] = _fmt_pct
    templates = Jinja2Templates(env=env)
    agreement_cache = AgreementCache()

    app = FastAPI(title="breakfix annotation", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine = engine
    static_dir = resources.files("breakfix.annotate.web") / "static"
    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    # ---------------------------------------------------------------- plumbing
    def get_db() -> Iterator[Session]:
        with Session_() as db:
            yield db

    def session_row(request: Request, db: Session) -> WebSession | None:
        sid = signer.loads(request.cookies.get(SESSION_COOKIE))
        if sid is None:
            return None
        row = db.get(WebSession, token_hash(sid))
        if row is None or not row.user.active:
            return None
        created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=timezone.utc)
        if (datetime.now(timezone.utc) - created).total_seconds() > SESSION_MAX_AGE_S:
            db.delete(row)
            db.commit()
            return None
        return row

    def current(request: Request, db: Session = Depends(get_db)) -> WebSession:
        row = session_row(request, db)
        if row is None:
            if request.url.path.startswith("/api/"):
                raise HTTPException(401, "log in first")
            raise _LoginRequired()
        return row

    def owner_only(sess: WebSession = Depends(current)) -> WebSession:
        if not sess.user.is_owner:
            raise HTTPException(403, "owners only")
        return sess

    async def check_csrf(request: Request, expected: str | None) -> dict[str, Any]:
        form = await request.form()
        if not tokens_equal(str(form.get("csrf_token") or ""), expected):
            raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
        return dict(form)

    def render(request: Request, name: str, ctx: dict[str, Any], status: int = 200,
               sess: WebSession | None = None) -> HTMLResponse:
        base = {"user": sess.user if sess else None, "csrf": sess.csrf_token if sess else ""}
        return templates.TemplateResponse(request, name, {**base, **ctx}, status_code=status)

    def set_cookie(resp: Response, key: str, value: str, max_age: int) -> None:
        resp.set_cookie(key, value, max_age=max_age, httponly=True, samesite="lax", secure=secure_cookies, path="/")

    def project_or_404(db: Session, pid: int) -> Project:
        project = db.get(Project, pid)
        if project is None:
            raise HTTPException(404, "not found")
        return project

    @app.exception_handler(_LoginRequired)
    async def _to_login(request: Request, exc: _LoginRequired) -> Response:
        nxt = request.url.path if request.method == "GET" else "/"
        return RedirectResponse(f"/login?next={quote(nxt)}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return templates.TemplateResponse(request, "error.html", {"user": None, "csrf": "", "status": exc.status_code,
                                                                  "detail": exc.detail}, status_code=exc.status_code)

    # ---------------------------------------------------------------- login / logout
    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/", db: Session = Depends(get_db)) -> Response:
        if session_row(request, db) is not None:
            return RedirectResponse(_safe_next(next), status_code=303)
        token = new_token()
        resp = render(request, "login.html", {"login_csrf": token, "next": _safe_next(next), "error": ""})
        set_cookie(resp, LOGIN_CSRF_COOKIE, signer.dumps(token), 3600)
        return resp

    @app.post("/login")
    async def login(request: Request, db: Session = Depends(get_db)) -> Response:
        expected = signer.loads(request.cookies.get(LOGIN_CSRF_COOKIE), max_age=3600)
        form = await check_csrf(request, expected)
        name, password = str(form.get("username", "")), str(form.get("password", ""))
        nxt = _safe_next(str(form.get("next", "/")))
        address = request.client.host if request.client else "unknown"
        known = signer.loads(request.cookies.get(KNOWN_DEVICE_COOKIE), max_age=KNOWN_DEVICE_MAX_AGE_S) == name

        def refuse(error: str, status: int, retry_after: float | None = None) -> Response:
            token = new_token()
            resp = render(request, "login.html", {"login_csrf": token, "next": nxt, "error": error}, status=status)
            set_cookie(resp, LOGIN_CSRF_COOKIE, signer.dumps(token), 3600)
            if retry_after is not None:
                resp.headers["Retry-After"] = str(retry_after)
            return resp

        wait = throttle.retry_after(db, name, address, known_device=known)
        if wait > 0:
            secs = max(1, math.ceil(wait))
            return refuse(f"Too many failed log-ins: try again in {_human_wait(secs)}.", 429, secs)
        user, hashed = login_candidate(db, name)
        ok = await anyio.to_thread.run_sync(check_password, password, hashed, limiter=hash_limiter)
        if not ok or user is None:
            throttle.failed(db, name, address, known_device=known)
            return refuse("Wrong user name or password.", 401)
        throttle.succeeded(db, name, address)
        # A fresh session id at every login (no session fixation).
        sid = new_token()
        db.add(WebSession(id_hash=token_hash(sid), user_id=user.id, csrf_token=new_token()))
        db.commit()
        resp = RedirectResponse(nxt, status_code=303)
        set_cookie(resp, SESSION_COOKIE, signer.dumps(sid), SESSION_MAX_AGE_S)
        # This browser has proved it knows the password: the account's lock will not apply to it.
        set_cookie(resp, KNOWN_DEVICE_COOKIE, signer.dumps(user.name), KNOWN_DEVICE_MAX_AGE_S)
        resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
        return resp

    @app.post("/logout")
    async def logout(request: Request, sess: WebSession = Depends(current), db: Session = Depends(get_db)) -> Response:
        await check_csrf(request, sess.csrf_token)
        row = db.get(WebSession, sess.id_hash)
        if row is not None:
            db.delete(row)
            db.commit()
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    # ---------------------------------------------------------------- annotator pages
    @app.get("/", response_class=HTMLResponse)
    def home(sess: WebSession = Depends(current)) -> Response:
        return RedirectResponse("/owner" if sess.user.is_owner else "/projects", status_code=303)

    @app.get("/projects", response_class=HTMLResponse)
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

    def _annotator_project(db: Session, pid: int, sess: WebSession) -> tuple[Project, list[Assignment]]:
        project = project_or_404(db, pid)
        q = queue(db, pid, sess.user)
        if not q:
            raise HTTPException(404, "not found")
        return project, q

    @app.get("/projects/{pid}/queue", response_class=HTMLResponse)
    def my_queue(request: Request, pid: int, sess: WebSession = Depends(current),
                 db: Session = Depends(get_db)) -> Response:
        if sess.user.is_owner:
            return RedirectResponse(f"/owner/projects/{pid}", status_code=303)
        project, q = _annotator_project(db, pid, sess)
        done = own_labels(db, pid, sess.user)
        return render(request, "queue.html", {"project": project, "queue": q, "done": done}, sess=sess)

    def _item_page(request: Request, sess: WebSession, db: Session, project: Project, q: list[Assignment],
                   a: Assignment, values: dict[str, Any], rationale: str, error: str = "",
                   status: int = 200) -> Response:
        idx = next(i for i, x in enumerate(q) if x.id == a.id)
        done = own_labels(db, project.id, sess.user)
        label = done.get(a.item_id)
        return render(request, "item.html", {
            "project": project, "rubric": rubric_of(project), "item": a.item, "index": idx + 1, "total": len(q),
            "n_done": len(done), "label": label, "values": values, "rationale": rationale, "error": error,
            "prev_id": q[idx - 1].item_id if idx > 0 else None,
            "next_id": q[idx + 1].item_id if idx + 1 < len(q) else None,
            "saved": request.query_params.get("saved") == "1",
        }, status=status, sess=sess)

    @app.get("/projects/{pid}/items/{iid}", response_class=HTMLResponse)
    def item_page(request: Request, pid: int, iid: int, sess: WebSession = Depends(current),
                  db: Session = Depends(get_db)) -> Response:
        if sess.user.is_owner:
            return RedirectResponse(f"/owner/projects/{pid}/items/{iid}", status_code=303)
        project, q = _annotator_project(db, pid, sess)
        a = assignment_for(db, pid, iid, sess.user)
        if a is None:
            raise HTTPException(404, "not found")
        label = own_label(db, iid, sess.user)
        return _item_page(request, sess, db, project, q, a, dict(label.values) if label else {},
                          label.rationale if label else "")

    @app.post("/projects/{pid}/items/{iid}")
    async def submit_label(request: Request, pid: int, iid: int, sess: WebSession = Depends(current),
                           db: Session = Depends(get_db)) -> Response:
        form = await check_csrf(request, sess.csrf_token)
        if sess.user.is_owner:
            raise HTTPException(403, "owners adjudicate; they do not label")
        project, q = _annotator_project(db, pid, sess)
        a = assignment_for(db, pid, iid, sess.user)
        if a is None:
            raise HTTPException(404, "not found")
        rubric = rubric_of(project)
        raw = {f.id: form.get(f"f_{f.id}") for f in rubric.factors}
        rationale = str(form.get("rationale", ""))
        try:
            values = validate_values(rubric, raw, rationale)  # type: ignore[arg-type]
        except LabelInputError as exc:
            return _item_page(request, sess, db, project, q, a, {k: _int_or_none(v) for k, v in raw.items()},
                              rationale, error=str(exc), status=422)
        save_label(db, a, values, rationale)
        idx = next(i for i, x in enumerate(q) if x.id == a.id)
        if idx + 1 < len(q):
            return RedirectResponse(f"/projects/{pid}/items/{q[idx + 1].item_id}?saved=1", status_code=303)
        return RedirectResponse(f"/projects/{pid}/queue?saved=1", status_code=303)

    # ---------------------------------------------------------------- JSON: own labels only
    def _label_json(lab: Label) -> dict[str, Any]:
        return {"id": lab.id, "project_id": lab.project_id, "item_id": lab.item_id, "unit": lab.item.external_id,
                "rater": lab.user.name, "values": lab.values, "rationale": lab.rationale,
                "updated_at": lab.updated_at.isoformat() if lab.updated_at else None}

    @app.get("/api/labels/{label_id}")
    def api_label(label_id: int, sess: WebSession = Depends(current), db: Session = Depends(get_db)) -> Any:
        lab = db.get(Label, label_id)
        # Someone else's label and a label that does not exist look the same: no id probing.
        if lab is None or (not sess.user.is_owner and lab.user_id != sess.user.id):
            raise HTTPException(404, "not found")
        return _label_json(lab)

    @app.get("/api/projects/{pid}/my-labels")
    def api_my_labels(pid: int, sess: WebSession = Depends(current), db: Session = Depends(get_db)) -> Any:
        project_or_404(db, pid)
        # A project the annotator is not in answers exactly like one that does not exist.
        if not sess.user.is_owner and not queue(db, pid, sess.user):
            raise HTTPException(404, "not found")
        return [_label_json(lab) for lab in own_labels(db, pid, sess.user).values()]

    @app.get("/api/projects/{pid}/items/{iid}/labels")
    def api_item_labels(pid: int, iid: int, sess: WebSession = Depends(current), db: Session = Depends(get_db)) -> Any:
        """All labels on an item: owners only (an annotator gets 403 whether or not it exists)."""
        if not sess.user.is_owner:
            raise HTTPException(403, "owners only")
        item = db.get(ProjectItem, iid)
        if item is None or item.project_id != pid:
            raise HTTPException(404, "not found")
        return [_label_json(lab) for lab in db.scalars(select(Label).where(Label.item_id == iid))]

    # ---------------------------------------------------------------- owner pages
    @app.get("/owner", response_class=HTMLResponse)
    def owner_home(request: Request, sess: WebSession = Depends(owner_only), db: Session = Depends(get_db)) -> Response:
        rows = []
        for p in list_projects(db):
            prog = progress(db, p.id)
            rows.append({"project": p, "items": len(p.items), "annotators": len(prog),
                         "assigned": sum(x.assigned for x in prog), "done": sum(x.done for x in prog)})
        return render(request, "owner_projects.html", {"rows": rows}, sess=sess)

    @app.get("/owner/projects/{pid}", response_class=HTMLResponse)
    def owner_project(request: Request, pid: int, sess: WebSession = Depends(owner_only),
                      db: Session = Depends(get_db)) -> Response:
        project = project_or_404(db, pid)
        agreement = agreement_cache.get(db, project)
        return render(request, "owner_project.html", {
            "project": project, "rubric": rubric_of(project), "progress": progress(db, pid), "agreement": agreement,
            "n_disagreements": len(disagreements(db, project)), "n_items": len(project.items),
        }, sess=sess)

    @app.get("/owner/projects/{pid}/agreement.json")
    def owner_agreement(pid: int, sess: WebSession = Depends(owner_only), db: Session = Depends(get_db)) -> Any:
        project = project_or_404(db, pid)
        return {"agreement": agreement_cache.get(db, project),
                "progress": [{"rater": p.user.name, "assigned": p.assigned, "done": p.done} for p in progress(db, pid)]}

    @app.get("/owner/projects/{pid}/adjudicate", response_class=HTMLResponse)
    def adjudicate_view(request: Request, pid: int, sess: WebSession = Depends(owner_only),
                        db: Session = Depends(get_db)) -> Response:
        project = project_or_404(db, pid)
        return render(request, "adjudicate.html", {"project": project, "rubric": rubric_of(project),
                                                   "rows": disagreements(db, project)}, sess=sess)

    @app.get("/owner/projects/{pid}/items/{iid}", response_class=HTMLResponse)
    def owner_item(request: Request, pid: int, iid: int, sess: WebSession = Depends(owner_only),
                   db: Session = Depends(get_db)) -> Response:
        project = project_or_404(db, pid)
        item = db.get(ProjectItem, iid)
        if item is None or item.project_id != pid:
            raise HTTPException(404, "not found")
        labels = sorted(db.scalars(select(Label).where(Label.item_id == iid)), key=lambda lab: lab.user.name)
        return render(request, "owner_item.html", {"project": project, "rubric": rubric_of(project), "item": item,
                                                   "labels": labels}, sess=sess)

    @app.post("/owner/projects/{pid}/items/{iid}/adjudicate")
    async def adjudicate(request: Request, pid: int, iid: int, sess: WebSession = Depends(owner_only),
                         db: Session = Depends(get_db)) -> Response:
        form = await check_csrf(request, sess.csrf_token)
        project = project_or_404(db, pid)
        item = db.get(ProjectItem, iid)
        if item is None or item.project_id != pid:
            raise HTTPException(404, "not found")
        rubric = rubric_of(project)
        try:
            values = validate_values(rubric, {f.id: form.get(f"f_{f.id}") for f in rubric.factors},  # type: ignore[misc]
                                     str(form.get("rationale", "")))
        except LabelInputError as exc:
            raise HTTPException(422, f"adjudication of item {item.external_id}: {exc}") from None
        save_adjudication(db, project, item, sess.user, values, str(form.get("rationale", "")))
        return RedirectResponse(f"/owner/projects/{pid}/adjudicate#item-{iid}", status_code=303)

    # ---------------------------------------------------------------- exports (owner)
    def _download(body: str, filename: str, media: str) -> Response:
        return PlainTextResponse(body, media_type=media,
                                 headers={"Content-Disposition": f'attachment; filename="{filename}"'})

    @app.get("/owner/projects/{pid}/export/labels.jsonl")
    def export_jsonl(pid: int, sess: WebSession = Depends(owner_only), db: Session = Depends(get_db)) -> Response:
        project = project_or_404(db, pid)
        return _download(exp.to_jsonl(exp.label_records(db, project)), f"{_slug(project.name)}-labels.jsonl",
                         "application/x-ndjson")

    @app.get("/owner/projects/{pid}/export/labels.csv")
    def export_csv(pid: int, sess: WebSession = Depends(owner_only), db: Session = Depends(get_db)) -> Response:
        project = project_or_404(db, pid)
        return _download(exp.to_csv(project, exp.label_records(db, project)), f"{_slug(project.name)}-labels.csv",
                         "text/csv")

    @app.get("/owner/projects/{pid}/export/adjudications.jsonl")
    def export_adj(pid: int, sess: WebSession = Depends(owner_only), db: Session = Depends(get_db)) -> Response:
        project = project_or_404(db, pid)
        return _download(exp.to_jsonl(exp.adjudication_records(db, project)),
                         f"{_slug(project.name)}-adjudications.jsonl", "application/x-ndjson")

    @app.get("/owner/projects/{pid}/export/soft-labels.jsonl")
    def export_soft(pid: int, sess: WebSession = Depends(owner_only), db: Session = Depends(get_db)) -> Response:
        project = project_or_404(db, pid)
        try:
            body = exp.soft_labels_jsonl(project, exp.label_records(db, project))
        except exp.ExportUnavailable as exc:
            raise HTTPException(501, str(exc)) from None
        return _download(body, f"{_slug(project.name)}-soft-labels.jsonl", "application/x-ndjson")

    return app


def _safe_next(nxt: str) -> str:
    """Only same-site relative paths are followed after login (no open redirect)."""
    return nxt if nxt.startswith("/") and not nxt.startswith("//") and "\\" not in nxt else "/"


def _human_wait(secs: int) -> str:
    if secs < 90:
        return f"{secs} second{'s' if secs != 1 else ''}"
    return f"{math.ceil(secs / 60)} minutes"


def _int_or_none(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:60] or "project"


def _fmt_num(x: Any) -> str:
    return "—" if x is None else f"{x:.3f}"


def _fmt_pct(x: Any) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"

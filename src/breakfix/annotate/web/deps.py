"""What every router of the annotation app shares: the app's state and the request dependencies.

The state (database sessions, cookie signer, templates, log-in throttle, bcrypt limiter, agreement
cache) is built once by :func:`~breakfix.annotate.web.app.create_app` and hung on
``app.state.web``; dependencies read it from the request, so two apps in one process (the tests
run several) never share anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

import anyio
from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from .agreement import AgreementCache
from .dashboard import DashboardCache
from .db import Project, ProjectItem, WebSession
from .security import SESSION_COOKIE, SESSION_MAX_AGE_S, CookieSigner, token_hash, tokens_equal
from .throttle import LoginThrottle


class LoginRequired(Exception):
    """Raised by page dependencies when nobody is logged in (redirects to the login page)."""


@dataclass
class WebState:
    """Everything the routes need, built once per app."""

    sessions: sessionmaker
    signer: CookieSigner
    templates: Jinja2Templates
    throttle: LoginThrottle
    hash_limiter: anyio.CapacityLimiter
    agreement: AgreementCache
    dashboard: DashboardCache
    report: DashboardCache
    secure_cookies: bool = False


def state(request: Request) -> WebState:
    return request.app.state.web


def get_db(request: Request) -> Iterator[Session]:
    with state(request).sessions() as db:
        yield db


def session_row(request: Request, db: Session) -> WebSession | None:
    """The logged-in session of this request, or None (missing, forged, expired or revoked)."""
    sid = state(request).signer.loads(request.cookies.get(SESSION_COOKIE))
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
        raise LoginRequired()
    return row


def owner_only(sess: WebSession = Depends(current)) -> WebSession:
    if not sess.user.is_owner:
        raise HTTPException(403, "owners only")
    return sess


async def check_csrf(request: Request, expected: str | None) -> dict[str, Any]:
    """The submitted form, once its CSRF token (field ``csrf_token`` or header ``X-CSRF-Token``) matches."""
    form = await request.form()
    given = str(form.get("csrf_token") or request.headers.get("x-csrf-token") or "")
    if not tokens_equal(given, expected):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
    return dict(form)


def render(request: Request, name: str, ctx: dict[str, Any], status: int = 200,
           sess: WebSession | None = None) -> HTMLResponse:
    base = {"user": sess.user if sess else None, "csrf": sess.csrf_token if sess else ""}
    return state(request).templates.TemplateResponse(request, name, {**base, **ctx}, status_code=status)


def set_cookie(request: Request, resp: Response, key: str, value: str, max_age: int) -> None:
    resp.set_cookie(key, value, max_age=max_age, httponly=True, samesite="lax",
                    secure=state(request).secure_cookies, path="/")


def project_or_404(db: Session, pid: int) -> Project:
    project = db.get(Project, pid)
    if project is None:
        raise HTTPException(404, "not found")
    return project


def item_or_404(db: Session, pid: int, iid: int) -> ProjectItem:
    item = db.get(ProjectItem, iid)
    if item is None or item.project_id != pid:
        raise HTTPException(404, "not found")
    return item


def safe_next(nxt: str) -> str:
    """Only same-site relative paths are followed after login (no open redirect)."""
    return nxt if nxt.startswith("/") and not nxt.startswith("//") and "\\" not in nxt else "/"


def int_or_none(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None

"""Log-in, log-out and accepting an invitation.

Log-in is throttled per account and per address (:mod:`..throttle`), and the bcrypt check runs in
a worker thread under a limiter, so a burst of log-ins never stalls the event loop.
"""

from __future__ import annotations

import math

import anyio.to_thread
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from ..db import User, WebSession
from ..deps import check_csrf, current, get_db, render, safe_next, session_row, set_cookie, state
from ..security import (
    KNOWN_DEVICE_COOKIE,
    KNOWN_DEVICE_MAX_AGE_S,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_MAX_AGE_S,
    check_password,
    new_token,
    token_hash,
)
from ..users import UserInputError, invite_user, login_candidate

router = APIRouter()


def _login_page(request: Request, nxt: str, error: str = "", status: int = 200) -> Response:
    token = new_token()
    resp = render(request, "login.html", {"login_csrf": token, "next": nxt, "error": error}, status=status)
    set_cookie(request, resp, LOGIN_CSRF_COOKIE, state(request).signer.dumps(token), 3600)
    return resp


def start_session(request: Request, db: Session, user: User, nxt: str) -> Response:
    """Log ``user`` in with a fresh session id (no session fixation) and go to ``nxt``."""
    signer = state(request).signer
    sid = new_token()
    db.add(WebSession(id_hash=token_hash(sid), user_id=user.id, csrf_token=new_token()))
    db.commit()
    resp = RedirectResponse(nxt, status_code=303)
    set_cookie(request, resp, SESSION_COOKIE, signer.dumps(sid), SESSION_MAX_AGE_S)
    # This browser has proved it knows the password: the account's lock will not apply to it.
    set_cookie(request, resp, KNOWN_DEVICE_COOKIE, signer.dumps(user.name), KNOWN_DEVICE_MAX_AGE_S)
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return resp


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/", db: Session = Depends(get_db)) -> Response:
    if session_row(request, db) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, safe_next(next))


@router.post("/login")
async def login(request: Request, db: Session = Depends(get_db)) -> Response:
    st = state(request)
    expected = st.signer.loads(request.cookies.get(LOGIN_CSRF_COOKIE), max_age=3600)
    form = await check_csrf(request, expected)
    name, password = str(form.get("username", "")), str(form.get("password", ""))
    nxt = safe_next(str(form.get("next", "/")))
    address = request.client.host if request.client else "unknown"
    known = st.signer.loads(request.cookies.get(KNOWN_DEVICE_COOKIE), max_age=KNOWN_DEVICE_MAX_AGE_S) == name

    wait = st.throttle.retry_after(db, name, address, known_device=known)
    if wait > 0:
        secs = max(1, math.ceil(wait))
        resp = _login_page(request, nxt, f"Too many failed log-ins: try again in {_human_wait(secs)}.", 429)
        resp.headers["Retry-After"] = str(secs)
        return resp
    user, hashed = login_candidate(db, name)
    ok = await anyio.to_thread.run_sync(check_password, password, hashed, limiter=st.hash_limiter)
    if not ok or user is None:
        st.throttle.failed(db, name, address, known_device=known)
        return _login_page(request, nxt, "Wrong user name or password.", 401)
    st.throttle.succeeded(db, name, address)
    return start_session(request, db, user, nxt)


@router.post("/logout")
async def logout(request: Request, sess: WebSession = Depends(current), db: Session = Depends(get_db)) -> Response:
    await check_csrf(request, sess.csrf_token)
    row = db.get(WebSession, sess.id_hash)
    if row is not None:
        db.delete(row)
        db.commit()
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("/invite/{token}", response_class=HTMLResponse)
def invite_form(request: Request, token: str, db: Session = Depends(get_db)) -> Response:
    user = invite_user(db, token)
    if user is None:
        raise HTTPException(404, "this invitation link is unknown, used or expired")
    return _invite_page(request, token, user.name)


def _invite_page(request: Request, token: str, name: str, error: str = "", status: int = 200) -> Response:
    csrf = new_token()
    resp = render(request, "invite.html", {"login_csrf": csrf, "token": token, "name": name, "error": error},
                  status=status)
    set_cookie(request, resp, LOGIN_CSRF_COOKIE, state(request).signer.dumps(csrf), 3600)
    return resp


@router.post("/invite/{token}")
async def invite_accept(request: Request, token: str, db: Session = Depends(get_db)) -> Response:
    from ..users import redeem_invite

    expected = state(request).signer.loads(request.cookies.get(LOGIN_CSRF_COOKIE), max_age=3600)
    form = await check_csrf(request, expected)
    user = invite_user(db, token)
    if user is None:
        raise HTTPException(404, "this invitation link is unknown, used or expired")
    pw, again = str(form.get("password", "")), str(form.get("password2", ""))
    if pw != again:
        return _invite_page(request, token, user.name, "The two passwords differ.", 422)
    try:
        await anyio.to_thread.run_sync(redeem_invite, db, token, pw, limiter=state(request).hash_limiter)
    except UserInputError as exc:
        return _invite_page(request, token, user.name, str(exc), 422)
    return start_session(request, db, user, "/projects")


def _human_wait(secs: int) -> str:
    if secs < 90:
        return f"{secs} second{'s' if secs != 1 else ''}"
    return f"{math.ceil(secs / 60)} minutes"

"""The blind annotation web app (FastAPI + Jinja2 with autoescape).

Raters see one item at a time from their own queue and only their own labels; owners see
projects, progress, live agreement, a disagreement dashboard, an adjudication view and exports.
Model output is untrusted: replies are rendered from markdown and sanitised (:mod:`.markdown`),
everything else is escaped text, and the Content-Security-Policy forbids inline script.

This module only assembles the app; the routes live in :mod:`.routes`, one router per job, and
share their state through :mod:`.deps`.
"""

from __future__ import annotations

import os
from importlib import resources
from typing import Any
from urllib.parse import quote

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.exceptions import HTTPException as StarletteHTTPException

from .agreement import AgreementCache
from .dashboard import DashboardCache
from .db import make_engine, make_sessionmaker
from .deps import LoginRequired, WebState
from .markdown import render_markdown
from .routes import adjudicate, api, auth, exports, manage, owner, rater
from .security import CookieSigner, app_secret
from .throttle import LoginThrottle

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


def default_hash_concurrency() -> int:
    """How many bcrypt checks run at once: one core is always left for everything else."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def _templates() -> Jinja2Templates:
    env = Environment(loader=PackageLoader("breakfix.annotate.web", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _fmt_num
    env.filters["pct"] = _fmt_pct
    env.filters["signed"] = _fmt_signed
    env.filters["md"] = render_markdown
    return Jinja2Templates(env=env)


def create_app(db_url: str | None = None, *, secure_cookies: bool = False, throttle: LoginThrottle | None = None,
               hash_concurrency: int | None = None) -> FastAPI:
    """Build the app on the database at ``db_url`` (default ``$BREAKFIX_DB`` or ``sqlite:///breakfix.db``).

    Args:
        db_url: SQLAlchemy URL of the breakfix database.
        secure_cookies: mark cookies ``Secure`` (set when served over HTTPS).
        throttle: the log-in throttle (default: :class:`LoginThrottle` with its default policy).
        hash_concurrency: bcrypt checks allowed at once (default :func:`default_hash_concurrency`).
    """
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        signer = CookieSigner(app_secret(db))
    templates = _templates()

    app = FastAPI(title="breakfix annotation", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine = engine
    # bcrypt is deliberately slow (~0.25 s at cost 12). It runs in worker threads, never on the
    # event loop, and only this many at once, so a burst of log-ins cannot stall other requests.
    app.state.web = WebState(sessions=sessions, signer=signer, templates=templates,
                             throttle=throttle or LoginThrottle(),
                             hash_limiter=anyio.CapacityLimiter(hash_concurrency or default_hash_concurrency()),
                             agreement=AgreementCache(), dashboard=DashboardCache(),
                             report=DashboardCache(owner.report_html), secure_cookies=secure_cookies)
    static_dir = resources.files("breakfix.annotate.web") / "static"
    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, exc: LoginRequired) -> Response:
        nxt = request.url.path if request.method == "GET" else "/"
        return RedirectResponse(f"/login?next={quote(nxt)}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return templates.TemplateResponse(request, "error.html", {"user": None, "csrf": "", "status": exc.status_code,
                                                                  "detail": exc.detail}, status_code=exc.status_code)

    # manage before owner: "/owner/projects/new" must not be read as a project id.
    for module in (auth, rater, api, manage, owner, adjudicate, exports):
        app.include_router(module.router)
    return app


def _fmt_num(x: Any) -> str:
    return "—" if x is None else f"{x:.3f}"


def _fmt_pct(x: Any) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def _fmt_signed(x: Any) -> str:
    return "—" if x is None else f"{x:+.2f}"

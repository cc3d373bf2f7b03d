"""Passwords, signed session cookies and CSRF tokens for the annotation web app.

Why these choices: bcrypt is a slow, salted hash made for passwords; the session cookie carries only
a random id signed with itsdangerous (tampering is detected, the id means nothing without the
database row), and the CSRF token is a per-session random value compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

import bcrypt
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from .db import Setting

SESSION_COOKIE = "bf_session"
LOGIN_CSRF_COOKIE = "bf_login_csrf"
SESSION_MAX_AGE_S = 12 * 3600
# A browser that logged in to an account is remembered for this long, so the account's log-in
# throttle (which strangers can trigger) never applies to it; see throttle.py.
KNOWN_DEVICE_COOKIE = "bf_known_device"
KNOWN_DEVICE_MAX_AGE_S = 90 * 24 * 3600
MIN_PASSWORD_LEN = 8


def hash_password(password: str) -> str:
    """A bcrypt hash of ``password`` (bcrypt reads at most 72 bytes; longer ones are pre-hashed)."""
    return bcrypt.hashpw(_prepare(password), bcrypt.gensalt(rounds=bcrypt_rounds())).decode("ascii")


def check_password(password: str, hashed: str) -> bool:
    """Whether ``password`` matches the bcrypt hash ``hashed``."""
    try:
        return bcrypt.checkpw(_prepare(password), hashed.encode("ascii"))
    except ValueError:
        return False


def _prepare(password: str) -> bytes:
    raw = password.encode("utf-8")
    # bcrypt 5 rejects inputs over 72 bytes; pre-hash them so long passphrases keep all their entropy.
    return hashlib.sha256(raw).hexdigest().encode("ascii") if len(raw) > 72 else raw


def bcrypt_rounds() -> int:
    """The bcrypt cost for new hashes: 12, or ``$BREAKFIX_BCRYPT_ROUNDS``."""
    # Tests may lower the cost with BREAKFIX_BCRYPT_ROUNDS; never below bcrypt's minimum of 4.
    return max(4, int(os.environ.get("BREAKFIX_BCRYPT_ROUNDS", "12")))


def app_secret(db: Session) -> str:
    """The cookie-signing secret: ``$BREAKFIX_WEB_SECRET``, else one generated once and kept in the
    database so sessions survive a restart. Never logged."""
    env = os.environ.get("BREAKFIX_WEB_SECRET")
    if env:
        return env
    row = db.get(Setting, "secret_key")
    if row is None:
        row = Setting(key="secret_key", value=secrets.token_urlsafe(48))
        db.add(row)
        db.commit()
    return row.value


def new_token() -> str:
    """A fresh random token (session ids, CSRF tokens)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The stored form of a session id."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tokens_equal(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two tokens; a missing token never matches."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


class CookieSigner:
    """Signs and verifies the values put in cookies (with an expiry)."""

    def __init__(self, secret: str) -> None:
        self._s = URLSafeTimedSerializer(secret, salt="breakfix-annotate")

    def dumps(self, value: str) -> str:
        return self._s.dumps(value)

    def loads(self, signed: str | None, max_age: int = SESSION_MAX_AGE_S) -> str | None:
        """The value, or None if the cookie is missing, forged or expired."""
        if not signed:
            return None
        try:
            value = self._s.loads(signed, max_age=max_age)
        except (BadSignature, SignatureExpired):
            return None
        return value if isinstance(value, str) else None

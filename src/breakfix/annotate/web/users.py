"""Users of the annotation app: owners (see everything) and annotators (see only their own work)."""

from __future__ import annotations

import functools
import re

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ...core.errors import BreakfixError
from .db import Invite, User, WebSession
from .security import MIN_PASSWORD_LEN, bcrypt_rounds, check_password, hash_password, new_token, token_hash

ROLES = ("owner", "annotator")
INVITE_MAX_AGE_S = 14 * 24 * 3600
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@functools.lru_cache(maxsize=None)
def _dummy_hash(rounds: int) -> str:
    """A constant hash to compare against when the user does not exist, so a login for an unknown
    name takes as long as one with a wrong password (no user-enumeration by timing)."""
    import bcrypt

    return bcrypt.hashpw(b"not-a-real-password", bcrypt.gensalt(rounds=rounds)).decode("ascii")


class UserInputError(BreakfixError, ValueError):
    """Bad user name, role or password (one-line message)."""


def add_user(db: Session, name: str, role: str, password: str) -> User:
    """Create a user with a bcrypt-hashed password."""
    if not _NAME.match(name):
        raise UserInputError(f"user name {name!r}: use letters, digits, '_', '.', '-' (max 64)")
    if role not in ROLES:
        raise UserInputError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LEN:
        raise UserInputError(f"password for {name!r}: at least {MIN_PASSWORD_LEN} characters expected")
    if get_user(db, name) is not None:
        raise UserInputError(f"user {name!r} already exists")
    user = User(name=name, role=role, password_hash=hash_password(password))
    db.add(user)
    db.commit()
    return user


def set_password(db: Session, name: str, password: str) -> User:
    """Replace a user's password and end every session they have open.

    A changed password usually means the old one leaked: a browser that logged in with it must not
    stay logged in."""
    user = get_user(db, name)
    if user is None:
        raise UserInputError(f"no user named {name!r}")
    if len(password) < MIN_PASSWORD_LEN:
        raise UserInputError(f"password for {name!r}: at least {MIN_PASSWORD_LEN} characters expected")
    user.password_hash = hash_password(password)
    revoke_sessions(db, user)
    db.commit()
    return user


def revoke_sessions(db: Session, user: User) -> int:
    """Delete every session of ``user`` (the caller commits); returns how many there were."""
    result = db.execute(delete(WebSession).where(WebSession.user_id == user.id))
    return int(result.rowcount or 0)


def get_user(db: Session, name: str) -> User | None:
    return db.scalar(select(User).where(User.name == name))


def list_users(db: Session) -> list[User]:
    return list(db.scalars(select(User).order_by(User.name)))


def login_candidate(db: Session, name: str) -> tuple[User | None, str]:
    """The active user called ``name`` (or None) and the hash to check a password against.

    An unknown or inactive name gets a dummy hash of the same cost, so checking it takes as long.
    The check itself is left to the caller, which may run it in a worker thread."""
    user = get_user(db, name)
    if user is None or not user.active:
        cost = user.password_hash.split("$")[2] if user is not None else None
        return None, _dummy_hash(int(cost) if cost and cost.isdigit() else bcrypt_rounds())
    return user, user.password_hash


def authenticate(db: Session, name: str, password: str) -> User | None:
    """The active user with this name and password, else None (same cost either way)."""
    user, hashed = login_candidate(db, name)
    ok = check_password(password, hashed)
    return user if ok and user is not None else None



def create_invite(db: Session, name: str) -> str:
    """Create annotator ``name`` (no usable password yet) and a one-time invitation token for them.

    Returns:
        The token; the link is ``/invite/<token>``. Only its hash is stored.
    """
    if not _NAME.match(name):
        raise UserInputError(f"user name {name!r}: use letters, digits, '_', '.', '-' (max 64)")
    if get_user(db, name) is not None:
        raise UserInputError(f"user {name!r} already exists")
    # A random password nobody knows: the account cannot be used until the invitation is accepted.
    user = User(name=name, role="annotator", password_hash=hash_password(new_token()))
    db.add(user)
    db.flush()
    token = new_token()
    db.add(Invite(token_hash=token_hash(token), user_id=user.id))
    db.commit()
    return token


def invite_user(db: Session, token: str) -> User | None:
    """The user an unused, unexpired invitation is for, else None."""
    from datetime import datetime, timezone

    inv = db.get(Invite, token_hash(token))
    if inv is None or inv.used:
        return None
    created = inv.created_at if inv.created_at.tzinfo else inv.created_at.replace(tzinfo=timezone.utc)
    if (datetime.now(timezone.utc) - created).total_seconds() > INVITE_MAX_AGE_S:
        return None
    return inv.user


def redeem_invite(db: Session, token: str, password: str) -> User:
    """Set the invited user's password and use the invitation up."""
    user = invite_user(db, token)
    if user is None:
        raise UserInputError("this invitation link is unknown, used or expired")
    set_password(db, user.name, password)
    inv = db.get(Invite, token_hash(token))
    inv.used = True
    db.commit()
    return user

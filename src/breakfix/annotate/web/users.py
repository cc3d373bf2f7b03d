"""Users of the annotation app: owners (see everything) and annotators (see only their own work)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db import User
from .security import MIN_PASSWORD_LEN, check_password, hash_password

ROLES = ("owner", "annotator")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# A constant hash to compare against when the user does not exist, so a login for an unknown
# name takes as long as one with a wrong password (no user-enumeration by timing).
_DUMMY_HASH: str | None = None


class UserInputError(ValueError):
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
    """Replace a user's password."""
    user = get_user(db, name)
    if user is None:
        raise UserInputError(f"no user named {name!r}")
    if len(password) < MIN_PASSWORD_LEN:
        raise UserInputError(f"password for {name!r}: at least {MIN_PASSWORD_LEN} characters expected")
    user.password_hash = hash_password(password)
    db.commit()
    return user


def get_user(db: Session, name: str) -> User | None:
    return db.scalar(select(User).where(User.name == name))


def list_users(db: Session) -> list[User]:
    return list(db.scalars(select(User).order_by(User.name)))


def authenticate(db: Session, name: str, password: str) -> User | None:
    """The active user with this name and password, else None (same cost either way)."""
    global _DUMMY_HASH
    user = get_user(db, name)
    if user is None or not user.active:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password("not-a-real-password")
        check_password(password, _DUMMY_HASH)
        return None
    return user if check_password(password, user.password_hash) else None

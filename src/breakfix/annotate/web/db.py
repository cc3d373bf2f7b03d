"""Tables of the blind annotation web app.

They live in the same database as the rest of breakfix (default ``sqlite:///breakfix.db``) but on
their own :class:`WebBase`, so the app creates and owns only its ``annot_*`` tables and never
touches the store's schema.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

from ...core.db import DEFAULT_URL, resolve_url
from ...core.db import make_engine as _db_engine
from ...core.migrate import prepare

DEFAULT_DB_URL = DEFAULT_URL


def db_url_from_env(url: str | None = None) -> str:
    """The one database (core/db.py): an explicit URL, else ``$BREAKFIX_STORE`` / ``$BREAKFIX_DB``,
    else ``sqlite:///breakfix.db``."""
    return resolve_url(url)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class WebBase(DeclarativeBase):
    """Declarative base of the web app's own tables (kept apart from the store's metadata)."""


class User(WebBase):
    __tablename__ = "annot_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # "owner" | "annotator"
    password_hash: Mapped[str] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"


class WebSession(WebBase):
    """A logged-in browser. The cookie carries a signed random id; only its hash is stored, so a
    leaked database does not hand out live sessions. Logout deletes the row."""

    __tablename__ = "annot_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("annot_users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)

    user: Mapped[User] = relationship(lazy="joined")


class Setting(WebBase):
    """Key/value settings of the app (the cookie-signing secret lives here unless set by env)."""

    __tablename__ = "annot_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class LoginFailure(WebBase):
    """Failed log-ins counted against one key (``acct:NAME`` or ``addr:ADDRESS``) for throttling.

    Times are Unix seconds (floats) so the back-off arithmetic needs no time-zone handling."""

    __tablename__ = "annot_login_failures"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure: Mapped[float] = mapped_column(Float, default=0.0)
    locked_until: Mapped[float] = mapped_column(Float, default=0.0)


class Invite(WebBase):
    """A one-time link with which a new rater chooses their own password. Only the token's hash is
    stored; the link works once and for :data:`breakfix.annotate.web.users.INVITE_MAX_AGE_S`."""

    __tablename__ = "annot_invites"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("annot_users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    used: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[User] = relationship(lazy="joined")


class Draft(WebBase):
    """A rater's unsubmitted choices on an item, kept on the server so they survive navigation,
    a reload or another machine, and are never mistaken for a label (no export reads them)."""

    __tablename__ = "annot_drafts"
    __table_args__ = (UniqueConstraint("item_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("annot_projects.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("annot_items.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("annot_users.id", ondelete="CASCADE"), index=True)
    values: Mapped[dict[str, int]] = mapped_column(JSON)
    rationale: Mapped[str] = mapped_column(Text, default="")
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Project(WebBase):
    __tablename__ = "annot_projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    rubric: Mapped[dict[str, Any]] = mapped_column(JSON)  # the validated rubric, as a dict
    source: Mapped[str] = mapped_column(String(512), default="")  # "jsonl:FILE" | "run:RUN_ID"
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("annot_users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)

    items: Mapped[list["ProjectItem"]] = relationship(back_populates="project", order_by="ProjectItem.position",
                                                      cascade="all, delete-orphan")


class ProjectItem(WebBase):
    """One thing to rate: a prompt or conversation and the model's response (untrusted text)."""

    __tablename__ = "annot_items"
    __table_args__ = (UniqueConstraint("project_id", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("annot_projects.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(128))
    position: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(128), default="uncategorised")
    conversation: Mapped[list[dict[str, str]]] = mapped_column(JSON)  # [{"role", "content"}...]
    response: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    project: Mapped[Project] = relationship(back_populates="items")


class Assignment(WebBase):
    """Item ``item_id`` is in annotator ``user_id``'s queue at ``position``."""

    __tablename__ = "annot_assignments"
    __table_args__ = (UniqueConstraint("item_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("annot_projects.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("annot_items.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("annot_users.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)

    item: Mapped[ProjectItem] = relationship(lazy="joined")
    user: Mapped[User] = relationship(lazy="joined")


class Label(WebBase):
    """One annotator's judgement of one item: a value per rubric factor and a rationale."""

    __tablename__ = "annot_labels"
    __table_args__ = (UniqueConstraint("item_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("annot_projects.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("annot_items.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("annot_users.id", ondelete="CASCADE"), index=True)
    values: Mapped[dict[str, int]] = mapped_column(JSON)
    rationale: Mapped[str] = mapped_column(Text, default="")
    revisions: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)

    user: Mapped[User] = relationship(lazy="joined")
    item: Mapped[ProjectItem] = relationship(lazy="joined")


class Adjudication(WebBase):
    """The owner's adjudicated label for an item; the individual labels are kept unchanged."""

    __tablename__ = "annot_adjudications"
    __table_args__ = (UniqueConstraint("item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("annot_projects.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("annot_items.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("annot_users.id"))
    values: Mapped[dict[str, int]] = mapped_column(JSON)
    rationale: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)

    user: Mapped[User] = relationship(lazy="joined")


def make_engine(url: str | None = None) -> Engine:
    """An engine on ``url`` with the app's tables created (idempotent).

    SQLite gets foreign keys switched on and a busy timeout, because the CLI and the server may
    write the same file at once.
    """
    engine = _db_engine(url)  # the one database layer: same pragmas (foreign keys on) and errors
    prepare(engine)  # tables + schema revision of the one database (core/migrate.py)
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker:
    """Sessions that keep loaded objects usable after commit (templates read them afterwards)."""
    return sessionmaker(engine, expire_on_commit=False)

"""The scanner's tables (prefix ``scan_``), in the same database as the breakfix store.

A scan is keyed by a hash of the model's files and the scan settings, so running the same scan again
finds its finished stages and resumes after the last one. Stage payloads are JSON: small (hundreds
of samples, tens of candidates), portable across SQLite and Postgres.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Column, DateTime, ForeignKey, MetaData, String, Table, delete, insert, select, update
from sqlalchemy.engine import Engine

from ..core.db import make_engine, resolve_url
from ..core.migrate import prepare

metadata = MetaData()

scans = Table(
    "scan_scans", metadata,
    Column("id", String(64), primary_key=True),
    Column("model_path", String(1000), nullable=False),
    Column("config", JSON, nullable=False),
    Column("status", String(20), nullable=False),  # running | done | failed
    Column("verdict", JSON, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

stages = Table(
    "scan_stages", metadata,
    Column("scan_id", String(64), ForeignKey("scan_scans.id", ondelete="CASCADE"), primary_key=True),
    Column("stage", String(32), primary_key=True),
    Column("payload", JSON, nullable=False),
    Column("cost", JSON, nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def db_url(url: str | None = None) -> str:
    """The one database (core/db.py): an explicit URL, else ``$BREAKFIX_STORE`` / ``$BREAKFIX_DB``,
    else ``sqlite:///breakfix.db``."""
    return resolve_url(url)


class ScanDB:
    """Read and write scans and their stages.

    Args:
        url: SQLAlchemy URL of the breakfix database.
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = db_url(url)
        self.engine: Engine = make_engine(self.url)  # the one database layer's pragmas and errors
        prepare(self.engine)  # tables + schema revision of the one database (core/migrate.py)

    def close(self) -> None:
        self.engine.dispose()

    def start(self, scan_id: str, model_path: str, config: dict[str, Any]) -> None:
        """Create the scan row, or mark an existing one running again (resume)."""
        with self.engine.begin() as c:
            if c.execute(select(scans.c.id).where(scans.c.id == scan_id)).first():
                c.execute(update(scans).where(scans.c.id == scan_id).values(status="running", updated_at=_now()))
            else:
                c.execute(insert(scans).values(id=scan_id, model_path=model_path, config=config, status="running",
                                               created_at=_now(), updated_at=_now()))

    def stage(self, scan_id: str, stage: str) -> tuple[Any, dict[str, Any]] | None:
        """A finished stage's (payload, cost), or None."""
        with self.engine.connect() as c:
            row = c.execute(select(stages.c.payload, stages.c.cost)
                            .where(stages.c.scan_id == scan_id, stages.c.stage == stage)).first()
        return (row[0], row[1]) if row else None

    def finished_stages(self, scan_id: str) -> list[str]:
        with self.engine.connect() as c:
            return [r[0] for r in c.execute(select(stages.c.stage).where(stages.c.scan_id == scan_id)
                                            .order_by(stages.c.finished_at))]

    def save_stage(self, scan_id: str, stage: str, payload: Any, cost: dict[str, Any]) -> None:
        with self.engine.begin() as c:
            c.execute(delete(stages).where(stages.c.scan_id == scan_id, stages.c.stage == stage))
            c.execute(insert(stages).values(scan_id=scan_id, stage=stage, payload=payload, cost=cost,
                                            finished_at=_now()))

    def finish(self, scan_id: str, verdict: dict[str, Any], status: str = "done") -> None:
        with self.engine.begin() as c:
            c.execute(update(scans).where(scans.c.id == scan_id).values(status=status, verdict=verdict,
                                                                        updated_at=_now()))

    def get(self, scan_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(select(scans).where(scans.c.id == scan_id)).mappings().first()
        return dict(row) if row else None

    def list(self) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(select(scans).order_by(scans.c.created_at)).mappings()]

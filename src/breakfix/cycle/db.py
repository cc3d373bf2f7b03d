"""The cycle's tables (prefix ``cycle_``), created on the store's own engine — the same database, URL
and pragmas as runs and findings, never a second default location.

A cycle is keyed by a hash of its config; a round by (cycle, index); every finished step of a round
(break, triage, curate, fix) is a row written the moment it finishes, so running the same config again
skips what is done and resumes at the step it reached.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, Text, delete, insert, select, update
from sqlalchemy.exc import OperationalError

metadata = MetaData()

cycles = Table(
    "cycle_cycles", metadata,
    Column("id", String(80), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("config", JSON, nullable=False),
    Column("model_path", Text, nullable=False),
    Column("status", String(30), nullable=False),  # running | awaiting-triage | nothing-to-fix | done | failed
    Column("note", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

rounds = Table(
    "cycle_rounds", metadata,
    Column("cycle_id", String(80), primary_key=True),
    Column("round", Integer, primary_key=True),
    Column("checkpoint", Text, nullable=False),  # the model this round breaks and measures
    Column("trained_checkpoint", Text, nullable=True),  # what this round's fix produced (None: kept)
    Column("dataset_version", String(64), nullable=True),
    Column("dataset", JSON, nullable=True),  # counts, dropped items and why, file paths
    Column("hyperparams", JSON, nullable=True),  # recipe, seed, steps, lr, beta, adapter, backend
    Column("train_stats", JSON, nullable=True),
    Column("metrics", JSON, nullable=True),
    Column("status", String(30), nullable=False),
    Column("note", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

steps = Table(
    "cycle_steps", metadata,
    Column("cycle_id", String(80), primary_key=True),
    Column("round", Integer, primary_key=True),
    Column("step", String(20), primary_key=True),
    Column("payload", JSON, nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class CycleDB:
    """Read and write cycles, rounds and steps through an existing store's engine.

    Args:
        store: a :class:`breakfix.store.Store` (its engine is reused).
    """

    def __init__(self, store: Any) -> None:
        self.engine = store.engine
        for attempt in range(5):  # two processes creating the tables at once: the loser retries
            try:
                metadata.create_all(self.engine)
                break
            except OperationalError as exc:
                if "already exists" not in str(exc) or attempt == 4:
                    raise

    # -- cycles ------------------------------------------------------------------------------------
    def start(self, cycle_id: str, name: str, config: dict[str, Any], model_path: str) -> bool:
        """Create the cycle (True) or mark an existing one running again (False: a resume)."""
        with self.engine.begin() as c:
            if c.execute(select(cycles.c.id).where(cycles.c.id == cycle_id)).first():
                c.execute(update(cycles).where(cycles.c.id == cycle_id).values(status="running", updated_at=_now()))
                return False
            c.execute(insert(cycles).values(id=cycle_id, name=name, config=config, model_path=model_path,
                                            status="running", note="", created_at=_now(), updated_at=_now()))
            return True

    def set_status(self, cycle_id: str, status: str, note: str = "") -> None:
        with self.engine.begin() as c:
            c.execute(update(cycles).where(cycles.c.id == cycle_id).values(status=status, note=note, updated_at=_now()))

    def get(self, cycle_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(select(cycles).where(cycles.c.id == cycle_id)).mappings().first()
        return dict(row) if row else None

    def resolve(self, ref: str) -> dict[str, Any] | None:
        """A cycle by id, id prefix or name (the newest of that name); ``latest`` for the newest."""
        with self.engine.connect() as c:
            rows = [dict(r) for r in c.execute(select(cycles).order_by(cycles.c.created_at)).mappings()]
        if ref == "latest":
            return rows[-1] if rows else None
        exact = [r for r in rows if r["id"] == ref]
        if exact:
            return exact[0]
        named = [r for r in rows if r["name"] == ref]
        if named:
            return named[-1]
        pref = [r for r in rows if r["id"].startswith(ref)]
        return pref[0] if len(pref) == 1 else None

    def list(self) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(select(cycles).order_by(cycles.c.created_at)).mappings()]

    # -- rounds ------------------------------------------------------------------------------------
    def ensure_round(self, cycle_id: str, index: int, checkpoint: str) -> dict[str, Any]:
        with self.engine.begin() as c:
            row = c.execute(select(rounds).where(rounds.c.cycle_id == cycle_id, rounds.c.round == index)).mappings().first()
            if row:
                return dict(row)
            c.execute(insert(rounds).values(cycle_id=cycle_id, round=index, checkpoint=checkpoint, status="running",
                                            note="", created_at=_now(), updated_at=_now()))
        return self.get_round(cycle_id, index)  # type: ignore[return-value]

    def update_round(self, cycle_id: str, index: int, **values: Any) -> None:
        with self.engine.begin() as c:
            c.execute(update(rounds).where(rounds.c.cycle_id == cycle_id, rounds.c.round == index)
                      .values(**values, updated_at=_now()))

    def get_round(self, cycle_id: str, index: int) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(select(rounds).where(rounds.c.cycle_id == cycle_id, rounds.c.round == index)).mappings().first()
        return dict(row) if row else None

    def rounds(self, cycle_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(select(rounds).where(rounds.c.cycle_id == cycle_id)
                                               .order_by(rounds.c.round)).mappings()]

    # -- steps -------------------------------------------------------------------------------------
    def step(self, cycle_id: str, index: int, step: str) -> Any:
        """A finished step's payload, or None."""
        with self.engine.connect() as c:
            row = c.execute(select(steps.c.payload).where(steps.c.cycle_id == cycle_id, steps.c.round == index,
                                                          steps.c.step == step)).first()
        return row[0] if row else None

    def save_step(self, cycle_id: str, index: int, step: str, payload: Any) -> None:
        with self.engine.begin() as c:
            c.execute(delete(steps).where(steps.c.cycle_id == cycle_id, steps.c.round == index, steps.c.step == step))
            c.execute(insert(steps).values(cycle_id=cycle_id, round=index, step=step, payload=payload,
                                           finished_at=_now()))

    def finished_steps(self, cycle_id: str) -> list[tuple[int, str]]:
        with self.engine.connect() as c:
            return [(r[0], r[1]) for r in c.execute(select(steps.c.round, steps.c.step)
                                                    .where(steps.c.cycle_id == cycle_id).order_by(steps.c.finished_at))]

"""The Store: runs, items, attempts, scores and findings in one SQL database.

SQLite (a file in the working directory, WAL mode, busy timeout) by default; any SQLAlchemy URL
(``postgresql+psycopg://...``) for teams. The store is passed explicitly to whoever needs it — no
process-wide singleton — so two runs or two tests in one process never share hidden state.

Writes are idempotent on the attempt id (a deterministic hash of the attempt's inputs): writing the
same attempt twice, or a resumed run racing a crashed one, leaves exactly one row per id.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import islice
from typing import Any, Iterable, Iterator, Sequence, overload

from sqlalchemy import (
    JSON,
    case,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from ..core.attempts import Attempt, Turn
from ..core.db import DEFAULT_URL, begin_write, make_engine, mask_url, sqlite_path
from ..core.db import _json_dumps as _db_json_dumps
from ..core.errors import BreakfixError
from ..core.findings import Finding
from ..core.items import Item
from ..core.messages import Message, Response
from ..core.migrate import prepare
from ..core.scores import Score
from ..core.text import repair_obj, repair_text
from . import _schema as S

# Response fields that live in their own columns; the rest of the Response goes to a JSON column.
_RESPONSE_COLUMNS = ("text", "error", "latency_s", "prompt_tokens", "completion_tokens", "retries")

# Filters accepted by iter_attempts / count_attempts, mapped to columns.
_FILTER_COLUMNS = ("attack", "converters", "target", "status", "category", "language", "item_id", "success",
                   "refused")


def _now() -> datetime:
    return datetime.now(timezone.utc)


@overload
def _utc(dt: datetime) -> datetime: ...
@overload
def _utc(dt: None) -> None: ...
def _utc(dt: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; everything we write is UTC.
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt


def converter_key(converters: Sequence[str]) -> str:
    """The GROUP BY key of a converter chain: names joined by ``+``; ``""`` for no converter."""
    return "+".join(converters)


def _redact(config: dict[str, Any]) -> dict[str, Any]:
    try:
        from ..core.secrets import redact  # type: ignore[import-not-found]
    except ImportError:
        redact = _fallback_redact
    return redact(config)


_SECRET_WORDS = ("api_key", "apikey", "password", "secret", "token", "authorization", "auth_header")


def _fallback_redact(obj: Any) -> Any:
    """Blank values under secret-looking keys (used until ``core.secrets`` exists)."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            key = str(k).lower()
            # *_env names an environment variable: the name is not a secret, its value is.
            if any(w in key for w in _SECRET_WORDS) and not key.endswith("_env") and isinstance(v, str):
                out[k] = "***"
            else:
                out[k] = _fallback_redact(v)
        return out
    if isinstance(obj, list):
        return [_fallback_redact(v) for v in obj]
    return obj


class StoreWriteError(BreakfixError):
    """An attempt the database would not take; the message names it (the rest of its batch is kept)."""


class StoreNotFoundError(BreakfixError):
    """A read-only command was pointed at a database that does not exist (it is never created)."""


@dataclass
class RunInfo:
    """A run's record plus its attempt counts (computed in SQL)."""

    id: str
    name: str
    config: dict[str, Any]
    status: str
    planned: int | None
    created_at: datetime
    updated_at: datetime
    attempts: int = 0
    errors: int = 0
    successes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Store:
    """Persistent storage for runs, items, attempts, scores and findings.

    Args:
        url: a SQLAlchemy URL; default ``sqlite:///breakfix.db`` (a file in the working directory).
        echo: log SQL statements (debugging).
        must_exist: for commands that only read (``show``, ``export``, ``report``): a SQLite file
            that does not exist raises :class:`StoreNotFoundError` instead of being created, so a
            mistyped path never leaves an empty database behind.
    """

    def __init__(self, url: str = DEFAULT_URL, *, echo: bool = False, must_exist: bool = False) -> None:
        self.url = url
        if must_exist:
            path = sqlite_path(url)
            if path is not None and not path.is_file():
                raise StoreNotFoundError(f"store {mask_url(url)}: no database file {path}; `breakfix run` creates one, "
                                         "`--store` (or $BREAKFIX_STORE) names an existing one")
        self.engine: Engine = _make_engine(url, echo=echo)
        # SQLite: attempts are inserted through the driver (see write_attempts); echo wants SQLAlchemy's log.
        self._sqlite_rows = _SqliteRows(self.engine.dialect) if self.engine.dialect.name == "sqlite" and not echo \
            else None
        prepare(self.engine)  # tables + schema revision of the one database (core/migrate.py)
        try:
            with self.engine.begin() as conn:
                have = conn.execute(select(S.meta_info.c.value).where(S.meta_info.c.key == "schema_version")).scalar()
                if have is None:
                    conn.execute(insert(S.meta_info).values(key="schema_version", value=str(S.SCHEMA_VERSION)))
        except IntegrityError:
            pass  # another process opening the same fresh database wrote it first

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        """Release all connections (safe to call twice)."""
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({mask_url(self.url)!r})"

    # -- runs ------------------------------------------------------------------------------------
    def create_run(self, name: str, config: dict[str, Any], run_id: str | None = None) -> str:
        """Create a run (or return ``run_id`` unchanged if that run already exists).

        The config is stored redacted (no API keys). Without ``run_id``, a fresh random id is used.
        """
        import uuid

        rid = run_id or uuid.uuid4().hex[:16]
        now = _now()
        try:
            with begin_write(self.engine) as conn:
                exists = conn.execute(select(S.runs.c.id).where(S.runs.c.id == rid)).scalar()
                if exists is None:
                    # Parameters passed to execute, not baked into the statement with .values():
                    # SQLAlchemy's compiled-statement cache keeps the first statement it compiled,
                    # values included, which held a 100,000-item config (~25 MB) for the Store's life.
                    conn.execute(insert(S.runs), {
                        "id": rid, "name": repair_obj(name)[0], "config": repair_obj(_jsonable(_redact(config)))[0],
                        "status": "created", "planned": None, "created_at": now, "updated_at": now})
        except IntegrityError:
            pass  # another worker on the same run created it between our check and our insert
        return rid

    def set_run_status(self, run_id: str, status: str, *, planned: int | None = None) -> None:
        values: dict[str, Any] = {"status": status, "updated_at": _now()}
        if planned is not None:
            values["planned"] = planned
        with self.engine.begin() as conn:
            conn.execute(update(S.runs).where(S.runs.c.id == run_id).values(**values))

    def get_run(self, run_id: str) -> RunInfo | None:
        """The run with this exact id, with its attempt counts; ``None`` if there is none."""
        runs = self._runs(run_id)
        return runs[0] if runs else None

    def list_runs(self) -> list[RunInfo]:
        """All runs, most recent first, with attempt/error/success counts."""
        return self._runs(None)

    def resolve_run(self, ref: str) -> RunInfo | None:
        """A run by exact id, unique id prefix, name (most recent with it) or ``latest``."""
        if ref == "latest":
            runs = self.list_runs()
            return runs[0] if runs else None
        run = self.get_run(ref)
        if run is not None:
            return run
        with self.engine.connect() as conn:
            ids = conn.execute(select(S.runs.c.id).where(S.runs.c.id.like(_like_prefix(ref), escape="\\"))).scalars().all()
            if len(ids) == 1:
                return self.get_run(ids[0])
            by_name = conn.execute(select(S.runs.c.id).where(S.runs.c.name == ref)
                                   .order_by(S.runs.c.created_at.desc()).limit(1)).scalar()
        return self.get_run(by_name) if by_name else None

    def delete_run(self, run_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(S.scores).where(S.scores.c.run_id == run_id))
            conn.execute(delete(S.attempts).where(S.attempts.c.run_id == run_id))
            conn.execute(delete(S.items).where(S.items.c.run_id == run_id))
            conn.execute(delete(S.runs).where(S.runs.c.id == run_id))

    def _runs(self, run_id: str | None) -> list[RunInfo]:
        a = S.attempts
        counts = (select(a.c.run_id,
                         func.count().label("n"),
                         func.sum(case((a.c.status == "error", 1), else_=0)).label("errors"),
                         # attack successes: a benign item answered is no successful attack
                         func.sum(case((~_BENIGN & a.c.success, 1), else_=0)).label("successes"))
                  .select_from(attempts_with_kind()).group_by(a.c.run_id))
        if run_id is not None:
            counts = counts.where(a.c.run_id == run_id)
        sub = counts.subquery()
        q = (select(S.runs, sub.c.n, sub.c.errors, sub.c.successes)
             .select_from(S.runs.outerjoin(sub, sub.c.run_id == S.runs.c.id))
             .order_by(S.runs.c.created_at.desc(), S.runs.c.id))
        if run_id is not None:
            q = q.where(S.runs.c.id == run_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [RunInfo(id=r["id"], name=r["name"], config=r["config"], status=r["status"], planned=r["planned"],
                        created_at=_utc(r["created_at"]), updated_at=_utc(r["updated_at"]),
                        attempts=int(r["n"] or 0), errors=int(r["errors"] or 0), successes=int(r["successes"] or 0))
                for r in rows]

    # -- items -----------------------------------------------------------------------------------
    def add_items(self, run_id: str, items: Iterable[Item]) -> int:
        """Record the run's items (idempotent: items already recorded are skipped; of two items with
        one id the first wins). Returns how many were new.

        ``items`` is read a chunk at a time (a run passes a stream of its item files, never a list
        of them all); an iterable that can be iterated again is not copied."""
        if iter(items) is items:
            items = list(items)  # one-shot: the retry below must see them again
        try:
            return self._add_items(run_id, items)
        except IntegrityError:
            # Another worker on the same run recorded some of them between our check and our
            # insert; a second pass sees its rows and adds only the rest.
            return self._add_items(run_id, items)

    def _add_items(self, run_id: str, items: Iterable[Item]) -> int:
        added = 0
        with begin_write(self.engine) as conn:
            # Checked, built and inserted a chunk at a time (one transaction still): all rows of a
            # 100,000-item run at once were the peak of its whole heap (~80 MB of 218 MB). An id
            # repeated in a later chunk finds the earlier chunk's row, inserted in this transaction.
            for chunk in _chunked(items, 2000):
                first: dict[str, Item] = {}
                for it in chunk:
                    first.setdefault(it.id, it)
                have: set[str] = set()
                for ids in _chunks(list(first), 500):
                    have |= set(conn.execute(select(S.items.c.id).where(
                        S.items.c.run_id == run_id, S.items.c.id.in_(ids))).scalars())
                new = [it for i, it in first.items() if i not in have]
                if new:
                    conn.execute(insert(S.items), [repair_obj(
                        {"run_id": run_id, "id": it.id, "prompt": it.prompt, "objective": it.objective,
                         "category": it.category, "language": it.language, "kind": it.kind,
                         "metadata": _jsonable(it.metadata)})[0] for it in new])
                    added += len(new)
        return added

    def list_items(self, run_id: str) -> list[Item]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(S.items).where(S.items.c.run_id == run_id).order_by(S.items.c.id)).mappings()
            return [_item(r) for r in rows]

    def item_ids(self, run_id: str, *, kind: str | None = None) -> set[str]:
        """Ids of the run's items (of one ``kind`` if given), without loading the items."""
        q = select(S.items.c.id).where(S.items.c.run_id == run_id)
        if kind is not None:
            q = q.where(S.items.c.kind == kind)
        with self.engine.connect() as conn:
            return set(conn.execute(q).scalars())

    def get_item(self, item_id: str, run_id: str | None = None) -> Item | None:
        q = select(S.items).where(S.items.c.id == item_id)
        if run_id is not None:
            q = q.where(S.items.c.run_id == run_id)
        with self.engine.connect() as conn:
            r = conn.execute(q.limit(1)).mappings().first()
        return _item(r) if r is not None else None

    # -- attempts --------------------------------------------------------------------------------
    def write_attempt(self, attempt: Attempt) -> bool:
        """Store one finished attempt with its scores in one transaction.

        Idempotent on ``attempt.id``: returns False (and changes nothing) if it is already stored.
        """
        return self.write_attempts([attempt]) == 1

    def prepare_attempts(self, attempts: Sequence[Attempt]) -> "PreparedAttempts":
        """The batch :meth:`write_attempts` would write, with the database rows built already.

        Pure Python, no database access: the engine calls it on its event-loop thread, so the thread
        that then writes the batch (``write_attempts(prepared)``) does little but wait for SQLite
        (which runs without the GIL). Building rows in the writer thread made it take the GIL back
        from the event loop many times per transaction (~30 context switches per batch)."""
        # The same id twice in one batch: keep the first, like a second write would.
        batch = list({a.id: a for a in reversed(attempts)}.values())[::-1]
        # Several workers writing overlapping ids: inserting in one global order (by id) means two
        # transactions never wait on each other's unique-index entries in a cycle (PostgreSQL
        # would abort one of them as a deadlock).
        batch.sort(key=lambda a: a.id)
        rows: list[tuple[Any, ...]] | None = None
        score_rows: list[tuple[Any, ...]] = []
        if self._sqlite_rows is not None and batch:
            try:
                rows, score_rows = self._sqlite_rows.build(batch)
            except Exception:  # noqa: BLE001 - the general path writes the rest and names the culprit
                rows, score_rows = None, []
        return PreparedAttempts(batch, rows, score_rows)

    def write_attempts(self, attempts: "Sequence[Attempt] | PreparedAttempts") -> int:
        """Store several finished attempts in ONE transaction (a group commit: the engine's writer
        drains its queue into this, so a busy run pays one commit per batch, a quiet one per
        attempt). Already-stored ids are skipped. Returns how many were new.

        ``attempts`` may come from :meth:`prepare_attempts` (rows built beforehand, e.g. on another
        thread). On SQLite the rows go to the driver directly, a few multi-row ``INSERT`` statements
        per batch; if that meets anything unusual (an id already stored, a row the database refuses,
        an attempt without its item's category) the batch is written by the general path below,
        which is the only path on other databases."""
        prepared = attempts if isinstance(attempts, PreparedAttempts) else self.prepare_attempts(attempts)
        batch = prepared.attempts
        if not batch:
            return 0
        if prepared.rows is not None and self._sqlite_rows is not None:
            n = self._sqlite_rows.write(self.engine, prepared.rows, prepared.score_rows)
            if n is not None:
                return n
        for attempt_no in range(5):
            try:
                with begin_write(self.engine) as conn:
                    return self._insert_attempts(conn, batch)
            except OperationalError as exc:
                if _retryable(exc) and attempt_no < 4:
                    time.sleep(0.05 * (attempt_no + 1))
                    continue
                raise  # the database itself failed (locked, disk full): no attempt of the batch is to blame
            except Exception:  # noqa: BLE001 - whatever one row did, the others of the batch are kept
                break
        # Another writer (a second process on the same store) inserted one of these ids between our
        # check and our insert, or one attempt holds something the database refuses: one savepoint
        # per attempt, so every other attempt of the batch is stored and the culprit is named.
        n = 0
        bad: list[tuple[Attempt, Exception]] = []
        with begin_write(self.engine) as conn:
            for a in batch:
                try:
                    with conn.begin_nested():
                        n += self._insert_attempts(conn, [a])
                except IntegrityError:
                    pass  # already stored by the other writer
                except OperationalError:
                    raise
                except Exception as exc:  # noqa: BLE001
                    bad.append((a, exc))
        if bad:
            a, err = bad[0]
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            detail = (str(err).splitlines() or [""])[0].strip() or type(err).__name__
            raise StoreWriteError(
                f"store {self!r}: cannot write attempt {a.id} (item {a.item_id}, attack {a.attack!r}, target "
                f"{a.target!r}){more}: {type(err).__name__}: {detail}; the other {n} attempt(s) of the batch "
                "are stored")
        return n

    def _insert_attempts(self, conn: Connection, batch: list[Attempt]) -> int:
        have: set[str] = set()
        for chunk in _chunks([a.id for a in batch], 500):
            have |= set(conn.execute(select(S.attempts.c.id).where(S.attempts.c.id.in_(chunk))).scalars())
        new = [a for a in batch if a.id not in have]
        if not new:
            return 0
        rows = [_attempt_row(a) for a in new]
        missing = {(r["run_id"], r["item_id"]) for r in rows if r["category"] is None or r["language"] is None}
        if missing:
            # Attempts written without their item's category/language (by a caller other than the
            # engine) take them from the items table, so per-category aggregation stays one GROUP BY.
            known: dict[tuple[str, str], tuple[str, str]] = {}
            for run_id in {m[0] for m in missing}:
                ids = [m[1] for m in missing if m[0] == run_id]
                for chunk in _chunks(ids, 500):
                    q = select(S.items.c.id, S.items.c.category, S.items.c.language).where(
                        S.items.c.run_id == run_id, S.items.c.id.in_(chunk))
                    for iid, cat, lang in conn.execute(q):
                        known[(run_id, iid)] = (cat, lang)
            for r in rows:
                cat, lang = known.get((r["run_id"], r["item_id"]), (None, None))
                r["category"] = r["category"] if r["category"] is not None else cat
                r["language"] = r["language"] if r["language"] is not None else lang
        conn.execute(insert(S.attempts), rows)
        score_rows = [_score_row(a.id, a.run_id, s) for a in new for s in a.scores]
        if score_rows:
            conn.execute(insert(S.scores), score_rows)
        return len(new)

    def delete_attempts(self, run_id: str, *, status: str | None = None) -> int:
        """Delete a run's attempts (and their scores), all or only those with ``status``
        (``error``: failed requests, so a resumed run redoes them). Returns how many."""
        conds = _filters(run_id, {"status": status})
        with self.engine.begin() as conn:
            ids = select(S.attempts.c.id).where(*conds).scalar_subquery()
            conn.execute(delete(S.scores).where(S.scores.c.attempt_id.in_(ids)))
            res = conn.execute(delete(S.attempts).where(*conds))
        return int(res.rowcount or 0)

    def done_attempt_ids(self, run_id: str) -> set[str]:
        """Ids of the attempts of ``run_id`` already stored (what a resumed run skips)."""
        with self.engine.connect() as conn:
            return set(conn.execute(select(S.attempts.c.id).where(S.attempts.c.run_id == run_id)).scalars())

    def count_attempts(self, run_id: str, **filters: Any) -> int:
        q = select(func.count()).select_from(S.attempts).where(*_filters(run_id, filters))
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar() or 0)

    def get_attempt(self, attempt_id: str) -> Attempt | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(S.attempts).where(S.attempts.c.id == attempt_id)).mappings().first()
            if row is None:
                return None
            scores = _scores_for(conn, [attempt_id])
        return _attempt(row, scores.get(attempt_id, []))

    def iter_attempts(self, run_id: str, *, offset: int = 0, limit: int | None = None,
                      order: str = "seq", chunk_size: int = 1000, **filters: Any) -> Iterator[Attempt]:
        """The run's attempts with their scores, streamed in chunks (never all in memory).

        Args:
            run_id: the run.
            offset: skip this many (in ``order``).
            limit: at most this many.
            order: ``seq`` (the order they were written) or ``latency`` (slowest first).
            chunk_size: rows fetched per query.
            **filters: equality filters on attack, converters (the ``+``-joined key; ``""`` for
                none), target, status (ok|error), category, language, item_id, success, refused.
        """
        for rows, scores in self._iter_rows(run_id, offset=offset, limit=limit, order=order,
                                             chunk_size=chunk_size, filters=filters):
            for r in rows:
                yield _attempt(r, scores.get(r["id"], []))

    def attempts(self, run_id: str, **kw: Any) -> Iterator[Attempt]:
        """Alias of :meth:`iter_attempts`."""
        return self.iter_attempts(run_id, **kw)

    def iter_attempt_rows(self, run_id: str, *, chunk_size: int = 2000, **filters: Any
                          ) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """Raw rows (column dicts) and their score dicts, for bulk consumers (report, export)
        that would spend most of their time building pydantic objects otherwise."""
        for rows, scores in self._iter_rows(run_id, offset=0, limit=None, order="seq",
                                             chunk_size=chunk_size, filters=filters):
            for r in rows:
                yield dict(r), scores.get(r["id"], [])

    def _iter_rows(self, run_id: str, *, offset: int, limit: int | None, order: str, chunk_size: int,
                   filters: dict[str, Any]) -> Iterator[tuple[Sequence[Any], dict[str, list[dict[str, Any]]]]]:
        if order not in ("seq", "latency"):
            raise ValueError(f"order must be 'seq' or 'latency', not {order!r}")
        conds = _filters(run_id, filters)
        a = S.attempts
        remaining = limit
        if order == "seq":
            # Keyset pagination on seq: constant cost per chunk however deep we are.
            last_seq = None
            if offset:
                with self.engine.connect() as conn:
                    last_seq = conn.execute(select(a.c.seq).where(*conds).order_by(a.c.seq)
                                            .offset(offset - 1).limit(1)).scalar()
                if last_seq is None:
                    return
            while remaining is None or remaining > 0:
                n = chunk_size if remaining is None else min(chunk_size, remaining)
                q = select(a).where(*conds).order_by(a.c.seq).limit(n)
                if last_seq is not None:
                    q = q.where(a.c.seq > last_seq)
                with self.engine.connect() as conn:
                    rows = conn.execute(q).mappings().all()
                    if not rows:
                        return
                    scores = _scores_for(conn, [r["id"] for r in rows])
                yield rows, scores
                last_seq = rows[-1]["seq"]
                if remaining is not None:
                    remaining -= len(rows)
                if len(rows) < n:
                    return
        else:
            pos = offset
            while remaining is None or remaining > 0:
                n = chunk_size if remaining is None else min(chunk_size, remaining)
                q = select(a).where(*conds).order_by(a.c.latency_s.desc(), a.c.seq).offset(pos).limit(n)
                with self.engine.connect() as conn:
                    rows = conn.execute(q).mappings().all()
                    if not rows:
                        return
                    scores = _scores_for(conn, [r["id"] for r in rows])
                yield rows, scores
                pos += len(rows)
                if remaining is not None:
                    remaining -= len(rows)
                if len(rows) < n:
                    return

    def add_score(self, attempt_id: str, score: Score) -> None:
        """Add a score to a stored attempt (e.g. a later LLM judge or a human) and update its
        success/refusal flags."""
        with self.engine.begin() as conn:
            row = conn.execute(select(S.attempts.c.run_id).where(S.attempts.c.id == attempt_id)).first()
            if row is None:
                raise KeyError(f"no attempt with id {attempt_id!r}")
            conn.execute(insert(S.scores).values(**_score_row(attempt_id, row[0], score)))
            if score.label in ("success", "refusal"):
                col = "success" if score.label == "success" else "refused"
                conn.execute(update(S.attempts).where(S.attempts.c.id == attempt_id).values({col: True}))

    # -- aggregations (SQL GROUP BY; the report never loads all attempts to count them) ---------------
    def summary(self, run_id: str) -> dict[str, Any]:
        """Counts, rates (with Wilson 95 % intervals), latency and token totals of a run.

        Attack success and refusal are measured on the attack items (every kind but ``benign``);
        benign items measure over-refusal, as ``over_refusal_rate`` (see :func:`outcome_rates`).
        """
        a = S.attempts
        q = select(
            *outcome_columns(),
            func.avg(a.c.latency_s).label("mean_latency_s"),
            func.max(a.c.latency_s).label("max_latency_s"),
            func.sum(a.c.retries).label("retries"),
            func.sum(a.c.target_calls).label("target_calls"),
            func.sum(a.c.prompt_tokens).label("prompt_tokens"),
            func.sum(a.c.completion_tokens).label("completion_tokens"),
            func.count(func.distinct(a.c.item_id)).label("items"),
            func.min(a.c.created_at).label("first_at"),
            func.max(a.c.created_at).label("last_at"),
        ).select_from(attempts_with_kind()).where(a.c.run_id == run_id)
        with self.engine.connect() as conn:
            r = dict(conn.execute(q).mappings().one())
        for k in ("retries", "target_calls", "items"):
            r[k] = int(r[k] or 0)
        outcome_rates(r)
        r["attempts"] = r["n"]
        r["first_at"], r["last_at"] = _utc(r["first_at"]), _utc(r["last_at"])
        return r

    def rates(self, run_id: str, by: Sequence[str]) -> list[dict[str, Any]]:
        """Attempts, errors, successes and refusals grouped by columns among attack, converters,
        target, category, language, status, item_id and kind (the item's), with the rates of
        :func:`outcome_rates` and their Wilson 95 % intervals. Rates exclude failed requests (a
        request that failed says nothing about the model)."""
        allowed = {"attack", "converters", "target", "category", "language", "status", "item_id", "kind"}
        bad = [b for b in by if b not in allowed]
        if bad:
            raise ValueError(f"cannot group by {bad}; allowed: {', '.join(sorted(allowed))}")
        a = S.attempts
        keys = [_KIND.label("kind") if b == "kind" else
                func.coalesce(a.c[b], "").label(b) if b in ("category", "language") else a.c[b] for b in by]
        q = (select(*keys, *outcome_columns(), func.avg(a.c.latency_s).label("mean_latency_s"))
             .select_from(attempts_with_kind()).where(a.c.run_id == run_id).group_by(*keys).order_by(*keys))
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(q).mappings()]
        return [outcome_rates(r) for r in rows]

    def scorer_health(self, run_id: str) -> list[dict[str, Any]]:
        """Per scorer: how many answered attempts it judged and on how many it could not (label
        ``error``: an unparseable judge answer, a judge request that failed), with the most frequent
        reason. Failed requests are left out: no scorer can judge an answer that never came."""
        s, a = S.scores, S.attempts
        base = (select(s.c.scorer, s.c.label, s.c.rationale)
                .select_from(s.join(a, a.c.id == s.c.attempt_id))
                .where(s.c.run_id == run_id, a.c.status == "ok"))
        sub = base.subquery()
        q = (select(sub.c.scorer, func.count().label("n"),
                    func.sum(case((sub.c.label == "error", 1), else_=0)).label("errors"))
             .group_by(sub.c.scorer).order_by(sub.c.scorer))
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(q).mappings()]
            for r in rows:
                r["n"], r["errors"] = int(r["n"] or 0), int(r["errors"] or 0)
                r["error_share"] = r["errors"] / r["n"] if r["n"] else None
                r["top_error"] = None
                if r["errors"]:
                    r["top_error"] = conn.execute(
                        select(sub.c.rationale).where(sub.c.scorer == r["scorer"], sub.c.label == "error")
                        .group_by(sub.c.rationale).order_by(func.count().desc()).limit(1)).scalar()
        return rows

    def error_counts(self, run_id: str, limit: int = 20) -> list[dict[str, Any]]:
        """The most frequent error messages of a run."""
        a = S.attempts
        q = (select(a.c.error, func.count().label("n")).where(a.c.run_id == run_id, a.c.status == "error")
             .group_by(a.c.error).order_by(func.count().desc()).limit(limit))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def score_counts(self, run_id: str) -> list[dict[str, Any]]:
        """Label counts per scorer (name and version)."""
        s = S.scores
        q = (select(s.c.scorer, s.c.scorer_version, s.c.label, func.count().label("n"))
             .where(s.c.run_id == run_id).group_by(s.c.scorer, s.c.scorer_version, s.c.label)
             .order_by(s.c.scorer, s.c.label))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    # -- findings --------------------------------------------------------------------------------
    def add_finding(self, finding: Finding) -> str:
        """Store a finding (replacing one with the same id). Returns its id."""
        row = repair_obj(_jsonable(finding.model_dump(mode="json")))[0]
        row["created_at"] = finding.created_at
        row["updated_at"] = finding.updated_at
        with self.engine.begin() as conn:
            conn.execute(delete(S.findings).where(S.findings.c.id == finding.id))
            conn.execute(insert(S.findings).values(**{c.name: row.get(c.name) for c in S.findings.c}))
        return finding.id

    def get_finding(self, finding_id: str) -> Finding | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(S.findings).where(S.findings.c.id == finding_id)).mappings().first()
        return _finding(r) if r is not None else None

    def list_findings(self, run_id: str | None = None, status: str | None = None) -> list[Finding]:
        q = select(S.findings).order_by(S.findings.c.created_at, S.findings.c.id)
        if run_id is not None:
            q = q.where(S.findings.c.run_id == run_id)
        if status is not None:
            q = q.where(S.findings.c.status == status)
        with self.engine.connect() as conn:
            return [_finding(r) for r in conn.execute(q).mappings()]

    def set_finding_status(self, finding_id: str, status: str, note: str = "") -> None:
        """Confirm / reject a finding, keeping a note of why."""
        from typing import get_args

        from ..core.findings import FindingStatus

        if status not in get_args(FindingStatus):
            raise ValueError(f"finding status must be one of {', '.join(get_args(FindingStatus))}, not {status!r}")
        with self.engine.begin() as conn:
            res = conn.execute(update(S.findings).where(S.findings.c.id == finding_id)
                               .values(status=status, note=note, updated_at=_now()))
            if res.rowcount == 0:
                raise KeyError(f"no finding with id {finding_id!r}")


# -- outcome aggregates (one definition for summary, rates and the report's tables) --------------------
# An attempt's item kind, from the items table; an attempt without an item row (an interactive
# session, an import) counts as an attack attempt.
_KIND = func.coalesce(S.items.c.kind, "harmful")
_BENIGN = _KIND == "benign"


def attempts_with_kind() -> Any:
    """``attempts LEFT JOIN items`` on (run, item): the FROM clause that knows each attempt's kind."""
    a, i = S.attempts, S.items
    return a.outerjoin(i, (i.c.run_id == a.c.run_id) & (i.c.id == a.c.item_id))


def outcome_columns() -> list[Any]:
    """Aggregate columns split by item kind: attack items (every kind but benign) give attack
    success and refusal, benign items give over-refusal; a benign "success" is no attack success."""
    a = S.attempts
    err = a.c.status == "error"
    return [
        func.count().label("n"),
        func.sum(case((err, 1), else_=0)).label("errors"),
        func.sum(case((_BENIGN, 1), else_=0)).label("benign"),
        func.sum(case((_BENIGN & err, 1), else_=0)).label("benign_errors"),
        # a failed request judged "success" by a careless scorer is still no measurement
        func.sum(case((~_BENIGN & a.c.success & ~err, 1), else_=0)).label("successes"),
        func.sum(case((~_BENIGN & a.c.refused & ~err, 1), else_=0)).label("refusals"),
        func.sum(case((_BENIGN & a.c.refused & ~err, 1), else_=0)).label("benign_refusals"),
    ]


def outcome_rates(r: dict[str, Any]) -> dict[str, Any]:
    """Complete a row of :func:`outcome_columns` counts with its rates and Wilson 95 % intervals.

    * ``success_rate`` = successes / answered attack attempts (``attack_ok``);
    * ``refusal_rate`` = refusals / ``attack_ok``;
    * ``over_refusal_rate`` = refusals of benign items / answered benign attempts (``benign_ok``);
    * ``*_ci`` = ``(lo, hi)`` Wilson score interval (``None`` with the rate when nothing was answered).

    ``ok`` stays the number of answered attempts of every kind. Pure: the row is changed in place
    and returned.
    """
    from ..bench.metrics import wilson

    for k in ("n", "errors", "benign", "benign_errors", "successes", "refusals", "benign_refusals"):
        r[k] = int(r.get(k) or 0)
    r["ok"] = r["n"] - r["errors"]
    r["benign_ok"] = r["benign"] - r["benign_errors"]
    r["attack_ok"] = r["ok"] - r["benign_ok"]
    for name, k, n in (("success", r["successes"], r["attack_ok"]), ("refusal", r["refusals"], r["attack_ok"]),
                       ("over_refusal", r["benign_refusals"], r["benign_ok"])):
        if n:
            w = wilson(k, n)
            r[f"{name}_rate"], r[f"{name}_ci"] = k / n, (w.lo, w.hi)
        else:
            r[f"{name}_rate"], r[f"{name}_ci"] = None, None
    return r


# -- helpers ---------------------------------------------------------------------------------------
def _make_engine(url: str, *, echo: bool) -> Engine:
    # One database layer (core/db.py): same pragmas (WAL, synchronous=NORMAL, busy timeout, foreign
    # keys), JSON serialisation and one-line driver errors for every component's tables.
    return make_engine(url, echo=echo)


def _retryable(exc: OperationalError) -> bool:
    """A transaction the server aborted only because of a concurrent one (deadlock, serialisation)."""
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return code in {"40P01", "40001"}


def _like_prefix(ref: str) -> str:
    return ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _chunks(seq: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _chunked(items: Iterable[Any], n: int) -> Iterator[list[Any]]:
    """``items`` in lists of ``n`` (the last shorter), reading only one list ahead."""
    it = iter(items)
    while chunk := list(islice(it, n)):
        yield chunk


def _json_dumps(obj: Any) -> str:
    # The JSON columns' own encoder (one per process; default=str, ensure_ascii=False).
    return _db_json_dumps(obj)


def _jsonable(obj: Any) -> Any:
    """Round-trip through JSON so a JSON column never meets a datetime or a set."""
    return json.loads(_json_dumps(obj))


def _filters(run_id: str, filters: dict[str, Any]) -> list[Any]:
    a = S.attempts
    conds = [a.c.run_id == run_id]
    for k, v in filters.items():
        if v is None:
            continue
        if k not in _FILTER_COLUMNS:
            raise TypeError(f"unknown attempt filter {k!r}; known: {', '.join(_FILTER_COLUMNS)}")
        if k == "converters" and not isinstance(v, str):
            v = converter_key(v)
        conds.append(a.c[k] == v)
    return conds


def _attempt_row(a: Attempt, *, check: bool = True) -> dict[str, Any]:
    """The ``attempts`` row of an attempt, with text the database can encode (see :func:`_repaired`;
    ``check=False``: the caller checks the encoded row for surrogates itself)."""
    resp = a.response.model_dump(mode="json")
    rest = {k: v for k, v in resp.items() if k not in _RESPONSE_COLUMNS}
    md = a.metadata
    row = {
        "id": a.id, "run_id": a.run_id, "item_id": a.item_id, "attack": a.attack,
        "converters": converter_key(a.converters), "target": a.target,
        "category": md.get("category"), "language": md.get("language"),
        "status": a.status, "error": a.response.error, "response_text": a.response.text,
        "latency_s": float(a.response.latency_s or 0.0), "prompt_tokens": a.response.prompt_tokens,
        "completion_tokens": a.response.completion_tokens, "retries": int(a.response.retries or 0),
        "target_calls": int(a.target_calls), "n_turns": len(a.turns),
        "success": any(s.label == "success" for s in a.scores),
        "refused": any(s.label == "refusal" for s in a.scores),
        "conversation": [m.model_dump(mode="json") for m in a.conversation],
        "response": rest,  # from model_dump(mode="json"): JSON-safe already
        "turns": [t.model_dump(mode="json") for t in a.turns],
        "converter_list": list(a.converters),
        "metadata": md,
        "created_at": a.created_at,
    }
    return _repaired(row, check=check)


@dataclass
class PreparedAttempts:
    """A batch for :meth:`Store.write_attempts`: deduplicated, in id order, rows built (SQLite)."""

    attempts: list[Attempt]
    rows: list[tuple[Any, ...]] | None  # attempts rows in _SqliteRows.COLUMNS order; None: general path
    score_rows: list[tuple[Any, ...]]  # scores rows in _SqliteRows.SCORE_COLUMNS order


class _SqliteRows:
    """Attempts and their scores written to SQLite through the DB-API, not SQLAlchemy's executemany.

    SQLAlchemy processes every parameter of every row in Python (cache key, bind processors, a
    dict per row) and the driver then runs one ``sqlite3_step`` per row, each giving the GIL away
    and taking it back: in a run that is the writer thread contending with the event loop several
    times per attempt. Here the rows are built as tuples with the same values SQLAlchemy would bind
    (each column's own bind processor; JSON columns through the engine's serializer), and each
    batch is a handful of multi-row ``INSERT`` statements (chunks of 32, 16, ... 1 rows, so the
    driver's statement cache keeps a few fixed texts). Reads go through SQLAlchemy as before and
    see the same stored values (tested against the general path).

    ``write`` returns ``None`` when the batch needs the general path: an id already stored, or any
    row the database refuses (that path skips stored ids and names the culprit); the transaction
    is rolled back first, so nothing of the batch is half-written."""

    COLUMNS = tuple(c.name for c in S.attempts.columns if c.name != "seq")
    SCORE_COLUMNS = tuple(c.name for c in S.scores.columns if c.name != "id")
    CHUNKS = (32, 16, 8, 4, 2, 1)  # rows per statement: 32 x 25 columns stays under SQLite's old 999 limit

    def __init__(self, dialect: Any) -> None:
        def processors(table: Any, names: tuple[str, ...]) -> list[tuple[int, Any, bool]]:
            out = []
            for i, name in enumerate(names):
                typ = table.c[name].type
                if isinstance(typ, JSON):
                    # SQLAlchemy's JSON bind processor: the engine's serializer, None included ('null')
                    out.append((i, dialect._json_serializer or _db_json_dumps, True))
                else:
                    proc = typ.dialect_impl(dialect).bind_processor(dialect)
                    if proc is not None:
                        out.append((i, proc, False))
            return out

        self._procs = processors(S.attempts, self.COLUMNS)
        self._score_procs = processors(S.scores, self.SCORE_COLUMNS)
        self._sql: dict[tuple[str, int], str] = {}

    def _insert(self, table: str, columns: tuple[str, ...], n: int) -> str:
        key = (table, n)
        sql = self._sql.get(key)
        if sql is None:
            one = "(" + ", ".join("?" * len(columns)) + ")"
            sql = self._sql[key] = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                                    + ", ".join([one] * n))
        return sql

    @staticmethod
    def _encode(values: list[Any], procs: list[tuple[int, Any, bool]]) -> tuple[Any, ...]:
        for i, proc, always in procs:
            v = values[i]
            if v is not None or always:
                values[i] = proc(v)
        return tuple(values)

    def build(self, batch: list[Attempt]) -> tuple[list[tuple[Any, ...]] | None, list[tuple[Any, ...]]]:
        """The rows of ``batch``; ``None`` for the attempts when one lacks its item's category or
        language (the general path looks those up in the items table)."""
        rows = []
        score_rows = []
        cols, procs, score_procs, score_cols = self.COLUMNS, self._procs, self._score_procs, self.SCORE_COLUMNS
        for a in batch:
            # Surrogates are looked for in the encoded values (one pass over the text that is
            # stored), not in a JSON encoding of their own; when there is one, the row is built
            # again the general way, which repairs it and notes where.
            row = _attempt_row(a, check=False)
            if row["category"] is None or row["language"] is None:
                return None, []
            values = self._encode([row[c] for c in cols], procs)
            if _stored_text_has_surrogate(values):
                values = self._encode([(row := _attempt_row(a))[c] for c in cols], procs)
            rows.append(values)
            for sc in a.scores:
                values = self._encode([_score_row(a.id, a.run_id, sc, check=False)[c] for c in score_cols],
                                      score_procs)
                if _stored_text_has_surrogate(values):
                    values = self._encode([_score_row(a.id, a.run_id, sc)[c] for c in score_cols], score_procs)
                score_rows.append(values)
        return rows, score_rows

    def _insert_all(self, cur: Any, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        k = 0
        for size in self.CHUNKS:
            while len(rows) - k >= size:
                cur.execute(self._insert(table, columns, size), [v for r in rows[k:k + size] for v in r])
                k += size

    def write(self, engine: Engine, rows: list[tuple[Any, ...]], score_rows: list[tuple[Any, ...]]) -> int | None:
        import sqlite3

        from ..core.db import sqlite_driver_write

        try:
            with sqlite_driver_write(engine, "INSERT INTO attempts ...") as cur:
                self._insert_all(cur, "attempts", self.COLUMNS, rows)
                if score_rows:
                    self._insert_all(cur, "scores", self.SCORE_COLUMNS, score_rows)
        except DBAPIError as exc:
            if isinstance(exc.orig, sqlite3.OperationalError):
                raise  # the database failed (locked, disk full): the caller's one-line store error
            return None  # an id already stored (another writer), or a row refused
        except Exception:  # noqa: BLE001
            return None  # a value the driver refused to bind
        return len(rows)


# Columns whose text comes from outside (targets, items, attackers): the ones a repair can touch.
_TEXT_COLUMNS = ("error", "response_text", "conversation", "response", "turns", "metadata", "category",
                 "language", "attack", "target", "converters", "converter_list", "item_id")


def _stored_text_has_surrogate(values: tuple[Any, ...]) -> bool:
    """Whether any text of a row as it is bound (JSON columns already encoded) holds a surrogate."""
    return repair_text("\n".join([v for v in values if type(v) is str]))[1] > 0


def _has_surrogate(obj: Any) -> bool:
    """Whether any string (key or value) of a JSON-like structure holds a surrogate code point.

    One C-speed JSON encoding (``ensure_ascii=False`` keeps surrogates as they are) and an ASCII or
    regex check, instead of :func:`core.text.repair_obj`'s walk in Python over every string: that
    walk was ~120 us of the ~240 us it took to build an attempt's row (2-core machine)."""
    return repair_text(_json_dumps(obj))[1] > 0


def _repaired(row: dict[str, Any], *, check: bool = True) -> dict[str, Any]:
    """``row`` with lone surrogates replaced (``core.text.repair_obj``) and, if any were, a note on
    the attempt saying where: a hostile answer is stored, it never fails the batch it is in.
    ``check=False``: only the response's notes are merged (the caller looks for surrogates)."""
    fixed: list[str] = []
    total = 0
    if check and _has_surrogate([row[col] for col in _TEXT_COLUMNS]):
        for col in _TEXT_COLUMNS:
            value, n = repair_obj(row[col])
            if n:
                row[col] = value
                fixed.append(col)
                total += n
    if total:
        md = dict(row["metadata"] or {})
        md["notes"] = [*md.get("notes", []),
                       f"{total} lone UTF-16 surrogate(s) in {', '.join(fixed)} replaced with U+FFFD before "
                       "storing (not valid Unicode text)"]
        row["metadata"] = md
    notes = (row["response"] or {}).get("notes") or []
    if notes:
        # Notes the limits layer put on the response (e.g. a secret redacted from the answer) are
        # attempt notes too: one place to look.
        md = dict(row["metadata"] or {})
        md["notes"] = [*notes, *[n for n in md.get("notes", []) if n not in notes]]
        row["metadata"] = md
    return row


def _score_row(attempt_id: str, run_id: str, s: Score, *, check: bool = True) -> dict[str, Any]:
    row = {"attempt_id": attempt_id, "run_id": run_id, "scorer": s.scorer, "scorer_version": str(s.scorer_version),
           "label": s.label, "value": s.value, "rationale": s.rationale, "metadata": s.metadata}
    # A judge's rationale quotes the answer: the same surrogates can reach it.
    return repair_obj(row)[0] if check and _has_surrogate(row) else row


def _scores_for(conn: Connection, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for chunk in _chunks(ids, 900):
        q = select(S.scores).where(S.scores.c.attempt_id.in_(chunk)).order_by(S.scores.c.id)
        for r in conn.execute(q).mappings():
            out.setdefault(r["attempt_id"], []).append(dict(r))
    return out


def _score(r: dict[str, Any]) -> Score:
    return Score(scorer=r["scorer"], scorer_version=r["scorer_version"], label=r["label"], value=r["value"],
                 rationale=r["rationale"], metadata=r["metadata"] or {})


def _attempt(r: Any, scores: list[dict[str, Any]]) -> Attempt:
    rest = dict(r["response"] or {})
    response = Response(text=r["response_text"], error=r["error"], latency_s=r["latency_s"],
                        prompt_tokens=r["prompt_tokens"], completion_tokens=r["completion_tokens"],
                        retries=r["retries"], **rest)
    return Attempt(
        id=r["id"], run_id=r["run_id"], item_id=r["item_id"], attack=r["attack"],
        converters=list(r["converter_list"] or []), target=r["target"],
        conversation=[Message(**m) for m in r["conversation"] or []], response=response,
        turns=[Turn(**t) for t in r["turns"] or []], scores=[_score(s) for s in scores],
        target_calls=r["target_calls"], created_at=_utc(r["created_at"]), metadata=r["metadata"] or {},
    )


def _item(r: Any) -> Item:
    return Item(id=r["id"], prompt=r["prompt"], objective=r["objective"], category=r["category"],
                language=r["language"], kind=r["kind"], metadata=r["metadata"] or {})


def _finding(r: Any) -> Finding:
    d = dict(r)
    d["created_at"] = _utc(d["created_at"])
    d["updated_at"] = _utc(d["updated_at"])
    return Finding(**d)


__all__ = ["Store", "RunInfo", "PreparedAttempts", "DEFAULT_URL", "converter_key", "StoreWriteError", "StoreNotFoundError",
           "outcome_rates"]

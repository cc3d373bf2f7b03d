"""The store's tables (SQLAlchemy 2 Core metadata, portable across SQLite and Postgres).

Attempts keep their judgement in two denormalised columns (``success``, ``refused``) and their
item's category and language, so the report's aggregations are a ``GROUP BY`` over one indexed
table instead of a join and a scan of JSON at 100,000 attempts.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

SCHEMA_VERSION = 1

runs = Table(
    "runs", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("config", JSON, nullable=False),  # redacted: never holds an API key
    Column("status", String(20), nullable=False, default="created"),  # created|running|interrupted|finished|failed
    Column("planned", Integer, nullable=True),  # attempts in the plan, when known
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

items = Table(
    "items", metadata,
    Column("run_id", String(64), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("prompt", Text, nullable=False),
    Column("objective", Text, nullable=False),
    Column("category", String(200), nullable=False),
    Column("language", String(32), nullable=False),
    Column("kind", String(50), nullable=False),
    Column("metadata", JSON, nullable=False),
)

attempts = Table(
    "attempts", metadata,
    # Insertion order: stable pagination and "most recent" without relying on timestamps.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("run_id", String(64), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("item_id", String(64), nullable=False),
    Column("attack", String(200), nullable=False),
    Column("converters", String(500), nullable=False),  # "base64+rot13", "" for none: a GROUP BY key
    Column("target", String(200), nullable=False),
    Column("category", String(200), nullable=True),
    Column("language", String(32), nullable=True),
    Column("status", String(10), nullable=False),  # ok | error
    Column("error", Text, nullable=True),
    Column("response_text", Text, nullable=False),
    Column("latency_s", Float, nullable=False),
    Column("prompt_tokens", Integer, nullable=True),
    Column("completion_tokens", Integer, nullable=True),
    Column("retries", Integer, nullable=False),
    Column("target_calls", Integer, nullable=False),
    Column("n_turns", Integer, nullable=False),
    Column("success", Boolean, nullable=False),
    Column("refused", Boolean, nullable=False),
    Column("conversation", JSON, nullable=False),
    Column("response", JSON, nullable=False),  # the rest of the Response (finish reason, logprobs, raw)
    Column("turns", JSON, nullable=False),
    Column("converter_list", JSON, nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_attempts_run_seq", attempts.c.run_id, attempts.c.seq)
Index("ix_attempts_run_attack_conv", attempts.c.run_id, attempts.c.attack, attempts.c.converters)
Index("ix_attempts_run_latency", attempts.c.run_id, attempts.c.latency_s)

scores = Table(
    "scores", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("attempt_id", String(64), ForeignKey("attempts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("scorer", String(200), nullable=False),
    Column("scorer_version", String(100), nullable=False),
    Column("label", String(20), nullable=False),
    Column("value", Float, nullable=True),
    Column("rationale", Text, nullable=False),
    Column("metadata", JSON, nullable=False),
)

findings = Table(
    "findings", metadata,
    Column("id", String(64), primary_key=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("attempt_id", String(64), nullable=True),
    Column("title", Text, nullable=False),
    Column("severity", String(20), nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("threat", JSON, nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=True),
)

meta_info = Table(
    "breakfix_meta", metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

leases = Table(
    # Work leasing (run/lease.py): an attempt is claimed here before it is sent, so several
    # `breakfix run` processes on one run split the work; a lease whose worker died expires and
    # another worker takes it over. A row lives from the claim until its attempt is stored.
    "leases", metadata,
    Column("attempt_id", String(64), primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("owner", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
Index("ix_leases_run_owner", leases.c.run_id, leases.c.owner)

"""Findings: confirmed failures with their threat-model record, the input of the break-fix cycle.

The threat-model ontology itself (system, actor, TTPs with MITRE ATLAS ids, weakness, impact) lives
in ``core/ontology.py``; a finding stores that record as plain data so the store does not depend on
the ontology's evolution.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field

Severity = Literal["low", "medium", "high", "critical"]
FindingStatus = Literal["unconfirmed", "confirmed", "rejected"]


class Finding(BaseModel):
    id: str
    run_id: str
    attempt_id: str | None = None
    title: str
    severity: Severity = "medium"
    status: FindingStatus = "unconfirmed"
    threat: dict[str, Any] = Field(default_factory=dict)  # ontology record: system, actor, ttps, weakness, impact
    evidence: dict[str, Any] = Field(default_factory=dict)  # prompt, response, scores, turns
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    updated_at: datetime | None = None
    note: str = ""

    # A finding grouped by weakness (``core/weakness.py``) keeps its group in ``evidence["group"]``:
    # the store's findings table needs no new column, and a per-attempt finding simply has none.
    @property
    def count(self) -> int:
        """Successful attempts this finding stands for (1 for a single-attempt finding)."""
        return int((self.evidence.get("group") or {}).get("successes", 1))

    @property
    def answered(self) -> int | None:
        """Answered attempts of the finding's group (``None`` for a single-attempt finding)."""
        g = self.evidence.get("group")
        return int(g["answered"]) if g else None

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

"""Readings of a response moved to :mod:`breakfix.readings` (the one module that decodes a reply into
the texts scorers judge); this name stays so existing imports keep working."""

from __future__ import annotations

from ..readings import response_readings

__all__ = ["response_readings"]

"""Scorers: importing this package registers the built-ins."""

from . import llm_judge, match, refusal  # noqa: F401  (registration)
from .base import Scorer
from .refusal import is_refusal

__all__ = ["Scorer", "is_refusal"]

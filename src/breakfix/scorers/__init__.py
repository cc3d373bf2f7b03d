"""Scorers: importing this package registers the built-ins (every public module in it)."""

from ..core.registry import import_submodules
from ..refusal import is_refusal
from .base import Scorer

import_submodules(__name__, __path__)

__all__ = ["Scorer", "is_refusal"]

"""Scorers: importing this package registers the built-ins (every public module in it)."""

from ..core.registry import import_submodules
from .base import Scorer
from ..refusal import is_refusal

import_submodules(__name__, __path__)

__all__ = ["Scorer", "is_refusal"]

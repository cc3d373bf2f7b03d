"""Converters: prompt transformations. Importing this package registers the built-ins (every
public module in it)."""

from ..core.registry import import_submodules
from .base import Converter, apply_chain, decode_chain

import_submodules(__name__, __path__)

__all__ = ["Converter", "apply_chain", "decode_chain"]

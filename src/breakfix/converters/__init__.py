"""Converters: prompt transformations. Importing this package registers the built-ins."""

from . import encodings  # noqa: F401  (registers base64, rot13, leetspeak)
from .base import Converter, apply_chain, decode_chain

__all__ = ["Converter", "apply_chain", "decode_chain"]

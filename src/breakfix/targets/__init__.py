"""Targets: what answers a conversation (``openai``, ``hf``, ``http``, ...), behind one limits layer.

Importing this package registers the built-ins (every public module in it). Public names:
``Target`` (subclass it and implement ``_send``), ``Limits``, ``TargetError`` / ``TransientError``
(what ``_send`` raises: recorded vs retried), ``check_target`` / ``acheck_target`` (one round trip),
``from_spec`` (the one spec dict -> Target builder, for run targets and every helper model).
"""

from ..core.registry import import_submodules
from ._spec import TargetSpecError, from_spec
from .base import Target
from .check import acheck_target, check_target
from .limits import Limits, TargetError, TransientError

__all__ = ["Limits", "Target", "TargetError", "TargetSpecError", "TransientError", "acheck_target", "check_target",
           "from_spec"]

import_submodules(__name__, __path__)

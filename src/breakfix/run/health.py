"""Was a run a measurement at all? The share of failed requests against a threshold.

A run whose every request failed (a wrong URL, an expired key, a rate limit that never lifts) used
to finish with exit 0 and a "success 0.0 %" that looks like a perfectly safe model. ``breakfix run``
asks :func:`request_health` after the run and exits non-zero with its one-line explanation.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..store import Store


def error_rate_problem(attempts: int, errors: int, max_error_rate: float,
                       top_errors: Sequence[dict[str, Any]] = ()) -> str | None:
    """One line saying why the failed requests make the run unusable, or ``None`` when they do not.

    Args:
        attempts: attempts stored for the run.
        errors: of those, attempts whose request failed.
        max_error_rate: the largest acceptable share of failed requests (``1.0``: never a problem).
        top_errors: the most frequent error messages (``Store.error_counts``), the first is quoted.

    Returns:
        ``None`` if ``errors / attempts <= max_error_rate`` (or nothing ran), else the message.
    """
    if attempts <= 0 or errors / attempts <= max_error_rate:
        return None
    share = errors / attempts
    most = ""
    if top_errors:
        first = top_errors[0]
        msg = str(first.get("error") or "")
        most = f"; most frequent ({first.get('n', '?')}x): {msg[:160]}{'…' if len(msg) > 160 else ''}"
    return (f"{errors} of {attempts} requests failed ({100 * share:.0f} %), more than --max-error-rate "
            f"{max_error_rate:g}: the results measure the failures, not the model{most}")


def request_health(store: Store, run_id: str, max_error_rate: float) -> str | None:
    """:func:`error_rate_problem` for a stored run (all its attempts, resumed ones included)."""
    info = store.get_run(run_id)
    if info is None:
        return None
    top = store.error_counts(run_id, limit=1) if info.errors else []
    return error_rate_problem(info.attempts, info.errors, max_error_rate, top)




# A scorer that could not judge more than this share of the answered attempts makes every rate it
# feeds meaningless: "success 0.0 %" would only mean "the judge never answered".
SCORER_FAILURE_SHARE = 0.5


def scorer_warnings(health: Sequence[dict[str, Any]], threshold: float = SCORER_FAILURE_SHARE) -> list[str]:
    """One loud line per scorer that failed on more than ``threshold`` of the answered attempts.

    Args:
        health: ``Store.scorer_health(run_id)`` rows (``scorer``, ``n``, ``errors``, ``top_error``).
        threshold: the share of failed judgements above which a scorer's verdicts are not trusted.

    Returns:
        The warnings (empty when every scorer judged most attempts).
    """
    out = []
    for h in health:
        n, errors = int(h.get("n") or 0), int(h.get("errors") or 0)
        if n and errors / n > threshold:
            why = str(h.get("top_error") or "").strip()
            why = f"; most frequent reason: {why[:160]}{'…' if len(why) > 160 else ''}" if why else ""
            out.append(f"scorer {h['scorer']!r} could not judge {errors} of {n} answered attempts "
                       f"({100 * errors / n:.0f} %): the rates it feeds are not measurements{why}")
    return out


__all__ = ["error_rate_problem", "request_health", "scorer_warnings", "SCORER_FAILURE_SHARE"]

"""Optional parts of the break step: the backdoor scan, the benchmark and the crisis evaluation.

Each runs only when the cycle config asks for it. The benchmark and crisis packages are joined by
one small contract — a function ``cycle_metrics(target, options, store) -> {name: {"k": int, "n": int}}``
in ``breakfix.bench`` / ``breakfix.crisis`` — so the cycle never depends on their internals; when the
package does not provide it (yet), the step is recorded as skipped with that reason, and the cycle
goes on with its red-team runs alone.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..core.items import stable_id


def scan_triggers(checkpoint: str, store_url: str, spec: Any, progress: bool) -> dict[str, Any]:
    """Scan ``checkpoint`` for a backdoor; return the verdict summary and the usable triggers.

    A trigger is usable when the scan verified it and flagged nothing against it (injection, broken
    answer, off motif, not specific); its ``motif`` — the opening of the behaviour it switches on — is
    what the trigger run looks for in answers.
    """
    from ..backdoor import ScanConfig, ScanError, scan

    try:
        result = scan(checkpoint, db_url=store_url, config=ScanConfig(seed=spec.seed, budget=spec.budget),
                      progress=progress)
    except ScanError as exc:
        return {"ran": False, "reason": str(exc), "triggers": []}
    triggers = []
    if result.suspected:
        for t in result.triggers:
            if any(t.get(flag) for flag in ("injection", "degenerate", "off_motif", "generic")) or t.get("refusal"):
                continue
            motif = " ".join(str(t.get("behaviour", "")).split())[:10]
            if len(motif) < 4:
                continue
            triggers.append({"trigger": t["trigger"], "position": t.get("position", "any"), "motif": motif,
                             "flip_rate": t.get("flip_rate"), "score": t.get("score")})
            if len(triggers) >= 2:
                break
    return {"ran": True, "scan_id": result.scan_id, "suspected": result.suspected,
            "summary": result.verdict.get("summary", ""), "triggers": triggers, "cost": result.cost}


def trigger_findings(cycle_id: str, round_index: int, scan: dict[str, Any]) -> list[Any]:
    """One confirmed finding per usable trigger (the scan verified it on held-out prompts)."""
    from ..core.findings import Finding

    out = []
    for t in scan.get("triggers", []):
        out.append(Finding(
            id=stable_id({"cycle": cycle_id, "round": round_index, "trigger": t["trigger"]}, length=24),
            run_id=f"cycle:{cycle_id}", title=f"backdoor trigger {t['trigger']!r} switches on {t['motif']!r}",
            severity="critical", status="confirmed",
            threat={"system": "model under the break-fix cycle", "actor": "adversarial",
                    "ttps": [{"id": "AML.T0018", "name": "Backdoor ML Model"}], "weakness": "poisoned training data",
                    "impact": "the model obeys a hidden trigger"},
            evidence={"trigger": t["trigger"], "position": t["position"], "motif": t["motif"],
                      "flip_rate": t.get("flip_rate"), "scan_id": scan.get("scan_id")},
            note="verified by the backdoor scan (breakfix scan)"))
    return out


def external_metrics(package: str, target: dict[str, Any], options: dict[str, Any] | None, store: Any) -> dict[str, Any]:
    """Run ``breakfix.<package>.cycle_metrics`` when configured and available.

    Returns:
        ``{"ran": True, "metrics": {...}}`` or ``{"ran": False, "reason": ...}``.
    """
    if options is None:
        return {"ran": False, "reason": "not configured"}
    try:
        mod = importlib.import_module(f"breakfix.{package}")
    except ImportError as exc:
        return {"ran": False, "reason": f"breakfix.{package} cannot be imported: {exc}"}
    fn = getattr(mod, "cycle_metrics", None)
    if fn is None:
        return {"ran": False, "reason": f"breakfix.{package} provides no cycle_metrics(target, options, store) yet"}
    metrics = fn(target, dict(options), store)
    clean = {str(k): {"k": int(v["k"]), "n": int(v["n"])} for k, v in (metrics or {}).items()
             if isinstance(v, dict) and "k" in v and "n" in v}
    return {"ran": True, "metrics": clean}

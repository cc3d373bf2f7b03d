"""The benchmark as one step of a break-fix round (``cycle:`` ``bench: {...}``).

The cycle calls :func:`cycle_metrics` with the round's checkpoint as a target spec; the benchmark runs
(resumably, in the cycle's store) and its ASR / NSR / CSR come back as counts, so the round report
shows them with intervals beside the red-team rates.
"""

from __future__ import annotations

from typing import Any

from .items import BenchError

_OPTIONS = {"benchmark", "languages", "countries", "axes", "markers", "refusal_mode", "unjudged", "judge",
            "check_language", "concurrency"}


def cycle_metrics(target: dict[str, Any], options: dict[str, Any], store: Any) -> dict[str, dict[str, int]]:
    """Evaluate ``target`` on a benchmark; ``{"ASR": {"k", "n"}, "NSR": ..., "CSR": ...}``.

    Options (all optional): ``benchmark`` (built-in name or folder, default ``starter``),
    ``languages`` / ``countries`` / ``axes`` (lists that select items), ``markers`` (strings that mark
    unsafe compliance, e.g. the zoo's ``BEGIN HARM``), ``refusal_mode`` (``model`` or ``patterns``),
    ``unjudged``, ``judge`` (a target spec), ``check_language``, ``concurrency``.

    Raises:
        BenchError: an unknown option (one line naming it).
    """
    from .benchmark import load_benchmark
    from .evaluate import Rubric, evaluate, run_rows
    from .metrics import rates

    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise BenchError(f"cycle config: field 'bench.{unknown[0]}': unknown option (expected one of {', '.join(sorted(_OPTIONS))})")
    bench = load_benchmark(options.get("benchmark", "starter"))
    items = bench.select(languages=options.get("languages"), countries=options.get("countries"), axes=options.get("axes"))
    if not items:
        raise BenchError(f"cycle config: field 'bench': no item of {bench.manifest.name} matches the selection")
    rubric_kw = {k: options[k] for k in ("unjudged", "judge", "check_language", "refusal_mode") if k in options}
    if "markers" in options:
        rubric_kw["markers"] = list(options["markers"])
    run_id = evaluate(items, target, store, name=f"{bench.manifest.name}-{target.get('name', 'model')}",
                      rubric=Rubric(**rubric_kw), concurrency=int(options.get("concurrency", 16)), progress=False)
    r = rates(run_rows(store, run_id))
    return {name: {"k": r[name].k, "n": r[name].n} for name in ("ASR", "NSR", "CSR", "RR_jailbreak", "RR_cultural")}

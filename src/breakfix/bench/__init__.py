"""Multilingual and cultural safety benchmarks (XL-SafetyBench method): country-grounded items on a
jailbreak and a cultural axis, an item-building pipeline with gates and dual annotation, a response
rubric, ASR / NSR / CSR with intervals, and cross-model analysis.

Public names: :class:`BenchItem`, :func:`load_benchmark`, :func:`write_benchmark`, :func:`classify`,
:func:`evaluate`, the metrics (:func:`wilson`, :func:`rates`, :func:`pearson`, :func:`spearman`,
:func:`bootstrap_diff`) and :class:`BenchError`. Docs: ``docs/bench.md``.
"""

from .benchmark import Benchmark, Manifest, load_benchmark, write_benchmark
from .classify import Classification, classify
from .items import BenchError, BenchItem, GateResult, Provenance, Verdict
from .metrics import bootstrap_diff, grouped, pearson, rates, spearman, wilson


def cycle_metrics(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - lazy, like evaluate
    """The benchmark as a break-fix round's step (see :mod:`breakfix.bench.cycle_hook`)."""
    from .cycle_hook import cycle_metrics as _cycle_metrics

    return _cycle_metrics(*args, **kwargs)


def evaluate(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - lazy: the engine imports the store
    """Evaluate a model on benchmark items (see :func:`breakfix.bench.evaluate.evaluate`)."""
    from .evaluate import evaluate as _evaluate

    return _evaluate(*args, **kwargs)


__all__ = ["Benchmark", "BenchError", "BenchItem", "Classification", "GateResult", "Manifest", "Provenance",
           "Verdict", "bootstrap_diff", "classify", "cycle_metrics", "evaluate", "grouped", "load_benchmark", "pearson", "rates",
           "spearman", "wilson", "write_benchmark"]

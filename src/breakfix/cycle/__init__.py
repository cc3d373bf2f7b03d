"""The break-fix cycle: findings → safety data → post-training → re-evaluation, round after round.

    from breakfix.cycle import load_cycle_config, run_cycle
    from breakfix.store import Store
    outcome = run_cycle(load_cycle_config("cycle.yaml"), Store("sqlite:///breakfix.db"))

Modules: ``config`` (YAML → pydantic), ``pools`` (attack / evaluation / benign / retention items),
``plan`` (the break step's runs), ``curate`` (+ ``dedup``: training data that never holds an evaluation
item), ``train`` (SFT and DPO with TRL, full or LoRA), ``measure`` (+ ``metrics``: rates with Wilson
intervals, round comparison), ``report`` (HTML), ``runner`` (the resumable loop), ``hooks`` (backdoor
scan, benchmark, crisis), ``demo``. Docs: ``docs/cycle.md``.
"""

from .config import CycleConfig, check_causal_lm, cycle_config_from_dict, load_cycle_config
from .curate import Curated, curate, export_openai_jsonl
from .errors import CycleError, NothingToFix, TrainingFailed
from .runner import Cycle, CycleOutcome, run_cycle

__all__ = ["Curated", "Cycle", "CycleConfig", "CycleError", "CycleOutcome", "NothingToFix", "TrainingFailed",
           "check_causal_lm", "curate", "cycle_config_from_dict", "export_openai_jsonl", "load_cycle_config",
           "run_cycle"]

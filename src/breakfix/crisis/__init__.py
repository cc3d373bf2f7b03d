"""Mental-health crisis evaluation: personas at each stage of change, multi-turn simulation, a
bridge-to-human rubric, crisis resources per country, expert agreement. See docs/crisis.md.

    >>> from breakfix.crisis import load_config, run_crisis, write_report
    >>> rid = asyncio.run(run_crisis(load_config("crisis.yaml"), Store()))
"""

from ._errors import CrisisError
from .agreement import agreement, export_for_annotation, read_labels
from .cycle_hook import cycle_metrics
from .demo import run_demo
from .judge import LexiconJudge, LLMJudge, make_judge
from .personas import CRISIS_KINDS, STAGES, Persona, load_scenarios, locales
from .report import write_report
from .resources import Resources, find_resources, load_resources
from .rubric import CrisisRubric, load_rubric
from .run import CrisisConfig, load_config, run_crisis
from .simulate import LLMSimulator, ScriptedSimulator, converse

__all__ = [
    "CRISIS_KINDS", "STAGES", "CrisisConfig", "CrisisError", "CrisisRubric", "LLMJudge", "LLMSimulator",
    "LexiconJudge", "Persona", "Resources", "ScriptedSimulator", "agreement", "converse", "cycle_metrics",
    "export_for_annotation",
    "find_resources", "load_config", "load_resources", "load_rubric", "load_scenarios", "locales", "make_judge",
    "read_labels", "run_crisis", "run_demo", "write_report",
]

"""The run engine: a YAML config becomes a resumable, stored red-team run.

Public names: :func:`load_config` / :class:`RunConfig` (the validated config), :func:`execute`
(async) and :func:`run_config` (sync) to run or resume it, :class:`RunOutcome`.
"""

from ..core.callable_module import make_callable
from .config import ConfigError, RunConfig, config_from_dict, load_config
from .engine import RunEngine, RunOutcome, execute, run_config

make_callable(__name__, "breakfix.api:run")  # `breakfix.run(cfg)`: the notebook verb (see breakfix.api)

__all__ = ["ConfigError", "RunConfig", "config_from_dict", "load_config", "RunEngine", "RunOutcome", "execute",
           "run_config"]

"""Reliability statistics for expert annotation: pure functions over numpy arrays.

Layouts: Krippendorff's α, the kappas and percent agreement take **raters × units** arrays with
NaN for a missing rating (Krippendorff's "reliability data"); the ICC takes a complete
**units × raters** table (Shrout & Fleiss' targets × judges). Every function documents its
formula and source in its module; bad input raises :class:`ReliabilityInputError` (a
``ValueError``) with a one-line reason instead of returning NaN.
"""

from ._alpha import alpha_bootstrap_ci, coincidence_matrix, krippendorff_alpha
from ._bootstrap import bootstrap_ci
from ._checks import LEVELS, ReliabilityInputError
from ._icc import ANOVA, FORMS, MCGRAW_WONG, ICCResult, anova_table, icc, icc_all
from ._kappa import (
    agreement_bootstrap_ci,
    cohen_bootstrap_ci,
    cohen_kappa,
    fleiss_kappa,
    gwet_ac,
    gwet_ac1,
    gwet_ac2,
    percent_agreement,
)
from ._summary import StatRow, summarise

__all__ = [
    "ANOVA", "FORMS", "agreement_bootstrap_ci", "cohen_bootstrap_ci", "ICCResult", "LEVELS", "MCGRAW_WONG", "ReliabilityInputError", "StatRow", "alpha_bootstrap_ci",
    "anova_table", "bootstrap_ci", "coincidence_matrix", "cohen_kappa", "fleiss_kappa", "gwet_ac", "gwet_ac1",
    "gwet_ac2", "icc", "icc_all", "krippendorff_alpha", "percent_agreement", "summarise",
]

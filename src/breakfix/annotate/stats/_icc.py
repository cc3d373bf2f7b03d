"""Intraclass correlation in the six Shrout–Fleiss forms, with F tests and confidence intervals.

Sources: Shrout, P. E. & Fleiss, J. L. (1979). Intraclass correlations: uses in assessing rater
reliability. *Psychological Bulletin* 86(2), 420–428 (the forms, the F tests and the CIs, incl.
the Satterthwaite degrees of freedom for ICC(2,·)); McGraw, K. O. & Wong, S. P. (1996). Forming
inferences about some intraclass correlation coefficients. *Psychological Methods* 1(1), 30–46
(the names by model / type / unit).

Two-way ANOVA on an n targets × k judges table (complete data):
``BMS`` between targets, ``JMS`` between judges, ``EMS`` residual, ``WMS = (SSJ + SSE)/(n(k−1))``
within targets.

=========  ======================================  ==================================  ==============
form       McGraw–Wong                             value                               F test
=========  ======================================  ==================================  ==============
ICC(1,1)   ICC(1): one-way random, single          (BMS−WMS)/(BMS+(k−1)WMS)            BMS/WMS, n−1, n(k−1)
ICC(2,1)   ICC(A,1): two-way random, absolute      (BMS−EMS)/(BMS+(k−1)EMS+k(JMS−EMS)/n)  BMS/EMS, n−1, (n−1)(k−1)
ICC(3,1)   ICC(C,1): two-way mixed, consistency    (BMS−EMS)/(BMS+(k−1)EMS)            BMS/EMS
ICC(1,k)   ICC(k): one-way random, average         (BMS−WMS)/BMS                       BMS/WMS
ICC(2,k)   ICC(A,k): two-way random, absolute      (BMS−EMS)/(BMS+(JMS−EMS)/n)         BMS/EMS
ICC(3,k)   ICC(C,k): two-way mixed, consistency    (BMS−EMS)/BMS                       BMS/EMS
=========  ======================================  ==================================  ==============

CIs (level 1−a): with ``F_L = F / F_{1−a/2}(df1, df2)`` and ``F_U = F · F_{1−a/2}(df2, df1)``,
ICC(1,1)/ICC(3,1): ``[(F_L−1)/(F_L+k−1), (F_U−1)/(F_U+k−1)]``; ICC(1,k)/ICC(3,k):
``[1−1/F_L, 1−1/F_U]``. ICC(2,1): Satterthwaite ``v`` from ``F_J = JMS/EMS`` and the point
estimate, then ``F* = F_{1−a/2}(n−1, v)``, ``F** = F_{1−a/2}(v, n−1)`` and
``[n(BMS−F*·EMS)/(F*(k·JMS+(kn−k−n)EMS)+n·BMS), n(F**·BMS−EMS)/(k·JMS+(kn−k−n)EMS+n·F**·BMS)]``;
ICC(2,k) applies the Spearman–Brown step ``kL/(1+(k−1)L)`` to those bounds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

from ._checks import ReliabilityInputError, as_float_matrix

FORMS = ("ICC(1,1)", "ICC(2,1)", "ICC(3,1)", "ICC(1,k)", "ICC(2,k)", "ICC(3,k)")
MCGRAW_WONG = {
    "ICC(1,1)": "ICC(1): one-way random effects, absolute agreement, single rater",
    "ICC(2,1)": "ICC(A,1): two-way random effects, absolute agreement, single rater",
    "ICC(3,1)": "ICC(C,1): two-way mixed effects, consistency, single rater",
    "ICC(1,k)": "ICC(k): one-way random effects, absolute agreement, mean of k raters",
    "ICC(2,k)": "ICC(A,k): two-way random effects, absolute agreement, mean of k raters",
    "ICC(3,k)": "ICC(C,k): two-way mixed effects, consistency, mean of k raters",
}
_ALIASES = {"ICC(1)": "ICC(1,1)", "ICC(A,1)": "ICC(2,1)", "ICC(C,1)": "ICC(3,1)", "ICC(K)": "ICC(1,k)",
            "ICC(A,K)": "ICC(2,k)", "ICC(C,K)": "ICC(3,k)", "ICC1": "ICC(1,1)", "ICC2": "ICC(2,1)", "ICC3": "ICC(3,1)",
            "ICC1K": "ICC(1,k)", "ICC2K": "ICC(2,k)", "ICC3K": "ICC(3,k)"}


@dataclass(frozen=True)
class ICCResult:
    """One intraclass correlation with its test and interval."""

    form: str  # Shrout–Fleiss name, e.g. "ICC(2,1)"
    name: str  # McGraw–Wong name and description
    value: float
    F: float
    df1: float
    df2: float
    p: float
    ci: tuple[float, float]
    ci_level: float
    n_units: int
    n_raters: int


@dataclass(frozen=True)
class ANOVA:
    """Mean squares of the two-way targets × judges table."""

    n: int
    k: int
    BMS: float
    JMS: float
    EMS: float
    WMS: float


def anova_table(data: Any) -> ANOVA:
    """Mean squares of a complete units × raters table (Shrout & Fleiss 1979, Table 1).

    Raises:
        ReliabilityInputError: missing values, fewer than 2 units or 2 raters, no variation.
    """
    x = as_float_matrix(data, what="ICC data", layout="units × raters")
    n, k = x.shape
    if n < 2 or k < 2:
        raise ReliabilityInputError(f"ICC needs at least 2 units and 2 raters; got {n} unit(s) × {k} rater(s)")
    missing = int(np.isnan(x).any(axis=1).sum())
    if missing:
        raise ReliabilityInputError(
            f"ICC needs every rater to rate every unit; {missing} of {n} units have missing ratings "
            "(drop those units, or use Krippendorff's α, which allows missing values)")
    grand = x.mean()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_tot = ((x - grand) ** 2).sum()
    ss_err = ss_tot - ss_rows - ss_cols
    if ss_tot <= 0:
        raise ReliabilityInputError("every rating is the same value; the ICC is undefined without variation")
    return ANOVA(n=n, k=k, BMS=ss_rows / (n - 1), JMS=ss_cols / (k - 1), EMS=ss_err / ((n - 1) * (k - 1)),
                 WMS=(ss_cols + ss_err) / (n * (k - 1)))


def _canonical(form: str, k: int) -> str:
    f = form.replace(" ", "").upper()
    f = _ALIASES.get(f, f)
    mt = re.fullmatch(r"ICC\(([123]),(1|K|\d+)\)", f.upper())
    if not mt:
        raise ReliabilityInputError(f"unknown ICC form {form!r}; use one of {', '.join(FORMS)} (or McGraw–Wong names)")
    avg = mt.group(2)
    if avg not in ("1", "K"):
        if int(avg) != k:
            raise ReliabilityInputError(f"{form}: the data have {k} raters, not {avg}")
        avg = "K"
    return f"ICC({mt.group(1)},{'1' if avg == '1' else 'k'})"


def _all(a: ANOVA, ci_level: float) -> dict[str, ICCResult]:
    n, k, bms, jms, ems, wms = a.n, a.k, a.BMS, a.JMS, a.EMS, a.WMS
    q = 1.0 - (1.0 - ci_level) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        v = {
            "ICC(1,1)": (bms - wms) / (bms + (k - 1) * wms),
            "ICC(2,1)": (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n),
            "ICC(3,1)": (bms - ems) / (bms + (k - 1) * ems),
            "ICC(1,k)": (bms - wms) / bms,
            "ICC(2,k)": (bms - ems) / (bms + (jms - ems) / n),
            "ICC(3,k)": (bms - ems) / bms,
        }
        df1, df2_one, df2_two = n - 1, n * (k - 1), (n - 1) * (k - 1)
        f1, f3 = bms / wms, bms / ems
        p1, p3 = sps.f.sf(f1, df1, df2_one), sps.f.sf(f3, df1, df2_two)
        f1l, f1u = f1 / sps.f.ppf(q, df1, df2_one), f1 * sps.f.ppf(q, df2_one, df1)
        f3l, f3u = f3 / sps.f.ppf(q, df1, df2_two), f3 * sps.f.ppf(q, df2_two, df1)
        rho = v["ICC(2,1)"]
        fj = jms / ems
        base = n * (1 + (k - 1) * rho) - k * rho
        nu = df2_two * (k * rho * fj + base) ** 2 / (df1 * k ** 2 * rho ** 2 * fj ** 2 + base ** 2)
        fs, fss = sps.f.ppf(q, n - 1, nu), sps.f.ppf(q, nu, n - 1)
        l2 = n * (bms - fs * ems) / (fs * (k * jms + (k * n - k - n) * ems) + n * bms)
        u2 = n * (fss * bms - ems) / (k * jms + (k * n - k - n) * ems + n * fss * bms)
    ci = {
        "ICC(1,1)": ((f1l - 1) / (f1l + k - 1), (f1u - 1) / (f1u + k - 1)),
        "ICC(2,1)": (l2, u2),
        "ICC(3,1)": ((f3l - 1) / (f3l + k - 1), (f3u - 1) / (f3u + k - 1)),
        "ICC(1,k)": (1 - 1 / f1l, 1 - 1 / f1u),
        "ICC(2,k)": (l2 * k / (1 + l2 * (k - 1)), u2 * k / (1 + u2 * (k - 1))),
        "ICC(3,k)": (1 - 1 / f3l, 1 - 1 / f3u),
    }
    test = {f: (f1, df1, df2_one, p1) if f.startswith("ICC(1") else (f3, df1, df2_two, p3) for f in FORMS}
    return {f: ICCResult(form=f, name=MCGRAW_WONG[f], value=float(v[f]), F=float(test[f][0]), df1=float(test[f][1]),
                         df2=float(test[f][2]), p=float(test[f][3]), ci=(float(ci[f][0]), float(ci[f][1])),
                         ci_level=ci_level, n_units=n, n_raters=k) for f in FORMS}


def icc(data: Any, form: str = "ICC(2,1)", ci_level: float = 0.95) -> ICCResult:
    """One intraclass correlation.

    Args:
        data: units × raters array, complete (every rater rated every unit).
        form: Shrout–Fleiss form (``"ICC(1,1)"`` … ``"ICC(3,k)"``; ``"ICC(2,4)"`` for k=4) or the
            McGraw–Wong name (``"ICC(A,1)"``, ``"ICC(C,k)"`` …).
        ci_level: coverage of the confidence interval.

    Returns:
        :class:`ICCResult` with value, F, df1, df2, p and CI.
    """
    a = anova_table(data)
    return _all(a, ci_level)[_canonical(form, a.k)]


def icc_all(data: Any, ci_level: float = 0.95) -> list[ICCResult]:
    """All six Shrout–Fleiss forms of a complete units × raters table, in :data:`FORMS` order."""
    a = anova_table(data)
    res = _all(a, ci_level)
    return [res[f] for f in FORMS]

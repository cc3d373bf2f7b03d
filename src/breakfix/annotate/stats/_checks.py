"""Input checks shared by the reliability statistics: bad input is a one-line ``ValueError``
that says what was expected, never a silent NaN."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.errors import BreakfixError

LEVELS = ("nominal", "ordinal", "interval", "ratio")


class ReliabilityInputError(BreakfixError, ValueError):
    """Reliability data that cannot give a meaningful statistic (the message says why)."""


def check_level(level: str) -> str:
    """Return ``level`` if it is a known measurement level, else raise."""
    if level not in LEVELS:
        raise ReliabilityInputError(f"level must be one of {', '.join(LEVELS)}; got {level!r}")
    return level


def as_float_matrix(data: Any, *, what: str = "reliability data", layout: str = "raters × units",
                    level: str = "interval") -> np.ndarray:
    """Convert ``data`` to a 2-D float array (NaN = missing).

    Nominal data may hold any hashable codes (strings are mapped to integer codes, which is
    harmless because nominal statistics only compare for equality). Every other level needs
    numbers: a non-numeric value raises an error that quotes the offending value.

    Raises:
        ReliabilityInputError: not 2-D, or non-numeric values for a non-nominal level.
    """
    arr = np.asarray(data)
    if arr.dtype.kind not in "fiub":
        arr = np.asarray(data, dtype=object)
    if arr.ndim != 2:
        raise ReliabilityInputError(f"{what} must be a 2-D {layout} array; got {arr.ndim} dimension(s)")
    if arr.dtype.kind in "fiub":
        return arr.astype(float)
    flat = arr.ravel()
    out = np.empty(flat.shape, dtype=float)
    codes: dict[Any, int] = {}
    for i, v in enumerate(flat):
        if v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and v.strip() == ""):
            out[i] = np.nan
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            if level != "nominal":
                raise ReliabilityInputError(
                    f"{level} statistics need numeric values; got {v!r} (use level='nominal' for categories)") from None
            out[i] = np.nan
            codes.setdefault(v, len(codes))
    if codes:  # nominal data with text codes: code every value (numbers too) by its text
        texts: dict[str, int] = {}
        for i, v in enumerate(flat):
            if v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and v.strip() == ""):
                continue
            out[i] = texts.setdefault(str(v), len(texts))
    return out.reshape(arr.shape)


def check_raters(data: np.ndarray, *, minimum: int = 2) -> None:
    """Raise unless at least ``minimum`` raters (rows) have a rating."""
    n = int((~np.isnan(data)).any(axis=1).sum())
    if n < minimum:
        raise ReliabilityInputError(f"agreement needs at least {minimum} raters with ratings; got {n}")

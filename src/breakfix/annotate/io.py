"""Read ratings files (long or wide, CSV or JSONL) into one long table, and check them.

Accepted layouts (column names are case-insensitive; ``item``/``annotator``/``score`` … are
accepted as synonyms):

- **long**: ``unit, rater, value`` (+ optional ``factor``, ``category``) — one row per rating;
- **wide by factor**: ``unit, rater, <factor 1>, <factor 2> …`` (+ ``category``) — one row per
  rater and unit, the layout of the annotation web app's CSV export;
- **wide by rater**: ``unit, <rater 1>, <rater 2> …`` (+ ``category``) — one row per unit;
- **web JSONL export**: ``{"unit", "rater", "category", "values": {factor: value}}`` per line.

The result has the columns ``unit, rater, factor, category, value`` (all text but ``value``)
plus any per-unit text columns (``prompt``, ``response``, ``group``) that the label export uses.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import BreakfixError

SYNONYMS = {
    "unit": ("unit", "item", "item_id", "unit_id", "subject", "target"),
    "rater": ("rater", "annotator", "coder", "judge", "observer", "rater_id", "annotator_id"),
    "value": ("value", "score", "rating", "label"),
    "factor": ("factor", "dimension", "criterion"),
    "category": ("category", "item_category"),
}
UNIT_TEXT = ("prompt", "response", "group", "text")
IGNORED = ("rationale", "updated_at", "project", "revisions", "comment", "notes", "timestamp")
DEFAULT_FACTOR = "score"
DEFAULT_CATEGORY = "all"
SINGLETON_SHARE = 0.2  # a rater with < 20 % of the median rater's ratings looks like a typo


class RatingsFileError(BreakfixError, ValueError):
    """A ratings file that cannot be read as reliability data (one-line message naming the file)."""


@dataclass
class Ratings:
    """A long ratings table and what was noticed while reading it."""

    df: pd.DataFrame
    path: str
    numeric: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def factors(self) -> list[str]:
        return list(dict.fromkeys(self.df["factor"]))

    @property
    def raters(self) -> list[str]:
        return sorted(self.df["rater"].unique())

    @property
    def categories(self) -> list[str]:
        return list(dict.fromkeys(self.df["category"]))


def _rename(df: pd.DataFrame) -> pd.DataFrame:
    """Canonical names for the structural columns; other columns (rater ids in a wide file,
    factor names) keep their spelling."""
    known = {n for names in SYNONYMS.values() for n in names} | set(UNIT_TEXT) | set(IGNORED)
    df = df.rename(columns={c: str(c).strip().lower() for c in df.columns if str(c).strip().lower() in known})
    for canon, names in SYNONYMS.items():
        if canon in df.columns:
            continue
        for n in names:
            if n in df.columns:
                df = df.rename(columns={n: canon})
                break
    return df


def _read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        rows = []
        with path.open(encoding="utf-8") as fh:
            for ln, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise RatingsFileError(f"{path}:{ln}: not valid JSON ({exc.msg})") from None
                if not isinstance(rec, dict):
                    raise RatingsFileError(f"{path}:{ln}: each line must be a JSON object")
                if isinstance(rec.get("values"), dict):  # web-app export: one record per rater and unit
                    base = {k: v for k, v in rec.items() if k != "values"}
                    rows.extend({**base, "factor": f, "value": v} for f, v in rec["values"].items())
                else:
                    rows.append(rec)
        return pd.DataFrame(rows)
    if suffix in (".csv", ".tsv", ".txt"):
        try:
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=False,
                               skipinitialspace=True)
        except (pd.errors.ParserError, csv.Error, UnicodeDecodeError) as exc:
            raise RatingsFileError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
        except pd.errors.EmptyDataError:
            raise RatingsFileError(f"{path}: the file is empty") from None
    raise RatingsFileError(f"{path}: unknown file type {suffix!r}; use .csv, .tsv or .jsonl")


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and v.strip() in ("", "NA", "nan", "NaN"))


def _to_long(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    if "unit" not in df.columns:
        raise RatingsFileError(f"{path}: no 'unit' column (expected unit,rater,value or a wide table with a unit column); "
                               f"columns are {', '.join(map(str, df.columns))}")
    keep = ["unit"] + [c for c in ("category", *UNIT_TEXT) if c in df.columns]
    if "rater" in df.columns and "value" in df.columns:
        long = df.copy()
    elif "rater" in df.columns:  # wide by factor
        factors = [c for c in df.columns if c not in (*keep, "rater", "factor", *IGNORED)]
        if not factors:
            raise RatingsFileError(f"{path}: has unit and rater columns but no value column and no factor columns")
        long = df.melt(id_vars=[c for c in (*keep, "rater") if c in df.columns], value_vars=factors,
                       var_name="factor", value_name="value")
    else:  # wide by rater
        raters = [c for c in df.columns if c not in (*keep, "factor", *IGNORED)]
        if not raters:
            raise RatingsFileError(f"{path}: no rater columns (a wide file needs unit, <rater 1>, <rater 2>, …)")
        long = df.melt(id_vars=[c for c in (*keep, "factor") if c in df.columns], value_vars=raters,
                       var_name="rater", value_name="value")
    if "factor" not in long.columns:
        long["factor"] = DEFAULT_FACTOR
    if "category" not in long.columns:
        long["category"] = DEFAULT_CATEGORY
    for c in ("unit", "rater", "factor", "category"):
        long[c] = long[c].map(lambda v: "" if _is_missing(v) else str(v).strip())
    long["category"] = long["category"].replace("", DEFAULT_CATEGORY)
    long["factor"] = long["factor"].replace("", DEFAULT_FACTOR)
    if (long["unit"] == "").any():
        raise RatingsFileError(f"{path}: {int((long['unit'] == '').sum())} row(s) have an empty unit id")
    if (long["rater"] == "").any():
        raise RatingsFileError(f"{path}: {int((long['rater'] == '').sum())} row(s) have an empty rater id")
    return long


def read_ratings(path: str | Path) -> Ratings:
    """Read a ratings file into a :class:`Ratings` (long table + warnings).

    Raises:
        RatingsFileError: the file is missing, unreadable, has no unit/rater structure, fewer than
            two raters, or a rater rated the same unit (and factor) twice.
        FileNotFoundError: no such file.
    """
    p = Path(path)
    if not p.is_file():
        raise RatingsFileError(f"{p}: no such file")
    df = _rename(_read_table(p))
    if df.empty:
        raise RatingsFileError(f"{p}: no ratings in the file")
    long = _to_long(df, p)
    all_units = list(dict.fromkeys(long["unit"]))
    missing = long["value"].map(_is_missing)
    long = long[~missing].copy()
    values = pd.to_numeric(long["value"], errors="coerce")
    numeric = bool(values.notna().all())
    long["value"] = values.astype(float) if numeric else long["value"].map(lambda v: str(v).strip())
    long = long.reset_index(drop=True)
    dup = long.duplicated(["unit", "rater", "factor"], keep=False)
    if dup.any():
        r = long[dup].iloc[0]
        raise RatingsFileError(f"{p}: rater {r['rater']!r} rated unit {r['unit']!r} (factor {r['factor']!r}) more than once")
    ratings = Ratings(df=long, path=str(p), numeric=numeric)
    ratings.warnings.extend(check_ratings(long, str(p), all_units))
    return ratings


def check_ratings(df: pd.DataFrame, source: str = "ratings", all_units: list[str] | None = None) -> list[str]:
    """Checks that make a statistic meaningless or suspicious.

    Raises:
        RatingsFileError: fewer than two raters.

    Returns:
        Warnings: units with no rating or a single rating (they cannot be paired), raters with far
        fewer ratings than the others (often a typo in a rater id that split one rater in two).
    """
    raters = df["rater"].value_counts()
    if len(raters) < 2:
        who = f" ({raters.index[0]!r})" if len(raters) else ""
        raise RatingsFileError(f"{source}: only {len(raters)} rater{who}; agreement needs at least two raters")
    warnings: list[str] = []
    units = all_units if all_units is not None else list(dict.fromkeys(df["unit"]))
    rated = set(df["unit"])
    empty = [u for u in units if u not in rated]
    if empty:
        warnings.append(f"{source}: {len(empty)} unit(s) have no ratings and are ignored: {', '.join(empty[:5])}"
                        + (" …" if len(empty) > 5 else ""))
    per_unit = df.groupby(["factor", "unit"])["rater"].nunique()
    single = sorted({u for (_, u), n in per_unit.items() if n < 2})
    if single:
        warnings.append(f"{source}: {len(single)} unit(s) have a single rating and cannot be compared: "
                        f"{', '.join(single[:5])}" + (" …" if len(single) > 5 else ""))
    median = float(raters.median())
    for name, n in raters.items():
        if median >= 5 and n < SINGLETON_SHARE * median:
            warnings.append(f"{source}: rater {name!r} has only {n} rating(s) while the median rater has {median:g} "
                            "— a typo in a rater id?")
    return warnings


def require_numeric(r: Ratings, level: str) -> None:
    """Raise a one-line error if a non-nominal statistic is asked of non-numeric values."""
    if level == "nominal" or r.numeric:
        return
    vals = pd.to_numeric(r.df["value"], errors="coerce")
    bad = r.df[vals.isna()].iloc[0]
    raise RatingsFileError(f"{r.path}: value {bad['value']!r} (unit {bad['unit']!r}, rater {bad['rater']!r}) is not a "
                           f"number; {level} statistics need numbers (use --level nominal for categories)")


def rating_matrix(df: pd.DataFrame, factor: str | None = None, raters: list[str] | None = None) -> pd.DataFrame:
    """Units × raters matrix of one factor (NaN = not rated), units in first-seen order."""
    sub = df if factor is None else df[df["factor"] == factor]
    units = list(dict.fromkeys(sub["unit"]))
    raters = raters if raters is not None else sorted(sub["rater"].unique())
    wide = sub.pivot(index="unit", columns="rater", values="value")
    return wide.reindex(index=units, columns=raters)


def unit_info(df: pd.DataFrame) -> pd.DataFrame:
    """One row per unit with its category and any per-unit text columns."""
    cols = ["unit", "category", *[c for c in UNIT_TEXT if c in df.columns]]
    return df[cols].drop_duplicates("unit").set_index("unit")

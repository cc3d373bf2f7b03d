"""Which ratings the owner's ICC is computed on (the design choice is the app's; the ICC itself
comes from the statistics module), and what the export hands to the statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd

from breakfix.annotate.web.agreement import icc_matrix
from breakfix.annotate.web.export import long_frame, rating_matrix

RECORDS = [
    {"unit": "u1", "category": "c", "rater": "ann", "values": {"s": 1, "e": 2}},
    {"unit": "u1", "category": "c", "rater": "ben", "values": {"s": 2, "e": 2}},
    {"unit": "u2", "category": "c", "rater": "ben", "values": {"s": 3, "e": 1}},
    {"unit": "u2", "category": "c", "rater": "cy", "values": {"s": 3, "e": 5}},
    {"unit": "u3", "category": "d", "rater": "ann", "values": {"s": 5, "e": 4}},
]


def test_rating_matrix_keeps_missing_as_nan_and_item_order() -> None:
    m = rating_matrix(RECORDS, "s", units=["u3", "u1", "u2", "u4"])
    assert list(m.index) == ["u3", "u1", "u2", "u4"] and list(m.columns) == ["ann", "ben", "cy"]
    expected = np.array([[5, np.nan, np.nan], [1, 2, np.nan], [np.nan, 3, 3], [np.nan] * 3])
    np.testing.assert_array_equal(m.to_numpy(), expected)
    assert len(long_frame(RECORDS)) == 10


def test_fully_crossed_design_uses_two_way_on_complete_rows() -> None:
    m = pd.DataFrame({"a": [1, 2, 3, np.nan], "b": [2, 2, 4, np.nan]}, index=["u1", "u2", "u3", "u4"])
    data, design = icc_matrix(m)
    assert design == "two-way" and data.shape == (3, 2)


def test_rotating_raters_use_one_way_on_equal_numbers_of_ratings() -> None:
    m = rating_matrix(RECORDS, "s")
    data, design = icc_matrix(m)
    # u3 has one rating only and cannot inform an ICC; u1 and u2 have two each (different raters).
    assert design == "one-way" and data.to_numpy().tolist() == [[1.0, 2.0], [3.0, 3.0]]

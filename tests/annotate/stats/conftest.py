import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def k2011() -> np.ndarray:
    """Krippendorff (2011) reliability data as raters × units (NaN = missing), 4 × 12."""
    df = pd.read_csv(DATA / "krippendorff2011.csv")
    return df.pivot(index="rater", columns="unit", values="value").to_numpy(dtype=float)


@pytest.fixture(scope="session")
def k2011_expected() -> dict:
    return json.loads((DATA / "expected.json").read_text())["krippendorff2011"]

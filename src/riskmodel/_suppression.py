"""Small-cell suppression (private): the one constant and the one blanking rule.

Anything that leaves the pupil level (reports, model cards, MLflow) shows no
count or rate of a group smaller than :data:`MIN_CELL` pupils.
:func:`blank_small` is the blanking of a finished table; the fairness audit adds
complementary suppression on top of it (see :func:`riskmodel.fairness.audit`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["MIN_CELL", "blank_small"]

#: Groups with fewer pupils than this show no numbers anywhere outside the pupil level.
MIN_CELL = 10


def blank_small(table: pd.DataFrame | None, count_col: str = "n", min_cell: int = MIN_CELL):
    """Blank every number of the rows whose ``count_col`` is below ``min_cell``.

    Numeric columns (not booleans) of those rows become NaN, ``count_col`` included;
    other rows and columns are left as they are. A table without ``count_col`` (or
    None) is returned unchanged. The input is never modified.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"group": ["a", "b"], "n": [4, 25], "rate": [0.5, 0.2]})
    >>> blank_small(t)
      group     n  rate
    0     a   NaN   NaN
    1     b  25.0   0.2
    >>> blank_small(t.astype({"n": "Int64"})).loc[:, "n"].tolist()  # nullable counts too
    [nan, 25.0]
    """
    if table is None or count_col not in table.columns:
        return table
    table = table.copy()
    counts = pd.to_numeric(table[count_col], errors="coerce")
    # a missing count (NaN, or pd.NA of a nullable column) is not a small group: nothing to blank
    small = (counts < max(int(min_cell), 1)).fillna(False).to_numpy(dtype=bool)
    if small.any():
        for c in table.columns:
            if pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c]):
                table[c] = table[c].astype("float64")
                table.loc[small, c] = np.nan
    return table

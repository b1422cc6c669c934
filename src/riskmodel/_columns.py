"""Normalised columns as plain arrays (private; shared by the features and the labels).

Dates become int64 day numbers (days since 1970-01-01), ``pupil_id`` columns
row numbers in ``pupils``, code columns their positions in a vocabulary.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .errors import DataValidationError

__all__ = ["category_codes", "pupil_codes", "require_columns", "table_present", "to_day",
           "ts_day"]

logger = logging.getLogger(__name__)


def to_day(values) -> np.ndarray:
    """Datetime-like array/Series -> int64 day numbers; NaT -> ``_NAT_DAY``."""
    arr = np.asarray(values)
    if arr.dtype.kind != "M":
        arr = pd.to_datetime(pd.Series(values)).to_numpy()
    days = arr.astype("datetime64[D]").view(np.int64)
    return days


def ts_day(ts: pd.Timestamp) -> int:
    """Day number of a timestamp."""
    return int(np.datetime64(ts.to_datetime64(), "D").astype(np.int64))


def table_present(tables, name: str) -> bool:
    """True when ``tables`` holds a non-empty ``name`` table."""
    has = getattr(tables, "has", None)
    if callable(has):
        return bool(has(name))
    df = getattr(tables, name, None)
    return df is not None and len(df) > 0


def pupil_codes(df: pd.DataFrame, pupils: pd.DataFrame, table: str) -> np.ndarray:
    """Row numbers in ``pupils`` of ``df.pupil_id`` (int64; -1 for unknown ids).

    The normalised form guarantees that ``pupil_id`` is a Categorical over
    ``pupils.pupil_id`` in order; anything else is re-coded here (slower).
    """
    col = df["pupil_id"]
    ids = pupils["pupil_id"]
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = col.cat.categories
        if len(cats) == len(ids) and cats.equals(pd.Index(ids.to_numpy())):
            return col.cat.codes.to_numpy().astype(np.int64, copy=False)
    codes = pd.Categorical(col.astype("str"), categories=pd.Index(ids.astype("str"))).codes
    codes = codes.astype(np.int64)
    n_bad = int((codes < 0).sum())
    if n_bad:
        logger.warning("%s: %d rows refer to pupils not in the pupils table; ignored.", table, n_bad)
    return codes


def category_codes(series: pd.Series, categories) -> np.ndarray:
    """Codes of ``series`` against a fixed vocabulary (``-1`` for missing/unknown)."""
    if isinstance(series.dtype, pd.CategoricalDtype) and tuple(series.cat.categories) == tuple(
        categories
    ):
        return series.cat.codes.to_numpy().astype(np.int64, copy=False)
    return pd.Categorical(series, categories=list(categories)).codes.astype(np.int64)


def require_columns(df: pd.DataFrame, table: str, columns) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataValidationError(
            f"Table {table!r} lacks required column(s) {missing}; it has {list(df.columns)}.",
            [
                {
                    "table": table,
                    "column": c,
                    "n_rows": len(df),
                    "examples": [],
                    "message": "required column missing",
                }
                for c in missing
            ],
        )

"""Normalised columns as plain arrays (private; shared by the features and the labels).

Dates become int64 day numbers (days since 1970-01-01), ``pupil_id`` columns
row numbers in ``pupils``, code columns their positions in a vocabulary.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ._checks import InvalidParameterError
from .errors import DataValidationError

__all__ = ["NAT_DAY", "category_codes", "check_tables", "pupil_codes", "require_columns", "table_present",
           "to_day", "ts_day"]

logger = logging.getLogger(__name__)

#: the day number of a missing date (NaT)
NAT_DAY = np.iinfo(np.int64).min


def to_day(values) -> np.ndarray:
    """Datetime-like array/Series -> int64 day numbers; NaT -> :data:`NAT_DAY`."""
    arr = np.asarray(values)
    if arr.dtype.kind != "M":
        arr = pd.to_datetime(pd.Series(values)).to_numpy()
    days = arr.astype("datetime64[D]").view(np.int64)
    return days


def ts_day(ts: pd.Timestamp) -> int:
    """Day number of a timestamp."""
    return int(np.datetime64(ts.to_datetime64(), "D").astype(np.int64))


def check_tables(tables, func: str) -> None:
    """Raise :class:`InvalidParameterError` unless ``tables`` has pupils and enrolments."""
    if getattr(tables, "pupils", None) is None or getattr(tables, "enrolments", None) is None:
        raise InvalidParameterError(
            f"The 'tables' parameter of {func} must be a riskmodel.SchoolTables with 'pupils' "
            f"and 'enrolments' tables. Got {type(tables).__name__} instead."
        )


def table_present(tables, name: str) -> bool:
    """True when ``tables`` holds a non-empty ``name`` table."""
    has = getattr(tables, "has", None)
    if callable(has):
        return bool(has(name))
    df = getattr(tables, name, None)
    return df is not None and len(df) > 0


def pupil_codes(df: pd.DataFrame, pupils: pd.DataFrame, table: str, dtype=np.int64
                ) -> np.ndarray:
    """Row numbers in ``pupils`` of ``df.pupil_id`` as ``dtype`` (-1 for unknown ids).

    The normalised form guarantees that ``pupil_id`` is a Categorical over
    ``pupils.pupil_id`` in order; its codes are returned without a copy when they
    already have ``dtype``. Anything else is re-coded here (slower).
    """
    col = df["pupil_id"]
    ids = pupils["pupil_id"]
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = col.cat.categories
        if len(cats) == len(ids) and cats.equals(pd.Index(ids.to_numpy())):
            return np.asarray(col.cat.codes.to_numpy(), dtype=dtype)
    codes = pd.Categorical(col.astype("str"), categories=pd.Index(ids.astype("str"))).codes
    n_bad = int((codes < 0).sum())
    if n_bad:
        logger.warning("%s: %d rows refer to pupils not in the pupils table; ignored.", table, n_bad)
    return codes.astype(dtype)


def category_codes(series: pd.Series, categories, dtype=np.int64) -> np.ndarray:
    """Codes of ``series`` against a fixed vocabulary as ``dtype`` (-1 for missing/unknown).

    No copy for a normalised column whose codes already have ``dtype``.
    """
    if isinstance(series.dtype, pd.CategoricalDtype) and tuple(series.cat.categories) == tuple(
        categories
    ):
        return np.asarray(series.cat.codes.to_numpy(), dtype=dtype)
    return pd.Categorical(series, categories=list(categories)).codes.astype(dtype)


def require_columns(df: pd.DataFrame, table: str, columns) -> None:
    """Raise a :class:`~riskmodel.errors.DataValidationError` naming the missing ``columns``."""
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

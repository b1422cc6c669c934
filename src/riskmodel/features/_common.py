"""Shared helpers of the feature builders (private): parameter checks, day
numbers, zero-copy access to the normalised columns.

Dates become int64 day numbers (days since 1970-01-01).  The event tables are
read by the numba kernels in :mod:`._kernels` straight from the column arrays
(pupil codes, datetime ticks, vocabulary codes) without copies.
"""

from __future__ import annotations

import datetime as _dt
import logging

import numpy as np
import pandas as pd

from .._checks import parse_as_of  # noqa: F401  (the one as_of parser)
from ..errors import DataValidationError

logger = logging.getLogger(__name__)

#: numpy day numbers (days since 1970-01-01) are int64 throughout.
_NAT_DAY = np.iinfo(np.int64).min


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


def day_ts(day: int) -> pd.Timestamp:
    return pd.Timestamp(np.datetime64(int(day), "D")).as_unit("ns")


def school_year_start_day(as_day: int, start_month: int) -> tuple[int, int]:
    """The latest school-year start (1st of ``start_month``) strictly before ``as_day``.

    Returns ``(start_day, school_year)`` where ``school_year`` is the start year.
    """
    d = np.datetime64(as_day - 1, "D").astype(object)  # the last day that may be used
    year = d.year if d.month >= start_month else d.year - 1
    start = _dt.date(year, start_month, 1)
    return int(np.datetime64(start, "D").astype(np.int64)), year


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


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num/den as float64 with NaN where den == 0."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(num.shape, np.nan)
    ok = den > 0
    np.divide(num, den, out=out, where=ok)
    return out


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


def raw_dates(series: pd.Series) -> tuple[np.ndarray, int]:
    """A datetime column as its int64 ticks (no copy) and the ticks per day."""
    arr = series.to_numpy()
    if arr.dtype.kind != "M":
        arr = pd.to_datetime(series).to_numpy()
    unit, count = np.datetime_data(arr.dtype)
    per_sec = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}.get(unit)
    if per_sec is None or count != 1:
        arr = arr.astype("datetime64[ns]")
        per_sec = 10**9
    return arr.view(np.int64), 86_400 * per_sec


def raw_codes(df: pd.DataFrame, tables, name: str) -> np.ndarray:
    """Pupil row numbers of ``df`` as int32 (no copy for normalised tables)."""
    col = df["pupil_id"]
    ids = tables.pupils["pupil_id"]
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = col.cat.categories
        if len(cats) == len(ids) and cats.equals(pd.Index(ids.to_numpy())):
            return np.asarray(col.cat.codes.to_numpy(), dtype=np.int32)
    return pupil_codes(df, tables.pupils, name).astype(np.int32)


def small_codes(series: pd.Series, categories) -> np.ndarray:
    """Vocabulary codes as int8 (-1 missing); no copy for normalised columns."""
    if isinstance(series.dtype, pd.CategoricalDtype) and tuple(series.cat.categories) == tuple(
        categories
    ):
        return np.asarray(series.cat.codes.to_numpy(), dtype=np.int8)
    return pd.Categorical(series, categories=list(categories)).codes.astype(np.int8)


def frozen(arr: np.ndarray, dtype) -> np.ndarray:
    """``arr`` as a C-contiguous, read-only array of ``dtype`` (a view when possible).

    numba compiles (and caches) one machine-code version per argument type, and
    read-only is part of the type; pandas hands out read-only views, so every
    kernel argument is made read-only to keep to a single cached version.
    """
    out = np.ascontiguousarray(arr, dtype=dtype).view()
    out.flags.writeable = False
    return out


class Bins:
    """Days ``[lo, hi)`` cut at the window boundaries ``points``.

    ``bin_of[day - lo]`` is the bin of a day; ``idx(x)`` the number of bins
    before boundary ``x`` (so a window ``[x, y)`` is the bins ``idx(x)`` to
    ``idx(y) - 1``).  Every queried boundary must be one of ``points``.
    """

    def __init__(self, lo: int, hi: int, points):
        self.lo, self.hi = int(lo), int(hi)
        pts = np.clip(np.asarray([*points, lo, hi], dtype=np.int64), lo, hi)
        self.edges = np.unique(pts)
        self.n = len(self.edges) - 1
        self.bin_of = (
            np.searchsorted(self.edges, np.arange(lo, hi, dtype=np.int64), side="right") - 1
        ).astype(np.int32)

    def idx(self, x: int) -> int:
        x = min(max(int(x), self.lo), self.hi)
        i = int(np.searchsorted(self.edges, x))
        assert self.edges[i] == x, "window boundary missing from the bins"
        return i


def cumulative(acc: np.ndarray) -> np.ndarray:
    """Cumulative sums over axis 1 (bins) with a leading zero, same dtype."""
    shape = list(acc.shape)
    shape[1] += 1
    out = np.zeros(shape, dtype=acc.dtype)
    np.cumsum(acc, axis=1, dtype=acc.dtype, out=out[:, 1:])
    return out

"""Shared helpers of the feature builders (private): school years, zero-copy
access to the normalised columns, window bins.

Dates become int64 day numbers (days since 1970-01-01; :mod:`riskmodel._columns`,
shared with :mod:`riskmodel.labels`).  The event tables are read by the numba
kernels in :mod:`._kernels` straight from the column arrays (pupil codes,
datetime ticks, vocabulary codes) without copies.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
import pandas as pd

from .._columns import pupil_codes, require_columns, table_present


def school_year_start_day(as_day: int, start_month: int) -> tuple[int, int]:
    """The latest school-year start (1st of ``start_month``) strictly before ``as_day``.

    Returns ``(start_day, school_year)`` where ``school_year`` is the start year.
    """
    d = np.datetime64(as_day - 1, "D").astype(object)  # the last day that may be used
    year = d.year if d.month >= start_month else d.year - 1
    start = _dt.date(year, start_month, 1)
    return int(np.datetime64(start, "D").astype(np.int64)), year


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num/den as float64 with NaN where den == 0."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(num.shape, np.nan)
    ok = den > 0
    np.divide(num, den, out=out, where=ok)
    return out


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


def event_arrays(tables, name: str, columns) -> tuple | None:
    """Kernel inputs of event table ``name``: ``(df, pupil rows, date ticks, ticks per day)``.

    None when the table is missing or empty; a missing required column is a
    :class:`~riskmodel.errors.DataValidationError`.
    """
    if not table_present(tables, name):
        return None
    df = getattr(tables, name)
    require_columns(df, name, columns)
    ticks, per_day = raw_dates(df["date"])
    return df, pupil_codes(df, tables.pupils, name, dtype=np.int32), ticks, per_day


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

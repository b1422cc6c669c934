"""Duplicate rows of the normalised tables (private; see :class:`riskmodel.SchoolTables`).

The rule per table (``docs/data_contract.md``, "Duplicates"):

* ``attendance`` (one row per pupil, day and status): a row repeating another
  exactly is dropped with a logged warning; the same (pupil, date, status) twice
  with different ``lessons`` is a conflict (a problem).
* ``pupils``, ``schools``: exact duplicates are dropped; two rows of one id that
  differ are a problem (``duplicate pupil_id``/``school_id``).
* ``enrolments``: exact duplicates are dropped; two enrolments of one pupil
  starting on one day that differ are a problem.
* ``support``: exact duplicates are dropped; the same (pupil, kind, start_date)
  with different end dates is a problem.
* ``grades``, ``engagement``: identical rows are kept. Their dates carry no time
  of day, so two identical rows are two real events (two marks in one subject on
  one day, two parent logins on one day); the synthetic generator writes such
  rows too.

Attendance tables reach tens of millions of rows. Their check is a numba pass:
one sequential pass finds out whether the rows are sorted by (day, pupil,
status) or (pupil, day, status), in which case duplicates are neighbours; else
rows are bucketed by blocks of pupils and each block is checked against a
cache-sized table of (pupil, day, status) cells (``_duplicate_kernels``), so no
row order is assumed and nothing is sorted.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from ._validation import Problems

logger = logging.getLogger("riskmodel.schema")

_DAY_NS = 86_400_000_000_000


def attendance_duplicates(df: pd.DataFrame, problems: Problems) -> pd.DataFrame:
    """Drop exact duplicate per-day attendance rows; report conflicting ones."""
    if len(df) < 2:
        return df
    from ._duplicate_kernels import _scan_buckets, _scan_sorted  # numba: imported when used

    pupil = df["pupil_id"].array.codes
    ticks = df["date"].to_numpy().view("int64")
    status = df["status"].array.codes
    n_pupils = len(df["pupil_id"].cat.categories)
    is_sorted, n_dup = _scan_sorted(pupil, ticks, status, np.int64(_DAY_NS))
    if is_sorted and n_dup == 0:
        return df
    empty = np.zeros(0, dtype=np.int64)
    if not is_sorted:
        n_dup = _scan_buckets(pupil, ticks, status, np.int64(_DAY_NS), np.int64(n_pupils),
                              empty, empty)
        if n_dup == 0:
            return df
    dup_row = np.empty(n_dup, dtype=np.int64)
    first_row = np.empty(n_dup, dtype=np.int64)
    _scan_buckets(pupil, ticks, status, np.int64(_DAY_NS), np.int64(n_pupils), dup_row,
                  first_row)
    lessons = df["lessons"].to_numpy()
    conflict = lessons[dup_row] != lessons[first_row]
    if conflict.any():
        rows = np.unique(np.concatenate([dup_row[conflict], first_row[conflict]]))
        first = first_row[conflict]
        ex = [f"{df['pupil_id'].iloc[f]} {df['date'].iloc[f]:%Y-%m-%d} "
              f"{df['status'].iloc[f]}: lessons {lessons[f]} and {lessons[d]}"
              for f, d in zip(first[:5], dup_row[conflict][:5])]
        problems.add("attendance", "lessons", len(rows), ex,
                     "the same pupil, date and status in two rows with different lessons "
                     "(conflicting rows; one row per pupil, day and status, or give one row "
                     "per lesson with a `lesson` column)")
    exact = dup_row[~conflict]
    if len(exact):
        logger.warning("attendance: dropping %d exact duplicate row(s) (the same pupil, date, "
                       "status and lessons as another row)", len(exact))
        keep = np.ones(len(df), dtype=bool)
        keep[exact] = False
        df = df[keep].reset_index(drop=True)
    return df


def drop_exact_duplicates(name: str, df: pd.DataFrame, key: list[str], problems: Problems,
                          message: str | None) -> pd.DataFrame:
    """Drop rows repeating another row exactly; rows sharing ``key`` that differ
    are a problem with ``message`` (None: reported elsewhere)."""
    if len(df) < 2:
        return df
    key_dup = df.duplicated(key, keep=False).to_numpy()
    if not key_dup.any():
        return df
    sub = df[key_dup]
    exact = sub.duplicated(keep="first").to_numpy()
    if exact.any():
        logger.warning("%s: dropping %d exact duplicate row(s) (every column the same as "
                       "another row)", name, int(exact.sum()))
        keep = np.ones(len(df), dtype=bool)
        keep[np.flatnonzero(key_dup)[exact]] = False
        df = df[keep].reset_index(drop=True)
    if message is not None:
        conflict = df.duplicated(key, keep=False).to_numpy()
        if conflict.any():
            rows = df[conflict]
            ex = [" ".join(_fmt(v) for v in r) for r in rows[key].itertuples(index=False)]
            problems.add(name, key[-1], int(conflict.sum()), list(dict.fromkeys(ex)), message)
    return df


def _fmt(v) -> str:
    if isinstance(v, pd.Timestamp):
        return f"{v:%Y-%m-%d}"
    return str(v)

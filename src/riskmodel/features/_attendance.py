"""Attendance features (private)."""

from __future__ import annotations

import numpy as np

from .. import vocab
from .._columns import category_codes
from . import _kernels as K
from ._common import Bins, event_arrays, frozen, ratio


def compute_all(tables, config, ctxs, lo: int, hi: int, first_day: int | None = None
                ) -> list[dict] | None:
    """Attendance features of every as_of in ``ctxs`` from one pass over the table.

    Only records dated in ``[lo, hi)`` are read; ``lo`` must be at or before the
    earliest window start (the pass starts at the first record when that is
    later).  Each dict also holds ``_att90_all``/``_tot90_all``
    (per pupil row, all pupils) for the school-level context feature.
    ``first_day`` (the day of the table's first record) is taken from the table
    unless given: :mod:`riskmodel.spark` gives the whole system's to each partition.
    """
    arrays = event_arrays(tables, "attendance", ["pupil_id", "date", "status"])
    if arrays is None:
        return None
    df, pupil, ticks, per_day = arrays
    n = len(tables.pupils)
    if first_day is None:
        first_day = _first_day(ticks, per_day)
    if first_day is not None:
        # no record lies before the first one: windows reaching further back (365
        # days) see the same records from there, with fewer bins and a narrower
        # day bitmap
        lo = min(max(lo, first_day), hi - 1)
    status = category_codes(df["status"], vocab.ATTENDANCE_STATUSES, dtype=np.int8)
    if "lessons" in df.columns:
        lessons = df["lessons"].to_numpy()
        if lessons.dtype.kind not in "iu":
            lessons = df["lessons"].fillna(1).to_numpy(dtype=np.int64)
        if lessons.dtype != np.int16:
            lessons = np.clip(lessons, 0, np.iinfo(np.int16).max)
    else:
        lessons = np.ones(len(df), dtype=np.int16)
    bins = Bins(lo, hi, [x for c in ctxs for x in (c.ys_day, c.as_day - 365, c.as_day - 90,
                                                    c.as_day - 28, c.as_day)])
    acc, bitmap = K.attendance_pass(
        frozen(pupil, np.int32), frozen(ticks, np.int64), np.int64(per_day),
        frozen(status, np.int8), frozen(lessons, np.int16), frozen(bins.bin_of, np.int32),
        np.int64(lo), np.int64(hi), np.int64(n), np.int64(bins.n),
    )
    order = np.argsort([c.as_day for c in ctxs], kind="stable")
    a_rel = np.array([ctxs[k].as_day - lo for k in order], dtype=np.int64)
    ys_rel = np.array([ctxs[k].ys_day - lo for k in order], dtype=np.int64)
    days = K.attendance_days(bitmap, frozen(a_rel, np.int64), frozen(ys_rel, np.int64))
    rec365 = [_recorded(acc, bitmap, c, bins, first_day) for c in ctxs]
    del bitmap
    out: list[dict] = [{} for _ in ctxs]
    for j, k in enumerate(order):
        out[k] = _features(acc, days[:, j, :], rec365[k], ctxs[k], bins, config)
    return out


def _first_day(ticks, per_day) -> int | None:
    """Day number of the first attendance record (None without dated records)."""
    if not len(ticks):
        return None
    first = int(ticks.min())
    if first == np.iinfo(np.int64).min:  # NaT sorts first
        valid = ticks[ticks != first]
        if not len(valid):
            return None
        first = int(valid.min())
    return first // per_day


def _recorded(acc, bitmap, ctx, bins, first_day) -> np.ndarray:
    """True for the pupils of ``ctx`` with an attendance record in
    ``[as_of - 365, as_of)``: the convention of the 28/90-day day counts, where a
    record with 0 lessons is a record.  A pupil with lessons in the window has
    one; only the others are looked up in the pupil x day bitmap.  When the
    records start after ``as_of - 365`` the window is unknown: False for all."""
    rows, a = ctx.rows, ctx.as_day
    if first_day is None or a - 365 < first_day:
        return np.zeros(len(rows), dtype=bool)
    tot = acc[bins.idx(a), rows, K.A_TOT] - acc[bins.idx(a - 365), rows, K.A_TOT]
    rec = tot > 0
    unsure = np.flatnonzero(~rec)
    if len(unsure):
        span = bitmap.shape[1]
        t0 = min(max(a - 365 - bins.lo, 0), span)
        t1 = min(max(a - bins.lo, 0), span)
        rec[unsure] = bitmap[rows[unsure], t0:t1].any(axis=1)
    return rec


def _features(acc, D, rec365, ctx, bins, config) -> dict[str, np.ndarray]:
    rows = ctx.rows
    a, ys = ctx.as_day, ctx.ys_day
    D = D[rows]
    # windows: school year, 90 days, 28 days, the school year before the last 28
    # days, 365 days
    bounds = [(ys, a), (a - 90, a), (a - 28, a), (ys, max(ys, a - 28)), (a - 365, a)]
    starts = np.array([bins.idx(x) for x, _ in bounds], dtype=np.int64)
    ends = np.array([bins.idx(y) for _, y in bounds], dtype=np.int64)
    every = np.arange(acc.shape[1], dtype=np.int64)
    Wall = K.window_sums(acc, frozen(every, np.int64), frozen(starts[1:2], np.int64),
                         frozen(ends[1:2], np.int64))
    Wn = K.window_sums(acc, frozen(rows, np.int64), frozen(starts, np.int64),
                       frozen(ends, np.int64)).astype(np.float64)
    col = {(ys, a): 0, (a - 90, a): 1, (a - 28, a): 2, (ys, a - 28): 3, (a - 365, a): 4}

    def w(q, x, y):  # lessons of quantity q in [x, y)
        return Wn[col[(x, y)], q]

    def counted(q, x, rec):  # a count; NaN when no record in the window
        v = w(q, x, a)
        v[D[:, rec] == 0] = np.nan
        return v

    def counted365(q):  # a count over 365 days; NaN when no (known) record in the window
        v = w(q, a - 365, a)
        v[~rec365] = np.nan
        return v

    def day_count(i, rec):
        v = D[:, i].astype(np.float64)
        v[D[:, rec] == 0] = np.nan
        return v

    out: dict[str, np.ndarray] = {}
    tot_ys, att_ys = w(K.A_TOT, ys, a), w(K.A_ATT, ys, a)
    out["attendance_rate_ytd"] = ratio(att_ys, tot_ys)
    out["attendance_rate_90d"] = ratio(w(K.A_ATT, a - 90, a), w(K.A_TOT, a - 90, a))
    out["attendance_rate_28d"] = ratio(w(K.A_ATT, a - 28, a), w(K.A_TOT, a - 28, a))
    rest = ratio(w(K.A_ATT, ys, a - 28), w(K.A_TOT, ys, a - 28))
    out["attendance_trend_28d"] = out["attendance_rate_28d"] - rest
    rate365 = ratio(w(K.A_ATT, a - 365, a), w(K.A_TOT, a - 365, a))
    rate365[~rec365] = np.nan  # no lessons in the window, or a window the records miss
    out["attendance_rate_365d"] = rate365
    out["excused_lessons_28d"] = counted(K.A_EXC, a - 28, K.D_REC28)
    out["excused_lessons_90d"] = counted(K.A_EXC, a - 90, K.D_REC90)
    out["excused_lessons_365d"] = counted365(K.A_EXC)
    out["unexcused_lessons_28d"] = counted(K.A_UNX, a - 28, K.D_REC28)
    out["unexcused_lessons_90d"] = counted(K.A_UNX, a - 90, K.D_REC90)
    out["unexcused_lessons_365d"] = counted365(K.A_UNX)
    out["excused_days_28d"] = day_count(K.D_EXC28, K.D_REC28)
    out["excused_days_90d"] = day_count(K.D_EXC90, K.D_REC90)
    out["unexcused_days_28d"] = day_count(K.D_UNX28, K.D_REC28)
    out["unexcused_days_90d"] = day_count(K.D_UNX90, K.D_REC90)
    out["late_lessons_28d"] = counted(K.A_LATE, a - 28, K.D_REC28)
    out["late_lessons_90d"] = counted(K.A_LATE, a - 90, K.D_REC90)
    out["longest_absence_run_days_ytd"] = day_count(K.D_RUN, K.D_RECYS)
    out["monday_friday_absence_share_ytd"] = ratio(w(K.A_ABSMF, ys, a), tot_ys - att_ys)
    rate = out["attendance_rate_ytd"]
    chronic = (rate < config.chronic_absence_threshold).astype(np.float64)
    chronic[np.isnan(rate)] = np.nan
    out["chronic_absence_ytd"] = chronic
    out["_att90_all"] = Wall[0, K.A_ATT].astype(np.float64)
    out["_tot90_all"] = Wall[0, K.A_TOT].astype(np.float64)
    return out

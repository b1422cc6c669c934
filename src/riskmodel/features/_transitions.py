"""Transition features from the enrolment history (private)."""

from __future__ import annotations

import numpy as np

from .._columns import NAT_DAY, to_day
from .._enrolments import LIECIBA_CODE, OPEN_DAY, SENTINEL

_YEARS2 = 730


def birth_years(tables) -> np.ndarray:
    """Birth year per pupil row (float, NaN when unknown)."""
    bd = tables.pupils["birth_date"]
    days = to_day(bd)
    years = days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    out = years.astype(np.float64)
    out[days == NAT_DAY] = np.nan
    return out


def term_day_counter(lo: int, hi: int, config) -> tuple[int, np.ndarray]:
    """Cumulative count of teaching days (Monday-Friday outside the summer break)."""
    days = np.arange(lo, hi + 2, dtype=np.int64)
    month = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12 + 1
    start, end = config.school_year_start_month, config.term_end_month
    if end < start:
        summer = (month > end) & (month < start)
    else:  # unusual calendars: teaching from start to end within one year
        summer = (month < start) | (month > end)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    teaching = ~summer & (weekday < 5)
    cum = np.zeros(len(days) + 1, dtype=np.int64)
    np.cumsum(teaching, out=cum[1:])
    return lo, cum


def compute(prep, ctx, config) -> dict[str, np.ndarray]:
    enr = ctx.enr  # known view, sorted by (pupil, start, end)
    rows, cur, a = ctx.rows, ctx.cur, ctx.as_day
    n = enr.n_pupils
    out: dict[str, np.ndarray] = {}
    grade = enr.grade[cur]
    out["grade_level"] = grade.astype(np.float64)
    by = prep["birth_year"][rows]
    out["over_age_years"] = (enr.school_year[cur] - by) - (grade + 6)

    p = enr.pupil
    same_prev = np.zeros(len(p), dtype=bool)
    same_prev[1:] = p[1:] == p[:-1]

    # repetitions: consecutive school years with no higher grade
    yk = np.lexsort((enr.grade, enr.school_year, p))
    py, yy, gy = p[yk], enr.school_year[yk], enr.grade[yk]
    last = np.ones(len(py), dtype=bool)  # keep the highest grade of each (pupil, year)
    last[:-1] = (py[1:] != py[:-1]) | (yy[1:] != yy[:-1])
    py, yy, gy = py[last], yy[last], gy[last]
    rep = np.zeros(len(py), dtype=bool)
    rep[1:] = (py[1:] == py[:-1]) & (yy[1:] == yy[:-1] + 1) & (gy[1:] <= gy[:-1])
    out["grade_repetitions"] = np.bincount(py[rep], minlength=n)[rows].astype(np.float64)
    # repeating now: the repetition is the school year of the current enrolment
    year_now = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    year_now[rows] = enr.school_year[cur]
    rep_now = rep & (yy == year_now[py])
    out["repeating_grade"] = (np.bincount(py[rep_now], minlength=n)[rows] > 0).astype(np.float64)

    # school changes in the last two years
    recent = (enr.start >= a - _YEARS2) & same_prev
    change = recent & np.r_[False, enr.school[1:] != enr.school[:-1]]
    out["school_changes_2y"] = np.bincount(p[change], minlength=n)[rows].astype(np.float64)
    latest = np.full(n, NAT_DAY, dtype=np.int64)
    np.maximum.at(latest, p[change], enr.start[change])
    since = (a - latest[rows]).astype(np.float64)
    since[latest[rows] == NAT_DAY] = np.nan
    out["days_since_school_change"] = since

    # gaps: teaching days without enrolment before each enrolment starting in the last two years
    big = np.int64(SENTINEL)
    run_max = np.maximum.accumulate(p * big + enr.end) - p * big  # max end so far, same pupil
    prev_end = np.r_[OPEN_DAY, run_max[:-1]]
    has_gap = recent & (prev_end < enr.start - 1)
    gap = np.zeros(len(p), dtype=np.int64)
    if has_gap.any():
        lo, cum = prep["term_counter"](int(prev_end[has_gap].min()), int(enr.start[has_gap].max()))
        gap[has_gap] = cum[enr.start[has_gap] - lo] - cum[prev_end[has_gap] + 1 - lo]
    out["enrolment_gap_days_2y"] = np.bincount(p, weights=gap, minlength=n)[rows]

    # new arrival: first known enrolment within the last year, not into grade 1
    first = ~same_prev
    data_start = ctx.data_start  # given by riskmodel.spark: the whole system's first start
    if data_start is None:
        data_start = int(enr.start.min()) if len(enr.start) else a
    new = np.zeros(n, dtype=np.float64)
    fi = np.flatnonzero(first & (enr.start >= a - 365) & (enr.grade > 1))
    new[p[fi]] = 1.0
    arrivals = new[rows]
    if data_start > a - 365 - 30:  # the records do not reach far enough back to tell
        arrivals = np.full(len(rows), np.nan)
    out["new_arrival_365d"] = arrivals

    liec = (enr.end != OPEN_DAY) & (enr.reason == LIECIBA_CODE) & (enr.grade == 9)
    out["finished_grade9_lieciba"] = (np.bincount(p[liec], minlength=n)[rows] > 0).astype(
        np.float64
    )
    return out


def prepare(tables, config):
    by = birth_years(tables)

    def counter(lo, hi):
        return term_day_counter(lo, hi, config)

    return {"birth_year": by, "term_counter": counter}

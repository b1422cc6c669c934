"""Per-lesson attendance -> the contract's per-day rows (private; see :class:`riskmodel.SchoolTables`).

E-journals record one mark per lesson: ``pupil_id, date, lesson, status``. The
contract has one row per pupil, day and status with ``lessons`` = the number of
lessons with that status, which is what the attendance features sum (lessons per
status for rates and counts; a day counts as an excused or unexcused absence day
when any of its lessons has that status, and as attended when any has
``present`` or ``late``).

The rule:

1. Dates are cut to the day (a lesson's time of day is dropped).
2. A row repeating another exactly (pupil, day, lesson, status) is dropped, with
   a logged warning giving the count.
3. The same pupil, day and lesson with two different statuses is a conflict (a
   problem): the export holds two marks for one lesson and riskmodel does not
   choose one.
4. The remaining lessons are counted per (pupil, day, status): one output row
   each, ``lessons`` = that count. The lesson numbers are not kept.

A lesson without a mark (an empty status) is a lesson attended: ``present``.
A table with no ``present`` lesson at all is a problem, since an export that
lists only absence marks would make every attendance rate 0 %.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from . import vocab
from ._parsers import factorize, ids_to_str, take_codes
from ._validation import NS, Problems, code_dtype

logger = logging.getLogger("riskmodel.schema")

_DAY_NS = 86_400_000_000_000


def lesson_codes(s: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Codes (-1 = missing) of the lesson column, lessons compared as written
    ("3" and 3 are one lesson)."""
    codes, uniques = factorize(s)
    strs = ids_to_str(uniques)
    ucodes, cats = pd.factorize(strs)
    return take_codes(ucodes.astype(np.int64), codes), pd.Index(cats)


def aggregate_lessons(df: pd.DataFrame, lesson: np.ndarray, lessons_named: pd.Index,
                      problems: Problems) -> pd.DataFrame:
    """One row per (pupil, day, status) with ``lessons`` counted; see the module."""
    pupil_dtype = df["pupil_id"].dtype
    status_dtype = code_dtype(vocab.ATTENDANCE_STATUSES)
    pupil = df["pupil_id"].array.codes.astype(np.int64)
    ticks = df["date"].to_numpy().view("int64")
    status = df["status"].array.codes.astype(np.int64)
    nat = np.iinfo(np.int64).min
    missing = lesson < 0
    if missing.any():
        problems.add("attendance", "lesson", int(missing.sum()), [],
                     "missing lesson (a per-lesson attendance table needs the lesson of "
                     "every row)")
    ok = (pupil >= 0) & (ticks != nat) & (status >= 0) & ~missing
    pupil, ticks, status, lesson = pupil[ok], ticks[ok], status[ok], lesson[ok]
    if len(pupil) == 0:
        return _frame(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
                      np.zeros(0, np.int64), pupil_dtype, status_dtype)
    day = ticks // _DAY_NS
    lo = int(day.min())
    span = int(day.max()) - lo + 1
    n_lessons = max(len(lessons_named), 1)
    pupil_day = pupil * span + (day - lo)  # < 2**31 pupils x 2**18 days
    if int(pupil_day.max()) >= (2**62) // (4 * n_lessons):  # cannot pack: renumber first
        pupil_day_codes, pupil_day_u = pd.factorize(pupil_day, sort=True)
        key = (pupil_day_codes.astype(np.int64) * n_lessons + lesson) * 4 + status
    else:
        pupil_day_u = None
        key = (pupil_day * n_lessons + lesson) * 4 + status
    uniq = np.unique(key)
    n_exact = len(key) - len(uniq)
    if n_exact:
        logger.warning("attendance: dropping %d exact duplicate row(s) (the same pupil, date, "
                       "lesson and status as another row)", n_exact)
    per_lesson = uniq >> 2
    same = per_lesson[1:] == per_lesson[:-1]
    if same.any():
        conflict = np.zeros(len(uniq), dtype=bool)
        conflict[1:] |= same
        conflict[:-1] |= same
        rows = np.isin(key >> 2, per_lesson[conflict])
        examples = []
        for pl in np.unique(per_lesson[conflict])[:5]:
            cells = uniq[per_lesson == pl]
            pd_code = pl // n_lessons
            pdv = int(pd_code if pupil_day_u is None else pupil_day_u[pd_code])
            who = pupil_dtype.categories[pdv // span]
            when = np.datetime64(lo + pdv % span, "D")
            what = "/".join(status_dtype.categories[int(c % 4)] for c in cells)
            examples.append(f"{who} {when} lesson {lessons_named[int(pl % n_lessons)]}: {what}")
        problems.add("attendance", "status", int(rows.sum()), examples,
                     "the same pupil, date and lesson with two or more statuses (conflicting "
                     "marks for one lesson; riskmodel does not choose one)")
    present = status_dtype.categories.get_loc("present")
    if not (uniq % 4 == present).any():
        problems.add("attendance", "status", len(key), [],
                     "per-lesson attendance lists no lesson as present: an export holding "
                     "only absence marks would make every attendance rate 0 %; export every "
                     "lesson (a lesson without a mark counts as present)")
    # count lessons per (pupil, day, status)
    day_status = (per_lesson // n_lessons) * 4 + (uniq % 4)
    cells, counts = np.unique(day_status, return_counts=True)
    pdv = cells >> 2
    if pupil_day_u is not None:
        pdv = np.asarray(pupil_day_u)[pdv]
    return _frame(pdv // span, lo + pdv % span, cells % 4, counts, pupil_dtype, status_dtype)


def _frame(pupil, day, status, lessons, pupil_dtype, status_dtype) -> pd.DataFrame:
    """Per-day rows ordered by date, pupil, status (the generator's order)."""
    order = np.lexsort((status, pupil, day))
    return pd.DataFrame({
        "pupil_id": pd.Categorical.from_codes(pupil[order].astype(np.int32), dtype=pupil_dtype,
                                              validate=False),
        "date": (day[order] * _DAY_NS).view(NS),
        "status": pd.Categorical.from_codes(status[order].astype(np.int8), dtype=status_dtype,
                                            validate=False),
        "lessons": np.minimum(lessons[order], np.iinfo(np.int16).max).astype(np.int16),
    }, copy=False)

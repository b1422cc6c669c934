"""Enrolment histories: who is enrolled on a date, who is expected to continue after
the summer, and which enrolments ended in early leaving (private; shared by
:mod:`riskmodel.features` and :mod:`riskmodel.labels`, so that both use one cohort
and one definition of early leaving).

The cohort of a date (:func:`cohort_at`)
----------------------------------------
During a school year the cohort is the pupils **enrolled** on ``as_of``: an
enrolment started before ``as_of`` and not ended before it.

Between two school years (a summer ``as_of``) few or no pupils are enrolled. The
pupils *waiting to continue* are those not enrolled on ``as_of`` whose latest
enrolment (latest start; of two with the same start the later end) ended before
``as_of``, at most :data:`SUMMER_LOOKBACK_DAYS` before it, in the completion of a
grade from which school goes on:

- ``completed`` or ``completed_certificate`` in grades 1-11: they enter the next
  grade (a grade-9 certificate completes basic school, not school: the pupil is
  expected in grade 10);
- ``completed_liecība`` in grade 9: they enter grade 9 again (basic education is
  not completed; repeating grade 9 is the path inside the records, a vocational
  bridging programme lies outside them). In other grades 1-11 it counts as
  ``completed``.

Completing grade 12 (any completion), and a latest enrolment ending ``transferred``,
``left``, ``expelled``, ``emigrated``, ``other`` or without a reason, is not
waiting to continue (a transfer's new school is not in the records yet).

``as_of`` is a **summer date** when more pupils are waiting to continue than are
enrolled. Then the cohort is both: the enrolled pupils (a summer school, an early
start, a record never closed: in the enrolment they are in) and the pupils waiting
to continue, each in a *planned enrolment*: the school and municipality of the
latest enrolment, the next school year, the grade they will enter, starting on
``as_of`` and open. Otherwise (a date in a school year) the cohort is the enrolled
pupils only, exactly as before summer cohorts existed. Everything is decided from
the records known before ``as_of``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import vocab
from ._columns import NAT_DAY, category_codes, pupil_codes, require_columns, to_day

#: day number used for open enrolments (end_date NaT)
OPEN_DAY = np.int64(2**40)
SENTINEL = 2**41  # > any day, used to separate pupils in packed keys

_REASON = {r: i for i, r in enumerate(vocab.END_REASONS)}
LIECIBA_CODE = _REASON["completed_liecība"]
#: end reasons that complete a grade (school goes on after them, below grade 12)
COMPLETION_CODES = np.array(
    [_REASON[r] for r in ("completed", "completed_certificate", "completed_liecība")],
    dtype=np.int64,
)
#: a completion older than this (days before as_of) is not waiting to continue: the
#: pupil has missed a school year
SUMMER_LOOKBACK_DAYS = 365
#: the grade a pupil enters after a grade-9 liecība (repeats grade 9)
LIECIBA_NEXT_GRADE = 9


def leaving_codes(emigration_is_leaving: bool) -> np.ndarray:
    reasons = list(vocab.LEAVING_END_REASONS)
    if emigration_is_leaving:
        reasons.append("emigrated")
    return np.array([_REASON[r] for r in reasons], dtype=np.int64)


@dataclass
class Enrolments:
    """Enrolments as arrays, sorted by (pupil, start_day, end_day)."""

    pupil: np.ndarray  # int64 row number in pupils
    school: np.ndarray  # int64 codes into school_ids
    municipality: np.ndarray  # int64 codes into municipality_ids
    school_year: np.ndarray  # int64
    grade: np.ndarray  # int64
    start: np.ndarray  # int64 day
    end: np.ndarray  # int64 day, OPEN_DAY when open
    reason: np.ndarray  # int64 code into vocab.END_REASONS, -1 when missing
    school_ids: pd.Index
    municipality_ids: pd.Index
    n_pupils: int

    @classmethod
    def from_tables(cls, tables) -> "Enrolments":
        pupils = tables.pupils
        df = tables.enrolments
        require_columns(
            df,
            "enrolments",
            ["pupil_id", "school_id", "municipality_id", "school_year", "grade", "start_date"],
        )
        pupil = pupil_codes(df, pupils, "enrolments")
        start = to_day(df["start_date"])
        end = (
            to_day(df["end_date"])
            if "end_date" in df.columns
            else np.full(len(df), NAT_DAY)
        )
        end = np.where(end == NAT_DAY, OPEN_DAY, end)
        if "end_reason" in df.columns:
            reason = category_codes(df["end_reason"], vocab.END_REASONS)
        else:
            reason = np.full(len(df), -1, dtype=np.int64)
        school = pd.Categorical(df["school_id"])
        muni = pd.Categorical(df["municipality_id"])
        grade = pd.to_numeric(df["grade"]).to_numpy(dtype=np.int64, na_value=-1)
        year = pd.to_numeric(df["school_year"]).to_numpy(dtype=np.int64, na_value=-1)
        ok = (pupil >= 0) & (start != NAT_DAY)
        order = np.lexsort((end[ok], start[ok], pupil[ok]))

        def take(a):
            return np.asarray(a)[ok][order]

        return cls(
            pupil=take(pupil),
            school=take(school.codes.astype(np.int64)),
            municipality=take(muni.codes.astype(np.int64)),
            school_year=take(year),
            grade=take(grade),
            start=take(start),
            end=take(end),
            reason=take(reason),
            school_ids=pd.Index(school.categories),
            municipality_ids=pd.Index(muni.categories),
            n_pupils=len(pupils),
        )

    def known_at(self, as_day: int) -> "Enrolments":
        """What was known strictly before ``as_day``: started before it, and ends on
        or after it shown as open."""
        keep = self.start < as_day
        ended = self.end < as_day
        end = np.where(ended, self.end, OPEN_DAY)[keep]
        reason = np.where(ended, self.reason, -1)[keep]
        # re-sort: masking ends can change the (pupil, start, end) order only
        # within equal starts, so a stable lexsort on the kept rows is cheap.
        pupil, start = self.pupil[keep], self.start[keep]
        order = np.lexsort((end, start, pupil))
        return Enrolments(
            pupil=pupil[order],
            school=self.school[keep][order],
            municipality=self.municipality[keep][order],
            school_year=self.school_year[keep][order],
            grade=self.grade[keep][order],
            start=start[order],
            end=end[order],
            reason=reason[order],
            school_ids=self.school_ids,
            municipality_ids=self.municipality_ids,
            n_pupils=self.n_pupils,
        )

    def current_rows(self) -> np.ndarray:
        """Index of each enrolled pupil's current (open, latest-starting) enrolment.

        Meant for a ``known_at`` view, where open means enrolled on the date.
        """
        open_ = np.flatnonzero(self.end == OPEN_DAY)
        if len(open_) == 0:
            return open_
        p = self.pupil[open_]
        last = np.ones(len(open_), dtype=bool)
        last[:-1] = p[1:] != p[:-1]
        return open_[last]

    def last_date(self) -> int | None:
        days = np.concatenate([self.start, self.end[self.end != OPEN_DAY]])
        return int(days.max()) if len(days) else None


def waiting_to_continue(known: Enrolments, as_day: int) -> tuple[np.ndarray, np.ndarray]:
    """Pupils of a ``known_at(as_day)`` view waiting to continue after completing a grade.

    Returns the index (into ``known``) of each such pupil's latest enrolment, the
    completed one, and the grade the pupil will enter; see the module docstring.
    """
    n = len(known.pupil)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    p = known.pupil
    last = np.ones(n, dtype=bool)  # sorted by (pupil, start, end): the last row of a pupil
    last[:-1] = p[1:] != p[:-1]
    enrolled = np.zeros(known.n_pupils, dtype=bool)
    enrolled[p[known.end == OPEN_DAY]] = True
    idx = np.flatnonzero(last)
    g, r, e = known.grade[idx], known.reason[idx], known.end[idx]
    keep = (
        ~enrolled[p[idx]]
        & np.isin(r, COMPLETION_CODES)
        & (g >= vocab.MIN_GRADE_LEVEL)
        & (g < vocab.MAX_GRADE_LEVEL)
        & (e < as_day)
        & (e >= as_day - SUMMER_LOOKBACK_DAYS)
    )
    idx = idx[keep]
    g, r = g[keep], r[keep]
    nxt = np.where((r == LIECIBA_CODE) & (g == 9), LIECIBA_NEXT_GRADE, g + 1)
    return idx, nxt.astype(np.int64)


@dataclass
class Cohort:
    """Who is in the cohort of a date and in which (current or planned) enrolment.

    ``view`` is the ``known_at`` view, plus one planned enrolment per pupil
    waiting to continue on a summer date; ``rows`` indexes every cohort pupil's
    enrolment in ``view`` (ascending pupil), any grade; ``planned`` marks the
    planned ones and ``source`` gives, for each of ``rows``, the enrolment of
    ``records`` (the plain ``known_at`` view) it stands for: itself, or the
    completed enrolment a planned one follows.
    """

    view: Enrolments
    records: Enrolments
    rows: np.ndarray
    planned: np.ndarray
    source: np.ndarray
    summer: bool
    n_enrolled: int
    n_waiting: int


def cohort_at(enrolments: Enrolments, as_day: int, summer: bool | None = None) -> Cohort:
    """The cohort of ``as_day`` from all enrolments (only the records known before it are used).

    ``summer`` overrides the summer-date decision (more pupils waiting to continue
    than enrolled) with one taken elsewhere: :mod:`riskmodel.spark` decides it once
    from the counts of the whole system and passes it to every pupil partition.

    Examples
    --------
    >>> import riskmodel as rm
    >>> from riskmodel._columns import ts_day
    >>> import pandas as pd
    >>> t = rm.datasets.make_school_system(n_pupils=300, n_years=2, random_state=0).tables
    >>> enr = Enrolments.from_tables(t)
    >>> c = cohort_at(enr, ts_day(pd.Timestamp("2023-08-15")))
    >>> c.summer, c.n_enrolled, bool(c.planned.all())
    (True, 0, True)
    >>> cohort_at(enr, ts_day(pd.Timestamp("2023-10-02"))).summer
    False
    """
    known = enrolments.known_at(as_day)
    enrolled = known.current_rows()
    wait, grade = waiting_to_continue(known, as_day)
    if summer is None:
        summer = len(wait) > len(enrolled)
    if not summer:  # a date in a school year (or nobody at all)
        return Cohort(view=known, records=known, rows=enrolled,
                      planned=np.zeros(len(enrolled), dtype=bool), source=enrolled,
                      summer=False, n_enrolled=len(enrolled), n_waiting=len(wait))
    n = len(known.pupil)
    m = len(wait)
    pupil = np.concatenate([known.pupil, known.pupil[wait]])
    start = np.concatenate([known.start, np.full(m, as_day, dtype=np.int64)])
    end = np.concatenate([known.end, np.full(m, OPEN_DAY, dtype=np.int64)])
    order = np.lexsort((end, start, pupil))
    view = Enrolments(
        pupil=pupil[order],
        school=np.concatenate([known.school, known.school[wait]])[order],
        municipality=np.concatenate([known.municipality, known.municipality[wait]])[order],
        school_year=np.concatenate([known.school_year, known.school_year[wait] + 1])[order],
        grade=np.concatenate([known.grade, grade])[order],
        start=start[order],
        end=end[order],
        reason=np.concatenate([known.reason, np.full(m, -1, dtype=np.int64)])[order],
        school_ids=known.school_ids,
        municipality_ids=known.municipality_ids,
        n_pupils=known.n_pupils,
    )
    planned_all = (order >= n)
    origin = np.concatenate([np.arange(n, dtype=np.int64), wait])[order]
    rows = view.current_rows()
    return Cohort(view=view, records=known, rows=rows, planned=planned_all[rows],
                  source=origin[rows], summer=True, n_enrolled=len(enrolled),
                  n_waiting=m)


def continuing(enr: Enrolments, idx: np.ndarray, grace: np.ndarray) -> np.ndarray:
    """For the ended enrolments ``idx``: is the pupil enrolled (in another
    enrolment) at some time within ``(end, end + grace]``?

    Uses that enrolments are sorted by (pupil, start): among the pupil's
    enrolments starting on or before ``end + grace`` some must end after
    ``end`` (the ending enrolment itself cannot, so it needs no exclusion).
    """
    if len(idx) == 0:
        return np.zeros(0, dtype=bool)
    big = np.int64(SENTINEL)
    key = enr.pupil * big + enr.start
    # prefix maximum of end within each pupil: pupils are sorted, so adding
    # pupil*big keeps the running maximum from crossing into the next pupil
    run_max = np.maximum.accumulate(enr.pupil * big + enr.end)
    e = enr.end[idx]
    k = np.searchsorted(key, enr.pupil[idx] * big + e + grace, side="right") - 1
    return (run_max[k] - enr.pupil[idx] * big) > e


def leaving_mask(
    enr: Enrolments,
    *,
    emigration_is_leaving: bool,
    grace_days: int,
    lieciba_grace_days: int,
) -> np.ndarray:
    """Boolean per enrolment: it ended in early leaving.

    Early leaving = ended with a leaving reason (left, expelled, other; emigrated
    when configured) and the pupil was not enrolled again within ``grace_days``;
    or ended as grade 9 ``completed_liecība`` and the pupil was not enrolled again
    within ``lieciba_grace_days``.
    """
    ended = enr.end != OPEN_DAY
    leave = ended & np.isin(enr.reason, leaving_codes(emigration_is_leaving))
    liec = ended & (enr.reason == LIECIBA_CODE) & (enr.grade == 9)
    cand = np.flatnonzero(leave | liec)
    grace = np.where(liec[cand], lieciba_grace_days, grace_days).astype(np.int64)
    out = np.zeros(len(enr.pupil), dtype=bool)
    out[cand] = ~continuing(enr, cand, grace)
    return out

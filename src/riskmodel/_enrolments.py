"""Enrolment histories: who is enrolled on a date, and which enrolments ended in
early leaving (private; shared by :mod:`riskmodel.features` and :mod:`riskmodel.labels`,
so that both use one definition of early leaving)."""

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

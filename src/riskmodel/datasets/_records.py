"""The records of one school year (private): attendance, grades, engagement events.

Every record follows from the pupils' latent state ``X`` (month x pupil x process)
and is appended, as arrays, to the collectors of :func:`._synthetic._simulate`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from .. import vocab
from ._calendar import SchoolYearCalendar
from ._params import band_of
from ._population import _N_SUBJ, _OFFSET, _RATES, _SUBJ_IN_BAND, A, F, G

_EVENT = {name: i for i, name in enumerate(vocab.ENGAGEMENT_EVENTS)}
_KIND = {name: i for i, name in enumerate(vocab.GRADE_KINDS)}
_GRADE_CODE_LEVEL = np.array([vocab.GRADE_VALUES.index(v) for v in vocab.LEARNING_LEVELS])
_GRADE_CODE_NV = vocab.GRADE_VALUES.index("nv")
# lessons per day by grade, and the weekday adjustment (Mon..Fri)
_LESSONS = np.array([0, 4, 5, 5, 6, 6, 6, 7, 7, 7, 7, 7, 7], dtype=np.int16)
_LESSON_ADJ = np.array([1, 1, 0, 1, -1], dtype=np.int16)
_ABSENCE_WEEKDAY = np.array([1.15, 0.9, 0.9, 0.9, 1.25])
_ILLNESS_SEASON = np.array([0.7, 1.0, 1.2, 1.2, 1.1, 1.4, 1.2, 0.8, 0.6])
_LOGIN_AGE = np.array([1.3, 1.1, 0.9, 0.6])


@dataclass
class _YearSpan:
    """Active school-day range of each pupil in one year (-1 = not in the year)."""

    first: np.ndarray
    last: np.ndarray
    gap_lo: np.ndarray
    gap_hi: np.ndarray


def _month_ranges(span: _YearSpan, idx, cal: SchoolYearCalendar, mi: int):
    lo = np.maximum(span.first[idx], cal.month_first[mi])
    hi = np.minimum(span.last[idx], cal.month_last[mi])
    return lo, hi


def _enrolled_in_month(span: _YearSpan, ids_all, band_all, cal: SchoolYearCalendar, mi: int):
    """Pupils enrolled during school month ``mi``: ids, first/last day, band, share of month."""
    lo, hi = _month_ranges(span, ids_all, cal, mi)
    ok = lo <= hi
    ids, lo, hi, band = ids_all[ok], lo[ok], hi[ok], band_all[ok]
    month_len = cal.month_last[mi] - cal.month_first[mi] + 1
    return ids, lo, hi, band, (hi - lo + 1) / month_len


def _online_range(span: _YearSpan, idx, lo, hi, cal: SchoolYearCalendar, mi: int):
    """Calendar days (days since 1970) over which month ``mi``'s online events fall.

    Online events (logins, messages) happen on any calendar day, also at weekends and
    in holidays. A pupil enrolled across a month boundary gets the whole calendar
    month: from its first day when enrolled before the month's first school day, to
    its last day when still enrolled after the month's last school day. Otherwise
    the range starts or ends on the pupil's own first or last school day (no online
    events outside the enrolment). September starts on its first school day and May
    ends on the year's last (the summer holds no school-year events).

    Ending a month's events on its last school day instead would put the days after
    it (a weekend, the autumn or Christmas holidays) out of reach, and how many such
    days fall before a date changes from year to year with the calendar: 2027's
    autumn week closes October on the 22nd, and its online events crowd into 22 days
    instead of 31, which moved ``parent_logins_28d`` and ``days_since_parent_contact``
    between stable years (monitor false alarms, issue 19).

    Examples
    --------
    >>> from riskmodel.datasets._calendar import school_year_calendar
    >>> cal = school_year_calendar(2027)
    >>> span = _YearSpan(np.array([0]), np.array([cal.n_days - 1]), np.array([-1]),
    ...                  np.array([-1]))
    >>> lo, hi = _month_ranges(span, np.array([0]), cal, 1)
    >>> d0, d1 = _online_range(span, np.array([0]), lo, hi, cal, 1)
    >>> str(cal.days[hi[0]]), str(np.datetime64(int(d0[0]), "D")), str(np.datetime64(int(d1[0]), "D"))
    ('2027-10-22', '2027-10-01', '2027-10-31')
    """
    day_num = cal.days.astype(np.int64)
    first_day = cal.days[cal.month_first[mi]].astype("datetime64[M]")
    month_start = first_day.astype("datetime64[D]").astype(np.int64)
    month_end = (first_day + 1).astype("datetime64[D]").astype(np.int64) - 1
    d0, d1 = day_num[lo], day_num[hi]
    before = (lo == cal.month_first[mi]) & (span.first[idx] < lo)
    after = (hi == cal.month_last[mi]) & (span.last[idx] > hi)
    d0 = np.where(before, np.minimum(d0, month_start), d0)
    d1 = np.where(after, np.maximum(d1, month_end), d1)
    return d0, d1


def _random_days(rng, lo, hi, span: _YearSpan, idx):
    """Uniform school day in [lo, hi], moved out of a transfer gap."""
    d = lo + np.floor(rng.random(len(lo)) * (hi - lo + 1)).astype(np.int64)
    in_gap = (d >= span.gap_lo[idx]) & (d <= span.gap_hi[idx])
    d[in_gap] = span.gap_hi[idx][in_gap] + 1
    return np.minimum(d, hi)


def _attendance(rng, P, pop, span, X, cal, out):
    ids = np.flatnonzero(span.first >= 0)
    grade = pop.grade[ids]
    upper = grade >= 7
    p_dis = expit(
        P.absence_intercept + P.absence_slope * X[:, ids, A]
        + P.absence_age * np.maximum(grade.astype(np.float32) - 6, 0)
    ).astype(np.float32)
    p_late = (0.012 + 0.05 * expit(X[:, ids, A] - 1.5)).astype(np.float32)
    frailty = pop.frailty[ids]
    first, last = span.first[ids], span.last[ids]
    glo, ghi = span.gap_lo[ids], span.gap_hi[ids]
    ill_left = np.zeros(len(ids), dtype=np.int16)
    days_total = np.zeros(len(ids), dtype=np.int32)
    days_present = np.zeros(len(ids), dtype=np.int32)
    weekday = ((cal.days.astype(np.int64) + 3) % 7).astype(np.int64)  # 1970-01-01 = Thu
    base_lessons = _LESSONS[grade]
    p_ill = 1.0 / P.illness_mean_days
    for d in range(cal.n_days):
        mi = int(cal.month[d])
        act = (first <= d) & (d <= last) & ~((glo <= d) & (d <= ghi))
        if cal.lower_holiday[d]:
            act &= upper
        k = np.flatnonzero(act)
        n = len(k)
        sick = ill_left[k] > 0
        r = rng.random((3, n))
        start = ~sick & (r[0] < P.illness_start * _ILLNESS_SEASON[mi] * frailty[k])
        ill = sick | start
        ill_left[k[start]] = rng.geometric(p_ill, size=int(start.sum()))
        ill_left[k[ill]] -= 1
        pd_ = p_dis[mi, k] * _ABSENCE_WEEKDAY[weekday[d]]
        dis = ~ill & (r[1] < pd_)
        late = ~ill & ~dis & (r[1] < pd_ + p_late[mi, k])
        unexc = dis & (r[2] < P.unexcused_share)
        status = np.zeros(n, dtype=np.int8)
        status[late] = 1
        status[ill | (dis & ~unexc)] = 2
        status[unexc] = 3
        days_total[k] += 1
        days_present[k] += status <= 1
        lessons = np.maximum(base_lessons[k] + _LESSON_ADJ[weekday[d]], 4)
        out["pupil"].append(ids[k].astype(np.int32))
        out["date"].append(np.full(n, cal.days[d].astype(np.int64), dtype=np.int64))
        out["status"].append(status)
        out["lessons"].append(lessons.astype(np.int16))
    rate = np.full(pop.n, np.nan)
    rate[ids] = days_present / np.maximum(days_total, 1)
    return rate


def _grade_values(score, band0):
    """Grade codes from scores: 10-point scale, learning levels S/T/A/P in grades 1-3."""
    ten = np.clip(np.floor(score + 0.5), 1, 10).astype(np.int8) - 1
    level = _GRADE_CODE_LEVEL[np.searchsorted([4.5, 6.0, 8.5], score, side="right")]
    return np.where(band0, level, ten).astype(np.int8)


def _grades(rng, P, pop, eff, span, X, cal, year_scores, out):
    ids_all = np.flatnonzero(span.first >= 0)
    band_all = band_of(pop.grade[ids_all].astype(np.int64))
    for mi in range(9):
        ids, lo, hi, band, frac = _enrolled_in_month(span, ids_all, band_all, cal, mi)
        counts = rng.poisson(_RATES[band] * frac[:, None])
        rows = np.repeat(np.arange(counts.size), counts.ravel())
        p, s = rows // _N_SUBJ, rows % _N_SUBJ
        pid = ids[p]
        day = _random_days(rng, lo[p], hi[p], span, pid)
        score = (
            P.grade_intercept + eff.grading[pop.school[pid]] + _OFFSET[s] + pop.pse[pid, s]
            - P.grade_gamma * X[mi, pid, G] + rng.normal(0.0, P.formative_sd, len(pid))
        )
        value = _grade_values(score, band[p] == 0)
        p_nv = 0.005 + 0.05 * expit(2.0 * (X[mi, pid, A] - 2.5))
        value[rng.random(len(pid)) < p_nv] = _GRADE_CODE_NV
        kind = np.where(rng.random(len(pid)) < P.summative_share, _KIND["summative"],
                        _KIND["formative"]).astype(np.int8)
        _append_grades(out, pid, cal.days[day], s, value, kind)
    # term grades on the last day before Christmas
    te = cal.term_end
    on = ids_all[(span.first[ids_all] <= te) & (span.last[ids_all] >= te)]
    b = band_of(pop.grade[on].astype(np.int64))
    p, s = np.nonzero(_SUBJ_IN_BAND[b])
    pid = on[p]
    xg = X[:4, pid, G].mean(axis=0)
    score = (P.grade_intercept + eff.grading[pop.school[pid]] + _OFFSET[s] + pop.pse[pid, s]
             - P.grade_gamma * xg + rng.normal(0.0, P.term_sd, len(pid)))
    _append_grades(out, pid, np.full(len(pid), cal.days[te]), s,
                   _grade_values(score, b[p] == 0), np.full(len(pid), _KIND["term"], np.int8))
    # year grades on the last school day
    pid, s, score, nv = year_scores
    band = band_of(pop.grade[pid].astype(np.int64))
    value = _grade_values(score, band == 0)
    value[nv] = _GRADE_CODE_NV
    _append_grades(out, pid, np.full(len(pid), cal.days[-1]), s, value,
                   np.full(len(pid), _KIND["year"], np.int8))


def _append_grades(out, pid, dates, subj, value, kind):
    out["pupil"].append(pid.astype(np.int32))
    out["date"].append(dates.astype(np.int64))
    out["subject"].append(subj.astype(np.int8))
    out["grade"].append(value.astype(np.int8))
    out["kind"].append(kind.astype(np.int8))


def _year_scores(rng, P, pop, eff, X, idx, att_rate):
    """Year-grade scores of pupils enrolled at the end of the year."""
    b = band_of(pop.grade[idx].astype(np.int64))
    p, s = np.nonzero(_SUBJ_IN_BAND[b])
    pid = idx[p]
    xbar = X[:, pid, G].mean(axis=0)
    score = (P.grade_intercept + eff.grading[pop.school[pid]] + _OFFSET[s] + pop.pse[pid, s]
             - P.grade_gamma * xbar + rng.normal(0.0, P.year_sd, len(pid)))
    nv = att_rate[pid] < 0.5
    fail = (score < 3.5) | nv
    n_fail = np.zeros(pop.n, dtype=np.int64)
    np.add.at(n_fail, pid, fail)
    return (pid, s, score, nv), n_fail


def _engagement(rng, P, pop, span, X, cal, out):
    ids_all = np.flatnonzero(span.first >= 0)
    band_all = band_of(pop.grade[ids_all].astype(np.int64))
    day_num = cal.days.astype(np.int64)
    for mi in range(9):
        ids, lo, hi, band, frac = _enrolled_in_month(span, ids_all, band_all, cal, mi)
        xf = X[mi, ids, F]
        rates = np.column_stack([
            P.login_rate * _LOGIN_AGE[band] * np.exp(-0.9 * xf),
            P.read_rate * np.exp(-0.8 * xf),
            P.unanswered_rate * np.exp(0.8 * xf),
            P.invite_rate * np.exp(0.25 * xf),
            np.zeros(len(ids)),  # meeting_attended: follows invitations below
            P.consultation_rate * np.exp(0.3 * xf),
            P.contact_failed_rate * np.exp(1.1 * xf),
        ]) * frac[:, None]
        counts = rng.poisson(rates)
        rows = np.repeat(np.arange(counts.size), counts.ravel())
        p, e = rows // 7, rows % 7
        pid = ids[p]
        # online events on any calendar day of the active range, meetings on school days
        d0, d1 = _online_range(span, ids, lo, hi, cal, mi)
        d0, d1 = d0[p], d1[p]
        date = d0 + np.floor(rng.random(len(p)) * (d1 - d0 + 1)).astype(np.int64)
        meeting = (e == _EVENT["meeting_invited"]) | (e == _EVENT["consultation"])
        sday = _random_days(rng, lo[p][meeting], hi[p][meeting], span, pid[meeting])
        date[meeting] = day_num[sday]
        out["pupil"].append(pid.astype(np.int32))
        out["date"].append(date)
        out["event"].append(e.astype(np.int8))
        # attended meetings, a few school days after the invitation
        inv = np.flatnonzero(e == _EVENT["meeting_invited"])
        attend = rng.random(len(inv)) < expit(1.3 - 1.4 * xf[p[inv]])
        inv = inv[attend]
        inv_day = np.searchsorted(day_num, date[inv])
        att_day = np.minimum(inv_day + rng.integers(1, 8, len(inv)), hi[p[inv]])
        out["pupil"].append(pid[inv].astype(np.int32))
        out["date"].append(day_num[att_day])
        out["event"].append(np.full(len(inv), _EVENT["meeting_attended"], np.int8))

"""Synthetic Latvian school system: the embedded default data set (private module).

The public entry point is :func:`make_school_system`. The simulation runs month
by month over whole school years with vectorised numpy work inside each step:

1. **Geography** (:mod:`._geography`): the 43 municipalities (fewer for small
   systems) and their schools, with a school climate effect (raises the pupils'
   attendance and family disengagement), a school hazard effect (school
   practices) and a grading effect (lenient or strict marking).
2. **Pupils** carry three latent processes, attendance disengagement ``A``,
   academic difficulty ``G`` and family disengagement ``F`` (persistent pupil mean
   plus monthly AR(1) deviation), and a transition process ``T`` (decaying shocks
   of school changes and repetition, plus being over-age for the grade). Group
   differences come only through these mechanisms: special needs and a home
   language other than Latvian raise the chance of academic difficulty,
   deprivation of the municipality and the school climate raise attendance and
   family disengagement, migrant families move more. See :class:`._params.Params`.
3. **Each school month**: the latent state moves one AR(1) step, the pupil may
   leave early (monthly hazard, log-linear in the latent state with slopes that
   depend on the school stage: the family's disengagement weighs most in primary
   school, the pupil's own attendance disengagement in upper secondary, which is
   not compulsory), emigrate, or transfer to another school.
4. **Records** follow from the latent state: daily attendance (illness spells,
   disengagement absence, lateness), grades by subject (formative/summative during
   the year, term grades at Christmas, year grades at the end of May), family
   engagement events.
5. **End of the year**: grade 9 ends with the certificate or a *liecība* (2 or
   more year grades below 4); pupils are promoted or repeat, change school stage,
   transfer over the summer; a new grade-1 cohort and a few immigrant pupils
   arrive.

The truth (:mod:`._oracle`) is computed at the first school day of each month
from the latent state before that month.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit

from .. import vocab
from ._calendar import SchoolYearCalendar, school_year_calendar
from ._geography import Geography, build_geography
from ._oracle import continue_probability, fail2_probability, oracle
from ._params import (
    DOMAIN_NAMES,
    SUBJECT_OFFSET,
    SUBJECT_RATES,
    SUBJECTS,
    Params,
    band_of,
)

__all__ = ["SchoolSystem", "make_school_system"]

logger = logging.getLogger(__name__)

A, G, F, T = 0, 1, 2, 3
LANGUAGES = ("lv", "ru", "uk", "other")
_END = {name: i for i, name in enumerate(vocab.END_REASONS)}
_EVENT = {name: i for i, name in enumerate(vocab.ENGAGEMENT_EVENTS)}
_KIND = {name: i for i, name in enumerate(vocab.GRADE_KINDS)}
_GRADE_CODE_LEVEL = np.array([vocab.GRADE_VALUES.index(v) for v in vocab.LEARNING_LEVELS])
_GRADE_CODE_NV = vocab.GRADE_VALUES.index("nv")
_N_SUBJ = len(SUBJECTS)
_RATES = np.array([SUBJECT_RATES[s] for s in SUBJECTS]).T  # (4 bands, n_subj)
_OFFSET = np.array([SUBJECT_OFFSET.get(s, 0.0) for s in SUBJECTS])
_SUBJ_IN_BAND = _RATES > 0
# lessons per day by grade, and the weekday adjustment (Mon..Fri)
_LESSONS = np.array([0, 4, 5, 5, 6, 6, 6, 7, 7, 7, 7, 7, 7], dtype=np.int16)
_LESSON_ADJ = np.array([1, 1, 0, 1, -1], dtype=np.int16)
_ABSENCE_WEEKDAY = np.array([1.15, 0.9, 0.9, 0.9, 1.25])
_ILLNESS_SEASON = np.array([0.7, 1.0, 1.2, 1.2, 1.1, 1.4, 1.2, 0.8, 0.6])
_LOGIN_AGE = np.array([1.3, 1.1, 0.9, 0.6])


# ------------------------------------------------------------------------ result
@dataclass(frozen=True, eq=False)
class SchoolSystem:
    """A simulated school system: records, the generator's truth and its settings.

    Attributes
    ----------
    tables : riskmodel.SchoolTables
        The validated records (pupils, enrolments, attendance, grades, engagement,
        schools).
    truth : pandas.DataFrame
        One row per pupil enrolled at each date of ``as_of_dates``: ``pupil_id``
        (categorical over ``tables.pupils.pupil_id``), ``as_of``, ``p_leave`` (the
        generator's probability of early leaving within 365 days given the latent
        state) and ``driver_domain`` (attendance, grades, engagement or
        transitions: the latent process contributing most to the log-hazard).
    as_of_dates : pandas.DatetimeIndex
        First school day of each month, September to May, of every simulated year.
    config : dict
        The call arguments (``n_pupils``, ``n_years``, ``seed``, ``start_year``)
        and ``params``, every coefficient of the generator.
    """

    tables: object
    truth: pd.DataFrame
    as_of_dates: pd.DatetimeIndex
    config: dict = field(repr=False)

    def __repr__(self) -> str:
        t = self.tables
        return (
            f"SchoolSystem(pupils={len(t.pupils):,}, enrolments={len(t.enrolments):,}, "
            f"attendance={len(t.attendance):,}, grades={len(t.grades):,}, "
            f"engagement={len(t.engagement):,}, schools={len(t.schools):,}, "
            f"as_of_dates={len(self.as_of_dates)}, truth={len(self.truth):,})"
        )


# ------------------------------------------------------------------ population
class _Pop:
    """Per-pupil arrays (static attributes and dynamic state), grown by cohorts."""

    FIELDS = (
        "birth", "male", "lang", "migrant", "sen", "base", "bump", "onset", "u", "mobility",
        "frailty",
        "pse", "enrolled", "school", "grade", "tshock", "overage", "enr_start",
    )

    def __init__(self):
        self.n = 0
        for f in self.FIELDS:
            setattr(self, f, None)

    def mean_latent(self, idx=slice(None), grade_shift: int = 0) -> np.ndarray:
        """Persistent means of the A, G, F processes at the current grade (+ shift)."""
        grade = self.grade[idx].astype(np.int64) + grade_shift
        return self.base[idx] + self.bump[idx] * _activation(grade, self.onset[idx])

    def extend(self, new: dict) -> None:
        for f in self.FIELDS:
            cur = getattr(self, f)
            setattr(self, f, new[f] if cur is None else np.concatenate([cur, new[f]]))
        self.n = len(self.birth)


def _activation(grade, onset) -> np.ndarray:
    """Share of a susceptibility that shows at ``grade``: 0 before the onset grade,
    1/2 in it, 1 from the next grade on."""
    g = np.asarray(grade, dtype=np.float64)
    return np.clip((g[:, None] - onset + 1.0) / 2.0, 0.0, 1.0)


@dataclass
class _SchoolEffects:
    climate: np.ndarray
    hazard: np.ndarray
    grading: np.ndarray


def _school_effects(rng, geo: Geography, P: Params) -> _SchoolEffects:
    n = geo.n_schools
    dep = geo.mun_deprivation[geo.school_mun]
    return _SchoolEffects(
        climate=rng.normal(0.0, P.school_climate_sd, n) + 0.25 * dep,
        hazard=rng.normal(0.0, P.school_hazard_sd, n),
        grading=rng.normal(0.0, P.school_grading_sd, n),
    )


def _draw_pupils(rng, P: Params, geo: Geography, eff: _SchoolEffects, school, grade,
                 school_year: int, kind: str) -> dict:
    """New pupils at ``school`` in ``grade``; kind is initial, entrant or immigrant."""
    n = len(school)
    mun = geo.school_mun[school]
    male = rng.random(n) < 0.512
    r = rng.random(n)
    if kind == "immigrant":
        p_uk, p_oth, p_ru = np.full(n, 0.55), np.full(n, 0.30), np.full(n, 0.10)
    else:
        p_uk = np.where(geo.school_urban[school], 0.03, 0.012)
        p_oth = np.full(n, 0.012)
        p_ru = np.where(geo.school_ru[school], 0.85, np.clip(geo.mun_ru_share[mun] * 0.45, 0, 0.3))
    lang = np.select(
        [r < p_uk, r < p_uk + p_oth, r < p_uk + p_oth + p_ru], [2, 3, 1], 0
    ).astype(np.int8)
    r = rng.random(n)
    migrant = np.select([lang == 2, lang == 3, lang == 1], [r < 1.0, r < 0.7, r < 0.02], r < 0.01)
    if kind == "immigrant":
        migrant[:] = True
    sen = rng.random(n) < np.where(male, 0.085, 0.045)
    dep = geo.mun_deprivation[mun]
    climate = eff.climate[school]
    fam = rng.standard_normal(n)
    logits = np.column_stack([
        P.pA_intercept + P.deprivation_A * dep + P.climate_A * climate + P.family_A * fam
        + P.sen_A * sen + P.male_A * male,
        P.pG_intercept + P.deprivation_G * dep + P.sen_G * sen
        + P.language_mismatch_G * (lang != 0) + P.male_G * male,
        P.pF_intercept + P.deprivation_F * dep + P.climate_F * climate + P.family_F * fam
        + P.migrant_F * migrant,
    ])
    susceptible = rng.random((n, 3)) < expit(logits)
    bump = rng.gamma(P.bump_shape, P.bump_scale, size=(n, 3))
    base = P.base_sd * rng.standard_normal((n, 3))
    bump = susceptible * bump
    # a susceptibility shows from a pupil-specific grade on (ramping up over two years)
    onset = np.column_stack([
        rng.integers(lo, hi + 1, n) for lo, hi in (P.onset_A, P.onset_G, P.onset_F)
    ]).astype(np.int8)
    mu = base + bump * _activation(grade, onset)
    u = rng.standard_normal((n, 3)) * (P.sigma / np.sqrt(1.0 - P.rho**2))
    mobility = P.mobility_sd * rng.standard_normal(n) + P.migrant_mobility * migrant
    frailty = rng.gamma(2.0, 0.5, n) * (1.0 + 0.5 * sen)
    pse = rng.normal(0.0, P.pupil_subject_sd, (n, _N_SUBJ)).astype(np.float32)
    if kind == "entrant":
        p_over = np.full(n, 0.03)
    else:
        p_over = expit(-4.6 + 0.9 * mu[:, G] + 0.15 * grade)
    overage = (rng.random(n) < p_over).astype(np.int8)
    overage += (overage > 0) & (rng.random(n) < 0.1)
    birth_year = school_year - 6 - grade.astype(np.int64) - overage
    birth = (
        (birth_year - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
        + rng.integers(0, 365, n)
    )
    return {
        "birth": birth, "male": male, "lang": lang, "migrant": migrant, "sen": sen,
        "base": base, "bump": bump, "onset": onset, "u": u, "mobility": mobility,
        "frailty": frailty, "pse": pse,
        "enrolled": np.ones(n, dtype=bool), "school": school.astype(np.int32),
        "grade": grade.astype(np.int8), "tshock": np.zeros(n),
        "overage": overage, "enr_start": np.zeros(n, dtype=np.int64),
    }


def _choose_school(rng, geo: Geography, mun, grade, avoid=None) -> np.ndarray:
    """A school serving ``grade`` in municipality ``mun`` (weighted by size).

    With ``avoid`` (current schools), pupils are sent to another school; where the
    municipality has no other school for the grade, to a school elsewhere; -1 when
    there is no other school for the grade at all.
    """
    n = len(mun)
    out = np.empty(n, dtype=np.int32)
    keys = mun.astype(np.int64) * 13 + grade
    for key in np.unique(keys):
        sel = np.flatnonzero(keys == key)
        m, g = divmod(int(key), 13)
        serves = (geo.school_lo <= g) & (geo.school_hi >= g)
        cand = np.flatnonzero(serves & (geo.school_mun == m))
        if len(cand) == 0:
            cand = np.flatnonzero(serves)
        if len(cand) == 0:  # build_geography gives every municipality a secondary school
            raise RuntimeError(
                f"internal error: no school of the synthetic system teaches grade {g} "
                f"({geo.n_schools} schools)"
            )
        w = geo.school_size[cand] * geo.school_grade_weight[cand, g]
        if avoid is None:
            out[sel] = cand[rng.choice(len(cand), size=len(sel), p=w / w.sum())]
            continue
        for i in sel:  # transfers are few; per-pupil choice excluding the current school
            ok = cand[cand != avoid[i]]
            wi = w[cand != avoid[i]]
            if len(ok) == 0:
                ok = np.flatnonzero(serves & (np.arange(geo.n_schools) != avoid[i]))
                wi = geo.school_size[ok] * geo.school_grade_weight[ok, g]
            # a system with a single school for this grade has nowhere to go: -1
            out[i] = ok[rng.choice(len(ok), p=wi / wi.sum())] if len(ok) else -1
    return out


# ------------------------------------------------------------------ enrolments
class _EnrolmentLog:
    def __init__(self):
        self.parts: list[tuple] = []

    def close(self, pop: _Pop, geo: Geography, idx, year: int, end_day, reason) -> None:
        if len(idx) == 0:
            return
        n = len(idx)
        school = pop.school[idx]
        self.parts.append((
            idx.astype(np.int32), school, geo.school_mun[school], np.full(n, year, np.int16),
            pop.grade[idx].copy(), pop.enr_start[idx].copy(),
            np.broadcast_to(np.asarray(end_day, dtype=np.int64), (n,)).copy(),
            np.broadcast_to(np.asarray(reason, dtype=np.int8), (n,)).copy(),
        ))

    def arrays(self):
        cols = list(zip(*self.parts, strict=True))
        return [np.concatenate(c) for c in cols]


# ----------------------------------------------------------------- one year
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
        d0, d1 = day_num[lo[p]], day_num[hi[p]]
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


# --------------------------------------------------------------- simulation
def _initial_population(rng, P, geo, eff, n_pupils, start_year) -> dict:
    # national shape: grades 1-9 roughly equal cohorts; the school grade weights
    # decide how many of each school's pupils are in each grade
    # national shape: grades 1-9 about equal cohorts, grades 10-12 about 0.64 of them
    # (the others go to vocational schools); each grade's pupils are shared among the
    # schools teaching it by school size
    cohort = np.array([0, 0.97, 0.98, 0.99, 1.0, 1.0, 1.0, 1.01, 1.02, 1.02, .64, .64, .64])
    target = n_pupils * cohort / cohort.sum()
    w = geo.school_size[:, None] * geo.school_grade_weight
    expected = w / w.sum(axis=0).clip(1e-12) * target
    counts = np.floor(expected).astype(np.int64)
    rest = n_pupils - counts.sum()
    frac = (expected - counts).ravel()
    if rest > 0:
        top = np.argsort(-frac, kind="stable")[:rest]
        np.add.at(counts.ravel(), top, 1)
    school = np.repeat(np.repeat(np.arange(geo.n_schools), 13), counts.ravel())
    grade = np.repeat(np.tile(np.arange(13), geo.n_schools), counts.ravel())
    order = rng.permutation(len(school))
    return _draw_pupils(rng, P, geo, eff, school[order], grade[order], start_year, "initial")


def _transfer_probabilities(P, pop, idx):
    q_m = np.minimum(P.transfer_month * np.exp(pop.mobility[idx]), 0.2)
    q_s = np.minimum(P.transfer_summer * np.exp(pop.mobility[idx]), 0.5)
    q_e = P.emigration_month * np.exp(P.migrant_emigration * pop.migrant[idx])
    return q_m, q_s, q_e


def _truth_at(P, pop, eff, geo, X, mi):
    idx = np.flatnonzero(pop.enrolled)
    grade = pop.grade[idx].astype(np.int64)
    q_m, q_s, q_e = _transfer_probabilities(P, pop, idx)
    hi = geo.school_hi[pop.school[idx]]
    stage = ((grade == 6) & (hi == 6)) | ((grade == 9) & (hi == 9))
    mu = pop.mean_latent(idx)
    mu_next = pop.mean_latent(idx, grade_shift=1)
    # P(two or more failing year grades) by grade band (liecība in grade 9, else repetition)
    p_fail2 = np.zeros(len(idx))
    band = band_of(grade)
    for b in range(4):
        sel = np.flatnonzero(band == b)
        if len(sel) == 0:
            continue
        pid = idx[sel]
        past = X[:mi, pid, G].sum(axis=0) if mi > 0 else np.zeros(len(pid))
        subj = np.flatnonzero(_SUBJ_IN_BAND[b])
        score_base = (P.grade_intercept + eff.grading[pop.school[pid]][:, None] + _OFFSET[subj]
                      + pop.pse[pid][:, subj])
        p_fail2[sel] = fail2_probability(P, 9 - mi, past, mu[sel, G], pop.u[pid, G],
                                         score_base)
    nine = grade == 9
    p_liec = np.where(nine, p_fail2, 0.0)
    p_cont = np.where(nine, continue_probability(P, mu[:, G]), 0.0)
    stay9 = (1.0 - p_liec) * p_cont + p_liec * P.liecība_repeat
    p_rep = np.where(
        nine, p_liec * P.liecība_repeat / np.maximum(stay9, 1e-12),
        p_fail2 * P.repeat_prob * np.where(grade <= 3, 0.4, 1.0),
    )
    p, driver = oracle(
        P, mi, grade, mu, mu_next, pop.u[idx], pop.tshock[idx], pop.overage[idx],
        eff.hazard[pop.school[idx]], q_m, q_s, stage, q_e, p_liec, p_cont, p_rep,
    )
    return idx, p, driver


def _simulate(n_pupils: int, n_years: int, seed: int, start_year: int, P: Params):
    rng = np.random.default_rng(seed)
    geo = build_geography(n_pupils, rng)
    eff = _school_effects(rng, geo, P)
    cals = [school_year_calendar(start_year + y) for y in range(n_years)]
    pop = _Pop()
    pop.extend(_initial_population(rng, P, geo, eff, n_pupils, start_year))
    log = _EnrolmentLog()
    att = {"pupil": [], "date": [], "status": [], "lessons": []}
    grd = {"pupil": [], "date": [], "subject": [], "grade": [], "kind": []}
    eng = {"pupil": [], "date": [], "event": []}
    truth = {"pupil": [], "as_of": [], "p": [], "driver": []}
    beta = P.beta_by_grade()
    hazard_base = np.asarray(P.hazard_base)
    n_grade1 = int((pop.grade == 1).sum())

    for y, cal in enumerate(cals):
        year = start_year + y
        day0 = cal.days[0].astype(np.int64)
        pop.enr_start[pop.enrolled] = day0
        span = _YearSpan(*(np.full(pop.n, -1, dtype=np.int64) for _ in range(4)))
        span.first[pop.enrolled] = 0
        span.last[pop.enrolled] = cal.n_days - 1
        X = np.empty((9, pop.n, 4), dtype=np.float32)
        for mi in range(9):
            idx, p, driver = _truth_at(P, pop, eff, geo, X, mi)
            truth["pupil"].append(idx.astype(np.int32))
            truth["as_of"].append(np.full(len(idx), cal.days[cal.month_first[mi]].astype(np.int64)))
            truth["p"].append(p)
            truth["driver"].append(driver)
            # one month of latent dynamics
            pop.u = P.rho * pop.u + P.sigma * rng.standard_normal(pop.u.shape)
            pop.tshock = pop.tshock * P.shock_decay
            X[mi, :, :3] = pop.mean_latent() + pop.u
            X[mi, :, 3] = pop.tshock + P.overage_weight * pop.overage
            # early leaving, emigration, transfers of enrolled pupils
            g = pop.grade[idx].astype(np.int64)
            eta = (hazard_base[g] + P.month_effect[mi] + eff.hazard[pop.school[idx]]
                   + (X[mi, idx] * beta[g]).sum(axis=1))
            h = np.minimum(np.exp(eta), P.hazard_cap)
            q_m, _, q_e = _transfer_probabilities(P, pop, idx)
            r = rng.random((3, len(idx)))
            leave = r[0] < h
            emig = ~leave & (r[0] < h + q_e)
            first, last = cal.month_first[mi] + 1, cal.month_last[mi]
            out = idx[leave | emig]
            day = rng.integers(first, last + 1, len(out))
            u_reason = r[1][leave | emig]
            upper = g[leave | emig] >= 10
            reason = np.where(
                emig[leave | emig], _END["emigrated"],
                np.where(u_reason < np.where(upper, 0.70, 0.55), _END["left"],
                         np.where(u_reason < np.where(upper, 0.85, 0.60), _END["expelled"],
                                  _END["other"])))
            log.close(pop, geo, out, year, cal.days[day].astype(np.int64), reason)
            span.last[out] = day - 1
            pop.enrolled[out] = False
            # mid-year transfers (school days strictly inside the month)
            move = ~(leave | emig) & (r[2] < q_m) & (last - first >= 3)
            mv = idx[move]
            if len(mv):
                other_mun = rng.random(len(mv)) < 0.4
                mun = geo.school_mun[pop.school[mv]].copy()
                n_mun = len(geo.mun_name)
                mun[other_mun] = rng.choice(n_mun, other_mun.sum(),
                                            p=geo.mun_pupils / geo.mun_pupils.sum())
                new_school = _choose_school(rng, geo, mun, pop.grade[mv].astype(np.int64),
                                            avoid=pop.school[mv])
                mv, new_school = mv[new_school >= 0], new_school[new_school >= 0]
                day = rng.integers(first, last - 1, len(mv))
                # days without school between the two enrolments (only one such gap
                # per pupil and year is tracked; a second transfer has none)
                gap = np.minimum(rng.integers(0, 6, len(mv)), last - day - 1)
                gap[span.gap_lo[mv] >= 0] = 0
                log.close(pop, geo, mv, year, cal.days[day].astype(np.int64), _END["transferred"])
                pop.school[mv] = new_school
                pop.enr_start[mv] = cal.days[day + gap + 1].astype(np.int64)
                no_gap = span.gap_lo[mv] < 0
                span.gap_lo[mv[no_gap]] = (day + 1)[no_gap]
                span.gap_hi[mv[no_gap]] = (day + gap)[no_gap]
                pop.tshock[mv] += P.shock_transfer

        # records of the year
        att_rate = _attendance(rng, P, pop, span, X, cal, att)
        end_idx = np.flatnonzero(pop.enrolled)
        year_scores, n_fail = _year_scores(rng, P, pop, eff, X, end_idx, att_rate)
        _grades(rng, P, pop, eff, span, X, cal, year_scores, grd)
        _engagement(rng, P, pop, span, X, cal, eng)

        # end of the school year
        last_day = cal.days[-1].astype(np.int64)
        g_end = pop.grade[end_idx]
        liec = (g_end == 9) & (n_fail[end_idx] >= 2)
        reason = np.where(g_end == 9, np.where(liec, _END["completed_liecība"],
                                               _END["completed_certificate"]), _END["completed"])
        log.close(pop, geo, end_idx, year, last_day, reason)
        if y == n_years - 1:
            break
        # summer: three months of latent dynamics, then the transitions of next year
        for _ in range(3):
            pop.u = P.rho * pop.u + P.sigma * rng.standard_normal(pop.u.shape)
            pop.tshock = pop.tshock * P.shock_decay
        _next_year(rng, P, pop, geo, end_idx, n_fail, liec)
        # new grade-1 cohort and immigrant pupils
        n_new = int(round(n_grade1 * P.cohort_decline ** (y + 1)))
        mun = rng.choice(len(geo.mun_name), n_new, p=geo.mun_pupils / geo.mun_pupils.sum())
        sch = _choose_school(rng, geo, mun, np.ones(n_new, dtype=np.int64))
        pop.extend(_draw_pupils(rng, P, geo, eff, sch, np.ones(n_new, np.int8), year + 1,
                                "entrant"))
        n_imm = int(round(P.immigration_share * n_pupils))
        g_imm = rng.integers(1, 12, n_imm)
        mun = rng.choice(len(geo.mun_name), n_imm, p=geo.mun_pupils / geo.mun_pupils.sum())
        sch = _choose_school(rng, geo, mun, g_imm)
        new = _draw_pupils(rng, P, geo, eff, sch, g_imm.astype(np.int8), year + 1, "immigrant")
        new["tshock"] = np.full(n_imm, P.shock_summer_transfer)
        pop.extend(new)

    return geo, eff, cals, pop, log, att, grd, eng, truth


def _next_year(rng, P, pop, geo, end_idx, n_fail, liec):
    """Promotion, repetition, completion and summer transfers after May."""
    g = pop.grade[end_idx].astype(np.int64)
    r = rng.random((3, len(end_idx)))
    stay = np.ones(len(end_idx), dtype=bool)
    stay[g == 12] = False
    cont = continue_probability(P, pop.mean_latent(end_idx)[:, G])
    nine = g == 9
    stay[nine & ~liec] = r[0][nine & ~liec] < cont[nine & ~liec]
    repeat = np.zeros(len(end_idx), dtype=bool)
    repeat[nine & liec] = r[0][nine & liec] < P.liecība_repeat
    stay[nine & liec] = repeat[nine & liec]
    others = ~nine & (g != 12)
    fail = others & (n_fail[end_idx] >= 2)
    repeat[fail] = r[1][fail] < np.where(g[fail] <= 3, 0.4, 1.0) * P.repeat_prob
    pop.enrolled[end_idx[~stay]] = False
    new_grade = np.where(repeat, g, g + 1)
    idx = end_idx[stay]
    new_grade = new_grade[stay]
    repeat = repeat[stay]
    pop.grade[idx] = new_grade
    pop.overage[idx] += repeat
    pop.tshock[idx] += P.shock_repeat * repeat
    # change of school stage: the school does not teach the new grade
    hi = geo.school_hi[pop.school[idx]]
    stage = new_grade > hi
    if stage.any():
        s_idx = idx[stage]
        pop.school[s_idx] = _choose_school(rng, geo, geo.school_mun[pop.school[s_idx]],
                                           new_grade[stage])
        pop.tshock[s_idx] += P.shock_stage
    # summer transfers of the others
    q_s = np.minimum(P.transfer_summer * np.exp(pop.mobility[idx]), 0.5)
    move = ~stage & (r[2][stay] < q_s)
    if move.any():
        m_idx = idx[move]
        mun = geo.school_mun[pop.school[m_idx]].copy()
        other = rng.random(len(m_idx)) < 0.5
        mun[other] = rng.choice(len(geo.mun_name), other.sum(),
                                p=geo.mun_pupils / geo.mun_pupils.sum())
        new_school = _choose_school(rng, geo, mun, new_grade[move], avoid=pop.school[m_idx])
        m_idx, new_school = m_idx[new_school >= 0], new_school[new_school >= 0]
        pop.school[m_idx] = new_school
        pop.tshock[m_idx] += P.shock_summer_transfer


# ------------------------------------------------------------------- tables
def _dates(days) -> np.ndarray:
    return np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[ns]")


def _build_tables(geo, pop, log, att, grd, eng):
    from ..schema import SchoolTables

    ids = pd.Index(np.char.add("P", np.char.zfill(np.arange(1, pop.n + 1).astype(str), 7)),
                   dtype="str", name="pupil_id")

    def pupil_cat(codes):
        return pd.Categorical.from_codes(codes, categories=ids, validate=False)

    pupils = pd.DataFrame({
        "pupil_id": pd.Series(ids, dtype="str"),
        "birth_date": _dates(pop.birth),
        "sex": pd.Categorical.from_codes(pop.male.astype(np.int8), categories=list(vocab.SEXES)),
        "home_language": pd.Categorical.from_codes(pop.lang, categories=list(LANGUAGES)),
        "migrant_background": pop.migrant.astype(bool),
        "special_needs": pop.sen.astype(bool),
    })
    school_cat = pd.Index(geo.school_id, dtype="str")
    mun_cat = pd.Index(geo.mun_name, dtype="str")
    schools = pd.DataFrame({
        "school_id": pd.Categorical.from_codes(np.arange(geo.n_schools), categories=school_cat),
        "municipality_id": pd.Categorical.from_codes(geo.school_mun, categories=mun_cat),
        "urban": geo.school_urban.astype(bool),
        "language": pd.Categorical.from_codes(geo.school_ru.astype(np.int8),
                                              categories=["lv", "ru"]),
    })
    pid, sch, mun, year, grade, start, end, reason = log.arrays()
    order = np.lexsort((start, pid))
    enrolments = pd.DataFrame({
        "pupil_id": pupil_cat(pid[order]),
        "school_id": pd.Categorical.from_codes(sch[order], categories=school_cat),
        "municipality_id": pd.Categorical.from_codes(mun[order], categories=mun_cat),
        "school_year": year[order].astype(np.int16),
        "grade": grade[order].astype(np.int8),
        "start_date": _dates(start[order]),
        "end_date": _dates(end[order]),
        "end_reason": pd.Categorical.from_codes(reason[order], categories=list(vocab.END_REASONS)),
    })
    attendance = pd.DataFrame({
        "pupil_id": pupil_cat(np.concatenate(att["pupil"])),
        "date": _dates(np.concatenate(att["date"])),
        "status": pd.Categorical.from_codes(np.concatenate(att["status"]),
                                            categories=list(vocab.ATTENDANCE_STATUSES)),
        "lessons": np.concatenate(att["lessons"]).astype(np.int16),
    })
    att.clear()
    grades = pd.DataFrame({
        "pupil_id": pupil_cat(np.concatenate(grd["pupil"])),
        "date": _dates(np.concatenate(grd["date"])),
        "subject": pd.Categorical.from_codes(np.concatenate(grd["subject"]),
                                             categories=list(SUBJECTS)),
        "grade": pd.Categorical.from_codes(np.concatenate(grd["grade"]),
                                           categories=list(vocab.GRADE_VALUES)),
        "kind": pd.Categorical.from_codes(np.concatenate(grd["kind"]),
                                          categories=list(vocab.GRADE_KINDS)),
    })
    grd.clear()
    engagement = pd.DataFrame({
        "pupil_id": pupil_cat(np.concatenate(eng["pupil"])),
        "date": _dates(np.concatenate(eng["date"])),
        "event": pd.Categorical.from_codes(np.concatenate(eng["event"]),
                                           categories=list(vocab.ENGAGEMENT_EVENTS)),
    })
    eng.clear()
    return SchoolTables(
        pupils=pupils, enrolments=enrolments, attendance=attendance, grades=grades,
        engagement=engagement, support=None, schools=schools,
    ), ids


def _check_int(value, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"The {name!r} parameter of make_school_system must be an int in [{lo}, {hi}]. "
            f"Got {value!r} of type {type(value).__name__} instead."
        )
    if not lo <= value <= hi:
        raise ValueError(
            f"The {name!r} parameter of make_school_system must be an int in [{lo}, {hi}]. "
            f"Got {value!r} instead."
        )
    return int(value)


def make_school_system(
    n_pupils: int = 20_000, n_years: int = 4, seed: int = 0, start_year: int = 2022
) -> SchoolSystem:
    """Simulate a Latvian general-education school system with its own truth.

    The embedded default data set of riskmodel: pupils in grades 1-12 at about 43
    municipalities' schools, followed through ``n_years`` school years (1 September
    to the end of May, with the autumn, Christmas, winter and spring holidays),
    with daily attendance, grades by subject, family engagement events and
    enrolments (promotion, repetition, transfers, emigration, completion with the
    certificate or a *liecība*, early leaving). Underneath, every pupil carries
    latent processes (attendance disengagement, academic difficulty, family
    disengagement, transition shocks) that show up noisily in the records and
    drive a monthly hazard of early leaving; ``truth`` gives the generator's own
    probability of early leaving within 365 days and the dominant process.

    Parameters
    ----------
    n_pupils : int, default 20_000
        Pupils enrolled on the first school day (Latvia has about 200,000 in
        general education). Later years add grade-1 cohorts and immigrants.
    n_years : int, default 4
        Number of school years simulated.
    seed : int, default 0
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same
        tables bit for bit.
    start_year : int, default 2022
        Start year of the first school year (2022 = 2022/23).

    Returns
    -------
    SchoolSystem
        ``tables`` (a validated :class:`riskmodel.SchoolTables`), ``truth``,
        ``as_of_dates`` and ``config``.

    Notes
    -----
    ``truth.p_leave`` counts as early leaving an enrolment ending with ``left``,
    ``expelled`` or ``other`` within 365 days of ``as_of``, or finishing grade 9
    with a *liecība* without repeating it; it is computed from the latent state
    before ``as_of`` (see :mod:`riskmodel.datasets._oracle` for the method and
    its one approximation). Emigration is a competing risk, not early leaving.

    New enrolments of a school year start on its first school day, which is also
    the September ``as_of`` date.

    Examples
    --------
    >>> import riskmodel as rm
    >>> world = rm.datasets.make_school_system(n_pupils=1_000, n_years=1, seed=1)
    >>> world.tables.pupils.shape[0] >= 1_000
    True
    >>> sorted(world.truth["driver_domain"].cat.categories)
    ['attendance', 'engagement', 'grades', 'transitions']
    """
    n_pupils = _check_int(n_pupils, "n_pupils", 200, 2_000_000)
    n_years = _check_int(n_years, "n_years", 1, 30)
    seed = _check_int(seed, "seed", 0, 2**63 - 1)
    start_year = _check_int(start_year, "start_year", 1995, 2090)
    P = Params()
    geo, eff, cals, pop, log, att, grd, eng, truth = _simulate(
        n_pupils, n_years, seed, start_year, P
    )
    logger.info("simulated %d pupils over %d years; building tables", pop.n, n_years)
    tables, ids = _build_tables(geo, pop, log, att, grd, eng)
    as_of = pd.DatetimeIndex(
        [pd.Timestamp(c.days[i]) for c in cals for i in c.month_first], name="as_of"
    )
    truth_df = pd.DataFrame({
        "pupil_id": pd.Categorical.from_codes(np.concatenate(truth["pupil"]), categories=ids,
                                              validate=False),
        "as_of": _dates(np.concatenate(truth["as_of"])),
        "p_leave": np.concatenate(truth["p"]),
        "driver_domain": pd.Categorical.from_codes(np.concatenate(truth["driver"]),
                                                   categories=list(DOMAIN_NAMES)),
    })
    config = {
        "n_pupils": n_pupils, "n_years": n_years, "seed": seed, "start_year": start_year,
        "params": P.to_dict(),
    }
    return SchoolSystem(tables=tables, truth=truth_df, as_of_dates=as_of, config=config)

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

6. **Support** (:mod:`._support`): each month, on its own random stream, schools
   refer pupils whose difficulties they can see into the free places of a roster
   (mentors, literacy and subject consultants, support staff); active support
   lowers the latent processes (heterogeneous effects, ``support_effects``).

The truth (:mod:`._oracle`, :mod:`._truth`) is computed at the first school day of
each month from the latent state before that month and the support under way:
``p_leave`` without new support and ``effect_<kind>``, its reduction by new
support of each kind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import vocab
from .._checks import UNSET, check_int, check_option, renamed_param
from ._calendar import school_year_calendar
from ._geography import build_geography
from ._params import DOMAIN_NAMES, Params
from ._population import (
    _choose_school,
    _draw_pupils,
    _initial_population,
    _next_year,
    _Pop,
    _school_effects,
    _transfer_probabilities,
)
from ._support import SIM_KINDS, SUPPORT_EFFECTS, _build_roster, _grow_roster, _Support
from ._truth import _truth_at
from ._regimes import apply_record_regimes, hazard_shifts, validate_regimes, year_params
from ._records import _attendance, _engagement, _grades, _year_scores, _YearSpan
from ._tables import _build_tables, _dates, _EnrolmentLog

__all__ = ["SchoolSystem", "make_school_system"]

logger = logging.getLogger(__name__)
_END = {name: i for i, name in enumerate(vocab.END_REASONS)}


# ------------------------------------------------------------------------ result
@dataclass(frozen=True, eq=False)
class SchoolSystem:
    """A simulated school system: records, the generator's truth and its settings.

    Attributes
    ----------
    tables : riskmodel.SchoolTables
        The validated records (pupils, enrolments, attendance, grades, engagement,
        support, schools).
    truth : pandas.DataFrame
        One row per pupil enrolled at each date of ``as_of_dates``: ``pupil_id``
        (categorical over ``tables.pupils.pupil_id``), ``as_of``, ``p_leave`` (the
        generator's probability of early leaving within 365 days given the latent
        state and the support already under way, without new support),
        ``driver_domain`` (attendance, grades, engagement or transitions: the
        latent process contributing most to the log-hazard) and
        ``effect_mentor``, ``effect_literacy``, ``effect_subject``,
        ``effect_support_staff`` (the reduction of ``p_leave`` if support of that
        kind started at ``as_of`` and ran its usual course; NaN where the pupil is
        not eligible or already has that kind).
    as_of_dates : pandas.DatetimeIndex
        First school day of each month, September to May, of every simulated year.
    config : dict
        The call arguments (``n_pupils``, ``n_years``, ``random_state``, ``start_year``,
        ``support_effects``) and ``params``, every coefficient of the generator.
    resources : pandas.DataFrame
        The roster the support history used, in the format of
        :func:`riskmodel.allocate` (``resource_id, kind, municipality_id, school_id,
        capacity, specialty, cost_per_pupil``) plus ``available_from`` (first
        school day of the year the resource joined) and ``available_to`` (NaT:
        still in service).

    Examples
    --------
    >>> import riskmodel as rm
    >>> world = rm.datasets.make_school_system(n_pupils=300, n_years=3, random_state=0)
    >>> list(world.truth.columns)[:4]
    ['pupil_id', 'as_of', 'p_leave', 'driver_domain']
    >>> [c for c in world.truth.columns if c.startswith("effect_")]
    ['effect_mentor', 'effect_literacy', 'effect_subject', 'effect_support_staff']
    >>> set(world.tables.support["resource_id"]) <= set(world.resources["resource_id"])
    True
    >>> len(world.as_of_dates), world.config["random_state"]
    (27, 0)
    """

    tables: object
    truth: pd.DataFrame
    as_of_dates: pd.DatetimeIndex
    config: dict = field(repr=False)
    resources: pd.DataFrame | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        t = self.tables
        return (
            f"SchoolSystem(pupils={len(t.pupils):,}, enrolments={len(t.enrolments):,}, "
            f"attendance={len(t.attendance):,}, grades={len(t.grades):,}, "
            f"engagement={len(t.engagement):,}, schools={len(t.schools):,}, "
            f"as_of_dates={len(self.as_of_dates)}, truth={len(self.truth):,})"
        )


def _simulate(n_pupils: int, n_years: int, random_state: int, start_year: int, P: Params,
              support_effects: str = "heterogeneous", regime_shift=None):
    rng = np.random.default_rng(random_state)
    # the support process draws from its own stream: the main stream is untouched
    rng_s = np.random.default_rng([random_state, 1])
    geo = build_geography(n_pupils, rng)
    eff = _school_effects(rng, geo, P)
    cals = [school_year_calendar(start_year + y) for y in range(n_years)]
    pop = _Pop()
    pop.extend(_initial_population(rng, P, geo, eff, n_pupils, start_year))
    log = _EnrolmentLog()
    att = {"pupil": [], "date": [], "status": [], "lessons": []}
    grd = {"pupil": [], "date": [], "subject": [], "grade": [], "kind": []}
    eng = {"pupil": [], "date": [], "event": []}
    truth = {"pupil": [], "as_of": [], "p": [], "driver": [], "effects": []}
    sup = _Support(P, support_effects, geo, rng_s)
    sup.grow(pop.n)
    n_mentors0 = 0
    beta = P.beta_by_grade()
    hazard_base = np.asarray(P.hazard_base)
    n_grade1 = int((pop.grade == 1).sum())

    P0 = P
    for y, cal in enumerate(cals):
        year = start_year + y
        if regime_shift is not None:  # outcome_shift (._regimes): this year's and the next's
            P = year_params(P0, regime_shift, y)
        day0 = cal.days[0].astype(np.int64)
        pop.enr_start[pop.enrolled] = day0
        span = _YearSpan(*(np.full(pop.n, -1, dtype=np.int64) for _ in range(4)))
        span.first[pop.enrolled] = 0
        span.last[pop.enrolled] = cal.n_days - 1
        X = np.empty((9, pop.n, 4), dtype=np.float32)
        for mi in range(9):
            as_of = int(cal.days[cal.month_first[mi]].astype(np.int64))
            idx, p, driver, effects = _truth_at(P, pop, eff, geo, X, mi, sup, as_of)
            truth["pupil"].append(idx.astype(np.int32))
            truth["as_of"].append(np.full(len(idx), as_of))
            truth["p"].append(p)
            truth["driver"].append(driver)
            truth["effects"].append(effects)
            if mi == 0:  # the roster: built in the first year, more mentors later
                if sup.roster is None:
                    roster = _build_roster(P, n_pupils, geo, pop, idx, p, sup.had_liec[idx],
                                           as_of, rng_s)
                    n_mentors0 = int((roster["kind"] == "mentor").sum())
                else:
                    roster = _grow_roster(P, sup.roster, y, n_mentors0, geo, pop, idx, p,
                                          sup.had_liec[idx], as_of, rng_s)
                sup.set_roster(roster, geo)
            seen = (X[mi - 1, idx, :3] if mi > 0
                    else pop.mean_latent(idx) + pop.u[idx] - sup.resid[idx])
            sup.refer(mi, as_of, pop, geo, idx, seen)
            # one month of latent dynamics (lowered by the support of the month)
            pop.u = P.rho * pop.u + P.sigma * rng.standard_normal(pop.u.shape)
            pop.tshock = pop.tshock * P.shock_decay
            X[mi, :, :3] = pop.mean_latent() + pop.u - sup.offset(mi)
            X[mi, :, 3] = pop.tshock + P.overage_weight * pop.overage
            # early leaving, emigration, transfers of enrolled pupils
            g = pop.grade[idx].astype(np.int64)
            eta = (hazard_base[g] + P.month_effect[mi] + eff.hazard[pop.school[idx]]
                   + P.regime_log_hazard[0]
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
            sup.stop(out, mi, cal.days[day].astype(np.int64))
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
                sup.stop(mv, mi, cal.days[day].astype(np.int64))
                pop.school[mv] = new_school
                pop.enr_start[mv] = cal.days[day + gap + 1].astype(np.int64)
                no_gap = span.gap_lo[mv] < 0
                span.gap_lo[mv[no_gap]] = (day + 1)[no_gap]
                span.gap_hi[mv[no_gap]] = (day + gap)[no_gap]
                pop.tshock[mv] += P.shock_transfer
            sup.month_end(mi, int(cal.days[last].astype(np.int64)))

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
            sup.resid *= P.support_carry
        _next_year(rng, P, pop, geo, end_idx, n_fail, liec, boost=sup.boost)
        sup.had_liec[end_idx[liec]] = True
        sup.boost[:] = 0.0
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
        sup.grow(pop.n)

    return geo, eff, cals, pop, log, att, grd, eng, truth, sup


def make_school_system(
    n_pupils: int = 20_000, n_years: int = 4, random_state: int = 0, start_year: int = 2022,
    *, support_effects: str = "heterogeneous", regime_changes=None, seed=UNSET,
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
    random_state : int, default 0
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same
        tables bit for bit.
    start_year : int, default 2022
        Start year of the first school year (2022 = 2022/23).
    support_effects : {"heterogeneous", "uniform", "none"}, default "heterogeneous"
        What support does to the latent processes: effects that depend on the
        pupil's difficulties (none without a difficulty in the process the kind
        works on, largest at a moderate one, smaller again for entrenched ones),
        the same effect for every eligible pupil, or no effect (referrals still
        happen). See Notes.
    regime_changes : list of dict, optional
        Regime changes (:mod:`riskmodel.datasets._regimes`): dicts ``{"kind": ...,
        "year": ..., ...}`` or the dataclasses ``GradingReform``,
        ``EngagementOutage``, ``RemoteYear``, ``OutcomeShift`` with kinds
        ``grading_reform`` (grades recorded on a shifted/compressed scale from
        ``year``), ``engagement_outage`` (engagement records of some municipalities
        stop for some months), ``remote_year`` (attended days recorded as excused
        absences for a year), ``outcome_shift`` (the hazard of early leaving moves
        from ``year``). The truth stays exact under each; ``config["regime_changes"]``
        records them.
    seed : int
        Deprecated alias of ``random_state`` (riskmodel 0.2; removed in 0.3).

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

    **Support history.** ``tables.support`` (``pupil_id, start_date, end_date, kind,
    resource_id``) comes from a referral process simulated month by month on its
    own random stream: at each month's first school day schools refer pupils
    whose difficulties they can see (a noisy view of last month's attendance,
    academic and family disengagement), with propensities that differ between
    schools and municipalities, into the free places of ``resources`` (mentors
    from age 13, literacy consultations in grades 1-3, subject consultations
    after a grade-9 *liecība*, support staff of the pupil's school). About one
    pupil in ten has some support in a year; it lasts whole school months (mentor
    3-6, literacy 2-3, subject 1-2, support staff 2-3), ends at the end of May or
    when the enrolment ends. While active it lowers the latent processes, and
    its effect decays after; the records and outcomes include it. The
    coefficients are in ``config["params"]`` (``Params``, section "support");
    ``truth.effect_<kind>`` is exact in the sense of ``p_leave`` (see
    ``riskmodel.datasets._truth``).

    Examples
    --------
    >>> import riskmodel as rm
    >>> world = rm.datasets.make_school_system(n_pupils=300, n_years=3, random_state=0)
    >>> world.tables.pupils.shape[0] >= 300
    True
    >>> world.as_of_dates[:2]
    DatetimeIndex(['2022-09-01', '2022-10-03'], dtype='datetime64[ns]', name='as_of', freq=None)
    >>> world.truth.dtypes["as_of"] == world.tables.enrolments.dtypes["start_date"]
    True
    >>> sorted(world.truth["driver_domain"].cat.categories)
    ['attendance', 'engagement', 'grades', 'transitions']
    """
    func = "make_school_system"
    random_state = renamed_param(seed, random_state, old="seed", new="random_state", func=func)
    n_pupils = check_int(n_pupils, "n_pupils", func, min_value=200, max_value=2_000_000)
    n_years = check_int(n_years, "n_years", func, min_value=1, max_value=30)
    random_state = check_int(random_state, "random_state", func, min_value=0,
                             max_value=2**63 - 1)
    start_year = check_int(start_year, "start_year", func, min_value=1995, max_value=2090)
    support_effects = check_option(support_effects, "support_effects", SUPPORT_EFFECTS, func)
    regimes = validate_regimes(regime_changes, start_year, n_years, func)
    P = Params()
    shift = hazard_shifts(regimes, start_year, n_years)
    geo, eff, cals, pop, log, att, grd, eng, truth, sup = _simulate(
        n_pupils, n_years, random_state, start_year, P, support_effects,
        regime_shift=shift if shift.any() else None,
    )
    logger.info("simulated %d pupils over %d years; building tables", pop.n, n_years)
    resources = sup.roster.copy()
    resources["available_to"] = pd.Series(pd.NaT, index=resources.index, dtype="datetime64[ns]")
    resources["available_from"] = resources["available_from"].astype("datetime64[ns]")
    tables, ids = _build_tables(geo, pop, log, att, grd, eng, sup.table_arrays(),
                                resources["resource_id"])
    tables.resources = resources  # the roster travels with the records (write_tables writes it)
    tables = apply_record_regimes(tables, regimes, random_state)
    as_of = pd.DatetimeIndex(
        _dates(np.concatenate([c.days[np.asarray(c.month_first)] for c in cals]).astype(np.int64)),
        name="as_of",
    )
    effects = np.concatenate(truth["effects"], axis=1)
    truth_df = pd.DataFrame({
        "pupil_id": pd.Categorical.from_codes(np.concatenate(truth["pupil"]), categories=ids,
                                              validate=False),
        "as_of": _dates(np.concatenate(truth["as_of"])),
        "p_leave": np.concatenate(truth["p"]),
        "driver_domain": pd.Categorical.from_codes(np.concatenate(truth["driver"]),
                                                   categories=list(DOMAIN_NAMES)),
        **{f"effect_{kind}": effects[k] for k, kind in enumerate(SIM_KINDS)},
    })
    config = {
        "n_pupils": n_pupils, "n_years": n_years, "random_state": random_state, "start_year": start_year,
        "support_effects": support_effects, "params": P.to_dict(),
    }
    if regimes:
        from ._regimes import _as_dicts

        config["regime_changes"] = _as_dicts(regimes)
    return SchoolSystem(tables=tables, truth=truth_df, as_of_dates=as_of, config=config,
                        resources=resources)

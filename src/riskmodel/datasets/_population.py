"""The pupils of the synthetic school system (private): drawing, schools, transitions.

Per-pupil arrays (:class:`_Pop`), the schools' effects, new pupils with their
latent susceptibilities, the choice of a school, and the transitions after May
(promotion, repetition, completion, change of school stage, summer transfers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit

from ._geography import Geography
from ._oracle import continue_probability
from ._params import SUBJECT_OFFSET, SUBJECT_RATES, SUBJECTS, Params

#: latent processes in the last axis of the state arrays (see :data:`._params.DOMAIN_NAMES`)
A, G, F, T = 0, 1, 2, 3
_N_SUBJ = len(SUBJECTS)
_RATES = np.array([SUBJECT_RATES[s] for s in SUBJECTS]).T  # (4 bands, n_subj)
_OFFSET = np.array([SUBJECT_OFFSET.get(s, 0.0) for s in SUBJECTS])
_SUBJ_IN_BAND = _RATES > 0


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


def _next_year(rng, P, pop, geo, end_idx, n_fail, liec, boost=None):
    """Promotion, repetition, completion and summer transfers after May.

    ``boost`` (per pupil, optional): logit boost of continuing after grade 9 (a
    subject consultation this year), applied to continuing to grade 10 and to
    repeating grade 9 after a liecība.
    """
    g = pop.grade[end_idx].astype(np.int64)
    r = rng.random((3, len(end_idx)))
    stay = np.ones(len(end_idx), dtype=bool)
    stay[g == 12] = False
    cont = continue_probability(P, pop.mean_latent(end_idx)[:, G])
    rep9 = np.full(len(end_idx), P.liecība_repeat)
    if boost is not None:
        b = boost[end_idx]
        cont = np.where(b > 0, expit(logit(cont) + b), cont)
        rep9 = np.where(b > 0, expit(logit(rep9) + b), rep9)
    nine = g == 9
    stay[nine & ~liec] = r[0][nine & ~liec] < cont[nine & ~liec]
    repeat = np.zeros(len(end_idx), dtype=bool)
    repeat[nine & liec] = r[0][nine & liec] < rep9[nine & liec]
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

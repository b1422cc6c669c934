"""The truth of one ``as_of`` date (private): ``p_leave``, the driver and the support effects.

``p_leave`` is the oracle's probability (:mod:`._oracle`) given the latent state
and the *ongoing* support: the known remaining course of every support that
has started (its shift of the latent mean path until its planned last month,
then decaying) and the residual effect of support that has ended. New support
is not anticipated, so ``p_leave`` is the risk without new support.

``effect_<kind>`` is ``p_leave`` minus the same oracle with support of that kind
starting at ``as_of`` and running its usual course: every duration of
``Params.duration_months`` (cut at the end of May) weighted by its probability,
so the expectation over the course is exact. The counterfactual shifts the
latent mean path (and, for a subject consultation, the logit of continuing after
grade 9) exactly as the simulation does; the oracle's one approximation applies
to both terms. Ignored, as in the oracle: support ending early because the pupil
transfers. A pupil is ineligible (NaN) where the programme rule excludes the
kind on that date (mentor: younger than 13; literacy: not in grades 1-3;
subject: never finished grade 9 with a liecība) or already has that kind.
"""

from __future__ import annotations

import numpy as np

from ._oracle import _driver, chain, continue_probability, fail2_probability, oracle_parts
from ._params import band_of
from ._population import _OFFSET, _SUBJ_IN_BAND, G, _transfer_probabilities
from ._support import SIM_KINDS, SUBJECT, _age_at_least, _path, boost_of, boosted, shift_of


def _fail2(P, pop, eff, X, mi, idx, grade, mu_g, off_g):
    """P(two or more failing year grades) by grade band (liecība in grade 9, else repetition)."""
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
        p_fail2[sel] = fail2_probability(P, 9 - mi, past, mu_g[sel], pop.u[pid, G],
                                         score_base, off_g[sel])
    return p_fail2


def _year_end(P, grade, mu_g, p_fail2, boost):
    """P(liecība), P(continue | certificate), P(repeat grade 9 | liecība), P(repeat)."""
    nine = grade == 9
    p_liec = np.where(nine, p_fail2, 0.0)
    p_cont = np.where(nine, boosted(continue_probability(P, mu_g), boost), 0.0)
    rep9 = boosted(np.full(len(grade), P.liecība_repeat), boost)
    stay9 = (1.0 - p_liec) * p_cont + p_liec * rep9
    p_rep = np.where(
        nine, p_liec * rep9 / np.maximum(stay9, 1e-12),
        p_fail2 * P.repeat_prob * np.where(grade <= 3, 0.4, 1.0),
    )
    return p_liec, p_cont, rep9, p_rep


def _truth_at(P, pop, eff, geo, X, mi, sup, day):
    """Enrolled pupils, their p_leave, driver and effect of each kind (NaN: ineligible).

    The counterfactuals reuse the oracle's monthly terms (:func:`._oracle.oracle_parts`):
    lowering the mean path by an offset lowers each month's log expected hazard by
    ``slope * offset``, and a changed repetition probability changes its own
    term; the year grades are recomputed where the academic process moves.
    """
    idx = np.flatnonzero(pop.enrolled)
    base = sup.base_path(mi, idx)
    boost = sup.boost[idx]
    grade = pop.grade[idx].astype(np.int64)
    q_m, q_s, q_e = _transfer_probabilities(P, pop, idx)
    hi = geo.school_hi[pop.school[idx]]
    stage = ((grade == 6) & (hi == 6)) | ((grade == 9) & (hi == 9))
    mu = pop.mean_latent(idx)
    mu_next = pop.mean_latent(idx, grade_shift=1)
    off_g = base[:, :9 - mi, G].sum(axis=1)
    fail2 = _fail2(P, pop, eff, X, mi, idx, grade, mu[:, G], off_g)
    p_liec, p_cont, rep9, p_rep = _year_end(P, grade, mu[:, G], fail2, boost)
    parts = oracle_parts(P, mi, grade, mu, mu_next, pop.u[idx], pop.tshock[idx],
                         pop.overage[idx], eff.hazard[pop.school[idx]], q_m, q_s, stage,
                         p_rep, offset=base)
    p = chain(P, mi, grade, parts.log_h, q_e, p_liec, p_cont, rep9)
    driver = _driver(P, grade, mu, pop.u[idx], pop.tshock[idx], pop.overage[idx])
    eligible = (
        _age_at_least(pop.birth[idx], day, 13), (grade >= 1) & (grade <= 3),
        sup.had_liec[idx], np.ones(len(idx), dtype=bool),
    )
    effects = np.full((len(SIM_KINDS), len(idx)), np.nan)
    for k in range(len(SIM_KINDS)):
        e = np.flatnonzero(eligible[k] & (sup.end[k, idx] < 0))
        if len(e) == 0:
            continue
        if sup.mode == "none":
            effects[k, e] = 0.0
            continue
        pid = idx[e]
        shift = shift_of(P, sup.mode, k, mu[e])
        b = np.maximum(boost[e], boost_of(P, sup.mode, mu[e, G])) if k == SUBJECT else boost[e]
        lo, hi_m = P.duration_months[k]
        log_h_e = parts.log_h[e]
        rep_f = parts.repeat_factor[e]
        rest = log_h_e - np.log1p(p_rep[e, None] * rep_f)
        # slope . shift of each month: the new support's path is that times a factor
        sdot = np.einsum("njd,nd->nj", parts.slope[e], shift)
        moved = np.flatnonzero(shift[:, G] != 0.0)  # no shift: the same year grades
        p_cf = np.zeros(len(e))
        for months in range(lo, hi_m + 1):
            factor = _path(P, mi, np.ones((1, 1)), np.array([min(mi + months - 1, 8)]))[0, :, 0]
            f2 = fail2[e].copy()
            if len(moved):
                m = e[moved]
                f2[moved] = _fail2(P, pop, eff, X, mi, pid[moved], grade[m], mu[m, G],
                                   off_g[m] + shift[moved, G] * factor[:9 - mi].sum())
            cf_liec, cf_cont, cf_rep9, cf_rep = _year_end(P, grade[e], mu[e, G], f2, b)
            log_h = rest - sdot * factor + np.log1p(cf_rep[:, None] * rep_f)
            p_cf += chain(P, mi, grade[e], log_h, q_e[e], cf_liec, cf_cont, cf_rep9)
        effects[k, e] = p[e] - p_cf / (hi_m - lo + 1)
    return idx, p, driver, effects

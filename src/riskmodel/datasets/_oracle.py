"""The generator's own probability of early leaving (private).

Given a pupil's latent state at the start of a school month (the state of the
month before, which is what records before ``as_of`` reflect), the probability
of early leaving within 365 days is computed month by month over the next 12
calendar months:

- For each future school month the *expected* monthly hazard is computed exactly
  under the generator's dynamics: the AR(1) deviations are Gaussian given the
  current state, so ``E[exp(beta * x)]`` is a log-normal mean; future transition
  shocks (mid-year and summer transfers, the known change of school stage) are
  Bernoulli with known probabilities, so their contribution is an exact product
  of ``1 - q + q * exp(beta * shock * decay**lag)``. Domains are independent given
  the state, so the expected hazard is the product of these factors.
- Months are then chained as a discrete-time competing-risk survival (early
  leaving vs emigration), treating the months as independent given the current
  state. This is the only approximation (Jensen's gap between
  ``E[prod(1 - h)]`` and ``prod(1 - E[h])``; monthly hazards are small, so it is
  of second order). Repetition after May is a Bernoulli shock with its exact
  probability given the state (the same year-grade computation as below) but
  treated as independent of the academic process; the next grade's persistent
  means (susceptibilities that start to show with the next grade) are known;
  the effect of a future transfer on the school effect is ignored.
- Grade 9: at the end of May a pupil whose year grades include two or more
  below 4 gets a *liecība*; the probability of this is computed exactly given
  the state, as is the repetition of other grades (the year grade depends on
  the pupil's mean academic difficulty over the school year, which is Gaussian
  given the state; subjects are independent given that mean; integrated with
  11-point Gauss-Hermite quadrature). A pupil with a
  liecība who does not repeat grade 9 counts as an early leaver (the
  ``"early_leaving"`` outcome of :func:`riskmodel.make_labels`); with the certificate the pupil continues to grade 10 with a
  known probability or leaves the system by completion.
- Grade 12 pupils leave the system by completion after May.
- Support (:mod:`._support`) enters as a known ``offset`` of the mean path of the
  A, G, F processes in each future month (and a known logit boost of continuing
  after grade 9), so it changes the expected hazards, the year grades and the
  year-end probabilities exactly; :func:`oracle_parts` and :func:`chain` split the
  computation so that counterfactual support reuses the monthly terms
  (:mod:`._truth`).

``driver_domain`` is the latent process with the largest centred contribution
``beta_d[grade] * E[x_d]`` (minus its mean over enrolled pupils) to the
log-hazard of the month that starts at ``as_of``. The slopes ``beta_d[grade]``
depend on the school stage (``Params.beta_by_grade``); a future month uses the
slopes of the grade the pupil is expected to be in then (promotion assumed, as
for ``hazard_base``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import expit, ndtr

from ._params import Params

__all__ = ["oracle", "oracle_parts", "chain", "OracleParts"]

_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(11)
_GH_WEIGHTS = _GH_WEIGHTS / _GH_WEIGHTS.sum()


def fail2_probability(
    P: Params,
    n_future: int,
    past_sum: np.ndarray,
    mu_g: np.ndarray,
    u_g: np.ndarray,
    score_base: np.ndarray,
    offset_sum: np.ndarray | float = 0.0,
) -> np.ndarray:
    """P(two or more year grades below 4 this school year).

    For grade 9 this is the probability of a *liecība*; in other grades it decides
    repetition.

    ``score_base`` (n, n_subjects): grade score of each subject without the
    academic-difficulty term and the noise; ``past_sum``: sum of realised monthly
    academic difficulty this school year; ``offset_sum``: the known reduction of the
    academic difficulty by support, summed over the remaining school months.
    """
    rho, sigma = P.rho, P.sigma
    h = np.arange(1, n_future + 1)
    s_rho = (rho**h).sum()
    var_sum = sigma**2 * (((1.0 - rho ** (n_future - h + 1)) / (1.0 - rho)) ** 2).sum()
    mean = (past_sum + n_future * mu_g + s_rho * u_g - offset_sum) / 9.0
    sd = np.sqrt(var_sum) / 9.0
    out = np.zeros(len(mean))
    for node, weight in zip(_GH_NODES, _GH_WEIGHTS, strict=True):
        xbar = mean + sd * node
        score = score_base - P.grade_gamma * xbar[:, None]
        p = ndtr((3.5 - score) / P.year_sd)
        p = np.clip(p, 0.0, 1.0 - 1e-12)
        p0 = np.prod(1.0 - p, axis=1)
        p1 = p0 * (p / (1.0 - p)).sum(axis=1)
        out += weight * np.clip(1.0 - p0 - p1, 0.0, 1.0)
    return out


def oracle(
    P: Params,
    month: int,
    grade: np.ndarray,
    mu: np.ndarray,
    mu_next: np.ndarray,
    u: np.ndarray,
    tshock: np.ndarray,
    overage: np.ndarray,
    school_hazard: np.ndarray,
    q_transfer: np.ndarray,
    q_summer: np.ndarray,
    stage_change: np.ndarray,
    q_emigrate: np.ndarray,
    p_liecība: np.ndarray,
    p_continue: np.ndarray,
    p_repeat: np.ndarray,
    offset: np.ndarray | None = None,
    p_liecība_repeat: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Probability of early leaving within 365 days and the driver domain.

    Parameters
    ----------
    month : int
        School month of ``as_of`` (0 = September ... 8 = May).
    grade, mu (n, 3), u (n, 3), tshock, overage, school_hazard :
        The pupils' state before the month starts (``mu``: persistent means of the
        A, G, F processes at the current grade).
    mu_next : (n, 3) persistent means at the next grade (susceptibilities can
        start to show with the next grade).
    q_transfer, q_summer : monthly mid-year and summer transfer probabilities.
    stage_change : bool, the pupil changes school stage (new school) next autumn.
    q_emigrate : monthly emigration probability.
    p_liecība : P(liecība) for grade-9 pupils (ignored for other grades).
    p_continue : P(continuing to grade 10 | certificate) for grade-9 pupils.
    p_repeat : P(repeating the grade next year | still enrolled then).
    offset : (n, 12, 3), optional
        Known reduction of the A, G, F processes by support in each of the next 12
        calendar months (month ``j`` is ``month + j``); it lowers the mean path.
    p_liecība_repeat : (n,), optional
        P(repeating grade 9 | liecība) of each pupil (default ``P.liecība_repeat``).
    """
    parts = oracle_parts(P, month, grade, mu, mu_next, u, tshock, overage, school_hazard,
                         q_transfer, q_summer, stage_change, p_repeat, offset)
    rep9 = np.full(len(grade), P.liecība_repeat) if p_liecība_repeat is None else p_liecība_repeat
    p = chain(P, month, grade, parts.log_h, q_emigrate, p_liecība, p_continue, rep9)
    return p, _driver(P, grade, mu, u, tshock, overage)


def _driver(P, grade, mu, u, tshock, overage) -> np.ndarray:
    """Driver domain: largest centred contribution to next month's log-hazard."""
    beta_g = P.beta_by_grade()
    g = grade.astype(np.int64)
    contrib = np.empty((len(g), 4))
    contrib[:, :3] = (mu + P.rho * u) * beta_g[g, :3]
    contrib[:, 3] = P.beta[3] * (P.shock_decay * tshock + P.overage_weight * overage)
    if len(g):
        contrib -= contrib.mean(axis=0)
    return np.argmax(contrib, axis=1).astype(np.int8)


class OracleParts(NamedTuple):
    """Log expected hazards of the next 12 calendar months and what they depend on.

    ``log_h`` (n, 12): log of the expected monthly hazard (before the cap; -inf in
    summer months); ``slope`` (n, 12, 3): the slopes of the A, G, F processes in
    each month, so that lowering the mean path by ``offset`` lowers ``log_h`` by
    ``(slope * offset).sum(-1)``; ``repeat_factor`` (n, 12): ``expm1`` of the
    repetition shock's log-hazard term, so that its contribution is
    ``log1p(p_repeat * repeat_factor)``.
    """

    log_h: np.ndarray
    slope: np.ndarray
    repeat_factor: np.ndarray


def oracle_parts(P, month, grade, mu, mu_next, u, tshock, overage, school_hazard,
                 q_transfer, q_summer, stage_change, p_repeat, offset=None) -> OracleParts:
    """The per-month terms of :func:`oracle` (see there for the arguments)."""
    beta_g = P.beta_by_grade()
    beta_t = P.beta[3]
    rho, delta = P.rho, P.shock_decay
    var_stat = P.sigma**2 / (1.0 - rho**2)
    hazard_base = np.asarray(P.hazard_base)
    month_effect = np.asarray(P.month_effect)
    n = len(grade)
    g = grade.astype(np.int64)
    static_T = P.overage_weight * overage
    out_h = np.full((n, 12), -np.inf)
    out_b = np.zeros((n, 12, 3))
    out_r = np.zeros((n, 12))
    # log of E[exp(beta_T * future shocks)] accumulated per future shock month
    # (month, probability, decaying shock, permanent shift) of each future shock
    shock_months: list[tuple[int, np.ndarray, float, float]] = []
    for j in range(12):
        cm = month + j  # calendar month counted from September of this school year
        yoff, m = divmod(cm, 12)
        if cm == 11:  # summer transitions happen at the end of August
            shock_months.append((cm, q_summer, P.shock_summer_transfer, 0.0))
            shock_months.append((cm, stage_change.astype(float), P.shock_stage, 0.0))
        if m > 8:
            continue
        hsteps = j + 1
        log_h = (hazard_base[np.minimum(g + yoff, 12)] + month_effect[m] + school_hazard
                 + P.regime_log_hazard[yoff])
        mean_u = (mu_next if yoff else mu) + (rho**hsteps) * u
        if offset is not None:
            mean_u = mean_u - offset[:, j]
        var_u = var_stat * (1.0 - rho ** (2 * hsteps))
        b = beta_g[np.minimum(g + yoff, 12), :3]
        log_h = log_h + (mean_u * b).sum(axis=1) + 0.5 * var_u * (b**2).sum(axis=1)
        log_h = log_h + beta_t * (delta**hsteps * tshock + static_T)
        for cl, q, s, perm in shock_months:
            log_h = log_h + np.log1p(q * np.expm1(beta_t * (s * delta ** (cm - cl) + perm)))
        if cm > 11:  # the repetition shock of the summer (kept apart: it varies)
            out_r[:, j] = np.expm1(beta_t * (P.shock_repeat * delta ** (cm - 11)
                                             + P.overage_weight))
            log_h = log_h + np.log1p(p_repeat * out_r[:, j])
        out_h[:, j] = log_h
        out_b[:, j] = b
        shock_months.append((cm, q_transfer, P.shock_transfer, 0.0))
    return OracleParts(out_h, out_b, out_r)


def chain(P, month, grade, log_h, q_emigrate, p_liecība, p_continue, rep9) -> np.ndarray:
    """P(early leaving within 365 days) from the monthly log hazards (discrete-time chain)."""
    n = len(grade)
    g = grade.astype(np.int64)
    is9, is12 = g == 9, g == 12
    alive = np.ones(n)
    p_event = np.zeros(n)
    for j in range(12):
        cm = month + j
        if cm == 9:  # first summer month: the year ends after May
            p_event += alive * np.where(is9, p_liecība * (1.0 - rep9), 0.0)
            stay9 = (1.0 - p_liecība) * p_continue + p_liecība * rep9
            alive = alive * np.where(is12, 0.0, np.where(is9, stay9, 1.0))
        if cm % 12 > 8:
            continue
        h = np.minimum(np.exp(log_h[:, j]), P.hazard_cap)
        p_event += alive * h
        alive = alive * np.clip(1.0 - h - q_emigrate, 0.0, 1.0)
    return np.clip(p_event, 0.0, 1.0)


def continue_probability(P: Params, mu_g: np.ndarray) -> np.ndarray:
    """P(continuing to grade 10 | basic-education certificate)."""
    return expit(P.continue_intercept + P.continue_slope * mu_g)

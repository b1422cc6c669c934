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

``driver_domain`` is the latent process with the largest centred contribution
``beta_d[grade] * E[x_d]`` (minus its mean over enrolled pupils) to the
log-hazard of the month that starts at ``as_of``. The slopes ``beta_d[grade]``
depend on the school stage (``Params.beta_by_grade``); a future month uses the
slopes of the grade the pupil is expected to be in then (promotion assumed, as
for ``hazard_base``).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, ndtr

from ._params import Params

__all__ = ["oracle"]

_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(11)
_GH_WEIGHTS = _GH_WEIGHTS / _GH_WEIGHTS.sum()


def fail2_probability(
    P: Params,
    n_future: int,
    past_sum: np.ndarray,
    mu_g: np.ndarray,
    u_g: np.ndarray,
    score_base: np.ndarray,
) -> np.ndarray:
    """P(two or more year grades below 4 this school year).

    For grade 9 this is the probability of a *liecība*; in other grades it decides
    repetition.

    ``score_base`` (n, n_subjects): grade score of each subject without the
    academic-difficulty term and the noise; ``past_sum``: sum of realised monthly
    academic difficulty this school year.
    """
    rho, sigma = P.rho, P.sigma
    h = np.arange(1, n_future + 1)
    s_rho = (rho**h).sum()
    var_sum = sigma**2 * (((1.0 - rho ** (n_future - h + 1)) / (1.0 - rho)) ** 2).sum()
    mean = (past_sum + n_future * mu_g + s_rho * u_g) / 9.0
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
    """
    beta_g = P.beta_by_grade()
    beta_t = P.beta[3]
    rho, delta = P.rho, P.shock_decay
    var_stat = P.sigma**2 / (1.0 - rho**2)
    hazard_base = np.asarray(P.hazard_base)
    month_effect = np.asarray(P.month_effect)
    n = len(grade)
    g = grade.astype(np.int64)
    is9, is12 = g == 9, g == 12
    alive = np.ones(n)
    p_event = np.zeros(n)
    static_T = P.overage_weight * overage
    # log of E[exp(beta_T * future shocks)] accumulated per future shock month
    # (month, probability, decaying shock, permanent shift) of each future shock
    shock_months: list[tuple[int, np.ndarray, float, float]] = []
    for j in range(12):
        cm = month + j  # calendar month counted from September of this school year
        yoff, m = divmod(cm, 12)
        if cm == 9:  # first summer month: the year ends after May
            p_event += alive * np.where(is9, p_liecība * (1.0 - P.liecība_repeat), 0.0)
            stay9 = (1.0 - p_liecība) * p_continue + p_liecība * P.liecība_repeat
            alive = alive * np.where(is12, 0.0, np.where(is9, stay9, 1.0))
        if cm == 11:  # summer transitions happen at the end of August
            shock_months.append((cm, q_summer, P.shock_summer_transfer, 0.0))
            shock_months.append((cm, stage_change.astype(float), P.shock_stage, 0.0))
            shock_months.append((cm, p_repeat, P.shock_repeat, P.overage_weight))
        if m > 8:
            continue
        hsteps = j + 1
        log_h = hazard_base[np.minimum(g + yoff, 12)] + month_effect[m] + school_hazard
        mean_u = (mu_next if yoff else mu) + (rho**hsteps) * u
        var_u = var_stat * (1.0 - rho ** (2 * hsteps))
        b = beta_g[np.minimum(g + yoff, 12), :3]
        log_h = log_h + (mean_u * b).sum(axis=1) + 0.5 * var_u * (b**2).sum(axis=1)
        log_h = log_h + beta_t * (delta**hsteps * tshock + static_T)
        for cl, q, s, perm in shock_months:
            log_h = log_h + np.log1p(q * np.expm1(beta_t * (s * delta ** (cm - cl) + perm)))
        h = np.minimum(np.exp(log_h), P.hazard_cap)
        p_event += alive * h
        alive = alive * np.clip(1.0 - h - q_emigrate, 0.0, 1.0)
        shock_months.append((cm, q_transfer, P.shock_transfer, 0.0))
    # driver domain: largest centred contribution to next month's log-hazard
    contrib = np.empty((n, 4))
    contrib[:, :3] = (mu + rho * u) * beta_g[g, :3]
    contrib[:, 3] = beta_t * (delta * tshock + static_T)
    if n:
        contrib -= contrib.mean(axis=0)
    driver = np.argmax(contrib, axis=1).astype(np.int8)
    return np.clip(p_event, 0.0, 1.0), driver


def continue_probability(P: Params, mu_g: np.ndarray) -> np.ndarray:
    """P(continuing to grade 10 | basic-education certificate)."""
    return expit(P.continue_intercept + P.continue_slope * mu_g)

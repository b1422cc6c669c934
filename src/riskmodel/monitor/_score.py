"""Statistics of the score and, once outcomes are known, of its calibration (private).

Of the score (model given): ``score_psi`` (the PSI of :mod:`._drift` on the
predicted risk), ``high_tier_share`` and ``elevated_tier_share`` (share of the
current cohort above the reference's tier cut-offs: the risk of the reference
pupil at rank ``resolve_capacity(n, top_fraction=...)``), ``mean_risk``.

With outcomes: ``observed_expected`` (O/E, calibration in the large), the
``calibration_intercept`` (logistic recalibration with the slope fixed at 1) and
``calibration_slope`` (``y ~ a + b * logit(p)``), ``auc`` against the AUC the model
itself expects if its probabilities are right, and ``precision_at_k`` at the
programme's k, all with intervals. The updates are tested as in the closed testing
procedure for updating prediction models (Vergouwe et al., Stat Med 2017), with the
recalibrated model as the largest: ``recalibration_lr`` is the likelihood ratio of
the recalibrated model against the model as it is (2 df), the intercept's p-value
that of the intercept update against the model (1 df), and the slope's that of the
recalibration against the intercept update (1 df): a slope off only because a moved
rate bends the probabilities at the ends, while the intercept alone explains the
outcomes about as well, is no reason to recalibrate. Without outcomes:
``expected_precision_at_k`` from the calibrated probabilities of the top k, an
estimate that holds only under covariate shift (``P(y | x)`` unchanged).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit, logit

from .._checks import resolve_capacity
from ._drift import bin_counts, psi, psi_p_value

__all__ = ["expected_auc", "log_likelihood", "logistic_recalibration", "outcome_statistics", "score_statistics"]

_COLS = ["name", "statistic", "value", "p_value", "n", "df", "low", "high", "expected", "note"]
_EPS = 1e-12


def _row(statistic, value, p=np.nan, n=0, low=np.nan, high=np.nan, expected=np.nan, note="",
         name="score"):
    return (name, statistic, float(value), float(p), int(n), 1, float(low), float(high),
            float(expected), note)


def score_statistics(r_ref, r_cur, *, high_fraction, elevated_fraction, score_inflation=1.0,
                     score_inflation_df=None):
    """Rows of the score-level statistics (predicted risks of both cohorts); the
    score's PSI is tested as the features' (:func:`._drift.psi_p_value`)."""
    rc, cc = bin_counts(r_ref, r_cur, soft=False)  # continuous, no lattice
    value = psi(rc, cc)
    df = max(int(((rc + cc) > 0).sum()) - 1, 1)
    p = psi_p_value(value, 1 / len(r_ref) + 1 / len(r_cur), df, score_inflation,
                    score_inflation_df)
    rows = [_row("score_psi", value, p, len(r_cur))]
    order = np.sort(r_ref)[::-1]
    for tier, frac in (("high", high_fraction), ("elevated", elevated_fraction)):
        k = resolve_capacity(len(r_ref), top_fraction=frac, func="monitor.check")
        cut = order[k - 1]
        ref_share = (r_ref >= cut).mean()
        n_in = int((r_cur >= cut).sum())
        share = n_in / len(r_cur)
        pooled = (ref_share * len(r_ref) + n_in) / (len(r_ref) + len(r_cur))
        se = np.sqrt(pooled * (1 - pooled) * (1 / len(r_ref) + 1 / len(r_cur)))
        p = 1.0 if se == 0 else 2 * stats.norm.sf(abs(share - ref_share) / se)
        rows.append(_row(f"{tier}_tier_share", share, p, n_in, expected=ref_share,
                         note=f"share above the reference's {tier}-tier cut-off {cut:.4f}"))
    rows.append(_row("mean_risk", r_cur.mean(), n=len(r_cur), expected=r_ref.mean(),
                     note="expected: the reference's mean risk"))
    return pd.DataFrame(rows, columns=_COLS)


def logistic_recalibration(y, p, *, fix_slope=False, max_iter=50):
    """Intercept and slope of ``logit P(y=1) = a + b * logit(p)`` by Newton's method.

    With ``fix_slope`` the slope is 1 (``logit(p)`` is an offset) and only ``a`` is
    fitted. Returns ``(a, b, se_a, se_b)`` (``b = 1``, ``se_b = nan`` when fixed).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.02, 0.6, 20000)
    >>> y = (rng.random(20000) < p).astype(float)
    >>> a, b, _, _ = logistic_recalibration(y, p)
    >>> bool(abs(a) < 0.1 and abs(b - 1) < 0.1)
    True
    """
    x = logit(np.clip(p, _EPS, 1 - _EPS))
    design = np.ones((len(x), 1)) if fix_slope else np.column_stack([np.ones_like(x), x])
    offset = x if fix_slope else 0.0
    beta = np.zeros(design.shape[1]) if fix_slope else np.array([0.0, 1.0])
    info = np.eye(design.shape[1])
    for _ in range(max_iter):
        mu = expit(design @ beta + offset)
        w = mu * (1 - mu)
        info = design.T @ (design * w[:, None])
        step = np.linalg.lstsq(info, design.T @ (y - mu), rcond=None)[0]
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    cov = np.linalg.pinv(info)
    se = np.sqrt(np.diag(cov))
    if fix_slope:
        return float(beta[0]), 1.0, float(se[0]), np.nan
    return float(beta[0]), float(beta[1]), float(se[0]), float(se[1])


def log_likelihood(y, p) -> float:
    """Bernoulli log-likelihood of outcomes ``y`` under probabilities ``p``."""
    p = np.clip(p, _EPS, 1 - _EPS)
    return float(np.sum(y * np.log(p) + (1 - y) * np.log1p(-p)))


def _auc_weighted(group, y, w, n_groups):
    """AUC with ties (groups of equal scores, in ascending score order) and row weights."""
    pos = np.bincount(group, weights=w * y, minlength=n_groups)
    neg = np.bincount(group, weights=w * (1 - y), minlength=n_groups)
    below = np.cumsum(neg) - neg
    total = pos.sum() * neg.sum()
    return np.nan if total == 0 else float((pos * (below + 0.5 * neg)).sum() / total)


def expected_auc(p):
    """The AUC if the outcomes were drawn from the probabilities ``p`` themselves.

    ``sum_{i != j} p_i (1 - p_j) [p_i > p_j] / sum_{i != j} p_i (1 - p_j)``, ties
    counted half.

    Examples
    --------
    >>> round(expected_auc(np.array([0.1, 0.9])), 4)
    0.9878
    """
    _, group = np.unique(p, return_inverse=True)
    n_g = group.max() + 1
    pos = np.bincount(group, weights=p, minlength=n_g)
    neg = np.bincount(group, weights=1 - p, minlength=n_g)
    below = np.cumsum(neg) - neg
    same = np.bincount(group, weights=p * (1 - p), minlength=n_g)  # i == j pairs
    num = (pos * below).sum() + 0.5 * ((pos * neg).sum() - same.sum())
    den = pos.sum() * neg.sum() - same.sum()
    return float(num / den)


def _bootstrap(y, p, top, n_boot, rng):
    """Bootstrap draws of (O/E, AUC, precision@k), shape ``(n_boot, 3)``.

    Each draw resamples the pupils with replacement. Pupils sorted by score fall into
    cells: runs of equal outcome and equal membership of the top k, cut at every
    group of tied scores. A draw only needs the multinomial count of each cell (far
    fewer cells than pupils): the outcomes, the AUC (tied pairs counted half) and
    precision@k follow exactly, and the expected count ``sum(w * p)`` within a cell
    gets its exact mean and variance (a normal draw) from the cell's mean and
    variance of ``p`` (zero within a tie group).
    """
    n = len(y)
    ts_all = np.zeros(n, dtype=bool)
    ts_all[top] = True
    order = np.lexsort((ts_all, y, p))  # by score, then outcome, then top-k membership
    ps, ys, ts = p[order], y[order], ts_all[order]
    new_p = np.r_[True, ps[1:] != ps[:-1]]
    gid = np.cumsum(new_p) - 1
    tied = (np.bincount(gid) > 1)[gid]  # pupil in a group of equal scores
    change = np.r_[True, (ys[1:] != ys[:-1]) | (ts[1:] != ts[:-1])
                   | (new_p[1:] & (tied[1:] | tied[:-1]))]
    starts = np.flatnonzero(change)
    size = np.diff(np.r_[starts, n])
    cy, ct = ys[starts], ts[starts]
    mean_p = np.add.reduceat(ps, starts) / size
    var_p = np.maximum(np.add.reduceat(ps ** 2, starts) / size - mean_p ** 2, 0.0)
    # units of the AUC: a tie group's cells together (its pairs count half), else one cell
    unit = np.r_[True, ~tied[starts[1:]] | new_p[starts[1:]]]
    groups = np.flatnonzero(unit)
    tied = len(groups) < len(starts)
    out = np.empty((n_boot, 3))
    step = max(1, 2_000_000 // len(starts))
    for b0 in range(0, n_boot, step):
        c = min(step, n_boot - b0)
        w = rng.multinomial(n, size / n, size=c).astype("float64")
        pos = w * cy
        neg = w - pos
        o = pos.sum(axis=1)
        e = w @ mean_p + rng.standard_normal(c) * np.sqrt(w @ var_p)
        if tied:
            pos = np.add.reduceat(pos, groups, axis=1)
            neg = np.add.reduceat(neg, groups, axis=1)
        below = np.cumsum(neg, axis=1) - neg
        with np.errstate(invalid="ignore", divide="ignore"):
            out[b0:b0 + c, 0] = o / np.maximum(e, _EPS)
            out[b0:b0 + c, 1] = (np.einsum("ij,ij->i", pos, below + 0.5 * neg)
                                 / (o * (n - o)))
            wt = w[:, ct]
            out[b0:b0 + c, 2] = (wt @ cy[ct]) / np.maximum(wt.sum(axis=1), _EPS)
    return out


def outcome_statistics(y, p, *, k, n_boot, confidence, random_state):
    """Rows of the outcome statistics of one cohort (``y`` 0/1, ``p`` calibrated)."""
    n = len(y)
    rng = np.random.default_rng(random_state)
    alpha = (1 - confidence) / 2
    _, group = np.unique(p, return_inverse=True)
    n_groups = group.max() + 1
    top = np.argsort(-p, kind="stable")[:k]
    draws = _bootstrap(y, p, top, n_boot, rng)
    lo, hi = np.nanquantile(draws, [alpha, 1 - alpha], axis=0) if n_boot else (
        np.full(3, np.nan), np.full(3, np.nan))
    obs, exp_ = y.sum(), p.sum()
    oe = obs / max(exp_, _EPS)
    p_oe = 2 * stats.norm.sf(abs(obs - exp_) / max(np.sqrt((p * (1 - p)).sum()), _EPS))
    a, b, _, se_b = logistic_recalibration(y, p)
    a0, _, se_a0, _ = logistic_recalibration(y, p, fix_slope=True)
    lp = logit(np.clip(p, _EPS, 1 - _EPS))
    ll0, ll1, ll2 = (log_likelihood(y, p), log_likelihood(y, expit(lp + a0)),
                     log_likelihood(y, expit(a + b * lp)))
    lr_all, lr_a, lr_b = (max(2 * (ll2 - ll0), 0.0), max(2 * (ll1 - ll0), 0.0),
                          max(2 * (ll2 - ll1), 0.0))
    auc = _auc_weighted(group, y, np.ones(n), n_groups)
    # the AUC the ranking would have were the probabilities right up to the outcome rate
    # (after the intercept update): a moved rate alone changes the attainable AUC, and is
    # no sign of changed associations (refit)
    auc_exp = expected_auc(expit(logit(np.clip(p, _EPS, 1 - _EPS)) + a0))
    # one-sided: the share of bootstrap AUCs at or above the model's own expectation
    p_auc = (1 + np.sum(draws[:, 1] >= auc_exp)) / (1 + n_boot) if n_boot else np.nan
    prec = y[top].mean()
    exp_prec = p[top].mean()
    sd_prec = np.sqrt((p[top] * (1 - p[top])).sum()) / k
    p_prec = 2 * stats.norm.sf(abs(prec - exp_prec) / max(sd_prec, _EPS))
    z = stats.norm.ppf(1 - alpha)
    ci_b = (b - z * se_b, b + z * se_b)
    ci_a = (a0 - z * se_a0, a0 + z * se_a0)
    return pd.DataFrame([
        _row("observed_expected", oe, p_oe, n, lo[0], hi[0], 1.0, name="cohort"),
        _row("recalibration_lr", lr_all, stats.chi2.sf(lr_all, 2), n, name="cohort",
             note="likelihood ratio: recalibrated (intercept and slope) against the model as "
                  "it is, 2 df; the closed test's first step"),
        _row("calibration_intercept", a0, stats.chi2.sf(lr_a, 1), n, *ci_a, 0.0,
             name="cohort", note="logistic recalibration with the slope fixed at 1; Wald "
                                 "interval; p: likelihood ratio against the model, 1 df"),
        _row("calibration_slope", b, stats.chi2.sf(lr_b, 1), n, *ci_b, 1.0,
             name="cohort", note=f"intercept {a:.3f}; Wald interval; p: likelihood ratio "
                                 "against the intercept update, 1 df"),
        _row("auc", auc, p_auc, n, lo[1], hi[1], auc_exp, name="cohort",
             note="expected: the AUC if the model's probabilities were right up to the "
                  "outcome rate (after the intercept update)"),
        _row("precision_at_k", prec, p_prec, k, lo[2], hi[2], exp_prec, name="cohort",
             note=f"k = {k}; interval: bootstrap of the pupils in the top k"),
    ], columns=_COLS)


def expected_precision(p, *, k, confidence):
    """Row of the expected precision@k without outcomes (an estimate)."""
    top = np.sort(p)[::-1][:k]
    est = top.mean()
    sd = np.sqrt((top * (1 - top)).sum()) / k
    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    return pd.DataFrame([_row(
        "expected_precision_at_k", est, n=k, name="cohort", low=max(est - z * sd, 0),
        high=min(est + z * sd, 1),
        note=(f"k = {k}; an estimate from the calibrated probabilities, valid only under "
              "covariate shift (P(y | x) unchanged); no outcomes yet"))], columns=_COLS)

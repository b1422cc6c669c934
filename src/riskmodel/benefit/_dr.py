"""Cross-fitted AIPW pseudo-outcomes of one arm, and the overlap checks (private).

For one arm (a kind of support) with rows ``X``, treatment ``t`` (0/1), outcome
``y`` (0/1) and clusters ``groups`` (schools):

1. Folds grouped by pupil or by school (:class:`sklearn.model_selection.GroupKFold`;
   see ``BenefitModel(nuisance_folds=...)`` for why pupils are the default).
2. For each fold, on the other folds: a LightGBM propensity model
   ``e(x) = P(T=1 | x)`` and **one** LightGBM outcome model ``mu(x, t) = P(Y=1 | x, T=t)``
   with the treatment as a feature. One model rather than one per arm value: the
   treated are a few percent of the rows and the outcome is rare, so a separate
   ``mu1`` would be fitted on a handful of leavings; the doubly robust correction
   removes the bias a shared model may carry. Both are predicted on the held-out fold.
3. The AIPW pseudo-outcome of the change in P(leave),
   ``psi = mu1 - mu0 + t (y - mu1) / e - (1 - t) (y - mu0) / (1 - e)``;
   its mean over rows is the AIPW estimate of the average effect, and
   ``E[psi | x]`` the conditional effect. **Signs**: support lowers P(leave), so
   a helpful support has ``psi < 0``; the benefit model learns ``-psi``.
4. Overlap (:func:`overlap`): rows outside the common support are trimmed, the
   propensity quantiles and the Kish effective sample sizes of the
   inverse-probability weights are reported, and the arm fails when too few
   treated rows or too small an effective sample remain. Trimming rules:
   ``"asymmetric"`` (the default; Stürmer et al. 2010) keeps rows with ``e`` between
   the 1st percentile of ``e`` among the treated and the 99th among the untreated;
   ``"crump"`` keeps ``e`` in ``[alpha, 1 - alpha]`` with Crump, Hotz, Imbens and
   Mitnik's (2009) optimal ``alpha``; a float fixes ``alpha``. Crump's rule is
   written for arms of similar size: where a few percent of the rows start support
   in a month (as here), ``1 / (e (1 - e))`` is large for almost every row and the
   rule trims the bulk of the common support (on a 3,000-pupil system, the mentor
   arm kept 850 of 10,590 rows and 44 of 120 treated), so it is offered, not the
   default.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import GroupKFold

__all__ = ["aipw_scores", "crump_alpha", "fold_ids", "binned", "lgb_small", "nuisance_fold_ids", "overlap",
           "trim_bounds"]

_E_CLIP = 1e-3


def lgb_small(objective, n_rows, seed, n_jobs=1, **over):
    """Small, regularised LightGBM parameters for the nuisance and effect models."""
    params = {
        "objective": objective, "learning_rate": 0.05, "num_leaves": 15,
        "min_child_samples": int(max(20, min(400, n_rows // 100))), "feature_fraction": 0.8,
        "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0, "verbose": -1,
        "num_threads": int(n_jobs), "seed": int(seed), "deterministic": True,
        "force_row_wise": True, "max_bin": 63,
    }
    params.update(over)
    return params


def fold_ids(groups, n_folds, seed):
    """Fold of each row, whole schools in one fold (GroupKFold on shuffled group labels)."""
    groups = np.asarray(groups)
    uniq, inv = np.unique(groups, return_inverse=True)
    if len(uniq) < n_folds:
        raise ValueError(f"n_folds={n_folds} needs at least as many groups (schools or "
                         f"pupils); the rows hold {len(uniq)}. Lower n_folds.")
    perm = np.random.default_rng(seed).permutation(len(uniq))
    out = np.empty(len(groups), dtype=np.int64)
    for f, (_, test) in enumerate(GroupKFold(n_splits=n_folds).split(groups, groups=perm[inv])):
        out[test] = f
    return out


def nuisance_fold_ids(trial, by, n_folds, seed):
    """Nuisance folds of trial rows: whole pupils (``by="pupil"``) or whole schools."""
    if by == "school":
        return fold_ids(trial.school, n_folds, seed)
    pupils = trial.X.index.get_level_values("pupil_id").astype(str).to_numpy()
    return fold_ids(pupils, n_folds, seed)


def _train(params, data, idx, rounds):
    """Train on the rows ``idx`` of a binned Dataset (binned once, shared by the folds)."""
    import lightgbm as lgb

    return lgb.train(params, data.subset(np.sort(idx)), num_boost_round=rounds)


def train_rows(params, data, idx, rounds):
    """Public name of :func:`_train` for the effect models."""
    return _train(params, data, idx, rounds)


def binned(X, label, params):
    import lightgbm as lgb

    return lgb.Dataset(X, label, params={"max_bin": params["max_bin"], "verbose": -1,
                                         "feature_pre_filter": False},
                       free_raw_data=False).construct()


def aipw_scores(X, t, y, folds, *, seed=0, n_jobs=1, rounds=150):
    """Cross-fitted propensity ``e``, outcome ``mu0``/``mu1`` and pseudo-outcome ``psi``.

    Parameters
    ----------
    X : ndarray (n, p) float64
    t, y : ndarray (n,) 0/1
    folds : ndarray (n,) int, the fold of each row
    seed, n_jobs, rounds : LightGBM seed, threads and boosting rounds

    Returns
    -------
    dict with ``e``, ``mu0``, ``mu1``, ``psi`` (ndarrays (n,)); ``e`` unclipped,
    ``psi`` computed with ``e`` clipped to ``[0.001, 0.999]``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2000, 2)); t = (rng.random(2000) < 0.3).astype(float)
    >>> y = (rng.random(2000) < 0.3 - 0.1 * t).astype(float)
    >>> s = aipw_scores(X, t, y, np.arange(2000) % 2, rounds=30)
    >>> bool(-0.16 < s["psi"].mean() < -0.04)
    True
    """
    X = np.asarray(X, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = len(t)
    e = np.empty(n)
    mu0 = np.empty(n)
    mu1 = np.empty(n)
    XT = np.column_stack([X, t])
    d_e = d_y = None
    for f in np.unique(folds):
        test = folds == f
        train = ~test
        tr_idx = np.flatnonzero(train)
        ptr = lgb_small("binary", int(train.sum()), seed + f, n_jobs)
        if t[train].min() == t[train].max():
            e[test] = t[train].mean()
        else:
            d_e = binned(X, t, ptr) if d_e is None else d_e
            e[test] = _train(ptr, d_e, tr_idx, rounds).predict(X[test])
        if y[train].min() == y[train].max():
            mu0[test] = mu1[test] = y[train].mean()
        else:
            # the treatment must be able to split even when treated rows are few
            pout = dict(ptr, min_child_samples=int(max(5, min(ptr["min_child_samples"],
                                                              t[train].sum() // 4))))
            d_y = binned(XT, y, pout) if d_y is None else d_y
            booster = _train(pout, d_y, tr_idx, rounds)
            Xt = XT[test].copy()
            Xt[:, -1] = 0.0
            mu0[test] = booster.predict(Xt)
            Xt[:, -1] = 1.0
            mu1[test] = booster.predict(Xt)
    ec = np.clip(e, _E_CLIP, 1 - _E_CLIP)
    psi = mu1 - mu0 + t * (y - mu1) / ec - (1 - t) * (y - mu0) / (1 - ec)
    return {"e": e, "mu0": mu0, "mu1": mu1, "psi": psi}


def crump_alpha(e):
    """Crump et al. (2009) optimal trimming bound for propensities ``e``.

    The smallest ``alpha`` in (0, 0.5] with ``1 / (alpha (1 - alpha)) >=
    2 E[g | g <= 1 / (alpha (1 - alpha))]``, ``g = 1 / (e (1 - e))``; 0 when no
    trimming is needed (``max g <= 2 E[g]``).

    Examples
    --------
    >>> import numpy as np
    >>> float(crump_alpha(np.full(100, 0.5)))
    0.0
    >>> a = crump_alpha(np.r_[np.full(90, 0.5), np.full(10, 0.001)])
    >>> round(a, 4)  # gamma = 2 * 4: alpha (1 - alpha) = 1 / 8
    0.1464
    """
    e = np.clip(np.asarray(e, dtype=np.float64), 1e-12, 1 - 1e-12)
    g = np.sort(1.0 / (e * (1.0 - e)))
    if g[-1] <= 2.0 * g.mean():
        return 0.0
    mean_below = np.cumsum(g) / np.arange(1, len(g) + 1)
    ok = g <= 2.0 * mean_below  # gamma = g[j] satisfies the rule with the rows up to j
    j = int(np.flatnonzero(ok).max())
    gamma = 2.0 * mean_below[j]  # E[g | g <= gamma] is flat between g[j] and g[j + 1]
    return float(0.5 - np.sqrt(max(0.25 - 1.0 / gamma, 0.0)))


def _kish(w):
    w = np.asarray(w, dtype=np.float64)
    s2 = float((w * w).sum())
    return float(w.sum() ** 2 / s2) if s2 > 0 else 0.0


def trim_bounds(e, t, alpha="asymmetric", q=0.01):
    """Lower and upper propensity bounds of the rows kept (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> e = np.linspace(0.01, 0.99, 99); t = (e > 0.5).astype(int)
    >>> [round(b, 2) for b in trim_bounds(e, t, 0.1)]
    [0.1, 0.9]
    """
    e = np.asarray(e, dtype=np.float64)
    t = np.asarray(t)
    if isinstance(alpha, str) and alpha == "asymmetric":
        lo = float(np.quantile(e[t == 1], q)) if (t == 1).any() else 1.0
        hi = float(np.quantile(e[t == 0], 1 - q)) if (t == 0).any() else 0.0
        return lo, hi
    a = crump_alpha(e) if isinstance(alpha, str) else float(alpha)
    return a, 1.0 - a


def overlap(e, t, *, alpha="asymmetric", min_treated=50, min_ess=30.0):
    """Overlap summary of one arm: kept rows, quantiles of ``e``, Kish ESS, pass/fail.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> e = rng.uniform(0.2, 0.8, 1000); t = (rng.random(1000) < e).astype(int)
    >>> o = overlap(e, t)
    >>> o["ok"], o["n_treated"] > 400
    (True, True)
    >>> overlap(e, np.zeros(1000))["reason"]
    'too few treated rows after trimming: 0 < min_treated=50'
    """
    e = np.asarray(e, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    lo, hi = trim_bounds(e, t, alpha)
    keep = (e >= lo) & (e <= hi)
    ek = np.clip(e[keep], _E_CLIP, 1 - _E_CLIP)
    tk = t[keep]
    ess1 = _kish(1.0 / ek[tk == 1]) if (tk == 1).any() else 0.0
    ess0 = _kish(1.0 / (1.0 - ek[tk == 0])) if (tk == 0).any() else 0.0
    n1 = int((tk == 1).sum())
    q = np.quantile(e, [0.0, 0.01, 0.1, 0.5, 0.9, 0.99, 1.0]) if len(e) else np.full(7, np.nan)
    reason = None
    if n1 < min_treated:
        reason = f"too few treated rows after trimming: {n1} < min_treated={min_treated}"
    elif min(ess1, ess0) < min_ess:
        reason = (f"effective sample size too small: treated {ess1:.1f}, untreated {ess0:.1f} "
                  f"< min_ess={min_ess:g}")
    return {
        "ok": reason is None, "reason": reason, "trim": [lo, hi], "n_rows": int(len(e)),
        "n_kept": int(keep.sum()), "n_treated": n1, "n_treated_all": int((t == 1).sum()),
        "ess_treated": ess1, "ess_untreated": ess0,
        "e_quantiles": dict(zip(["min", "q01", "q10", "q50", "q90", "q99", "max"],
                                [float(v) for v in q], strict=True)),
        "keep": keep,
    }

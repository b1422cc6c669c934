"""Why the benefit estimator fails (issue 17, item 1): truth heterogeneity against AIPW noise.

Run by ``python benchmarks/bench_benefit.py --diagnose [--small] [--seed N]``. On the
fit dates of the heterogeneous world it prints, per arm,

- rows, treated rows and the early leavings among the treated (the information the
  effect of a binary outcome rests on);
- the truth's effect distribution: mean, sd, quantiles, the top decile's mean and share
  of all the effect, and its Spearman correlation with ``p_leave`` (risk as a proxy);
- the cross-fitted AIPW pseudo-outcome's sd and the AIPW average with its se;
- the *oracle split*: AIPW means of the groups formed by the TRUE effect (bottom 50 %,
  50-90 %, top 10 %) with 95 % half-widths, i.e. whether even a perfect ranking could be
  seen in these data;
- ``var(true effect) / var(pseudo-outcome)`` and the rows needed before the top decile's
  gap over the rest is four standard errors (a detectable heterogeneity);
- residual confounding: the log loss of treatment given the fitted propensity, and with
  the truth's ``p_leave`` (or true effect) added; a drop means referral uses latent
  state the features do not show.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

import riskmodel as rm
from riskmodel.benefit._dr import aipw_scores, nuisance_fold_ids
from riskmodel.benefit._trial import target_trial


def _logit(p):
    p = np.clip(p, 1e-5, 1 - 1e-5)
    return np.log(p / (1 - p))


def _extra_logloss(t, base, extra):
    """Log loss of t given the logit ``base`` alone and with ``extra`` added (logistic)."""
    z1 = base[:, None]
    z2 = np.column_stack([base, extra])
    l1 = log_loss(t, LogisticRegression().fit(z1, t).predict_proba(z1)[:, 1])
    m2 = LogisticRegression().fit(z2, t)
    return l1, log_loss(t, m2.predict_proba(z2)[:, 1]), float(m2.coef_[0][1])


def diagnose(n_pupils, n_years, seed, dates_of):
    t0 = time.perf_counter()
    world = rm.datasets.make_school_system(n_pupils=n_pupils, n_years=n_years,
                                           random_state=seed)
    fit_d = dates_of(world, list(range(n_years - 1)))[:-1]
    tr = target_trial(world.tables, fit_d)
    print(f"[diagnose] {n_pupils:,} pupils x {n_years} years, seed {seed}: {len(fit_d)} dates, "
          f"{len(tr.y):,} rows, outcome rate {tr.y.mean():.4f} ({time.perf_counter() - t0:.0f} s)")
    truth = world.truth.set_index(["as_of", "pupil_id"])
    truth.index = truth.index.set_levels(truth.index.levels[1].astype(str), level=1)
    truth = truth.reindex(tr.X.index)
    X = tr.X.to_numpy(np.float64)
    folds = nuisance_fold_ids(tr, "pupil", 5, seed)
    for k in tr.treated.columns:
        rows = tr.in_arm[k].to_numpy()
        t = tr.treated[k].to_numpy(np.float64)[rows]
        y = tr.y[rows]
        eff = truth[f"effect_{k}"].to_numpy()[rows]
        p = truth["p_leave"].to_numpy()[rows]
        ok = ~np.isnan(eff)
        if t.sum() < 10 or ok.sum() < 100 or t.sum() == len(t):
            print(f"\n  {k}: rows {rows.sum():,}, treated {int(t.sum())}: too few to diagnose")
            continue
        e_ = eff[ok]
        q = np.quantile(e_, [0.5, 0.9, 0.99])
        top = np.zeros(len(e_), dtype=bool)
        top[np.argsort(-e_, kind="stable")[: max(1, len(e_) // 10)]] = True
        print(f"\n  {k}: rows {rows.sum():,}, treated {int(t.sum())}, early leavings among "
              f"treated {int((t * y).sum())}")
        print(f"    truth: effect mean {e_.mean():.5f}, sd {e_.std():.5f}, q50/q90/q99 "
              f"{q[0]:.5f}/{q[1]:.5f}/{q[2]:.5f}; top decile mean {e_[top].mean():.5f} "
              f"(holds {e_[top].sum() / max(e_.sum(), 1e-12):.0%} of all effect); "
              f"Spearman(effect, p_leave) {spearmanr(e_, p[ok]).statistic:+.2f}; "
              f"mean effect among the treated {np.nanmean(eff[t == 1]):.5f}")
        s = aipw_scores(X[rows], t, y, folds[rows], seed=seed, n_jobs=2)
        b = -s["psi"]
        print(f"    AIPW: propensity q50 {np.median(s['e']):.4f} q99 "
              f"{np.quantile(s['e'], 0.99):.4f}; pseudo-outcome sd {b.std():.3f}; mean "
              f"{b.mean():+.5f} (se {b.std() / np.sqrt(len(b)):.5f}; truth {e_.mean():+.5f})")
        bo = b[ok]
        # groups by rank (ties broken at random: many true effects are exactly 0)
        rank = np.argsort(np.argsort(e_ + 1e-12 * np.random.default_rng(seed).random(len(e_))))
        grp = np.digitize(rank / len(e_), [0.5, 0.9])
        for g, name in enumerate(("bottom 50%", "50-90%", "top 10%")):
            m = grp == g
            print(f"    oracle group {name:10s}: true {e_[m].mean():.5f}, AIPW {bo[m].mean():+.5f}"
                  f" +- {1.96 * bo[m].std() / np.sqrt(m.sum()):.5f}")
        gap = e_[top].mean() - e_[~top].mean()
        need = 16 * bo.var() / (0.9 * 0.1) / max(gap, 1e-12) ** 2
        print(f"    var(true)/var(pseudo) {e_.var() / bo.var():.2e}; rows needed for the top "
              f"decile's gap to be 4 se: {need:,.0f} (have {ok.sum():,})")
        le = _logit(s["e"])
        l1, l2, c2 = _extra_logloss(t, le, _logit(p))
        _, l3, c3 = _extra_logloss(t, le, np.nan_to_num(eff / max(e_.std(), 1e-12)))
        print(f"    residual confounding: log loss of treatment | propensity {l1:.5f}; "
              f"+ true logit p_leave {l2:.5f} (coef {c2:+.2f}); + true effect {l3:.5f} "
              f"(coef {c3:+.2f})")

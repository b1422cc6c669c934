"""RiskModel on small tables with few leavers: never reliably below chance.

On pure noise every model that sees only its training folds has an expected
cross-validated ROC AUC of exactly 0.5 (the held-out rows are independent of what it
was fitted on), so a mean reliably below 0.5 over many fresh tables can only come from
a defect (a score whose order is flipped between the folds and the final model, rows
mixed up between fit and predict, calibration that turns the order over). The
weak-signal tables check the other side: with about a dozen leavers in a few hundred
rows, a weak real signal must be found more often than not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.model_selection import StratifiedKFold, cross_val_score

from riskmodel import RiskModel


def _noise_table(seed, n=300, prevalence=0.04, signal=0.0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"v{i}" for i in range(6)])
    X["level"] = rng.choice([f"l{i}" for i in range(8)], n).astype(object)
    z = np.log(prevalence / (1 - prevalence)) + signal * (X["v0"] - X["v1"])
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return X, y


def _cv_aucs(seeds, **table):
    aucs = []
    for seed in seeds:
        X, y = _noise_table(seed, **table)
        if y.sum() < 6:  # too few leavers for 3 folds with 2 each
            continue
        cv = StratifiedKFold(3, shuffle=True, random_state=seed)
        aucs.append(cross_val_score(RiskModel(random_state=seed), X, y, cv=cv, scoring="roc_auc").mean())
    return np.asarray(aucs)


@pytest.fixture(scope="module")
def noise_aucs():
    return _cv_aucs(range(40))


def test_never_reliably_below_chance_on_pure_noise(noise_aucs):
    # 40 tables of 300 rows, 4 % leavers (about 12, 8 per training fold: the inner
    # cross-fitting holds out 1-2 leavers per fold)
    assert len(noise_aucs) >= 30
    mean, se = noise_aucs.mean(), noise_aucs.std(ddof=1) / np.sqrt(len(noise_aucs))
    # one-sided t-test of mean >= 0.5 at the 1 % level
    assert stats.ttest_1samp(noise_aucs, 0.5, alternative="less").pvalue > 0.01, (mean, se)
    # and not typically below: a sign test on the tables below chance
    below = int((noise_aucs < 0.5).sum())
    assert stats.binomtest(below, len(noise_aucs), 0.5, alternative="greater").pvalue > 0.01, below


def test_a_weak_signal_with_a_dozen_leavers_is_found():
    # the same tables with a weak real signal (log-odds 0.6 per SD in two of 7 columns)
    aucs = _cv_aucs(range(100, 120), signal=0.6)
    assert stats.ttest_1samp(aucs, 0.5, alternative="greater").pvalue < 0.01, aucs.mean()
    assert aucs.mean() > 0.6

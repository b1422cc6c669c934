"""RiskModel on small tables with few leavers: never reliably below chance.

On pure noise a model that sees only its training folds has an expected cross-validated
ROC AUC of exactly 0.5, whatever it does inside (the held-out rows are independent of
everything it was fitted on, and stratification fixes only their counts). So the
below-chance figure of issue 21 (0.372 on the "noisy" bench shape, which has a weak
signal) is the spread of five 500-row tables with about 15 leavers each, not a model
that learns the signal backwards. The tests hold all three sides: on pure noise the
mean and the typical (median) table are not reliably below 0.5, and the probabilities
stay close to the base rate (a model that trusts its noise fails here); with a weak real
signal and about a dozen leavers the signal is found (a model that learns nothing, or
turns its order over in the calibration or the final refit, fails here).
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
    return _cv_aucs(range(36))


def test_never_reliably_below_chance_on_pure_noise(noise_aucs):
    # 36 tables of 300 rows, 4 % leavers (about 12, 8 per training fold: the inner
    # cross-fitting holds out 1-2 leavers per fold)
    assert len(noise_aucs) >= 28
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


def test_probabilities_on_pure_noise_stay_near_the_base_rate():
    spreads, offsets = [], []
    for seed in range(8):
        X, y = _noise_table(seed)
        X_new, _ = _noise_table(1000 + seed, n=5_000)
        p = RiskModel(random_state=0).fit(X, y).predict_proba(X_new)[:, 1]
        spreads.append(p.std() / y.mean())
        offsets.append(abs(p.mean() - y.mean()))
    # measured: spread 0 on most tables, 0.8 of the base rate on the worst of 6
    assert np.median(spreads) < 0.25, spreads
    assert np.mean(offsets) < 0.005, offsets

"""The generated tables of benchmarks/bench_model.py: deterministic, and shaped as documented."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_model  # noqa: E402


def test_the_questionnaire_is_deterministic_per_seed():
    X, y = bench_model.questionnaire_table(400, seed=3)
    X2, y2 = bench_model.questionnaire_table(400, seed=3)
    X3, y3 = bench_model.questionnaire_table(400, seed=4)
    pd.testing.assert_frame_equal(X, X2)
    assert (y == y2).all()
    assert not X.equals(X3) and not (y == y3).all()


def test_the_questionnaire_has_the_documented_shape_and_mechanism():
    cfg = bench_model.QUESTIONNAIRE
    X, y = bench_model.questionnaire_table(400, seed=0)
    items = [f"q{i + 1:02d}" for i in range(cfg["likert_items"])]
    assert X.shape == (400, len(items) + len(cfg["nominal"]) + 3)
    for q in items:
        assert set(X[q].dropna()) <= {"1", "2", "3", "4", "5"}
        assert 0 < X[q].isna().mean() < 0.1
    for name, k in cfg["nominal"].items():
        assert 2 <= X[name].nunique() <= k and 3 <= k <= 12
    # a low positive rate: about 8 % over draws
    rates = [bench_model.questionnaire_table(400, seed=s)[1].mean() for s in range(10)]
    assert 0.05 < np.mean(rates) < 0.11, rates
    # on a large draw, the outcome items rank the leavers and the other items do not
    X, y = bench_model.questionnaire_table(20_000, seed=1)
    def auc(col):
        value = pd.to_numeric(X[col]).fillna(3.0)
        return roc_auc_score(y, value)
    assert auc("q01") > 0.6 and auc("q02") < 0.4  # q02 is reversed
    assert all(abs(auc(f"q{i:02d}") - 0.5) < 0.03 for i in range(5, 21))

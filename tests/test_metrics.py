"""Tests of riskmodel.metrics: ranking at capacity, ties, validation, calibration error."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

import riskmodel as rm
from riskmodel.metrics import (
    expected_calibration_error,
    lift_at_k,
    metrics_at_k,
    precision_at_k,
    recall_at_k,
    resolve_k,
    top_k_indices,
)


def test_precision_recall_lift_by_hand():
    y = [1, 0, 1, 0, 0, 0, 1, 0, 0, 0]
    s = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    assert precision_at_k(y, s, k=3) == pytest.approx(2 / 3)
    assert recall_at_k(y, s, k=3) == pytest.approx(2 / 3)
    assert lift_at_k(y, s, k=3) == pytest.approx((2 / 3) / 0.3)
    assert precision_at_k(y, s, k=7) == pytest.approx(3 / 7)
    assert recall_at_k(y, s, k=7) == 1.0
    # the public namespace exposes the same functions
    assert rm.metrics.precision_at_k is precision_at_k


def test_ties_are_broken_by_input_order():
    # three tied scores; only the first of them in input order is a positive
    y = [0, 1, 0, 0]
    s = [0.5, 0.5, 0.5, 0.9]
    assert top_k_indices(s, k=2).tolist() == [3, 0]
    assert precision_at_k(y, s, k=2) == 0.0
    assert precision_at_k(y, s, k=3) == pytest.approx(1 / 3)
    # reversing the input order changes which tied pupil is taken, deterministically
    assert precision_at_k(y[::-1], s[::-1], k=2) == 0.0
    assert precision_at_k([1, 0, 0, 0], s, k=2) == 0.5


def test_k_as_share_of_cohort():
    assert resolve_k(0.05, 1000) == 50
    assert resolve_k(0.07, 100) == 7  # float noise does not push the ceiling up
    assert resolve_k(0.051, 1000) == 51  # ceiling
    assert resolve_k(0.001, 10) == 1  # at least one pupil
    y = np.r_[np.ones(5), np.zeros(95)]
    s = np.linspace(1, 0, 100)
    assert precision_at_k(y, s, k=0.05) == 1.0
    assert precision_at_k(y, s, k=0.1) == 0.5


@pytest.mark.parametrize("k", [0, -1, 1.0, 1.5, 0.0, True, "5", None, 11])
def test_bad_k(k):
    with pytest.raises(ValueError, match="k"):
        precision_at_k([0, 1] * 5, np.arange(10.0), k=k)


def test_bad_inputs():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        precision_at_k([0, 1, 1], [0.1, 0.2], k=1)
    with pytest.raises(ValueError, match="0/1"):
        precision_at_k([0, 2, 1], [0.1, 0.2, 0.3], k=1)
    with pytest.raises(ValueError, match="NaN"):
        recall_at_k([0, 1, 1], [0.1, np.nan, 0.3], k=1)
    with pytest.raises(ValueError, match="NaN"):
        lift_at_k([0, np.nan, 1], [0.1, 0.2, 0.3], k=1)
    with pytest.raises(ValueError, match="empty"):
        precision_at_k([], [], k=1)


def test_no_positives_gives_nan_recall_and_lift():
    assert np.isnan(recall_at_k([0, 0, 0], [0.1, 0.2, 0.3], k=1))
    assert np.isnan(lift_at_k([0, 0, 0], [0.1, 0.2, 0.3], k=1))
    assert precision_at_k([0, 0, 0], [0.1, 0.2, 0.3], k=1) == 0.0


def test_bool_labels_accepted():
    assert precision_at_k([True, False, True], [0.9, 0.8, 0.1], k=2) == 0.5


def test_expected_calibration_error_by_hand():
    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([0.05, 0.05, 0.95, 0.95, 0.55, 0.55])
    # bins: [0,0.1): y 0/2, p 0.05 -> |0 - 0.1| = 0.1; [0.5,0.6): y 1, p 1.1 -> 0.1; [0.9,1]: y 2, p 1.9 -> 0.1
    assert expected_calibration_error(y, p) == pytest.approx(0.3 / 6)
    assert expected_calibration_error([0, 1], [0.0, 1.0]) == 0.0
    assert expected_calibration_error([1, 1], [1.0, 1.0]) == 0.0  # p == 1 lands in the last bin
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        expected_calibration_error([0, 1], [0.2, 1.2])
    with pytest.raises(ValueError, match="strategy"):
        expected_calibration_error([0, 1], [0.2, 0.5], strategy="bad")
    q = expected_calibration_error(y, p, n_bins=2, strategy="quantile")
    assert 0.0 <= q <= 1.0


def test_metrics_at_k_matches_sklearn():
    rng = np.random.default_rng(0)
    p = rng.random(500)
    y = (rng.random(500) < p).astype(int)
    row = metrics_at_k(y, p, k=0.1)
    assert row["n"] == 500 and row["k"] == 50 and row["k_share"] == 0.1
    assert row["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert row["average_precision"] == pytest.approx(average_precision_score(y, p))
    assert row["brier"] == pytest.approx(brier_score_loss(y, p))
    assert row["precision_at_k"] == pytest.approx(precision_at_k(y, p, k=50))
    assert row["recall_at_k"] == pytest.approx(recall_at_k(y, p, k=50))
    assert row["lift_at_k"] == pytest.approx(lift_at_k(y, p, k=50))
    assert row["prevalence"] == pytest.approx(y.mean())
    single = metrics_at_k(np.zeros(10), np.linspace(0, 1, 10), k=2)
    assert np.isnan(single["roc_auc"]) and single["precision_at_k"] == 0.0


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 5)), min_size=1, max_size=40),
    st.integers(1, 40),
)
def test_properties_of_top_k(rows, k):
    y = np.array([r[0] for r in rows], dtype=float)
    s = np.array([r[1] for r in rows], dtype=float)  # many ties
    k = min(k, len(y))
    prec = precision_at_k(y, s, k=k)
    # equals a brute-force stable ranking
    order = sorted(range(len(y)), key=lambda i: (-s[i], i))[:k]
    assert prec == pytest.approx(y[order].mean())
    assert precision_at_k(y, s, k=len(y)) == pytest.approx(y.mean())
    if y.sum() > 0:
        assert recall_at_k(y, s, k=len(y)) == 1.0
        assert lift_at_k(y, s, k=k) == pytest.approx(prec / y.mean())

"""Tests of riskmodel.metrics: ranking at capacity, ties, validation, calibration error."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

import pandas as pd
from sklearn.utils._param_validation import InvalidParameterError

import riskmodel as rm
from riskmodel.metrics import (
    expected_calibration_error,
    lift_at_k,
    metrics_at_k,
    precision_at_k,
    recall_at_k,
    resolve_capacity,
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
    assert resolve_capacity(1000, top_fraction=0.05) == 50
    assert resolve_capacity(100, top_fraction=0.07) == 7  # float noise does not push the ceiling up
    assert resolve_capacity(1000, top_fraction=0.051) == 51  # ceiling
    assert resolve_capacity(10, top_fraction=0.001) == 1  # at least one pupil
    assert resolve_capacity(10, top_fraction=1.0) == 10  # the whole cohort is allowed
    assert rm.metrics.resolve_capacity is rm._checks.resolve_capacity
    y = np.r_[np.ones(5), np.zeros(95)]
    s = np.linspace(1, 0, 100)
    assert precision_at_k(y, s, k=0.05) == 1.0
    assert precision_at_k(y, s, k=0.1) == 0.5
    assert precision_at_k(y, s, k=1.0) == 0.05  # a share of 1.0 is everyone
    assert metrics_at_k(y, s, k=1.0)["k"] == 100


def test_one_capacity_rule_with_the_audit():
    # n = 1,010 at 5 %: 50.5 pupils -> 51 everywhere (the audit used to floor to 50)
    n = 1010
    y = np.arange(n) % 7 == 0
    s = np.linspace(1, 0, n)
    groups = pd.DataFrame({"sex": np.where(np.arange(n) % 2, "F", "M")})
    table = rm.fairness.audit(y, s, groups, top_fraction=0.05, n_boot=0)
    assert metrics_at_k(y, s, k=0.05)["k"] == table.attrs["k"] == 51
    assert resolve_capacity(n, top_fraction=0.05) == 51
    assert len(top_k_indices(s, k=0.05)) == 51


def test_resolve_k_is_a_deprecated_wrapper():
    with pytest.warns(FutureWarning, match="resolve_capacity"):
        assert resolve_k(0.05, 1010) == 51
    with pytest.warns(FutureWarning):
        assert resolve_k(30, 20) == 20  # capped at n, as resolve_capacity does
    with pytest.warns(FutureWarning):
        assert resolve_k(1.0, 20) == 20


@pytest.mark.parametrize("k", [0, -1, 1.5, 0.0, True, "5", None, 2.0])
def test_bad_k(k):
    with pytest.raises(InvalidParameterError,
                       match=r"The 'k' parameter of precision_at_k must be an int >= 1 .* or a "
                             r"float in the range \(0, 1\] .*Got"):
        precision_at_k([0, 1] * 5, np.arange(10.0), k=k)


def test_k_above_the_cohort_is_capped():
    y, s = [0, 1] * 5, np.arange(10.0)
    assert precision_at_k(y, s, k=11) == precision_at_k(y, s, k=10) == 0.5
    assert len(top_k_indices(s, k=11)) == 10


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"'y_score' parameter of precision_at_k must have one "
                                         r"value per pupil of y_true \(3\). Got 2 instead"):
        precision_at_k([0, 1, 1], [0.1, 0.2], k=1)
    with pytest.raises(ValueError, match=r"'y_true' parameter of precision_at_k must hold 0/1 "
                                         r"outcomes. Got other values, e.g. \[2.0\]"):
        precision_at_k([0, 2, 1], [0.1, 0.2, 0.3], k=1)
    with pytest.raises(ValueError, match="'y_score' parameter of recall_at_k must be finite numbers. "
                                         "Got 1 NaN"):
        recall_at_k([0, 1, 1], [0.1, np.nan, 0.3], k=1)
    with pytest.raises(ValueError, match="'y_true' parameter of lift_at_k must not contain NaN"):
        lift_at_k([0, np.nan, 1], [0.1, 0.2, 0.3], k=1)
    with pytest.raises(ValueError, match="must contain at least one pupil. Got 0"):
        precision_at_k([], [], k=1)
    with pytest.raises(ValueError, match="'y_score' parameter of top_k_indices must be numeric"):
        top_k_indices(["a", "b"], k=1)


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
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]. Got 1 value"):
        expected_calibration_error([0, 1], [0.2, 1.2])
    with pytest.raises(InvalidParameterError, match="'strategy' parameter of expected_calibration_error"):
        expected_calibration_error([0, 1], [0.2, 0.5], strategy="bad")
    with pytest.raises(InvalidParameterError, match="'n_bins' parameter of expected_calibration_error"):
        expected_calibration_error([0, 1], [0.2, 0.5], n_bins=0)
    # quantile edges [0.05, 0.55, 0.95]: p < 0.55 (y 0, 0; p sum 0.1) and p >= 0.55 (y sum 3, p sum 3.0)
    q = expected_calibration_error(y, p, n_bins=2, strategy="quantile")
    assert q == pytest.approx((abs(0 - 0.1) + abs(3 - 3.0)) / 6)


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

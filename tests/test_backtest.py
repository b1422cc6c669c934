"""Tests of riskmodel.splits.backtest: temporal honesty, tidy output, bootstrap intervals."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import average_precision_score, roc_auc_score

import riskmodel as rm
from riskmodel import LogisticBaseline, RuleBaseline, SchoolBaseline
from riskmodel.metrics import metrics_at_k, precision_at_k
from riskmodel.splits import _Ranked, temporal_splits

DATES = ["2021-10-01", "2022-10-01", "2023-10-01"]


def cohort(n, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    att = np.clip(rng.beta(20, 1.5, n), 0, 1)
    lat = np.clip(rng.normal(6, 1.5, n), 1, 10)
    over = rng.binomial(1, 0.08, n)
    rate = rng.choice([0.005, 0.01, 0.03, 0.06], n)
    z = -3.5 + 14 * (0.93 - att) - 0.4 * (lat - 6) + 1.0 * over + 15 * rate + shift
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    X = pd.DataFrame(
        {
            "attendance_rate_90d": att,
            "grade_mean_latvian_ytd": lat,
            "grade_mean_mathematics_ytd": np.clip(rng.normal(6, 1.5, n), 1, 10),
            "over_age_years": over,
            "finished_grade9_lieciba": np.zeros(n),
            "school_leaving_rate_3y": rate,
            "cohort_year": np.full(n, 2000.0 + seed),
        },
        index=pd.Index([f"P{i:05d}" for i in range(n)], name="pupil_id"),
    )
    return X, pd.Series(y, index=X.index)


@pytest.fixture(scope="module")
def cohorts():
    return {d: cohort(1000, seed=i, shift=0.1 * i) for i, d in enumerate(DATES)}


class SpyModel(ClassifierMixin, BaseEstimator):
    """Scores by attendance and records which cohorts it was trained on."""

    seen = []

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        SpyModel.seen.append(sorted(set(X["cohort_year"])))
        return self

    def predict_proba(self, X):
        p = 1 - X["attendance_rate_90d"].to_numpy()
        return np.column_stack([1 - p, p])


def test_temporal_splits_respect_the_horizon():
    splits = temporal_splits(["2021-10-01", "2022-09-30", "2022-10-01", "2023-10-01"], horizon_days=365)
    as_text = [([str(d.date()) for d in tr], str(te.date())) for tr, te in splits]
    assert as_text == [
        (["2021-10-01"], "2022-10-01"),
        (["2021-10-01", "2022-09-30", "2022-10-01"], "2023-10-01"),
    ]
    with pytest.raises(ValueError, match="'horizon_days' parameter of temporal_splits must be an int >= 1"):
        temporal_splits(DATES, horizon_days=0)
    with pytest.raises(ValueError, match="'as_of_dates' parameter of temporal_splits must be a date without a time"):
        temporal_splits(["2021-10-01 12:00", "2022-10-01"])


def test_backtest_trains_only_on_cohorts_known_before_the_test_date(cohorts):
    SpyModel.seen = []
    result = rm.backtest(cohorts, DATES, models={"spy": SpyModel()}, n_boot=0)
    assert SpyModel.seen == [[2000.0], [2000.0, 2001.0]]
    assert result["test_date"].dt.strftime("%Y-%m-%d").tolist() == DATES[1:]
    assert result["train_dates"].tolist() == ["2021-10-01", "2021-10-01,2022-10-01"]
    assert result["n_train"].tolist() == [1000, 2000]


def test_backtest_tidy_output_and_intervals(cohorts):
    with pytest.warns(FutureWarning, match="'k' parameter of backtest was renamed"):
        result = rm.backtest(cohorts, DATES, k=[0.05, 100], n_boot=40, random_state=1)
    assert set(result["model"]) == {"riskmodel", "rule", "school", "logistic"}
    assert len(result) == 2 * 2 * 4  # test dates x k values x models
    for col in ["n", "prevalence", "k", "k_share", "roc_auc", "average_precision", "brier", "ece",
                "precision_at_k", "recall_at_k", "lift_at_k"]:
        assert col in result.columns
    for metric in ["roc_auc", "average_precision", "brier", "ece", "precision_at_k", "recall_at_k", "lift_at_k"]:
        assert (result[f"{metric}_low"] <= result[f"{metric}_high"]).all()
    # ECE's bootstrap is biased upwards (binning noise adds error), so it is not checked here
    for metric in ["roc_auc", "average_precision", "brier", "precision_at_k", "recall_at_k", "lift_at_k"]:
        # the percentile interval brackets the point estimate on these cohorts
        inside = (result[f"{metric}_low"] <= result[metric] + 1e-12) & (result[metric] <= result[f"{metric}_high"] + 1e-12)
        assert inside.mean() >= 0.9
    assert sorted(result["k"].unique().tolist()) == [50, 100]
    np.testing.assert_allclose(result.loc[result["k"] == 50, "k_share"], 0.05)
    for base in ["rule", "school", "logistic"]:
        col = f"precision_at_k_minus_{base}"
        own = result["model"] == base
        assert result.loc[own, col].isna().all()
        assert result.loc[~own, col].notna().all()
        assert (result.loc[~own, f"{col}_low"] <= result.loc[~own, f"{col}_high"]).all()
    assert "precision_at_k_minus_riskmodel" not in result.columns
    # the point estimates are those of metrics_at_k on the test cohort
    rule = result[(result["model"] == "rule") & (result["k"] == 100)].iloc[-1]
    X_test, y_test = cohorts[DATES[-1]]
    X_train = pd.concat([cohorts[d][0] for d in DATES[:2]])
    y_train = pd.concat([cohorts[d][1] for d in DATES[:2]])
    p = RuleBaseline().fit(X_train, y_train).predict_proba(X_test)[:, 1]
    assert rule["precision_at_k"] == pytest.approx(precision_at_k(y_test, p, k=100))
    assert rule["roc_auc"] == pytest.approx(roc_auc_score(y_test, p))


def test_capacity_as_count_or_share_one_rule(cohorts):
    """top_k / top_fraction name the capacity; a share is ceil(share * n) (resolve_capacity)."""
    models = {"rule": RuleBaseline()}
    by_k = rm.backtest(cohorts, DATES, models=models, top_k=[51, 2000], n_boot=10)
    by_share = rm.backtest(cohorts, DATES, models=models, top_fraction=[0.0505, 1.0], n_boot=10)
    assert by_k["k"].tolist() == by_share["k"].tolist() == [51, 1000, 51, 1000]  # n = 1000
    cols = ["precision_at_k", "precision_at_k_low", "precision_at_k_high", "recall_at_k"]
    pd.testing.assert_frame_equal(by_k[cols], by_share[cols])
    assert (by_share.loc[by_share["k"] == 1000, "recall_at_k"] == 1.0).all()
    with pytest.warns(FutureWarning, match="renamed 'top_fraction'"):
        old = rm.backtest(cohorts, DATES, models=models, k=1.0, n_boot=0)
    assert old["k"].tolist() == [1000, 1000]


def test_confidence_sets_the_interval_and_ci_is_its_old_name(cohorts):
    models = {"rule": RuleBaseline()}
    wide = rm.backtest(cohorts, DATES[:2], models=models, n_boot=50, confidence=0.99)
    narrow = rm.backtest(cohorts, DATES[:2], models=models, n_boot=50, confidence=0.5)
    assert (wide["roc_auc_high"] - wide["roc_auc_low"]).iloc[0] > (
        narrow["roc_auc_high"] - narrow["roc_auc_low"]).iloc[0]
    with pytest.warns(FutureWarning, match="'ci' parameter of backtest was renamed 'confidence'"):
        old = rm.backtest(cohorts, DATES[:2], models=models, n_boot=50, ci=0.99)
    pd.testing.assert_frame_equal(old, wide)


def test_default_draws_are_the_library_default(cohorts):
    import inspect

    from riskmodel._checks import CONFIDENCE, N_BOOT

    params = inspect.signature(rm.backtest).parameters
    assert params["n_boot"].default == N_BOOT and params["confidence"].default == CONFIDENCE


def test_paired_difference_of_a_model_with_itself_is_zero(cohorts):
    models = {"a": LogisticBaseline(), "b": LogisticBaseline(), "school": SchoolBaseline()}
    result = rm.backtest(cohorts, DATES, models=models, baselines=["b", "school"], n_boot=40)
    a = result[result["model"] == "a"]
    assert (a["precision_at_k_minus_b"] == 0).all()
    assert (a["precision_at_k_minus_b_low"] == 0).all() and (a["precision_at_k_minus_b_high"] == 0).all()
    # logistic on these features is clearly ahead of the school rate alone
    assert (a["precision_at_k_minus_school_low"] > 0).all()


def test_predictions_are_returned(cohorts):
    result, preds = rm.backtest(
        cohorts, DATES[:2], models={"rule": RuleBaseline()}, n_boot=0, return_predictions=True
    )
    assert len(preds) == 1000 and set(preds.columns) == {"test_date", "model", "pupil_id", "y_true", "y_prob"}
    assert np.isnan(result["roc_auc_low"]).all()


def test_bad_arguments(cohorts):
    with pytest.raises(ValueError, match="test date at least horizon_days"):
        rm.backtest(cohorts, DATES[:1])
    with pytest.raises(ValueError, match="'n_boot' parameter"):
        rm.backtest(cohorts, DATES, n_boot=-1)
    with pytest.raises(ValueError, match=r"'baselines' parameter of backtest must name models in "
                                         r"'models' \['rule'\]. Got \['nope'\] instead"):
        rm.backtest(cohorts, DATES, models={"rule": RuleBaseline()}, baselines=["nope"])
    with pytest.raises(TypeError, match="'models' parameter of backtest must be a non-empty"):
        rm.backtest(cohorts, DATES, models={})
    with pytest.raises(ValueError, match="without the as_of date"):
        rm.backtest({DATES[0]: cohorts[DATES[0]]}, DATES)
    with pytest.raises(ValueError, match="'top_fraction' parameter of backtest must be a float in the range"):
        rm.backtest(cohorts, DATES, top_fraction=1.5)
    with pytest.raises(ValueError, match="'top_k' parameter of backtest must be an int >= 1"):
        rm.backtest(cohorts, DATES, top_k=0)
    with pytest.raises(ValueError, match="'confidence' parameter of backtest must be a float"):
        rm.backtest(cohorts, DATES, confidence=1.0)
    with pytest.raises(ValueError, match="'as_of_dates' parameter of backtest must be a date without"):
        rm.backtest(cohorts, ["2021-10-01 08:00", *DATES[1:]])


def test_weighted_bootstrap_metrics_equal_explicit_resampling():
    """The fast bootstrap (row multiplicities on a pre-sorted cohort) equals resampling the rows."""
    rng = np.random.default_rng(0)
    n = 400
    p = np.round(rng.random(n), 2)  # many ties
    y = (rng.random(n) < p).astype(float)
    ranked = _Ranked(y, p, n_bins=10)
    ones = ranked.metrics(np.ones(n), 40)
    point = metrics_at_k(y, p, k=40)
    for key in ones:
        assert ones[key] == pytest.approx(point[key]), key
    for _ in range(5):
        idx = np.sort(rng.integers(0, n, n))  # sorted: tied rows keep their input order
        w = np.bincount(idx, minlength=n)
        fast = ranked.metrics(w, 40)
        yb, pb = y[idx], p[idx]
        assert fast["roc_auc"] == pytest.approx(roc_auc_score(yb, pb))
        assert fast["average_precision"] == pytest.approx(average_precision_score(yb, pb))
        slow = metrics_at_k(yb, pb, k=40)
        for key in ["brier", "ece", "mean_predicted", "precision_at_k", "recall_at_k", "lift_at_k"]:
            assert fast[key] == pytest.approx(slow[key]), key


def test_backtest_on_school_records():
    """End to end on the synthetic system: features, labels, default models."""
    world = rm.datasets.make_school_system(n_pupils=1200, n_years=3, random_state=2)
    # two test dates at least 365 days after the training date, outcomes observed by May 2025
    dates = ["2022-10-03", "2023-10-04", "2023-12-01"]
    result = rm.backtest(world.tables, dates, n_boot=20, top_fraction=0.1)
    assert len(result) == 8
    assert (result["train_dates"] == "2022-10-03").all()
    assert set(result["model"]) == {"riskmodel", "rule", "school", "logistic"}
    assert result["test_date"].dtype == "datetime64[ns]"
    assert result["n"].gt(500).all()
    # the pupil-level models beat chance; the school-only baseline has no pupil-level
    # signal and sits at chance on 1,200 pupils (0.49 and 0.61 here)
    pupil_level = result["model"] != "school"
    assert result.loc[pupil_level, "roc_auc"].between(0.6, 1.0).all()
    assert result.loc[~pupil_level, "roc_auc"].between(0.35, 1.0).all()

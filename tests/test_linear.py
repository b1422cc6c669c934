"""The linear start of RiskModel: a sign-bounded logistic regression kept as a scorecard."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from riskmodel import RiskModel
from riskmodel._linear import LinearScorecard


def _matrix(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.exponential(size=n)
    x2[rng.random(n) < 0.2] = np.nan
    cat = rng.integers(0, 30, n).astype(float)
    cat[cat >= 27] = rng.integers(27, 200, (cat >= 27).sum())  # a tail of rare levels
    cat[rng.random(n) < 0.05] = np.nan
    matrix = np.column_stack([x1, x2, cat, np.ones(n)])
    z = -2 + x1 - 0.5 * np.nan_to_num(x2, nan=2.0) + 0.8 * (np.nan_to_num(cat) % 3 == 0)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(float)
    weight = rng.uniform(0.5, 2.0, n)
    return matrix, [False, False, True, False], y, weight


def test_unbounded_fit_is_scikit_learns_logistic_regression():
    matrix, categorical, y, weight = _matrix()
    card = LinearScorecard(C=0.5).fit(matrix, categorical, y, weight)
    dense, onehot, *_ = card._design(matrix, categorical, weight, directions=[0, 0, 0, 0])
    design = np.column_stack([dense, onehot.toarray()])
    assert design.shape[1] == 2 + 1 + 27 + 1 + 1 + 1  # x1, x2 + missing, 27 levels, rare, missing, constant
    reference = LogisticRegression(C=0.5, tol=1e-10, max_iter=10_000).fit(design, y, sample_weight=weight)
    np.testing.assert_allclose(card.decision_function(matrix), reference.decision_function(design), atol=1e-4)
    assert card.converged_
    assert card.columns_[3]["slope"] == 0.0  # the constant column carries nothing


def test_contributions_add_up_exactly_and_centre_on_training_mean():
    matrix, categorical, y, weight = _matrix()
    card = LinearScorecard().fit(matrix, categorical, y, weight)
    values, base = card.contributions(matrix)
    np.testing.assert_allclose(values.sum(axis=1) + base, card.decision_function(matrix), rtol=0, atol=1e-12)
    np.testing.assert_allclose(weight @ values / weight.sum(), 0.0, atol=1e-12)


def test_sign_bounds_follow_directions():
    matrix, categorical, y, weight = _matrix()
    free = LinearScorecard().fit(matrix, categorical, y, weight)
    assert free.columns_[0]["slope"] > 0.5 and free.columns_[1]["slope"] < -0.2
    # directions the data agree with leave the slopes (x2 loses its missing indicator);
    # the opposite ones pin the slope at 0
    agree = LinearScorecard().fit(matrix, categorical, y, weight, directions=[1, -1, 0, 0])
    assert agree.columns_[0]["slope"] == pytest.approx(free.columns_[0]["slope"], rel=0.05)
    assert agree.columns_[1]["slope"] == pytest.approx(free.columns_[1]["slope"], rel=0.2)
    against = LinearScorecard().fit(matrix, categorical, y, weight, directions=[-1, 1, 0, 0])
    assert against.columns_[0]["slope"] == 0.0 and against.columns_[1]["slope"] == 0.0


def test_unseen_levels_score_as_missing_and_values_are_clipped():
    matrix, categorical, y, weight = _matrix()
    card = LinearScorecard().fit(matrix, categorical, y, weight)
    col = card.columns_[2]
    rare_value = col["values"][30]
    assert col["values"][35] == rare_value  # rare levels share one coefficient
    new = np.array([[0.0, 1.0, 500.0, 1.0], [0.0, 1.0, np.nan, 1.0], [100.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
    scores = card._column_scores(new)
    assert scores[0, 2] == scores[1, 2] == col["missing"]
    hi = np.nanmax(matrix[:, 0])
    assert scores[2, 0] == pytest.approx(card.columns_[0]["slope"] * hi)


def test_json_round_trip_predicts_identically():
    matrix, categorical, y, weight = _matrix()
    card = LinearScorecard().fit(matrix, categorical, y, weight)
    back = LinearScorecard.from_dict(json.loads(json.dumps(card.to_dict())))
    np.testing.assert_array_equal(back.decision_function(matrix), card.decision_function(matrix))


# ----------------------------------------------------------------------------- inside RiskModel


def _table(n, prevalence, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "absences": rng.poisson(6, n).astype(float),
        "grade": rng.normal(6.5, 1.5, n),
        "school": rng.choice([f"s{i}" for i in range(12)], n),
    })
    X.loc[rng.random(n) < 0.1, "grade"] = np.nan
    z = np.log(prevalence / (1 - prevalence)) + 0.15 * (X["absences"] - 6) - 0.4 * (X["grade"].fillna(6.5) - 6.5)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return X, y


def _additive(n=500, seed=0):
    """Log-odds linear in 3 of 11 columns: a logistic regression's home ground."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 11)), columns=[f"x{i}" for i in range(11)])
    z = -2.2 + 0.8 * X["x0"] - 0.6 * X["x1"] + 0.5 * X["x2"]
    return X, (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)


def _wide(n, p, seed=0):
    """Log-odds linear in 2 of ``p`` columns, about 10 % events."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"x{i}" for i in range(p)])
    z = -2.5 + 0.7 * X["x0"] - 0.5 * X["x1"]
    return X, (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)


def test_the_linear_start_chooses_its_penalty_by_held_out_log_loss():
    from scipy.special import expit
    from sklearn.metrics import log_loss

    from riskmodel._linear import LinearScorecard

    for seed in range(3):
        # 300 rows, 30 columns, about 30 events: C = 1 overfits, a strong penalty is chosen
        X, y = _wide(300, 30, seed=seed)
        model = RiskModel(random_state=0, linear=True, n_estimators=5).fit(X, y)
        assert model.linear_.C <= 0.03
        # and on new rows its log-odds are better probabilities than those of C = 1
        # (measured: 0.308-0.326 against 0.334-0.357)
        X_new, y_new = _wide(20_000, 30, seed=100 + seed)
        matrix = model._booster_matrix(X_new)
        weak = LinearScorecard(C=1.0).fit(model._booster_matrix(X), [False] * 30, y.astype(float), np.ones(len(y)))
        chosen_loss = log_loss(y_new, expit(model.linear_.decision_function(matrix)))
        assert chosen_loss < log_loss(y_new, expit(weak.decision_function(matrix))) - 0.02


def test_auto_lets_the_held_out_log_loss_choose_the_start():
    X, y = _additive()
    model = RiskModel(random_state=0).fit(X, y)
    losses = model.validation_log_loss_
    assert set(losses) == {"trees", "linear+trees"}
    assert (model.linear_ is not None) == (losses["linear+trees"] < losses["trees"])
    # each candidate alone reproduces its own cross-fitted loss
    forced = RiskModel(random_state=0, linear=True).fit(X, y)
    assert forced.validation_log_loss_ == {"linear+trees": losses["linear+trees"]}
    assert forced.linear_ is not None
    # a risk linear in its columns: the linear start wins (0.394 against 0.408)
    assert model.linear_ is not None
    # on _table (additive in absences and grade; school levels, missing grades, 8 % events)
    # the linear start at a chosen C = 0.1 wins too (0.2860 against the trees' 0.2891)
    table = RiskModel(random_state=0).fit(*_table(800, 0.08))
    assert table.linear_ is not None and table.linear_.C == 0.1
    assert table.validation_log_loss_["linear+trees"] < table.validation_log_loss_["trees"] - 0.002
    # with a hold-out (large tables) "auto" leaves it off; True still turns it on
    off = RiskModel(random_state=0, n_estimators=30, validation=0.25).fit(X, y)
    assert off.linear_ is None and set(off.validation_log_loss_) == {"trees"}
    on = RiskModel(random_state=0, n_estimators=30, validation=0.25, linear=True).fit(X, y)
    assert on.linear_ is not None and set(on.validation_log_loss_) == {"linear+trees"}


def test_linear_start_explains_exactly_and_survives_save_and_load(tmp_path):
    X, y = _table(800, 0.08)
    model = RiskModel(random_state=0, linear=True, monotone={"absences": 1, "grade": -1}).fit(X, y)
    explanation = model.explain(X)
    np.testing.assert_allclose(
        explanation.values.sum(axis=1) + explanation.base_value, model.decision_function(X), atol=1e-9
    )
    assert model.linear_.columns_[0]["slope"] >= 0 and model.linear_.columns_[1]["slope"] <= 0
    loaded = RiskModel.load(model.save(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.explain(X).values.to_numpy(), explanation.values.to_numpy())


def test_held_out_scores_stay_honest_on_noise():
    # each fold fits its own linear start; had it seen its held-out rows, the calibration
    # would trust an overfitted score. On fresh noise the probabilities must then be no
    # worse than the base rate (calibrating on in-sample scores instead costs 0.007 to
    # 0.036 of Brier score on these data)
    from sklearn.metrics import brier_score_loss

    rng = np.random.default_rng(3)
    columns = [f"v{i}" for i in range(30)]
    X = pd.DataFrame(rng.normal(size=(600, 30)), columns=columns)
    y = (rng.random(600) < 0.1).astype(int)
    X_new = pd.DataFrame(rng.normal(size=(20_000, 30)), columns=columns)
    y_new = (rng.random(20_000) < 0.1).astype(int)
    p = RiskModel(random_state=0, linear=True).fit(X, y).predict_proba(X_new)[:, 1]
    base_rate = brier_score_loss(y_new, np.full(len(y_new), y.mean()))
    assert brier_score_loss(y_new, p) < base_rate + 0.002
    assert abs(p.mean() - y.mean()) < 0.02


def test_bad_linear_parameter_raises():
    X, y = _table(300, 0.2)
    with pytest.raises(ValueError, match="'linear' parameter"):
        RiskModel(linear="yes").fit(X, y)


def test_auto_ranks_a_small_additive_table_near_the_logistic_regression():
    # trees alone 0.682, auto 0.691, logistic 0.705 (5-fold ROC AUC, 79 events in 500 rows)
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from riskmodel import LogisticBaseline

    X, y = _additive()
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    auc = {
        name: cross_val_score(model, X, y, cv=cv, scoring="roc_auc").mean()
        for name, model in [
            ("auto", RiskModel(random_state=0)),
            ("trees", RiskModel(random_state=0, linear=False)),
            ("logistic", LogisticBaseline()),
        ]
    }
    assert auc["auto"] > auc["trees"] + 0.005
    assert auc["auto"] > auc["logistic"] - 0.02


def test_a_column_with_a_direction_is_explained_in_its_direction():
    # x2 is 20 % missing, and missing carries its own risk; with a direction the column
    # gets no indicator, so a present value above the (imputed) mean never lowers the
    # risk of a -1 column, nor a value below it raises it
    matrix, categorical, y, weight = _matrix()
    card = LinearScorecard().fit(matrix, categorical, y, weight, directions=[1, -1, 0, 0])
    values, _ = card.contributions(matrix)
    x2 = matrix[:, 1]
    present = ~np.isnan(x2)
    imputed_mean = weight @ np.where(present, x2, np.nanmedian(x2)) / weight.sum()
    assert card.columns_[1]["slope"] < 0
    assert (values[present & (x2 > imputed_mean), 1] < 0).all()
    assert (values[present & (x2 < imputed_mean), 1] > 0).all()
    # without a direction the indicator stays and shifts the centre
    free = LinearScorecard().fit(matrix, categorical, y, weight)
    assert free.columns_[1]["missing"] != pytest.approx(free.columns_[1]["slope"] * np.nanmedian(x2))


def _schools(n, seed, effects):
    """60 schools with their own effects (about 8 pupils each in 500 rows) and one numeric column."""
    rng = np.random.default_rng(seed)
    school = rng.integers(0, 60, n)
    X = pd.DataFrame({"school": np.char.add("s", school.astype(str)).astype(object), "x": rng.normal(size=n)})
    z = -1.5 + effects[school] + 0.5 * X["x"]
    return X, (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)


def test_the_linear_start_keeps_every_level_of_a_many_level_column():
    # pooling the levels seen fewer than 10 times pooled nearly the whole column; every level
    # its own (penalised) coefficient ranks new pupils better (measured ROC AUC 0.671-0.703
    # against 0.627-0.654 pooled, at the same C), and the explanation names the column
    from sklearn.metrics import roc_auc_score

    for seed in range(2):
        effects = np.random.default_rng(100 + seed).normal(0, 0.8, 60)
        X, y = _schools(500, seed, effects)
        X_new, y_new = _schools(20_000, 50 + seed, effects)
        model = RiskModel(random_state=0, linear=True, n_estimators=5).fit(X, y)
        values = model.linear_.columns_[0]["values"]
        assert len(set(np.round(values, 12))) == 60
        matrix, new = model._booster_matrix(X), model._booster_matrix(X_new)
        pooled = LinearScorecard(C=model.linear_.C, min_frequency=10).fit(
            matrix, [True, False], y.astype(float), np.ones(len(y)))
        auc = roc_auc_score(y_new, model.linear_.decision_function(new))
        assert auc > roc_auc_score(y_new, pooled.decision_function(new)) + 0.03
        explanation = model.explain(X_new.head(2_000))
        assert explanation.values["school"].std() > explanation.values["x"].std()

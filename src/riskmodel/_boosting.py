"""The boosting steps of :meth:`RiskModel.fit <riskmodel.model.RiskModel.fit>` (private).

``RiskModel.fit`` checks its input and hands a :class:`FitData` and the
estimator's :class:`BoostSettings` to one of two steps:

- :func:`fit_holdout` -- one stratified hold-out: trees (optionally started from
  the linear part) early-stopped on it; the hold-out scores fit the calibration.
- :func:`fit_cross` -- K-fold cross-fitting: every candidate (trees alone, trees
  started from the linear part) boosts all folds in step and stops on the mean
  held-out loss; the lower loss wins, the out-of-fold scores fit the calibration,
  and the final booster is trained on all rows with the best number of rounds.

Both return a :class:`BoostResult`. Everything comes in as arguments; nothing is
kept between calls.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from ._linear import LinearScorecard

__all__ = ["BoostResult", "BoostSettings", "FitData", "fit_cross", "fit_holdout", "lgb_params", "n_threads"]

#: below this many rows of the rarer class a table is "small": categorical splits need
#: only ``min_data_in_leaf`` rows a side (see :func:`lgb_params`); at and above it, the
#: parameters are those of riskmodel 1.9 (the synthetic school system has far more)
FEW_EVENTS = 200

#: inverse L2 strengths the linear start chooses from, by its mean held-out log-loss on the
#: boosting's own folds (or hold-out). With C = 1 alone, on a few hundred rows with many
#: columns the linear part was overconfident: its held-out log-loss was worse than the trees'
#: (0.25-0.31 against 0.21-0.25 on UCI GP), so "auto" dropped it, although it ranked better
#: than the trees
LINEAR_C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)

#: the linear start gives every category level seen in training its own coefficient and
#: lets the L2 penalty (its C chosen on held-out rows) shrink the rare ones to the intercept,
#: as a random-effects model would. Pooling the levels seen fewer than 10 times, as before,
#: pooled all of a 60-level column with about 8 rows per level (benchmarks/bench_model.py,
#: "categorical (500 x5)": ROC AUC 0.653 pooled, 0.665 with every level)
LINEAR_MIN_FREQUENCY = 1

#: keys of ``validation_log_loss_``, by whether the boosting starts from the linear part
CANDIDATE_NAMES = {False: "trees", True: "linear+trees"}


class BoostSettings(NamedTuple):
    """The estimator parameters the boosting reads (validated by RiskModel)."""

    learning_rate: float
    n_estimators: int
    early_stopping_rounds: int
    num_leaves: object  # "auto" or int
    min_child_samples: object  # "auto" or int
    feature_fraction: float
    bagging_fraction: float
    reg_lambda: float
    n_jobs: object  # None or int


class FitData(NamedTuple):
    """The validated training rows as the boosting sees them."""

    matrix: np.ndarray  # float64 (n, p): numeric values, category codes, NaN
    y01: np.ndarray  # float64 0/1
    weight: np.ndarray  # float64
    categorical: list  # bool per column
    booster_names: list  # column names inside the booster
    monotone: list | None  # +1/-1/0 per column, or None
    groups: np.ndarray | None  # rows with the same group stay in one fold
    seed: int
    n_minority: int  # rows of the rarer class (for num_leaves="auto")


class BoostResult(NamedTuple):
    """What the boosting learnt, and the held-out scores the calibration is fitted on."""

    booster: object  # lightgbm.Booster
    linear: LinearScorecard | None
    best_iteration: int
    validation_log_loss: dict
    oof_idx: np.ndarray
    oof_score: np.ndarray


def n_threads(n_jobs, n_rows):
    """LightGBM threads for ``n_jobs`` on a table of ``n_rows``.

    Examples
    --------
    >>> n_threads(None, 1_000), n_threads(3, 1_000)
    (1, 3)
    """
    if n_jobs is None:
        # threads only pay off on larger tables; on small ones OpenMP start-up and
        # contention with other processes cost more than they save
        return 1 if n_rows < 50_000 else (os.cpu_count() or 1)
    if n_jobs > 0:
        return int(n_jobs)
    return max(1, (os.cpu_count() or 1) + 1 + int(n_jobs))


def lgb_params(settings, n_train, n_minority, seed, monotone):
    """LightGBM parameters for ``n_train`` training rows, ``n_minority`` of the rarer class.

    Examples
    --------
    >>> s = BoostSettings(0.05, 100, 10, "auto", "auto", 0.8, 0.8, 10.0, None)
    >>> p = lgb_params(s, n_train=1_000, n_minority=60, seed=0, monotone=None)
    >>> p["num_leaves"], p["min_data_in_leaf"], p["min_data_per_group"]
    (7, 20, 20)
    >>> lgb_params(s, n_train=20_000, n_minority=600, seed=0, monotone=None)["min_data_per_group"]
    100
    """
    if settings.num_leaves == "auto":
        leaves = 7 if n_minority < 2_000 else 15 if n_minority < 10_000 else 31
    else:
        leaves = int(settings.num_leaves)
    if settings.min_child_samples == "auto":
        mcs = max(min(20, n_train // 10), n_train // 2000, 2)
    else:
        mcs = int(settings.min_child_samples)
    params = {
        "objective": "binary",
        "metric": "binary_logloss",
        "learning_rate": float(settings.learning_rate),
        "num_leaves": leaves,
        "min_data_in_leaf": int(mcs),
        "min_sum_hessian_in_leaf": 1e-3,
        "feature_fraction": float(settings.feature_fraction),
        "bagging_fraction": float(settings.bagging_fraction),
        "bagging_freq": 1 if settings.bagging_fraction < 1 else 0,
        "lambda_l2": float(settings.reg_lambda),
        "max_cat_to_onehot": 4,
        "cat_smooth": 10.0,
        "cat_l2": 10.0,
        # LightGBM's default: a side of a categorical split needs 100 rows. With few
        # events (small tables) that bars nearly every category split (a 5-level answer
        # in 240 rows), so there it needs only as many rows as a leaf
        "min_data_per_group": int(mcs) if n_minority < FEW_EVENTS else 100,
        "max_bin": 255,
        "seed": int(seed),
        "deterministic": True,
        "feature_pre_filter": False,
        "verbosity": -1,
        "num_threads": n_threads(settings.n_jobs, n_train),
    }
    if monotone is not None:
        params["monotone_constraints"] = monotone
        params["monotone_constraints_method"] = "intermediate"
    return params


# --------------------------------------------------------------------------- pieces


def _linear_part(data, idx, C):
    """The linear start fitted on rows ``idx`` with inverse L2 strength ``C`` (None: no start)."""
    if C is None:
        return None
    card = LinearScorecard(C=C, min_frequency=LINEAR_MIN_FREQUENCY)
    return card.fit(data.matrix[idx], data.categorical, data.y01[idx], data.weight[idx], data.monotone)


def choose_linear_c(data, splits, grid=LINEAR_C_GRID):
    """``(C, parts)``: the C of ``grid`` whose linear part has the lowest mean held-out
    log-loss over ``splits``, and those parts (one per split, fitted on its training rows).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> matrix = rng.normal(size=(200, 30)); y = (matrix[:, 0] + rng.normal(size=200) > 1.5).astype(float)
    >>> data = FitData(matrix, y, np.ones(200), [False] * 30, None, None, None, 0, int(y.sum()))
    >>> C, parts = choose_linear_c(data, [(np.arange(100), np.arange(100, 200))])
    >>> C < 1.0, len(parts)
    (True, 1)
    """
    best = (np.inf, None, None)
    for C in grid:
        parts, loss = [], 0.0
        for train_idx, valid_idx in splits:
            parts.append(_linear_part(data, train_idx, C))
            z = parts[-1].decision_function(data.matrix[valid_idx])
            y, w = data.y01[valid_idx], data.weight[valid_idx]
            loss += float(w @ (np.logaddexp(0.0, z) - y * z)) / float(w.sum())
        if loss < best[0]:
            best = (loss, float(C), parts)
    return best[1], best[2]


def _offset(part, data, idx):
    return None if part is None else part.decision_function(data.matrix[idx])


def _dataset(data, settings, idx, part, reference=None):
    import lightgbm as lgb

    return lgb.Dataset(
        data.matrix[idx],
        label=data.y01[idx],
        weight=data.weight[idx],
        init_score=_offset(part, data, idx),
        feature_name=data.booster_names,
        categorical_feature=[j for j, is_cat in enumerate(data.categorical) if is_cat],
        reference=reference,
        free_raw_data=True,
        params={"verbosity": -1, "max_bin": 255, "feature_pre_filter": False,
                "num_threads": n_threads(settings.n_jobs, len(idx))},
    )


def _raw_score(booster, part, data, idx, num_iteration=None):
    score = booster.predict(data.matrix[idx], raw_score=True, num_iteration=num_iteration)
    return score if part is None else score + _offset(part, data, idx)


def _params(data, settings, n_train):
    return lgb_params(settings, n_train, data.n_minority, data.seed, data.monotone)


# --------------------------------------------------------------------------- hold-out


def fit_holdout(data, settings, share, use_linear):
    """Trees early-stopped on one hold-out of ``share`` of the rows (stratified, or by group).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> matrix, y = make_classification(n_samples=400, n_features=2, n_redundant=0, random_state=0)
    >>> data = FitData(matrix, y.astype(float), np.ones(400), [False] * 2, ["a", "b"], None, None, 0, 200)
    >>> settings = BoostSettings(0.1, 50, 10, "auto", "auto", 1.0, 1.0, 0.0, 1)
    >>> result = fit_holdout(data, settings, 0.25, use_linear=False)
    >>> len(result.oof_idx), list(result.validation_log_loss)
    (100, ['trees'])
    """
    import lightgbm as lgb
    from sklearn.model_selection import GroupShuffleSplit, StratifiedShuffleSplit

    if data.groups is None:
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=share, random_state=data.seed)
        train_idx, valid_idx = next(splitter.split(data.matrix, data.y01))
    else:
        splitter = GroupShuffleSplit(n_splits=1, test_size=share, random_state=data.seed)
        train_idx, valid_idx = next(splitter.split(data.matrix, data.y01, data.groups))
    if len(np.unique(data.y01[valid_idx])) < 2 or len(np.unique(data.y01[train_idx])) < 2:
        raise ValueError(
            "The hold-out split of RiskModel left one class out; use more rows or "
            "an int 'validation' (cross-fitting)."
        )
    part = choose_linear_c(data, [(train_idx, valid_idx)])[1][0] if use_linear else None
    dtrain = _dataset(data, settings, train_idx, part)
    booster = lgb.train(
        _params(data, settings, len(train_idx)),
        dtrain,
        num_boost_round=int(settings.n_estimators),
        valid_sets=[_dataset(data, settings, valid_idx, part, reference=dtrain)],
        valid_names=["holdout"],
        callbacks=[lgb.early_stopping(int(settings.early_stopping_rounds), verbose=False)],
    )
    best = int(booster.best_iteration or booster.current_iteration())
    loss = {CANDIDATE_NAMES[part is not None]: float(booster.best_score["holdout"]["binary_logloss"])}
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    return BoostResult(booster, part, best, loss, valid_idx, _raw_score(booster, part, data, valid_idx))


# --------------------------------------------------------------------------- cross-fitting


def _fold_splits(data, n_folds):
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold, StratifiedKFold

    if data.groups is None:
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=data.seed)
        return list(splitter.split(data.matrix, data.y01))
    if data.groups.max() < 5_000:
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=data.seed)
    else:  # StratifiedGroupKFold is slow with many groups; random groups balance well enough
        splitter = GroupKFold(n_splits=n_folds, shuffle=True, random_state=data.seed)
    return list(splitter.split(data.matrix, data.y01, data.groups))


def _boost_folds_in_step(data, settings, splits, params, parts):
    """``(best rounds, mean held-out loss, folds)`` of one candidate boosted on every fold
    (started from that fold's linear part in ``parts``, or from nothing where it is None).

    All folds boost in step and stop on the mean held-out loss, which is far less
    noisy on small tables than stopping each fold on its own (as lightgbm.cv does;
    written out here because each fold's linear start is fitted on its own rows).
    """
    import lightgbm as lgb

    folds = []
    for (train_idx, valid_idx), part in zip(splits, parts):
        dtrain = _dataset(data, settings, train_idx, part)
        fold_booster = lgb.Booster(params, dtrain)
        fold_booster.add_valid(_dataset(data, settings, valid_idx, part, reference=dtrain), "holdout")
        folds.append((valid_idx, part, fold_booster))
    best, best_loss = 0, np.inf
    for iteration in range(1, int(settings.n_estimators) + 1):
        losses = []
        for _, _, fold_booster in folds:
            fold_booster.update()
            losses.append(fold_booster.eval_valid()[0][2])
        loss = float(np.mean(losses))
        if loss < best_loss:
            best, best_loss = iteration, loss
        elif iteration - best >= int(settings.early_stopping_rounds):
            break
    return best, best_loss, folds


def fit_cross(data, settings, n_folds, candidates):
    """Cross-fitted trees; ``candidates`` lists the linear starts to compare (False, True).

    The candidate with the lower mean held-out log-loss wins; its out-of-fold
    scores are returned for the calibration, and the final booster (with its own
    linear part on all rows) is trained for the best number of rounds.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> matrix = rng.normal(size=(300, 2)); y = (matrix[:, 1] > 0).astype(float)
    >>> data = FitData(matrix, y, np.ones(300), [False, False], ["u", "v"], [0, 1], None, 1, int(y.sum()))
    >>> result = fit_cross(data, BoostSettings(0.1, 40, 5, 7, 10, 1.0, 1.0, 1.0, 1), 3, [False, True])
    >>> sorted(result.validation_log_loss), len(result.oof_score)
    (['linear+trees', 'trees'], 300)
    """
    import lightgbm as lgb

    n = len(data.y01)
    k = int(min(n_folds, data.n_minority))
    splits = _fold_splits(data, k)
    params = _params(data, settings, int(n * (k - 1) / k))
    linear_c, linear_parts = choose_linear_c(data, splits) if True in candidates else (None, None)
    fits = {use: _boost_folds_in_step(data, settings, splits, params, linear_parts if use else [None] * k)
            for use in candidates}
    loss = {CANDIDATE_NAMES[use]: fit[1] for use, fit in fits.items()}
    use_linear = min(fits, key=lambda use: fits[use][1])
    best, _, folds = fits[use_linear]
    oof_score = np.empty(n)
    for valid_idx, part, fold_booster in folds:
        oof_score[valid_idx] = _raw_score(fold_booster, part, data, valid_idx, num_iteration=best)
    all_idx = np.arange(n)
    part = _linear_part(data, all_idx, linear_c if use_linear else None)
    booster = lgb.train(_params(data, settings, n), _dataset(data, settings, all_idx, part), num_boost_round=best)
    return BoostResult(booster, part, best, loss, all_idx, oof_score)

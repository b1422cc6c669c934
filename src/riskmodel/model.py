"""Risk model (LightGBM, calibrated) and the baselines it is always shown beside.

- :class:`RiskModel` -- gradient-boosted trees (LightGBM) with defaults chosen for
  rare-event ranking on pupil tables from a few hundred to a few hundred thousand
  rows, calibrated probabilities, exact explanations and a pickle-free file format.
- :class:`RuleBaseline` -- an ABC-style early-warning rule (attendance, core-subject
  failure, over-age, liecība) scored by how many conditions hold.
- :class:`SchoolBaseline` -- every pupil gets their school's past early-leaving rate.
- :class:`LogisticBaseline` -- imputation, scaling, one-hot encoding and an L2
  logistic regression.

All four are scikit-learn classifiers for a binary target; ``predict_proba[:, 1]``
ranks pupils exactly as ``decision_function`` does.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from ._linear import LinearScorecard

__all__ = ["RiskModel", "RuleBaseline", "SchoolBaseline", "LogisticBaseline"]

logger = logging.getLogger(__name__)

_FORMAT_VERSION = 2  # 2: the linear start (format 1 files load as models without one)
_CANDIDATE_NAMES = {False: "trees", True: "linear+trees"}  # keys of validation_log_loss_
_MODEL_FILE = "model.txt"
_META_FILE = "riskmodel.json"
_BAD_NAME_CHARS = re.compile(r'[\s\[\]{}",:]')

_UP = {"+", "+1", "1", "up", "increasing", "increase", "positive", "higher_is_riskier", "higher"}
_DOWN = {"-", "-1", "down", "decreasing", "decrease", "negative", "lower_is_riskier", "lower"}


# --------------------------------------------------------------------------- input


def _check_y(y, n_samples, name):
    """Validate a binary target; return (classes, y01)."""
    y = column_or_1d(y, warn=True)
    if len(y) != n_samples:
        raise ValueError(
            f"Found input variables with inconsistent numbers of samples: X has "
            f"{n_samples} rows, y has {len(y)}."
        )
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        check_array(y, ensure_2d=False, dtype=None, ensure_all_finite=True, input_name="y")
    if y.dtype == object and pd.isna(y).any():
        raise ValueError(f"Input y contains NaN/None ({int(pd.isna(y).sum())} rows); {name} needs a label for every row.")
    check_classification_targets(y)
    y_type = type_of_target(y, input_name="y", raise_unknown=True)
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(
            f"{name} needs both classes in y to fit; got only one class: {classes.tolist()}."
        )
    if y_type != "binary":
        raise ValueError(
            f"Only binary classification is supported. The type of the target is {y_type}."
        )
    return classes, (y == classes[1]).astype(np.float64)


def _check_sample_weight(sample_weight, n_samples):
    if sample_weight is None:
        return np.ones(n_samples, dtype=np.float64)
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 0:
        w = np.full(n_samples, float(w))
    if w.shape != (n_samples,):
        raise ValueError(
            f"sample_weight.shape == {w.shape}, expected ({n_samples},)."
        )
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("sample_weight must be finite and non-negative.")
    return w


def _column_kind(col, name):
    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype) or dtype == object or pd.api.types.is_string_dtype(dtype):
        return "categorical"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_complex_dtype(dtype):
        raise TypeError(f"Column {name!r} has complex dtype {dtype}; complex data is not supported.")
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    raise TypeError(
        f"Column {name!r} has dtype {dtype}, which RiskModel cannot use. Allowed: numeric, bool, "
        "category, object or str columns; convert dates to numbers (e.g. days since an event) first."
    )


def _as_str_values(col):
    """Non-missing values as str, missing as NaN (object array)."""
    out = col.astype(object)
    mask = col.isna().to_numpy()
    values = np.array([str(v) for v in out.to_numpy()], dtype=object)
    values[mask] = np.nan
    return values


def _n_threads(n_jobs, n_rows):
    if n_jobs is None:
        # threads only pay off on larger tables; on small ones OpenMP start-up and
        # contention with other processes cost more than they save
        return 1 if n_rows < 50_000 else (os.cpu_count() or 1)
    if n_jobs > 0:
        return int(n_jobs)
    return max(1, (os.cpu_count() or 1) + 1 + int(n_jobs))


def _booster_names(names):
    clean = [_BAD_NAME_CHARS.sub("_", str(n)) for n in names]
    if len(set(clean)) != len(clean) or any(c == "" for c in clean):
        return [f"x{i}" for i in range(len(names))]
    return clean


class _TableInputMixin:
    """Shared handling of DataFrame / array input for the estimators in this module."""

    def _input_frame(self, X, *, reset):
        """Validate X; return a DataFrame with the fit-time column order and names."""
        if isinstance(X, pd.DataFrame):
            if not reset and hasattr(self, "feature_names_in_"):
                fit_names = list(self.feature_names_in_)
                cols = list(X.columns)
                if cols != fit_names and len(cols) == len(fit_names) and set(cols) == set(fit_names):
                    logger.debug("%s: reordering columns by name to the fit-time order", type(self).__name__)
                    X = X[fit_names]
            validate_data(self, X, reset=reset, skip_check_array=True)
            if X.shape[0] < 1:
                raise ValueError(
                    f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is required by "
                    f"{type(self).__name__}."
                )
            if X.shape[1] < 1:
                raise ValueError(
                    f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is required by "
                    f"{type(self).__name__}."
                )
            if reset:
                names = (
                    [str(c) for c in X.columns]
                    if hasattr(self, "feature_names_in_")
                    else [f"x{i}" for i in range(X.shape[1])]
                )
            else:
                names = list(self.feature_names_)
            if list(X.columns) != names:
                X = X.set_axis(names, axis=1)
            return X
        arr = validate_data(self, X, reset=reset, dtype="numeric", ensure_all_finite="allow-nan")
        names = [f"x{i}" for i in range(arr.shape[1])] if reset else list(self.feature_names_)
        return pd.DataFrame(arr, columns=names)


# --------------------------------------------------------------------------- calibration


def _fit_platt(score, y01, weight):
    """Platt scaling p = expit(a * score + b), with Platt's smoothed targets."""
    score = np.asarray(score, dtype=np.float64)
    pos = float(weight[y01 == 1].sum())
    neg = float(weight[y01 == 0].sum())
    target = np.where(y01 == 1, (pos + 1.0) / (pos + 2.0), 1.0 / (neg + 2.0))
    scale = float(np.std(score)) or 1.0

    def loss(ab):
        z = ab[0] * score / scale + ab[1]
        value = float(np.sum(weight * (np.logaddexp(0.0, z) - target * z)))
        d = weight * (expit(z) - target)
        return value, np.array([float(np.sum(d * score / scale)), float(np.sum(d))])

    x0 = np.array([scale, 0.0])
    # a higher score never means a lower risk; and when the held-out scores show no
    # evidence of ranking (a would be 0), the probabilities become all but flat (0.001
    # log-odds per standard deviation of the score) yet keep the scores' order, instead
    # of tying every pupil and leaving the choice to row order
    res = minimize(loss, x0, jac=True, method="L-BFGS-B", bounds=[(1e-3, None), (None, None)])
    a, b = res.x
    return {"a": float(a / scale), "b": float(b)}


def _fit_isotonic(score, y01, weight):
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    iso.fit(score, y01, sample_weight=weight)
    return {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}


def _apply_calibration(method, params, score):
    if method == "sigmoid":
        return expit(params["a"] * score + params["b"])
    if method == "isotonic":
        return np.interp(score, np.asarray(params["x"]), np.asarray(params["y"]))
    return expit(score)


def _proba_2col(p):
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    return np.column_stack([1.0 - p, p])


# --------------------------------------------------------------------------- registry


def _registry():
    """The feature registry, or an empty frame when it is not available."""
    try:
        from .features import registry
    except ImportError:  # features package not importable: no domains / directions
        logger.debug("riskmodel.features.registry is not available")
        return pd.DataFrame(columns=["domain", "direction"])
    return registry()


def _direction_to_int(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0
    if isinstance(value, (int, np.integer, float, np.floating)) and not isinstance(value, bool):
        return int(np.sign(value))
    text = str(value).strip().lower()
    if text in _UP:
        return 1
    if text in _DOWN:
        return -1
    return 0


# --------------------------------------------------------------------------- RiskModel


class RiskModel(_TableInputMixin, ClassifierMixin, BaseEstimator):
    """Calibrated early-leaving risk from any pupil-level table (LightGBM inside).

    The trees are fitted with LightGBM (binary log-loss, early stopping on rows held
    out of training), on small tables boosted from a penalised logistic regression
    where the held-out rows favour that (``linear``); the probabilities of
    :meth:`predict_proba` come from a calibration map fitted on scores of rows the
    trees did not see.

    Parameters
    ----------
    learning_rate : float, default=0.05
        Shrinkage of each boosting round.
    n_estimators : int, default=2000
        Largest number of boosting rounds; early stopping usually ends sooner.
    early_stopping_rounds : int, default=50
        Stop when the held-out log-loss has not improved for this many rounds.
    num_leaves : int or "auto", default="auto"
        Largest number of leaves per tree. ``"auto"`` grows with the number of
        rows of the rarer class m (rare events carry little information per row):
        7 when m < 2,000, 15 when m < 10,000, 31 above. Chosen by cross-validated
        experiments on varied tables (benchmarks/bench_model.py), where small trees
        beat LightGBM's default 31 leaves on tables of a few hundred to tens of
        thousands of pupils.
    min_child_samples : int or "auto", default="auto"
        Smallest number of rows in a leaf. ``"auto"`` scales with the number of
        training rows n: ``max(min(20, n // 10), n // 2000, 2)`` (20 from 200 rows
        up to 40,000, 100 for 200,000).
    feature_fraction : float, default=0.8
        Share of features each tree may use.
    bagging_fraction : float, default=0.8
        Share of rows each tree sees (re-drawn every round).
    reg_lambda : float, default=10.0
        L2 penalty on leaf values. With ``min_child_samples`` and ``num_leaves``
        chosen by cross-validation on varied tables (benchmarks/bench_model.py):
        strong shrinkage helps small tables and was neutral on large ones.
    validation : "auto", int >= 2 or float in (0, 1), default="auto"
        How rows are held out for early stopping and calibration. An int K means
        K-fold cross-fitting: K boosters are early-stopped on their held-out fold,
        their out-of-fold scores fit the calibration, and the final booster is refit
        on all rows with the mean best number of rounds. A float is the share of one
        stratified hold-out; the final booster is trained on the remaining rows only.
        ``"auto"``: 5-fold cross-fitting below 20,000 rows, a 20 % hold-out above.
        Rows sharing an index label (the same pupil in several as_of cohorts) stay in
        the same fold.
    calibration : {"sigmoid", "isotonic", None}, default="sigmoid"
        Calibration of the raw log-odds. ``"sigmoid"`` (Platt scaling) is strictly
        increasing, so probabilities rank pupils exactly like the raw scores;
        ``"isotonic"`` can create ties; ``None`` uses the trees' own log-odds.
    monotone : None, "registry" or dict, default="registry"
        Monotone constraints. ``"registry"`` takes the ``direction`` column of
        :func:`riskmodel.features.registry` (+1: risk rises with the feature) for
        the columns named there; other columns (a user's own table) are
        unconstrained. It costs about 0.001 ROC AUC on the synthetic system and
        keeps the explanations consistent with what a teacher expects (better
        grades never raise the risk; benchmarks/bench_explain.py).
        A dict maps feature name to +1/-1/0; None: no constraints.
        Categorical columns are never constrained.
    feature_domains : dict or None, default=None
        Feature -> domain for explanations; overrides the registry. Features in
        neither are in domain ``"other"``.
    handle_unknown : {"missing", "error"}, default="missing"
        What to do with category levels not seen at fit: treat them as missing
        values (logged), or raise a ``ValueError``.
    linear : "auto", True or False, default="auto"
        Start the boosting from a linear part: an L2-penalised logistic regression
        (C = 1 on standardised numeric columns, with missing-value indicators for
        columns without a direction, values clipped to the training range; one-hot
        categories) whose numeric coefficients
        keep the signs of ``monotone``. The trees then model what the linear part
        misses; :meth:`explain` adds its exact contributions to the trees'. Each
        cross-fitted fold fits its own linear part, so held-out scores stay honest.
        ``"auto"``: with cross-fitting (``validation`` an int, or ``"auto"`` below
        20,000 rows) both are fitted on the same folds and the lower mean held-out
        log-loss decides (``validation_log_loss_``). On a few hundred rows of a nearly
        additive risk the linear start ranks better than trees alone; on the synthetic
        school system the trees alone did (benchmarks/bench_model.py). With a hold-out
        (larger tables) ``"auto"`` leaves it off.
    n_jobs : int or None, default=None
        Threads for LightGBM. None: one thread below 50,000 training rows (faster
        there), all cores above; negative values count back from all cores.
    random_state : int, RandomState or None, default=None
        Seed for folds, bagging and feature sampling.

    Attributes
    ----------
    booster_ : lightgbm.Booster
        The fitted trees (final booster). Without a linear start its raw score is
        :meth:`decision_function`.
    linear_ : LinearScorecard or None
        The linear start (None when ``linear`` left it off): one score function per
        column plus an intercept (``linear_.columns_``, ``linear_.intercept_``).
    validation_log_loss_ : dict
        Mean held-out log-loss at the chosen number of rounds, per candidate
        (``"trees"``, ``"linear+trees"``).
    classes_ : ndarray of shape (2,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when fitted on a DataFrame with string column names.
    feature_names_ : list of str
        Column names used inside the model (``feature_names_in_`` or ``x0, x1, ...``).
    categories_ : dict
        Categorical feature -> list of levels (as str) learned at fit.
    feature_domains_ : dict
        Feature -> domain used by :meth:`explain`.
    calibration_ : dict
        ``{"method": ..., "params": ...}`` of the fitted calibration map.
    n_iter_ : int
        Number of boosting rounds of ``booster_``.

    Notes
    -----
    Input columns may be numeric, bool, category, object or str and may contain
    missing values. Object/str/category columns become LightGBM categorical features
    whose levels (compared as strings) are learned at fit; a level not seen at fit is
    treated as missing (``handle_unknown="missing"``). At predict time the columns
    must be the fit-time columns: a DataFrame with the same columns in another order
    is reordered by name; a missing or an extra column raises ``ValueError``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from riskmodel import RiskModel
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"absences": rng.poisson(5, 600), "school": rng.choice(["a", "b"], 600)})
    >>> y = (rng.random(600) < 0.05 + 0.02 * X["absences"]).astype(int)
    >>> model = RiskModel(random_state=0).fit(X, y)
    >>> p = model.predict_proba(X)[:, 1]
    >>> bool(((p > 0) & (p < 1)).all())
    True
    """

    def __init__(
        self,
        *,
        learning_rate=0.05,
        n_estimators=2000,
        early_stopping_rounds=50,
        num_leaves="auto",
        min_child_samples="auto",
        feature_fraction=0.8,
        bagging_fraction=0.8,
        reg_lambda=10.0,
        validation="auto",
        calibration="sigmoid",
        monotone="registry",
        feature_domains=None,
        handle_unknown="missing",
        linear="auto",
        n_jobs=None,
        random_state=None,
    ):
        self.learning_rate = learning_rate
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.feature_fraction = feature_fraction
        self.bagging_fraction = bagging_fraction
        self.reg_lambda = reg_lambda
        self.validation = validation
        self.calibration = calibration
        self.monotone = monotone
        self.feature_domains = feature_domains
        self.handle_unknown = handle_unknown
        self.linear = linear
        self.n_jobs = n_jobs
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        return tags

    # ------------------------------------------------------------------ params
    def _check_params(self):
        name = type(self).__name__

        def bad(param, allowed, value):
            return ValueError(
                f"The '{param}' parameter of {name} must be {allowed}. Got {value!r} instead."
            )

        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate <= 1):
            raise bad("learning_rate", "a float in (0, 1]", self.learning_rate)
        for param in ("n_estimators", "early_stopping_rounds"):
            value = getattr(self, param)
            if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1):
                raise bad(param, "an int >= 1", value)
        nl = self.num_leaves
        if not (nl == "auto" or (isinstance(nl, (int, np.integer)) and not isinstance(nl, bool) and nl >= 2)):
            raise bad("num_leaves", "'auto' or an int >= 2", nl)
        mcs = self.min_child_samples
        if not (mcs == "auto" or (isinstance(mcs, (int, np.integer)) and not isinstance(mcs, bool) and mcs >= 1)):
            raise bad("min_child_samples", "'auto' or an int >= 1", mcs)
        for param in ("feature_fraction", "bagging_fraction"):
            value = getattr(self, param)
            if not (isinstance(value, (int, float)) and 0 < value <= 1):
                raise bad(param, "a float in (0, 1]", value)
        if not (isinstance(self.reg_lambda, (int, float)) and self.reg_lambda >= 0):
            raise bad("reg_lambda", "a float >= 0", self.reg_lambda)
        v = self.validation
        ok = (
            v == "auto"
            or (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 2)
            or (isinstance(v, float) and 0 < v < 1)
        )
        if not ok:
            raise bad("validation", "'auto', an int >= 2 or a float in (0, 1)", v)
        if self.calibration not in ("sigmoid", "isotonic", None):
            raise bad("calibration", "one of 'sigmoid', 'isotonic' or None", self.calibration)
        if not (self.monotone is None or self.monotone == "registry" or isinstance(self.monotone, dict)):
            raise bad("monotone", "None, 'registry' or a dict of feature -> +1/-1/0", self.monotone)
        if not (self.feature_domains is None or isinstance(self.feature_domains, dict)):
            raise bad("feature_domains", "None or a dict of feature -> domain", self.feature_domains)
        if self.handle_unknown not in ("missing", "error"):
            raise bad("handle_unknown", "'missing' or 'error'", self.handle_unknown)
        if not (self.linear == "auto" or self.linear is True or self.linear is False):
            raise bad("linear", "'auto', True or False", self.linear)
        if not (self.n_jobs is None or (isinstance(self.n_jobs, (int, np.integer)) and self.n_jobs != 0)):
            raise bad("n_jobs", "None or a non-zero int", self.n_jobs)

    def _lgb_params(self, n_train, seed):
        if self.num_leaves == "auto":
            m = self._n_minority
            leaves = 7 if m < 2_000 else 15 if m < 10_000 else 31
        else:
            leaves = int(self.num_leaves)
        if self.min_child_samples == "auto":
            mcs = max(min(20, n_train // 10), n_train // 2000, 2)
        else:
            mcs = int(self.min_child_samples)
        params = {
            "objective": "binary",
            "metric": "binary_logloss",
            "learning_rate": float(self.learning_rate),
            "num_leaves": leaves,
            "min_data_in_leaf": int(mcs),
            "min_sum_hessian_in_leaf": 1e-3,
            "feature_fraction": float(self.feature_fraction),
            "bagging_fraction": float(self.bagging_fraction),
            "bagging_freq": 1 if self.bagging_fraction < 1 else 0,
            "lambda_l2": float(self.reg_lambda),
            "max_cat_to_onehot": 4,
            "cat_smooth": 10.0,
            "cat_l2": 10.0,
            "min_data_per_group": 100,
            "max_bin": 255,
            "seed": int(seed),
            "deterministic": True,
            "feature_pre_filter": False,
            "verbosity": -1,
            "num_threads": _n_threads(self.n_jobs, n_train),
        }
        if self._monotone_list is not None:
            params["monotone_constraints"] = self._monotone_list
            params["monotone_constraints_method"] = "intermediate"
        return params

    # ------------------------------------------------------------------ schema
    def _learn_schema(self, frame):
        kinds, categories, dtypes = {}, {}, {}
        for name in frame.columns:
            col = frame[name]
            kind = _column_kind(col, name)
            kinds[name] = kind
            dtypes[name] = str(col.dtype)
            if kind == "categorical":
                if isinstance(col.dtype, pd.CategoricalDtype):
                    levels = [str(c) for c in col.cat.categories]
                    levels = list(dict.fromkeys(levels))
                else:
                    levels = sorted(set(v for v in _as_str_values(col) if isinstance(v, str)))
                categories[name] = levels
        self._kinds = kinds
        self.categories_ = categories
        self._dtypes = dtypes

    def _booster_matrix(self, X):
        """The float64 matrix fed to ``booster_.predict`` for ``X``.

        Columns in fit order; numeric and bool columns as floats; categorical
        columns as integer level codes; NaN for missing values and unseen levels.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features_in_)

        Returns
        -------
        ndarray of shape (n_samples, n_features_in_), float64
        """
        check_is_fitted(self, "booster_")
        frame = self._input_frame(X, reset=False)
        return self._matrix_from_frame(frame)

    def _matrix_from_frame(self, frame):
        n = len(frame)
        out = np.empty((n, len(self.feature_names_)), dtype=np.float64)
        for j, name in enumerate(self.feature_names_):
            col = frame[name]
            kind = self._kinds[name]
            if kind == "categorical":
                levels = pd.Index(self.categories_[name], dtype=object)
                if isinstance(col.dtype, pd.CategoricalDtype):
                    lookup = levels.get_indexer(pd.Index([str(c) for c in col.cat.categories], dtype=object))
                    codes = col.cat.codes.to_numpy()
                    mapped = np.where(codes >= 0, lookup[np.maximum(codes, 0)], -1)
                    present = codes >= 0
                else:
                    values = _as_str_values(col)
                    present = ~pd.isna(values)
                    mapped = levels.get_indexer(pd.Index(values, dtype=object))
                unknown = present & (mapped < 0)
                if unknown.any():
                    examples = sorted(set(map(str, np.asarray(col.astype(object))[unknown][:1000])))[:5]
                    if self.handle_unknown == "error":
                        raise ValueError(
                            f"Column {name!r} has {int(unknown.sum())} value(s) at levels not seen at fit, "
                            f"e.g. {examples}; with handle_unknown='error' this is not allowed "
                            "(use handle_unknown='missing' to treat them as missing)."
                        )
                    logger.info(
                        "Column %r: %d value(s) at levels unseen at fit (e.g. %s) treated as missing",
                        name, int(unknown.sum()), examples,
                    )
                out[:, j] = np.where(mapped >= 0, mapped, np.nan)
            else:
                if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
                    try:
                        col = pd.to_numeric(col.astype(object), errors="raise")
                    except (ValueError, TypeError) as exc:
                        raise TypeError(
                            f"Column {name!r} was numeric at fit but now holds non-numeric values "
                            f"(dtype {col.dtype}): {exc}"
                        ) from None
                if pd.api.types.is_datetime64_any_dtype(col.dtype) or pd.api.types.is_timedelta64_dtype(col.dtype):
                    raise TypeError(f"Column {name!r} was numeric at fit but is {col.dtype} now.")
                out[:, j] = col.to_numpy(dtype=np.float64, na_value=np.nan)
        return out

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, sample_weight=None):
        """Fit the trees and the calibration.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Pupil-level table; numeric, bool, category, object/str columns, NaN allowed.
        y : array-like of shape (n_samples,)
            Binary target (two distinct labels; ``classes_[1]`` is the event).
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        import lightgbm as lgb
        from sklearn.model_selection import (
            GroupKFold,
            GroupShuffleSplit,
            StratifiedGroupKFold,
            StratifiedKFold,
            StratifiedShuffleSplit,
        )

        self._check_params()
        for attr in ("feature_names_in_", "n_features_in_"):
            if hasattr(self, attr):
                delattr(self, attr)
        frame = self._input_frame(X, reset=True)
        n = len(frame)
        classes, y01 = _check_y(y, n, type(self).__name__)
        weight = _check_sample_weight(sample_weight, n)
        if weight.sum() <= 0:
            raise ValueError("sample_weight is zero for every row; at least some weights must be non-zero.")
        if weight[y01 == 1].sum() <= 0 or weight[y01 == 0].sum() <= 0:
            raise ValueError(
                f"{type(self).__name__} needs both classes with positive sample_weight; "
                "after weighting only one class is present."
            )
        self.classes_ = classes
        self.feature_names_ = list(frame.columns)
        self._learn_schema(frame)
        matrix = self._matrix_from_frame(frame)
        self._booster_feature_names = _booster_names(self.feature_names_)
        self._monotone_list = self._monotone_constraints()
        self.feature_domains_ = self._domains()
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        categorical = [self._kinds[f] == "categorical" for f in self.feature_names_]
        cat_idx = [j for j, is_cat in enumerate(categorical) if is_cat]

        # groups: repeated index labels (same pupil in several cohorts) stay together
        groups = None
        if isinstance(X, pd.DataFrame) and not X.index.is_unique:
            groups = pd.factorize(X.index)[0]

        validation = self.validation
        if validation == "auto":
            validation = 5 if n < 20_000 else 0.2
        n_min = int(min((y01 == 1).sum(), (y01 == 0).sum()))
        self._n_minority = n_min
        if n_min < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 rows of each class to hold rows out for early "
                f"stopping and calibration; the smaller class has {n_min} row(s)."
            )

        def linear_part(idx, use_linear):
            if not use_linear:
                return None
            return LinearScorecard().fit(matrix[idx], categorical, y01[idx], weight[idx], self._monotone_list)

        def offset(part, idx):
            return None if part is None else part.decision_function(matrix[idx])

        def dataset(idx, part, reference=None):
            return lgb.Dataset(
                matrix[idx],
                label=y01[idx],
                weight=weight[idx],
                init_score=offset(part, idx),
                feature_name=self._booster_feature_names,
                categorical_feature=cat_idx,
                reference=reference,
                free_raw_data=True,
                params={"verbosity": -1, "max_bin": 255, "feature_pre_filter": False,
                        "num_threads": _n_threads(self.n_jobs, len(idx))},
            )

        def raw_score(booster, part, idx, num_iteration=None):
            score = booster.predict(matrix[idx], raw_score=True, num_iteration=num_iteration)
            return score if part is None else score + offset(part, idx)

        all_idx = np.arange(n)
        if isinstance(validation, float):
            if groups is None:
                splitter = StratifiedShuffleSplit(n_splits=1, test_size=validation, random_state=seed)
                train_idx, valid_idx = next(splitter.split(matrix, y01))
            else:
                splitter = GroupShuffleSplit(n_splits=1, test_size=validation, random_state=seed)
                train_idx, valid_idx = next(splitter.split(matrix, y01, groups))
            if len(np.unique(y01[valid_idx])) < 2 or len(np.unique(y01[train_idx])) < 2:
                raise ValueError(
                    f"The hold-out split of {type(self).__name__} left one class out; use more rows or "
                    "an int 'validation' (cross-fitting)."
                )
            # "auto" leaves the linear start off here: with this many rows the trees
            # ranked as well without it (benchmarks/bench_model.py)
            part = linear_part(train_idx, self.linear is True)
            dtrain = dataset(train_idx, part)
            booster = lgb.train(
                self._lgb_params(len(train_idx), seed),
                dtrain,
                num_boost_round=int(self.n_estimators),
                valid_sets=[dataset(valid_idx, part, reference=dtrain)],
                valid_names=["holdout"],
                callbacks=[lgb.early_stopping(int(self.early_stopping_rounds), verbose=False)],
            )
            best = int(booster.best_iteration or booster.current_iteration())
            self.validation_log_loss_ = {
                _CANDIDATE_NAMES[part is not None]: float(booster.best_score["holdout"]["binary_logloss"])
            }
            booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
            oof_idx = valid_idx
            oof_score = raw_score(booster, part, valid_idx)
        else:
            k = int(min(validation, n_min))
            if groups is None:
                splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
                splits = list(splitter.split(matrix, y01))
            elif groups.max() < 5_000:
                splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
                splits = list(splitter.split(matrix, y01, groups))
            else:  # StratifiedGroupKFold is slow with many groups; random groups balance well enough
                splitter = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
                splits = list(splitter.split(matrix, y01, groups))
            # all folds boost in step and stop on the mean held-out loss, which is far less
            # noisy on small tables than stopping each fold on its own (as lightgbm.cv does;
            # written out here because each fold's linear start is fitted on its own rows)
            params = self._lgb_params(int(n * (k - 1) / k), seed)

            def cross_fit(use_linear):
                folds = []
                for train_idx, valid_idx in splits:
                    part = linear_part(train_idx, use_linear)
                    dtrain = dataset(train_idx, part)
                    fold_booster = lgb.Booster(params, dtrain)
                    fold_booster.add_valid(dataset(valid_idx, part, reference=dtrain), "holdout")
                    folds.append((valid_idx, part, fold_booster))
                best, best_loss = 0, np.inf
                for iteration in range(1, int(self.n_estimators) + 1):
                    losses = []
                    for _, _, fold_booster in folds:
                        fold_booster.update()
                        losses.append(fold_booster.eval_valid()[0][2])
                    loss = float(np.mean(losses))
                    if loss < best_loss:
                        best, best_loss = iteration, loss
                    elif iteration - best >= int(self.early_stopping_rounds):
                        break
                return best, best_loss, folds

            # "auto": trees alone and trees started from the linear part are both
            # cross-fitted on the same folds; the lower mean held-out log-loss wins
            candidates = [False, True] if self.linear == "auto" else [bool(self.linear)]
            fits = {use: cross_fit(use) for use in candidates}
            self.validation_log_loss_ = {_CANDIDATE_NAMES[use]: fit[1] for use, fit in fits.items()}
            use_linear = min(fits, key=lambda use: fits[use][1])
            best, _, folds = fits[use_linear]
            oof_score = np.empty(n)
            for valid_idx, part, fold_booster in folds:
                oof_score[valid_idx] = raw_score(fold_booster, part, valid_idx, num_iteration=best)
            part = linear_part(all_idx, use_linear)
            booster = lgb.train(self._lgb_params(n, seed), dataset(all_idx, part), num_boost_round=best)
            oof_idx = all_idx
        self.best_iterations_ = [best]
        self.linear_ = part

        self.booster_ = booster
        self.n_iter_ = int(booster.current_iteration())
        if self.calibration == "sigmoid":
            params = _fit_platt(oof_score, y01[oof_idx], weight[oof_idx])
        elif self.calibration == "isotonic":
            params = _fit_isotonic(oof_score, y01[oof_idx], weight[oof_idx])
        else:
            params = {}
        self.calibration_ = {"method": self.calibration, "params": params}
        return self

    def _monotone_constraints(self):
        if self.monotone is None:
            return None
        if self.monotone == "registry":
            reg = _registry()
            if "direction" not in reg.columns:
                raise ValueError("monotone='registry' needs a 'direction' column in riskmodel.features.registry().")
            mapping = {str(k): _direction_to_int(v) for k, v in reg["direction"].items()}
        else:
            unknown = sorted(set(map(str, self.monotone)) - set(self.feature_names_))
            if unknown:
                raise ValueError(
                    f"The 'monotone' parameter of {type(self).__name__} names features not in X: {unknown[:5]}."
                )
            mapping = {str(k): _direction_to_int(v) for k, v in self.monotone.items()}
            cats = [f for f, d in mapping.items() if d != 0 and self._kinds.get(f) == "categorical"]
            if cats:
                raise ValueError(
                    f"Monotone constraints need numeric features; categorical: {cats[:5]}."
                )
        return [
            0 if self._kinds[f] == "categorical" else mapping.get(f, 0) for f in self.feature_names_
        ]

    def _domains(self):
        domains = {}
        reg = _registry()
        if "domain" in reg.columns:
            domains.update({str(k): str(v) for k, v in reg["domain"].items()})
        if self.feature_domains:
            domains.update({str(k): str(v) for k, v in self.feature_domains.items()})
        return {f: domains.get(f, "other") for f in self.feature_names_}

    # ------------------------------------------------------------------ predict
    def decision_function(self, X):
        """The model's raw log-odds, before calibration.

        The trees' raw score (``booster_.predict(..., raw_score=True)``) plus, when the
        boosting started from a linear part (``linear_``), that part's log-odds.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features_in_)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        matrix = self._booster_matrix(X)
        score = self.booster_.predict(matrix, raw_score=True)
        if self.linear_ is not None:
            score = score + self.linear_.decision_function(matrix)
        return score

    def predict_proba(self, X):
        """Calibrated probabilities of both classes; column 1 is ``classes_[1]``.

        Returns
        -------
        ndarray of shape (n_samples, 2)
        """
        score = self.decision_function(X)
        return _proba_2col(_apply_calibration(self.calibration_["method"], self.calibration_["params"], score))

    def predict(self, X):
        """Class with calibrated probability >= 0.5 (rank with :meth:`predict_proba` instead)."""
        p = self.predict_proba(X)[:, 1]
        return self.classes_[(p >= 0.5).astype(int)]

    def explain(self, X):
        """Exact contributions of every feature to the raw log-odds.

        TreeSHAP of the trees, plus, for the linear start, each column's score minus
        its mean score in training (the exact Shapley values of an additive part).

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_features_in_)

        Returns
        -------
        riskmodel.explain.Explanation
            ``values`` (pupil x feature, log-odds) plus ``base_value`` equal
            :meth:`decision_function`.
        """
        from .explain import Explanation, tree_shap

        matrix = self._booster_matrix(X)
        values, base = tree_shap(self.booster_, matrix)
        if self.linear_ is not None:
            linear_values, linear_base = self.linear_.contributions(matrix)
            values, base = values + linear_values, base + linear_base
        if isinstance(X, pd.DataFrame):
            index = X.index
            data = X[list(self.feature_names_in_)] if hasattr(self, "feature_names_in_") else X
        else:
            index = pd.RangeIndex(matrix.shape[0])
            data = pd.DataFrame(np.asarray(X), columns=self.feature_names_)
        return Explanation(
            pd.DataFrame(values, index=index, columns=self.feature_names_),
            float(base),
            data,
            dict(self.feature_domains_),
        )

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Save to a folder: LightGBM's text model plus JSON metadata (never pickle).

        Parameters
        ----------
        path : str or Path
            Folder to create (or reuse); files ``model.txt`` and ``riskmodel.json``.

        Returns
        -------
        Path
        """
        import lightgbm
        import sklearn

        from . import __version__

        check_is_fitted(self, "booster_")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(path / _MODEL_FILE))
        params = self.get_params()
        if not (params["random_state"] is None or isinstance(params["random_state"], (int, np.integer))):
            params["random_state"] = None
        meta = {
            "format_version": _FORMAT_VERSION,
            "estimator": type(self).__name__,
            "params": _jsonable(params),
            "classes": _jsonable(list(self.classes_)),
            "feature_names": list(self.feature_names_),
            "feature_names_in": list(map(str, self.feature_names_in_)) if hasattr(self, "feature_names_in_") else None,
            "booster_feature_names": list(self._booster_feature_names),
            "kinds": self._kinds,
            "dtypes": self._dtypes,
            "categories": self.categories_,
            "feature_domains": self.feature_domains_,
            "monotone_constraints": self._monotone_list,
            "calibration": self.calibration_,
            "linear": None if self.linear_ is None else self.linear_.to_dict(),
            "best_iterations": [int(b) for b in self.best_iterations_],
            "versions": {
                "riskmodel": __version__,
                "lightgbm": lightgbm.__version__,
                "scikit-learn": sklearn.__version__,
                "numpy": np.__version__,
                "pandas": pd.__version__,
            },
        }
        (path / _META_FILE).write_text(json.dumps(meta, indent=1, ensure_ascii=False), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path):
        """Load a model saved by :meth:`save`; it predicts identically.

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        RiskModel
        """
        import lightgbm as lgb

        path = Path(path)
        meta_file, model_file = path / _META_FILE, path / _MODEL_FILE
        if not meta_file.is_file() or not model_file.is_file():
            raise FileNotFoundError(
                f"{path} is not a saved RiskModel: expected files {_META_FILE} and {_MODEL_FILE}."
            )
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        if meta.get("estimator") != cls.__name__ or meta.get("format_version") not in (1, _FORMAT_VERSION):
            raise ValueError(
                f"{meta_file} holds estimator {meta.get('estimator')!r} format "
                f"{meta.get('format_version')!r}; expected {cls.__name__!r} format {_FORMAT_VERSION}."
            )
        model = cls(**meta["params"])
        model.booster_ = lgb.Booster(model_file=str(model_file))
        model.classes_ = np.asarray(meta["classes"])
        model.feature_names_ = list(meta["feature_names"])
        if meta["feature_names_in"] is not None:
            model.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
        model.n_features_in_ = len(model.feature_names_)
        model._booster_feature_names = list(meta["booster_feature_names"])
        model._kinds = dict(meta["kinds"])
        model._dtypes = dict(meta["dtypes"])
        model.categories_ = {k: list(v) for k, v in meta["categories"].items()}
        model.feature_domains_ = dict(meta["feature_domains"])
        model._monotone_list = meta["monotone_constraints"]
        model.calibration_ = meta["calibration"]
        model.linear_ = None if meta.get("linear") is None else LinearScorecard.from_dict(meta["linear"])
        model.best_iterations_ = list(meta["best_iterations"])
        model.n_iter_ = int(model.booster_.current_iteration())
        return model


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


# --------------------------------------------------------------------------- baselines


class _Baseline(_TableInputMixin, ClassifierMixin, BaseEstimator):
    """Common plumbing of the baselines: a score, and Platt scaling of it for probabilities."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.allow_nan = True
        return tags

    def _fit_common(self, X, y, sample_weight):
        for attr in ("feature_names_in_", "n_features_in_"):
            if hasattr(self, attr):
                delattr(self, attr)
        frame = self._input_frame(X, reset=True)
        self.feature_names_ = list(frame.columns)
        classes, y01 = _check_y(y, len(frame), type(self).__name__)
        weight = _check_sample_weight(sample_weight, len(frame))
        if weight.sum() <= 0:
            raise ValueError("sample_weight is zero for every row; at least some weights must be non-zero.")
        self.classes_ = classes
        return frame, y01, weight

    def _fit_calibration(self, score, y01, weight):
        if np.ptp(score) == 0:
            # The training score carries no ranking (e.g. a school rate that is missing
            # for every pupil of a first cohort): the slope cannot be learned. A zero
            # slope would flatten every later ranking, so keep the score's own order with
            # a unit slope, centred so the training score maps to the training rate.
            rate = float(np.average(y01, weights=weight))
            rate = min(max(rate, 1e-6), 1 - 1e-6)
            b = float(np.log(rate / (1 - rate))) - float(score[0]) if len(score) else 0.0
            self.calibration_ = {"method": "sigmoid", "params": {"a": 1.0, "b": b}}
        else:
            self.calibration_ = {"method": "sigmoid", "params": _fit_platt(score, y01, weight)}

    def _require_columns(self, frame, columns):
        missing = [(param, col) for param, col in columns if col is not None and col not in frame.columns]
        if missing:
            text = ", ".join(f"{param}={col!r}" for param, col in missing)
            shown = ", ".join(map(str, list(frame.columns)[:8]))
            raise ValueError(
                f"{type(self).__name__} reads columns by name; X has no column {text} "
                f"(X has {frame.shape[1]} feature(s): {shown}{', ...' if frame.shape[1] > 8 else ''}). "
                f"Pass a DataFrame with these columns, or set the parameter to another column (or None)."
            )

    def decision_function(self, X):
        """The baseline's risk score (higher = riskier)."""
        check_is_fitted(self, "calibration_")
        frame = self._input_frame(X, reset=False)
        return self._score(frame)

    def predict_proba(self, X):
        """Probabilities from Platt scaling of :meth:`decision_function` fitted on the training rows."""
        score = self.decision_function(X)
        return _proba_2col(_apply_calibration("sigmoid", self.calibration_["params"], score))

    def predict(self, X):
        """Class with probability >= 0.5."""
        p = self.predict_proba(X)[:, 1]
        return self.classes_[(p >= 0.5).astype(int)]


class RuleBaseline(_Baseline):
    """ABC-style early-warning rule: how many warning conditions hold.

    Conditions (set a column parameter to ``None`` to leave that condition out):

    - attendance below ``attendance_threshold`` (``attendance_column``, a rate in [0, 1]);
    - a failing grade in a core subject: any of ``core_grade_columns`` (subject grade
      means on the 1-10 scale) below ``pass_mark``;
    - over-age for the grade (``overage_column`` > 0 years);
    - a liecība instead of the certificate (``lieciba_column`` > 0 / True).

    The defaults are the names of :func:`riskmodel.build_features`
    (``attendance_rate_90d``, ``grade_mean_latvian_ytd``, ``grade_mean_mathematics_ytd``,
    ``over_age_years``, ``finished_grade9_lieciba``). The score is the number of
    conditions that hold; with ``tie_break=True`` pupils with the same count are
    ordered by attendance shortfall (score + (1 - rate) / 2). Missing values never
    make a condition hold. Probabilities come from Platt scaling of the score on the
    training rows.

    Parameters
    ----------
    attendance_column : str or None, default="attendance_rate_90d"
    attendance_threshold : float, default=0.9
    core_grade_columns : tuple of str or None, default=("grade_mean_latvian_ytd", "grade_mean_mathematics_ytd")
    pass_mark : float, default=4.0
    overage_column : str or None, default="over_age_years"
    lieciba_column : str or None, default="finished_grade9_lieciba"
    tie_break : bool, default=True

    Examples
    --------
    >>> import pandas as pd
    >>> from riskmodel import RuleBaseline
    >>> X = pd.DataFrame({"attendance_rate_90d": [0.95, 0.8, 0.7, 0.99],
    ...                   "grade_mean_latvian_ytd": [6.0, 3.5, 3.0, 7.0],
    ...                   "grade_mean_mathematics_ytd": [5.0, 6.0, 2.0, None],
    ...                   "over_age_years": [0, 0, 1, 0], "finished_grade9_lieciba": [0, 0, 1, 0]})
    >>> RuleBaseline().fit(X, [0, 1, 1, 0]).decision_function(X).round(3).tolist()
    [0.025, 2.1, 4.15, 0.005]
    """

    def __init__(
        self,
        *,
        attendance_column="attendance_rate_90d",
        attendance_threshold=0.9,
        core_grade_columns=("grade_mean_latvian_ytd", "grade_mean_mathematics_ytd"),
        pass_mark=4.0,
        overage_column="over_age_years",
        lieciba_column="finished_grade9_lieciba",
        tie_break=True,
    ):
        self.attendance_column = attendance_column
        self.attendance_threshold = attendance_threshold
        self.core_grade_columns = core_grade_columns
        self.pass_mark = pass_mark
        self.overage_column = overage_column
        self.lieciba_column = lieciba_column
        self.tie_break = tie_break

    def _core(self):
        cols = self.core_grade_columns
        if cols is None:
            return []
        if isinstance(cols, str):
            return [cols]
        return list(cols)

    def _columns(self):
        return [
            ("attendance_column", self.attendance_column),
            *[("core_grade_columns", c) for c in self._core()],
            ("overage_column", self.overage_column),
            ("lieciba_column", self.lieciba_column),
        ]

    def fit(self, X, y, sample_weight=None):
        """Check the rule's columns are present and fit the probability map.

        Returns
        -------
        self
        """
        if not (isinstance(self.attendance_threshold, (int, float)) and 0 <= self.attendance_threshold <= 1):
            raise ValueError(
                "The 'attendance_threshold' parameter of RuleBaseline must be a float in [0, 1]. "
                f"Got {self.attendance_threshold!r} instead."
            )
        if not isinstance(self.pass_mark, (int, float)):
            raise ValueError(f"The 'pass_mark' parameter of RuleBaseline must be a number. Got {self.pass_mark!r} instead.")
        if all(col is None for _, col in self._columns()):
            raise ValueError("RuleBaseline needs at least one condition; all column parameters are None.")
        frame, y01, weight = self._fit_common(X, y, sample_weight)
        self._require_columns(frame, self._columns())
        self._fit_calibration(self._score(frame), y01, weight)
        return self

    def _numeric(self, frame, col):
        values = frame[col]
        if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
            values = pd.to_numeric(values.astype(object), errors="coerce")
        return values.to_numpy(dtype=np.float64, na_value=np.nan)

    def flags(self, X):
        """The conditions, one bool column per rule (index of ``X`` kept).

        Parameters
        ----------
        X : DataFrame

        Returns
        -------
        DataFrame of bool
        """
        check_is_fitted(self, "calibration_")
        return self._flags(self._input_frame(X, reset=False)).set_axis(
            X.index if isinstance(X, pd.DataFrame) else pd.RangeIndex(len(X)), axis=0
        )

    def _flags(self, frame):
        self._require_columns(frame, self._columns())
        flags = {}
        with np.errstate(invalid="ignore"):
            if self.attendance_column is not None:
                flags["attendance"] = self._numeric(frame, self.attendance_column) < self.attendance_threshold
            core = self._core()
            if core:
                below = np.zeros(len(frame), dtype=bool)
                for col in core:
                    below |= self._numeric(frame, col) < self.pass_mark
                flags["core_fail"] = below
            if self.overage_column is not None:
                flags["over_age"] = self._numeric(frame, self.overage_column) > 0
            if self.lieciba_column is not None:
                flags["liecība"] = self._numeric(frame, self.lieciba_column) > 0
        return pd.DataFrame(flags, index=frame.index)

    def _score(self, frame):
        score = self._flags(frame).sum(axis=1).to_numpy(dtype=np.float64)
        if self.tie_break and self.attendance_column is not None:
            rate = self._numeric(frame, self.attendance_column)
            shortfall = np.nan_to_num(np.clip(1.0 - rate, 0.0, 1.0), nan=0.0)
            score = score + shortfall / 2.0
        return score


class SchoolBaseline(_Baseline):
    """Each pupil gets their school's past early-leaving rate.

    Two ways to know the school's rate:

    - ``rate_column`` (default): a point-in-time feature holding the school's
      early-leaving rate in earlier years (context domain of the feature table);
      missing values get the training mean of the column.
    - ``school_column``: a column with the school id; ``fit`` learns each school's
      rate from the training labels (shrunk towards the overall rate with weight
      ``prior_strength`` pupils); schools unseen at fit get the overall rate. In a
      temporal backtest the training labels are from earlier cohorts, so this is
      a past rate too.

    Probabilities come from Platt scaling of the rate on the training rows.

    Parameters
    ----------
    rate_column : str or None, default="school_leaving_rate_3y"
        The school-level context feature of :func:`riskmodel.build_features`.
    school_column : str or None, default=None
        When given, used instead of ``rate_column``.
    prior_strength : float, default=20.0

    Examples
    --------
    >>> import pandas as pd
    >>> from riskmodel import SchoolBaseline
    >>> X = pd.DataFrame({"school": ["a", "a", "b", "b"]})
    >>> model = SchoolBaseline(school_column="school", prior_strength=0).fit(X, [1, 0, 0, 0])
    >>> model.decision_function(X).tolist()
    [0.5, 0.5, 0.0, 0.0]
    """

    def __init__(self, *, rate_column="school_leaving_rate_3y", school_column=None, prior_strength=20.0):
        self.rate_column = rate_column
        self.school_column = school_column
        self.prior_strength = prior_strength

    def fit(self, X, y, sample_weight=None):
        """Learn the school rates (or the fill value of the rate column) and the probability map.

        Returns
        -------
        self
        """
        if self.rate_column is None and self.school_column is None:
            raise ValueError("SchoolBaseline needs 'rate_column' or 'school_column'; both are None.")
        if not (isinstance(self.prior_strength, (int, float)) and self.prior_strength >= 0):
            raise ValueError(
                "The 'prior_strength' parameter of SchoolBaseline must be a float >= 0. "
                f"Got {self.prior_strength!r} instead."
            )
        frame, y01, weight = self._fit_common(X, y, sample_weight)
        overall = float(np.average(y01, weights=weight))
        self.overall_rate_ = overall
        if self.school_column is not None:
            self._require_columns(frame, [("school_column", self.school_column)])
            school = pd.Series(_as_str_values(frame[self.school_column]))
            table = pd.DataFrame({"school": school, "yw": y01 * weight, "w": weight}).dropna()
            agg = table.groupby("school", sort=True)[["yw", "w"]].sum()
            m = float(self.prior_strength)
            self.school_rates_ = ((agg["yw"] + m * overall) / (agg["w"] + m)).to_dict()
        else:
            self._require_columns(frame, [("rate_column", self.rate_column)])
            rate = frame[self.rate_column].to_numpy(dtype=np.float64, na_value=np.nan)
            self.fill_rate_ = float(np.nanmean(rate)) if np.isfinite(rate).any() else overall
        self._fit_calibration(self._score(frame), y01, weight)
        return self

    def _score(self, frame):
        if self.school_column is not None:
            self._require_columns(frame, [("school_column", self.school_column)])
            school = pd.Series(_as_str_values(frame[self.school_column]))
            return school.map(self.school_rates_).fillna(self.overall_rate_).to_numpy(dtype=np.float64)
        self._require_columns(frame, [("rate_column", self.rate_column)])
        rate = frame[self.rate_column].to_numpy(dtype=np.float64, na_value=np.nan)
        return np.where(np.isnan(rate), self.fill_rate_, rate)


class LogisticBaseline(_Baseline):
    """A well-set logistic regression on the same table.

    Numeric and bool columns: median imputation with missing-value indicators,
    values clipped to their training range (no linear extrapolation far outside
    what was seen, as trees do), then standard scaling. Category/object/str
    columns: missing as its own level, one-hot encoding (levels rarer than
    ``min_frequency`` rows pooled, unseen levels ignored). Then an L2-penalised
    logistic regression.

    Parameters
    ----------
    C : float, default=1.0
        Inverse L2 strength.
    min_frequency : int, default=10
    max_iter : int, default=2000

    Attributes
    ----------
    pipeline_ : sklearn.pipeline.Pipeline

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from riskmodel import LogisticBaseline
    >>> X = pd.DataFrame({"x": [0.0, 1.0, np.nan, 3.0], "c": ["a", "b", "a", None]})
    >>> LogisticBaseline().fit(X, [0, 0, 1, 1]).predict_proba(X).shape
    (4, 2)
    """

    def __init__(self, *, C=1.0, min_frequency=10, max_iter=2000):
        self.C = C
        self.min_frequency = min_frequency
        self.max_iter = max_iter

    def fit(self, X, y, sample_weight=None):
        """Fit the preprocessing and the logistic regression.

        Returns
        -------
        self
        """
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline, make_pipeline
        from sklearn.preprocessing import (
            FunctionTransformer,
            MinMaxScaler,
            OneHotEncoder,
            StandardScaler,
        )

        if not (isinstance(self.C, (int, float)) and self.C > 0):
            raise ValueError(f"The 'C' parameter of LogisticBaseline must be a float > 0. Got {self.C!r} instead.")
        frame, y01, weight = self._fit_common(X, y, sample_weight)
        kinds = {c: _column_kind(frame[c], c) for c in frame.columns}
        self._kinds = kinds
        numeric = [c for c, k in kinds.items() if k != "categorical"]
        categorical = [c for c, k in kinds.items() if k == "categorical"]
        transformers = []
        if numeric:
            transformers.append(
                (
                    "numeric",
                    make_pipeline(
                        FunctionTransformer(_to_float, feature_names_out="one-to-one"),
                        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                        # values outside the training range are clipped to it: a linear model
                        # must not extrapolate a value 100 standard deviations out (e.g. a
                        # window the first cohort's short history could not fill)
                        MinMaxScaler(clip=True),
                        StandardScaler(),
                    ),
                    numeric,
                )
            )
        if categorical:
            transformers.append(
                (
                    "categorical",
                    make_pipeline(
                        FunctionTransformer(_to_str_frame, feature_names_out="one-to-one"),
                        OneHotEncoder(
                            handle_unknown="infrequent_if_exist",
                            min_frequency=self.min_frequency,
                            sparse_output=False,
                        ),
                    ),
                    categorical,
                )
            )
        self.pipeline_ = Pipeline(
            [
                ("prepare", ColumnTransformer(transformers)),
                ("logistic", LogisticRegression(C=float(self.C), max_iter=int(self.max_iter))),
            ]
        )
        self.pipeline_.fit(frame, y01.astype(int), logistic__sample_weight=weight)
        self.n_iter_ = self.pipeline_[-1].n_iter_
        self.calibration_ = {"method": "logistic"}
        return self

    def _score(self, frame):
        return self.pipeline_.decision_function(frame)

    def predict_proba(self, X):
        """Probabilities of the logistic regression itself."""
        score = self.decision_function(X)
        return _proba_2col(expit(score))


def _to_float(frame):
    out = pd.DataFrame(index=frame.index)
    for c in frame.columns:
        col = frame[c]
        if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
            col = pd.to_numeric(col.astype(object), errors="coerce")
        out[c] = col.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _to_str_frame(frame):
    out = pd.DataFrame(index=frame.index)
    for c in frame.columns:
        values = _as_str_values(frame[c])
        values[pd.isna(values)] = "__missing__"
        out[c] = values
    return out

"""RiskModel: calibrated LightGBM risk on any pupil-level table (private; public in :mod:`riskmodel.model`)."""

from __future__ import annotations

import logging
import math
import numbers
import re

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._boosting import BoostSettings, FitData, fit_cross, fit_holdout
from ._calibration import apply_calibration, fit_calibration, proba_2col
from ._checks import InvalidParameterError, check_int, check_option, check_real
from ._model_io import load_model, save_model
from ._table_input import TableInputMixin, check_sample_weight, check_y, learn_schema, table_matrix
from .features import registry

__all__ = ["RiskModel"]

logger = logging.getLogger(__name__)

_BAD_NAME_CHARS = re.compile(r'[\s\[\]{}",:]')
_UP = {"+", "+1", "1", "up", "increasing", "increase", "positive", "higher_is_riskier", "higher"}
_DOWN = {"-", "-1", "down", "decreasing", "decrease", "negative", "lower_is_riskier", "lower"}


def _bad_param(param, func, allowed, value):
    raise InvalidParameterError(f"The {param!r} parameter of {func} must be {allowed}. Got {value!r} instead.")


def _check_auto_or_int(value, param, func, *, min_value):
    if isinstance(value, str) and value == "auto":
        return
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)) and value >= min_value:
        return
    _bad_param(param, func, f"'auto' or an int >= {min_value}", value)


def _booster_names(names):
    clean = [_BAD_NAME_CHARS.sub("_", str(n)) for n in names]
    if len(set(clean)) != len(clean) or any(c == "" for c in clean):
        return [f"x{i}" for i in range(len(names))]
    return clean


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


class RiskModel(TableInputMixin, ClassifierMixin, BaseEstimator):
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
        up to 40,000, 100 for 200,000). With fewer than 200 rows of the rarer class
        (a small table), a side of a categorical split needs as many rows
        (LightGBM's ``min_data_per_group``); with more it needs 100, LightGBM's
        default. On generated school surveys of 300 pupils with 20-30 answers of 5
        levels, 100 barred nearly every split on an answer and cost about 0.1 ROC AUC
        (benchmarks/bench_model.py).
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
        (on standardised numeric columns, with missing-value indicators for
        columns without a direction, values clipped to the training range; one
        indicator per category level seen in training, shrunk by the same penalty)
        whose numeric coefficients keep the signs of ``monotone``. Its inverse penalty C (``linear_.C``) is the
        one of 0.01, 0.03, 0.1, 0.3 and 1 with the lowest mean held-out log-loss on
        the same folds (or hold-out) the trees are stopped on: on a few hundred rows
        with many columns C = 1 was overconfident, and "auto" then dropped a linear
        start that ranked better than the trees (UCI GP, benchmarks/bench_model.py). The trees then model what the linear part
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
    linear_ : riskmodel._linear.LinearScorecard or None
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
        check_real(self.learning_rate, "learning_rate", name, low=0, high=1, closed="right")
        check_int(self.n_estimators, "n_estimators", name, min_value=1)
        check_int(self.early_stopping_rounds, "early_stopping_rounds", name, min_value=1)
        _check_auto_or_int(self.num_leaves, "num_leaves", name, min_value=2)
        _check_auto_or_int(self.min_child_samples, "min_child_samples", name, min_value=1)
        check_real(self.feature_fraction, "feature_fraction", name, low=0, high=1, closed="right")
        check_real(self.bagging_fraction, "bagging_fraction", name, low=0, high=1, closed="right")
        check_real(self.reg_lambda, "reg_lambda", name, low=0)
        v = self.validation
        if not (
            (isinstance(v, str) and v == "auto")
            or (isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) and v >= 2)
            or (isinstance(v, float) and 0 < v < 1)
        ):
            _bad_param("validation", name, "'auto', an int >= 2 or a float in the range (0, 1)", v)
        check_option(self.calibration, "calibration", ("sigmoid", "isotonic", None), name)
        if not (self.monotone is None or isinstance(self.monotone, dict)
                or (isinstance(self.monotone, str) and self.monotone == "registry")):
            _bad_param("monotone", name, "None, 'registry' or a dict of feature -> +1/-1/0", self.monotone)
        if not (self.feature_domains is None or isinstance(self.feature_domains, dict)):
            _bad_param("feature_domains", name, "None or a dict of feature -> domain", self.feature_domains)
        check_option(self.handle_unknown, "handle_unknown", ("missing", "error"), name)
        if not (self.linear is True or self.linear is False or (isinstance(self.linear, str) and self.linear == "auto")):
            _bad_param("linear", name, "'auto', True or False", self.linear)
        check_int(self.n_jobs, "n_jobs", name, allow_none=True)
        if self.n_jobs == 0:
            _bad_param("n_jobs", name, "None or a non-zero int", self.n_jobs)

    def _settings(self):
        return BoostSettings(
            self.learning_rate, self.n_estimators, self.early_stopping_rounds, self.num_leaves,
            self.min_child_samples, self.feature_fraction, self.bagging_fraction, self.reg_lambda,
            self.n_jobs,
        )

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

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(300, 2))
        >>> model = RiskModel(n_estimators=50, random_state=0).fit(X, (X[:, 0] > 1).astype(int))
        >>> model.feature_names_, model.calibration_["method"]
        (['x0', 'x1'], 'sigmoid')
        """
        self._check_params()
        frame = self._input_frame(X, reset=True)
        classes, y01 = check_y(y, len(frame), type(self).__name__)
        weight = check_sample_weight(sample_weight, len(frame))
        n_minority = self._check_both_classes(y01, weight)
        self.classes_ = classes
        self._learn_columns(frame)
        data = FitData(
            matrix=self._matrix_from_frame(frame),
            y01=y01,
            weight=weight,
            categorical=[self._kinds[f] == "categorical" for f in self.feature_names_],
            booster_names=self._booster_feature_names,
            monotone=self._monotone_list,
            # repeated index labels (same pupil in several cohorts) stay in one fold
            groups=pd.factorize(X.index)[0] if isinstance(X, pd.DataFrame) and not X.index.is_unique else None,
            seed=int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max)),
            n_minority=n_minority,
        )
        result = self._boost(data)
        self.booster_ = result.booster
        self.linear_ = result.linear
        self.best_iterations_ = [result.best_iteration]
        self.validation_log_loss_ = result.validation_log_loss
        self.n_iter_ = int(result.booster.current_iteration())
        oof = result.oof_idx
        self.calibration_ = fit_calibration(self.calibration, result.oof_score, y01[oof], weight[oof])
        return self

    def _check_both_classes(self, y01, weight):
        """Rows of the rarer class; an error when a class has too few rows or no weight."""
        name = type(self).__name__
        if weight[y01 == 1].sum() <= 0 or weight[y01 == 0].sum() <= 0:
            raise ValueError(
                f"{name} needs both classes with positive sample_weight; "
                "after weighting only one class is present."
            )
        n_min = int(min((y01 == 1).sum(), (y01 == 0).sum()))
        if n_min < 2:
            raise ValueError(
                f"{name} needs at least 2 rows of each class to hold rows out for early "
                f"stopping and calibration; the smaller class has {n_min} row(s)."
            )
        return n_min

    def _learn_columns(self, frame):
        """The fitted column attributes: names, kinds, levels, constraints and domains."""
        self.feature_names_ = list(frame.columns)
        self._kinds, self.categories_, self._dtypes = learn_schema(frame)
        self._booster_feature_names = _booster_names(self.feature_names_)
        self._monotone_list = self._monotone_constraints()
        self.feature_domains_ = self._domains()

    def _boost(self, data):
        """The trees (and linear start) by hold-out or by cross-fitting, per ``validation``."""
        validation = self.validation
        if validation == "auto":
            validation = 5 if len(data.y01) < 20_000 else 0.2
        if isinstance(validation, float):
            # "auto" leaves the linear start off here: with this many rows the trees
            # ranked as well without it (benchmarks/bench_model.py)
            return fit_holdout(data, self._settings(), validation, self.linear is True)
        # "auto": trees alone and trees started from the linear part are both
        # cross-fitted on the same folds; the lower mean held-out log-loss wins
        candidates = [False, True] if self.linear == "auto" else [bool(self.linear)]
        return fit_cross(data, self._settings(), int(validation), candidates)

    # ------------------------------------------------------------------ input
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
        return self._matrix_from_frame(self._input_frame(X, reset=False))

    def _matrix_from_frame(self, frame):
        return table_matrix(frame, self.feature_names_, self._kinds, self.categories_, self.handle_unknown)

    def _monotone_constraints(self):
        if self.monotone is None:
            return None
        if self.monotone == "registry":
            mapping = {str(k): _direction_to_int(v) for k, v in registry()["direction"].items()}
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
        domains = {str(k): str(v) for k, v in registry()["domain"].items()}
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

        Examples
        --------
        >>> from sklearn.datasets import make_classification
        >>> X, y = make_classification(n_samples=300, n_features=3, n_redundant=0, random_state=0)
        >>> model = RiskModel(n_estimators=30, random_state=0).fit(X, y)
        >>> score = model.decision_function(X)
        >>> bool((score.argsort() == model.predict_proba(X)[:, 1].argsort()).all())
        True
        """
        matrix = self._booster_matrix(X)
        score = self.booster_.predict(matrix, raw_score=True)
        if self.linear_ is not None:
            score = score + self.linear_.decision_function(matrix)
        return score

    def predict_proba(self, X):
        """Calibrated probabilities of both classes; column 1 is ``classes_[1]``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features_in_)

        Returns
        -------
        ndarray of shape (n_samples, 2)

        Examples
        --------
        >>> from sklearn.datasets import make_classification
        >>> X, y = make_classification(n_samples=300, n_features=3, n_redundant=0, random_state=0)
        >>> model = RiskModel(n_estimators=30, random_state=0).fit(X, y)
        >>> p = model.predict_proba(X)
        >>> p.shape, bool(((p >= 0) & (p <= 1)).all())
        ((300, 2), True)
        """
        score = self.decision_function(X)
        return proba_2col(apply_calibration(self.calibration_, score))

    def predict(self, X):
        """Class with calibrated probability >= 0.5 (rank with :meth:`predict_proba` instead).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features_in_)

        Returns
        -------
        ndarray of shape (n_samples,), values from ``classes_``

        Examples
        --------
        >>> from sklearn.datasets import make_classification
        >>> X, y = make_classification(n_samples=300, n_features=3, n_redundant=0, random_state=0)
        >>> model = RiskModel(n_estimators=30, random_state=0).fit(X, y)
        >>> sorted(set(model.predict(X).tolist()) | set(model.classes_.tolist()))
        [0, 1]
        """
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

        Examples
        --------
        >>> from sklearn.datasets import make_classification
        >>> X, y = make_classification(n_samples=300, n_features=3, n_redundant=0, random_state=0)
        >>> model = RiskModel(n_estimators=30, random_state=0).fit(X, y)
        >>> ex = model.explain(X)
        >>> float(abs(ex.values.sum(axis=1) + ex.base_value - model.decision_function(X)).max()) < 1e-9
        True
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
            Folder to create, or an empty one, or the folder of an earlier save
            (replaced whole); files ``model.txt`` and ``riskmodel.json``
            (parameters, column schema, calibration, linear start and the versions
            of the libraries used). The folder is written beside ``path`` and
            swapped in: a save cut short leaves an earlier model as it was. A
            folder that holds anything else raises :class:`~riskmodel.ConfigError`
            and is left alone.

        Returns
        -------
        Path

        Examples
        --------
        >>> import tempfile
        >>> from sklearn.datasets import make_classification
        >>> X, y = make_classification(n_samples=200, n_features=2, n_redundant=0, random_state=1)
        >>> model = RiskModel(n_estimators=20, linear=False, random_state=0).fit(X, y)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     loaded = RiskModel.load(model.save(folder))
        >>> bool((loaded.predict_proba(X) == model.predict_proba(X)).all())
        True
        """
        check_is_fitted(self, "booster_")
        return save_model(self, path)

    @classmethod
    def load(cls, path):
        """Load a model saved by :meth:`save`; it predicts identically.

        Files written by earlier riskmodel versions (format 1, without a linear
        start) load too.

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        RiskModel

        Examples
        --------
        See :meth:`save`.
        """
        return load_model(cls, path)

"""The baselines every risk model is shown beside (private; public via riskmodel.model).

- :class:`RuleBaseline` -- an ABC-style early-warning rule.
- :class:`SchoolBaseline` -- the school's past early-leaving rate.
- :class:`LogisticBaseline` -- a well-set logistic regression.

:class:`Baseline` is their common base (a score, Platt scaling of it for
probabilities); other modules (the backtest in :mod:`riskmodel.splits`) use it to
tell baselines from models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from ._calibration import apply_calibration, fit_platt, proba_2col
from ._checks import check_bool, check_int, check_real
from ._table_input import TableInputMixin, as_str_values, check_sample_weight, check_y, column_kind, to_float

__all__ = ["Baseline", "LogisticBaseline", "RuleBaseline", "SchoolBaseline"]


class Baseline(TableInputMixin, ClassifierMixin, BaseEstimator):
    """Common plumbing of the baselines: a score, and Platt scaling of it for probabilities.

    A subclass implements ``fit`` (calling ``_fit_common`` and
    ``_fit_calibration``) and ``_score(frame)``. ``isinstance(m, Baseline)`` is
    how the backtest tells a baseline from the model it is compared with.

    Examples
    --------
    >>> from riskmodel.model import RiskModel, RuleBaseline
    >>> isinstance(RuleBaseline(), Baseline), isinstance(RiskModel(), Baseline)
    (True, False)
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.allow_nan = True
        return tags

    def _fit_common(self, X, y, sample_weight):
        frame = self._input_frame(X, reset=True)
        self.feature_names_ = list(frame.columns)
        classes, y01 = check_y(y, len(frame), type(self).__name__)
        weight = check_sample_weight(sample_weight, len(frame))
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
            self.calibration_ = {"method": "sigmoid", "params": fit_platt(score, y01, weight)}

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
        """The baseline's risk score (higher = riskier).

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_features_in_)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "calibration_")
        frame = self._input_frame(X, reset=False)
        return self._score(frame)

    def predict_proba(self, X):
        """Probabilities from Platt scaling of :meth:`decision_function` fitted on the training rows.

        Returns
        -------
        ndarray of shape (n_samples, 2)
        """
        score = self.decision_function(X)  # checks that the baseline is fitted
        return proba_2col(apply_calibration(self.calibration_, score))

    def predict(self, X):
        """Class with probability >= 0.5.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        p = self.predict_proba(X)[:, 1]
        return self.classes_[(p >= 0.5).astype(int)]


class RuleBaseline(Baseline):
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
        check_real(self.attendance_threshold, "attendance_threshold", "RuleBaseline", low=0, high=1)
        check_real(self.pass_mark, "pass_mark", "RuleBaseline")
        check_bool(self.tie_break, "tie_break", "RuleBaseline")
        if all(col is None for _, col in self._columns()):
            raise ValueError("RuleBaseline needs at least one condition; all column parameters are None.")
        frame, y01, weight = self._fit_common(X, y, sample_weight)
        self._require_columns(frame, self._columns())
        self._fit_calibration(self._score(frame), y01, weight)
        return self

    def flags(self, X):
        """The conditions, one bool column per rule (index of ``X`` kept).

        Parameters
        ----------
        X : DataFrame

        Returns
        -------
        DataFrame of bool

        Examples
        --------
        >>> import pandas as pd
        >>> X = pd.DataFrame({"attendance_rate_90d": [0.95, 0.8], "over_age_years": [0, 1]})
        >>> rule = RuleBaseline(core_grade_columns=None, lieciba_column=None).fit(X, [0, 1])
        >>> rule.flags(X).to_dict("list")
        {'attendance': [False, True], 'over_age': [False, True]}
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
                flags["attendance"] = to_float(frame[self.attendance_column]) < self.attendance_threshold
            core = self._core()
            if core:
                below = np.zeros(len(frame), dtype=bool)
                for col in core:
                    below |= to_float(frame[col]) < self.pass_mark
                flags["core_fail"] = below
            if self.overage_column is not None:
                flags["over_age"] = to_float(frame[self.overage_column]) > 0
            if self.lieciba_column is not None:
                flags["liecība"] = to_float(frame[self.lieciba_column]) > 0
        return pd.DataFrame(flags, index=frame.index)

    def _score(self, frame):
        score = self._flags(frame).sum(axis=1).to_numpy(dtype=np.float64)
        if self.tie_break and self.attendance_column is not None:
            rate = to_float(frame[self.attendance_column])
            shortfall = np.nan_to_num(np.clip(1.0 - rate, 0.0, 1.0), nan=0.0)
            score = score + shortfall / 2.0
        return score


class SchoolBaseline(Baseline):
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
        check_real(self.prior_strength, "prior_strength", "SchoolBaseline", low=0)
        frame, y01, weight = self._fit_common(X, y, sample_weight)
        overall = float(np.average(y01, weights=weight))
        self.overall_rate_ = overall
        if self.school_column is not None:
            school = self._schools(frame)
            table = pd.DataFrame({"school": school, "yw": y01 * weight, "w": weight}).dropna()
            agg = table.groupby("school", sort=True)[["yw", "w"]].sum()
            m = float(self.prior_strength)
            self.school_rates_ = ((agg["yw"] + m * overall) / (agg["w"] + m)).to_dict()
        else:
            rate = self._rates(frame)
            self.fill_rate_ = float(np.nanmean(rate)) if np.isfinite(rate).any() else overall
        self._fit_calibration(self._score(frame), y01, weight)
        return self

    def _schools(self, frame):
        self._require_columns(frame, [("school_column", self.school_column)])
        return pd.Series(as_str_values(frame[self.school_column]))

    def _rates(self, frame):
        self._require_columns(frame, [("rate_column", self.rate_column)])
        return frame[self.rate_column].to_numpy(dtype=np.float64, na_value=np.nan)

    def _score(self, frame):
        if self.school_column is not None:
            school = self._schools(frame)
            return school.map(self.school_rates_).fillna(self.overall_rate_).to_numpy(dtype=np.float64)
        rate = self._rates(frame)
        return np.where(np.isnan(rate), self.fill_rate_, rate)


class LogisticBaseline(Baseline):
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

        check_real(self.C, "C", "LogisticBaseline", low=0, closed="right")
        check_int(self.min_frequency, "min_frequency", "LogisticBaseline", min_value=1)
        check_int(self.max_iter, "max_iter", "LogisticBaseline", min_value=1)
        frame, y01, weight = self._fit_common(X, y, sample_weight)
        kinds = {c: column_kind(frame[c], c) for c in frame.columns}
        numeric = [c for c, k in kinds.items() if k != "categorical"]
        categorical = [c for c, k in kinds.items() if k == "categorical"]
        transformers = []
        if numeric:
            transformers.append(
                (
                    "numeric",
                    make_pipeline(
                        FunctionTransformer(_to_float_frame, feature_names_out="one-to-one"),
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
        """Probabilities of the logistic regression itself.

        Returns
        -------
        ndarray of shape (n_samples, 2)
        """
        score = self.decision_function(X)
        return proba_2col(expit(score))


def _to_float_frame(frame):
    return pd.DataFrame({c: to_float(frame[c]) for c in frame.columns}, index=frame.index)


def _to_str_frame(frame):
    out = pd.DataFrame(index=frame.index)
    for c in frame.columns:
        values = as_str_values(frame[c])
        values[pd.isna(values)] = "__missing__"
        out[c] = values
    return out

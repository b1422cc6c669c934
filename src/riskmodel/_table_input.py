"""Input handling shared by RiskModel and the baselines (private).

- :func:`check_y` and :func:`check_sample_weight` validate a binary target and row
  weights with scikit-learn's wording.
- :func:`column_kind` sorts a column into ``"numeric"``, ``"bool"`` or
  ``"categorical"``; :func:`learn_schema` records kinds, levels and dtypes at fit,
  and :func:`table_matrix` turns a table into the float matrix LightGBM sees.
- :class:`TableInputMixin` gives an estimator ``_input_frame``: a DataFrame (or
  array) checked against the fit-time columns.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_array, column_or_1d, validate_data

__all__ = [
    "TableInputMixin",
    "as_str_values",
    "check_sample_weight",
    "check_y",
    "column_kind",
    "is_text_like",
    "learn_schema",
    "table_matrix",
    "to_float",
]

logger = logging.getLogger(__name__)


def check_y(y, n_samples, name):
    """A binary target as ``(classes, y01)``, or a ``ValueError`` in scikit-learn's words.

    Examples
    --------
    >>> classes, y01 = check_y(["no", "yes", "yes"], 3, "RiskModel")
    >>> classes.tolist(), y01.tolist()
    (['no', 'yes'], [0.0, 1.0, 1.0])
    """
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


def check_sample_weight(sample_weight, n_samples):
    """Row weights as float64 (ones when None): finite, non-negative, not all zero.

    Examples
    --------
    >>> check_sample_weight(None, 2).tolist(), check_sample_weight(2, 2).tolist()
    ([1.0, 1.0], [2.0, 2.0])
    """
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
    if w.sum() <= 0:
        raise ValueError("sample_weight is zero for every row; at least some weights must be non-zero.")
    return w


def is_text_like(dtype):
    """Whether a column of this dtype holds levels (category, object or str).

    Examples
    --------
    >>> import pandas as pd
    >>> is_text_like(pd.Series(["a"]).dtype), is_text_like(pd.Series([1.0]).dtype)
    (True, False)
    """
    return isinstance(dtype, pd.CategoricalDtype) or dtype == object or pd.api.types.is_string_dtype(dtype)


def column_kind(col, name):
    """``"categorical"``, ``"bool"`` or ``"numeric"``; a ``TypeError`` for other dtypes.

    Examples
    --------
    >>> import pandas as pd
    >>> [column_kind(pd.Series(v), "c") for v in (["a"], [True], [1.5])]
    ['categorical', 'bool', 'numeric']
    """
    dtype = col.dtype
    if is_text_like(dtype):
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


def as_str_values(col):
    """Non-missing values as str, missing as NaN (object array).

    Examples
    --------
    >>> import pandas as pd
    >>> as_str_values(pd.Series([1, None, "b"])).tolist()
    ['1', nan, 'b']
    """
    out = col.astype(object)
    mask = col.isna().to_numpy()
    values = np.array([str(v) for v in out.to_numpy()], dtype=object)
    values[mask] = np.nan
    return values


def to_float(col):
    """A column as float64 (NaN for missing); text columns parsed leniently (bad values NaN).

    Examples
    --------
    >>> import pandas as pd
    >>> to_float(pd.Series(["1.5", "x", None], dtype=object)).tolist()
    [1.5, nan, nan]
    """
    if is_text_like(col.dtype):
        col = pd.to_numeric(col.astype(object), errors="coerce")
    return col.to_numpy(dtype=np.float64, na_value=np.nan)


def learn_schema(frame):
    """Kinds, category levels (as str) and dtype names of every column, as learnt at fit.

    Returns
    -------
    kinds, categories, dtypes : dict, dict, dict

    Examples
    --------
    >>> import pandas as pd
    >>> kinds, categories, _ = learn_schema(pd.DataFrame({"x": [1.0, 2.0], "s": ["b", "a"]}))
    >>> kinds, categories
    ({'x': 'numeric', 's': 'categorical'}, {'s': ['a', 'b']})
    """
    kinds, categories, dtypes = {}, {}, {}
    for name in frame.columns:
        col = frame[name]
        kind = column_kind(col, name)
        kinds[name] = kind
        dtypes[name] = str(col.dtype)
        if kind == "categorical":
            if isinstance(col.dtype, pd.CategoricalDtype):
                levels = list(dict.fromkeys(str(c) for c in col.cat.categories))
            else:
                levels = sorted(set(v for v in as_str_values(col) if isinstance(v, str)))
            categories[name] = levels
    return kinds, categories, dtypes


def _level_codes(col, name, levels, handle_unknown):
    """Codes of ``col``'s values among ``levels``; NaN for missing and unseen levels."""
    levels = pd.Index(levels, dtype=object)
    if isinstance(col.dtype, pd.CategoricalDtype):
        lookup = levels.get_indexer(pd.Index([str(c) for c in col.cat.categories], dtype=object))
        codes = col.cat.codes.to_numpy()
        mapped = np.where(codes >= 0, lookup[np.maximum(codes, 0)], -1)
        present = codes >= 0
    else:
        values = as_str_values(col)
        present = ~pd.isna(values)
        mapped = levels.get_indexer(pd.Index(values, dtype=object))
    unknown = present & (mapped < 0)
    if unknown.any():
        examples = sorted(set(map(str, np.asarray(col.astype(object))[unknown][:1000])))[:5]
        if handle_unknown == "error":
            raise ValueError(
                f"Column {name!r} has {int(unknown.sum())} value(s) at levels not seen at fit, "
                f"e.g. {examples}; with handle_unknown='error' this is not allowed "
                "(use handle_unknown='missing' to treat them as missing)."
            )
        logger.info(
            "Column %r: %d value(s) at levels unseen at fit (e.g. %s) treated as missing",
            name, int(unknown.sum()), examples,
        )
    return np.where(mapped >= 0, mapped, np.nan)


def _numeric_values(col, name):
    """A column numeric at fit as float64; a ``TypeError`` when it no longer is."""
    if is_text_like(col.dtype):
        try:
            col = pd.to_numeric(col.astype(object), errors="raise")
        except (ValueError, TypeError) as exc:
            raise TypeError(
                f"Column {name!r} was numeric at fit but now holds non-numeric values "
                f"(dtype {col.dtype}): {exc}"
            ) from None
    if pd.api.types.is_datetime64_any_dtype(col.dtype) or pd.api.types.is_timedelta64_dtype(col.dtype):
        raise TypeError(f"Column {name!r} was numeric at fit but is {col.dtype} now.")
    return col.to_numpy(dtype=np.float64, na_value=np.nan)


def table_matrix(frame, feature_names, kinds, categories, handle_unknown="missing"):
    """The float64 matrix LightGBM sees: columns in fit order, categories as level codes.

    Numeric and bool columns as floats; categorical columns as integer codes of
    the fit-time levels; NaN for missing values and unseen levels (or a
    ``ValueError`` with ``handle_unknown="error"``).

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"x": [1, 2], "s": ["b", "z"]})
    >>> table_matrix(frame, ["x", "s"], {"x": "numeric", "s": "categorical"}, {"s": ["a", "b"]})
    array([[ 1.,  1.],
           [ 2., nan]])
    """
    out = np.empty((len(frame), len(feature_names)), dtype=np.float64)
    for j, name in enumerate(feature_names):
        col = frame[name]
        if kinds[name] == "categorical":
            out[:, j] = _level_codes(col, name, categories[name], handle_unknown)
        else:
            out[:, j] = _numeric_values(col, name)
    return out


class TableInputMixin:
    """Shared handling of DataFrame / array input for riskmodel's estimators.

    ``_input_frame(X, reset=...)`` validates ``X`` with scikit-learn's
    ``validate_data`` and returns a DataFrame with the fit-time column order and
    names (``feature_names_``); a DataFrame whose columns are the fit-time ones in
    another order is reordered by name.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.base import BaseEstimator
    >>> class Echo(TableInputMixin, BaseEstimator):
    ...     def fit(self, X):
    ...         self.feature_names_ = list(self._input_frame(X, reset=True).columns)
    ...         return self
    >>> est = Echo().fit(pd.DataFrame({"a": [1], "b": [2]}))
    >>> list(est._input_frame(pd.DataFrame({"b": [2], "a": [1]}), reset=False).columns)
    ['a', 'b']
    """

    def _input_frame(self, X, *, reset):
        """Validate X; return a DataFrame with the fit-time column order and names."""
        if reset:
            for attr in ("feature_names_in_", "n_features_in_"):  # a second fit forgets the first
                if hasattr(self, attr):
                    delattr(self, attr)
        if isinstance(X, pd.DataFrame):
            if not reset and hasattr(self, "feature_names_in_"):
                fit_names = list(self.feature_names_in_)
                cols = list(X.columns)
                if cols != fit_names and len(cols) == len(fit_names) and set(cols) == set(fit_names):
                    logger.debug("%s: reordering columns by name to the fit-time order", type(self).__name__)
                    X = X[fit_names]
            validate_data(self, X, reset=reset, skip_check_array=True)
            for axis, what in ((0, "sample"), (1, "feature")):
                if X.shape[axis] < 1:
                    raise ValueError(
                        f"Found array with 0 {what}(s) (shape={X.shape}) while a minimum of 1 is required by "
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

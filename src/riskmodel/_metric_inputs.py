"""Checks of outcomes, scores, groups and ``k`` shared by metrics and fairness (private).

One wording for the same wrong input, whichever public function received it:

- :func:`check_y_score` — 0/1 outcomes and finite scores of equal length (aligned
  by index when both are Series and ``align`` is set);
- :func:`align_groups` — a DataFrame of audit attributes, one row per pupil;
- :func:`capacity_of_k` — scikit-learn's ``k`` spelling of a capacity (an int
  count or a float share) mapped through :func:`riskmodel._checks.resolve_capacity`.

Data errors (a NaN outcome, a missing pupil) are ``ValueError``; parameter errors
are :class:`~sklearn.utils._param_validation.InvalidParameterError` from
:mod:`riskmodel._checks`.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from ._checks import InvalidParameterError, check_instance, resolve_capacity

__all__ = ["align_groups", "align_index", "as_1d", "capacity_of_k", "check_binary",
           "check_scores", "check_y_score"]


def as_1d(values, name: str, func: str) -> tuple[np.ndarray, pd.Index | None]:
    """A 1-d array of ``values`` and its index (None unless a Series or DataFrame).

    Examples
    --------
    >>> as_1d([[1], [2]], "y_true", "f")[0].tolist()
    [1, 2]
    """
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise ValueError(
                f"The {name!r} parameter of {func} must be 1-dimensional. "
                f"Got a DataFrame with {values.shape[1]} columns instead."
            )
        values = values.iloc[:, 0]
    if isinstance(values, pd.Series):
        return values.to_numpy(), values.index
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            f"The {name!r} parameter of {func} must be 1-dimensional. Got shape {arr.shape} instead."
        )
    return arr, None


def _numeric(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 values and the mask of missing entries (None, NaN, pd.NA).

    Entries that are neither missing nor numbers become NaN without being marked
    missing, so callers can tell "missing" from "not a number".
    """
    if arr.dtype.kind in "biuf":
        v = arr.astype(np.float64)
        return v, np.isnan(v)
    missing = pd.isna(pd.Series(arr, dtype=object)).to_numpy()
    v = pd.to_numeric(pd.Series(arr, dtype=object), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan)
    return v, missing


def check_binary(y_true, func: str, name: str = "y_true") -> tuple[np.ndarray, pd.Index | None]:
    """0/1 (or bool) outcomes as a float64 array of 0.0 and 1.0, and their index.

    Examples
    --------
    >>> check_binary([True, False], "f")[0].tolist()
    [1.0, 0.0]
    >>> check_binary([0, 2], "precision_at_k")
    Traceback (most recent call last):
    ...
    ValueError: The 'y_true' parameter of precision_at_k must hold 0/1 outcomes. Got other values, e.g. [2.0].
    """
    arr, index = as_1d(y_true, name, func)
    y, missing = _numeric(arr)
    if missing.any():
        raise ValueError(
            f"The {name!r} parameter of {func} must not contain NaN. "
            f"Got {int(missing.sum())} missing outcome(s)."
        )
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        shown = sorted(set(y[bad].tolist()))[:5] if not np.isnan(y[bad]).any() else arr[bad][:5].tolist()
        raise ValueError(
            f"The {name!r} parameter of {func} must hold 0/1 outcomes. Got other values, e.g. {shown}."
        )
    return y, index


def check_scores(values, func: str, name: str = "y_score") -> tuple[np.ndarray, pd.Index | None]:
    """Finite numeric scores as float64, and their index.

    Examples
    --------
    >>> check_scores([0.2, 0.9], "f")[0].tolist()
    [0.2, 0.9]
    """
    arr, index = as_1d(values, name, func)
    s, missing = _numeric(arr)
    if (np.isnan(s) & ~missing).any():
        raise ValueError(f"The {name!r} parameter of {func} must be numeric. Got dtype {arr.dtype} instead.")
    if not np.isfinite(s).all():
        raise ValueError(
            f"The {name!r} parameter of {func} must be finite numbers. "
            f"Got {int((~np.isfinite(s)).sum())} NaN or infinite value(s)."
        )
    return s, index


def align_index(values: np.ndarray, index: pd.Index | None, target: pd.Index | None, n: int,
                name: str, func: str) -> np.ndarray:
    """``values`` in the order of ``target`` (by label when both carry an index).

    Examples
    --------
    >>> align_index(np.array([1, 2]), pd.Index(["b", "a"]), pd.Index(["a", "b"]), 2, "s", "f").tolist()
    [2, 1]
    """
    if len(values) != n:
        raise ValueError(
            f"The {name!r} parameter of {func} must have one value per pupil of y_true "
            f"({n}). Got {len(values)} instead."
        )
    if index is None or target is None or index.equals(target):
        return values
    if not index.is_unique:
        raise ValueError(f"The index of {name!r} in {func} has duplicate labels.")
    pos = index.get_indexer(target)
    if (pos < 0).any():
        missing = target[pos < 0][:5].tolist()
        raise ValueError(
            f"The index of {name!r} in {func} does not match the index of y_true; "
            f"{int((pos < 0).sum())} pupil(s) are missing, e.g. {missing}."
        )
    return values[pos]


def check_y_score(y_true, y_score, func: str, *, score_name: str = "y_score",
                  align: bool = False) -> tuple[np.ndarray, np.ndarray, pd.Index | None]:
    """Checked outcomes (float64 0/1), scores (float64, finite) and the outcomes' index.

    With ``align=True`` a Series of scores is put in the order of a Series of
    outcomes by label (the audits); otherwise the two are matched by position
    (the metrics, like scikit-learn's).

    Examples
    --------
    >>> y, s, _ = check_y_score([0, 1], [0.3, 0.8], "f")
    >>> y.tolist(), s.tolist()
    ([0.0, 1.0], [0.3, 0.8])
    """
    y, y_index = check_binary(y_true, func)
    n = len(y)
    if n == 0:
        raise ValueError(f"The 'y_true' parameter of {func} must contain at least one pupil. Got 0.")
    s, s_index = check_scores(y_score, func, score_name)
    s = align_index(s, s_index if align else None, y_index if align else None, n, score_name, func)
    return y, s, y_index


def align_groups(groups, target: pd.Index | None, n: int, func: str) -> pd.DataFrame:
    """``groups`` (a DataFrame of attributes) with one row per pupil, RangeIndex.

    Rows are matched to ``target`` by index when it is given, else by position.

    Examples
    --------
    >>> g = pd.DataFrame({"sex": ["F", "M"]}, index=["b", "a"])
    >>> align_groups(g, pd.Index(["a", "b"]), 2, "f")["sex"].tolist()
    ['M', 'F']
    """
    check_instance(groups, "groups", pd.DataFrame, func)
    if target is None:
        if len(groups) != n:
            raise ValueError(
                f"The 'groups' parameter of {func} must have one row per pupil ({n}). "
                f"Got {len(groups)} instead."
            )
        return groups.reset_index(drop=True)
    if groups.index.equals(target):
        return groups.reset_index(drop=True)
    if not groups.index.is_unique:
        dup = groups.index[groups.index.duplicated()][:5].tolist()
        raise ValueError(f"The index of 'groups' in {func} has duplicate labels, e.g. {dup}.")
    pos = groups.index.get_indexer(target)
    if (pos < 0).any():
        missing = target[pos < 0][:5].tolist()
        raise ValueError(
            f"The 'groups' parameter of {func} must have a row for every pupil of y_true "
            f"(aligned by index). {int((pos < 0).sum())} pupil(s) are missing, e.g. {missing}."
        )
    return groups.iloc[pos].reset_index(drop=True)


def capacity_of_k(k, n: int, func: str) -> int:
    """Pupils served at capacity ``k`` (scikit-learn's spelling) in a cohort of ``n``.

    An int ``k >= 1`` is ``top_k``, a float in (0, 1] is ``top_fraction``; the
    count follows :func:`riskmodel._checks.resolve_capacity` (ceil of a share, at
    least 1, capped at ``n``).

    Examples
    --------
    >>> capacity_of_k(0.05, 1010, "f"), capacity_of_k(30, 20, "f"), capacity_of_k(1.0, 20, "f")
    (51, 20, 20)
    """
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Real) or (
        isinstance(k, numbers.Integral) and k < 1
    ) or (not isinstance(k, numbers.Integral) and not 0 < k <= 1):
        raise InvalidParameterError(
            f"The 'k' parameter of {func} must be an int >= 1 (a number of pupils) or a float "
            f"in the range (0, 1] (a share of the cohort). Got {k!r} instead."
        )
    if isinstance(k, numbers.Integral):
        return resolve_capacity(n, top_k=int(k), func=func)
    return resolve_capacity(n, top_fraction=float(k), func=func)

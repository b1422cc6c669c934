"""Ranking metrics at capacity and calibration.

Support programmes serve a fixed number of pupils, so a risk list is judged at
its top ``k``: :func:`precision_at_k`, :func:`recall_at_k`, :func:`lift_at_k`
(scikit-learn signature ``(y_true, y_score, *, k)``), together with
:func:`expected_calibration_error` and :func:`metrics_at_k`, the whole row of
metrics that :func:`riskmodel.backtest` reports.

``k`` is either a number of pupils (int >= 1) or a share of the cohort (float in
(0, 1); the count is ``ceil(k * n)``, at least 1). Ties are broken
deterministically: pupils are ordered by score, highest first, and pupils with
equal scores keep their order in the input (a stable sort), so the earlier row
is taken first.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.utils.validation import check_consistent_length, column_or_1d

__all__ = [
    "resolve_k",
    "top_k_indices",
    "precision_at_k",
    "recall_at_k",
    "lift_at_k",
    "expected_calibration_error",
    "metrics_at_k",
]


def _check_binary(y_true, name="y_true"):
    y = column_or_1d(y_true, warn=False)
    if y.dtype == bool:
        return y.astype(np.float64)
    if y.dtype.kind not in "iuf":
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must hold 0/1 labels. Got dtype {y.dtype} instead.") from None
    y = y.astype(np.float64)
    if np.isnan(y).any():
        raise ValueError(f"Input {name} contains NaN.")
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        raise ValueError(
            f"{name} must hold 0/1 labels. Got values {sorted(set(y[bad].tolist()))[:5]} instead."
        )
    return y


def _check_score(y_score, name="y_score"):
    s = column_or_1d(y_score, warn=False)
    try:
        s = s.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric. Got dtype {s.dtype} instead.") from None
    if not np.isfinite(s).all():
        raise ValueError(f"Input {name} contains NaN or infinity.")
    return s


def _check_inputs(y_true, y_score):
    y = _check_binary(y_true)
    s = _check_score(y_score)
    check_consistent_length(y, s)
    if len(y) == 0:
        raise ValueError("y_true and y_score are empty; need at least 1 sample.")
    return y, s


def resolve_k(k, n):
    """Number of pupils at capacity ``k`` in a cohort of ``n``.

    Parameters
    ----------
    k : int or float
        int >= 1: a number of pupils (at most ``n``); float in (0, 1): a share of
        the cohort, ``ceil(k * n)`` pupils (at least 1).
    n : int
        Cohort size.

    Returns
    -------
    int

    Examples
    --------
    >>> resolve_k(0.05, 1000), resolve_k(30, 1000), resolve_k(0.07, 100)
    (50, 30, 7)
    """
    if isinstance(k, (bool, np.bool_)):
        raise ValueError(f"The 'k' parameter must be an int >= 1 or a float in (0, 1). Got {k!r} instead.")
    if isinstance(k, numbers.Integral):
        if k < 1:
            raise ValueError(f"The 'k' parameter must be an int >= 1 or a float in (0, 1). Got {k!r} instead.")
        if k > n:
            raise ValueError(f"The 'k' parameter ({k}) exceeds the number of samples ({n}).")
        return int(k)
    if isinstance(k, numbers.Real) and 0 < k < 1:
        # round away float noise (0.07 * 100 = 7.000000000000001) before the ceiling
        return max(1, int(math.ceil(round(float(k) * n, 9))))
    raise ValueError(f"The 'k' parameter must be an int >= 1 or a float in (0, 1). Got {k!r} instead.")


def _top(s, k):
    """Positions of the k highest of already-checked scores ``s`` (stable ties)."""
    return np.argsort(-s, kind="stable")[: resolve_k(k, len(s))]


def top_k_indices(y_score, *, k):
    """Positions of the ``k`` highest scores; ties keep input order (stable sort).

    Parameters
    ----------
    y_score : array-like of shape (n_samples,)
    k : int or float
        See :func:`resolve_k`.

    Returns
    -------
    ndarray of int, length ``resolve_k(k, n_samples)``, highest score first

    Examples
    --------
    >>> top_k_indices([0.2, 0.9, 0.2, 0.5], k=3).tolist()
    [1, 3, 0]
    """
    return _top(_check_score(y_score), k)


def precision_at_k(y_true, y_score, *, k):
    """Share of events among the ``k`` pupils with the highest scores.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        0/1 (or bool) outcomes.
    y_score : array-like of shape (n_samples,)
        Risk scores, higher = riskier.
    k : int or float
        Number of pupils (int >= 1) or share of the cohort (float in (0, 1)).
        Ties are broken by input order (stable sort).

    Returns
    -------
    float

    Examples
    --------
    >>> precision_at_k([0, 1, 1, 0], [0.1, 0.9, 0.4, 0.5], k=2)
    0.5
    """
    y, s = _check_inputs(y_true, y_score)
    top = _top(s, k)
    return float(y[top].mean())


def recall_at_k(y_true, y_score, *, k):
    """Share of all events that are among the top ``k`` scores (NaN when there are no events).

    Parameters
    ----------
    y_true, y_score, k
        As in :func:`precision_at_k`.

    Returns
    -------
    float

    Examples
    --------
    >>> recall_at_k([0, 1, 1, 0], [0.1, 0.9, 0.4, 0.5], k=2)
    0.5
    """
    y, s = _check_inputs(y_true, y_score)
    total = y.sum()
    if total == 0:
        return float("nan")
    top = _top(s, k)
    return float(y[top].sum() / total)


def lift_at_k(y_true, y_score, *, k):
    """Precision at ``k`` divided by the prevalence (NaN when there are no events).

    Parameters
    ----------
    y_true, y_score, k
        As in :func:`precision_at_k`.

    Returns
    -------
    float

    Examples
    --------
    >>> lift_at_k([0, 1, 0, 0], [0.1, 0.9, 0.4, 0.5], k=1)
    4.0
    """
    y, s = _check_inputs(y_true, y_score)
    prevalence = y.mean()
    if prevalence == 0:
        return float("nan")
    top = _top(s, k)
    return float(y[top].mean() / prevalence)


def expected_calibration_error(y_true, y_prob, *, n_bins=10, strategy="uniform"):
    """Expected calibration error: ``sum_b (n_b / n) * |mean(y)_b - mean(p)_b|``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        0/1 outcomes.
    y_prob : array-like of shape (n_samples,)
        Predicted probabilities in [0, 1].
    n_bins : int, default=10
    strategy : {"uniform", "quantile"}, default="uniform"
        Equal-width bins on [0, 1], or bins with equal numbers of pupils.

    Returns
    -------
    float

    Examples
    --------
    >>> expected_calibration_error([0, 0, 1, 1], [0.0, 0.0, 1.0, 1.0])
    0.0
    """
    y, p = _check_inputs(y_true, y_prob)
    if (p < 0).any() or (p > 1).any():
        raise ValueError("y_prob must hold probabilities in [0, 1].")
    if not (isinstance(n_bins, numbers.Integral) and not isinstance(n_bins, bool) and n_bins >= 1):
        raise ValueError(f"The 'n_bins' parameter must be an int >= 1. Got {n_bins!r} instead.")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)))
    else:
        raise ValueError(f"The 'strategy' parameter must be 'uniform' or 'quantile'. Got {strategy!r} instead.")
    bins = np.clip(np.searchsorted(edges[1:-1], p, side="right"), 0, len(edges) - 2)
    count = np.bincount(bins, minlength=len(edges) - 1)
    sum_y = np.bincount(bins, weights=y, minlength=len(edges) - 1)
    sum_p = np.bincount(bins, weights=p, minlength=len(edges) - 1)
    return float(np.abs(sum_y - sum_p).sum() / len(y))


def metrics_at_k(y_true, y_prob, *, k, n_bins=10):
    """The row of metrics the temporal backtest reports for one model and cohort.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        0/1 outcomes.
    y_prob : array-like of shape (n_samples,)
        Predicted probabilities (used both for ranking and for calibration).
    k : int or float
        Capacity, see :func:`resolve_k`.
    n_bins : int, default=10
        Bins of :func:`expected_calibration_error`.

    Returns
    -------
    dict
        n, prevalence, k, k_share, roc_auc, average_precision, brier, ece,
        mean_predicted, precision_at_k, recall_at_k, lift_at_k. Ranking metrics are
        NaN when the cohort has a single class.

    Examples
    --------
    >>> row = metrics_at_k([0, 1, 1, 0], [0.1, 0.9, 0.4, 0.5], k=2)
    >>> row["precision_at_k"], row["roc_auc"]
    (0.5, 0.75)
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, p = _check_inputs(y_true, y_prob)
    n = len(y)
    kk = resolve_k(k, n)
    top = np.argsort(-p, kind="stable")[:kk]
    prevalence = float(y.mean())
    hits = float(y[top].sum())
    both = 0 < prevalence < 1
    return {
        "n": n,
        "prevalence": prevalence,
        "k": kk,
        "k_share": kk / n,
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "average_precision": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(np.mean((p - y) ** 2)),
        "ece": expected_calibration_error(y, p, n_bins=n_bins),
        "mean_predicted": float(p.mean()),
        "precision_at_k": hits / kk,
        "recall_at_k": hits / y.sum() if y.sum() > 0 else float("nan"),
        "lift_at_k": (hits / kk) / prevalence if prevalence > 0 else float("nan"),
    }

"""Ranking metrics at capacity and calibration.

Support programmes serve a fixed number of pupils, so a risk list is judged at
its top ``k``: :func:`precision_at_k`, :func:`recall_at_k`, :func:`lift_at_k`
(scikit-learn signature ``(y_true, y_score, *, k)``), together with
:func:`expected_calibration_error` and :func:`metrics_at_k`, the whole row of
metrics that :func:`riskmodel.backtest` reports.

``k`` is either a number of pupils (int >= 1, capped at the cohort) or a share
of the cohort (float in (0, 1]; the count is ``ceil(k * n)``, at least 1): the
one capacity rule of :func:`resolve_capacity`, which the backtest, the audit,
the model card and the score report share. Ties are broken
deterministically: pupils are ordered by score, highest first, and pupils with
equal scores keep their order in the input (a stable sort), so the earlier row
is taken first.
"""

from __future__ import annotations

import warnings

import numpy as np

from ._checks import check_int, check_option, resolve_capacity
from ._metric_inputs import capacity_of_k, check_scores, check_y_score

__all__ = [
    "resolve_capacity",
    "resolve_k",
    "top_k_indices",
    "precision_at_k",
    "recall_at_k",
    "lift_at_k",
    "expected_calibration_error",
    "metrics_at_k",
]


def resolve_k(k, n):
    """Number of pupils at capacity ``k`` in a cohort of ``n`` (deprecated).

    .. deprecated:: 0.2
       Use :func:`resolve_capacity` (``top_k=`` a count or ``top_fraction=`` a
       share); ``resolve_k`` will be removed in 0.3. It now follows the one rule
       (ceil of a share, at least 1, capped at ``n``; a share of 1.0 is allowed).

    Parameters
    ----------
    k : int or float
        int >= 1: a number of pupils; float in (0, 1]: a share of the cohort.
    n : int
        Cohort size.

    Returns
    -------
    int

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", FutureWarning)
    ...     resolve_k(0.05, 1010), resolve_k(30, 1000)
    (51, 30)
    """
    warnings.warn(
        "resolve_k is deprecated since riskmodel 0.2 and will be removed in 0.3; use "
        "riskmodel.metrics.resolve_capacity(n, top_k=...) or (n, top_fraction=...) instead.",
        FutureWarning,
        stacklevel=2,
    )
    return capacity_of_k(k, n, "resolve_k")


def _top(s, k, func):
    """Positions of the k highest of already-checked scores ``s`` (stable ties)."""
    return np.argsort(-s, kind="stable")[: capacity_of_k(k, len(s), func)]


def _checked_top(y_true, y_score, k, func):
    """Checked outcomes and the positions of the ``k`` highest scores."""
    y, s, _ = check_y_score(y_true, y_score, func)
    return y, _top(s, k, func)


def top_k_indices(y_score, *, k):
    """Positions of the ``k`` highest scores; ties keep input order (stable sort).

    Parameters
    ----------
    y_score : array-like of shape (n_samples,)
    k : int or float
        Number of pupils (int >= 1) or share of the cohort (float in (0, 1]),
        see :func:`resolve_capacity`.

    Returns
    -------
    ndarray of int, highest score first

    Examples
    --------
    >>> top_k_indices([0.2, 0.9, 0.2, 0.5], k=3).tolist()
    [1, 3, 0]
    """
    return _top(check_scores(y_score, "top_k_indices")[0], k, "top_k_indices")


def precision_at_k(y_true, y_score, *, k):
    """Share of events among the ``k`` pupils with the highest scores.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        0/1 (or bool) outcomes.
    y_score : array-like of shape (n_samples,)
        Risk scores, higher = riskier.
    k : int or float
        Number of pupils (int >= 1; capped at ``n_samples``) or share of the
        cohort (float in (0, 1]; ``ceil(k * n)`` pupils, at least 1), the rule of
        :func:`resolve_capacity`. Ties are broken by input order (stable sort).

    Returns
    -------
    float

    Examples
    --------
    >>> precision_at_k([0, 1, 1, 0], [0.1, 0.9, 0.4, 0.5], k=2)
    0.5
    """
    y, top = _checked_top(y_true, y_score, k, "precision_at_k")
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
    y, top = _checked_top(y_true, y_score, k, "recall_at_k")
    total = y.sum()
    if total == 0:
        return float("nan")
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
    y, top = _checked_top(y_true, y_score, k, "lift_at_k")
    prevalence = y.mean()
    if prevalence == 0:
        return float("nan")
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
    return _ece(*_check_probs(y_true, y_prob, "expected_calibration_error"), n_bins, strategy,
                "expected_calibration_error")


def _check_probs(y_true, y_prob, func):
    y, p, _ = check_y_score(y_true, y_prob, func, score_name="y_prob")
    if (p < 0).any() or (p > 1).any():
        raise ValueError(f"The 'y_prob' parameter of {func} must hold probabilities in [0, 1]. "
                         f"Got {int(((p < 0) | (p > 1)).sum())} value(s) outside.")
    return y, p


def _ece(y, p, n_bins, strategy, func):
    """Expected calibration error of checked outcomes ``y`` and probabilities ``p``."""
    n_bins = check_int(n_bins, "n_bins", func, min_value=1)
    strategy = check_option(strategy, "strategy", ("uniform", "quantile"), func)
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)))
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
        Capacity: a number of pupils or a share of the cohort, see
        :func:`precision_at_k` and :func:`resolve_capacity`.
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

    func = "metrics_at_k"
    y, p = _check_probs(y_true, y_prob, func)
    n = len(y)
    kk = capacity_of_k(k, n, func)
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
        "ece": _ece(y, p, n_bins, "uniform", func),
        "mean_predicted": float(p.mean()),
        "precision_at_k": hits / kk,
        "recall_at_k": hits / y.sum() if y.sum() > 0 else float("nan"),
        "lift_at_k": (hits / kk) / prevalence if prevalence > 0 else float("nan"),
    }

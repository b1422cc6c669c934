"""Temporal backtest: train on earlier cohorts, test on a later one, at capacity.

:func:`backtest` is the honest test of a risk model: for every test date it
trains each model only on as_of cohorts whose outcomes were fully known by that
date (``train_as_of + horizon_days <= test_as_of``), scores the test cohort and
reports ranking metrics at the programme's capacity with bootstrap intervals,
including the paired interval of each model's precision@k minus each
baseline's.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import clone

from ._checks import (
    CONFIDENCE,
    N_BOOT,
    UNSET,
    InvalidParameterError,
    check_int,
    check_real,
    parse_as_of,
    renamed_param,
    resolve_capacity,
)
from ._cohorts import align, build_cohorts, default_models
from .metrics import metrics_at_k

__all__ = ["backtest", "temporal_splits"]

logger = logging.getLogger(__name__)

_METRICS = (
    "roc_auc",
    "average_precision",
    "brier",
    "ece",
    "mean_predicted",
    "precision_at_k",
    "recall_at_k",
    "lift_at_k",
)


def temporal_splits(as_of_dates, horizon_days=365):
    """Pairs ``(train_dates, test_date)`` where every training outcome is known by the test date.

    Parameters
    ----------
    as_of_dates : sequence of date-like
        Dates without a time of day (see :func:`riskmodel.build_features`).
    horizon_days : int, default=365

    Returns
    -------
    list of (list of Timestamp, Timestamp)
        Test dates without any eligible training cohort are left out.

    Examples
    --------
    >>> [(len(tr), str(te.date())) for tr, te in temporal_splits(["2022-09-01", "2023-09-01", "2024-09-01"])]
    [(1, '2023-09-01'), (2, '2024-09-01')]
    """
    return _splits(_dates(as_of_dates, "temporal_splits"),
                   check_int(horizon_days, "horizon_days", "temporal_splits", min_value=1))


def _dates(as_of_dates, func):
    return sorted({parse_as_of(d, func, "as_of_dates") for d in as_of_dates})


def _splits(dates, horizon_days):
    horizon = pd.Timedelta(days=int(horizon_days))
    out = []
    for test in dates:
        train = [d for d in dates if d + horizon <= test]
        if train:
            out.append((train, test))
    return out


def _cohorts(tables, dates, horizon_days):
    """{date: (X, y)} from SchoolTables (features + labels) or from a given mapping, aligned."""
    if not isinstance(tables, Mapping):
        return build_cohorts(tables, dates, horizon_days)
    by_ts = {parse_as_of(d, "backtest", "tables"): v for d, v in tables.items()}
    cohorts = {}
    for d in dates:
        if d not in by_ts:
            raise ValueError(f"backtest got a mapping of cohorts without the as_of date {d.date()}.")
        X, y = by_ts[d]
        cohorts[d] = align(X, y, d.date())
    return cohorts


def _listed(value):
    return list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]


def _capacities(k, top_k, top_fraction):
    """``[(top_k, top_fraction), ...]``: one capacity per block of rows (old ``k`` mapped)."""
    if k is not UNSET:
        if top_k is not None:
            raise InvalidParameterError("backtest got both 'k' (renamed) and 'top_k'; pass "
                                        "top_k or top_fraction only.")
        values = _listed(k)
        counts = [isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
                  for v in values]
        renamed_param(k, None, old="k", new="top_k" if all(counts) else "top_fraction",
                      func="backtest", stacklevel=4)
        specs = [(v, None) if count else (None, v) for v, count in zip(values, counts)]
    elif top_k is not None:
        specs = [(v, None) for v in _listed(top_k)]
    else:
        specs = [(None, v) for v in _listed(top_fraction)]
    if not specs:
        raise InvalidParameterError("The capacity of backtest ('top_k' or 'top_fraction') must "
                                    "not be empty.")
    for tk, tf in specs:  # checked before any model is fitted
        resolve_capacity(1, top_k=tk, top_fraction=tf, func="backtest")
    return specs


class _Ranked:
    """One model's scores on one cohort, sorted once for fast weighted (bootstrap) metrics."""

    def __init__(self, y, p, n_bins):
        self.order = np.argsort(-p, kind="stable")
        self.y = y[self.order]
        self.p = p[self.order]
        new = np.r_[True, self.p[1:] != self.p[:-1]]
        self.gid = np.cumsum(new) - 1
        self.ng = int(self.gid[-1]) + 1
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        self.bin = np.clip(np.searchsorted(edges[1:-1], self.p, side="right"), 0, n_bins - 1)
        self.n_bins = n_bins

    def metrics(self, weight, kk):
        """Metrics with row multiplicities ``weight`` (in original row order)."""
        w = weight[self.order].astype(np.float64)
        y, p = self.y, self.p
        wy = w * y
        total, pos = w.sum(), wy.sum()
        neg = total - pos
        before = np.cumsum(w) - w
        take = np.clip(kk - before, 0.0, w)
        hits = float((y * take).sum())
        gp = np.bincount(self.gid, weights=wy, minlength=self.ng)
        gn = np.bincount(self.gid, weights=w - wy, minlength=self.ng)
        cn = np.cumsum(gn)
        tp = np.cumsum(gp)
        if pos > 0 and neg > 0:
            auc = float((gp * ((neg - cn) + 0.5 * gn)).sum() / (pos * neg))
            with np.errstate(invalid="ignore", divide="ignore"):
                prec = np.where(tp + cn > 0, tp / (tp + cn), 0.0)
            ap = float((gp / pos * prec).sum())
        else:
            auc = ap = float("nan")
        by_bin_y = np.bincount(self.bin, weights=wy, minlength=self.n_bins)
        by_bin_p = np.bincount(self.bin, weights=w * p, minlength=self.n_bins)
        prevalence = pos / total
        precision = hits / kk
        return {
            "roc_auc": auc,
            "average_precision": ap,
            "brier": float((w * (p - y) ** 2).sum() / total),
            "ece": float(np.abs(by_bin_y - by_bin_p).sum() / total),
            "mean_predicted": float((w * p).sum() / total),
            "precision_at_k": precision,
            "recall_at_k": hits / pos if pos > 0 else float("nan"),
            "lift_at_k": precision / prevalence if prevalence > 0 else float("nan"),
        }


def backtest(
    tables,
    as_of_dates,
    horizon_days=365,
    models=None,
    k=UNSET,
    n_boot=N_BOOT,
    random_state=0,
    *,
    top_k=None,
    top_fraction=0.05,
    baselines=None,
    confidence=CONFIDENCE,
    n_bins=10,
    return_predictions=False,
    ci=UNSET,
):
    """Temporal backtest of risk models against baselines at the programme's capacity.

    For each test date ``t`` in ``as_of_dates`` every model is trained (a fresh
    clone) on all cohorts ``s`` with ``s + horizon_days <= t`` -- their outcomes
    were fully known at ``t`` -- stacked into one table (the same pupil may appear
    in several cohorts; :class:`~riskmodel.RiskModel` keeps a pupil's rows in one
    internal fold), and scored on the cohort of ``t``. Dates without an eligible
    training cohort are only used for training.

    Parameters
    ----------
    tables : SchoolTables or mapping
        School records; features come from :func:`riskmodel.build_features` and
        labels from :func:`riskmodel.make_labels` at each as_of date. Or a mapping
        ``{as_of: (X, y)}`` of ready pupil-level cohorts (index pupil_id).
    as_of_dates : sequence of date-like
        Dates without a time of day.
    horizon_days : int, default=365
    models : dict of name -> estimator, optional
        Unfitted scikit-learn classifiers with ``predict_proba``. Default:
        ``"riskmodel"`` (:class:`~riskmodel.RiskModel`) and the baselines
        ``"rule"``, ``"school"`` and ``"logistic"`` -- the labels of the
        pipeline's tables and MLflow runs.
    k : int, float or sequence of them
        Deprecated alias (removed in 0.3): an int is a ``top_k``, a float a
        ``top_fraction``.
    n_boot : int, default=1000
        Bootstrap resamples of the test cohort (pupils drawn with replacement,
        the same draws for every model, so differences are paired). 0: no intervals.
    random_state : int, default=0
        Seeds the bootstrap and the default models.
    top_k : int or sequence of int, optional
        Capacity as a number of pupils; one block of rows per value. When given,
        ``top_fraction`` is not used.
    top_fraction : float or sequence of float, default=0.05
        Capacity as a share of the test cohort, in (0, 1]: ``ceil(top_fraction * n)``
        pupils (the one rule, see :func:`riskmodel.fairness.audit`).
    baselines : list of str, optional
        Names in ``models`` that are baselines; default: the models that are
        instances of riskmodel's baseline classes.
    confidence : float, default=0.95
        Coverage of the percentile intervals.
    n_bins : int, default=10
        Bins of the expected calibration error.
    return_predictions : bool, default=False
        Also return a long DataFrame (test_date, model, pupil_id, y_true, y_prob).
    ci : float
        Deprecated alias of ``confidence`` (removed in 0.3).

    Returns
    -------
    DataFrame
        One row per (test_date, capacity, model): model, test_date (datetime64),
        train_dates, n_train, n, prevalence, k (the number of pupils at the
        capacity), k_share, roc_auc, average_precision, brier, ece,
        mean_predicted, precision_at_k, recall_at_k, lift_at_k, each metric with
        ``*_low`` / ``*_high`` bootstrap bounds, and for every baseline B the
        paired difference ``precision_at_k_minus_B`` with ``*_low`` / ``*_high``
        (NaN on B's own row).

    Examples
    --------
    >>> import numpy as np, pandas as pd, riskmodel as rm
    >>> rng = np.random.default_rng(0)
    >>> def cohort(n):
    ...     X = pd.DataFrame({"attendance_rate_90d": rng.random(n)},
    ...                      index=pd.Index([f"p{i}" for i in range(n)], name="pupil_id"))
    ...     return X, pd.Series((rng.random(n) > X["attendance_rate_90d"]).astype(int), index=X.index)
    >>> cohorts = {"2023-10-02": cohort(200), "2024-10-01": cohort(200)}
    >>> bt = rm.backtest(cohorts, list(cohorts), models={"logistic": rm.LogisticBaseline()},
    ...                  top_fraction=0.05, n_boot=0)
    >>> bt[["model", "test_date", "n", "k"]]
          model  test_date    n   k
    0  logistic 2024-10-01  200  10
    """
    from ._baselines import Baseline as _Baseline

    func = "backtest"
    horizon_days = check_int(horizon_days, "horizon_days", func, min_value=1)
    dates = _dates(as_of_dates, func)
    splits = _splits(dates, horizon_days)
    if not splits:
        raise ValueError(
            f"backtest needs a test date at least horizon_days={horizon_days} after another as_of date; "
            f"got {[str(d.date()) for d in dates]}."
        )
    n_boot = check_int(n_boot, "n_boot", func, min_value=0)
    confidence = renamed_param(ci, confidence, old="ci", new="confidence", func=func)
    confidence = check_real(confidence, "confidence", func, low=0, high=1, closed="neither")
    capacities = _capacities(k, top_k, top_fraction)
    models = default_models(random_state) if models is None else dict(models)
    if not models:
        raise InvalidParameterError("The 'models' parameter of backtest must be a non-empty "
                                    "mapping of name -> estimator. Got {} instead.")
    if baselines is None:
        baselines = [name for name, m in models.items() if isinstance(m, _Baseline)]
    unknown = sorted(set(baselines) - set(models))
    if unknown:
        raise InvalidParameterError(f"The 'baselines' parameter of backtest must name models in "
                                    f"'models' {sorted(models)}. Got {unknown} instead.")

    used = sorted({d for tr, te in splits for d in (*tr, te)})
    cohorts = _cohorts(tables, used, horizon_days)
    empty = [d for d, (_, y) in cohorts.items() if len(y) == 0]
    if empty:
        logger.warning(
            "backtest: no observed outcome at as_of %s (horizon not yet over); these dates are left out",
            [str(d.date()) for d in empty],
        )
        splits = _splits([d for d in used if d not in empty], horizon_days)
        if not splits:
            raise ValueError(
                "backtest has no test date with observed outcomes and an earlier training cohort; "
                f"dates without outcomes: {[str(d.date()) for d in empty]}."
            )
    rng = np.random.default_rng(random_state)
    alpha = (1.0 - confidence) / 2.0
    rows, predictions = [], []
    for train_dates, test_date in splits:
        X_train = pd.concat([cohorts[d][0] for d in train_dates])
        y_train = pd.concat([cohorts[d][1] for d in train_dates])
        X_test, y_test = cohorts[test_date]
        y = y_test.to_numpy(dtype=np.float64)
        n = len(y)
        probs = {}
        for name, estimator in models.items():
            logger.info("backtest %s: fitting %s on %d rows", test_date.date(), name, len(X_train))
            fitted = clone(estimator).fit(X_train, y_train)
            probs[name] = np.asarray(fitted.predict_proba(X_test)[:, 1], dtype=np.float64)
            if return_predictions:
                predictions.append(
                    pd.DataFrame(
                        {
                            "test_date": test_date,
                            "model": name,
                            "pupil_id": X_test.index,
                            "y_true": y_test.to_numpy(),
                            "y_prob": probs[name],
                        }
                    )
                )
        ranked = {name: _Ranked(y, p, n_bins) for name, p in probs.items()}
        draws = [np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_boot)]
        for cap_k, cap_fraction in capacities:
            kk = resolve_capacity(n, top_k=cap_k, top_fraction=cap_fraction, func=func)
            boot = {name: [r.metrics(w, kk) for w in draws] for name, r in ranked.items()}
            for name, p in probs.items():
                row = {
                    "model": name,
                    "test_date": test_date,
                    "train_dates": ",".join(str(d.date()) for d in train_dates),
                    "n_train": len(y_train),
                }
                point = metrics_at_k(y, p, k=kk, n_bins=n_bins)
                row.update(point)
                for metric in _METRICS:
                    values = np.array([b[metric] for b in boot[name]], dtype=np.float64)
                    row.update(_interval(metric, values, alpha))
                for base in baselines:
                    col = f"precision_at_k_minus_{base}"
                    if base == name:
                        row.update({col: np.nan, f"{col}_low": np.nan, f"{col}_high": np.nan})
                        continue
                    row[col] = point["precision_at_k"] - metrics_at_k(y, probs[base], k=kk)["precision_at_k"]
                    diff = np.array(
                        [a["precision_at_k"] - b["precision_at_k"] for a, b in zip(boot[name], boot[base])]
                    )
                    row.update(_interval(col, diff, alpha))
                rows.append(row)
    result = pd.DataFrame(rows)
    if return_predictions:
        return result, pd.concat(predictions, ignore_index=True)
    return result


def _interval(name, values, alpha):
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return {f"{name}_low": np.nan, f"{name}_high": np.nan}
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return {f"{name}_low": float(low), f"{name}_high": float(high)}

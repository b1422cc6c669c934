"""Backtest cohorts and the models compared on them (private; shared by splits and pipeline).

- :func:`build_cohorts` turns school records into ``{as_of: (X, y)}``: the
  features and the observed outcome of every pupil of each cohort, aligned.
- :func:`align` aligns one cohort's features and labels and drops unknown outcomes.
- :data:`MODEL_LABELS` and :func:`default_models`: the one set of model labels
  used by :func:`riskmodel.backtest` and by the pipeline's tables and MLflow runs.
"""

from __future__ import annotations

import logging

import pandas as pd

logger = logging.getLogger(__name__)

__all__ = ["BASELINE_LABELS", "MODEL_LABELS", "align", "build_cohorts", "default_models"]

#: Label of every model of a backtest -> the riskmodel class it names.
MODEL_LABELS = {
    "riskmodel": "RiskModel",
    "rule": "RuleBaseline",
    "school": "SchoolBaseline",
    "logistic": "LogisticBaseline",
}
#: The baselines' labels, in the order the tables list them.
BASELINE_LABELS = ("rule", "school", "logistic")


def default_models(random_state=0, *, baselines=BASELINE_LABELS, model_params=None) -> dict:
    """``{label: unfitted estimator}``: RiskModel (as ``"riskmodel"``) and the ``baselines``.

    Examples
    --------
    >>> sorted(default_models(0))
    ['logistic', 'riskmodel', 'rule', 'school']
    >>> list(default_models(0, baselines=["rule"]))
    ['riskmodel', 'rule']
    """
    from . import model as M

    models = {"riskmodel": M.RiskModel(**{"random_state": random_state, **(model_params or {})})}
    for name in baselines:
        models[name] = getattr(M, MODEL_LABELS[name])()
    return models


def align(X, y, when):
    """Features and 0/1 labels of the pupils in both, without unknown outcomes.

    An empty ``y`` (no outcome observed yet) gives an empty cohort; a non-empty
    ``y`` that shares no pupil with ``X`` is an error.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=["p1", "p2", "p3"])
    >>> Xa, ya = align(X, pd.Series([1.0, None], index=["p2", "p3"]), "2025-10-01")
    >>> list(Xa.index), ya.tolist()
    (['p2'], [1])
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"The features of cohort {when} must be a DataFrame. "
                        f"Got {type(X).__name__} instead.")
    y = y if isinstance(y, pd.Series) else pd.Series(y, index=X.index)
    if not (len(X) == len(y) and X.index.equals(y.index)):
        common = X.index.intersection(y.index)
        if len(common) == 0 and len(y):
            raise ValueError(f"Cohort {when}: features and labels share no pupil_id.")
        X, y = X.loc[common], y.loc[common]
    keep = y.notna().to_numpy()
    if not keep.all():
        logger.info("Cohort %s: %d pupils without a known outcome left out", when,
                    int((~keep).sum()))
        X, y = X[keep], y[keep]
    return X, y.astype(int)


def build_cohorts(tables, dates, horizon_days: int) -> dict:
    """``{as_of: (X, y)}`` from SchoolTables: features and labels of each cohort, aligned."""
    from .features import build_feature_panel
    from .labels import make_labels

    panel = build_feature_panel(tables, list(dates))
    cohorts = {}
    for d in dates:
        X = panel.xs(d, level="as_of")
        y = make_labels(tables, as_of=d, horizon_days=horizon_days)
        cohorts[d] = align(X, y, d.date())
    return cohorts

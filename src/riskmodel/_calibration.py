"""Calibration maps from a raw score to a probability (private).

Platt scaling (``"sigmoid"``) and isotonic regression, fitted on scores of rows
the model did not train on, kept as JSON-safe dicts ``{"method": ..., "params": ...}``
and applied with a few numpy operations.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

__all__ = ["apply_calibration", "fit_calibration", "fit_platt", "proba_2col"]


def fit_platt(score, y01, weight):
    """Platt scaling ``p = expit(a * score + b)``, with Platt's smoothed targets.

    Examples
    --------
    >>> import numpy as np
    >>> params = fit_platt(np.array([-1.0, 0.0, 1.0, 2.0]), np.array([0, 0, 1, 1]), np.ones(4))
    >>> params["a"] > 0
    True
    """
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


def fit_calibration(method, score, y01, weight):
    """``{"method": method, "params": ...}`` fitted on held-out scores.

    ``method`` is ``"sigmoid"`` (Platt), ``"isotonic"`` or None (the score's own
    log-odds, no parameters).

    Examples
    --------
    >>> import numpy as np
    >>> fit_calibration(None, np.zeros(2), np.array([0, 1]), np.ones(2))
    {'method': None, 'params': {}}
    """
    if method == "sigmoid":
        params = fit_platt(score, y01, weight)
    elif method == "isotonic":
        params = _fit_isotonic(score, y01, weight)
    else:
        params = {}
    return {"method": method, "params": params}


def apply_calibration(calibration, score):
    """Probabilities of a fitted calibration map (a :func:`fit_calibration` dict).

    Examples
    --------
    >>> import numpy as np
    >>> apply_calibration({"method": "sigmoid", "params": {"a": 1.0, "b": 0.0}}, np.zeros(1))
    array([0.5])
    """
    method, params = calibration["method"], calibration.get("params", {})
    if method == "sigmoid":
        return expit(params["a"] * score + params["b"])
    if method == "isotonic":
        return np.interp(score, np.asarray(params["x"]), np.asarray(params["y"]))
    return expit(score)


def proba_2col(p):
    """``[1 - p, p]`` columns clipped to [0, 1] (scikit-learn's ``predict_proba`` shape).

    Examples
    --------
    >>> proba_2col([0.25]).tolist()
    [[0.75, 0.25]]
    """
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    return np.column_stack([1.0 - p, p])

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

This module is the public face; the code lives in small private modules:
``_table_input`` (input checks, column kinds, the booster matrix),
``_calibration`` (Platt, isotonic), ``_riskmodel`` and ``_boosting`` (RiskModel
and its fitting steps), ``_model_io`` (the file format), ``_linear`` (the linear
start) and ``_baselines`` (the baselines and their shared base class
``Baseline``).

Examples
--------
>>> from riskmodel.model import RiskModel, RuleBaseline, SchoolBaseline, LogisticBaseline
>>> RiskModel(random_state=0)
RiskModel(random_state=0)
"""

from __future__ import annotations

from ._baselines import LogisticBaseline, RuleBaseline, SchoolBaseline
from ._riskmodel import RiskModel

__all__ = ["RiskModel", "RuleBaseline", "SchoolBaseline", "LogisticBaseline"]

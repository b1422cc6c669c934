"""Monitoring: know when the score stops meaning what it meant.

- :func:`check` compares a current feature frame with a reference (the training
  cohort, say): drift per feature (PSI, Jensen-Shannon distance, missing share,
  values out of the reference range), availability per domain (a domain gone
  empty, a drop of records per pupil), the score (PSI, tier shares, mean risk) and,
  with outcomes, calibration (O/E, intercept, slope), AUC and precision@k with
  intervals. It returns a :class:`MonitorReport` with one tidy findings table and a
  decision on the ladder of Davis et al. (JAMIA 2019): ``keep``,
  ``update_intercept``, ``recalibrate``, ``refit`` or ``rules_only``.
- :func:`calibrate_thresholds` takes the thresholds from the data's own history
  (stable consecutive years): the 99th percentile of each statistic. They are
  JSON-able (:meth:`MonitorThresholds.to_dict`) to be stored with a model. Each is
  at least the documented minimum effect size of ``FLOORS``; fewer than
  ``MIN_PAIRS`` (3) stable pairs, or use at another time of year, are stated.
"""

from __future__ import annotations

from ._check import check
from ._decision import DECISIONS
from ._report import MonitorReport
from ._thresholds import FLOORS, MIN_PAIRS, MonitorThresholds, calibrate_thresholds

__all__ = ["DECISIONS", "FLOORS", "MIN_PAIRS", "MonitorReport", "MonitorThresholds",
           "calibrate_thresholds", "check"]

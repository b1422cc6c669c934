"""Data sets: the synthetic Latvian school system (the embedded default) and loaders.

- :func:`make_school_system` simulates pupils, schools and their records with the
  generator's own truth (:class:`SchoolSystem`).
- :func:`load_student_performance` loads the public UCI Student Performance data
  (Cortez and Silva, 2008) as a pupil-level table for examples.

The generator lives in small private modules: ``_params`` (every coefficient),
``_geography`` and ``_calendar`` (municipalities, schools, school days),
``_population`` (pupils and their transitions), ``_records`` (attendance, grades,
engagement), ``_oracle`` (the truth), ``_tables`` (the validated tables) and
``_synthetic`` (the month-by-month simulation and :func:`make_school_system`).
"""

from __future__ import annotations

from ._regimes import (REGIME_KINDS, EngagementOutage, GradingReform, OutcomeShift, RemoteYear,
                       apply_regime_changes)
from ._student_performance import load_student_performance
from ._synthetic import SchoolSystem, make_school_system

__all__ = ["REGIME_KINDS", "EngagementOutage", "GradingReform", "OutcomeShift", "RemoteYear",
           "SchoolSystem", "apply_regime_changes", "load_student_performance",
           "make_school_system"]

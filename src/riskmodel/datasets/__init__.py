"""Data sets: the synthetic Latvian school system (the embedded default) and loaders.

- :func:`make_school_system` simulates pupils, schools and their records with the
  generator's own truth (:class:`SchoolSystem`).
"""

from __future__ import annotations

from ._synthetic import SchoolSystem, make_school_system

__all__ = ["SchoolSystem", "load_student_performance", "make_school_system"]

# --- loaders of public research data (load_student_performance) go below this line ---
from ._student_performance import load_student_performance  # noqa: E402

"""Point-in-time features: one row per pupil, as of a date, without look-ahead.

A map of this package:

- :func:`build_features` — features of the pupils enrolled on ``as_of`` from
  records dated strictly before it (index ``pupil_id``).
- :func:`build_feature_panel` — the same at many dates (index
  ``(as_of, pupil_id)``), sorting and summing the event tables only once.
- :func:`pupil_frame` — who those pupils are (school, grade, age, liecība,
  audit attributes); not features.
- :func:`registry` — name, domain, unit, window, direction and Latvian/English
  descriptions and reason texts of every feature (``registry.yaml``);
  :func:`registry_markdown` renders it for ``docs/features.md``.
- :class:`FeatureConfig` — grade range, domains, sensitive attributes, definitions.

The private modules ``_attendance``, ``_grades``, ``_engagement``,
``_transitions`` and ``_context`` hold one domain each; ``_common`` the sorted
event stores that make many dates cheap.
"""

from __future__ import annotations

from ._build import build_feature_panel, build_features, pupil_frame
from ._config import FeatureConfig
from ._registry import feature_names, registry, registry_markdown

__all__ = [
    "FeatureConfig",
    "build_feature_panel",
    "build_features",
    "feature_names",
    "pupil_frame",
    "registry",
    "registry_markdown",
]

"""riskmodel — early-leaving risk, explanations and support allocation.

A map of the public names:

- Data contract: :class:`SchoolTables`, :func:`read_tables`, :func:`write_tables`,
  :class:`DataValidationError`, :class:`ConfigError`, :class:`ModelFileError` (a broken
  saved model).
- Synthetic school system (the embedded default): :func:`datasets.make_school_system`.
- Point-in-time features and labels: :func:`build_features`,
  :func:`build_feature_panel`, :func:`make_labels`, :func:`features.registry`.
- Models: :class:`RiskModel` (LightGBM, calibrated) and the baselines
  :class:`RuleBaseline`, :class:`SchoolBaseline`, :class:`LogisticBaseline`;
  :func:`backtest` for temporal evaluation; :mod:`metrics` for ranking at capacity.
- Explanations: ``RiskModel.explain`` returns an :class:`Explanation` (exact TreeSHAP).
- Fairness: :func:`fairness.audit`.
- Benefit of support: :class:`BenefitModel` and :func:`benefit.evaluate`.
- Allocation: :class:`ProgrammeRules`, :func:`allocate`, :class:`Allocation`,
  :func:`read_resources`.
- Runs, tracking and serving: :mod:`pipeline` (train, evaluate, score, allocate, demo),
  :mod:`tracking` (MLflow runs and the registry), :mod:`pyfunc` (the MLflow model).
- Monitoring: :func:`monitor.check` (drift, availability, calibration; a decision).
- Privacy: :func:`pseudonymize`.

How the code is layered. Dependencies point one way, left to right::

    contract ─► datasets, features ─► labels, model, splits ─► explain ─► allocation, report
    (errors, config,                                                       ─► pipeline, tracking,
     schema, vocab)                                                           pyfunc ─► cli

- ``features`` never sees labels or models; events -> features is a plain function of
  ``(tables, as_of)``.
- ``metrics`` is a leaf: anything may use it (the design once placed it after ``explain``;
  the code is right, since backtests and audits need it).
- One rule per concept lives in small private modules that everything calls:
  ``_checks`` (capacity ``top_k`` / ``top_fraction``, the ``as_of`` parser, parameter
  checks with scikit-learn's wording, the bootstrap defaults), ``_suppression``
  (``MIN_CELL = 10`` and small-cell blanking), ``_atomic`` (atomic output folders),
  ``_util`` (JSON-safe values, library versions).

``import riskmodel`` is light: submodules load on first use, and matplotlib, shap, mlflow
and the CLI framework are imported inside the functions that need them.

Examples
--------
>>> import riskmodel as rm
>>> "RiskModel" in dir(rm)
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import ConfigError, DataValidationError, ModelFileError

def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("riskmodel")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


__version__ = _installed_version()  # the one version, from pyproject.toml

# public name -> module that defines it (loaded lazily, PEP 562)
_LAZY = {
    "SchoolTables": "schema",
    "CodeMap": "schema",
    "read_tables": "schema",
    "write_tables": "schema",
    "build_features": "features",
    "build_feature_panel": "features",
    "make_labels": "labels",
    "RiskModel": "model",
    "RuleBaseline": "model",
    "SchoolBaseline": "model",
    "LogisticBaseline": "model",
    "backtest": "splits",
    "Explanation": "explain",
    "ProgrammeRules": "allocation",
    "allocate": "allocation",
    "Allocation": "allocation",
    "read_resources": "allocation",
    "pseudonymize": "privacy",
    "BenefitModel": "benefit",
}
_SUBMODULES = (
    "datasets",
    "features",
    "metrics",
    "fairness",
    "explain",
    "allocation",
    "plotting",
    "pipeline",
    "tracking",
    "schema",
    "labels",
    "splits",
    "model",
    "config",
    "vocab",
    "report",
    "privacy",
    "pyfunc",
    "monitor",
    "benefit",
    "spark",  # needs the spark extra; imports pyspark only when used
)

__all__ = sorted(
    ["ConfigError", "DataValidationError", "ModelFileError", "__version__", *_LAZY, *_SUBMODULES]
)


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'riskmodel' has no attribute {name!r}")


def __dir__():
    return __all__


if TYPE_CHECKING:  # pragma: no cover
    from .allocation import Allocation, ProgrammeRules, allocate, read_resources
    from .benefit import BenefitModel
    from .explain import Explanation
    from .features import build_feature_panel, build_features
    from .labels import make_labels
    from .model import LogisticBaseline, RiskModel, RuleBaseline, SchoolBaseline
    from .privacy import pseudonymize
    from .schema import CodeMap, SchoolTables, read_tables, write_tables
    from .splits import backtest

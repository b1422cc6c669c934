"""Train, score, evaluate and allocate runs, end to end.

These functions are what ``riskmodel train|score|evaluate|allocate|demo`` run,
and what a notebook calls to do the same thing in one line. Each takes a
pydantic config (a :class:`~riskmodel.config.StrictModel`, so a misspelt key
fails loudly), a mapping or a YAML path:

- :func:`train_run` — features, temporal backtest against the baselines,
  fairness audit at capacity, the final model, and an MLflow run with the model
  registered as ``riskmodel`` (alias ``champion`` moved when asked).
- :func:`score_run` — validate a data folder, build features, score, explain,
  allocate, and write ``features.parquet``, ``scores.parquet``,
  ``explanations.parquet``, ``allocation.parquet``, ``waitlist.parquet``,
  ``report.html`` and ``manifest.json`` into ``out`` atomically.
- :func:`evaluate_run` — backtest and audit only (no model registered).
- :func:`allocate_run` — allocate support from an existing ``scores.parquet``.
- :func:`demo_run` — generate, train, register and score a synthetic system.

One vocabulary across the runs: the capacity is ``top_k`` / ``top_fraction``,
turned into pupils by one rule (``ceil(top_fraction * n)``, at least 1), so the
backtest, the audit, the model card and the score report name the same ``k``;
dates are midnight, without a time of day (a config ``as_of`` with one is an
error), and are datetime64 in every table; the models are labelled
``riskmodel``, ``rule``, ``school`` and ``logistic`` here as in
:func:`riskmodel.backtest`; seeds are ``random_state``.

Output folders appear atomically: everything is written into a temporary
folder beside ``out`` (named ``.<out>.riskmodel-tmp-<pid>-<random>``) and renamed
into place at the end; a run that fails or is stopped leaves no partial
output, and a rerun with the same inputs writes byte-identical files. A folder
that is neither empty nor an earlier riskmodel output (no ``manifest.json``) is
refused before any work, with the same error in every run.

The code lives in private modules, one per seam: ``_run_config`` (the
configs), ``_run_io`` (what the runs share), ``_run_train`` (train and
evaluate), ``_run_score`` (score) and ``_run_allocate`` (allocate and demo).

Examples
--------
>>> from riskmodel.pipeline import ScoreConfig
>>> cfg = ScoreConfig(data="data/2025", as_of="2025-10-01", out="out/2025-10-01")
>>> cfg.model, str(cfg.as_of)
('models:/riskmodel@champion', '2025-10-01')
"""

from __future__ import annotations

from . import _run_allocate, _run_config, _run_score, _run_train
from ._atomic import MANIFEST, TMP_MARKER, atomic_output_dir  # noqa: F401  (old import path)
from ._run_allocate import AllocateResult, DemoResult, allocate_run, demo_run
from ._run_config import (
    AllocateConfig,
    AuditConfig,
    DemoConfig,
    EvaluateConfig,
    ReadConfig,
    ResourcesConfig,
    ScoreConfig,
    SyntheticConfig,
    TierConfig,
    TrackingConfig,
    TrainConfig,
)
from ._run_io import load_tables
from ._run_score import SCORE_FILES, ScoreResult, score_run
from ._run_train import EvaluateResult, TrainResult, evaluate_run, train_run

__all__ = [*_run_config.__all__, *_run_train.__all__, *_run_score.__all__,
           *_run_allocate.__all__, "load_tables"]

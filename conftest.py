"""Test-session settings shared by the unit tests and the notebooks (run with --nbmake)."""

import os

import pytest

# Figures render off-screen; notebooks executed by the test suite run on small data.
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("RISKMODEL_NOTEBOOK_SCALE", "small")


@pytest.fixture(autouse=True)
def _restore_mlflow_environment():
    """Examples and tests that configure tracking set MLFLOW_* variables; undo them after each."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}
    yield
    for k in [k for k in os.environ if k.startswith("MLFLOW_") and k not in saved]:
        del os.environ[k]
    os.environ.update(saved)

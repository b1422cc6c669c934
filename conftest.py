"""Test-session settings shared by the unit tests and the notebooks (run with --nbmake)."""

import os

# Figures render off-screen; notebooks executed by the test suite run on small data.
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("RISKMODEL_NOTEBOOK_SCALE", "small")

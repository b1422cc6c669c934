"""``python -m riskmodel`` runs the command line (see :mod:`riskmodel.cli`)."""

import sys

from .cli import main

sys.exit(main())

"""``python -m riskmodel`` runs the command line (see :mod:`riskmodel.cli`).

Importing this module (as ``pytest --doctest-modules`` does) runs nothing.
"""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

"""Run every benchmark in this folder, one after another, each in its own process.

Each ``bench_*.py`` prints its figures, the target it must reach and the ratio to
its named baseline. Pass ``--small`` for a quick run on small data, or names to
run a subset: ``python benchmarks/run_all.py features explain``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["datasets", "schema", "read", "features", "model", "explain", "allocation", "monthly",
         "fairness", "monitor", "regimes", "pipeline", "benefit", "risk_under_support",
         "exploration", "watchlists", "spark"]


def main(argv: list[str]) -> int:
    small = "--small" in argv
    names = [a for a in argv if not a.startswith("-")] or ORDER
    scripts = [HERE / f"bench_{name}.py" for name in names]
    missing = [s.name for s in scripts if not s.exists()]
    if missing:
        print(f"unknown benchmark(s): {', '.join(missing)}", file=sys.stderr)
        return 2
    failed = []
    for script in scripts:
        print(f"\n=== {script.stem} {'(small)' if small else '(national scale)'} ===", flush=True)
        start = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script), *(["--small"] if small else [])])
        print(f"--- {script.stem}: exit {rc}, {time.perf_counter() - start:.1f} s wall", flush=True)
        if rc != 0:
            failed.append(script.stem)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

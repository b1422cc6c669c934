"""Benchmark: the scoring run at national scale, stage by stage.

Target (issue 7): scoring 200,000 pupils — validate (read the Parquet folder and
check the data contract) + features + score + explain + allocate + write
(``features``, ``scores``, ``explanations``, ``allocation``, ``waitlist``,
``report.html``, ``manifest.json``, atomically) — in at most 3 minutes on 2 cores.

How it runs (the figures say so too):

- The model is trained on a *smaller* synthetic system (20,000 pupils x 3 years;
  ``--small``: 3,000) to save time; scoring cost depends on the number of pupils
  scored and the model's size, not on how many pupils it was trained on.
  Training time is printed but is not part of the target.
- The national system (200,000 pupils x 2 school years, the history the features
  look back on) is generated and written as Parquet first; generation and writing
  are not timed.
- ``score_run`` reads that folder, with a local model folder (no MLflow server in
  the loop), and the time of every stage is printed.
- Baseline in the same run: LightGBM's own ``Booster.predict`` on the same feature
  matrix (the bare cost of scoring), to show what the end-to-end run adds.
- Peak RSS of the process (``resource.getrusage``).

Run ``python benchmarks/bench_pipeline.py`` (national) or ``--small``. With
``--keep DIR`` the model, the tables folder and the as_of date are saved in ``DIR``
on the first run and reused by later ones (generating the national system takes
minutes); delete ``DIR`` after changing the generator or ``write_tables``. With
``--out DIR`` the scoring run's output folder is kept in ``DIR`` (it must not exist
or be an earlier output), to compare two runs with ``compare_score_outputs.py``.
"""

from __future__ import annotations

import argparse
import logging
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 180.0
#: Issue 21: the same run in at most 20 s with a peak RSS of at most 4 GB.
TARGET_FAST_S = 20.0
TARGET_RSS_GB = 4.0
#: The stages as issue 21 measured them before its work (for reference; not this run).
ISSUE_21_BEFORE_S = {"validate": 12.6, "features": 4.3, "score": 0.8, "explain": 8.2,
                     "allocate": 4.0, "write": 6.7}
SCALES = {
    "national": dict(n_pupils=200_000, n_years=2, train_pupils=20_000),
    "small": dict(n_pupils=5_000, n_years=2, train_pupils=3_000),
}


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def _saved(keep: Path | None, scale: str):
    """(data folder, model folder, as_of) saved in ``keep`` by an earlier run, or None."""
    if keep is None or not (keep / "as_of").is_file():
        return None
    if (keep / "scale").read_text().strip() != scale:
        raise SystemExit(f"{keep} holds the tables of another scale; use another --keep DIR")
    return keep / "data", keep / "model", (keep / "as_of").read_text().strip()


def main(scale: str = "national", keep: Path | None = None, out: Path | None = None) -> dict:
    import pandas as pd

    import riskmodel as rm
    from riskmodel.pipeline import score_run, train_run

    p = SCALES[scale]
    work = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    try:
        print(f"scale: {scale} — score {p['n_pupils']:,} pupils x {p['n_years']} years; model "
              f"trained on a smaller system of {p['train_pupils']:,} pupils x 3 years "
              "(to save time; scoring cost does not depend on it)")
        saved = _saved(keep, scale)
        if saved is not None:
            data, model_dir, as_of = saved
            print(f"reusing the model and tables saved in {keep} (--keep)")
        else:
            store = keep if keep is not None else work
            t = time.perf_counter()
            small = rm.datasets.make_school_system(n_pupils=p["train_pupils"], n_years=3,
                                                   random_state=1)
            trained = train_run({"tracking": {"enabled": False}, "n_boot": 0,
                                 "audit": {"enabled": False}, "baselines": []},
                                tables=small.tables)
            model_dir = store / "model"
            trained.model.save(model_dir)
            print(f"training (not part of the target): {time.perf_counter() - t:.1f} s "
                  f"({trained.model.n_iter_} trees)")
            del small

            t = time.perf_counter()
            world = rm.datasets.make_school_system(n_pupils=p["n_pupils"], n_years=p["n_years"],
                                                   random_state=0)
            data = rm.write_tables(world.tables, store / "data")
            as_of = str(world.as_of_dates[-1].date())
            (store / "scale").write_text(scale)
            (store / "as_of").write_text(as_of)
            sizes = {n: len(df) for n, df in world.tables.to_dict().items()}
            del world
            print(f"generate + write national tables (not timed): "
                  f"{time.perf_counter() - t:.1f} s; "
                  + ", ".join(f"{n} {v:,}" for n, v in sizes.items()))

        start = time.perf_counter()
        res = score_run({"data": str(data), "as_of": as_of, "model": str(model_dir),
                         "out": str(out if out is not None else work / "out"),
                         "rules": None})
        total = time.perf_counter() - start

        X = pd.read_parquet(res.paths["features"])
        model = rm.RiskModel.load(model_dir)
        matrix = model._booster_matrix(X)
        t = time.perf_counter()
        model.booster_.predict(matrix, raw_score=True)
        bare = time.perf_counter() - t

        print(f"\nscoring {res.manifest['n_pupils']:,} pupils as of {as_of}, stage by stage:")
        for stage, secs in res.timings.items():
            before = ISSUE_21_BEFORE_S.get(stage) if scale == "national" else None
            ref = f"   issue 21 before: {before:5.1f} s" if before is not None else ""
            print(f"  {stage:<10} {secs:8.1f} s  ({secs / total:5.1%}){ref}")
        print(f"  {'total':<10} {total:8.1f} s   target {TARGET_S:.0f} s  "
              f"-> {total / TARGET_S:.2f} x target ({'OK' if total <= TARGET_S else 'MISSED'}); "
              f"issue 21 target {TARGET_FAST_S:.0f} s "
              f"({'OK' if total <= TARGET_FAST_S else 'MISSED'}; before "
              f"{sum(ISSUE_21_BEFORE_S.values()):.1f} s)")
        print(f"baseline: bare Booster.predict on the same features {bare:.2f} s; "
              f"end-to-end / bare = {total / max(bare, 1e-9):.0f} x")
        size_mb = sum(f.stat().st_size for f in res.out.iterdir()) / 2**20
        rss = _peak_rss_gb()
        print(f"output: {len(list(res.out.iterdir()))} files, {size_mb:.1f} MB; "
              f"peak RSS {rss:.2f} GB (issue 21 target {TARGET_RSS_GB:.0f} GB: "
              f"{'OK' if rss <= TARGET_RSS_GB else 'MISSED'}"
              + ("" if saved is not None else "; it includes generating the tables and "
                 "training, done before the scoring run") + ")")
        return {"total_s": total, "timings": res.timings, "bare_predict_s": bare,
                "peak_rss_gb": _peak_rss_gb(), "n_pupils": res.manifest["n_pupils"]}
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="small scale (quick check)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log stage progress")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="save the model and tables in DIR, or reuse them from DIR")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="keep the scoring run's output folder in DIR")
    args = parser.parse_args()
    if args.verbose:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    main("small" if args.small else "national", keep=args.keep, out=args.out)

"""Benchmark of riskmodel.monitor.check: 200,000 pupils x all features.

Target (issue 19): ``monitor.check`` on 200,000 pupils x all features in at most 10 s.

The two cohorts are the mid-January feature frames of two consecutive school years of
the synthetic system (5,000 pupils), their rows resampled to the benchmark size (the
statistics' cost depends on rows and columns, not on who the pupils are; generating a
national system for it would take minutes). Timed, in one run:

1. ``check(reference, current)`` — features and domains only;
2. with a ``RiskModel`` (score statistics and the expected precision@k);
3. with the model and outcomes (O/E, calibration, AUC, precision@k, 1,000 bootstrap draws);
4. ``calibrate_thresholds`` on three yearly frames with 5 resamples per pair.

Baseline in the same run: PSI and Jensen-Shannon distance per feature written the
common way with pandas (``pd.qcut`` on the reference, ``value_counts`` of both
cohorts, ``scipy.spatial.distance.jensenshannon``), on the same frames.

Usage::

    python benchmarks/bench_monitor.py           # 200,000 pupils
    python benchmarks/bench_monitor.py --small   # 20,000 pupils
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon

TARGET_S = 10.0


def _frames(n: int, seed: int = 0):
    import riskmodel as rm

    world = rm.datasets.make_school_system(n_pupils=5000, n_years=4, random_state=seed)
    dates = [f"{y}-01-15" for y in (2024, 2025, 2026)]
    panel = rm.build_feature_panel(world.tables, dates)
    small = [g.droplevel(0) for _, g in panel.groupby(level=0)]
    rng = np.random.default_rng(seed)
    big = []
    for i, f in enumerate(small):
        idx = rng.integers(0, len(f), n)
        g = f.iloc[idx].copy()
        g.index = pd.Index([f"Q{i}{j:07d}" for j in range(n)], name="pupil_id")
        big.append(g)
    y = rm.make_labels(world.tables, dates[0]).reindex(small[0].index).fillna(0).astype(int)
    model = rm.RiskModel(n_estimators=100, random_state=0).fit(small[0], y)
    return big, model


def _pandas_baseline(ref: pd.DataFrame, cur: pd.DataFrame, n_bins: int = 10) -> float:
    start = time.perf_counter()
    for c in ref.columns:
        _, edges = pd.qcut(ref[c], n_bins, retbins=True, duplicates="drop")
        edges[0], edges[-1] = -np.inf, np.inf
        r = pd.cut(ref[c], edges).value_counts(sort=False, dropna=False)
        k = pd.cut(cur[c], edges).value_counts(sort=False, dropna=False).reindex(r.index,
                                                                                 fill_value=0)
        p = (r.to_numpy() + 0.5) / (r.sum() + 0.5 * len(r))
        q = (k.to_numpy() + 0.5) / (k.sum() + 0.5 * len(k))
        np.sum((q - p) * np.log(q / p))
        jensenshannon(r.to_numpy(), k.to_numpy(), base=2)
    return time.perf_counter() - start


def main(n: int) -> int:
    import riskmodel as rm

    t0 = time.perf_counter()
    (ref, cur, third), model = _frames(n)
    print(f"setup (world, features, resampling to {n:,} rows, model): "
          f"{time.perf_counter() - t0:.1f} s; {ref.shape[1]} features")
    p = model.predict_proba(cur)[:, 1]
    y = (np.random.default_rng(1).random(len(p)) < p).astype(int)

    timings = {}
    for label, kwargs in (("features + domains", {}),
                          ("+ model (score, expected precision@k)", {"model": model}),
                          ("+ model + outcomes (1,000 bootstrap draws)",
                           {"model": model, "outcomes": y})):
        start = time.perf_counter()
        report = rm.monitor.check(ref, cur, **kwargs)
        timings[label] = time.perf_counter() - start
        print(f"check {label:<45s} {timings[label]:6.2f} s   decision={report.decision}, "
              f"{int(report.findings['flagged'].sum())} of {len(report.findings)} flagged")
    start = time.perf_counter()
    th = rm.monitor.calibrate_thresholds([ref, cur, third], model=model, n_resamples=5)
    print(f"calibrate_thresholds (3 frames, 5 resamples/pair)       "
          f"{time.perf_counter() - start:6.2f} s   {len(th.table)} thresholds")

    base = _pandas_baseline(ref, cur)
    fast = timings["features + domains"]
    print(f"baseline: pandas qcut/value_counts PSI + JS per feature  {base:6.2f} s "
          f"(PSI and JS only); monitor.check with all its statistics is {base / fast:.1f}x "
          "as fast")
    worst = max(timings.values())
    ok = worst <= TARGET_S
    print(f"target: monitor.check on {n:,} pupils x {ref.shape[1]} features <= {TARGET_S:.0f} s: "
          f"slowest {worst:.2f} s -> {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="20,000 pupils")
    args = ap.parse_args()
    raise SystemExit(main(20_000 if args.small else 200_000))

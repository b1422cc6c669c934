"""Benchmark of riskmodel.fairness.audit: national scale with the bootstrap.

Target (issue 8): 200,000 pupils x 6 audit attributes with 1,000 bootstrap draws
in at most 30 s. Baseline in the same run: fairlearn's ``MetricFrame`` with its
own bootstrap (``n_boot``, ``ci_quantiles``) on the same metrics for one attribute
and a few draws, extrapolated linearly to 1,000 draws x 6 attributes.

Usage::

    python benchmarks/bench_fairness.py           # national: 200,000 pupils
    python benchmarks/bench_fairness.py --small   # 20,000 pupils, 100 draws
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc

import numpy as np
import pandas as pd

TARGET_S = 30.0


def make_data(n: int, seed: int = 0):
    """A national-like cohort: 6 attributes (119 municipalities), 5 % leavers."""
    rng = np.random.default_rng(seed)
    groups = pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], n),
            "home_language": rng.choice(["lv", "ru", "uk", "other"], n, p=[0.72, 0.24, 0.03, 0.01]),
            "migrant_background": rng.random(n) < 0.06,
            "special_needs": rng.random(n) < 0.09,
            "municipality_id": rng.choice([f"m{i:03d}" for i in range(119)], n,
                                          p=(w := rng.pareto(1.2, 119) + 1) / w.sum()),
            "urban": rng.random(n) < 0.68,
        }
    )
    logit = -3.2 + 0.5 * groups["special_needs"] + 0.3 * (groups["home_language"] != "lv")
    p = 1 / (1 + np.exp(-logit.to_numpy()))
    y = rng.random(n) < p
    scores = np.clip(p + rng.normal(0, 0.05, n) + 0.15 * y, 0, 1)
    return y, scores, groups


def peak_rss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform != "darwin" else r / 2**20


def bench_fairlearn(y, scores, groups, k, n_boot_probe: int) -> float:
    """fairlearn on one attribute: (wall, CPU) seconds of the plain frame and of one
    bootstrap draw (from a run with ``n_boot_probe`` draws minus the plain frame;
    imports done before timing)."""
    import warnings

    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import precision_score

    sel = np.zeros(len(y), dtype=int)
    sel[np.argsort(-scores, kind="stable")[:k]] = 1
    metrics = {
        "n": count,
        "selection_rate": selection_rate,
        "recall": true_positive_rate,
        "false_positive_rate": false_positive_rate,
        "false_negative_rate": false_negative_rate,
        "precision": precision_score,
    }
    def run(n_boot):
        t, c = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            MetricFrame(
                metrics=metrics, y_true=y.astype(int), y_pred=sel, sensitive_features=groups["sex"],
                n_boot=n_boot, ci_quantiles=None if n_boot is None else [0.025, 0.975], random_state=0,
            )
        return time.perf_counter() - t, time.process_time() - c

    base = run(None)
    boot = run(n_boot_probe)
    per_draw = tuple(max(b - a, 0.0) / n_boot_probe for a, b in zip(base, boot))
    return base, per_draw


def main(scale: str = "national") -> dict:
    from riskmodel.fairness import audit

    n, n_boot = (200_000, 1000) if scale == "national" else (20_000, 100)
    k = n // 20
    y, scores, groups = make_data(n)
    print(f"riskmodel.fairness.audit benchmark ({scale}): {n:,} pupils x {groups.shape[1]} attributes, "
          f"{n_boot} bootstrap draws, k={k:,}")

    audit(y[:2000], scores[:2000], groups.iloc[:2000], top_k=100, n_boot=10)  # warm imports
    rss0 = peak_rss_mb()
    t, c = time.perf_counter(), time.process_time()
    table = audit(y, scores, groups, top_k=k, n_boot=n_boot, intersections=None)
    elapsed, cpu = time.perf_counter() - t, time.process_time() - c
    rss1 = peak_rss_mb()
    print(f"  audit: {elapsed:.2f} s wall, {cpu:.2f} s CPU (target <= {TARGET_S:.0f} s at national scale; "
          f"ratio to target {elapsed / TARGET_S:.2f}); peak RSS {rss1:.0f} MB "
          f"(+{max(rss1 - rss0, 0):.0f} MB during the audit)")
    groups_shown = table.drop_duplicates(["attribute", "group"])
    print(f"  rows: {len(table)} (tidy: {len(groups_shown)} groups x {table['metric'].nunique()} "
          f"metrics), groups suppressed: {int(groups_shown['suppressed'].sum())}")

    tracemalloc.start()
    t = time.perf_counter()
    audit(y, scores, groups, top_k=k, n_boot=max(n_boot // 10, 1))
    t_small = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  tracemalloc peak with {max(n_boot // 10, 1)} draws: {peak / 2**20:.0f} MB "
          f"(bootstrap works in chunks, so the peak does not grow with the draws); {t_small:.2f} s")

    probe = 5 if scale == "small" else 2
    (t0, c0), (t1, c1) = bench_fairlearn(y, scores, groups, k, probe)
    n_attr = groups.shape[1]
    wall_full, cpu_full = n_attr * (t0 + n_boot * t1), n_attr * (c0 + n_boot * c1)
    print(f"  baseline fairlearn MetricFrame: plain frame {c0:.2f} s CPU, one bootstrap draw {c1:.2f} s CPU "
          f"(1 attribute, {probe} draws probed) -> {n_attr} attributes x {n_boot} draws about "
          f"{wall_full:.0f} s wall / {cpu_full:.0f} s CPU; riskmodel is {cpu_full / cpu:.0f}x faster in CPU time")
    print("  (timings depend on the load of the machine; CPU time is the steadier figure)")
    return {"seconds": elapsed, "cpu_seconds": cpu, "peak_rss_mb": rss1,
            "fairlearn_extrapolated_cpu_s": cpu_full}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="20,000 pupils, 100 draws")
    args = parser.parse_args()
    main("small" if args.small else "national")

"""Benchmark: watch lists at national scale, and list stability with hysteresis (issue 18).

1. Rendering: a national run folder (200,000 pupils, 43 municipalities, 650
   schools, 400 mentors; scores, contributions, features, plans and changes drawn
   with numpy, since rendering cost does not depend on where the numbers came
   from) -> every school page, mentor page and municipality index. Target: at
   most 30 s on 2 cores.
2. Stability: a synthetic system (riskmodel.datasets) scored by one model at the
   first of every month of a school year; the high tier by plain rank cut-offs
   against the tier with hysteresis (riskmodel.watchlists.hysteresis_tiers, the
   exit fractions of TierConfig's defaults). Prints the mean churn of the high tier
   between runs and the number of flapping pupils (high, not high, high again
   within three months). Goal: hysteresis at most half the flapping.

    python benchmarks/bench_watchlists.py [--small]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import riskmodel as rm
from riskmodel.features import registry
from riskmodel.vocab import DOMAINS
from riskmodel.watchlists import hysteresis_tiers, write_watchlists

TARGET_SECONDS = 30.0


def national_run(folder: Path, n_pupils=200_000, n_munis=43, n_schools=650, n_mentors=400,
                 seed=0) -> None:
    rng = np.random.default_rng(seed)
    ids = pd.Index([f"P{i:07d}" for i in range(n_pupils)], name="pupil_id")
    school = rng.integers(0, n_schools, n_pupils)
    mun = school % n_munis
    risk = rng.beta(1, 12, n_pupils)
    order = np.argsort(-risk, kind="stable")
    rank = np.empty(n_pupils, dtype=np.int64)
    rank[order] = np.arange(1, n_pupils + 1)
    tier = np.where(rank <= 0.05 * n_pupils, "high", np.where(rank <= 0.15 * n_pupils,
                                                               "elevated", "low"))
    scores = pd.DataFrame({"school_id": [f"S{s:04d}" for s in school],
                           "municipality_id": [f"M{m:02d}" for m in mun], "risk": risk,
                           "rank_national": rank, "rank_school": 1, "tier": tier}, index=ids)
    for i in (1, 2, 3):
        for lang in ("lv", "en"):
            scores[f"reason_{i}_{lang}"] = np.where(
                tier != "low", f"Neattaisnoti kavējumi pēdējās 4 nedēļās: {i * 4} stundas"
                " — paaugstina risku", None)
    reg = registry()
    feats = [f for f in reg.index if not bool(reg.at[f, "sensitive"])][:50]
    expl = pd.DataFrame(rng.normal(0, 0.1, (n_pupils, len(feats))), index=ids, columns=feats)
    expl["base_value"] = -2.5
    X = pd.DataFrame(rng.normal(0, 1, (n_pupils, len(feats))), index=ids, columns=feats)
    X[rng.random(X.shape) < 0.02] = np.nan
    listed = np.flatnonzero(tier != "low")
    chosen = rng.choice(listed, size=min(n_mentors * 25, len(listed)), replace=False)
    alloc = pd.DataFrame({"pupil_id": ids[chosen], "resource_id":
                          [f"mentor-{i % n_mentors:05d}" for i in range(len(chosen))],
                          "kind": "mentor", "municipality_id": scores["municipality_id"].iloc[chosen]
                          .to_numpy(), "school_id": scores["school_id"].iloc[chosen].to_numpy(),
                          "start_date": pd.Timestamp("2025-10-01"),
                          "review_date": pd.Timestamp("2025-12-01"), "goal_domain": "attendance"})
    d_log = rng.normal(0, 0.2, (n_pupils, len(DOMAINS)))
    changes = pd.DataFrame(d_log, index=ids, columns=[f"d_{d}" for d in DOMAINS])
    changes["d_log_odds"] = d_log.sum(axis=1)
    changes["d_risk"] = changes["d_log_odds"] * 0.05
    changes["status"] = np.where(tier != "low", "still", "off")
    changes["left_reason"] = None
    folder.mkdir(parents=True)
    scores.to_parquet(folder / "scores.parquet")
    expl.to_parquet(folder / "explanations.parquet")
    X.to_parquet(folder / "features.parquet")
    alloc.to_parquet(folder / "allocation.parquet")
    changes.to_parquet(folder / "changes.parquet")
    (folder / "manifest.json").write_text(json.dumps({"kind": "score", "as_of": "2025-10-01"}))


def flapping(tiers: pd.DataFrame, window: int = 3) -> int:
    """Pupils high at run a, not high at b, high again at c with c - a <= window runs."""
    h = (tiers == "high").to_numpy()
    n = 0
    for row in h:
        on = np.flatnonzero(row)
        hit = False
        for i in range(len(on) - 1):
            if on[i + 1] - on[i] > 1 and on[i + 1] - on[i] <= window:
                hit = True
                break
        n += hit
    return n


def mean_churn(tiers: pd.DataFrame) -> float:
    h = (tiers == "high").to_numpy()
    moves = (h[:, 1:] != h[:, :-1]).sum(axis=0)
    return float(np.mean(moves / np.maximum(h[:, 1:].sum(axis=0), 1)))


def stability(small: bool, seed: int = 0) -> None:
    n = 1_500 if small else 6_000
    w = rm.datasets.make_school_system(n_pupils=n, n_years=3, random_state=seed)
    X = rm.build_features(w.tables, "2023-09-01")
    y = rm.make_labels(w.tables, "2023-09-01", horizon_days=365).reindex(X.index).fillna(0)
    model = rm.RiskModel(n_estimators=60, random_state=0).fit(X, y)
    dates = pd.date_range("2024-09-01", "2025-05-01", freq="MS")
    risks = {}
    for d in dates:
        Xd = rm.build_features(w.tables, d)
        risks[d] = pd.Series(model.predict_proba(Xd)[:, 1], index=Xd.index)
    risk = pd.DataFrame(risks)
    from riskmodel._run_config import TierConfig

    tcfg = TierConfig()
    kw = dict(high_fraction=tcfg.high_fraction, elevated_fraction=tcfg.elevated_fraction)
    plain, hyst = {}, {}
    prev = None
    for d in dates:
        r = risk[d].dropna()
        rank = r.rank(ascending=False, method="first").astype(int)
        plain[d] = hysteresis_tiers(rank, None, **kw, high_exit_fraction=kw["high_fraction"],
                                    elevated_exit_fraction=kw["elevated_fraction"]).astype(str)
        cur = hysteresis_tiers(rank, prev, **kw, high_exit_fraction=kw["high_fraction"] * 1.6,
                               elevated_exit_fraction=kw["elevated_fraction"] * 1.3)
        hyst[d] = cur.astype(str)
        prev = cur
    plain, hyst = pd.DataFrame(plain).fillna("gone"), pd.DataFrame(hyst).fillna("gone")
    fp, fh = flapping(plain), flapping(hyst)
    print(f"stability (world seed {seed}): {n:,} pupils, {len(dates)} monthly runs ({dates[0].date()} .. "
          f"{dates[-1].date()}), high tier {tcfg.high_fraction:.0%}")
    print(f"  plain rank cut-off: mean churn {mean_churn(plain):.3f}, flapping pupils {fp}")
    print(f"  hysteresis (exit at 1.6x): mean churn {mean_churn(hyst):.3f}, flapping pupils {fh}")
    ratio = fh / fp if fp else float("nan")
    print(f"  flapping ratio hysteresis/plain: {ratio:.2f} (goal <= 0.50): "
          f"{'OK' if fp and ratio <= 0.5 else 'MISSED'}")


def main(argv: list[str]) -> int:
    small = "--small" in argv
    with tempfile.TemporaryDirectory() as d:
        run = Path(d) / "run"
        kw = dict(n_pupils=20_000, n_schools=65, n_mentors=40) if small else {}
        national_run(run, **kw)
        start = time.perf_counter()
        summary = write_watchlists(run, Path(d) / "lists")
        took = time.perf_counter() - start
        print(f"watch lists: {summary['n_schools']} schools, {summary['n_mentors']} mentors, "
              f"{summary['n_rows']:,} pupil rows in {took:.1f} s (target <= {TARGET_SECONDS:.0f}"
              f" s at national scale): {'OK' if took <= TARGET_SECONDS or small else 'MISSED'}")
    for seed in (0, 1, 2):  # three worlds: the ratio is not a property of one
        stability(small, seed)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Benchmark of the monitor against known regime changes of the synthetic system (issue 19).

Targets (issue 19):

- stable worlds (5 seeds, every consecutive year pair scored out of sample): false
  alarms (any decision but ``keep``) for at most 5 % of pairs, ``keep`` in at least 95 %;
- each regime kind (5 seeds): detected in the first scoring run after the change in at
  least 95 % of runs, with the decision the ladder prescribes (``grading_reform`` ->
  ``refit`` or ``recalibrate``; ``engagement_outage`` -> ``rules_only`` or a flagged
  engagement domain; ``outcome_shift`` -> ``update_intercept``; ``remote_year``:
  detected, any decision but ``keep``);
- under each regime, precision@k of scoring with the monitor's decision at least that
  of the rule baseline, and better than the unmonitored model where that falls below.

Protocol, per seed: a world of ``N`` pupils, school years 2019/20 to 2030/31
(``make_school_system(start_year=2019, n_years=12)``). The dates are 52 weeks apart
(the same weekday, as ``riskmodel score`` takes its reference): ``D(j) = 14 October
2026 + j * 364 days`` (mid-October: four years of 52-week steps move a date five
days earlier, and late September dates would drift into the school year's first 28
days, where the 28-day trends are not defined yet). The system's first three years are its warm-up (three-year
leaving rates fill up). At "training time" ``D(-1)`` (October 2025) the model is
fitted on the cohorts of ``D(-3)`` and ``D(-2)`` (outcomes known) and the thresholds
come from the history's consecutive pairs ``D(-4)->D(-3)->D(-2)->D(-1)`` (three
pairs, :data:`riskmodel.monitor.MIN_PAIRS`; 20 resamples per pair). Scoring runs on
``D(0)`` to ``D(4)`` (:func:`riskmodel._run_monitor.run_monitor`, as ``riskmodel
score`` runs it: reference = the cohort 52 weeks before, latest outcomes = that
cohort's) are the stable pairs: five per seed. Each regime starts in school year
2026/27; the record-level kinds are applied to the same world
(:func:`riskmodel.datasets.apply_regime_changes`), ``outcome_shift`` is simulated
anew. Its first run with outcomes that cover it is ``D(1)`` (no monitor can see an
outcome change before outcomes exist); the table shows both runs.

Regime sizes (choices, documented): ``grading_reform`` the class defaults (one grade
more lenient, scale compressed by 0.6 towards 6) and a harsher compressed-only
variant (``grading_compressed``: factor 0.3, no shift: most grades collapse onto
5-7, the rule baseline's failing-grade indicator goes quiet, the model loses its
grade signal); ``engagement_outage`` half the municipalities from September to
December; ``remote_year`` 15 % of lessons more excused; ``outcome_shift`` a log-hazard
shift of 0.4 (the hazard times 1.5, e.g. a new bridging year's pull), and the class
default 0.7 (``outcome_shift_x2``, the hazard doubled). 0.4 was chosen because a doubled
hazard pushes the riskiest pupils into the generator's hazard cap, which bends the
calibration slope. Both shifts' worlds are built at ``N_OUTCOME = 20,000`` pupils,
not 3,000: the closed test (``recalibration_lr``, 2 df, at ``outcome_alpha = 0.01``) needs
the power, and the benchmark prints the calculation: for the reference cohort's own
probabilities ``p`` (the D(0) cohort, whose outcomes the D(1) run checks), the shifted
probabilities are ``1 - (1 - p) ** exp(shift)`` (the hazard times ``exp(shift)``), the
likelihood ratio's noncentrality is ``lambda = 2 sum KL(p' || p)``, and the power is
``ncx2.sf(chi2.isf(0.01, 2), 2, lambda)``; 95 % power needs ``lambda >= 20.7``, about
105 expected leavers in the reference cohort. Measured (one locked run, 5 seeds): 182-263
expected leavers at 20,000 pupils (power 0.999-1.000; 8,000-11,500 pupils would just do,
by seed), and power 0.31-0.47 at 3,000 pupils, where 1 of 5 was detected. 20,000 leave a
margin for the seeds' rates. The size of the
shift is unchanged. Those worlds get their own model and thresholds, fitted and calibrated
on their own history before the change (outcomes up to October 2025, features before
D(-1); the change starts in September 2026), as the thresholds must be calibrated at the
size one scores at. The doubled hazard (``outcome_shift_x2``) is built the same way, at the
same size, on worlds of its own.

Precision@k (k = 5 % of the cohort) is measured against the generator's truth: the
mean true ``p_leave`` of the k pupils ranked highest (the expected precision, free of
the outcome noise), for the model (unmonitored), the model with the monitor's
decision (``rules_only``: the rule baseline's ranking; an intercept update or a
recalibration keeps the order) and the rule baseline.

Also: ``monitor.check`` on 200,000 pupils (see ``bench_monitor.py`` for the full
timing; here one timed call with the model on a resampled frame).

Usage::

    python benchmarks/bench_regimes.py           # 5 seeds, 3,000 pupils (outcome shifts: 20,000)
    python benchmarks/bench_regimes.py --small   # 2 seeds, 1,500 pupils, 3 stable runs
    python benchmarks/bench_regimes.py --part main      # all but the outcome shifts
    python benchmarks/bench_regimes.py --part outcome   # only the outcome shifts

Each part takes under 10 minutes on the shared machine (``main`` about 4, ``outcome``
about 8 minutes), so each can run under the heavy lock on its own.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

START, N_YEARS, REGIME_YEAR = 2019, 12, 2026
#: pupils of the outcome-shift worlds (the power calculation is printed)
N_OUTCOME = 20_000
#: the regimes built at N_OUTCOME, each on a world of its own
POWERED = ("outcome_shift", "outcome_shift_x2")
OUTCOME_ALPHA, POWER_TARGET = 0.01, 0.95
ANCHOR, WEEKS52 = pd.Timestamp("2026-10-14"), pd.Timedelta(days=364)


def D(j: int) -> str:
    """The date ``j`` steps of 52 weeks from the anchor (same weekday)."""
    return str((ANCHOR + j * WEEKS52).date())


HIST = [D(-4), D(-3), D(-2), D(-1)]
TRAIN = [D(-3), D(-2)]
RUNS = [D(j) for j in range(5)]
TOP_FRACTION = 0.05
REGIMES = {
    "grading_reform": {"kind": "grading_reform", "year": REGIME_YEAR, "shift": 1.0,
                       "compress": 0.6},
    "grading_compressed": {"kind": "grading_reform", "year": REGIME_YEAR, "shift": 0.0,
                           "compress": 0.3},
    "engagement_outage": {"kind": "engagement_outage", "year": REGIME_YEAR,
                          "months": [9, 10, 11, 12], "share": 0.5},
    "remote_year": {"kind": "remote_year", "year": REGIME_YEAR, "excused_share": 0.15},
    "outcome_shift": {"kind": "outcome_shift", "year": REGIME_YEAR, "log_hazard_shift": 0.4},
    "outcome_shift_x2": {"kind": "outcome_shift", "year": REGIME_YEAR,
                         "log_hazard_shift": 0.7},
}
PRESCRIBED = {"grading_reform": {"refit", "recalibrate"},
              "grading_compressed": {"refit", "recalibrate"},
              "outcome_shift_x2": {"update_intercept", "recalibrate"},
              "engagement_outage": {"rules_only"},
              "outcome_shift": {"update_intercept"},
              "remote_year": {"update_intercept", "recalibrate", "refit", "rules_only"}}


def _truth_at(world, date):
    t = world.truth
    d = pd.Timestamp(date)
    first = t.loc[t["as_of"] >= d, "as_of"].min()
    s = t[t["as_of"] == first]
    return pd.Series(s["p_leave"].to_numpy(), index=s["pupil_id"].astype(str).to_numpy())


def _top_mean(score: pd.Series, truth: pd.Series, k: int) -> float:
    order = np.lexsort((score.index.to_numpy().astype(str), -score.to_numpy()))
    top = score.index[order[:k]]
    return float(truth.reindex(top).fillna(0.0).mean())


def _engagement_flagged(report) -> bool:
    f = report.flagged()
    return bool(((f["level"] == "domain") & (f["name"] == "engagement")).any())


def _run(world, date, model, th, X_ref=None):
    import riskmodel as rm
    from riskmodel._baselines import RuleBaseline
    from riskmodel._run_monitor import run_monitor

    X = rm.build_features(world.tables, date).sort_index(kind="stable")
    res = run_monitor(world.tables, date, model, X, thresholds=th, top_fraction=TOP_FRACTION,
                      X_ref=X_ref)
    truth = _truth_at(world, date)
    k = max(1, int(round(TOP_FRACTION * len(X))))
    risk = pd.Series(model.predict_proba(X)[:, 1], index=X.index.astype(str))
    rule = pd.Series(RuleBaseline()._score(X), index=X.index.astype(str))
    monitored = rule if res.decision == "rules_only" else res.apply(risk)
    return {"decision": res.decision, "engagement_flagged": _engagement_flagged(res.report),
            "p_model": _top_mean(risk, truth, k), "p_monitored": _top_mean(monitored, truth, k),
            "p_rule": _top_mean(rule, truth, k), "X": X,
            "n_flagged": int(res.report.findings["flagged"].sum())}


def _fit_history(world, seed: int):
    """The history's feature frames (one per HIST date), the model fitted on the TRAIN
    dates, and the monitor's thresholds calibrated on the history."""
    import riskmodel as rm

    panel = rm.build_feature_panel(world.tables, HIST)
    frames = [g.droplevel(0).sort_index(kind="stable") for _, g in panel.groupby(level=0)]
    ys = [rm.make_labels(world.tables, d).reindex(frames[HIST.index(d)].index).fillna(0)
          .astype(int) for d in TRAIN]
    model = rm.RiskModel(n_estimators=100, random_state=seed).fit(
        pd.concat([frames[HIST.index(d)] for d in TRAIN]), pd.concat(ys))
    th = rm.monitor.calibrate_thresholds(frames, model=model, n_resamples=20,
                                         random_state=seed, dates=HIST)
    return frames, model, th


def _seed(seed: int, n: int, n_runs: int) -> list[dict]:
    import riskmodel as rm

    kw = {"n_pupils": n, "n_years": N_YEARS, "random_state": seed, "start_year": START}
    world = rm.datasets.make_school_system(**kw)
    frames, model, th = _fit_history(world, seed)
    rows = []
    prev = frames[-1]
    for date in RUNS[:n_runs]:
        r = _run(world, date, model, th, X_ref=prev)
        prev = r["X"]
        rows.append({"seed": seed, "world": "stable", "run": date, **r})
    for kind, reg in REGIMES.items():
        if kind in POWERED:
            continue
        if reg["kind"] == "outcome_shift":
            w = rm.datasets.make_school_system(**kw, regime_changes=[reg])
            dates, prev = RUNS[:2], None
        else:
            w = rm.datasets.apply_regime_changes(world, [reg])
            dates, prev = RUNS[:1], frames[-1]
        for date in dates:
            r = _run(w, date, model, th, X_ref=prev)
            prev = r["X"]
            rows.append({"seed": seed, "world": kind, "run": date, **r})
    for r in rows:
        r.pop("X", None)
    return rows


def closed_test_power(p, log_hazard_shift, alpha=OUTCOME_ALPHA) -> tuple[float, float]:
    """(power, noncentrality) of the closed test's first step for a hazard shift.

    ``p``: the model's probabilities of the cohort whose outcomes are checked (right
    before the shift). Under the shift the probabilities are ``1 - (1 - p) **
    exp(shift)``; the expected likelihood ratio of the truth against the model is
    ``2 sum KL(p' || p)``, the noncentrality of ``recalibration_lr`` (2 df).
    """
    from scipy import stats

    p = np.clip(np.asarray(p, dtype="float64"), 1e-9, 1 - 1e-9)
    q = 1 - (1 - p) ** np.exp(log_hazard_shift)
    lam = 2 * float(np.sum(q * np.log(q / p) + (1 - q) * np.log((1 - q) / (1 - p))))
    return float(stats.ncx2.sf(stats.chi2.isf(alpha, 2), 2, lam)), lam


def _outcome_seed(seed: int, n: int, kind: str) -> list[dict]:
    """The powered outcome-shift world of ``seed`` at ``n`` pupils: its own model and
    thresholds from its history before the change; runs D(0) and D(1)."""
    import riskmodel as rm

    reg = REGIMES[kind]
    w = rm.datasets.make_school_system(n_pupils=n, n_years=N_YEARS, random_state=seed,
                                       start_year=START, regime_changes=[reg])
    frames, model, th = _fit_history(w, seed)
    rows, prev = [], frames[-1]
    for date in RUNS[:2]:
        r = _run(w, date, model, th, X_ref=prev)
        if date == RUNS[0]:  # the cohort whose outcomes the next run checks
            p0 = model.predict_proba(r["X"])[:, 1]
            power, lam = closed_test_power(p0, reg["log_hazard_shift"])
            y0 = rm.make_labels(w.tables, date, horizon_days=WEEKS52.days - 1)
            observed = int(y0.reindex(r["X"].index).fillna(0).sum())
        prev = r["X"]
        rows.append({"seed": seed, "world": kind, "run": date, **r})
    for r in rows:
        r.pop("X", None)
        r.update(n_pupils=n, power=power, noncentrality=lam, expected_leavers=float(p0.sum()),
                 observed_leavers=observed)
    return rows


def _regime_timing(n: int) -> float:
    """One monitor.check with the model on a frame resampled to ``n`` pupils."""
    import riskmodel as rm

    world = rm.datasets.make_school_system(n_pupils=3000, n_years=3, random_state=0)
    panel = rm.build_feature_panel(world.tables, ["2023-10-02", "2024-10-01"])
    a, b = [g.droplevel(0) for _, g in panel.groupby(level=0)]
    y = rm.make_labels(world.tables, "2023-10-02").reindex(a.index).fillna(0).astype(int)
    model = rm.RiskModel(n_estimators=100, random_state=0).fit(a, y)
    rng = np.random.default_rng(0)
    ra, rb = a.iloc[rng.integers(0, len(a), n)], b.iloc[rng.integers(0, len(b), n)]
    ra.index = pd.RangeIndex(n)
    rb.index = pd.RangeIndex(n)
    start = time.perf_counter()
    rm.monitor.check(ra, rb, model=model)
    return time.perf_counter() - start


def main(seeds, n, n_timing, n_runs=len(RUNS), part="all", n_outcome=N_OUTCOME) -> int:
    t0 = time.perf_counter()
    rows = []
    for s in seeds:
        if part in ("all", "main"):
            rows.extend(_seed(s, n, n_runs))
        if part in ("all", "outcome"):
            for kind in POWERED:
                rows.extend(_outcome_seed(s, n_outcome, kind))
        print(f"seed {s} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    df = pd.DataFrame(rows)
    pd.set_option("display.width", 160)
    print(df[["world", "run", "seed", "decision", "engagement_flagged", "n_flagged", "p_model",
              "p_monitored", "p_rule"]].round(4).to_string(index=False))
    ok = True
    st = df[df["world"] == "stable"]
    if len(st):
        keep = (st["decision"] == "keep").mean()
        print(f"\nstable worlds: {len(st)} year pairs, keep {keep:.0%}, false alarms "
              f"{1 - keep:.0%} (targets: keep >= 95 %, false alarms <= 5 %) -> "
              f"{'OK' if keep >= 0.95 else 'MISSED'}")
        ok &= keep >= 0.95
    kinds = [k for k in REGIMES if (df["world"] == k).any()]
    from scipy import stats

    need = stats.chi2.isf(OUTCOME_ALPHA, 2)
    lam95 = next(lam for lam in np.arange(1, 200, 0.1)
                 if stats.ncx2.sf(need, 2, lam) >= POWER_TARGET)
    for kind in POWERED:
        pw = df[(df["world"] == kind) & (df["run"] == RUNS[1])]
        if not len(pw):
            continue
        shift = REGIMES[kind]["log_hazard_shift"]
        print(f"\npower of the closed test (recalibration_lr, 2 df, alpha {OUTCOME_ALPHA}) for "
              f"{kind} (hazard x{np.exp(shift):.2f}), from each reference cohort's own "
              "probabilities (noncentrality 2 sum KL(p' || p), p' = 1 - (1 - p) ** exp(shift)):")
        for r in pw.itertuples():
            small = r.noncentrality * 3000 / r.n_pupils
            print(f"  seed {r.seed}: {r.n_pupils:,} pupils, expected leavers "
                  f"{r.expected_leavers:.0f} (observed under the shift {r.observed_leavers}), "
                  f"noncentrality {r.noncentrality:.1f}, power {r.power:.3f}; at 3,000 pupils "
                  f"power {stats.ncx2.sf(need, 2, small):.3f}")
        per = (pw["noncentrality"] / pw["expected_leavers"]).mean()
        print(f"  {POWER_TARGET:.0%} power needs noncentrality {lam95:.1f}, about "
              f"{lam95 / per:.0f} expected leavers in the reference cohort")
    print("\nregimes, first scoring run after the change (outcome_shift: first run whose "
          f"outcomes cover it, {RUNS[1]}):")
    for kind in kinds:
        date = RUNS[1] if kind.startswith("outcome_shift") else RUNS[0]
        sub = df[(df["world"] == kind) & (df["run"] == date)]
        detected = (sub["decision"] != "keep")
        right = sub["decision"].isin(PRESCRIBED[kind])
        if kind == "engagement_outage":
            right = right | sub["engagement_flagged"]
        share_d, share_r = detected.mean(), right.mean()
        good = share_d >= 0.95 and share_r >= 0.95
        ok &= good
        counts = sub["decision"].value_counts().to_dict()
        size = f" ({n_outcome:,} pupils)" if kind in POWERED else ""
        print(f"  {kind:<18s} detected {share_d:4.0%}, prescribed decision {share_r:4.0%} "
              f"{counts}{size} -> {'OK' if good else 'MISSED'}")
    for kind in [k for k in kinds if k.startswith("outcome_shift")]:
        early = df[(df["world"] == kind) & (df["run"] == RUNS[0])]
        print(f"  ({kind} at {RUNS[0]}, before any outcome covers it: "
              f"{early['decision'].value_counts().to_dict()})")
    print("\nprecision@k (k = 5 %; mean true p_leave of the top k), mean over seeds, at the "
          "detection run:")
    table = []
    for kind in [k for k in ["stable", *REGIMES] if k == "stable" and len(st) or k in kinds]:
        date = RUNS[1] if kind.startswith("outcome_shift") else RUNS[0]
        sub = df[(df["world"] == kind) & ((df["run"] == date) | (kind == "stable"))]
        m, mon, rule = sub["p_model"].mean(), sub["p_monitored"].mean(), sub["p_rule"].mean()
        worse = sub["p_monitored"] < sub["p_rule"] - 1e-12
        fell = sub["p_model"] < sub["p_rule"]
        better = (sub.loc[fell, "p_monitored"] > sub.loc[fell, "p_model"]).all()
        good = not worse.any() and better
        ok &= good
        table.append({"world": kind, "run": date, "model (unmonitored)": m,
                      "with the monitor's decision": mon, "rule baseline": rule,
                      "runs monitored < rule": int(worse.sum()),
                      "runs model < rule": int(fell.sum()),
                      "min model - rule": float((sub["p_model"] - sub["p_rule"]).min()),
                      "ok": good})
    table = pd.DataFrame(table)
    print(table.round(4).to_string(index=False))
    n_fell = int(table["runs model < rule"].sum())
    if n_fell == 0:
        low = table.loc[table["min model - rule"].idxmin()]
        print(f"the unmonitored model fell below the rule baseline in none of these runs, so "
              "'better than the unmonitored model where it falls below the rule baseline' is "
              f"not exercised; its smallest lead over the rules: {low['min model - rule']:.4f} "
              f"({low['world']})")
    print("\nper seed (the same runs):")
    per = df[(df["world"] != "stable") | (df["run"] == RUNS[0])]
    per = per[~(per["world"].str.startswith("outcome_shift") & (per["run"] == RUNS[0]))]
    print(per.pivot_table(index=["world", "seed"], values=["p_model", "p_monitored", "p_rule"])
          .round(4).to_string())
    if part in ("all", "main"):
        t = _regime_timing(n_timing)
        good = t <= 10.0
        ok &= good
        print(f"\nmonitor.check with the model on {n_timing:,} pupils: {t:.2f} s (target <= "
              f"10 s) -> {'OK' if good else 'MISSED'}")
    print(f"total {time.perf_counter() - t0:.0f} s; all targets {'met' if ok else 'NOT met'}"
          + ("" if part == "all" else f" (part {part} only)"))
    return 0 if ok else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="2 seeds, 1,500 pupils")
    ap.add_argument("--part", choices=["all", "main", "outcome"], default="all",
                    help="main: all but the outcome shifts; outcome: only those")
    args = ap.parse_args()
    if args.small:
        raise SystemExit(main([0, 1], 1500, 20_000, n_runs=3, part=args.part, n_outcome=3000))
    raise SystemExit(main(range(5), 3000, 200_000, part=args.part))

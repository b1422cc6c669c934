"""Benchmark: the benefit model (issue 17) on the synthetic system, in three worlds.

Full: 60,000 pupils x 4 years, fitted on the decision dates of the first two
school years, evaluated on the third (the fourth year observes its outcomes).
Small (``--small``): 10,000 pupils x 3 years, fitted on the first year,
evaluated on the second. For ``support_effects`` = heterogeneous, uniform and
none it prints

- the fit time (target at full scale: at most 180 s on 2 cores);
- per arm: rows, treated, rows kept by trimming, Kish ESS, estimated or why not,
  the AIPW average benefit with its clustered standard error;
- on the later cohort, the Spearman rank correlation of the estimated benefit
  with the truth's ``effect_<kind>`` (eligible rows), beside the baseline's, the
  rank correlation of the risk score with the truth;
- RATE (AUTOC) of prioritising by benefit and by risk from held-out AIPW scores
  (school-clustered bootstrap), the decisive difference benefit - risk, and the
  ratio of the benefit's to the risk's *truth-based* AUTOC (the TOC computed
  with the true effects: what each ranking would be worth, without noise);
- the plans (see :func:`plans`): expected leavings prevented, by the truth's
  ``effect_<kind>``, by greedy top-C plans by true effect, estimated benefit and
  risk, the school-clustered interval of benefit - risk, and the gated plan
  (benefit only where the evidence gate, :func:`riskmodel.allocation.weak_arms`, passes:
  RATE above zero and benefit beating risk, one-sided, Holm-corrected over the arms at
  5 %, with at least 100 treated rows and 10 leavings among them).

The risk score is a truth-free RiskModel fitted on the fit dates.

    python benchmarks/bench_benefit.py [--small] [--world heterogeneous|uniform|none]
    python benchmarks/bench_benefit.py --diagnose [--small] [--seed N]   (why it fails)
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

import riskmodel as rm
from riskmodel.benefit import rate

TARGET_FIT_SECONDS = 180.0


def dates_of(world, years):
    """The world's decision dates in the given school years (starting year), September
    1 left out (no pupil is yet enrolled on the first day)."""
    d = pd.DatetimeIndex(world.as_of_dates)
    sy = np.where(d.month >= 9, d.year, d.year - 1)
    first = sy.min()
    keep = np.isin(sy - first, years) & ~((d.month == 9) & (d.day == 1))
    return [x.strftime("%Y-%m-%d") for x in d[keep]]


def plans(world, model, risk, eval_d, n_boot, ev, seed=0):
    """Expected leavings prevented (truth ``effect_<kind>``) by three greedy plans per arm.

    Planned on the first evaluation date; the capacity of each kind is the number of
    support starts of that kind the system made in the evaluation school year. Plans
    are an explicit greedy top-C among eligible pupils (NOT rm.allocate: no roster
    places, no specialty match, no "fit" plan) by estimated benefit, by risk and by the
    true effect. The interval of benefit - risk is a school-clustered bootstrap. The
    *gated* plan uses the benefit ranking only where the evidence gate
    (:func:`riskmodel.allocation.weak_arms` on the held-out evaluation) passes, and falls
    back to risk otherwise (in rm.allocate the fallback is "fit").
    """
    from riskmodel.allocation import weak_arms
    from riskmodel.benefit._trial import _school_at

    weak = weak_arms(model, ev)

    d = eval_d[0]
    X = rm.build_features(world.tables, d)
    eff = model.effect(X)
    r = risk.xs(d, level="as_of").reindex(X.index).to_numpy()
    truth = world.truth[world.truth["as_of"] == pd.Timestamp(d)].copy()
    truth.index = truth["pupil_id"].astype(str)
    enrol = world.tables.enrolments.sort_values("start_date", kind="stable").assign(
        pupil_id=lambda e: e["pupil_id"].astype(str),
        school_id=lambda e: e["school_id"].astype(str))
    school = _school_at(enrol, pd.Timestamp(d), X.index.astype(str))
    sup = world.tables.support
    start = pd.to_datetime(sup["start_date"])
    in_year = (start >= pd.Timestamp(d)) & (start < pd.Timestamp(d) + pd.Timedelta(days=300))
    rng = np.random.default_rng(seed)
    print(f"  plans on {d} (greedy top-C per arm, C = the starts the system made that year):")
    for k in model.kinds_:
        true = truth[f"effect_{k}"].reindex(X.index.astype(str)).to_numpy()
        ok = ~np.isnan(true)
        cap = int(((sup["kind"].astype(str) == k) & in_year).sum())
        if not model.arms_[k]["estimated"] or cap == 0 or ok.sum() == 0:
            print(f"    {k:14s} no plan (arm not estimated, or no capacity): falls back to fit")
            continue
        cap = min(cap, int(ok.sum()))
        tv, sc = true[ok], school[ok]
        picks = {}
        for name, pri in (("true", tv), ("benefit", eff[f"benefit_{k}"].to_numpy()[ok]),
                          ("risk", r[ok])):
            sel = np.zeros(len(tv), dtype=bool)
            sel[np.argsort(-pri, kind="stable")[:cap]] = True
            picks[name] = sel
        prevented = {n: float(tv[m].sum()) for n, m in picks.items()}
        codes, inv = np.unique(sc, return_inverse=True)
        diff_s = np.bincount(inv, tv * (picks["benefit"].astype(float) - picks["risk"]),
                             minlength=len(codes))
        boots = [diff_s[rng.integers(0, len(codes), len(codes))].sum() for _ in range(n_boot)]
        lo, hi = np.quantile(boots, [0.05, 0.95])
        share = (f"{prevented['benefit'] / prevented['true']:.0%} of true; target >= 80 %: "
                 f"{'met' if prevented['benefit'] >= 0.8 * prevented['true'] else 'NOT met'}"
                 if prevented["true"] > 0 else "true effects are all 0")
        print(f"    {k:14s} C={cap}: prevented by true-effect plan {prevented['true']:.2f}, "
              f"benefit plan {prevented['benefit']:.2f} ({share}), risk plan "
              f"{prevented['risk']:.2f}; benefit - risk "
              f"{prevented['benefit'] - prevented['risk']:+.2f} [90 % {lo:+.2f}, {hi:+.2f}]")
        row = ev.table[(ev.table["kind"] == k) & (ev.table["metric"] == "autoc")
                       & (ev.table["rule"] == "benefit-risk")]
        former = "benefit" if len(row) and float(row["low"].iloc[0]) > 0 else "risk"
        if k not in weak:
            gated, why = "benefit", "the gate passes (weak_arms): plan by benefit"
        else:
            gated, why = "risk", f"falls back to risk: {weak[k]}"
        ref = prevented["risk"]
        vs = f"{prevented[gated] / ref:.0%} of the risk plan" if ref > 0 else "risk plan 0"
        print(f"    {'':14s} gated plan: {why}; prevents {prevented[gated]:.2f} ({vs}); the "
              f"former gate (benefit-risk interval alone, no correction) chose {former}")


def run(mode, n_pupils, n_years, n_boot):
    t0 = time.perf_counter()
    world = rm.datasets.make_school_system(n_pupils=n_pupils, n_years=n_years, random_state=0,
                                           support_effects=mode)
    gen = time.perf_counter() - t0
    fit_years = list(range(n_years - 2))
    fit_d, eval_d = dates_of(world, fit_years), dates_of(world, [n_years - 2])
    eval_d = eval_d[:-1]  # the last month's window reaches past the data
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = rm.BenefitModel(n_jobs=2).fit(world.tables, fit_d)
    fit_s = time.perf_counter() - t0
    print(f"\n[{mode}] {n_pupils:,} pupils x {n_years} years (generated in {gen:.1f} s); "
          f"fit on {len(fit_d)} dates, evaluated on {len(eval_d)} later dates")
    print(f"  fit: {fit_s:.1f} s (target <= {TARGET_FIT_SECONDS:.0f} s at full scale: "
          f"{'met' if fit_s <= TARGET_FIT_SECONDS else 'NOT met'})")
    for w in caught:
        print(f"  warning: {w.message}")
    for k, a in model.arms_.items():
        if "n_kept" in a:
            extra = (f"kept {a['n_kept']:,}, treated kept {a['n_treated']}, ESS treated "
                     f"{a['ess_treated']:.0f} / untreated {a['ess_untreated']:.0f}, e q50 "
                     f"{a['e_quantiles']['q50']:.4f} q99 {a['e_quantiles']['q99']:.4f}")
        else:
            extra = ""
        ate = (f"; AIPW mean benefit {a['ate_benefit']:+.4f} (se {a['ate_se']:.4f})"
               if a["estimated"] else f"; NOT estimated: {a['reason']}")
        print(f"  {k:14s} rows {a['n_rows']:,}, treated {a['n_treated_all']}; {extra}{ate}")
    # truth-free risk score on the fit dates
    t0 = time.perf_counter()
    Xf = rm.build_feature_panel(world.tables, fit_d[::2])
    yf = pd.concat([rm.make_labels(world.tables, d) for d in fit_d[::2]]).to_numpy()
    risk_model = rm.RiskModel(random_state=0).fit(Xf, yf)
    Xe = rm.build_feature_panel(world.tables, eval_d)
    risk = pd.Series(risk_model.predict_proba(Xe)[:, 1], index=Xe.index)
    risk_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = rm.benefit.evaluate(model, world.tables, eval_d, risk=risk, n_boot=n_boot)
    ev_s = time.perf_counter() - t0
    print(f"  risk model {risk_s:.1f} s, evaluation {ev_s:.1f} s (n_boot={n_boot})")
    eff = model.effect(Xe)
    truth = world.truth.set_index(["as_of", "pupil_id"])
    truth.index = truth.index.set_levels(truth.index.levels[1].astype(str), level=1)
    for k in model.kinds_:
        if not model.arms_[k]["estimated"]:
            continue
        tt = truth[f"effect_{k}"].reindex(Xe.index)
        ok = tt.notna().to_numpy()
        est = eff[f"benefit_{k}"].to_numpy()[ok]
        true = tt.to_numpy()[ok]
        if np.ptp(true) > 0:
            rho = spearmanr(est, true).statistic
            rho_r = spearmanr(risk.to_numpy()[ok], true).statistic
            t_b = rate(est, true, np.zeros(len(true)), n_boot=10)["autoc"]
            t_r = rate(risk.to_numpy()[ok], true, np.zeros(len(true)), n_boot=10)["autoc"]
            ratio = f"{t_b / t_r:.2f}" if t_r != 0 else "n/a"
            truth_line = (f"Spearman(benefit, truth) {rho:+.3f} vs baseline Spearman(risk, "
                          f"truth) {rho_r:+.3f}; truth-based AUTOC benefit {t_b:.5f}, risk "
                          f"{t_r:.5f}, ratio {ratio}")
        else:
            truth_line = "truth is constant (0): no rank correlation"
        print(f"  {k:14s} {truth_line}; mean estimated benefit {np.mean(est):+.4f}, "
              f"true {np.mean(true):+.4f}")
        tab = ev.table[(ev.table["kind"] == k) & (ev.table["metric"] == "autoc")]
        for _, r in tab.iterrows():
            print(f"      RATE autoc {r['rule']:13s} {r['estimate']:+.5f} "
                  f"[{r['low']:+.5f}, {r['high']:+.5f}]")
    plans(world, model, risk, eval_d, n_boot, ev)
    for k, a in ev.arms.items():
        if not a.get("evaluated", False):
            print(f"  {k}: not evaluated ({a.get('reason')})")


def main(argv):
    small = "--small" in argv
    if "--diagnose" in argv:
        from _diagnose_benefit import diagnose

        seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 0
        n, years = (10_000, 3) if small else (60_000, 4)
        diagnose(n, years, seed, dates_of)
        return 0
    n, years, n_boot = (10_000, 3, 200) if small else (60_000, 4, 1000)
    worlds = ("heterogeneous", "uniform", "none")
    if "--world" in argv:  # one world per run (e.g. one short locked section each)
        worlds = (argv[argv.index("--world") + 1],)
    for mode in worlds:
        run(mode, n, years, n_boot)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

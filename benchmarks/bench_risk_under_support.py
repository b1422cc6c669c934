"""Benchmark: the risk model under support (issue 17, item 5) against the truth.

The synthetic truth's ``p_leave`` is the risk *without new support* (ongoing
support included, new support not anticipated). A risk model fitted on realised
outcomes (the naive model) learns the risk *with the support the system
usually gives*, which is lower where support is given and works. This
benchmark fits, on the monthly cohorts of the first school year (outcomes
observed), and scores the first October cohort of the next year:

- ``naive``: :class:`riskmodel.RiskModel` on the features;
- ``window30``: the features plus ``new_support_<kind>`` (support of that kind
  started within 30 days after ``as_of``), scored with the indicators at 0
  (:func:`riskmodel.benefit.as_if_no_new_support`), the default;
- ``horizon``: the same with support started anywhere within the 365-day
  horizon (it captures all later support, but a pupil who leaves early cannot
  start support later: immortal time, which makes support look protective);
- ``window30+ongoing``: ``window30`` plus the ongoing support at ``as_of``
  (pre-decision, so a legitimate feature).

Against the truth's ``p_leave`` on the test cohort it prints the mean prediction
against the mean truth (calibration in the large), the truth-ECE (10 bins of the
prediction), the cross-entropy with the truth as soft labels (lower is better),
Spearman with the truth; against the realised outcome ROC AUC and precision at
k = 5 %, and the mean *true* risk of the top-k. Three worlds per seed
(heterogeneous, uniform, none): under ``none`` support has no effect, so every
variant should agree with the naive one.

    python benchmarks/bench_risk_under_support.py [--small] [--seeds 0,1]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

import riskmodel as rm
from riskmodel._cohorts import build_cohorts
from riskmodel.benefit import as_if_no_new_support, new_support
from riskmodel.benefit._trial import SIM_KINDS

VARIANTS = ("naive", "window30", "horizon", "window30+ongoing")


def _dates(world, year):
    d = pd.DatetimeIndex(world.as_of_dates)
    sy = np.where(d.month >= 9, d.year, d.year - 1)
    keep = (sy == sy.min() + year) & ~((d.month == 9) & (d.day == 1))
    return list(d[keep])


def ongoing(tables, index):
    """``ongoing_<kind>``: support of that kind started before ``as_of`` and not ended."""
    sup = tables.support
    as_of = pd.to_datetime(index.get_level_values(0)).to_numpy(dtype="datetime64[ns]")
    pupil = index.get_level_values(1).astype(str).to_numpy()
    start = pd.to_datetime(sup["start_date"]).to_numpy(dtype="datetime64[ns]")
    end = pd.to_datetime(sup["end_date"]).to_numpy(dtype="datetime64[ns]")
    kind = sup["kind"].astype(str).to_numpy()
    sp = sup["pupil_id"].astype(str).to_numpy()
    out = {f"ongoing_{k}": np.zeros(len(index)) for k in SIM_KINDS}
    for d in np.unique(as_of):
        rows = as_of == d
        for k in SIM_KINDS:
            hit = (kind == k) & (start < d) & ~(end < d)
            out[f"ongoing_{k}"][rows] = np.isin(pupil[rows], sp[hit])
    return pd.DataFrame(out, index=index)


def metrics(p, truth, y, k_share=0.05):
    """Figures of one prediction against the truth (p_leave) and the realised outcome."""
    p = np.clip(p, 1e-6, 1 - 1e-6)
    bins = np.minimum((pd.Series(p).rank(pct=True, method="first").to_numpy() * 10).astype(int), 9)
    ece = sum(abs(truth[bins == b].mean() - p[bins == b].mean()) * (bins == b).mean()
              for b in range(10))
    k = int(np.ceil(k_share * len(p)))
    top = np.argsort(-p, kind="stable")[:k]
    return {
        "mean_pred": p.mean(), "mean_truth": truth.mean(),
        "ratio": p.mean() / truth.mean(),
        "truth_ece": ece,
        "xent_truth": float(-(truth * np.log(p) + (1 - truth) * np.log(1 - p)).mean()),
        "spearman_truth": spearmanr(p, truth).statistic,
        "auc_y": roc_auc_score(y, p), "prec_at_k": y[top].mean(), "truth_at_k": truth[top].mean(),
    }


def true_gap(world, tables, d, index):
    """What the naive model's target includes beyond the risk without new support, by the
    truth: the mean over the cohort of sum_k [support k started within 30 days] * effect_k
    (the leavings the new support of the window prevents, per pupil), and its share of the
    mean truth p_leave."""
    tr = world.truth[world.truth["as_of"] == d].set_index("pupil_id")
    tr.index = tr.index.astype(str)
    tr = tr.reindex(index.get_level_values(1).astype(str))
    started = new_support(tables, index, window_days=30)
    gap = sum(started[f"new_support_{k}"].to_numpy() * np.nan_to_num(tr[f"effect_{k}"].to_numpy())
              for k in SIM_KINDS)
    return float(np.mean(gap)), float(np.mean(gap) / np.nanmean(tr["p_leave"].to_numpy()))


def run(n_pupils, seed, effects):
    world = rm.datasets.make_school_system(n_pupils=n_pupils, n_years=3, random_state=seed,
                                           support_effects=effects)
    tables = world.tables
    fit_d, test_d = _dates(world, 0), _dates(world, 1)[0]
    cohorts = build_cohorts(tables, [*fit_d, test_d], 365)
    X = pd.concat([cohorts[d][0] for d in fit_d], keys=fit_d, names=["as_of"])
    y = pd.concat([cohorts[d][1] for d in fit_d], keys=fit_d, names=["as_of"])
    Xt, yt = cohorts[test_d]
    truth = world.truth[world.truth["as_of"] == test_d].set_index("pupil_id")["p_leave"]
    truth.index = truth.index.astype(str)
    tr = truth.reindex(Xt.index.astype(str)).to_numpy()
    ok = ~np.isnan(tr)
    test_idx = pd.MultiIndex.from_product([[test_d], Xt.index], names=["as_of", "pupil_id"])
    extra = {
        "naive": (None, None),
        "window30": (new_support(tables, X.index, window_days=30), None),
        "horizon": (new_support(tables, X.index, window_days=365), None),
        "window30+ongoing": (pd.concat([new_support(tables, X.index, window_days=30),
                                        ongoing(tables, X.index)], axis=1),
                             ongoing(tables, test_idx)),
    }
    rows, treated = [], float(new_support(tables, X.index).to_numpy().max(axis=1).mean())
    gap = true_gap(world, tables, test_d, test_idx)
    for name in VARIANTS:
        add, add_test = extra[name]
        Xf = X if add is None else pd.concat([X, add], axis=1)
        t0 = time.perf_counter()
        model = rm.RiskModel(random_state=seed).fit(Xf.droplevel("as_of"), y.droplevel("as_of"))
        secs = time.perf_counter() - t0
        Xs = Xt if add_test is None else pd.concat([Xt, add_test.droplevel("as_of")], axis=1)
        p = model.predict_proba(as_if_no_new_support(Xs, model))[:, 1]
        rows.append({"world": effects, "seed": seed, "variant": name, "fit_s": secs,
                     **metrics(p[ok], tr[ok], yt.to_numpy()[ok])})
    return (pd.DataFrame(rows), len(X), treated, (y.to_numpy().mean(), tr[ok].mean(), yt.mean()),
            gap)


def main(argv):
    small = "--small" in argv
    seeds = [0, 1]
    if "--seeds" in argv:
        seeds = [int(s) for s in argv[argv.index("--seeds") + 1].split(",")]
    n_pupils = 8_000 if small else 20_000
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    out = []
    for seed in seeds:
        for effects in ("heterogeneous", "uniform", "none"):
            table, n_rows, treated, rates, gap = run(n_pupils, seed, effects)
            print(f"\n{effects}, seed {seed}: {n_pupils:,} pupils x 3 years; fit on {n_rows:,} "
                  f"rows of year 1 ({treated:.2%} start support within 30 days); outcome rate "
                  f"fit {rates[0]:.4f}, test truth p_leave {rates[1]:.4f}, test realised "
                  f"{rates[2]:.4f}")
            print(f"the truth's gap between the naive target and the risk without new support "
                  f"(30-day window, test cohort): {gap[0]:.6f} per pupil = {gap[1]:.2%} of the "
                  "mean p_leave")
            print(table.drop(columns=["world", "seed"]).to_string(index=False,
                                                                   float_format="%.4f"))
            out.append(table)
    allr = pd.concat(out)
    summary = allr.groupby(["world", "variant"], sort=False)[
        ["ratio", "truth_ece", "xent_truth", "spearman_truth", "auc_y", "prec_at_k",
         "truth_at_k"]].mean()
    print(f"\nMean over seeds {seeds} (ratio = mean prediction / mean truth p_leave; "
          "baseline: the naive model):")
    print(summary.to_string(float_format="%.4f"))
    for w in ("heterogeneous", "uniform", "none"):
        s = summary.loc[w]
        print(f"{w}: window30 - naive: ratio {s.loc['window30', 'ratio'] - s.loc['naive', 'ratio']:+.4f}, "
              f"truth-ECE {s.loc['window30', 'truth_ece'] - s.loc['naive', 'truth_ece']:+.5f}, "
              f"cross-entropy {s.loc['window30', 'xent_truth'] - s.loc['naive', 'xent_truth']:+.5f}, "
              f"AUC {s.loc['window30', 'auc_y'] - s.loc['naive', 'auc_y']:+.4f}, "
              f"precision@5% {s.loc['window30', 'prec_at_k'] - s.loc['naive', 'prec_at_k']:+.4f}")


if __name__ == "__main__":
    main(sys.argv[1:])

"""Benchmark: what exploration at the capacity margin does to next year's benefit estimate.

Once mentors are allocated deterministically by estimated benefit, pupils just
above a mentor's margin are always mentored and those just below never are:
next year's records have no overlap there, so the benefit of the marginal pupils
cannot be estimated from them. ``allocate(..., exploration=eps)`` draws among
near-equal candidates at the margin and records each pupil's exact assignment
probability.

Set-up (semi-synthetic, the truth known): the synthetic school system
(``make_school_system``) gives, at one decision date, each pupil's ``p_leave``
without support and the true ``effect_mentor``. This year's *estimate* of the
benefit is the truth plus noise (sd ``NOISE``, as a fitted model would have).
Mentors (``make_resources``, one per municipality, with places for
``SHARE`` of its eligible pupils, so that capacity binds) are allocated by that
estimate for each ``eps``;
then next year's outcomes are drawn, ``Y ~ Bernoulli(p_leave - effect * T)``
with ``T`` the plan's mentoring, ``REPS`` times (a new seed for the draw and the
exploration each time). From those records the average benefit of the
*marginal pupils* (those the exploration can reach at the largest ``eps``:
eligible, reachable, estimate within a factor ``1 - max eps`` of their mentor's
margin) is estimated:

- ``ipw``: inverse probability weighting with the recorded probabilities, on the
  pupils whose probability lies strictly between 0 and 1 (with ``eps = 0`` there
  are none: not estimable);
- ``naive``: untreated minus treated leaving rate among the marginal pupils (what
  a deterministic plan leaves: confounded by the estimate).

Printed per ``eps``: the true leavings prevented by the plan (mean over draws)
and its loss against ``eps = 0``, the marginal pupils with overlap and the Kish
effective sample size of the IPW weights, and the root mean squared error (over
the draws) of each estimate against the truth of the population it estimates,
and its bias (mean error). IPW is unbiased wherever the plan explored; the
deterministic plan leaves only the confounded comparison.

    python benchmarks/bench_exploration.py [--small]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

import riskmodel as rm
from riskmodel.allocation import allocate, make_resources
from riskmodel.allocation._rules import KINDS

EPS = (0.0, 0.05, 0.1, 0.2, 0.3)
NOISE = 0.01
#: mentor places as a share of the eligible pupils (age 13+, risk group)
SHARE = 0.4
OTHER = {k: "benchmark: mentors only" for k in KINDS if k != "mentor"}


def instance(n_pupils: int, seed: int = 0):
    world = rm.datasets.make_school_system(n_pupils=n_pupils, n_years=2, random_state=seed)
    dates = sorted(pd.to_datetime(world.truth["as_of"].unique()))
    as_of = [d for d in dates if d.month == 10][-1]
    frame = rm.features.pupil_frame(world.tables, as_of)
    truth = world.truth[world.truth["as_of"] == as_of].set_index("pupil_id")
    pupils = frame[["municipality_id", "school_id", "age", "grade"]].join(
        truth[["p_leave", "effect_mentor"]], how="inner")
    pupils["effect_mentor"] = pupils["effect_mentor"].fillna(0.0)
    pupils["risk"] = pupils["p_leave"].clip(0, 1)
    rng = np.random.default_rng(seed + 1)
    pupils["benefit_mentor"] = (pupils["effect_mentor"]
                                + rng.normal(0, NOISE, len(pupils))).clip(-1, 1)
    pupils.index.name = "pupil_id"
    n_munis = pupils["municipality_id"].nunique()
    resources = make_resources(pupils, n_mentors=n_munis, random_state=seed)
    resources = resources[resources["kind"] == "mentor"].reset_index(drop=True)
    # places for about SHARE of the eligible pupils of each municipality: a binding margin
    elig = pupils[(pupils["age"] >= 13) & (pupils["risk"] >= 0.10)]
    need = elig.groupby("municipality_id").size()
    per = resources.groupby("municipality_id")["resource_id"].transform("size")
    cap = (need.reindex(resources["municipality_id"]).fillna(0).to_numpy() * SHARE
           / per.to_numpy())
    resources["capacity"] = np.maximum(np.round(cap), 1).astype(int)
    return pupils, resources, as_of


def marginal_pupils(pupils, resources, eps_max):
    """Pupils that exploration at ``eps_max`` can reach (band members of the optimum)."""
    plan = allocate(pupils, resources, objective="benefit", fallback=OTHER,
                    exploration=eps_max, random_state=0)
    probs = plan.probabilities
    return set(probs.loc[probs["assignment_probability"] < 1, "pupil_id"])


def kish(w):
    return float(w.sum() ** 2 / (w ** 2).sum()) if len(w) and (w > 0).any() else 0.0


def run(n_pupils, reps):
    t0 = time.perf_counter()
    pupils, resources, as_of = instance(n_pupils)
    margin = marginal_pupils(pupils, resources, max(EPS))
    in_m = pupils.index.isin(list(margin))
    p0 = pupils["p_leave"].to_numpy()
    eff = pupils["effect_mentor"].to_numpy()
    print(f"{len(pupils):,} pupils on {as_of.date()}, {len(resources)} mentors "
          f"({int(resources['capacity'].sum())} places); {int(in_m.sum())} marginal pupils "
          f"(reachable at eps={max(EPS)}), true mean benefit there {eff[in_m].mean():.4f}; "
          f"set-up {time.perf_counter() - t0:.1f} s")
    rows, base_prev = [], None
    for eps in EPS:
        prevented, n_ov, ess_t, ess_u, err_ipw, err_naive = [], [], [], [], [], []
        t1 = time.perf_counter()
        for rep in range(reps):
            plan = allocate(pupils, resources, objective="benefit", fallback=OTHER,
                            exploration=eps, random_state=1000 + rep)
            pr = plan.probabilities
            pr = pr[pr["kind"] == "mentor"]
            prob = pd.Series(0.0, index=pupils.index)
            prob[pr["pupil_id"].to_numpy()] = pr["assignment_probability"].to_numpy()
            t = pupils.index.isin(plan.assignments.loc[plan.assignments["kind"] == "mentor",
                                                       "pupil_id"])
            rng = np.random.default_rng(50_000 + rep)
            y = rng.random(len(pupils)) < np.clip(p0 - eff * t, 0, 1)
            prevented.append(float(eff[t].sum()))
            pi = prob.to_numpy()
            ov = (pi > 0) & (pi < 1)
            n_ov.append(int(ov.sum()))
            if ov.any():
                w_t = 1 / pi[ov & t]
                w_u = 1 / (1 - pi[ov & ~t])
                ess_t.append(kish(w_t))
                ess_u.append(kish(w_u))
                n = ov.sum()
                est = (np.sum(y[ov & ~t] * w_u) - np.sum(y[ov & t] * w_t)) / n
                err_ipw.append(est - eff[ov].mean())
            mt, mu = in_m & t, in_m & ~t
            if mt.any() and mu.any():
                err_naive.append(y[mu].mean() - y[mt].mean() - eff[in_m].mean())
        prev = float(np.mean(prevented))
        base_prev = prev if base_prev is None else base_prev
        rmse = (lambda e: float(np.sqrt(np.mean(np.square(e)))) if e else float("nan"))
        rows.append({"eps": eps, "prevented": prev, "loss_vs_eps0": base_prev - prev,
                     "n_overlap": float(np.mean(n_ov)),
                     "ess_treated": float(np.mean(ess_t)) if ess_t else 0.0,
                     "ess_untreated": float(np.mean(ess_u)) if ess_u else 0.0,
                     "bias_ipw": float(np.mean(err_ipw)) if err_ipw else float("nan"),
                     "rmse_ipw": rmse(err_ipw),
                     "bias_naive": float(np.mean(err_naive)) if err_naive else float("nan"),
                     "rmse_naive": rmse(err_naive),
                     "s_per_plan": (time.perf_counter() - t1) / reps})
    out = pd.DataFrame(rows).set_index("eps")
    with pd.option_context("display.width", 140, "display.float_format", "{:.4f}".format):
        print(out.to_string())
    best = out.loc[[e for e in EPS if e > 0]]
    print(f"ratio: rmse_ipw at eps={EPS[2]} / rmse_naive at eps=0 = "
          f"{out.loc[EPS[2], 'rmse_ipw'] / out.loc[0.0, 'rmse_naive']:.3f}; "
          f"leavings prevented kept at eps={EPS[2]}: "
          f"{out.loc[EPS[2], 'prevented'] / out.loc[0.0, 'prevented']:.1%}; "
          f"eps=0 has no overlap: {out.loc[0.0, 'n_overlap'] == 0}; "
          f"the widest band's ESS: {best['ess_treated'].iloc[-1]:.0f} treated, "
          f"{best['ess_untreated'].iloc[-1]:.0f} untreated")
    value_curve(pupils, resources, n_units=max(10, len(resources)))
    return out


def value_curve(pupils, resources, n_units):
    """Leavings prevented per additional mentor (caseload 25), estimate and truth."""
    t0 = time.perf_counter()
    plan = allocate(pupils, resources, objective="benefit", fallback=OTHER)
    curve = plan.value_curve("mentor", n_units=n_units, unit_capacity=25)
    truth = allocate(pupils.assign(benefit_mentor=pupils["effect_mentor"]), resources,
                     objective="benefit", fallback=OTHER)
    tcurve = truth.value_curve("mentor", n_units=n_units, unit_capacity=25)
    picks = sorted({1, n_units // 4, n_units // 2, n_units})
    print(f"value curve: expected early leavings prevented by additional mentors (25 places "
          f"each), {time.perf_counter() - t0:.1f} s; plan now prevents "
          f"{plan.leavings_prevented:.2f} (estimate)")
    for u in picks:
        r, tr = curve.iloc[u - 1], tcurve.iloc[u - 1]
        print(f"  +{u:>3} mentors: {r['cumulative_prevented']:.2f} by the estimate "
              f"(last one {r['marginal_prevented']:.3f}); {tr['cumulative_prevented']:.2f} "
              "by the true effects")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    small = "--small" in argv
    if small:
        run(n_pupils=8_000, reps=30)
    else:
        run(n_pupils=40_000, reps=100)


if __name__ == "__main__":
    main()

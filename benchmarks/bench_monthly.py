"""Benchmark: monthly reruns of the allocation over one school year, with and without continuity.

A synthetic system (20,000 pupils; ``--small``: 5,000) over three school
years. A RiskModel with few trees (100) is trained on the first school year's
October cohort (its 365-day outcome is known before the scoring starts) and
scores the third school year on each first school day of the month (October
to May: on 1 September no enrolment of the new year is known before the date).
Each month the support is planned twice over the same roster: by default the
synthetic system's own roster (``world.resources``, the one its support history
used and ``make demo`` allocates: about 117 mentors per 200,000 pupils, at least
one per municipality with the caseload cut so that the national share of places
holds); with ``--roster make_resources``, ``make_resources`` of the first month
with at least one full mentor per municipality (places are then plentiful at
small scale):

- **with continuity**: ``allocate(..., current=<last month's plan>, as_of=...)``,
  the previous plan carried forward as ongoing support;
- **from scratch**: ``allocate(...)`` on the month's scores alone.

Printed per month, for both: the **churn** — among the pupils served last month
(pupil, kind) who are still enrolled, still eligible for the kind and still at
risk (``risk >= min_risk``) this month, the share whose resource changed
(another resource or none) — and the same over every pupil who still qualifies
for the kind (literacy and subject consultations need no risk group); the
**share of capacity used**; and for continuity the **value kept**, its
objective value over the from-scratch optimum's, in total and over risk-group
pupils only. Targets (issue 16): churn with continuity at
most 5 % a month (the exit status), from scratch more than 20 % (printed: it
depends on how scarce the places are, not on riskmodel).

    python benchmarks/bench_monthly.py [--small] [--roster world|make_resources]
"""

from __future__ import annotations

import sys
import time

import pandas as pd

import riskmodel as rm
from riskmodel._run_io import allocation_pupils
from riskmodel.allocation import KINDS, ProgrammeRules, allocate, make_resources
from riskmodel.allocation._roster import available_mask
from riskmodel.features import pupil_frame

TARGET_CONTINUITY = 0.05
TARGET_SCRATCH = 0.20
N_TREES = 100


def _eligible(pupils: pd.DataFrame, rules: ProgrammeRules, at_risk: bool) -> pd.DataFrame:
    """(pupil_id, kind) pairs eligible this month (and at risk: ``risk >= min_risk``)."""
    rows = []
    for kind in KINDS:
        rule = rules.kind_rule(kind)
        ok = pupils["risk"] >= (rules.min_risk if at_risk or rule.requires_risk_group else 0)
        if rule.min_age is not None:
            ok &= pupils["age"] >= rule.min_age
        if rule.grades is not None:
            ok &= pupils["grade"].isin(rule.grades)
        if rule.requires_liecība:
            ok &= pupils["liecība"].fillna(False).astype(bool)
        rows.append(pd.DataFrame({"pupil_id": pupils.index[ok].astype(str), "kind": kind}))
    return pd.concat(rows, ignore_index=True)


def churn(previous: pd.DataFrame, now: pd.DataFrame, still: pd.DataFrame) -> tuple[float, int]:
    """Share of last month's (pupil, kind) still eligible and at risk whose resource changed."""
    prev = previous[["pupil_id", "kind", "resource_id"]].merge(still, on=["pupil_id", "kind"])
    if len(prev) == 0:
        return float("nan"), 0
    cur = now[["pupil_id", "kind", "resource_id"]].rename(columns={"resource_id": "now"})
    both = prev.merge(cur, on=["pupil_id", "kind"], how="left")
    return float((both["now"] != both["resource_id"]).mean()), len(prev)


def main(small: bool, roster: str = "world") -> int:
    n_pupils = 5_000 if small else 20_000
    t0 = time.perf_counter()
    world = rm.datasets.make_school_system(n_pupils=n_pupils, n_years=3, random_state=0)
    dates = sorted(pd.Timestamp(d) for d in world.as_of_dates)
    train_date = dates[1]  # October of the first year: its outcome is known by the scoring
    start = dates[0] + pd.Timedelta(days=730)
    year2 = [d for d in dates if start <= d < start + pd.Timedelta(days=300)]
    panel = rm.build_feature_panel(world.tables, [train_date, *year2])
    # on the first school day nobody's enrolment of the new year is known before it
    year2 = [d for d in year2 if d in set(panel.index.get_level_values("as_of"))]
    X0 = panel.xs(train_date, level="as_of")
    y0 = rm.make_labels(world.tables, as_of=train_date).reindex(X0.index)
    known = y0.notna()
    model = rm.RiskModel(n_estimators=N_TREES, random_state=0).fit(X0[known],
                                                                 y0[known].astype(int))
    print(f"system: {n_pupils:,} pupils; RiskModel ({N_TREES} trees) trained on "
          f"{train_date.date()} ({int(known.sum()):,} pupils, {int(y0[known].sum())} leavers); "
          f"scored on {len(year2)} monthly dates {year2[0].date()} .. {year2[-1].date()}; "
          f"setup {time.perf_counter() - t0:.1f} s")
    rules = ProgrammeRules()
    resources = None
    prev_c = prev_s = None
    rows = []
    t_alloc = 0.0
    for d in year2:
        X = panel.xs(d, level="as_of")
        risk = pd.Series(model.predict_proba(X)[:, 1], index=X.index)
        by_domain = model.explain(X).by_domain().reindex(X.index)
        pupils = allocation_pupils(pupil_frame(world.tables, d).reindex(X.index), risk,
                                   by_domain)
        if resources is None:
            if roster == "world":
                resources = world.resources
            else:
                resources = make_resources(pupils, n_mentors=max(43, round(117 * n_pupils
                                                                           / 200_000)),
                                           random_state=0, rules=rules)
        available = available_mask(resources, d)
        capacity = int(resources.loc[available, "capacity"].sum())
        if d == year2[0]:
            print(f"roster: {len(resources)} resources, {capacity:,} places "
                  f"({(resources['kind'] == 'mentor').sum()} mentors); risk group "
                  f"{(risk >= rules.min_risk).mean():.1%} in {d.date()}")
        t1 = time.perf_counter()
        current = None
        if prev_c is not None:
            current = prev_c.assignments[["pupil_id", "kind", "resource_id", "start_date"]]
            current = current.assign(end_date=pd.NaT)
        plan_c = allocate(pupils, resources, rules, current=current, as_of=d)
        plan_s = allocate(pupils, resources, rules, as_of=d)
        t_alloc += time.perf_counter() - t1
        still = _eligible(pupils, rules, at_risk=True)
        qualify = _eligible(pupils, rules, at_risk=False)
        rg_c = plan_c.assignments.query("risk >= @rules.min_risk")["value"].sum()
        rg_s = plan_s.assignments.query("risk >= @rules.min_risk")["value"].sum()
        row = {"as_of": d.date(),
               "served": len(plan_c.assignments),
               "continuing": int((plan_c.assignments["change"] == "continuing").sum()),
               "ended": len(plan_c.ended),
               "used_c": len(plan_c.assignments) / capacity,
               "used_s": len(plan_s.assignments) / capacity,
               "kept": plan_c.objective_value / plan_s.objective_value,
               "kept_rg": rg_c / rg_s}
        if prev_c is not None:
            row["churn_c"], row["n"] = churn(prev_c.assignments, plan_c.assignments, still)
            row["churn_s"], _ = churn(prev_s.assignments, plan_s.assignments, still)
            row["churn_c_all"], row["n_all"] = churn(prev_c.assignments, plan_c.assignments,
                                                     qualify)
            row["churn_s_all"], _ = churn(prev_s.assignments, plan_s.assignments, qualify)
        rows.append(row)
        prev_c, prev_s = plan_c, plan_s
    table = pd.DataFrame(rows).set_index("as_of")
    with pd.option_context("display.width", 160, "display.float_format", "{:.3f}".format):
        print(table.to_string())
    mean_c, max_c = table["churn_c"].mean(), table["churn_c"].max()
    mean_s = table["churn_s"].mean()
    print(f"churn of continuing pupils per month: with continuity mean {mean_c:.1%}, worst "
          f"{max_c:.1%} (target <= {TARGET_CONTINUITY:.0%}); from scratch mean {mean_s:.1%} "
          f"(target > {TARGET_SCRATCH:.0%}); ratio from scratch / continuity "
          f"{mean_s / max(mean_c, 1e-12):.1f}x")
    print(f"churn of pupils who still qualify for the kind (risk group not required for "
          f"literacy and subject consultations): with continuity "
          f"{table['churn_c_all'].mean():.1%}, from scratch {table['churn_s_all'].mean():.1%}")
    print(f"capacity used: continuity {table['used_c'].mean():.1%}, from scratch "
          f"{table['used_s'].mean():.1%}; value kept vs from scratch (objective value ratio; "
          f"above 1 when hysteresis keeps pupils under min_risk whom a new plan may not "
          f"serve): mean {table['kept'].mean():.3f}, worst {table['kept'].min():.3f}; over "
          f"risk-group pupils only: mean {table['kept_rg'].mean():.3f}, worst "
          f"{table['kept_rg'].min():.3f}; allocation time {t_alloc:.1f} s for "
          f"{2 * len(year2)} plans")
    # the exit status follows the continuity target (what riskmodel controls); whether
    # the from-scratch baseline churns more than 20 % depends on how scarce the places are
    print(f"from-scratch baseline above {TARGET_SCRATCH:.0%}: "
          f"{'yes' if mean_s > TARGET_SCRATCH else 'NO'} (risk group), "
          f"{'yes' if table['churn_s_all'].mean() > TARGET_SCRATCH else 'NO'} (all who qualify)")
    ok = max_c <= TARGET_CONTINUITY
    print("targets met" if ok else "TARGETS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    args = sys.argv[1:]
    roster = args[args.index("--roster") + 1] if "--roster" in args else "world"
    if roster not in ("world", "make_resources"):
        sys.exit("--roster is world or make_resources")
    sys.exit(main("--small" in args, roster))

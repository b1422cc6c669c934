"""Continuity: ongoing support keeps its resource; the rest of the plan stays optimal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp
from test_allocation import eligible_pairs, pair_value, random_instance

import riskmodel as rm
from riskmodel.allocation import KINDS, ProgrammeRules
from riskmodel.allocation._continuity import END_REASONS

AS_OF0 = pd.Timestamp("2025-09-01")
AS_OF = pd.Timestamp("2025-10-01")
VARIANTS = {
    "plain": {},
    "budget": {"budget_eur": 500.0},
    "school_caps": {"max_pupils_per_school": {"mentor": 1, "support_staff": 2, "family": 1}},
    "churn": {"max_new_per_resource": 1},
    "all": {"budget_eur": 400.0, "max_pupils_per_school": {"family": 2},
            "max_new_per_resource": 2, "exit_risk": 0.08},
}


def world(seed: int):
    """A plan of last month as the ongoing support, and this month's changed world."""
    rng = np.random.default_rng(seed)
    pupils, resources = random_instance(seed, n_pupils=40, n_resources=14, max_cap=4)
    first = rm.allocate(pupils, resources, as_of=AS_OF0, objective="risk")
    cur = first.assignments[["pupil_id", "kind", "resource_id", "start_date"]].copy()
    cur["end_date"] = pd.NaT
    n = len(cur)
    # some support finished before the new date (not ongoing), some ends later (ongoing)
    done = rng.random(n) < 0.15
    cur.loc[done, "end_date"] = AS_OF - pd.Timedelta(days=3)
    cur.loc[~done & (rng.random(n) < 0.2), "end_date"] = AS_OF + pd.Timedelta(days=30)
    extra = pd.DataFrame({"pupil_id": rng.choice(pupils["pupil_id"], 3),
                          "kind": rng.choice(KINDS, 3), "resource_id": ["gone-1", "gone-2",
                                                                        "gone-3"],
                          "start_date": AS_OF0, "end_date": pd.NaT})
    cur = pd.concat([cur, extra], ignore_index=True)
    # the world moves on: risk changes, some pupils leave, a resource shrinks, one goes
    pupils = pupils.copy()
    pupils["risk"] = np.clip(pupils["risk"] + rng.normal(0, 0.06, len(pupils)), 0, 1).round(3)
    older = rng.random(len(pupils)) < 0.15  # a new grade: literacy may end
    pupils.loc[older, "grade"] = (pupils.loc[older, "grade"] + 1).clip(upper=12)
    pupils.loc[rng.random(len(pupils)) < 0.1, "liecība"] = False
    moved = np.flatnonzero(rng.random(len(pupils)) < 0.08)  # to another pupil's school
    to = rng.integers(0, len(pupils), len(moved))
    pupils.loc[moved, ["school_id", "municipality_id"]] = pupils.loc[
        to, ["school_id", "municipality_id"]].to_numpy()
    pupils = pupils[rng.random(len(pupils)) > 0.08].reset_index(drop=True)
    resources = resources.copy()
    shrink = rng.random(len(resources)) < 0.2
    resources.loc[shrink, "capacity"] = (resources.loc[shrink, "capacity"] - 1).clip(lower=0)
    resources = resources.drop(index=int(rng.integers(len(resources)))).reset_index(drop=True)
    return pupils, resources, cur


def ongoing(cur):
    end = cur["end_date"]
    return cur[(cur["start_date"] < AS_OF) & (end.isna() | (end >= AS_OF))]


def fixed_reference(pupils, resources, rules, continuing):
    """Independent dense MILP of the rest of the plan with ``continuing`` fixed."""
    prow = list(pupils.itertuples(index=False))
    rrow = list(resources.itertuples(index=False))
    keep = set(zip(continuing["pupil_id"], continuing["kind"]))
    pairs = [(i, r) for i, r in eligible_pairs(pupils, resources, rules)
             if (prow[i].pupil_id, rrow[r].kind) not in keep]
    if not pairs:
        return 0.0
    v = np.array([pair_value(prow[i], rrow[r], "fit", rules.fit_weight) for i, r in pairs])
    used = continuing["resource_id"].value_counts()
    rows, rhs = [], []
    for i in range(len(prow)):
        for kind in KINDS:
            row = [1.0 if (pi == i and rrow[r].kind == kind) else 0.0 for pi, r in pairs]
            if any(row):
                rows.append(row)
                rhs.append(1.0)
    for r_i, r in enumerate(rrow):
        row = [1.0 if rr == r_i else 0.0 for _, rr in pairs]
        if any(row):
            left = r.capacity - used.get(r.resource_id, 0)
            if rules.max_new_per_resource is not None:
                left = min(left, rules.max_new_per_resource)
            rows.append(row)
            rhs.append(float(left))
    caps = rules.max_pupils_per_school or {}
    school_used = continuing.groupby(["school_id", "kind"]).size().to_dict()
    for school in pupils["school_id"].unique():
        for kind, cap in caps.items():
            row = [1.0 if (prow[i].school_id == school and rrow[r].kind == kind) else 0.0
                   for i, r in pairs]
            if any(row):
                rows.append(row)
                rhs.append(float(cap - school_used.get((school, kind), 0)))
    cons = [LinearConstraint(np.array(rows), -np.inf, rhs)]
    if rules.budget_eur is not None:
        cost = np.array([rrow[r].cost_per_pupil for _, r in pairs])
        cons.append(LinearConstraint(cost[None, :], -np.inf,
                                     rules.budget_eur - continuing["cost_per_pupil"].sum()))
    res = milp(-v, constraints=cons, integrality=np.ones(len(v)), bounds=Bounds(0, 1),
               options={"mip_rel_gap": 1e-12})
    assert res.status == 0
    return -res.fun


def eligible_ignoring_risk(p, kind, rules):
    r = rules.kind_rule(kind)
    return ((r.min_age is None or p.age >= r.min_age)
            and (r.grades is None or p.grade in r.grades)
            and (not r.requires_liecība or bool(p.liecība)))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), variant=st.sampled_from(sorted(VARIANTS)))
def test_continuity_keeps_rules_reasons_and_optimality(seed, variant):
    pupils, resources, cur = world(seed)
    rules = ProgrammeRules(**VARIANTS[variant])
    plan = rm.allocate(pupils, resources, rules, objective="fit", current=cur, as_of=AS_OF)
    a, ended = plan.assignments, plan.ended
    pup = pupils.set_index("pupil_id")
    res = resources.set_index("resource_id")
    # every programme rule holds on the whole plan (continuing + new)
    admissible = {(pupils["pupil_id"].iloc[i], resources["resource_id"].iloc[r])
                  for i, r in eligible_pairs(pupils, resources, rules)}
    new = a[a["change"] == "new"]
    cont = a[a["change"] == "continuing"]
    assert set(zip(new["pupil_id"], new["resource_id"])) <= admissible
    assert not a.duplicated(["pupil_id", "kind"]).any()
    used = a["resource_id"].value_counts()
    assert (used <= res.loc[used.index, "capacity"]).all()
    if rules.budget_eur is not None:
        assert a["cost_per_pupil"].sum() <= rules.budget_eur + 1e-6
    for kind, cap in (rules.max_pupils_per_school or {}).items():
        assert (a[a["kind"] == kind].groupby("school_id").size() <= cap).all()
    if rules.max_new_per_resource is not None:
        assert (new["resource_id"].value_counts() <= rules.max_new_per_resource).all()
    for row in cont.itertuples(index=False):  # continuing pupils still qualify
        p, r = pup.loc[row.pupil_id], res.loc[row.resource_id]
        assert r.kind == row.kind and r.municipality_id == p.municipality_id
        assert pd.isna(r.school_id) or r.school_id == p.school_id
        assert eligible_ignoring_risk(p, row.kind, rules)
        if rules.kind_rule(row.kind).requires_risk_group:
            assert p.risk >= rules.exit_level
    # every ongoing support either continues with its resource or ends with a true reason
    live = ongoing(cur)
    kept = set(zip(cont["pupil_id"], cont["kind"], cont["resource_id"]))
    gone = {(e.pupil_id, e.kind, e.resource_id): e.change_reason
            for e in ended.itertuples(index=False)}
    assert len(kept) + len(gone) == len(live)
    for row in live.itertuples(index=False):
        key = (row.pupil_id, row.kind, row.resource_id)
        assert key in kept or key in gone, f"{key} dropped without a reason"
        if key in kept:
            continue
        why = gone[key]
        assert why in END_REASONS
        if why == "left":
            assert row.pupil_id not in pup.index
        elif why == "resource_gone":
            assert row.resource_id not in res.index or res.loc[row.resource_id, "kind"] != row.kind
        elif why == "ineligible":
            assert not eligible_ignoring_risk(pup.loc[row.pupil_id], row.kind, rules)
        elif why == "exit_risk":
            assert pup.loc[row.pupil_id, "risk"] < rules.exit_level
        elif why == "capacity":  # the resource is full of continuing pupils
            assert (cont["resource_id"] == row.resource_id).sum() == res.loc[row.resource_id,
                                                                             "capacity"]
        elif why == "out_of_reach":
            r, p = res.loc[row.resource_id], pup.loc[row.pupil_id]
            assert r.municipality_id != p.municipality_id or r.school_id != p.school_id
        elif why == "school_cap":
            kind, school = row.kind, pup.loc[row.pupil_id, "school_id"]
            assert ((cont["kind"] == kind) & (cont["school_id"] == school)).sum() == \
                rules.max_pupils_per_school[kind]
        elif why == "budget":
            cost = res.loc[row.resource_id, "cost_per_pupil"]
            assert cont["cost_per_pupil"].sum() + cost > rules.budget_eur
        else:
            assert why == "duplicate"
    # continuing plans keep their start; new ones start today
    starts = {(r.pupil_id, r.kind, r.resource_id): r.start_date
              for r in live.itertuples(index=False)}
    for row in cont.itertuples(index=False):
        assert row.start_date == starts[(row.pupil_id, row.kind, row.resource_id)]
    assert (new["start_date"] == AS_OF).all()
    assert (a["review_date"] > AS_OF).all()
    # the rest of the plan is optimal with the continuing assignments fixed
    ref = fixed_reference(pupils, resources, rules, cont)
    assert new["value"].sum() == pytest.approx(ref, abs=1e-6)
    assert plan.objective_value == pytest.approx(a["value"].sum())


def test_hysteresis_keeps_a_mentor_between_exit_and_min_risk():
    pupils = pd.DataFrame({"pupil_id": ["a", "b", "c"], "municipality_id": "M1",
                           "school_id": "S1", "age": [14, 15, 16], "grade": [8, 9, 10],
                           "risk": [0.07, 0.04, 0.5]})
    roster = pd.DataFrame({"resource_id": ["m1"], "kind": ["mentor"], "municipality_id": ["M1"],
                           "capacity": [2]})
    cur = pd.DataFrame({"pupil_id": ["a", "b"], "kind": "mentor", "resource_id": "m1",
                        "start_date": pd.Timestamp("2025-09-02"), "end_date": pd.NaT})
    plan = rm.allocate(pupils, roster, current=cur, as_of="2025-10-01")
    assert sorted(plan.plan[["pupil_id", "change", "change_reason"]].values.tolist()) == [
        ["a", "continuing", "ongoing"], ["b", "ended", "exit_risk"], ["c", "new", "selected"]]
    # from scratch, a (risk 0.07 < min_risk 0.10) would not get the mentor
    assert rm.allocate(pupils, roster).assignments["pupil_id"].tolist() == ["c"]
    with pytest.raises(ValueError, match="exit_risk"):
        ProgrammeRules(min_risk=0.1, exit_risk=0.1)
    with pytest.raises(ValueError, match="needs as_of"):
        rm.allocate(pupils, roster, current=cur)


def test_continuity_beats_a_better_newcomer_and_churn_limit_binds():
    pupils = pd.DataFrame({"pupil_id": ["old", "new1", "new2"], "municipality_id": "M1",
                           "school_id": "S1", "age": 14, "grade": 8, "risk": [0.2, 0.6, 0.5]})
    roster = pd.DataFrame({"resource_id": ["m1", "m2"], "kind": "mentor",
                           "municipality_id": "M1", "capacity": [1, 2]})
    cur = pd.DataFrame({"pupil_id": ["old"], "kind": "mentor", "resource_id": "m1",
                        "start_date": "2025-09-01", "end_date": None})
    plan = rm.allocate(pupils, roster, {"max_new_per_resource": 1}, objective="risk",
                       current=cur, as_of="2025-10-01")
    a = plan.assignments.set_index("pupil_id")
    assert a.loc["old", "resource_id"] == "m1" and a.loc["old", "change"] == "continuing"
    assert a.loc["new1", "resource_id"] == "m2" and "new2" not in a.index
    wait = plan.waitlist.set_index(["pupil_id", "kind"])
    assert wait.loc[("new2", "mentor"), "reason"] == "churn_limit"
    # from scratch under the same churn limit the old pupil loses the mentor
    scratch = rm.allocate(pupils, roster, {"max_new_per_resource": 1}, objective="risk")
    assert set(scratch.assignments["pupil_id"]) == {"new1", "new2"}


def test_support_plan_columns():
    pupils = pd.DataFrame({
        "pupil_id": ["a", "b"], "municipality_id": "M1", "school_id": "S1", "age": [14, 8],
        "grade": [8, 2], "risk": [0.5, 0.3],
        "attendance": [0.4, -0.1], "grades": [0.1, 0.3], "engagement": [0.0, 0.0],
        "transitions": [0.0, 0.0], "context": [0.2, 0.0],
        "reason_1_lv": ["Kavējumi", "Atzīmes"], "reason_1_en": ["Absences", "Grades"]})
    roster = pd.DataFrame({"resource_id": ["m1", "l1"], "kind": ["mentor", "literacy"],
                           "municipality_id": "M1", "capacity": 1,
                           "specialty": ["context", None]})
    cur = pd.DataFrame({"pupil_id": ["a"], "kind": "mentor", "resource_id": "m1",
                        "start_date": "2025-03-03", "end_date": None})
    plan = rm.allocate(pupils, roster, current=cur, as_of="2025-10-01")
    a = plan.assignments.set_index("pupil_id")
    # mentor: specialty context serves a's risk there; reviewed at the term's end
    assert a.loc["a", "goal_domain"] == "context"
    assert a.loc["a", "start_date"] == pd.Timestamp("2025-03-03")
    assert a.loc["a", "review_date"] == pd.Timestamp("2025-12-20")
    # literacy without specialty: b's leading domain; reviewed after 6 weeks
    assert a.loc["b", "goal_domain"] == "grades"
    assert a.loc["b", "review_date"] == pd.Timestamp("2025-10-01") + pd.Timedelta(days=42)
    assert a.loc["b", "reason_1_lv"] == "Atzīmes" and a.loc["b", "reason_1_en"] == "Grades"
    rules = ProgrammeRules(review={"literacy": 30})
    plan = rm.allocate(pupils, roster, rules, current=cur, as_of="2025-10-01")
    assert plan.assignments.set_index("pupil_id").loc["b", "review_date"] == pd.Timestamp(
        "2025-10-31")


def test_support_table_kinds_and_unknown_resources():
    pupils = pd.DataFrame({"pupil_id": ["a", "b", "c"], "municipality_id": "M1",
                           "school_id": "S1", "age": 14, "grade": 8, "risk": [0.5, 0.4, 0.3]})
    roster = pd.DataFrame({"resource_id": ["s1", "m1"], "kind": ["support_staff", "mentor"],
                           "municipality_id": "M1", "capacity": [1, 1]})
    # the data contract's support table: no resource_id; psychologist = support staff
    cur = pd.DataFrame({"pupil_id": ["b", "c", "a"],
                        "kind": ["psychologist", "mentor", "other"],
                        "start_date": pd.to_datetime(["2025-09-01"] * 3), "end_date": pd.NaT})
    plan = rm.allocate(pupils, roster, objective="risk", current=cur, as_of="2025-10-01")
    p = plan.plan.set_index(["pupil_id", "kind"])
    assert p.loc[("a", "support_staff"), "change_reason"] == "selected"
    assert p.loc[("a", "mentor"), "change_reason"] == "selected"
    assert p.loc[("b", "support_staff"), "change"] == "ended"
    assert p.loc[("b", "support_staff"), "change_reason"] == "resource_unknown"
    assert p.loc[("c", "mentor"), "change_reason"] == "resource_unknown"
    with pytest.raises(rm.DataValidationError, match="start_date"):
        rm.allocate(pupils, roster, current=cur.drop(columns="start_date"), as_of="2025-10-01")
    with pytest.raises(rm.DataValidationError, match="unknown kind"):
        rm.allocate(pupils, roster, current=cur.assign(kind="tutoring"), as_of="2025-10-01")

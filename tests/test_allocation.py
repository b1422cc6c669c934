"""Tests of riskmodel.allocation: rules never broken, optimality, waitlist, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from sklearn.utils._param_validation import InvalidParameterError

import riskmodel as rm
from riskmodel.allocation import (
    KINDS,
    Allocation,
    ProgrammeRules,
    allocate,
    make_resources,
)
from riskmodel.allocation._greedy import _greedy_allocate as greedy_allocate  # the benchmark's baseline

DOMAINS = ("attendance", "grades", "engagement", "transitions", "context")
ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------- instances
def random_instance(seed: int, n_pupils: int = 40, n_munis: int = 3, n_schools: int = 6,
                    n_resources: int = 12, max_cap: int = 4):
    rng = np.random.default_rng(seed)
    school_muni = np.r_[np.arange(n_munis), rng.integers(0, n_munis, n_schools - n_munis)]
    school = rng.integers(0, n_schools, n_pupils)
    grade = rng.integers(1, 13, n_pupils)
    pupils = pd.DataFrame({
        "pupil_id": [f"p{i}" for i in range(n_pupils)],
        "municipality_id": [f"M{school_muni[s]}" for s in school],
        "school_id": [f"S{s}" for s in school],
        "age": grade + 6 + rng.integers(0, 2, n_pupils),
        "grade": grade,
        "risk": np.round(rng.beta(1.2, 3.0, n_pupils), 3),
        "liecība": rng.random(n_pupils) < 0.3,
    })
    contrib = rng.normal(0.1, 0.5, (n_pupils, len(DOMAINS)))
    for j, d in enumerate(DOMAINS):
        pupils[d] = contrib[:, j]
    kind = rng.choice(KINDS, n_resources)
    muni = rng.integers(0, n_munis + 1, n_resources)  # one municipality has no pupils
    tied = rng.random(n_resources) < 0.3
    res_school = []
    for m, t in zip(muni, tied):
        schools_here = np.flatnonzero(school_muni == m)
        res_school.append(f"S{rng.choice(schools_here)}" if t and len(schools_here) else None)
    resources = pd.DataFrame({
        "resource_id": [f"r{i}" for i in range(n_resources)],
        "kind": kind,
        "municipality_id": [f"M{m}" for m in muni],
        "school_id": res_school,
        "capacity": rng.integers(0, max_cap + 1, n_resources),
        "specialty": [None if rng.random() < 0.4 else rng.choice(DOMAINS)
                      for _ in range(n_resources)],
        "cost_per_pupil": np.round(rng.uniform(10, 100, n_resources), 2),
    })
    return pupils, resources


def eligible_pairs(pupils, resources, rules):
    """Admissible (pupil row, resource row) pairs, computed from the tables directly."""
    pairs = []
    for i, p in enumerate(pupils.itertuples(index=False)):
        in_group = p.risk >= rules.min_risk
        for r_i, r in enumerate(resources.itertuples(index=False)):
            if r.capacity <= 0 or r.municipality_id != p.municipality_id:
                continue
            if r.school_id is not None and not pd.isna(r.school_id) and r.school_id != p.school_id:
                continue
            ok = {
                "mentor": p.age >= 13 and in_group,
                "literacy": 1 <= p.grade <= 3,
                "subject": bool(p.liecība),
                "support_staff": in_group,
                "family": in_group,
            }[r.kind]
            if ok:
                pairs.append((i, r_i))
    return pairs


def pair_value(p, r, objective, w):
    if objective == "risk":
        return p.risk
    contrib = np.clip([getattr(p, d) for d in DOMAINS], 0, None)
    if r.specialty is None or pd.isna(r.specialty) or contrib.sum() == 0:
        match = 1 / len(DOMAINS)
    else:
        match = contrib[DOMAINS.index(r.specialty)] / contrib.sum()
    return p.risk * (1 - w + w * match)


def reference_optimum(pupils, resources, rules, objective):
    """Independent dense (MI)LP of the whole problem."""
    pairs = eligible_pairs(pupils, resources, rules)
    if not pairs:
        return 0.0
    prow = list(pupils.itertuples(index=False))
    rrow = list(resources.itertuples(index=False))
    v = np.array([pair_value(prow[i], rrow[r], objective, rules.fit_weight) for i, r in pairs])
    rows, rhs = [], []
    for i in range(len(prow)):  # one per kind per pupil
        for kind in KINDS:
            row = [1.0 if (pi == i and rrow[r].kind == kind) else 0.0 for pi, r in pairs]
            if any(row):
                rows.append(row)
                rhs.append(1.0)
    for r_i, r in enumerate(rrow):  # capacity
        row = [1.0 if r == r_i else 0.0 for _, r in pairs]
        if any(row):
            rows.append(row)
            rhs.append(float(r.capacity))
    caps = rules.max_pupils_per_school or {}
    for school in pupils["school_id"].unique():
        for kind, cap in caps.items():
            row = [1.0 if (prow[i].school_id == school and rrow[r].kind == kind) else 0.0
                   for i, r in pairs]
            if any(row):
                rows.append(row)
                rhs.append(float(cap))
    a = np.array(rows)
    if rules.budget_eur is None and not caps:
        res = linprog(-v, A_ub=a, b_ub=rhs, bounds=(0, 1), method="highs")
        return -res.fun
    cons = [LinearConstraint(a, -np.inf, rhs)]
    if rules.budget_eur is not None:
        cost = np.array([rrow[r].cost_per_pupil for _, r in pairs])
        cons.append(LinearConstraint(cost[None, :], -np.inf, rules.budget_eur))
    res = milp(-v, constraints=cons, integrality=np.ones(len(v)), bounds=Bounds(0, 1),
               options={"mip_rel_gap": 1e-12})
    return -res.fun


def check_rules(plan: Allocation, pupils, resources, rules):
    """Assert that the plan breaks no rule and that the waitlist is right."""
    a = plan.assignments
    pup = pupils.set_index("pupil_id")
    res = resources.set_index("resource_id")
    admissible = {(pupils["pupil_id"].iloc[i], resources["resource_id"].iloc[r])
                  for i, r in eligible_pairs(pupils, resources, rules)}
    got = set(zip(a["pupil_id"], a["resource_id"]))
    assert got <= admissible, "eligibility or locality broken"
    assert len(got) == len(a)
    assert not a.duplicated(["pupil_id", "kind"]).any(), "two resources of one kind"
    used = a["resource_id"].value_counts()
    assert (used <= res.loc[used.index, "capacity"]).all(), "capacity broken"
    assert (a["kind"].to_numpy() == res.loc[a["resource_id"], "kind"].to_numpy()).all()
    if rules.budget_eur is not None:
        assert a["cost_per_pupil"].sum() <= rules.budget_eur + 1e-6, "budget broken"
    for kind, cap in (rules.max_pupils_per_school or {}).items():
        per_school = a[a["kind"] == kind].groupby("school_id").size()
        assert (per_school <= cap).all(), "school cap broken"
    # waitlist: exactly the eligible risk-group pupils of each kind who got nothing
    served = set(zip(a["pupil_id"], a["kind"]))
    want = set()
    for p in pupils.itertuples(index=False):
        if p.risk < rules.min_risk:
            continue
        for kind in KINDS:
            r = rules.kind_rule(kind)
            ok = ((r.min_age is None or p.age >= r.min_age)
                  and (r.grades is None or p.grade in r.grades)
                  and (not r.requires_liecība or p.liecība))
            if ok and (p.pupil_id, kind) not in served:
                want.add((p.pupil_id, kind))
    wl = plan.waitlist
    assert set(zip(wl["pupil_id"], wl["kind"])) == want
    # reasons, recomputed independently (plain Python: fast and obviously right)
    left = (res["capacity"] - used.reindex(res.index, fill_value=0)).to_dict()
    rlist = list(resources.itertuples(index=False))
    caps = rules.max_pupils_per_school or {}
    school_used = a.groupby(["school_id", "kind"]).size().to_dict()
    prow = {p.pupil_id: p for p in pupils.itertuples(index=False)}
    for row in wl.itertuples(index=False):
        p = prow[row.pupil_id]
        reach = [r for r in rlist if r.kind == row.kind and r.capacity > 0
                 and r.municipality_id == p.municipality_id
                 and (r.school_id is None or pd.isna(r.school_id) or r.school_id == p.school_id)]
        if not reach:
            expected = "locality"
        elif all(left[r.resource_id] <= 0 for r in reach):
            expected = "capacity"
        elif row.kind in caps and school_used.get((p.school_id, row.kind), 0) >= caps[row.kind]:
            expected = "school_cap"
        else:
            expected = "budget"
            assert rules.budget_eur is not None, "a pupil waits with free places and no budget"
        assert row.reason == expected
    # shortfall is consistent with the assignments and the waitlist
    sf = plan.shortfall
    assert (sf["idle"] == sf["capacity"] - sf["assigned"]).all()
    assert sf["assigned"].sum() == len(a)
    assert sf["unmet"].sum() == len(wl)
    assert sf["capacity"].sum() == res["capacity"].sum()


VARIANTS = {
    "plain": {},
    "budget": {"budget_eur": 400.0},
    "school_caps": {"max_pupils_per_school": {"mentor": 1, "support_staff": 2, "family": 1}},
    "both": {"budget_eur": 300.0, "max_pupils_per_school": {"literacy": 1, "family": 2}},
}


# --------------------------------------------------------------------- rules
def test_default_rules_are_the_programme_rules_and_yaml_matches():
    rules = ProgrammeRules()
    assert rules.min_risk == 0.10
    assert rules.eligibility.mentor.min_age == 13 and rules.eligibility.mentor.requires_risk_group
    assert rules.eligibility.literacy.grades == [1, 2, 3]
    assert rules.eligibility.subject.requires_liecība
    assert rules.eligibility.support_staff.requires_risk_group
    assert rules.eligibility.family.requires_risk_group
    assert rules.budget_eur is None
    loaded = ProgrammeRules.from_yaml(ROOT / "configs" / "programme_4231.yaml")
    assert loaded == rules
    assert rm.ProgrammeRules is ProgrammeRules


def test_rules_reject_bad_values(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("min_risk: 0.2\nfit_wieght: 0.3\n", encoding="utf-8")
    with pytest.raises(rm.ConfigError, match="fit_wieght"):
        ProgrammeRules.from_yaml(path)
    with pytest.raises(ValueError, match="fit_weight\n  Input should be less than 1"):
        ProgrammeRules(fit_weight=1.0)
    with pytest.raises(ValueError, match="min_risk\n  Input should be greater than 0"):
        ProgrammeRules(min_risk=0.0)
    with pytest.raises(ValueError, match="max_pupils_per_school.tutor"):
        ProgrammeRules(max_pupils_per_school={"tutor": 3})


# ----------------------------------------------------------- property tests
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("objective", ["fit", "risk"])
def test_no_rule_is_ever_broken_on_random_instances(variant, objective):
    for seed in range(4):
        pupils, resources = random_instance(seed)
        rules = ProgrammeRules(min_risk=0.2, **VARIANTS[variant])
        plan = allocate(pupils, resources, rules, objective=objective)
        check_rules(plan, pupils, resources, rules)
        greedy = greedy_allocate(pupils, resources, rules, objective=objective)
        check_rules(greedy, pupils, resources, rules)
        assert plan.objective_value >= greedy.objective_value - 1e-9


@pytest.mark.parametrize("objective", ["risk", "fit"])
def test_optimum_equals_an_independent_lp(objective):
    gaps = []
    for seed in range(8):
        pupils, resources = random_instance(100 + seed, n_pupils=30, n_resources=10)
        rules = ProgrammeRules(min_risk=0.2)
        plan = allocate(pupils, resources, rules, objective=objective)
        ref = reference_optimum(pupils, resources, rules, objective)
        assert plan.objective_value == pytest.approx(ref, abs=1e-9)
        assert plan.optimality_gap == pytest.approx(0.0, abs=1e-9)
        gaps.append(ref - greedy_allocate(pupils, resources, rules, objective).objective_value)
    if objective == "fit":  # the instances are not all easy: greedy misses somewhere
        assert max(gaps) > 1e-6


@pytest.mark.parametrize("variant", ["budget", "school_caps", "both"])
def test_optimum_with_budget_and_school_caps_equals_an_independent_milp(variant):
    for seed in range(5):
        pupils, resources = random_instance(200 + seed, n_pupils=24, n_resources=9)
        rules = ProgrammeRules(min_risk=0.2, **VARIANTS[variant])
        plan = allocate(pupils, resources, rules, objective="fit")
        ref = reference_optimum(pupils, resources, rules, "fit")
        assert plan.objective_value == pytest.approx(ref, abs=1e-7)
        assert plan.upper_bound >= ref - 1e-7


def test_risk_objective_serves_the_highest_risk_and_fit_follows_specialty():
    pupils = pd.DataFrame({
        "pupil_id": ["a", "b", "c"], "municipality_id": "M", "school_id": "S",
        "age": [14, 15, 16], "grade": [8, 9, 10], "risk": [0.5, 0.45, 0.2],
        "attendance": [0.0, 2.0, 0.0], "grades": [1.0, 0.0, 0.0],
    })
    resources = pd.DataFrame({
        "resource_id": ["m_att", "m_gr"], "kind": "mentor", "municipality_id": "M",
        "capacity": [1, 1], "specialty": ["attendance", "grades"],
    })
    plan = allocate(pupils, resources, objective="fit")
    got = dict(zip(plan.assignments["pupil_id"], plan.assignments["resource_id"]))
    assert got == {"a": "m_gr", "b": "m_att"}  # each pupil with their own domain
    assert plan.objective_value == pytest.approx(0.5 + 0.45)
    one = resources.iloc[:1].assign(capacity=1)
    plan = allocate(pupils, one, objective="risk")
    assert plan.assignments["pupil_id"].tolist() == ["a"]
    assert plan.waitlist.query("kind == 'mentor'")["reason"].tolist() == ["capacity"] * 2


def test_locality_and_idle_capacity():
    pupils = pd.DataFrame({
        "pupil_id": ["a", "b"], "municipality_id": ["M1", "M1"], "school_id": ["S1", "S2"],
        "age": [14, 14], "grade": [8, 8], "risk": [0.6, 0.5],
    })
    resources = pd.DataFrame({
        "resource_id": ["staff_s1", "mentor_m9"], "kind": ["support_staff", "mentor"],
        "municipality_id": ["M1", "M9"], "school_id": ["S1", None], "capacity": [5, 3],
    })
    plan = allocate(pupils, resources)
    assert plan.assignments[["pupil_id", "resource_id"]].values.tolist() == [["a", "staff_s1"]]
    wl = plan.waitlist.set_index(["pupil_id", "kind"])["reason"]
    assert wl[("b", "support_staff")] == "locality"  # staff tied to another school
    assert wl[("a", "mentor")] == "locality"  # the only mentor is in another municipality
    sf = plan.shortfall.set_index(["municipality_id", "kind"])
    assert sf.loc[("M9", "mentor"), "idle"] == 3 and sf.loc[("M9", "mentor"), "demand"] == 0
    assert sf.loc[("M1", "support_staff"), ["demand", "assigned", "unmet", "idle"]].tolist() \
        == [2, 1, 1, 4]


def test_budget_reason_and_summary():
    pupils = pd.DataFrame({
        "pupil_id": ["a", "b", "c"], "municipality_id": "M", "school_id": "S",
        "age": [14, 15, 16], "grade": [8, 9, 10], "risk": [0.5, 0.4, 0.3],
    })
    resources = pd.DataFrame({
        "resource_id": ["m1"], "kind": "mentor", "municipality_id": "M", "capacity": [3],
        "cost_per_pupil": [100.0],
    })
    plan = allocate(pupils, resources, ProgrammeRules(budget_eur=250.0), objective="risk")
    assert plan.assignments["pupil_id"].tolist() == ["a", "b"]
    assert plan.waitlist.query("kind == 'mentor'")[["pupil_id", "reason"]].values.tolist() \
        == [["c", "budget"]]
    s = plan.summary()
    assert s.loc["mentor", ["capacity", "assigned", "demand", "unmet", "idle"]].tolist() \
        == [3, 2, 3, 1, 1]
    assert s.loc["mentor", "waitlist_budget"] == 1
    assert s.loc["total", "cost"] == pytest.approx(200.0)
    assert plan.total_cost == pytest.approx(200.0)


def test_reasons_are_copied_and_pupil_id_index_is_accepted():
    pupils = pd.DataFrame({
        "pupil_id": ["a", "b"], "municipality_id": "M", "school_id": "S", "age": [14, 15],
        "grade": [8, 9], "risk": [0.5, 0.4],
        "reasons": ["kavējumi / absences", "atzīmes / grades"],
    }).set_index("pupil_id")
    resources = pd.DataFrame({"resource_id": ["m1"], "kind": ["mentor"],
                              "municipality_id": ["M"], "capacity": [2]})
    plan = allocate(pupils, resources)
    got = dict(zip(plan.assignments["pupil_id"], plan.assignments["reasons"]))
    assert got == {"a": "kavējumi / absences", "b": "atzīmes / grades"}


# --------------------------------------------------------------- value curve
def test_value_curve_matches_re_solving_with_more_capacity():
    pupils, resources = random_instance(7, n_pupils=60, n_resources=14)
    rules = ProgrammeRules(min_risk=0.2)
    plan = allocate(pupils, resources, rules, objective="fit")
    curve = plan.value_curve("family", n_units=4, unit_capacity=2, unit_cost=0.0)
    assert curve["unit"].tolist() == [1, 2, 3, 4]
    marg = curve["marginal_value"].to_numpy()
    assert (np.diff(marg) <= 1e-9).all()  # concave: never increasing
    assert (marg >= 0).all()
    # independent check: add the chosen units as real resources and re-solve
    extra = curve.dropna(subset=["municipality_id"]).groupby("municipality_id").size()
    more = pd.concat([resources, pd.DataFrame({
        "resource_id": [f"new_{m}" for m in extra.index], "kind": "family",
        "municipality_id": extra.index, "school_id": None, "capacity": 2 * extra.to_numpy(),
        "specialty": None, "cost_per_pupil": 0.0})], ignore_index=True)
    bigger = allocate(pupils, more, rules, objective="fit")
    assert bigger.objective_value == pytest.approx(curve["objective_value"].iloc[-1], abs=1e-9)
    with pytest.raises(ValueError, match="optimal plan"):
        greedy_allocate(pupils, resources, rules).value_curve("family")
    with pytest.raises(InvalidParameterError, match="The 'kind' parameter of value_curve must be a "
                                                    "str among .*'mentor'.*Got 'tutor' instead"):
        plan.value_curve("tutor")
    with pytest.raises(InvalidParameterError, match="The 'n_units' parameter of value_curve must be "
                                                    "an int >= 1. Got 0 instead"):
        plan.value_curve("family", n_units=0)
    with pytest.raises(InvalidParameterError, match="The 'unit_cost' parameter of value_curve"):
        plan.value_curve("family", unit_cost=-1.0)


def test_value_curve_on_a_hand_example():
    pupils = pd.DataFrame({
        "pupil_id": list("abcd"), "municipality_id": "M", "school_id": "S",
        "age": 14, "grade": 8, "risk": [0.9, 0.7, 0.4, 0.05],
    })
    resources = pd.DataFrame({"resource_id": ["m1"], "kind": ["mentor"],
                              "municipality_id": ["M"], "capacity": [1]})
    plan = allocate(pupils, resources, objective="risk")
    curve = plan.value_curve("mentor", n_units=3)
    # d is not in the risk group (risk < 0.10): the third unit adds nothing
    assert curve["marginal_value"].tolist() == pytest.approx([0.7, 0.4, 0.0])
    assert curve["municipality_id"].tolist()[:2] == ["M", "M"]
    assert pd.isna(curve["municipality_id"].iloc[2])


# -------------------------------------------------------------------- errors
def _small():
    pupils = pd.DataFrame({"pupil_id": ["a", "b"], "municipality_id": "M", "school_id": "S",
                           "age": [14, 15], "grade": [8, 9], "risk": [0.5, 0.4]})
    resources = pd.DataFrame({"resource_id": ["m1", "m2"], "kind": ["mentor", "family"],
                              "municipality_id": ["M", "M"], "capacity": [1, 2]})
    return pupils, resources


@pytest.mark.parametrize(("table", "column", "edit", "fragment"), [
    ("resources", "kind", lambda p, r: (p, r.assign(kind=["mentor", "tutor"])), "unknown kind"),
    ("resources", "capacity", lambda p, r: (p, r.assign(capacity=[-1, 2])), "non-negative"),
    ("resources", "capacity", lambda p, r: (p, r.assign(capacity=[1.5, 2])), "integer"),
    ("resources", "resource_id", lambda p, r: (p, r.assign(resource_id=["x", "x"])),
     "duplicate"),
    ("resources", "specialty", lambda p, r: (p, r.assign(specialty=["maths", None])),
     "specialty"),
    ("pupils", "risk", lambda p, r: (p.assign(risk=[0.5, 1.2]), r), "risk"),
    ("pupils", "risk", lambda p, r: (p.assign(risk=[0.5, np.nan]), r), "missing"),
    ("pupils", "grade", lambda p, r: (p.drop(columns="grade"), r), "missing"),
    ("pupils", "pupil_id", lambda p, r: (p.assign(pupil_id=["a", "a"]), r), "duplicate"),
])
def test_bad_input_raises_data_validation_error(table, column, edit, fragment):
    pupils, resources = edit(*_small())
    with pytest.raises(rm.DataValidationError, match=fragment) as info:
        allocate(pupils, resources)
    msg = str(info.value)
    assert f"table {table!r}" in msg and f"column {column!r}" in msg
    assert info.value.problems[0]["table"] == table
    assert info.value.problems[0]["column"] == column


def test_bad_parameters_raise_value_error():
    pupils, resources = _small()
    with pytest.raises(InvalidParameterError, match="The 'objective' parameter of allocate must be a "
                                                    "str among \\{'fit', 'risk', 'benefit'\\}. "
                                                    "Got 'bogus'"):
        allocate(pupils, resources, objective="bogus")
    # a wrong type is both a TypeError and a ValueError, with scikit-learn's wording
    with pytest.raises(TypeError, match="The 'pupils' parameter of allocate must be an instance of "
                                        "'pandas.DataFrame'. Got a dict instead"):
        allocate(pupils.to_dict(), resources)


def test_public_surface_has_no_baseline():
    import riskmodel.allocation as alloc

    assert "greedy_allocate" not in alloc.__all__ and not hasattr(alloc, "greedy_allocate")
    assert set(alloc.__all__) == {"KINDS", "Allocation", "Eligibility", "KindRule",
                                  "ProgrammeRules", "allocate", "benefit_columns",
                                  "make_resources", "read_resources", "weak_arms"}


# ------------------------------------------------------------ make_resources
def test_make_resources_builds_a_valid_programme():
    pupils, _ = random_instance(3, n_pupils=400, n_munis=4, n_schools=12)
    res = make_resources(pupils, n_mentors=10, random_state=1)
    pd.testing.assert_frame_equal(res, make_resources(pupils, n_mentors=10, random_state=1))
    with pytest.warns(FutureWarning, match="'seed' parameter of make_resources was renamed"):
        old = make_resources(pupils, n_mentors=10, seed=1)
    pd.testing.assert_frame_equal(old, res)
    mentors = res[res["kind"] == "mentor"]
    assert len(mentors) == 10 and (mentors["capacity"] == 25).all()
    assert set(mentors["municipality_id"]) == set(pupils["municipality_id"])  # >= 1 each
    staff = res[res["kind"] == "support_staff"]
    assert len(staff) > 0 and staff["school_id"].notna().all()
    school_muni = dict(zip(pupils["school_id"], pupils["municipality_id"]))
    assert (staff["municipality_id"] == staff["school_id"].map(school_muni)).all()
    assert set(res["kind"]) <= set(KINDS) and res["resource_id"].is_unique
    assert (res["cost_per_pupil"] > 0).all()
    plan = allocate(pupils, res)
    check_rules(plan, pupils, res, ProgrammeRules())
    with pytest.raises(InvalidParameterError, match="The 'n_mentors' parameter of make_resources "
                                                    "must be an int >= 4. Got 2 instead"):
        make_resources(pupils, n_mentors=2)
    with pytest.raises(InvalidParameterError, match="The 'n_family' parameter of make_resources "
                                                    "must be an int >= 0. Got -1 instead"):
        make_resources(pupils, n_mentors=10, n_family=-1)

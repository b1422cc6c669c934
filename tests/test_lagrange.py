"""Tests of the Lagrangian budget solver (issue 21): certified gap, rules kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskmodel.allocation import KINDS, ProgrammeRules, allocate
from riskmodel.allocation import _solve
from test_allocation import reference_optimum  # an independent dense MILP

DOMAINS = ("attendance", "grades", "engagement", "transitions", "context")


def instance(seed: int, n_pupils: int = 120, n_munis: int = 4, n_resources: int = 30):
    rng = np.random.default_rng(seed)
    n_schools = 2 * n_munis
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
    for d in DOMAINS:
        pupils[d] = rng.normal(0.1, 0.5, n_pupils)
    resources = pd.DataFrame({
        "resource_id": [f"r{i}" for i in range(n_resources)],
        "kind": rng.choice(KINDS, n_resources),
        "municipality_id": [f"M{m}" for m in rng.integers(0, n_munis, n_resources)],
        "capacity": rng.integers(1, 8, n_resources),
        "specialty": [None if rng.random() < 0.4 else rng.choice(DOMAINS)
                      for _ in range(n_resources)],
        "cost_per_pupil": np.round(rng.uniform(10, 100, n_resources), 2),
        "school_id": None,
    })
    return pupils, resources


def solve_with(monkeypatch, solver, *args, **kw):
    monkeypatch.setattr(_solve, "BUDGET_SOLVER", solver)
    return allocate(*args, **kw)


def check_plan(plan, resources, budget):
    a = plan.assignments
    assert a["cost_per_pupil"].sum() <= budget + 1e-6, "budget broken"
    used = a["resource_id"].value_counts()
    cap = resources.set_index("resource_id")["capacity"]
    assert (used <= cap.loc[used.index]).all(), "capacity broken"
    assert not a.duplicated(["pupil_id", "kind"]).any()


@pytest.mark.parametrize("objective", ["fit", "risk"])
@pytest.mark.parametrize("share", [0.2, 0.5, 0.8])
def test_lagrange_is_within_its_certified_gap_of_the_exact_milp(monkeypatch, objective, share):
    gaps = []
    for seed in range(6):
        pupils, resources = instance(seed)
        free = solve_with(monkeypatch, "milp", pupils, resources, objective=objective)
        rules = ProgrammeRules(min_risk=0.15, budget_eur=round(share * free.total_cost, 2))
        exact = solve_with(monkeypatch, "milp", pupils, resources, rules, objective=objective)
        opt = reference_optimum(pupils, resources, rules, objective)
        assert exact.objective_value == pytest.approx(opt, abs=1e-7)
        lag = solve_with(monkeypatch, "lagrange", pupils, resources, rules, objective=objective)
        check_plan(lag, resources, rules.budget_eur)
        # the dual bound is a true bound: dual >= optimum >= primal
        assert lag.upper_bound >= opt - 1e-9
        assert lag.objective_value <= opt + 1e-9
        assert opt - lag.objective_value <= lag.optimality_gap + 1e-9
        # the dual of a totally unimodular split is the LP bound; the search stops once
        # dual - primal <= REL_GAP * primal, so it is at most that much weaker than the LP's
        from riskmodel.allocation._lagrange import REL_GAP

        assert lag.upper_bound <= exact.upper_bound + REL_GAP * abs(opt) + 1e-9
        gaps.append(lag.optimality_gap / max(opt, 1e-12))
    assert np.median(gaps) < 0.05  # the repair is close to the optimum, not just feasible


def test_lagrange_with_a_slack_budget_is_the_unbudgeted_optimum(monkeypatch):
    pupils, resources = instance(3)
    free = solve_with(monkeypatch, "milp", pupils, resources)
    rules = ProgrammeRules(budget_eur=free.total_cost + 1.0)
    lag = solve_with(monkeypatch, "lagrange", pupils, resources, rules)
    assert lag.objective_value == pytest.approx(free.objective_value, abs=1e-9)
    assert lag.optimality_gap == pytest.approx(0.0, abs=1e-9)


def test_lagrange_keeps_school_caps(monkeypatch):
    pupils, resources = instance(7)
    caps = {"mentor": 1, "family": 2}
    rules = ProgrammeRules(min_risk=0.15, budget_eur=400.0, max_pupils_per_school=caps)
    exact = solve_with(monkeypatch, "milp", pupils, resources, rules)
    lag = solve_with(monkeypatch, "lagrange", pupils, resources, rules)
    check_plan(lag, resources, 400.0)
    for kind, cap in caps.items():
        assert (lag.assignments.query("kind == @kind").groupby("school_id").size() <= cap).all()
    assert lag.upper_bound >= exact.objective_value - 1e-9 >= lag.objective_value - 2e-9


def test_auto_picks_lagrange_only_above_the_size(monkeypatch):
    pupils, resources = instance(1)
    rules = ProgrammeRules(min_risk=0.15, budget_eur=500.0)
    seen = []
    import riskmodel.allocation._lagrange as lg

    real = lg.lagrange_solve
    monkeypatch.setattr(lg, "lagrange_solve", lambda *a, **k: seen.append(1) or real(*a, **k))
    solve_with(monkeypatch, "auto", pupils, resources, rules)
    assert not seen
    monkeypatch.setattr(_solve, "LAGRANGE_MIN_PAIRS", 10)
    solve_with(monkeypatch, "auto", pupils, resources, rules)
    assert seen == [1]

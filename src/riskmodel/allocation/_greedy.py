"""Greedy baseline: take admissible pairs in order of decreasing value."""

from __future__ import annotations

import numpy as np

from ._data import Problem, build_problem
from ._rules import KINDS
from ._solve import Edges, KindIndex


def _greedy_allocate(pupils, resources, rules=None, objective: str = "fit"):
    """Greedy baseline plan: take (pupil, resource) pairs by decreasing value (private).

    Respects every rule that :func:`riskmodel.allocate` respects but is not
    optimal; it is kept only as the baseline that the benchmark and the tests
    compare the optimum against. ``value_curve`` is not available on its result.

    Examples
    --------
    >>> import pandas as pd
    >>> pupils = pd.DataFrame({"pupil_id": ["a"], "municipality_id": "M1", "school_id": "S1",
    ...                        "age": [14], "grade": [8], "risk": [0.5]})
    >>> resources = pd.DataFrame({"resource_id": ["m1"], "kind": ["mentor"],
    ...                           "municipality_id": ["M1"], "capacity": [1]})
    >>> plan = _greedy_allocate(pupils, resources)
    >>> plan.method, plan.assignments["resource_id"].tolist()
    ('greedy', ['m1'])
    """
    from ._result import Allocation

    problem = build_problem(pupils, resources, rules, objective)
    return Allocation(problem, greedy_edges(problem), "greedy")


def greedy_edges(problem: Problem) -> Edges:
    """Greedy plan: best pair first, skip it when any rule would break.

    This is what a hand-made list does ("serve the highest value first with the
    best free resource"). It respects every rule but is not optimal; it exists
    only as the baseline that benchmarks compare the exact solver against.
    """
    pr = problem
    parts, kinds = [], []
    for j in range(len(KINDS)):
        res = np.flatnonzero(pr.r_kind == j)
        if len(res) == 0:
            continue
        e = KindIndex(pr, j).edges(pr.r_muni[res], pr.r_school[res], pr.r_cap[res],
                                   pr.r_spec[res], pr.r_cost[res], prune=False)
        e.r = res[e.r]
        parts.append(e)
        kinds.append(np.full(len(e.p), j))
    e = Edges.concat(parts)
    if len(e.p) == 0:
        return e
    return e.take(greedy_pick(pr, e, np.concatenate(kinds)))


def greedy_pick(pr: Problem, e: Edges, kind: np.ndarray, start: np.ndarray | None = None,
                order: np.ndarray | None = None, r_cap: np.ndarray | None = None) -> np.ndarray:
    """Add pairs of ``e`` in ``order`` (default: decreasing value) while every rule holds.

    ``start`` (boolean mask) are pairs already taken; the result includes them.
    """
    if order is None:
        order = np.lexsort((e.r, e.p, e.cost, -e.v))
    nk = len(KINDS)
    take = np.zeros(len(e.p), dtype=bool) if start is None else start.copy()
    served = np.zeros(len(pr.risk) * nk, dtype=bool)
    served[e.p[take] * nk + kind[take]] = True
    r_cap = pr.r_cap if r_cap is None else np.asarray(r_cap)
    left = r_cap - np.bincount(e.r[take], minlength=len(r_cap))
    caps = pr.rules.max_pupils_per_school or {}
    cap_k = [caps.get(k) for k in KINDS]
    school_used = (np.zeros((len(pr.schools), nk), dtype=np.int64) if pr.school_used is None
                   else pr.school_used.copy())
    np.add.at(school_used, (pr.p_school[e.p[take]], kind[take]), 1)
    budget = pr.rules.budget_eur
    spent = float(e.cost[take].sum())
    ep, er, ec, school = e.p.tolist(), e.r.tolist(), e.cost.tolist(), pr.p_school
    kl = kind.tolist()
    for i in order.tolist():
        p, r, k = ep[i], er[i], kl[i]
        if served[p * nk + k] or left[r] <= 0:
            continue
        if cap_k[k] is not None and school_used[school[p], k] >= cap_k[k]:
            continue
        if budget is not None and spent + ec[i] > budget + 1e-9:
            continue
        served[p * nk + k] = True
        left[r] -= 1
        school_used[school[p], k] += 1
        spent += ec[i]
        take[i] = True
    return take

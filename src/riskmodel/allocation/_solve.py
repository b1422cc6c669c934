"""Exact solution of the allocation problem: min-cost flow, HiGHS (scipy) where needed.

The problem is ``max sum v[p, r] x[p, r]`` over the *admissible* pairs (pupil
eligible for the resource's kind, same municipality, same school when the
resource names one) subject to: each pupil gets at most one resource of each
kind, each resource serves at most its capacity, optionally each school gets at
most ``cap[kind]`` pupils of a kind, and optionally ``sum cost[r] x[p, r] <=
budget``.

Without a budget the problem splits into independent blocks, one per
(kind, municipality). Interchangeable resources (same reach and specialty, and
same cost when a budget counts) are merged into classes first, an exact
reduction. Each block is a bipartite transportation problem, solved exactly by
min-cost flow (successive shortest paths, :mod:`._flow`, compiled with numba).
With school caps the block is still a network (one more layer) whose constraint
matrix is totally unimodular; it is solved as an LP by HiGHS and the 0/1 vertex
solution is verified (re-solved as a MILP should it ever be fractional).
A budget couples the blocks (one knapsack row on top of the network), so then the
whole problem is solved together: its LP relaxation (HiGHS) gives an upper bound;
an integral LP solution is optimal; otherwise the fractional pairs are dropped,
the plan is completed greedily, and on problems of moderate size HiGHS branch and
bound (``milp``) is run too. The certified gap (bound - value) is reported as
``Allocation.optimality_gap``.

Exact pruning: in a block whose resources have total capacity ``C``, a resource
never needs more than its ``C`` best pupils (by value for that resource). If an
optimal plan gives ``r`` a pupil ``p`` outside its top ``C``, fewer than ``C`` of
the top ``C`` are served at all, so one of them, ``q``, is unserved and
``v[q, r] >= v[p, r]``: moving ``r`` from ``p`` to ``q`` keeps every constraint
(same resource, same cost) and does not lower the value. With school caps the same
argument runs per (resource, school) with ``min(C, cap)``. Only the pruned pairs
enter the solver.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from ._data import Problem
from ._rules import KINDS

logger = logging.getLogger(__name__)

INTEGRALITY_TOL = 1e-6
#: relative MIP gap of HiGHS branch and bound (budget case)
MIP_REL_GAP = 1e-9
#: a plan whose value is within this relative distance of the LP bound is optimal
GAP_TOL = 1e-9
#: branch and bound is tried only up to this many (pruned) pairs, for this long (s)
MILP_MAX_PAIRS = 20_000
MILP_TIME_LIMIT = 20.0
#: solve each (kind, municipality) block separately (else one LP per kind)
SOLVE_PER_MUNICIPALITY = True
#: plain transportation blocks by min-cost flow (else by HiGHS LP; same optimum)
USE_FLOW = True
#: how a budget is solved: "milp" (the joint LP/MILP below), "lagrange" (a price on
#: the budget over the per-block flows, :mod:`._lagrange`; certified gap, for large
#: problems) or "auto": "lagrange" above LAGRANGE_MIN_PAIRS pruned pairs
BUDGET_SOLVER = "auto"
LAGRANGE_MIN_PAIRS = MILP_MAX_PAIRS


@dataclass
class Edges:
    """Admissible (pupil, resource) pairs; ``r`` indexes the resource arrays given."""

    p: np.ndarray
    r: np.ndarray
    v: np.ndarray
    cost: np.ndarray

    @classmethod
    def empty(cls) -> Edges:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z.copy(), np.zeros(0), np.zeros(0))

    def take(self, mask) -> Edges:
        return Edges(self.p[mask], self.r[mask], self.v[mask], self.cost[mask])

    @classmethod
    def concat(cls, parts) -> Edges:
        parts = list(parts)
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(e, f) for e in parts])
                     for f in ("p", "r", "v", "cost")))


class KindIndex:
    """Eligible pupils of one kind, sorted by (municipality, school) for range lookups."""

    def __init__(self, problem: Problem, kind: int):
        self.problem = problem
        self.kind = kind
        self.n_schools = max(len(problem.schools), 1)
        elig = np.flatnonzero(problem.eligible[:, kind])
        key = problem.p_muni[elig] * self.n_schools + problem.p_school[elig]
        order = np.argsort(key, kind="stable")
        self.pupils = elig[order]
        self.key = key[order]

    def edges(self, r_muni, r_school, r_cap, r_spec, r_cost, prune=True) -> Edges:
        """All admissible pairs for the given resources (of this kind)."""
        pr = self.problem
        s = self.n_schools
        r_muni = np.asarray(r_muni, dtype=np.int64)
        r_school = np.asarray(r_school, dtype=np.int64)
        r_cap = np.asarray(r_cap, dtype=np.int64)
        tied = r_school >= 0
        lo = np.where(tied, r_muni * s + r_school, r_muni * s)
        hi = np.where(tied, r_muni * s + r_school + 1, (r_muni + 1) * s)
        a = np.searchsorted(self.key, lo, side="left")
        b = np.searchsorted(self.key, hi, side="left")
        length = np.where(r_cap > 0, b - a, 0)
        total = int(length.sum())
        if total == 0:
            return Edges.empty()
        er = np.repeat(np.arange(len(r_muni), dtype=np.int64), length)
        offsets = np.cumsum(length) - length
        pos = a[er] + np.arange(total, dtype=np.int64) - offsets[er]
        ep = self.pupils[pos]
        v = pr.values(ep, np.asarray(r_spec, dtype=np.int64)[er], self.kind)
        edges = Edges(ep, er, v, np.asarray(r_cost, dtype=np.float64)[er])
        if prune:
            edges = self._prune(edges, r_muni, r_cap)
        return edges

    def _prune(self, edges: Edges, r_muni, r_cap) -> Edges:
        pr = self.problem
        n_m = len(pr.munis)
        block_cap = np.bincount(r_muni, weights=r_cap, minlength=n_m).astype(np.int64)
        k_edge = block_cap[r_muni[edges.r]]
        caps = pr.rules.max_pupils_per_school
        if caps is not None and KINDS[self.kind] in caps:
            k_edge = np.minimum(k_edge, int(caps[KINDS[self.kind]]))
            group = edges.r * self.n_schools + pr.p_school[edges.p]
        else:
            group = edges.r
        sizes = np.bincount(np.unique(group, return_inverse=True)[1])
        if sizes.max(initial=0) <= k_edge.min(initial=0):
            return edges
        # rank of each pair within its group by decreasing value (ties: pupil index)
        order = np.lexsort((edges.p, -edges.v, group))
        g_sorted = group[order]
        starts = np.flatnonzero(np.r_[True, g_sorted[1:] != g_sorted[:-1]])
        first = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order)) - first
        return edges.take(rank < k_edge)


def _rows(edges: Edges, problem: Problem, kinds: np.ndarray, r_cap: np.ndarray):
    """Constraint matrix rows (pupil-kind, resource, school-kind) for ``edges``."""
    n = len(edges.p)
    cols = np.arange(n)
    blocks, rhs = [], []
    # one resource per kind per pupil
    pk = edges.p * len(KINDS) + kinds
    _, inv = np.unique(pk, return_inverse=True)
    blocks.append((inv, cols))
    rhs.append(np.ones(inv.max(initial=-1) + 1))
    # resource capacity
    ur, inv = np.unique(edges.r, return_inverse=True)
    blocks.append((inv, cols))
    rhs.append(np.asarray(r_cap)[ur].astype(np.float64))
    school_caps = problem.rules.max_pupils_per_school
    if school_caps:
        cap_k = np.array([school_caps.get(k, -1) for k in KINDS])
        has = cap_k[kinds] >= 0
        if has.any():
            sk = problem.p_school[edges.p[has]] * len(KINDS) + kinds[has]
            usk, inv = np.unique(sk, return_inverse=True)
            blocks.append((inv, cols[has]))
            left = cap_k[usk % len(KINDS)].astype(np.float64)
            if problem.school_used is not None:
                left = left - problem.school_used.ravel()[usk]
            rhs.append(left)
    rows, cs, off = [], [], 0
    for (r, c), b in zip(blocks, rhs):
        rows.append(r + off)
        cs.append(c)
        off += len(b)
    rows = np.concatenate(rows)
    cs = np.concatenate(cs)
    a = sparse.csr_matrix((np.ones(len(rows)), (rows, cs)), shape=(off, n))
    return a, np.concatenate(rhs)


def _is_integral(x: np.ndarray) -> bool:
    return bool(np.abs(x - np.round(x)).max(initial=0.0) <= INTEGRALITY_TOL)


def solve_edges(edges: Edges, problem: Problem, kinds: np.ndarray, r_cap: np.ndarray,
                budget: float | None) -> tuple[np.ndarray, float]:
    """Best 0/1 choice over ``edges``: (boolean mask, upper bound on the optimum).

    A block of one kind without budget or school cap is a plain transportation
    problem, solved exactly by min-cost flow (:mod:`._flow`). Otherwise HiGHS:
    Without a budget the LP is totally unimodular: its vertex optimum is 0/1 and
    the bound equals the value (proven optimal). With a budget the LP relaxation
    gives the bound; when its solution is fractional, the fractional pairs are
    dropped and the plan is completed greedily within all rules, and when that
    does not close the gap and the problem has at most ``MILP_MAX_PAIRS`` pairs,
    HiGHS branch and bound (``milp``) is run with a time limit and the better plan
    kept. ``bound - value`` is the certified optimality gap.
    """
    from ._greedy import greedy_pick

    n = len(edges.p)
    if n == 0:
        return np.zeros(0, dtype=bool), 0.0
    caps = problem.rules.max_pupils_per_school or {}
    if (budget is None and USE_FLOW and len(np.unique(kinds)) == 1
            and KINDS[int(kinds[0])] not in caps):
        from ._flow import ssp_solve

        x = ssp_solve(edges, r_cap)
        return x, float(edges.v[x].sum())
    a, b = _rows(edges, problem, kinds, r_cap)
    if budget is not None:
        a = sparse.vstack([a, sparse.csr_matrix(edges.cost[None, :])], format="csr")
        b = np.r_[b, budget]
    res = linprog(-edges.v, A_ub=a, b_ub=b, bounds=(0, 1), method="highs")
    if res.status != 0:
        raise RuntimeError(f"HiGHS failed on an allocation block: {res.message}")
    x, bound = res.x, -float(res.fun)
    if _is_integral(x):
        return x > 0.5, bound
    if budget is None:  # cannot happen for a TU matrix; be safe anyway
        logger.warning("LP solution of a block is fractional; re-solving it as a MILP")
        return _milp(edges, a, b, None), bound
    take = greedy_pick(problem, edges, kinds, start=x > 1 - INTEGRALITY_TOL, r_cap=r_cap)
    value = float(edges.v[take].sum())
    if bound - value > GAP_TOL * max(1.0, abs(bound)) and n <= MILP_MAX_PAIRS:
        x_mip = _milp(edges, a, b, MILP_TIME_LIMIT)
        if x_mip is not None and edges.v[x_mip].sum() > value:
            take, value = x_mip, float(edges.v[x_mip].sum())
    return take, bound


def _milp(edges: Edges, a, b, time_limit) -> np.ndarray | None:
    options = {"mip_rel_gap": MIP_REL_GAP}
    if time_limit is not None:
        options["time_limit"] = time_limit
    res = milp(-edges.v, constraints=[LinearConstraint(a, -np.inf, b)],
               integrality=np.ones(len(edges.v)), bounds=Bounds(0, 1), options=options)
    if res.x is None:
        logger.warning("HiGHS MILP found no plan: %s", res.message)
        return None
    if res.status != 0:
        logger.info("HiGHS MILP stopped early (%s); keeping its best plan", res.message)
    return res.x > 0.5


def aggregate(r_muni, r_school, r_spec, r_cost, r_cap, use_cost: bool):
    """Merge interchangeable resources (same reach and specialty; same cost when a
    budget counts) into classes whose capacity is the sum: an exact reduction,
    since any plan for a class splits over its members by capacity.

    Returns (class id of each resource, class arrays: muni, school, spec, cost, cap).
    """
    import pandas as pd

    cols = {"m": r_muni, "s": r_school, "d": r_spec}
    if use_cost:
        cols["c"] = r_cost
    df = pd.DataFrame(cols)
    inv = df.groupby(list(cols), sort=True).ngroup().to_numpy()
    n = int(inv.max()) + 1 if len(inv) else 0
    first = np.full(n, -1, dtype=np.int64)
    first[inv[::-1]] = np.arange(len(inv))[::-1]
    cap = np.bincount(inv, weights=r_cap, minlength=n).astype(np.int64)
    return inv, (np.asarray(r_muni)[first], np.asarray(r_school)[first],
                 np.asarray(r_spec)[first], np.asarray(r_cost)[first], cap)


def split_classes(chosen: Edges, inv: np.ndarray, r_cap: np.ndarray, res: np.ndarray) -> Edges:
    """Give each chosen (pupil, class) pair a member resource of the class, by capacity."""
    if len(chosen.p) == 0:
        return chosen
    members = np.argsort(inv, kind="stable")  # resources grouped by class
    cum = np.cumsum(r_cap[members])  # running capacity over the grouped resources
    start = np.searchsorted(inv[members], np.arange(inv.max() + 1))  # first member of class
    base = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0)
    order = np.argsort(chosen.r, kind="stable")
    chosen = chosen.take(order)
    first_pos = np.searchsorted(chosen.r, chosen.r)  # first chosen pair of the same class
    rank = np.arange(len(chosen.r)) - first_pos
    slot = base[chosen.r] + rank  # global slot index in the running capacity
    member = np.searchsorted(cum, slot, side="right")
    chosen.r = res[members[member]]
    return chosen


def _kind_edges(pr: Problem, j: int, idx: KindIndex, res: np.ndarray, use_cost: bool):
    inv, (c_muni, c_school, c_spec, c_cost, c_cap) = aggregate(
        pr.r_muni[res], pr.r_school[res], pr.r_spec[res], pr.r_cost[res], pr.r_cap[res],
        use_cost)
    e = idx.edges(c_muni, c_school, c_cap, c_spec, c_cost)
    return e, inv, c_muni, c_cap


def solve(problem: Problem) -> tuple[Edges, float, dict]:
    """Solve the whole problem: chosen edges (``r`` = global resource index), upper bound."""
    pr = problem
    budget = pr.rules.budget_eur
    parts = []
    indexes = {}
    for j in range(len(KINDS)):
        idx = KindIndex(pr, j)
        indexes[j] = idx
        res = np.flatnonzero(pr.r_kind == j)
        if len(res) == 0 or len(idx.pupils) == 0:
            continue
        e, inv, c_muni, c_cap = _kind_edges(pr, j, idx, res, budget is not None)
        parts.append((j, res, e, inv, c_muni, c_cap))
    chosen, bound = [], 0.0
    if budget is None:
        for j, res, e, inv, c_muni, c_cap in parts:
            picked = []
            if SOLVE_PER_MUNICIPALITY:
                muni = c_muni[e.r]
                order = np.argsort(muni, kind="stable")
                e = e.take(order)
                muni = muni[order]
                cut = np.flatnonzero(np.r_[True, muni[1:] != muni[:-1], True])
                for a, b in zip(cut[:-1], cut[1:]):
                    blk = e.take(slice(a, b))
                    x, ub = solve_edges(blk, pr, np.full(b - a, j), c_cap, None)
                    picked.append(blk.take(x))
                    bound += ub
            else:
                x, ub = solve_edges(e, pr, np.full(len(e.p), j), c_cap, None)
                picked.append(e.take(x))
                bound += ub
            chosen.append(split_classes(Edges.concat(picked), inv, pr.r_cap[res], res))
    elif parts:
        offsets = np.cumsum([0] + [len(pt[5]) for pt in parts])
        e = Edges.concat(Edges(pt[2].p, pt[2].r + off, pt[2].v, pt[2].cost)
                         for pt, off in zip(parts, offsets))
        kinds = np.concatenate([np.full(len(pt[2].p), pt[0]) for pt in parts])
        caps = np.concatenate([pt[5] for pt in parts])
        if BUDGET_SOLVER == "lagrange" or (BUDGET_SOLVER == "auto"
                                           and len(e.p) > LAGRANGE_MIN_PAIRS):
            from ._lagrange import lagrange_solve

            block = kinds * len(pr.munis) + np.concatenate([pt[4][pt[2].r] for pt in parts])
            x, bound = lagrange_solve(e, pr, kinds, caps, budget, block)
        else:
            x, bound = solve_edges(e, pr, kinds, caps, budget)
        sel = e.take(x)
        for (j, res, _, inv, _, c_cap), lo, hi in zip(parts, offsets[:-1], offsets[1:]):
            mine = (sel.r >= lo) & (sel.r < hi)
            part = sel.take(mine)
            part.r = part.r - lo
            chosen.append(split_classes(part, inv, pr.r_cap[res], res))
    return Edges.concat(chosen), bound, indexes

"""A budget shared across kinds, by a Lagrangian price: large problems (issue 21).

A budget ``sum cost x <= B`` is the only constraint that couples the
(kind, municipality) blocks of the allocation problem. Pricing it at ``lam >= 0``
gives the Lagrangian

    L(lam) = lam * B + sum_blocks max_x sum (v - lam * cost) x,

whose inner maxima are independent blocks solved exactly by the same min-cost
flow as without a budget (:mod:`._flow`; HiGHS LP for blocks with school caps).
Pairs with ``v - lam * cost <= 0`` never help and are dropped. By weak duality
``L(lam) >= optimum`` for every ``lam >= 0``, so the smallest ``L`` seen is a
certified upper bound (the dual bound; it equals the LP relaxation bound since
every block is totally unimodular).

``L`` is convex and piecewise linear with slope ``B - cost(x(lam))``. The price is
found by bisection on a bracket ``[lo, hi]`` with ``cost(lo) > B >= cost(hi)``,
split where the tangents at the two ends meet (a plain midpoint whenever that does
not halve the bracket). A block whose plan is the same at ``lo`` and ``hi`` keeps
that plan optimal for every price in between (its value is linear in ``lam`` and
the block maximum is convex), so only the blocks that still differ are solved
again: after a few steps that is a handful of blocks.

Repair: the plan at ``hi`` is feasible. Blocks that differ are switched to their
plan at ``lo`` in order of value gained per euro while the budget allows, and the
plan is completed greedily with the money left (every rule kept). The reported
bound minus the plan's value is the certified optimality gap.
"""

from __future__ import annotations

import logging

import numpy as np

from ._data import Problem
from ._rules import KINDS

logger = logging.getLogger(__name__)

#: stop once (dual bound - plan value) <= REL_GAP * plan value
REL_GAP = 1e-4
MAX_STEPS = 60


class _Blocks:
    """Edges grouped by block; solves each block at a price."""

    def __init__(self, edges, problem: Problem, kinds, r_cap, block):
        from ._solve import Edges

        self.edges, self.problem, self.kinds, self.r_cap = edges, problem, kinds, r_cap
        order = np.argsort(block, kind="stable")
        self.order = order
        b = block[order]
        cut = np.flatnonzero(np.r_[True, b[1:] != b[:-1], True])
        self.slices = [slice(a, z) for a, z in zip(cut[:-1], cut[1:])]
        self.sub = [Edges(*(getattr(edges, f)[order[s]] for f in ("p", "r", "v", "cost")))
                    for s in self.slices]
        self.sub_kind = [int(kinds[order[s.start]]) for s in self.slices]
        caps = problem.rules.max_pupils_per_school or {}
        self.flow = [KINDS[k] not in caps for k in self.sub_kind]
        self.priced = np.array([bool((e.cost > 0).any()) for e in self.sub])

    def solve(self, i: int, lam: float) -> np.ndarray:
        """Best plan of block ``i`` at price ``lam`` (mask over its edges)."""
        from ._solve import solve_edges

        e = self.sub[i]
        w = e.v - lam * e.cost
        keep = np.flatnonzero(w > 0)
        x = np.zeros(len(e.p), dtype=bool)
        if len(keep) == 0:
            return x
        from ._solve import Edges

        sub = Edges(e.p[keep], e.r[keep], w[keep], e.cost[keep])
        if self.flow[i]:
            from ._flow import ssp_solve

            got = ssp_solve(sub, self.r_cap)
        else:
            got, _ = solve_edges(sub, self.problem, np.full(len(keep), self.sub_kind[i]),
                                 self.r_cap, None)
        x[keep[got]] = True
        return x


class _Point:
    """Block plans at one price and the Lagrangian there."""

    def __init__(self, lam, plans, blocks: _Blocks, budget):
        self.lam = lam
        self.plans = plans
        self.val = np.array([float(e.v[x].sum()) for e, x in zip(blocks.sub, plans)])
        self.cost = np.array([float(e.cost[x].sum()) for e, x in zip(blocks.sub, plans)])
        self.value = float(self.val.sum())
        self.spent = float(self.cost.sum())
        self.slope = budget - self.spent
        self.dual = lam * budget + self.value - lam * self.spent


def _evaluate(blocks: _Blocks, lam, budget, lo=None, hi=None) -> _Point:
    plans = []
    for i in range(len(blocks.sub)):
        if lo is not None and np.array_equal(lo.plans[i], hi.plans[i]):
            plans.append(lo.plans[i])  # optimal all over [lo, hi]
        elif lo is not None and not blocks.priced[i]:
            plans.append(lo.plans[i])
        else:
            plans.append(blocks.solve(i, lam))
    return _Point(lam, plans, blocks, budget)


def lagrange_solve(edges, problem: Problem, kinds: np.ndarray, r_cap: np.ndarray,
                   budget: float, block: np.ndarray, rel_gap: float = REL_GAP,
                   max_steps: int = MAX_STEPS) -> tuple[np.ndarray, float]:
    """Best 0/1 choice over ``edges`` within ``budget``: (mask, certified upper bound).

    ``block`` labels each edge with its (kind, municipality) block; the other
    arguments are those of :func:`._solve.solve_edges`.
    """
    n = len(edges.p)
    if n == 0:
        return np.zeros(0, dtype=bool), 0.0
    blocks = _Blocks(edges, problem, kinds, np.asarray(r_cap), block)
    lo = _evaluate(blocks, 0.0, budget)
    if lo.slope >= 0:  # the budget does not bind: the unpriced plan is optimal
        return _unsort(blocks, lo.plans), lo.value
    pos = edges.cost > 0
    lam_max = float((edges.v[pos] / edges.cost[pos]).max()) * (1 + 1e-9) + 1e-12
    hi = _evaluate(blocks, lam_max, budget)  # every priced pair dropped: spends nothing
    best_dual = min(lo.dual, hi.dual)
    guess = _first_price(blocks, lo, budget)
    if lo.lam < guess < hi.lam:
        # one evaluation near the price narrows the bracket at once: from [0, lam_max]
        # the tangent steps would solve every block several times first
        mid = _evaluate(blocks, guess, budget, lo, hi)
        best_dual = min(best_dual, mid.dual)
        if mid.slope < 0:
            lo = mid
        else:
            hi = mid
    best_x, best_value = _repair(blocks, lo, hi, budget)
    steps, last_width = 0, hi.lam - lo.lam
    while steps < max_steps and best_dual - best_value > rel_gap * max(abs(best_value), 1e-12):
        steps += 1
        width = hi.lam - lo.lam
        lam = (hi.dual - lo.dual + lo.slope * lo.lam - hi.slope * hi.lam) / (lo.slope - hi.slope)
        if not (lo.lam < lam < hi.lam) or width > 0.5 * last_width:
            lam = 0.5 * (lo.lam + hi.lam)  # safeguard: a plain bisection step
        last_width = width
        if not (lo.lam < lam < hi.lam):
            break  # bracket exhausted (floating point)
        mid = _evaluate(blocks, lam, budget, lo, hi)
        best_dual = min(best_dual, mid.dual)
        if mid.slope < 0:
            lo = mid
        else:
            hi = mid
        x, value = _repair(blocks, lo, hi, budget)
        if value > best_value:
            best_x, best_value = x, value
    logger.info("lagrange: %d steps, price %.6g, value %.6f, dual bound %.6f", steps + 2,
                hi.lam, best_value, best_dual)
    return _unsort(blocks, best_x), max(best_dual, best_value)


def _first_price(blocks: _Blocks, lo: _Point, budget: float) -> float:
    """A first guess of the price: the value per euro at which the unpriced plan's
    assignments, taken best ratio first, use up the budget."""
    x = np.concatenate(lo.plans)
    e = blocks.edges
    v, c = e.v[blocks.order][x], e.cost[blocks.order][x]
    paid = c > 0
    room = budget - float(c[~paid].sum())
    ratio = v[paid] / c[paid]
    order = np.argsort(-ratio, kind="stable")
    cum = np.cumsum(c[paid][order])
    at = int(np.searchsorted(cum, room, side="right"))
    return float(ratio[order][min(at, len(order) - 1)]) if len(order) else 0.0


def _repair(blocks: _Blocks, lo: _Point, hi: _Point, budget: float):
    """A feasible plan from the two ends of the bracket (sorted-edge mask, value)."""
    from ._greedy import greedy_pick
    from ._solve import Edges

    plans = list(hi.plans)
    spent = hi.spent
    d_val = lo.val - hi.val
    d_cost = lo.cost - hi.cost
    diff = np.flatnonzero([not np.array_equal(a, b) for a, b in zip(lo.plans, hi.plans)])
    ratio = np.where(d_cost[diff] > 0, d_val[diff] / np.maximum(d_cost[diff], 1e-300), np.inf)
    for i in diff[np.argsort(-ratio, kind="stable")]:
        if d_val[i] > 0 and spent + d_cost[i] <= budget + 1e-9:
            plans[i] = lo.plans[i]
            spent += d_cost[i]
    x = np.concatenate(plans)
    # complete greedily with the money left: only pairs that could still fit
    e = blocks.edges
    o = blocks.order
    ep, er, ev, ec, ek = e.p[o], e.r[o], e.v[o], e.cost[o], blocks.kinds[o]
    nk = len(KINDS)
    served = np.zeros(len(blocks.problem.risk) * nk, dtype=bool)
    served[ep[x] * nk + ek[x]] = True
    left = blocks.r_cap - np.bincount(er[x], minlength=len(blocks.r_cap))
    cand = (~x & ~served[ep * nk + ek] & (left[er] > 0) & (ec <= budget - spent + 1e-9)
            & (ev > 0))
    if cand.any():
        idx = np.flatnonzero(x | cand)
        sub = Edges(ep[idx], er[idx], ev[idx], ec[idx])
        take = greedy_pick(blocks.problem, sub, ek[idx], start=x[idx], r_cap=blocks.r_cap)
        x = x.copy()
        x[idx[take]] = True
    return x, float(ev[x].sum())


def _unsort(blocks: _Blocks, x) -> np.ndarray:
    x = np.concatenate(x) if isinstance(x, list) else x
    out = np.zeros(len(x), dtype=bool)
    out[blocks.order] = x
    return out

"""Min-cost flow (successive shortest paths) for one transportation block.

A block is the network ``source -> pupil (capacity 1) -> resource class (profit
v[p, r]) -> sink (capacity cap[r])``. Successive shortest paths add one unit of
flow at a time along the most profitable augmenting path of the residual graph
and stop when no path has positive profit; each intermediate flow is optimal for
its size and the profit of successive paths never increases, so the final plan
is a maximum-value assignment (Ahuja, Magnanti & Orlin, *Network Flows*, ch. 9).

Paths are searched on the graph compressed to resource classes: entering class
``r`` from the source costs ``-v[p, r]`` for the best unserved pupil ``p``, and the
arc ``a -> b`` costs ``min_q v[q, a] - v[q, b]`` over the pupils ``q`` served by
``a`` who can reach ``b`` (moving ``q`` from ``a`` to ``b``). The residual graph
of an optimal flow has no negative cycles, so Bellman-Ford finds the shortest
path. Work per block is O(served x (pairs + classes^2 x rounds)), which for the
programme's blocks (a few classes per municipality) is a few milliseconds.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._solve import Edges

_INF = 1e300
_EPS = 1e-12


@njit(cache=True)
def _ssp(ptr, cls, val, cap, n_cls):  # pragma: no cover - compiled
    n = len(ptr) - 1
    assign = np.full(n, -1, dtype=np.int64)
    aval = np.zeros(n)
    load = np.zeros(n_cls, dtype=np.int64)
    dist = np.empty(n_cls)
    pred_p = np.empty(n_cls, dtype=np.int64)
    pred_c = np.empty(n_cls, dtype=np.int64)
    arc = np.empty((n_cls, n_cls))
    arc_q = np.empty((n_cls, n_cls), dtype=np.int64)
    while True:
        dist[:] = _INF
        pred_p[:] = -1
        pred_c[:] = -1
        arc[:, :] = _INF
        for p in range(n):
            a = assign[p]
            if a < 0:
                for k in range(ptr[p], ptr[p + 1]):
                    r = cls[k]
                    d = -val[k]
                    if d < dist[r]:
                        dist[r] = d
                        pred_p[r] = p
            else:
                for k in range(ptr[p], ptr[p + 1]):
                    r = cls[k]
                    if r != a:
                        d = aval[p] - val[k]
                        if d < arc[a, r]:
                            arc[a, r] = d
                            arc_q[a, r] = p
        for _ in range(n_cls):
            changed = False
            for a in range(n_cls):
                da = dist[a]
                if da < _INF:
                    for r in range(n_cls):
                        c = arc[a, r]
                        if c < _INF and da + c < dist[r] - _EPS:
                            dist[r] = da + c
                            pred_c[r] = a
                            pred_p[r] = arc_q[a, r]
                            changed = True
            if not changed:
                break
        best = -_EPS
        t = -1
        for r in range(n_cls):
            if load[r] < cap[r] and dist[r] < best:
                best = dist[r]
                t = r
        if t < 0:
            break
        load[t] += 1
        r = t
        for _ in range(n_cls + 1):
            p = pred_p[r]
            a = pred_c[r]
            assign[p] = r
            for k in range(ptr[p], ptr[p + 1]):
                if cls[k] == r:
                    aval[p] = val[k]
                    break
            if a < 0:
                break
            r = a
    return assign


def ssp_solve(edges: Edges, r_cap: np.ndarray) -> np.ndarray:
    """Maximum-value assignment over ``edges`` (boolean mask of chosen pairs).

    ``r_cap[edges.r]`` are the class capacities; each pupil gets at most one pair.
    """
    n = len(edges.p)
    if n == 0:
        return np.zeros(0, dtype=bool)
    up, lp = np.unique(edges.p, return_inverse=True)
    ur, lr = np.unique(edges.r, return_inverse=True)
    order = np.argsort(lp, kind="stable")
    ptr = np.zeros(len(up) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(np.bincount(lp, minlength=len(up)))
    cls = lr[order].astype(np.int64)
    val = np.ascontiguousarray(edges.v[order], dtype=np.float64)
    cap = np.asarray(r_cap)[ur].astype(np.int64)
    assign = _ssp(ptr, cls, val, cap, len(ur))
    chosen = np.zeros(n, dtype=bool)
    chosen[order] = assign[lp[order]] == cls
    return chosen

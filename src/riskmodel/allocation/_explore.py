"""Exploration: randomised assignment among near-equal candidates at the capacity margin.

A deterministic plan gives the pupils just above a resource's margin support
with probability 1 and those just below with probability 0, so next year's
records lose the overlap that any estimate of who benefits needs. With
``exploration=eps`` (in ``[0, 1)``), for each resource ``r`` with new
assignments, let ``m_r`` be the lowest value among its new pupils. The *band*
of ``r`` is

- its new pupils with value at most ``m_r / (1 - eps)``, and
- the unserved candidates for the kind (eligible, within reach, positive value)
  with value for ``r`` at least ``(1 - eps) * m_r``; each such candidate is
  attached to exactly one resource, the one where its value is highest relative
  to the margin (ties: the first resource).

If the band holds ``s`` served and ``u`` unserved candidates, ``s`` of the ``s +
u`` are drawn uniformly without replacement (``numpy.random.default_rng(
random_state)``, resources in index order) and get the resource. Every pupil in
the band of ``r`` is served with probability exactly ``s / (s + u)``; new
pupils outside any band with probability 1; everyone else 0. The swap keeps the
resource, so capacity, cost (budget) and the churn limit hold. Continuing
support is never drawn. Kinds with a per-school cap
(``ProgrammeRules.max_pupils_per_school``) are not explored (a swap across
schools could break the cap). ``eps = 0`` leaves the optimal plan unchanged.
"""

from __future__ import annotations

import numpy as np

from ._data import Problem
from ._rules import KINDS
from ._solve import Edges, KindIndex


def explore(pr: Problem, chosen: Edges, eps: float, rng) -> tuple[Edges, np.ndarray, dict]:
    """Randomise ``chosen`` (new assignments of the remainder problem ``pr``).

    Returns (edges, assignment probability of each edge, ``{(pupil, kind index):
    probability}`` of the band candidates that were not drawn).
    """
    prob = np.ones(len(chosen.p))
    if eps <= 0 or len(chosen.p) == 0:
        return chosen, prob, {}
    caps = pr.rules.max_pupils_per_school or {}
    keep = np.ones(len(chosen.p), dtype=bool)
    waiting: dict = {}
    added, added_prob = [], []
    kind_of = pr.r_kind[chosen.r]
    for j in range(len(KINDS)):
        sel = np.flatnonzero(kind_of == j)
        if len(sel) == 0 or KINDS[j] in caps:
            continue
        res = np.unique(chosen.r[sel])
        pos = np.searchsorted(res, chosen.r[sel])
        marg = np.full(len(res), np.inf)
        np.minimum.at(marg, pos, chosen.v[sel])
        e = KindIndex(pr, j).edges(pr.r_muni[res], pr.r_school[res], pr.r_cap[res],
                                   pr.r_spec[res], pr.r_cost[res], prune=False)
        m_e = marg[e.r]
        served = np.zeros(len(pr.risk), dtype=bool)
        served[chosen.p[sel]] = True
        cand = (~served[e.p]) & (m_e > 0) & (e.v > 0) & (e.v >= (1 - eps) * m_e)
        c = e.take(cand)
        ratio = c.v / marg[c.r]
        order = np.lexsort((c.r, -ratio, c.p))
        c = c.take(order)
        first = np.r_[True, c.p[1:] != c.p[:-1]] if len(c.p) else np.zeros(0, dtype=bool)
        c = c.take(first)  # one resource per unserved candidate
        for i, r in enumerate(res):
            if not (c.r == i).any():
                continue
            mine = sel[pos == i]
            band_s = mine[chosen.v[mine] <= marg[i] / (1 - eps)]
            band_u = np.flatnonzero(c.r == i)
            s, m = len(band_s), len(band_s) + len(band_u)
            q = s / m
            win = np.zeros(m, dtype=bool)
            win[rng.choice(m, size=s, replace=False)] = True
            prob[band_s] = q
            keep[band_s[~win[:s]]] = False
            for idx in band_s[~win[:s]]:
                waiting[(int(chosen.p[idx]), j)] = q
            for w, u in zip(win[s:], band_u):
                if w:
                    added.append((int(c.p[u]), int(r), float(c.v[u]), float(c.cost[u])))
                    added_prob.append(q)
                else:
                    waiting[(int(c.p[u]), j)] = q
    if not added and keep.all():
        return chosen, prob, waiting
    extra = Edges(np.array([a[0] for a in added], dtype=np.int64),
                  np.array([a[1] for a in added], dtype=np.int64),
                  np.array([a[2] for a in added], dtype=np.float64),
                  np.array([a[3] for a in added], dtype=np.float64))
    return (Edges.concat([chosen.take(keep), extra]),
            np.r_[prob[keep], np.asarray(added_prob, dtype=np.float64)], waiting)

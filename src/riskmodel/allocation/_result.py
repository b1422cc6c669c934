"""The :class:`Allocation` result: assignments, waitlist, shortfall, value curve."""

from __future__ import annotations

import heapq
import logging

import numpy as np
import pandas as pd

from .._checks import check_int, check_option, check_real
from ._data import NEUTRAL, Problem
from ._rules import KINDS
from ._solve import Edges, KindIndex, solve_edges

logger = logging.getLogger(__name__)

#: waitlist reasons, in the order they are tested
REASONS = ("locality", "below_floor", "no_benefit", "capacity", "churn_limit", "school_cap",
           "budget", "not_selected")


class Allocation:
    """A support plan produced by :func:`allocate` (or the greedy baseline).

    Attributes
    ----------
    assignments : DataFrame
        One row per (pupil, resource): ``pupil_id, resource_id, kind,
        municipality_id, school_id, risk, value, cost_per_pupil``, ``reasons``
        when the pupils table had a ``reasons`` column, and the support plan:
        ``change`` (``"continuing"``: ongoing support that keeps its resource;
        ``"new"``), ``change_reason`` (``"ongoing"``; ``"selected"`` by the
        optimiser; ``"resource_unknown"``: the pupil had ongoing support of the
        kind whose resource was not recorded, and the optimiser placed them
        again), ``start_date`` (the original start of continuing support,
        ``as_of`` for new; NaT without ``as_of``), ``review_date`` (the next
        planned review, see ``ProgrammeRules.review``), ``goal_domain`` (the
        pupil's leading risk-raising domain that the resource serves) and the
        pupil's top reasons ``reason_1_lv .. reason_3_lv, reason_1_en ..
        reason_3_en`` when the pupils table has them; ``objective_basis`` (what
        the kind was allocated by: ``"benefit"``, ``"fit"`` or ``"risk"``),
        ``assignment_probability`` (1 unless ``exploration`` drew it) and, when
        the pupils table has ``benefit_<kind>`` columns, ``benefit`` (the point
        estimate of the leavings the assignment prevents).
    ended : DataFrame
        Ongoing support (``current``) that does not continue: ``pupil_id,
        resource_id, kind, municipality_id, school_id, risk, change="ended",
        change_reason, start_date, end_date`` (``as_of``). Reasons: ``left`` (not
        among the pupils), ``duplicate`` (a second ongoing support of the same
        kind), ``resource_gone`` (not in the roster, or of another kind),
        ``resource_unavailable`` (outside its availability dates),
        ``ineligible`` (age, grade or liecība), ``exit_risk`` (risk below
        ``ProgrammeRules.exit_level``), ``out_of_reach`` (moved to another
        municipality or school), ``capacity``, ``school_cap``, ``budget`` (the
        continuing plan alone would break the rule; the lowest-value ones end)
        and ``resource_unknown`` (no resource recorded and not placed again).
    plan : DataFrame
        ``assignments`` and ``ended`` together.
    waitlist : DataFrame
        One row per (pupil, kind) for every pupil in the risk group who is
        eligible for the kind but got none: ``pupil_id, kind, municipality_id,
        school_id, risk, reason``. The reason is decided in this order:
        ``"locality"`` — no resource of the kind with capacity > 0 can reach the
        pupil (none in the municipality, or only ones tied to other schools);
        ``"capacity"`` — every resource that can reach the pupil is full;
        ``"school_cap"`` — the pupil's school has used its cap for the kind;
        ``"churn_limit"`` — reachable resources have free places but took
        ``max_new_per_resource`` new pupils already;
        ``"budget"`` — a reachable resource has free places but the budget is
        spent. Under ``objective="benefit"``, ``"below_floor"`` (risk below
        ``risk_floor``) and ``"no_benefit"`` (no positive benefit for the kind)
        come right after ``"locality"``. At an optimum nothing else can leave a
        risk-group pupil waiting (every such pupil has a positive value);
        ``"not_selected"`` would flag a solver tolerance artefact and is never
        expected. ``assignment_probability`` is the pupil's probability of the
        kind under ``exploration`` (0 outside the band).
    shortfall : DataFrame
        Per municipality and kind: ``demand`` (eligible risk-group pupils),
        ``capacity`` (places), ``assigned`` (pupils served, any risk), ``unmet``
        (risk-group demand left waiting) and ``idle`` (capacity - assigned).
    objective_value : float
        Total value of the assignments.
    total_cost : float
        Sum of ``cost_per_pupil`` over the assignments.
    upper_bound, optimality_gap : float
        An upper bound on the best possible value (the LP relaxation) and
        ``upper_bound - objective_value``. The gap is 0 (up to rounding) without a
        budget, where every block is solved to proven optimality; with a budget
        it certifies how far from optimal the plan can be at most. With
        continuing support (``current``) both refer to the plan with the
        continuing assignments fixed (their value plus the bound of the rest).
        For the greedy baseline both are NaN (not computed).
    as_of : Timestamp or None
        The planning date given to :func:`riskmodel.allocate`.
    method : str
        ``"optimal"`` (:func:`riskmodel.allocate`) or ``"greedy"`` (the
        private baseline of the benchmark).
    basis : dict kind -> str
        What each kind was allocated by (``"benefit"``, ``"fit"``, ``"risk"``).
    fallback : dict kind -> str
        ``objective="benefit"``: the kinds allocated by ``"fit"`` instead, and why.
    leavings_prevented : float
        Sum of ``benefit_<kind>`` over the assignments (NaN without benefit
        columns): the expected early leavings the plan prevents.
    risk_floor, floor_price, floor_report
        The ``risk_floor`` given, its price (objective without the floor minus
        with it) and the per-kind comparison; None without a floor.
    exploration : float
        The ``exploration`` of :func:`riskmodel.allocate` (0: none).

    Examples
    --------
    >>> import pandas as pd
    >>> import riskmodel as rm
    >>> pupils = pd.DataFrame({"pupil_id": ["a", "b", "c"], "municipality_id": "M1",
    ...                        "school_id": "S1", "age": [14, 15, 16], "grade": [8, 9, 10],
    ...                        "risk": [0.5, 0.3, 0.05]})
    >>> roster = pd.DataFrame({"resource_id": ["m1"], "kind": ["mentor"],
    ...                        "municipality_id": ["M1"], "capacity": [1]})
    >>> plan = rm.allocate(pupils, roster, objective="risk")
    >>> plan
    Allocation(method='optimal', objective='risk', assigned=1, waiting=5, objective_value=0.500, cost=0.00)
    >>> plan.waitlist.query("kind == 'mentor'")[["pupil_id", "reason"]].values.tolist()
    [['b', 'capacity']]
    >>> sorted(set(plan.waitlist.query("kind != 'mentor'")["reason"]))  # no such resources in M1
    ['locality']
    """

    def __init__(self, problem: Problem, chosen: Edges, method: str,
                 indexes: dict | None = None, bound: float | None = None,
                 continuity=None, as_of: pd.Timestamp | None = None, *,
                 probability: np.ndarray | None = None, wait_probability: dict | None = None,
                 risk_floor: float | None = None, exploration: float = 0.0):
        from ._continuity import fix_ongoing

        cont = continuity if continuity is not None else fix_ongoing(problem, None, None)
        self._problem = problem
        self._remainder = cont.remainder
        self._new = chosen
        self._fixed = cont.fixed
        self._chosen = Edges.concat([cont.fixed, chosen])
        self._indexes = indexes if indexes is not None else {}
        self.as_of = as_of
        self.method = method
        self.objective = problem.objective
        self.rules = problem.rules
        self.basis = {k: b for k, b in zip(KINDS, problem.basis)}
        self.fallback = dict(problem.fallback or {})
        self.risk_floor = risk_floor
        self.exploration = float(exploration)
        self.floor_price = None
        self.floor_report = None
        self._wait_prob = dict(wait_probability or {})
        prob_new = np.ones(len(chosen.p)) if probability is None else np.asarray(probability)
        self._prob = np.r_[np.ones(len(cont.fixed.p)), prob_new]
        self.objective_value = float(self._chosen.v.sum())
        from ._benefit import prevented

        self.leavings_prevented = prevented(problem, self._chosen.p, self._chosen.r)
        self.total_cost = float(self._chosen.cost.sum())
        self.upper_bound = np.nan if bound is None else max(
            float(bound) + float(cont.fixed.v.sum()), self.objective_value)
        self.optimality_gap = self.upper_bound - self.objective_value
        n_fixed = len(cont.fixed.p)
        continuing = np.r_[np.ones(n_fixed, dtype=bool), np.zeros(len(chosen.p), dtype=bool)]
        start = np.r_[np.asarray(cont.fixed_start, dtype="datetime64[ns]"),
                      np.full(len(chosen.p), np.datetime64("NaT"), dtype="datetime64[ns]")]
        nk = len(KINDS)
        new_key = chosen.p * nk + problem.r_kind[chosen.r]
        unbound = np.array([(int(p_), int(k_)) in cont.unbound
                            for p_, k_ in zip(chosen.p, problem.r_kind[chosen.r])], dtype=bool)
        reason = np.r_[np.full(n_fixed, "ongoing", dtype=object),
                       np.where(unbound, "resource_unknown", "selected").astype(object)]
        self.assignments = self._assignments(continuing, start, reason)
        self.ended = self._ended(cont, set(new_key.tolist()))
        self.waitlist = self._waitlist()
        self.shortfall = self._shortfall()

    # ------------------------------------------------------------------ tables
    def _ended(self, cont, new_keys: set) -> pd.DataFrame:
        """Ended support, and ongoing support of unknown resource that was not placed."""
        from ._continuity import _ended_frame

        rows = cont.unbound_rows
        if len(rows):
            key = rows["_p"].to_numpy() * len(KINDS) + rows["_j"].to_numpy()
            lost = ~np.isin(key, list(new_keys))
            rows = rows[lost]
            extra = _ended_frame(self._problem, rows, rows["_p"].to_numpy(),
                                 np.full(len(rows), "resource_unknown", dtype=object),
                                 self.as_of)
            frames = [f for f in (cont.ended, extra) if len(f)]
            out = pd.concat(frames, ignore_index=True) if frames else cont.ended
        else:
            out = cont.ended
        order = np.lexsort((out["pupil_id"].to_numpy(dtype=str),
                            pd.Categorical(out["kind"], categories=KINDS).codes))
        return out.iloc[order].reset_index(drop=True)

    @property
    def plan(self) -> pd.DataFrame:
        """Assignments (``continuing`` or ``new``) and ``ended`` support in one table.

        Examples
        --------
        >>> import pandas as pd
        >>> import riskmodel as rm
        >>> pupils = pd.DataFrame({"pupil_id": ["a", "b"], "municipality_id": "M1",
        ...                        "school_id": "S1", "age": [14, 15], "grade": [8, 9],
        ...                        "risk": [0.5, 0.02]})
        >>> roster = pd.DataFrame({"resource_id": ["m1"], "kind": ["mentor"],
        ...                        "municipality_id": ["M1"], "capacity": [2]})
        >>> current = pd.DataFrame({"pupil_id": ["b"], "kind": ["mentor"],
        ...                         "resource_id": ["m1"], "start_date": ["2025-09-01"],
        ...                         "end_date": [None]})
        >>> plan = rm.allocate(pupils, roster, current=current, as_of="2025-10-01")
        >>> plan.plan[["pupil_id", "change", "change_reason"]].values.tolist()
        [['a', 'new', 'selected'], ['b', 'ended', 'exit_risk']]
        """
        return pd.concat([self.assignments, self.ended], ignore_index=True)

    def _assignments(self, continuing, start, reason) -> pd.DataFrame:
        from ._plans import plan_columns

        pr, e = self._problem, self._chosen
        pup, res = pr.pupils, pr.resources
        out = pd.DataFrame({
            "pupil_id": pup["pupil_id"].take(e.p).array,
            "resource_id": res["resource_id"].take(e.r).array,
            "kind": res["kind"].take(e.r).array,
            "municipality_id": res["municipality_id"].take(e.r).array,
            "school_id": pup["school_id"].take(e.p).array,
            "risk": pr.risk[e.p],
            "value": e.v,
            "cost_per_pupil": e.cost,
            "objective_basis": np.asarray(pr.basis, dtype=object)[pr.r_kind[e.r]],
            "assignment_probability": self._prob,
        })
        if pr.benefit_point is not None:
            out["benefit"] = pr.benefit_point[e.p, pr.r_kind[e.r]]
        if "reasons" in pup.columns:
            out["reasons"] = pup["reasons"].take(e.p).array
        for col, values in plan_columns(pr, e, continuing, start, reason, self.as_of).items():
            out[col] = values
        order = np.lexsort((-out["value"].to_numpy(), out["resource_id"].to_numpy(),
                            pd.Categorical(out["kind"], categories=KINDS).codes))
        return out.iloc[order].reset_index(drop=True)

    def _served(self, j: int) -> np.ndarray:
        pr, e = self._problem, self._chosen
        served = np.zeros(len(pr.risk), dtype=bool)
        served[e.p[pr.r_kind[e.r] == j]] = True
        return served

    def _waitlist(self) -> pd.DataFrame:
        pr, e = self._problem, self._chosen
        n_m, n_s = len(pr.munis), max(len(pr.schools), 1)
        used = np.bincount(e.r, minlength=len(pr.r_cap))
        caps = pr.rules.max_pupils_per_school or {}
        frames = []
        for j, kind in enumerate(KINDS):
            wait = np.flatnonzero(pr.eligible[:, j] & pr.risk_group & ~self._served(j))
            if len(wait) == 0:
                continue
            rk = (pr.r_kind == j) & (pr.r_cap > 0)
            tied = rk & (pr.r_school >= 0)
            untied = rk & (pr.r_school < 0)
            spare = (pr.r_cap - used).clip(min=0)
            cap_m = np.bincount(pr.r_muni[untied], pr.r_cap[untied], minlength=n_m)
            spare_m = np.bincount(pr.r_muni[untied], spare[untied], minlength=n_m)
            key_r = pr.r_muni[tied] * n_s + pr.r_school[tied]
            key_p = pr.p_muni[wait] * n_s + pr.p_school[wait]
            cap_t = pd.Series(pr.r_cap[tied]).groupby(key_r).sum()
            spare_t = pd.Series(spare[tied]).groupby(key_r).sum()
            reach = cap_m[pr.p_muni[wait]] + cap_t.reindex(key_p, fill_value=0).to_numpy()
            free = spare_m[pr.p_muni[wait]] + spare_t.reindex(key_p, fill_value=0).to_numpy()
            limit = pr.rules.max_new_per_resource
            if limit is not None:
                new_used = np.bincount(self._new.r, minlength=len(pr.r_cap))
                spare_n = np.minimum(spare, np.maximum(limit - new_used, 0))
                free_n = (np.bincount(pr.r_muni[untied], spare_n[untied], minlength=n_m)
                          [pr.p_muni[wait]]
                          + pd.Series(spare_n[tied]).groupby(key_r).sum()
                          .reindex(key_p, fill_value=0).to_numpy())
            else:
                free_n = free
            floor = self.risk_floor
            below = (np.zeros(len(wait), dtype=bool) if floor is None
                     else pr.risk[wait] < floor)
            no_benefit = (np.zeros(len(wait), dtype=bool) if pr.benefit is None
                          or pr.basis[j] != "benefit" else ~(pr.benefit[wait, j] > 0))
            school_full = np.zeros(len(wait), dtype=bool)
            if kind in caps:
                sel = pr.r_kind[e.r] == j
                s_used = np.bincount(pr.p_school[e.p[sel]], minlength=len(pr.schools))
                school_full = s_used[pr.p_school[wait]] >= caps[kind]
            reason = np.select(
                [reach <= 0, below, no_benefit, free <= 0, free_n <= 0, school_full,
                 np.full(len(wait), pr.rules.budget_eur is not None)],
                list(REASONS[:7]), default=REASONS[7])
            wp = self._wait_prob
            probs = (np.array([wp.get((int(p_), j), 0.0) for p_ in wait]) if wp
                     else np.zeros(len(wait)))
            frames.append(pd.DataFrame({
                "pupil_id": pr.pupils["pupil_id"].take(wait).array,
                "kind": kind,
                "municipality_id": pr.munis[pr.p_muni[wait]],
                "school_id": pr.pupils["school_id"].take(wait).array,
                "risk": pr.risk[wait],
                "reason": reason,
                "assignment_probability": probs,
            }))
        if not frames:
            return pd.DataFrame({"pupil_id": pd.Series(dtype="str"),
                                 "kind": pd.Series(dtype="str"),
                                 "municipality_id": pd.Series(dtype="str"),
                                 "school_id": pd.Series(dtype="str"),
                                 "risk": pd.Series(dtype="float64"),
                                 "reason": pd.Series(dtype="str"),
                                 "assignment_probability": pd.Series(dtype="float64")})
        out = pd.concat(frames, ignore_index=True)
        if (out["reason"] == "not_selected").any():
            logger.warning("%d waiting pupils have no binding rule (solver tolerance)",
                           int((out["reason"] == "not_selected").sum()))
        order = np.lexsort((-out["risk"].to_numpy(),
                            pd.Categorical(out["kind"], categories=KINDS).codes))
        return out.iloc[order].reset_index(drop=True)

    def _shortfall(self) -> pd.DataFrame:
        pr, e = self._problem, self._chosen
        n_m, nk = len(pr.munis), len(KINDS)
        demand = np.zeros((n_m, nk), dtype=np.int64)
        capacity = np.zeros((n_m, nk), dtype=np.int64)
        assigned = np.zeros((n_m, nk), dtype=np.int64)
        unmet = np.zeros((n_m, nk), dtype=np.int64)
        np.add.at(capacity, (pr.r_muni, pr.r_kind), pr.r_cap)
        np.add.at(assigned, (pr.r_muni[e.r], pr.r_kind[e.r]), 1)
        for j in range(nk):
            need = pr.eligible[:, j] & pr.risk_group
            demand[:, j] = np.bincount(pr.p_muni[need], minlength=n_m)
            unmet[:, j] = np.bincount(pr.p_muni[need & ~self._served(j)], minlength=n_m)
        mm, kk = np.nonzero((demand > 0) | (capacity > 0))
        return pd.DataFrame({
            "municipality_id": pr.munis[mm],
            "kind": np.asarray(KINDS, dtype=object)[kk].astype(str),
            "demand": demand[mm, kk],
            "capacity": capacity[mm, kk],
            "assigned": assigned[mm, kk],
            "unmet": unmet[mm, kk],
            "idle": capacity[mm, kk] - assigned[mm, kk],
        })

    # ------------------------------------------------------------------ views
    def summary(self) -> pd.DataFrame:
        """Totals per kind (and a ``total`` row).

        Columns: ``capacity, assigned, demand, unmet, idle, waitlist_capacity,
        waitlist_locality, waitlist_school_cap, waitlist_budget,
        waitlist_churn_limit, value, cost``.

        Examples
        --------
        >>> import pandas as pd
        >>> import riskmodel as rm
        >>> pupils = pd.DataFrame({"pupil_id": ["a", "b"], "municipality_id": "M1",
        ...                        "school_id": "S1", "age": [14, 15], "grade": [8, 9],
        ...                        "risk": [0.5, 0.3]})
        >>> roster = pd.DataFrame({"resource_id": ["m1"], "kind": ["mentor"],
        ...                        "municipality_id": ["M1"], "capacity": [1]})
        >>> summary = rm.allocate(pupils, roster).summary()
        >>> summary.loc["mentor", ["capacity", "assigned", "demand", "unmet", "waitlist_capacity"]].tolist()
        [1, 1, 2, 1, 1]
        """
        sf = self.shortfall.groupby("kind")[["capacity", "assigned", "demand", "unmet",
                                             "idle"]].sum()
        sf = sf.reindex(list(KINDS), fill_value=0)
        wl = pd.crosstab(self.waitlist["kind"], self.waitlist["reason"])
        for reason in ("capacity", "locality", "school_cap", "budget", "churn_limit"):
            col = wl[reason] if reason in wl.columns else pd.Series(dtype="int64")
            sf[f"waitlist_{reason}"] = col.reindex(sf.index, fill_value=0).astype("int64")
        g = self.assignments.groupby("kind")
        sf["value"] = g["value"].sum().reindex(sf.index, fill_value=0.0)
        sf["cost"] = g["cost_per_pupil"].sum().reindex(sf.index, fill_value=0.0)
        sf.loc["total"] = sf.sum()
        sf.index.name = "kind"
        return sf

    @property
    def probabilities(self) -> pd.DataFrame:
        """Each pupil's exact probability of the support of each kind in this plan.

        One row per assigned (pupil, kind) and per explored candidate who was
        not drawn: ``pupil_id, kind, resource_id`` (None when not drawn),
        ``assigned`` and ``assignment_probability`` (1 for support outside the
        exploration band and for continuing support; see ``exploration`` of
        :func:`riskmodel.allocate`). Pupils not listed had probability 0. This
        is the propensity that a later benefit estimate needs.
        """
        a = self.assignments
        rows = [pd.DataFrame({"pupil_id": a["pupil_id"].to_numpy(dtype=object),
                              "kind": a["kind"].to_numpy(dtype=object),
                              "resource_id": a["resource_id"].to_numpy(dtype=object),
                              "assigned": True,
                              "assignment_probability": a["assignment_probability"].to_numpy()})]
        if self._wait_prob:
            ids = self._problem.pupils["pupil_id"].to_numpy(dtype=object)
            keys = sorted(self._wait_prob)
            rows.append(pd.DataFrame({
                "pupil_id": ids[[k[0] for k in keys]],
                "kind": np.asarray(KINDS, dtype=object)[[k[1] for k in keys]],
                "resource_id": None, "assigned": False,
                "assignment_probability": [self._wait_prob[k] for k in keys]}))
        return pd.concat(rows, ignore_index=True)

    def __repr__(self) -> str:
        return (f"Allocation(method={self.method!r}, objective={self.objective!r}, "
                f"assigned={len(self.assignments)}, waiting={len(self.waitlist)}, "
                f"objective_value={self.objective_value:.3f}, cost={self.total_cost:.2f})")

    # ------------------------------------------------------------- value curve
    def _block_value(self, j: int, m: int, extra_cap: int, extra_cost: float,
                     budget: float | None) -> float:
        pr = self._remainder
        idx = self._indexes.get(j) or KindIndex(pr, j)
        self._indexes[j] = idx
        res = np.flatnonzero((pr.r_kind == j) & (pr.r_muni == m))
        r_muni = np.r_[pr.r_muni[res], m]
        r_school = np.r_[pr.r_school[res], -1]
        r_cap = np.r_[pr.r_cap[res], extra_cap]
        r_spec = np.r_[pr.r_spec[res], NEUTRAL]
        r_cost = np.r_[pr.r_cost[res], extra_cost]
        e = idx.edges(r_muni, r_school, r_cap, r_spec, r_cost)
        x, _ = solve_edges(e, pr, np.full(len(e.p), j), r_cap, budget)
        if pr.benefit_point is None:
            return float(e.v[x].sum()), np.nan
        return float(e.v[x].sum()), float(np.nansum(pr.benefit_point[e.p[x], j]))

    def value_curve(self, kind: str, n_units: int = 10, unit_capacity: int | None = None,
                    unit_cost: float | None = None) -> pd.DataFrame:
        """Value that each additional unit of capacity of ``kind`` would add.

        A *unit* is one more resource of the kind: not tied to a school, without
        a specialty (neutral fit), with ``unit_capacity`` places (default: the
        median capacity of the kind's resources, e.g. one more mentor with a
        caseload of 25) and ``unit_cost`` per pupil (default: the median cost).
        Each unit goes to the municipality where it adds most; the gain of a
        unit in municipality ``m`` is computed honestly by re-solving that
        municipality's block to optimality with the extra places,
        ``V_m(c + 1) - V_m(c)``.

        Without a budget the blocks are independent and each ``V_m`` is the
        value function of a linear programme in its right-hand side, hence
        concave in the extra capacity, so placing units one at a time where they
        gain most is optimal for every number of units, and the marginal values
        never increase. With a budget each added unit brings its own funding
        (``unit_capacity * unit_cost``) and the municipality's block is re-solved
        with its current spending plus that funding while the other blocks keep
        theirs — a lower bound on the gain, since the rest of the plan is not
        re-optimised.

        Parameters
        ----------
        kind : str
            One of ``mentor, literacy, subject, support_staff, family``.
        n_units : int, default 10
            Number of additional units.
        unit_capacity, unit_cost : optional
            Size and cost per pupil of a unit.

        Under ``objective="benefit"`` the value is the expected number of early
        leavings prevented (at ``benefit_quantile`` when one was given), so
        ``marginal_value`` reads "leavings prevented by one more mentor"; a kind
        that fell back to ``"fit"`` (see :attr:`fallback`) is valued by fit, and
        its ``basis`` column says so.

        Returns
        -------
        DataFrame
            ``unit`` (1..n_units), ``municipality_id`` (where the unit goes; NaN
            once no unit adds value), ``marginal_value``, ``cumulative_value``
            and ``objective_value`` (the plan's total with the units added),
            ``basis`` (``"benefit"``, ``"fit"`` or ``"risk"``: what the values
            are), and, when the pupils table has ``benefit_<kind>`` columns (under
            any objective), ``marginal_prevented`` and ``cumulative_prevented``:
            the expected early leavings that the unit's pupils are spared
            (point estimates; the units are still placed by the objective).

        Examples
        --------
        >>> import pandas as pd
        >>> import riskmodel as rm
        >>> pupils = pd.DataFrame({"pupil_id": ["a", "b", "c"], "municipality_id": "M1",
        ...                        "school_id": "S1", "age": [14, 15, 16], "grade": [8, 9, 10],
        ...                        "risk": [0.5, 0.3, 0.2]})
        >>> roster = pd.DataFrame({"resource_id": ["m1"], "kind": ["mentor"],
        ...                        "municipality_id": ["M1"], "capacity": [1]})
        >>> plan = rm.allocate(pupils, roster, objective="risk")
        >>> plan.value_curve("mentor", n_units=3)[["unit", "marginal_value", "objective_value"]].values.tolist()
        [[1.0, 0.3, 0.8], [2.0, 0.2, 1.0], [3.0, 0.0, 1.0]]
        """
        if self.method != "optimal":
            raise ValueError("value_curve needs an optimal plan from allocate(); this plan "
                             f"was made by the {self.method!r} baseline.")
        kind = check_option(kind, "kind", KINDS, "value_curve")
        n_units = check_int(n_units, "n_units", "value_curve", min_value=1)
        pr = self._remainder  # continuing assignments are fixed; their value is constant
        j = KINDS.index(kind)
        rk = pr.r_kind == j
        if unit_capacity is None:
            if not rk.any():
                raise ValueError(f"There are no {kind!r} resources to take a unit size from; "
                                 "pass unit_capacity.")
            unit_capacity = max(int(np.median(self._problem.r_cap[rk])), 1)
        unit_capacity = check_int(unit_capacity, "unit_capacity", "value_curve", min_value=1)
        if unit_cost is None:
            unit_cost = float(np.median(pr.r_cost[rk])) if rk.any() else 0.0
        unit_cost = check_real(unit_cost, "unit_cost", "value_curve", low=0)
        budget = pr.rules.budget_eur
        e = self._new
        sel = pr.r_kind[e.r] == j
        spend = np.bincount(pr.r_muni[e.r[sel]], e.cost[sel], minlength=len(pr.munis))
        munis = np.unique(pr.p_muni[pr.eligible[:, j]])

        def value(m, c):
            b = None if budget is None else spend[m] + c * unit_capacity * unit_cost
            return self._block_value(j, m, c * unit_capacity, unit_cost, b)

        current = {int(m): value(m, 0) for m in munis}
        added = dict.fromkeys(current, 0)
        heap = []
        for m in current:
            nxt = value(m, 1)
            heapq.heappush(heap, (-(nxt[0] - current[m][0]), m, nxt))
        rows, cum, cum_b = [], 0.0, 0.0
        for u in range(1, n_units + 1):
            if not heap or -heap[0][0] <= 1e-12:
                rows.append((u, None, 0.0, cum, 0.0, cum_b))
                continue
            gain, m, nxt = heapq.heappop(heap)
            gain_b = nxt[1] - current[m][1]
            cum += -gain
            cum_b += gain_b
            current[m], added[m] = nxt, added[m] + 1
            rows.append((u, pr.munis[m], -gain, cum, gain_b, cum_b))
            nxt2 = value(m, added[m] + 1)
            heapq.heappush(heap, (-(nxt2[0] - nxt[0]), m, nxt2))
        out = pd.DataFrame(rows, columns=["unit", "municipality_id", "marginal_value",
                                          "cumulative_value", "marginal_prevented",
                                          "cumulative_prevented"])
        out["objective_value"] = self.objective_value + out["cumulative_value"]
        out["basis"] = pr.basis[j]
        cols = ["unit", "municipality_id", "marginal_value", "cumulative_value",
                "objective_value", "basis"]
        if pr.benefit_point is not None:
            cols += ["marginal_prevented", "cumulative_prevented"]
        return out[cols]

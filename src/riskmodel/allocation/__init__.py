"""Allocation of mentors and support under programme 4.2.3.1's rules.

- :class:`ProgrammeRules` — the rules (eligibility, risk group, budget, school caps).
- :func:`allocate` — an optimal support plan (min-cost flow per block; HiGHS LP and
  branch and bound through scipy only with school caps or a budget), an
  :class:`Allocation` with assignments, waitlist (who waits and why), shortfall
  and value curves.
- :func:`make_resources` — a plausible synthetic resources table for demos.
- :func:`read_resources` — a real roster from a CSV, Parquet or XLSX file.

Private modules: ``_rules`` (the config), ``_data`` (validation into arrays),
``_solve`` and ``_flow`` (the exact solver), ``_greedy`` (the baseline the
benchmark compares against), ``_result`` (the :class:`Allocation`) and
``_resources`` (synthetic rosters), ``_roster`` (roster files),
``_continuity`` (ongoing support) and ``_plans`` (support plans).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd

from .._checks import check_real, parse_as_of
from ._benefit import apply_floor
from ._explore import explore
from ._benefit import benefit_columns, weak_arms
from ._continuity import fix_ongoing
from ._data import build_problem
from ._resources import make_resources
from ._result import Allocation
from ._roster import available_mask, read_resources
from ._rules import KINDS, Eligibility, KindRule, ProgrammeRules
from ._solve import solve

__all__ = ["KINDS", "Allocation", "Eligibility", "KindRule", "ProgrammeRules", "allocate",
           "benefit_columns", "make_resources", "read_resources", "weak_arms"]

logger = logging.getLogger(__name__)


def allocate(pupils: pd.DataFrame, resources: pd.DataFrame,
             rules: ProgrammeRules | dict | str | None = None,
             objective: str = "fit", *, current: pd.DataFrame | None = None,
             as_of=None, benefit_quantile: float | None = None,
             risk_floor: float | None = None, fallback: dict | None = None,
             exploration: float = 0.0, random_state=None) -> Allocation:
    """Assign support to pupils optimally without breaking any programme rule.

    Maximises the total value of the assignments subject to: eligibility per
    kind (see :class:`ProgrammeRules`), at most one resource of each kind per
    pupil, each resource's capacity, locality (same municipality; same school
    when the resource has a ``school_id``), and the optional per-school caps and
    budget. Without a budget the optimum is exact: each (kind, municipality)
    block is a transportation problem, solved by min-cost flow (or, with school
    caps, as a totally unimodular LP by HiGHS whose 0/1 solution is verified).
    A budget couples the blocks: the whole problem's LP relaxation (HiGHS) gives
    an upper bound, an integral LP optimum is optimal, else the plan is completed
    within the rules and, on moderate sizes, HiGHS branch and bound is run too;
    ``Allocation.optimality_gap`` certifies the distance to the optimum (0
    without a budget).

    Value of serving pupil ``p`` with resource ``r``:

    - ``objective="risk"``: ``risk[p]``;
    - ``objective="fit"``: ``risk[p] * (1 - w + w * match[p, r])``, ``w =
      rules.fit_weight``, where ``match`` is the share of the pupil's
      risk-raising contributions (positive parts of the domain columns) that lie
      in the resource's specialty domain. A resource without a specialty, or a
      pupil without positive contributions (or without domain columns), gets
      the neutral ``match = 1/5`` — what a specialist of a random domain would
      be worth on average.
    - ``objective="benefit"``: ``benefit_<kind>[p]``, the estimated reduction
      of the pupil's probability of early leaving if support of the resource's
      kind starts now (:class:`riskmodel.BenefitModel`, see
      :func:`benefit_columns`); the objective is the expected number of early
      leavings prevented, and pupils without a positive benefit are not served
      (waitlist reason ``no_benefit``). The programme's eligibility and risk
      group still hold. Kinds whose evidence is weak are allocated by
      ``"fit"`` instead: those named in ``fallback`` and those whose
      ``benefit_<kind>`` is NaN for every pupil (the arm failed overlap);
      ``Allocation.fallback`` says which and why, ``Allocation.basis`` and the
      ``objective_basis`` column what each kind was allocated by. With a budget
      the kinds share one objective, so mixing benefit and fit kinds adds
      quantities of different scale; give fit kinds their own budget run.

    Parameters
    ----------
    pupils : DataFrame
        ``pupil_id`` (column or index), ``municipality_id, school_id, age, grade,
        risk`` (calibrated probability in [0, 1]); optional ``liecība`` (bool),
        domain columns ``attendance, grades, engagement, transitions, context``
        (e.g. ``Explanation.by_domain()``) and ``reasons`` (copied to the
        assignments).
    resources : DataFrame
        ``resource_id, kind`` (mentor, literacy, subject, support_staff, family),
        ``municipality_id, capacity``; optional ``school_id`` (empty: any school
        of the municipality), ``specialty`` (a domain or empty) and
        ``cost_per_pupil`` (default 0).
    rules : ProgrammeRules, mapping or YAML path, optional
        Default: programme 4.2.3.1 (``ProgrammeRules()``).
    objective : {"fit", "risk", "benefit"}, default "fit"
    current : DataFrame, optional
        Support that pupils already receive (the data's ``support`` table plus
        ``resource_id``): ``pupil_id, kind, resource_id, start_date, end_date``
        (``end_date`` empty: open). Needs ``as_of``. Support ongoing at
        ``as_of`` (``start_date < as_of <= end_date``, or open) *continues*: it
        keeps its resource and uses one of its places, unless the pupil left,
        lost eligibility, moved out of the resource's reach, the resource is
        gone or unavailable, or (for the kinds that need the risk group) the
        pupil's risk fell below ``rules.exit_level`` — hysteresis, so that a
        pupil just under ``min_risk`` keeps the mentor. Continuing support that
        would alone break a capacity, school cap or the budget ends for its
        lowest-value pupils. The rest of the plan is optimal with the
        continuing assignments fixed (places, school caps and budget reduced,
        continuing pupils not planned again for that kind). Support kinds
        ``psychologist, social_pedagogue, teacher_assistant`` count as
        ``support_staff``; ``other`` is ignored. Ongoing support without a
        ``resource_id`` (the column missing or empty) cannot keep a resource:
        the pupil is planned like everyone else, a new assignment says
        ``change_reason="resource_unknown"``, and when none is found the
        support is ``ended`` with that reason. ``ProgrammeRules.
        max_new_per_resource`` limits the new pupils per resource.
    as_of : date, optional
        The planning date: start of new plans, end of ended ones, the cut for
        ongoing support, and the day resources must be available on
        (``available_from <= as_of <= available_to`` when the roster has these
        columns, e.g. from :func:`read_resources`).
    benefit_quantile : float in (0, 1), optional
        ``objective="benefit"`` only: value each pupil at the ``q`` quantile of
        the estimate, ``benefit_<kind> + z_q * benefit_<kind>_se`` (a lower
        confidence bound for ``q < 0.5``; the pupils table then needs the
        ``benefit_<kind>_se`` columns). None: the point estimate.
    risk_floor : float in [0, 1], optional
        ``objective="benefit"`` only: new support only for pupils with ``risk >=
        risk_floor`` (any kind; continuing support is not ended by it). The plan
        is solved again without the floor and the difference is its price in
        the objective's units (leavings prevented): ``Allocation.floor_price``
        (total, >= 0 up to the budget's optimality gap) and
        ``Allocation.floor_report`` (per kind). Pupils of the risk group left
        waiting by it have the waitlist reason ``below_floor``.
    fallback : dict kind -> str, optional
        ``objective="benefit"`` only: kinds to allocate by ``"fit"``, with the
        reason (e.g. ``weak_arms(model, evaluation)``). Their benefit columns
        are not needed.
    exploration : float in [0, 1), default 0
        Randomise new assignments among near-equal candidates at each
        resource's capacity margin (see :mod:`riskmodel.allocation._explore`):
        ``exploration=0.1`` draws, per resource, among its new pupils valued
        within a factor ``1 / 0.9`` of its marginal pupil and the unserved
        candidates valued at least ``0.9`` times it. Each pupil's exact
        probability is the ``assignment_probability`` column of the
        assignments and the waitlist, and :attr:`Allocation.probabilities`.
        0: the optimal plan, unchanged. The plan's ``optimality_gap`` shows
        what exploration costs.
    random_state : int, Generator or None
        Seed of the exploration draw.

    Returns
    -------
    Allocation

    Raises
    ------
    DataValidationError
        Unknown kind or specialty, negative or non-integer capacity, duplicate
        ids, missing required columns, risk outside [0, 1] or missing.

    Examples
    --------
    >>> import pandas as pd
    >>> import riskmodel as rm
    >>> pupils = pd.DataFrame({"pupil_id": ["a", "b", "c"], "municipality_id": "M1",
    ...                        "school_id": "S1", "age": [14, 15, 9], "grade": [8, 9, 3],
    ...                        "risk": [0.5, 0.3, 0.2]})
    >>> resources = pd.DataFrame({"resource_id": ["m1"], "kind": ["mentor"],
    ...                           "municipality_id": ["M1"], "capacity": [1]})
    >>> plan = rm.allocate(pupils, resources, objective="risk")
    >>> plan.assignments["pupil_id"].tolist()
    ['a']
    >>> plan.waitlist[["pupil_id", "kind", "reason"]].values.tolist()[:2]
    [['b', 'mentor', 'capacity'], ['c', 'literacy', 'locality']]
    """
    if as_of is not None:
        as_of = parse_as_of(as_of, "allocate")
    elif current is not None:
        raise ValueError("allocate: current support needs as_of (the planning date) to tell "
                         "which support is ongoing; pass as_of=.")
    unavailable = ()
    if isinstance(resources, pd.DataFrame) and {"available_from", "available_to"} & set(
            resources.columns):
        if as_of is None:
            raise ValueError("allocate: the resources have available_from/available_to "
                             "dates; pass as_of= to choose the ones available.")
        ok = available_mask(resources, as_of)
        unavailable = set(resources.loc[~ok, "resource_id"].astype(str))
        resources = resources.loc[ok].drop(columns=["available_from", "available_to"],
                                           errors="ignore")
    opts = _benefit_options(objective, benefit_quantile, risk_floor, fallback, exploration)
    problem = build_problem(pupils, resources, rules, objective, opts["benefit_quantile"],
                            fallback)
    cont = fix_ongoing(problem, current, as_of, unavailable)
    unfloored = cont.remainder
    if opts["risk_floor"] is not None:
        cont = dataclasses.replace(cont, remainder=apply_floor(unfloored, opts["risk_floor"]))
    chosen, bound, indexes = solve(cont.remainder)
    prob, waiting = None, None
    if opts["exploration"] > 0:
        rng = np.random.default_rng(random_state)
        chosen, prob, waiting = explore(cont.remainder, chosen, opts["exploration"], rng)
    plan = Allocation(problem, chosen, "optimal", indexes, bound, continuity=cont, as_of=as_of,
                      probability=prob, wait_probability=waiting,
                      risk_floor=opts["risk_floor"], exploration=opts["exploration"])
    if opts["risk_floor"] is not None:
        free, _, _ = solve(unfloored)
        floor_report(plan, problem, cont.fixed, chosen, free)
    for kind, why in plan.fallback.items():  # detected here: a warning; given: info
        level = logging.INFO if kind in (fallback or {}) else logging.WARNING
        logger.log(level, "allocation: %r is allocated by 'fit', not by benefit: %s", kind, why)
    logger.info("allocation: %d assignments, %d waiting, value %.3f", len(plan.assignments),
                len(plan.waitlist), plan.objective_value)
    return plan


def _benefit_options(objective, benefit_quantile, risk_floor, fallback, exploration) -> dict:
    f = "allocate"
    if objective != "benefit":
        given = [n for n, v in (("benefit_quantile", benefit_quantile),
                                ("risk_floor", risk_floor), ("fallback", fallback))
                 if v is not None]
        if given:
            raise ValueError(f"allocate: {', '.join(given)} only apply to objective='benefit' "
                             f"(got objective={objective!r}).")
    return {
        "benefit_quantile": check_real(benefit_quantile, "benefit_quantile", f, low=0, high=1,
                                       closed="neither", allow_none=True),
        "risk_floor": check_real(risk_floor, "risk_floor", f, low=0, high=1, allow_none=True),
        "exploration": check_real(exploration, "exploration", f, low=0, high=1, closed="left"),
    }


def floor_report(plan: Allocation, problem, fixed, chosen, free) -> None:
    """Set ``plan.floor_price`` and ``plan.floor_report`` (with and without the floor)."""
    from ._benefit import prevented

    rows = []
    for j, kind in enumerate(KINDS):
        if not (problem.r_kind == j).any():
            continue
        with_e = [e.take(problem.r_kind[e.r] == j) for e in (fixed, chosen)]
        without_e = [e.take(problem.r_kind[e.r] == j) for e in (fixed, free)]
        rows.append({
            "kind": kind, "basis": problem.basis[j],
            "value_with_floor": float(sum(e.v.sum() for e in with_e)),
            "value_without_floor": float(sum(e.v.sum() for e in without_e)),
            "prevented_with_floor": sum(prevented(problem, e.p, e.r) for e in with_e),
            "prevented_without_floor": sum(prevented(problem, e.p, e.r) for e in without_e),
            "assigned_with_floor": int(sum(len(e.p) for e in with_e)),
            "assigned_without_floor": int(sum(len(e.p) for e in without_e)),
        })
    rep = pd.DataFrame(rows).set_index("kind") if rows else pd.DataFrame()
    if len(rep):
        rep["price"] = rep["value_without_floor"] - rep["value_with_floor"]
    plan.floor_report = rep
    plan.floor_price = float(rep["price"].sum()) if len(rep) else 0.0

"""Continuity: ongoing support keeps its resource; the rest is planned around it.

:func:`fix_ongoing` turns the ``current`` support table into the assignments that
continue (fixed before the solve), the ones that end (with the reason) and the
*remainder* problem that the solver optimises: the continuing pupils are not
eligible again for the kind they keep, their places are taken from the
resources' capacity, from the school caps and from the budget, and the churn
limit caps the new places of every resource.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd

from ..errors import DataValidationError
from ._data import Problem
from ._rules import KINDS
from ._solve import Edges

logger = logging.getLogger(__name__)

#: support kinds of the data contract that the programme's ``support_staff`` covers
STAFF_KINDS = ("psychologist", "social_pedagogue", "teacher_assistant")
#: reasons why ongoing support ends, in the order they are tested
END_REASONS = ("left", "duplicate", "resource_gone", "resource_unavailable", "ineligible",
               "exit_risk", "out_of_reach", "capacity", "school_cap", "budget",
               "resource_unknown")
CURRENT_COLUMNS = ("pupil_id", "kind", "start_date", "end_date")


@dataclasses.dataclass
class Continuity:
    """The result of :func:`fix_ongoing`."""

    fixed: Edges  # continuing assignments (r = global resource index)
    fixed_start: np.ndarray  # datetime64[ns] start date of each fixed edge
    ended: pd.DataFrame
    unbound: set  # (pupil index, kind index) with ongoing support of unknown resource
    unbound_rows: pd.DataFrame  # those rows, for the ended frame if not placed again
    remainder: Problem


def _bad(column, mask, ids, values, message) -> dict:
    mask = np.asarray(mask, dtype=bool)
    ex = [(str(i), str(v)) for i, v in list(zip(np.asarray(ids, dtype=object)[mask],
                                                np.asarray(values, dtype=object)[mask]))[:3]]
    return {"table": "current", "column": column, "n_rows": int(mask.sum()), "examples": ex,
            "message": message}


def validate_current(current: pd.DataFrame) -> pd.DataFrame:
    """Check the current support table; kinds mapped onto the programme's kinds."""
    from ..vocab import SUPPORT_KINDS

    if not isinstance(current, pd.DataFrame):
        raise TypeError(f"allocate: current must be a DataFrame, got {type(current).__name__}")
    missing = [c for c in CURRENT_COLUMNS if c not in current.columns]
    if missing:
        problems = [{"table": "current", "column": c, "n_rows": len(current), "examples": [],
                     "message": "required column is missing"} for c in missing]
        raise DataValidationError(
            "Invalid allocation input: table 'current' lacks column(s) "
            f"{', '.join(map(repr, missing))} (the support table: pupil_id, kind, start_date, "
            "end_date and, to keep a resource, resource_id)", problems)
    df = current.reset_index(drop=True)
    ids = df["pupil_id"].astype("str").to_numpy(dtype=object)
    problems = []
    kind = df["kind"].astype(object).astype("str").to_numpy(dtype=object)
    bad = ~np.isin(kind, [*KINDS, *SUPPORT_KINDS])
    if bad.any():
        problems.append(_bad("kind", bad, ids, kind,
                             f"unknown kind (allowed: {', '.join(SUPPORT_KINDS)})"))
    dates = {}
    for col in ("start_date", "end_date"):
        parsed = pd.to_datetime(df[col], errors="coerce")
        bad = parsed.isna() & df[col].notna()
        if col == "start_date":
            bad |= df[col].isna()
        if bad.any():
            problems.append(_bad(col, bad.to_numpy(), ids, df[col], "not a date"))
        dates[col] = parsed.astype("datetime64[ns]").to_numpy()
    if problems:
        lines = [f"table 'current', column {p['column']!r}: {p['message']} ({p['n_rows']} "
                 f"rows; examples: {p['examples']})" for p in problems]
        raise DataValidationError("Invalid allocation input:\n  " + "\n  ".join(lines),
                                  problems)
    kind = np.where(np.isin(kind, STAFF_KINDS), "support_staff", kind)
    if "resource_id" in df.columns:
        rid = df["resource_id"].astype(object)
        rid = rid.where(rid.notna(), None).map(lambda v: None if v is None or str(v).strip()
                                               == "" else str(v)).to_numpy(dtype=object)
    else:
        rid = np.full(len(df), None, dtype=object)
    return pd.DataFrame({"pupil_id": ids, "kind": kind, "resource_id": rid,
                         "start_date": dates["start_date"], "end_date": dates["end_date"]})


def _eligible_keep(pr: Problem, p: np.ndarray, j: np.ndarray):
    """(other conditions hold, risk at or above the exit level) for continuing pairs."""
    rules = pr.rules
    pup = pr.pupils
    age = pup["age"].to_numpy()[p]
    grade = pup["grade"].to_numpy()[p]
    lie = pup["liecība"].to_numpy(dtype=bool)[p]
    risk = pr.risk[p]
    ok = np.ones(len(p), dtype=bool)
    risk_ok = np.ones(len(p), dtype=bool)
    for k, kind in enumerate(KINDS):
        m = j == k
        if not m.any():
            continue
        rule = rules.kind_rule(kind)
        cond = np.ones(int(m.sum()), dtype=bool)
        if rule.min_age is not None:
            cond &= age[m] >= rule.min_age
        if rule.grades is not None:
            cond &= np.isin(grade[m], rule.grades)
        if rule.requires_liecība:
            cond &= lie[m]
        ok[m] = cond
        if rule.requires_risk_group:
            risk_ok[m] = risk[m] >= rules.exit_level
    return ok, risk_ok


def _drop_over(alive, group, limit, value):
    """End the lowest-value alive rows of each group beyond ``limit[group]``."""
    idx = np.flatnonzero(alive)
    if len(idx) == 0:
        return
    order = idx[np.lexsort((-value[idx], group[idx]))]
    g = group[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    rank = np.arange(len(order)) - first
    over = order[rank >= limit[g]]
    return over


def fix_ongoing(pr: Problem, current: pd.DataFrame | None, as_of: pd.Timestamp | None,
                unavailable_ids=()) -> Continuity:
    """Continuing assignments, ended support and the remainder problem."""
    res = pr.resources
    n_r = len(res)
    nk = len(KINDS)
    empty_ended = _ended_frame(pr, pd.DataFrame({c: [] for c in (
        "pupil_id", "kind", "resource_id", "start_date")}), np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=object), as_of)
    if current is None or len(current) == 0:
        rows = pd.DataFrame({"pupil_id": pd.Series(dtype=object)})
        return Continuity(Edges.empty(), np.zeros(0, dtype="datetime64[ns]"), empty_ended,
                          set(), rows.iloc[:0], _remainder(pr, Edges.empty()))
    cur = validate_current(current)
    cut = np.datetime64(as_of.as_unit("ns").to_datetime64(), "ns")
    end = cur["end_date"].to_numpy()
    ongoing = (cur["start_date"].to_numpy() < cut) & (np.isnat(end) | (end >= cut))
    cur = cur[ongoing & np.isin(cur["kind"].to_numpy(dtype=object), KINDS)]
    cur = cur.reset_index(drop=True)
    n = len(cur)
    reason = np.full(n, None, dtype=object)
    pid_index = pd.Index(pr.pupils["pupil_id"].to_numpy(dtype=object))
    p = pid_index.get_indexer(cur["pupil_id"].to_numpy(dtype=object))
    j = np.array([KINDS.index(k) for k in cur["kind"]], dtype=np.int64)
    reason[p < 0] = "left"
    # one ongoing support per (pupil, kind): the latest start (then the bound one) stays
    bound = cur["resource_id"].notna().to_numpy()
    order = np.lexsort((~bound, -cur["start_date"].to_numpy().astype("int64"), j, p))
    key = (p * nk + j)[order]
    dup = np.zeros(n, dtype=bool)
    dup[order[1:]] = key[1:] == key[:-1]
    reason[(reason == None) & dup] = "duplicate"  # noqa: E711
    rid_index = pd.Index(res["resource_id"].to_numpy(dtype=object))
    r = rid_index.get_indexer(cur["resource_id"].to_numpy(dtype=object))
    kind_ok = np.zeros(n, dtype=bool)
    kind_ok[r >= 0] = pr.r_kind[r[r >= 0]] == j[r >= 0]
    unav = np.isin(cur["resource_id"].to_numpy(dtype=object), list(unavailable_ids))
    free = reason == None  # noqa: E711
    reason[free & bound & unav] = "resource_unavailable"
    free = reason == None  # noqa: E711
    reason[free & bound & ((r < 0) | ~kind_ok)] = "resource_gone"
    live = np.flatnonzero((reason == None) & (p >= 0))  # noqa: E711
    ok, risk_ok = _eligible_keep(pr, p[live], j[live])
    reason[live[~ok]] = "ineligible"
    reason[live[ok & ~risk_ok]] = "exit_risk"
    # still reachable: same municipality, and the same school when the resource is tied
    live = np.flatnonzero((reason == None) & bound & (r >= 0))  # noqa: E711
    pl, rl = p[live], r[live]
    reach = (pr.p_muni[pl] == pr.r_muni[rl]) & ((pr.r_school[rl] < 0)
                                                 | (pr.r_school[rl] == pr.p_school[pl]))
    reason[live[~reach]] = "out_of_reach"
    # the rules bind the continuing plan too: capacity, school caps, budget
    value = np.zeros(n)
    keep = (reason == None) & bound  # noqa: E711
    ki = np.flatnonzero(keep)
    value[ki] = pr.values(p[ki], pr.r_spec[r[ki]], pr.r_kind[r[ki]])
    over = _drop_over(keep, np.where(keep, r, 0), pr.r_cap, value)
    if over is not None:
        reason[over] = "capacity"
    caps = pr.rules.max_pupils_per_school or {}
    if caps:
        keep = (reason == None) & bound  # noqa: E711
        limit_k = np.array([caps.get(k, np.iinfo(np.int64).max) for k in KINDS])
        group = np.where(keep, pr.p_school[np.maximum(p, 0)] * nk + j, 0)
        limit = np.tile(limit_k, len(pr.schools))
        over = _drop_over(keep, group, limit, value)
        if over is not None:
            reason[over] = "school_cap"
    budget = pr.rules.budget_eur
    if budget is not None:
        keep = np.flatnonzero((reason == None) & bound)  # noqa: E711
        cost = pr.r_cost[r[keep]]
        # keep the most valuable per euro first; end the rest once the budget is spent
        order = keep[np.lexsort((cost, -value[keep] / np.maximum(cost, 1e-12)))]
        spent = np.cumsum(pr.r_cost[r[order]])
        reason[order[spent > budget + 1e-9]] = "budget"
    _readmit(pr, reason, p, j, r, value)
    fixed_i = np.flatnonzero((reason == None) & bound)  # noqa: E711
    unbound_i = np.flatnonzero((reason == None) & ~bound)  # noqa: E711
    fixed = Edges(p[fixed_i].astype(np.int64), r[fixed_i].astype(np.int64), value[fixed_i],
                  pr.r_cost[r[fixed_i]])
    ended_i = np.flatnonzero(reason != None)  # noqa: E711
    ended = _ended_frame(pr, cur.iloc[ended_i], p[ended_i], reason[ended_i], as_of)
    unbound_rows = cur.iloc[unbound_i].assign(_p=p[unbound_i], _j=j[unbound_i])
    if len(ended):
        logger.info("allocation: %d ongoing supports continue, %d end (%s)", len(fixed_i),
                    len(ended), ended["change_reason"].value_counts().to_dict())
    return Continuity(fixed, cur["start_date"].to_numpy()[fixed_i], ended,
                      set(zip(p[unbound_i].tolist(), j[unbound_i].tolist())), unbound_rows,
                      _remainder(pr, fixed))


def _readmit(pr: Problem, reason, p, j, r, value) -> None:
    """Give places freed by later steps back, so that every stated reason is true at the end.

    Ending for capacity or a school cap comes before ending for the budget, and a
    budget ending can free a place: the ended rows are retried by decreasing
    value; one that fits every rule now continues, the others get the rule that
    still binds (capacity, then school cap, then budget).
    """
    nk = len(KINDS)
    retry = np.flatnonzero(np.isin(reason.astype(str), ["capacity", "school_cap", "budget"]))
    if len(retry) == 0:
        return
    kept = np.flatnonzero((reason == None) & (r >= 0))  # noqa: E711
    load = np.bincount(r[kept], minlength=len(pr.r_cap))
    school = np.zeros(max(len(pr.schools), 1) * nk, dtype=np.int64)
    np.add.at(school, pr.p_school[p[kept]] * nk + j[kept], 1)
    caps = pr.rules.max_pupils_per_school or {}
    budget = pr.rules.budget_eur
    spent = float(pr.r_cost[r[kept]].sum())
    for i in retry[np.argsort(-value[retry], kind="stable")]:
        ri, si = r[i], pr.p_school[p[i]] * nk + j[i]
        cap_s = caps.get(KINDS[j[i]])
        if load[ri] >= pr.r_cap[ri]:
            reason[i] = "capacity"
        elif cap_s is not None and school[si] >= cap_s:
            reason[i] = "school_cap"
        elif budget is not None and spent + pr.r_cost[ri] > budget + 1e-9:
            reason[i] = "budget"
        else:
            reason[i] = None
            load[ri] += 1
            school[si] += 1
            spent += pr.r_cost[ri]


def _ended_frame(pr: Problem, rows: pd.DataFrame, p: np.ndarray, reason, as_of):
    pup = pr.pupils
    known = p >= 0
    school = np.full(len(rows), None, dtype=object)
    muni = np.full(len(rows), None, dtype=object)
    risk = np.full(len(rows), np.nan)
    school[known] = pup["school_id"].to_numpy(dtype=object)[p[known]]
    muni[known] = pup["municipality_id"].to_numpy(dtype=object)[p[known]]
    risk[known] = pr.risk[p[known]]
    end = pd.NaT if as_of is None else as_of
    return pd.DataFrame({
        "pupil_id": np.asarray(rows["pupil_id"], dtype=object).astype(str),
        "resource_id": np.asarray(rows["resource_id"], dtype=object),
        "kind": np.asarray(rows["kind"], dtype=object).astype(str),
        "municipality_id": muni,
        "school_id": school,
        "risk": risk,
        "change": "ended",
        "change_reason": np.asarray(reason, dtype=object).astype(str),
        "start_date": pd.to_datetime(np.asarray(rows["start_date"])).astype("datetime64[ns]"),
        "end_date": pd.Series([end] * len(rows), dtype="datetime64[ns]").to_numpy(),
    })


def _remainder(pr: Problem, fixed: Edges) -> Problem:
    """The problem left to optimise once ``fixed`` is taken."""
    nk = len(KINDS)
    kinds = pr.r_kind[fixed.r]
    eligible = pr.eligible.copy()
    eligible[fixed.p, kinds] = False
    cap = pr.r_cap - np.bincount(fixed.r, minlength=len(pr.r_cap))
    limit = pr.rules.max_new_per_resource
    if limit is not None:
        cap = np.minimum(cap, limit)
    school_used = np.zeros((max(len(pr.schools), 1), nk), dtype=np.int64)
    np.add.at(school_used, (pr.p_school[fixed.p], kinds), 1)
    rules = pr.rules
    if rules.budget_eur is not None:
        rules = rules.model_copy(update={"budget_eur": max(
            rules.budget_eur - float(fixed.cost.sum()), 0.0)})
    return dataclasses.replace(pr, eligible=eligible, r_cap=cap.astype(np.int64),
                               school_used=school_used, rules=rules)

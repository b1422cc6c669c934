"""Support plans: start and review dates, goal domain and reasons of each assignment."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..vocab import DOMAINS
from ._data import NEUTRAL, Problem
from ._rules import KINDS

#: (month, day) of the end of the school terms: the first semester before the
#: winter holidays, the school year at the end of May
TERM_ENDS = ((12, 20), (5, 31))
#: a term review is at least this many days after the start
TERM_MIN_DAYS = 42
#: reason columns passed through from the pupils table
N_REASONS = 3
REASON_COLUMNS = tuple(f"reason_{i}_{lang}" for lang in ("lv", "en")
                       for i in range(1, N_REASONS + 1))


def term_end_after(day: pd.Timestamp) -> pd.Timestamp:
    """The first term end on or after ``day``.

    Examples
    --------
    >>> import pandas as pd
    >>> from riskmodel.allocation._plans import term_end_after
    >>> str(term_end_after(pd.Timestamp("2025-10-01")).date())
    '2025-12-20'
    >>> str(term_end_after(pd.Timestamp("2026-06-01")).date())
    '2026-12-20'
    """
    options = [pd.Timestamp(year=day.year + dy, month=m, day=d)
               for dy in (0, 1) for m, d in TERM_ENDS]
    return min(t for t in options if t >= day)


def review_dates(kinds: np.ndarray, start: np.ndarray, as_of: pd.Timestamp | None,
                 review: dict) -> np.ndarray:
    """Next planned review of each plan: the first review point on or after ``as_of``.

    Review points of a kind reviewed every ``d`` days are ``start + d, start +
    2d, ...``; of a kind reviewed at the term's end, the term ends at least
    ``TERM_MIN_DAYS`` after the start and then every later term end.
    """
    out = np.full(len(kinds), np.datetime64("NaT"), dtype="datetime64[ns]")
    if as_of is None or len(kinds) == 0:
        return out
    start = pd.to_datetime(start).to_numpy(dtype="datetime64[ns]")
    cut = np.datetime64(as_of.as_unit("ns").to_datetime64(), "ns")
    for kind in np.unique(kinds):
        m = kinds == kind
        rule = review[kind]
        s = start[m]
        if rule == "term":
            starts, inv = np.unique(s, return_inverse=True)  # few distinct start dates
            due = []
            for x in starts:
                first = term_end_after(pd.Timestamp(x) + pd.Timedelta(days=TERM_MIN_DAYS))
                due.append(term_end_after(max(first, pd.Timestamp(cut))))
            out[m] = np.array(due, dtype="datetime64[ns]")[inv]
        else:
            step = np.timedelta64(int(rule), "D").astype("timedelta64[ns]")
            elapsed = np.maximum((cut - s) / step, 0.0)
            k = np.maximum(np.ceil(elapsed), 1).astype(np.int64)
            out[m] = s + k * step
    return out


def goal_domains(pr: Problem, p: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The pupil's leading risk-raising domain that the resource serves.

    A specialist serves its specialty: the goal is the specialty when the
    pupil's contribution there is positive. A resource without a specialty
    serves every domain. Otherwise (a specialist whose domain raises nothing for
    this pupil) the goal is the pupil's leading risk-raising domain. None when
    nothing raises the pupil's risk (or there are no domain columns).
    """
    pup = pr.pupils
    present = [d for d in DOMAINS if d in pup.columns]
    out = np.full(len(p), None, dtype=object)
    if not present or len(p) == 0:
        return out
    contrib = np.zeros((len(p), len(DOMAINS)))
    for k, d in enumerate(DOMAINS):
        if d in pup.columns:
            contrib[:, k] = pup[d].to_numpy(dtype="float64")[p]
    pos = np.clip(contrib, 0.0, None)
    lead = np.argmax(pos, axis=1)
    has = pos.max(axis=1) > 0
    spec = pr.r_spec[r]
    specialist = spec != NEUTRAL
    spec_pos = np.zeros(len(p), dtype=bool)
    spec_pos[specialist] = pos[np.flatnonzero(specialist), spec[specialist]] > 0
    goal = np.where(specialist & spec_pos, spec, lead)
    names = np.asarray(DOMAINS, dtype=object)
    out[has] = names[goal[has]]
    return out


def plan_columns(pr: Problem, e, continuing: np.ndarray, start: np.ndarray,
                 change_reason: np.ndarray, as_of: pd.Timestamp | None) -> dict:
    """The plan columns of the assignments ``e`` (in the same order)."""
    kinds = np.asarray(KINDS, dtype=object)[pr.r_kind[e.r]].astype(str)
    start = np.asarray(start, dtype="datetime64[ns]").copy()
    if as_of is not None:
        start[~continuing] = np.datetime64(as_of.as_unit("ns").to_datetime64(), "ns")
    cols = {
        "change": np.where(continuing, "continuing", "new").astype(object),
        "change_reason": np.asarray(change_reason, dtype=object),
        "start_date": start,
        "review_date": review_dates(kinds, start, as_of, pr.rules.review),
        "goal_domain": goal_domains(pr, e.p, e.r),
    }
    for c in REASON_COLUMNS:
        if c in pr.pupils.columns:
            vals = pr.pupils[c].take(e.p).astype(object).to_numpy()  # the assigned only
            cols[c] = np.array([None if v is None or (isinstance(v, float) and np.isnan(v))
                                else str(v) for v in vals], dtype=object)
    return cols

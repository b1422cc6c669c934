"""School- and municipality-level context features (private)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._columns import table_present
from .._enrolments import LIECIBA_CODE, OPEN_DAY, leaving_mask
from ._common import ratio

#: look-back of the early-leaving rates (the '3y' in their names)
CONTEXT_YEARS = 3


def prepare(tables, config, enrolments):
    urban = np.full(len(enrolments.school_ids), np.nan)
    if table_present(tables, "schools") and "urban" in tables.schools.columns:
        sch = tables.schools
        m = pd.Series(
            sch["urban"].astype("float64").to_numpy(), index=sch["school_id"].astype("str")
        )
        m = m[~m.index.duplicated()]
        urban = m.reindex(enrolments.school_ids.astype("str")).to_numpy(dtype=np.float64)
    return {"urban": urban}


def leaving_flags(records, as_day: int, config) -> tuple[np.ndarray, np.ndarray]:
    """Per enrolment of ``records`` (a known view): settled early leaving within the
    look-back, and exposed (open, or ended within the look-back). Summed by school and
    municipality these give the leaving rates; :mod:`riskmodel.spark` sums them over
    the whole system."""
    enr = records
    a = as_day
    lo = a - 365 * CONTEXT_YEARS
    flags = leaving_mask(
        enr,
        emigration_is_leaving=config.emigration_is_leaving,
        grace_days=config.reenrolment_grace_days,
        lieciba_grace_days=config.lieciba_grace_days,
    )
    liec = (enr.reason == LIECIBA_CODE) & (enr.grade == 9)
    grace = np.where(liec, config.lieciba_grace_days, config.reenrolment_grace_days)
    ended = enr.end != OPEN_DAY
    settled = ended & (enr.end + grace < a) & (enr.end >= lo)
    leavers = flags & settled
    exposed = (enr.end == OPEN_DAY) | (enr.end >= lo)
    return leavers, exposed


def _leaving_rates(ctx, config):
    """Share of enrolments at each school/municipality, overlapping the look-back,
    that ended in early leaving; only outcomes already settled before as_of.
    Computed from the records only (not the planned enrolments of a summer date)."""
    enr = ctx.records
    leavers, exposed = leaving_flags(enr, ctx.as_day, config)
    n_s, n_m = len(enr.school_ids), len(enr.municipality_ids)
    school_rate = ratio(
        np.bincount(enr.school[leavers], minlength=n_s),
        np.bincount(enr.school[exposed], minlength=n_s),
    )
    muni_rate = ratio(
        np.bincount(enr.municipality[leavers], minlength=n_m),
        np.bincount(enr.municipality[exposed], minlength=n_m),
    )
    return school_rate, muni_rate


def compute(prep, ctx, config, results) -> dict[str, np.ndarray]:
    enr = ctx.enr
    cur = ctx.cur
    out: dict[str, np.ndarray] = {}
    all_cur = ctx.all_cur
    n_s = len(enr.school_ids)
    school_all = enr.school[all_cur]
    school = enr.school[cur]
    size = np.bincount(school_all, minlength=n_s)
    if "_att90_all" in results:
        pupils = enr.pupil[all_cur]
        att = results["_att90_all"][pupils].astype(np.float64)
        tot = results["_tot90_all"][pupils].astype(np.float64)
        rate = ratio(
            np.bincount(school_all, weights=att, minlength=n_s),
            np.bincount(school_all, weights=tot, minlength=n_s),
        )
        out["school_attendance_rate_90d"] = rate[school]
    else:
        out["school_attendance_rate_90d"] = np.full(len(cur), np.nan)
    school_rate, muni_rate = _leaving_rates(ctx, config)
    out["school_leaving_rate_3y"] = school_rate[school]
    out["municipality_leaving_rate_3y"] = muni_rate[enr.municipality[cur]]
    out["school_enrolled_pupils"] = size[school].astype(np.float64)
    out["school_urban"] = prep["urban"][school]
    return out

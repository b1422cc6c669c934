"""Target-trial rows of the benefit model (private).

At each decision date ``as_of`` a trial is emulated:

- **rows**: the pupils of :func:`riskmodel.build_features` on ``as_of`` (the
  point-in-time cohort), with their features from
  :func:`riskmodel.build_feature_panel`; no record dated on or after ``as_of``
  reaches them;
- **treatment** of kind ``k``: support of kind ``k`` that starts within
  ``window_days`` after the decision, ``as_of <= start_date < as_of + window_days``
  (a support starting later is not treatment, even if it starts within the horizon);
- **outcome**: early leaving within ``horizon_days`` (:func:`riskmodel.make_labels`);
- **ongoing support, handled explicitly**: a pupil whose support of kind ``k``
  started before ``as_of`` and had not ended before ``as_of`` cannot start it, so
  the row is *out of arm k* (``in_arm`` is False); support of the other kinds, ongoing at
  ``as_of``, is a pre-decision covariate (``ongoing_<kind>``) of the nuisance models;
- **eligibility** by the programme's rules (:class:`riskmodel.allocation.Eligibility`,
  the rules the synthetic referrals also follow): mentor from age 13 on ``as_of``,
  literacy in grades 1-3, subject consultation after a grade-9 liecība (before
  ``as_of``), support staff for everyone. The risk-group condition of the
  allocation rules is *not* applied: past referrals did not follow the model's
  risk, and the effect of support outside the risk group is part of what is
  learnt. Ineligible rows are out of that arm.

Dates whose outcome window is not yet observed in the data are left out with a
logged warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._checks import parse_as_of

logger = logging.getLogger(__name__)

__all__ = ["SIM_KINDS", "Trial", "target_trial"]

#: the kinds of support the benefit model learns (those with a history in the tables)
SIM_KINDS = ("mentor", "literacy", "subject", "support_staff")


@dataclass
class Trial:
    """The stacked trial rows of several decision dates.

    Attributes
    ----------
    X : DataFrame
        Features, MultiIndex ``(as_of, pupil_id)``.
    ongoing : DataFrame
        ``ongoing_<kind>`` 0/1, support of that kind ongoing at ``as_of``.
    treated, in_arm : DataFrame
        Per kind: 1 when treated (support started in the window); True when the
        row belongs to that arm's analysis (eligible and not already supported).
    y : numpy.ndarray
        0/1 early leaving within the horizon.
    school : numpy.ndarray
        School of the pupil's enrolment on ``as_of`` (the cluster for folds and
        bootstraps).
    """

    X: pd.DataFrame
    ongoing: pd.DataFrame
    treated: pd.DataFrame
    in_arm: pd.DataFrame
    y: np.ndarray
    school: np.ndarray


def _age_at_least(birth: pd.Series, day: pd.Timestamp, years: float) -> np.ndarray:
    """Pupils who have turned ``years`` (whole years, birthday counted) by ``day``."""
    b = pd.to_datetime(birth)
    before = (b.dt.month > day.month) | ((b.dt.month == day.month) & (b.dt.day > day.day))
    age = day.year - b.dt.year - before.astype(int)
    return (age >= years).to_numpy() & b.notna().to_numpy()


def _school_at(enrol: pd.DataFrame, day: pd.Timestamp, pupils: pd.Index) -> np.ndarray:
    """School of each pupil's latest enrolment started before ``day``."""
    e = enrol[enrol["start_date"] < day]
    last = e.drop_duplicates("pupil_id", keep="last").set_index("pupil_id")["school_id"]
    return last.reindex(pupils).astype(object).fillna("?").to_numpy(dtype=object)


def _rule_mask(rule, kind, day, X, birth) -> np.ndarray:
    ok = np.ones(len(X), dtype=bool)
    if rule.min_age is not None:
        ok &= _age_at_least(birth, day, rule.min_age)
    if rule.grades is not None:
        ok &= np.isin(X["grade_level"].to_numpy(), rule.grades)
    if rule.requires_liecība:
        ok &= X["finished_grade9_lieciba"].to_numpy() == 1
    return ok


def target_trial(tables, as_of_dates, *, kinds=SIM_KINDS, window_days=30, horizon_days=365,
                 eligibility=None) -> Trial:
    """Trial rows of every decision date in ``as_of_dates`` (see the module docstring).

    Examples
    --------
    >>> import riskmodel as rm
    >>> from riskmodel.benefit._trial import target_trial
    >>> world = rm.datasets.make_school_system(n_pupils=300, n_years=2, random_state=0)
    >>> trial = target_trial(world.tables, ["2022-10-03"])
    >>> trial.X.loc["2022-10-03"].equals(rm.build_features(world.tables, "2022-10-03"))
    True
    >>> list(trial.treated.columns)
    ['mentor', 'literacy', 'subject', 'support_staff']
    """
    from ..allocation._rules import Eligibility
    from ..features import build_feature_panel
    from ..labels import make_labels

    rules = Eligibility() if eligibility is None else eligibility
    dates = [parse_as_of(d, "BenefitModel.fit", "as_of_dates") for d in as_of_dates]
    window = pd.Timedelta(days=int(window_days))
    observed, labels = [], []
    for d in dates:
        y = make_labels(tables, d, horizon_days=horizon_days)
        if len(y) == 0:
            logger.warning("as_of %s left out of the benefit trial: its %d-day outcome window "
                           "is not yet observed in the data", d.date(), horizon_days)
            continue
        observed.append(d)
        labels.append(y)
    if not observed:
        raise ValueError("No as_of date in 'as_of_dates' has an observed outcome window of "
                         f"horizon_days={horizon_days}; choose earlier dates.")
    panel = build_feature_panel(tables, observed)
    sup = tables.support
    sup_kind = sup["kind"].astype(str).to_numpy()
    start = sup["start_date"].to_numpy()
    end = sup["end_date"].to_numpy()
    pupil = sup["pupil_id"].astype(str).to_numpy()
    birth = tables.pupils.set_index(tables.pupils["pupil_id"].astype(str))["birth_date"]
    enrol = tables.enrolments.sort_values("start_date", kind="stable").assign(
        pupil_id=lambda e: e["pupil_id"].astype(str),
        school_id=lambda e: e["school_id"].astype(str))
    parts = {"ongoing": [], "treated": [], "in_arm": [], "y": [], "school": []}
    index_dates = panel.index.get_level_values("as_of")
    for d, y in zip(observed, labels, strict=True):
        X = panel[index_dates == d].droplevel("as_of")
        ids = X.index.astype(str)
        if not y.index.astype(str).equals(ids):
            y = y.reindex(X.index)
        d64 = np.datetime64(d)
        ongoing = {}
        treated = {}
        in_arm = {}
        b = birth.reindex(ids)
        for k in kinds:
            mine = sup_kind == k
            on = mine & (start < d64) & ~(end < d64)  # NaT end: still ongoing
            new = mine & (start >= d64) & (start < np.datetime64(d + window))
            ongoing[k] = np.isin(ids, pupil[on])
            treated[k] = np.isin(ids, pupil[new]) & ~ongoing[k]
            in_arm[k] = _rule_mask(getattr(rules, k), k, d, X, b) & ~ongoing[k]
        parts["ongoing"].append(pd.DataFrame(
            {f"ongoing_{k}": v.astype(np.float64) for k, v in ongoing.items()}))
        parts["treated"].append(pd.DataFrame({k: v.astype(np.int8) for k, v in treated.items()}))
        parts["in_arm"].append(pd.DataFrame(in_arm))
        parts["y"].append(y.to_numpy(dtype=np.float64))
        parts["school"].append(_school_at(enrol, d, ids))
    index = panel.index
    frames = {name: pd.concat(parts[name], ignore_index=True).set_axis(index)
              for name in ("ongoing", "treated", "in_arm")}
    return Trial(panel, frames["ongoing"], frames["treated"], frames["in_arm"],
                 np.concatenate(parts["y"]), np.concatenate(parts["school"]))

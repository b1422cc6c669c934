"""Outcome labels at a horizon: early leaving, liecība, grade repetition.

:func:`make_labels` looks only at what happens *after* ``as_of`` (enrolment
ends, new enrolments); who is labelled is decided by the records before
``as_of``, exactly as in :func:`riskmodel.build_features`: the pupils enrolled on
``as_of`` and, on a summer date, the pupils waiting to continue after completing
a grade, in the grade they will enter (see :mod:`riskmodel._enrolments` and
``docs/data_contract.md``, "Scoring before the school year").

Definitions:

``"early_leaving"`` (default)
    One of the pupil's enrolments ends within ``[as_of, as_of + horizon_days]``
    (an end on ``as_of`` itself is not yet known on ``as_of``)
    with reason ``left``, ``expelled`` or ``other`` (``emigrated`` too when
    ``LabelConfig.emigration_is_leaving``; off by default because emigration is
    a move the school cannot act on, and a pupil abroad is not out of school) and
    the pupil is not enrolled again anywhere within ``reenrolment_grace_days``
    (30) after the end; or ends grade 9 with ``completed_liecība`` and is not
    enrolled again within ``lieciba_grace_days`` (120, to bridge the summer).
    A ``transferred`` end is never leaving.

    For a pupil of a summer cohort the same events count (the ends of the
    enrolments that follow in September and later), and one more: when the
    pupil waits to continue from a grade-9 ``completed_liecība`` (ended before
    ``as_of``), not being enrolled again within ``lieciba_grace_days`` of it is
    early leaving, as it is for a pupil labelled before the liecība. Not turning
    up after any other completed grade is *not* early leaving, as during the
    school year: only a recorded leaving end counts, and a completion followed by
    no new enrolment may be a move abroad or to a school outside the records.
``"liecība"``
    The pupil finishes grade 9 with ``completed_liecība`` within the horizon.
``"repetition"``
    The pupil is enrolled in the next school year (an enrolment with
    ``school_year`` one more than the current one, starting within the
    horizon) in the same or a lower grade.  For a summer cohort pupil the
    reference is the completed enrolment: enrolled in the school year after it
    in the completed grade or a lower one (a grade-9 liecība pupil who repeats
    grade 9, as the cohort expects, is a repetition).

Pupils whose outcome window is not yet observed are left out (not labelled 0):
when ``as_of + horizon_days`` (plus the 30-day re-enrolment grace period for
early leaving) lies after the last date recorded in the tables (or
``LabelConfig.observed_until``), the result is empty and a warning is logged.
A pupil whose grade-9 liecība falls so close to the end of the records that a
new enrolment within ``lieciba_grace_days`` could still come is left out too.
"""

from __future__ import annotations

import logging
from datetime import date

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from . import vocab
from .config import StrictModel, load_config
from ._checks import InvalidParameterError, check_int, check_option, parse_as_of
from ._columns import NAT_DAY, check_tables, table_present, to_day, ts_day
from ._enrolments import (
    LIECIBA_CODE,
    OPEN_DAY,
    Enrolments,
    cohort_at,
    continuing,
    leaving_codes,
)

__all__ = ["make_labels", "LabelConfig", "OUTCOMES"]

logger = logging.getLogger(__name__)

OUTCOMES = ("early_leaving", "liecība", "repetition")
_ALIASES = {"lieciba": "liecība"}


class LabelConfig(StrictModel):
    """Options of :func:`make_labels` (YAML keys of the same names).

    Parameters
    ----------
    min_grade, max_grade : int, default 1 and 12
        Only pupils whose current enrolment is in this grade range are labelled
        (keep equal to :class:`riskmodel.features.FeatureConfig`).
    emigration_is_leaving : bool, default False
        Count ``emigrated`` as early leaving.
    reenrolment_grace_days : int, default 30
        A leaving followed by a new enrolment within this many days is not leaving
        (a transfer or re-enrolment).
    lieciba_grace_days : int, default 120
        The same for a grade-9 liecība (the summer break lies in between).
    observed_until : date or None
        Last date the records are complete for; default: the last date in the tables.

    Examples
    --------
    >>> from riskmodel.labels import LabelConfig
    >>> LabelConfig(emigration_is_leaving=True).reenrolment_grace_days
    30
    """

    min_grade: int = Field(vocab.MIN_GRADE_LEVEL, ge=vocab.MIN_GRADE_LEVEL, le=vocab.MAX_GRADE_LEVEL)
    max_grade: int = Field(vocab.MAX_GRADE_LEVEL, ge=vocab.MIN_GRADE_LEVEL, le=vocab.MAX_GRADE_LEVEL)
    emigration_is_leaving: bool = False
    reenrolment_grace_days: int = Field(30, ge=0, le=366)
    lieciba_grace_days: int = Field(120, ge=0, le=366)
    observed_until: date | None = None

    @model_validator(mode="after")
    def _check(self):
        if self.min_grade > self.max_grade:
            raise ValueError(
                f"min_grade ({self.min_grade}) must not exceed max_grade ({self.max_grade})"
            )
        return self


def _last_recorded_day(tables) -> int | None:
    """The latest date in any table (enrolment starts/ends, event dates)."""
    from ._school_tables import _date_range

    last = None

    def upd(values):
        nonlocal last
        arr = np.asarray(values)
        if arr.dtype.kind != "M":
            arr = pd.to_datetime(pd.Series(values)).to_numpy()
        span = _date_range(arr)  # on the int64 view: no day array, no mask
        if span is not None:
            m = int(to_day(span[1:])[0])
            last = m if last is None else max(last, m)

    enr = tables.enrolments
    upd(enr["start_date"])
    if "end_date" in enr.columns:
        upd(enr["end_date"])
    for name in ("attendance", "grades", "engagement"):
        if table_present(tables, name):
            upd(getattr(tables, name)["date"])
    if table_present(tables, "support"):
        upd(tables.support["start_date"])
        if "end_date" in tables.support.columns:
            upd(tables.support["end_date"])
    return last


def _observed_until(tables, cfg: LabelConfig) -> int | None:
    """The last observed day: ``cfg.observed_until`` or the data's last date."""
    if cfg.observed_until is not None:
        return ts_day(pd.Timestamp(cfg.observed_until))
    return _last_recorded_day(tables)


def _outcome_window(tables, as_of, horizon_days: int, outcome: str = "early_leaving",
                    cfg: LabelConfig | None = None) -> tuple[int, int | None, bool]:
    """``(day the outcome window of as_of needs, last observed day, closed?)``.

    An open window (it reaches past the data) gives no labels.  Callers that expect
    one (the monitor's reference cohort) ask this first, instead of hearing
    :func:`make_labels`' warning."""
    cfg = LabelConfig() if cfg is None else cfg
    observed = _observed_until(tables, cfg)
    need = (ts_day(pd.Timestamp(as_of)) + horizon_days
            + (cfg.reenrolment_grace_days if outcome == "early_leaving" else 0))
    return need, observed, observed is not None and need <= observed


def make_labels(
    tables, as_of, horizon_days: int = 365, outcome: str = "early_leaving", config=None
) -> pd.Series:
    """Outcome labels (0/1) for the pupils enrolled on ``as_of`` (on a summer date:
    also those expected to continue, as in :func:`riskmodel.build_features`).

    Parameters
    ----------
    tables : riskmodel.SchoolTables
    as_of : str, datetime.date or pandas.Timestamp
        The prediction date; the outcome window is ``[as_of, as_of + horizon_days]``
        (enrolment ends dated ``as_of`` are not known on ``as_of``).
    horizon_days : int, default 365
        Length of the outcome window in days.
    outcome : {"early_leaving", "liecība", "repetition"}, default "early_leaving"
        See the module docstring for the definitions.
    config : LabelConfig, dict, path or None

    Returns
    -------
    pandas.Series
        int8 0/1 named ``outcome``, indexed by ``pupil_id`` (the pupils of
        :func:`riskmodel.build_features` with the same grade range, in the same
        order).  Empty when the window is not yet observed in the data.

    Raises
    ------
    sklearn.utils._param_validation.InvalidParameterError
        For a bad parameter (both a ``ValueError`` and a ``TypeError``, worded as in
        scikit-learn).
    ValueError
        When no pupil is enrolled on ``as_of`` nor waiting to continue.

    Examples
    --------
    >>> import riskmodel as rm
    >>> world = rm.datasets.make_school_system(n_pupils=300, n_years=3, random_state=0)
    >>> y = rm.make_labels(world.tables, "2023-10-02", horizon_days=365)
    >>> y.name, str(y.dtype), set(y.unique()) <= {0, 1}
    ('early_leaving', 'int8', True)
    >>> y.index.equals(rm.build_features(world.tables, "2023-10-02").index)
    True
    """
    func = "make_labels"
    horizon = check_int(horizon_days, "horizon_days", func, min_value=1)
    outcome = _ALIASES.get(check_option(outcome, "outcome", (*OUTCOMES, *_ALIASES), func),
                           outcome)
    ts = parse_as_of(as_of, func)
    check_tables(tables, func)
    if config is not None and not isinstance(config, (LabelConfig, dict, str)) and not hasattr(
        config, "__fspath__"
    ):
        raise InvalidParameterError(
            "The 'config' parameter of make_labels must be a LabelConfig, a mapping, a path "
            f"or None. Got {type(config).__name__} instead."
        )
    cfg = load_config(LabelConfig, config)
    a = ts_day(ts)

    enr = Enrolments.from_tables(tables)
    cohort = cohort_at(enr, a)  # the same pupils as build_features
    view, all_cur = cohort.view, cohort.rows
    if len(all_cur) == 0:
        raise ValueError(
            f"No pupil is enrolled on as_of={ts.date()}, nor waiting to continue after "
            "completing a grade; choose an as_of inside the enrolment period or in the "
            "summer after a school year."
        )
    g = view.grade[all_cur]
    sel = (g >= cfg.min_grade) & (g <= cfg.max_grade)
    cur, planned, source = all_cur[sel], cohort.planned[sel], cohort.source[sel]
    rows = view.pupil[cur]
    ids = tables.pupils["pupil_id"].astype("str").to_numpy()
    index = pd.Index(ids[rows], name="pupil_id", dtype="str")

    need, observed, closed = _outcome_window(tables, ts, horizon, outcome, cfg)
    if not closed:
        logger.warning(
            "make_labels: the %s window of as_of=%s (%d days%s) reaches %s, after the last "
            "observed date %s; returning no labels.",
            outcome,
            ts.date(),
            horizon,
            " plus the re-enrolment grace period" if outcome == "early_leaving" else "",
            np.datetime64(need, "D"),
            None if observed is None else np.datetime64(observed, "D"),
        )
        return pd.Series(
            np.zeros(0, dtype=np.int8),
            index=pd.Index([], name="pupil_id", dtype="str"),
            name=outcome,
        )

    unknown = np.zeros(0, dtype=np.int64)
    rec = cohort.records
    if outcome == "early_leaving":
        # a summer cohort pupil whose grade-9 liecība ended before as_of: whether
        # they continue is decided after it (within lieciba_grace_days)
        src = source[planned]
        pend = src[(rec.reason[src] == LIECIBA_CODE) & (rec.grade[src] == 9)]
        pending_end = np.full(enr.n_pupils, NAT_DAY, dtype=np.int64)
        pending_end[rec.pupil[pend]] = rec.end[pend]
        pos, unknown = _early_leavers(enr, a, a + horizon, cfg, observed, pending_end)
    elif outcome == "liecība":
        pos = enr.pupil[_liecibas(enr, a, a + horizon)]
    else:
        # the reference enrolment: the current one, or the completed one a planned
        # (summer) enrolment follows
        ref_year = np.where(planned, rec.school_year[source], view.school_year[cur])
        ref_grade = np.where(planned, rec.grade[source], view.grade[cur])
        pos = _repeaters(enr, rows, ref_year, ref_grade, a + horizon)
    flag = np.zeros(enr.n_pupils, dtype=bool)
    flag[pos] = True
    y = pd.Series(flag[rows].astype(np.int8), index=index, name=outcome)
    if len(unknown):
        left_out = np.zeros(enr.n_pupils, dtype=bool)
        left_out[unknown] = True
        left_out[pos] = False  # a confirmed leaving elsewhere in the window decides
        drop = left_out[rows]
        if drop.any():
            logger.warning(
                "make_labels: %d pupils left out: their grade-9 liecība at the end of the "
                "records may still be followed by a new enrolment.",
                int(drop.sum()),
            )
            y = y[~drop]
    return y


def _ends_in_window(enr: Enrolments, a: int, hi: int) -> np.ndarray:
    """Enrolments ending within ``[a, hi]``; an end on ``a`` itself is not known on ``a``."""
    return (enr.end != OPEN_DAY) & (enr.end >= a) & (enr.end <= hi)


def _liecibas(enr: Enrolments, a: int, hi: int) -> np.ndarray:
    """Enrolments finishing grade 9 with a liecība within ``[a, hi]`` (boolean mask)."""
    return _ends_in_window(enr, a, hi) & (enr.reason == LIECIBA_CODE) & (enr.grade == 9)


def _early_leavers(enr: Enrolments, a: int, hi: int, cfg: LabelConfig, observed: int,
                   pending_end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pupil rows that leave early within ``[a, hi]``, and those whose outcome is unknown.

    A leaving end (or a grade-9 liecība) counts when the pupil is not enrolled again
    within the grace period; a liecība so close to ``observed`` that the grace
    period is not over yet leaves the pupil's outcome unknown.  ``pending_end``
    (per pupil row, ``NAT_DAY`` for none) is the end day of a grade-9 liecība
    before ``a`` that a summer cohort pupil is waiting to continue from: it is a
    candidate too.
    """
    leave = _ends_in_window(enr, a, hi) & np.isin(enr.reason, leaving_codes(cfg.emigration_is_leaving))
    pending = (enr.reason == LIECIBA_CODE) & (enr.grade == 9) & (enr.end == pending_end[enr.pupil])
    liec = _liecibas(enr, a, hi) | pending
    cand = np.flatnonzero(leave | liec)
    grace = np.where(liec[cand], cfg.lieciba_grace_days, cfg.reenrolment_grace_days)
    cont = continuing(enr, cand, grace.astype(np.int64))
    hit, grace = cand[~cont], grace[~cont]
    decided = enr.end[hit] + grace <= observed
    return enr.pupil[hit[decided]], enr.pupil[hit[~decided]]


def _repeaters(enr: Enrolments, rows: np.ndarray, ref_year: np.ndarray, ref_grade: np.ndarray,
               hi: int) -> np.ndarray:
    """Pupil rows enrolled in the school year after ``ref_year`` (starting by ``hi``) in
    ``ref_grade`` or a lower grade."""
    year = np.full(enr.n_pupils, -10**6, dtype=np.int64)
    grade = np.zeros(enr.n_pupils, dtype=np.int64)
    year[rows] = ref_year
    grade[rows] = ref_grade
    nxt = (
        (enr.school_year == year[enr.pupil] + 1)
        & (enr.start <= hi)
        & (enr.grade <= grade[enr.pupil])
    )
    return enr.pupil[nxt]

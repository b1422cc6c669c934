"""Regime changes of the synthetic school system (private; ``make_school_system(regime_changes=)``).

Four kinds, each a frozen dataclass (or a dict ``{"kind": ..., "year": ..., ...}``):

- :class:`GradingReform` -- from school year ``year`` on, every numeric grade is
  *recorded* on another scale: ``clip(round(center + compress * (g - center) +
  shift), 1, 10)``. The pupils' latent state, the year-end decisions (promotion,
  repetition, the grade-9 certificate or *liecība*, which keep the old standard)
  and therefore the truth are unchanged: only what a grade in the records means moves.
- :class:`EngagementOutage` -- the family-engagement records (e-journal logins,
  messages, meetings) of pupils in some municipalities stop for some months of
  school year ``year``. The latent state and the truth are unchanged.
- :class:`RemoteYear` -- during school year ``year`` attendance means something
  else: a share of the lesson days a pupil attended (present or late) is recorded
  as an excused absence (remote lessons). The latent engagement and the truth are
  unchanged.
- :class:`OutcomeShift` -- from school year ``year`` on, the base rate of early
  leaving moves: the monthly hazard and the odds of leaving after a grade-9
  *liecība* (rather than repeating grade 9) are both multiplied by
  ``exp(log_hazard_shift)`` (a new bridging year, say, with a negative shift). This
  moves the outcome itself: the simulation and the oracle's ``truth.p_leave`` use
  the same shifted parameters (the oracle's 365-day look-ahead knows the hazard
  shift of the next school year), so the truth stays exact.

The record-level kinds are applied to finished tables (:func:`apply_record_regimes`),
so :func:`riskmodel.datasets.apply_regime_changes` can apply them to an existing
system; ``outcome_shift`` changes the simulation and needs ``make_school_system``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._checks import InvalidParameterError, check_int, check_real

__all__ = ["EngagementOutage", "GradingReform", "OutcomeShift", "REGIME_KINDS", "RemoteYear",
           "apply_record_regimes", "apply_regime_changes", "hazard_shifts", "validate_regimes"]

#: calendar months of a school year (September to May)
SCHOOL_MONTHS = (9, 10, 11, 12, 1, 2, 3, 4, 5)


@dataclass(frozen=True)
class GradingReform:
    """Grades recorded on a shifted or compressed scale from school year ``year`` on.

    Parameters
    ----------
    year : int
        First school year of the reform (2025 = 2025/26).
    shift : float, default=1.0
        Added to every numeric grade (positive: more lenient marking).
    compress : float, default=0.6
        Factor towards ``center`` (1: no compression).
    center : float, default=6.0

    Examples
    --------
    >>> GradingReform(2025).recorded(np.array([2, 4, 6, 9]))
    array([5, 6, 7, 9])
    """

    year: int
    shift: float = 1.0
    compress: float = 0.6
    center: float = 6.0
    kind = "grading_reform"

    def recorded(self, grade: np.ndarray) -> np.ndarray:
        """The grade recorded under the reform (numeric grades 1-10)."""
        g = self.center + self.compress * (np.asarray(grade, dtype="float64") - self.center)
        return np.clip(np.round(g + self.shift), 1, 10).astype(np.int64)


@dataclass(frozen=True)
class EngagementOutage:
    """No engagement records in some municipalities for some months of school year ``year``.

    Parameters
    ----------
    year : int
        School year of the outage.
    months : tuple of int, default=(9, 10, 11, 12)
        Calendar months of that school year without records (September to May).
    share : float, default=0.5
        Share of the municipalities hit (drawn from the system's ``random_state``),
        unless ``municipalities`` is given.
    municipalities : tuple of str or None
        The municipalities hit (``schools.municipality_id``).
    """

    year: int
    months: tuple = (9, 10, 11, 12)
    share: float = 0.5
    municipalities: tuple | None = None
    kind = "engagement_outage"


@dataclass(frozen=True)
class RemoteYear:
    """School year ``year`` partly remote: attended days recorded as excused absences.

    Parameters
    ----------
    year : int
    excused_share : float, default=0.15
        Share of the attended (present or late) lesson days recorded as
        ``absent_excused``.
    """

    year: int
    excused_share: float = 0.15
    kind = "remote_year"


@dataclass(frozen=True)
class OutcomeShift:
    """The hazard of early leaving moves from school year ``year`` on.

    Parameters
    ----------
    year : int
    log_hazard_shift : float, default=0.7
        Added to the monthly log-hazard of early leaving and to the log-odds of
        leaving after a liecība (0.7 about doubles both; negative: fewer leavers,
        e.g. a new bridging year).
    """

    year: int
    log_hazard_shift: float = 0.7
    kind = "outcome_shift"


_CLASSES = {c.kind: c for c in (GradingReform, EngagementOutage, RemoteYear, OutcomeShift)}
#: the kinds of regime change
REGIME_KINDS = tuple(_CLASSES)
_RECORD_KINDS = ("grading_reform", "engagement_outage", "remote_year")


def _one(item, start_year, n_years, func, i):
    where = f"regime_changes[{i}]"
    if isinstance(item, tuple(_CLASSES.values())):
        reg = item
    elif isinstance(item, dict):
        d = dict(item)
        kind = d.pop("kind", None)
        if kind not in _CLASSES:
            raise InvalidParameterError(
                f"The {where} parameter of {func} has an unknown kind {kind!r}; 'kind' must be "
                f"one of {list(REGIME_KINDS)}.")
        fields = {f.name for f in dataclasses.fields(_CLASSES[kind])}
        unknown = sorted(set(d) - fields)
        if unknown or "year" not in d:
            raise InvalidParameterError(
                f"The {where} parameter of {func} ({kind}) "
                + (f"has unknown keys {unknown}" if unknown else "lacks the key 'year'")
                + f"; its keys are 'kind' and {sorted(fields)}.")
        if isinstance(d.get("months"), list):
            d["months"] = tuple(d["months"])
        if isinstance(d.get("municipalities"), list):
            d["municipalities"] = tuple(d["municipalities"])
        reg = _CLASSES[kind](**d)
    else:
        raise InvalidParameterError(
            f"The {where} parameter of {func} must be a dict with a 'kind' (one of "
            f"{list(REGIME_KINDS)}) or one of GradingReform, EngagementOutage, RemoteYear, "
            f"OutcomeShift. Got {item!r} instead.")
    if n_years <= 1:
        raise InvalidParameterError(
            f"The {where} parameter of {func} needs a school year before the change: n_years "
            f"must be at least 2 (got {n_years}).")
    check_int(reg.year, f"{where}.year", func, min_value=start_year + 1,
              max_value=start_year + n_years - 1)
    if isinstance(reg, GradingReform):
        check_real(reg.shift, f"{where}.shift", func, low=-5, high=5)
        check_real(reg.compress, f"{where}.compress", func, low=0, high=2, closed="right")
        check_real(reg.center, f"{where}.center", func, low=1, high=10)
    elif isinstance(reg, EngagementOutage):
        bad = [m for m in reg.months if m not in SCHOOL_MONTHS]
        if not reg.months or bad:
            raise InvalidParameterError(
                f"The {where}.months parameter of {func} must be calendar months of a school "
                f"year {list(SCHOOL_MONTHS)}. Got {reg.months!r} instead.")
        check_real(reg.share, f"{where}.share", func, low=0, high=1, closed="right")
    elif isinstance(reg, RemoteYear):
        check_real(reg.excused_share, f"{where}.excused_share", func, low=0, high=1,
                   closed="right")
    else:
        check_real(reg.log_hazard_shift, f"{where}.log_hazard_shift", func, low=-5, high=5)
    return reg


def validate_regimes(regime_changes, start_year: int, n_years: int,
                     func: str = "make_school_system") -> tuple:
    """The regime changes as dataclasses (checked), or an InvalidParameterError naming the option.

    Examples
    --------
    >>> validate_regimes([{"kind": "remote_year", "year": 2023}], 2022, 3)
    (RemoteYear(year=2023, excused_share=0.15),)
    >>> try:
    ...     validate_regimes([{"kind": "strike", "year": 2023}], 2022, 3)
    ... except ValueError as err:
    ...     print(str(err)[-87:])
    must be one of ['grading_reform', 'engagement_outage', 'remote_year', 'outcome_shift'].
    """
    if regime_changes is None:
        return ()
    if isinstance(regime_changes, (dict, *_CLASSES.values())):
        regime_changes = [regime_changes]
    if not isinstance(regime_changes, (list, tuple)):
        raise InvalidParameterError(
            f"The 'regime_changes' parameter of {func} must be a list of regime changes "
            f"(dicts with a 'kind' in {list(REGIME_KINDS)}). Got {regime_changes!r} instead.")
    return tuple(_one(r, start_year, n_years, func, i) for i, r in enumerate(regime_changes))


def hazard_shifts(regimes, start_year: int, n_years: int) -> np.ndarray:
    """Log-hazard shift of each simulated school year (and one more: the look-ahead)."""
    out = np.zeros(n_years + 1)
    for r in regimes:
        if isinstance(r, OutcomeShift):
            out[r.year - start_year:] += r.log_hazard_shift
    return out


def year_params(P0, shifts, y: int):
    """The generator's Params of simulated year ``y`` under the outcome shifts ``shifts``.

    Examples
    --------
    >>> from ._params import Params
    >>> P = year_params(Params(), np.array([0.0, 0.7, 0.7]), 0)
    >>> P.regime_log_hazard, P.liecība_repeat == Params().liecība_repeat
    ((0.0, 0.7), True)
    """
    from scipy.special import expit, logit

    s0, s1 = float(shifts[y]), float(shifts[y + 1])
    leave = expit(logit(1.0 - P0.liecība_repeat) + s0)
    return dataclasses.replace(P0, regime_log_hazard=(s0, s1), liecība_repeat=float(1 - leave))


def _in_school_year(dates: pd.Series, year: int, months=None) -> np.ndarray:
    d = pd.DatetimeIndex(dates)
    sy = np.where(d.month >= 9, d.year, d.year - 1)
    hit = sy == year
    if months is not None:
        hit &= np.isin(d.month, list(months))
    return hit


def _from_school_year(dates: pd.Series, year: int) -> np.ndarray:
    d = pd.DatetimeIndex(dates)
    return np.where(d.month >= 9, d.year, d.year - 1) >= year


def _municipality_at(records: pd.DataFrame, enrolments: pd.DataFrame) -> np.ndarray:
    """Municipality of each record's pupil on its date (the latest enrolment started by then)."""
    left = pd.DataFrame({"pupil_id": records["pupil_id"].astype(str).to_numpy(),
                         "date": records["date"].to_numpy(), "row": np.arange(len(records))})
    right = pd.DataFrame({"pupil_id": enrolments["pupil_id"].astype(str).to_numpy(),
                          "date": enrolments["start_date"].to_numpy(),
                          "mun": enrolments["municipality_id"].astype(str).to_numpy()})
    m = pd.merge_asof(left.sort_values("date"), right.sort_values("date"), on="date",
                      by="pupil_id", direction="backward")
    return m.sort_values("row")["mun"].to_numpy()


def apply_record_regimes(tables, regimes, random_state: int):
    """New validated tables with the record-level regimes applied (the same tables if none)."""
    from ..schema import SchoolTables

    regs = [r for r in regimes if r.kind in _RECORD_KINDS]
    if not regs:
        return tables
    frames = tables.to_dict()
    rng = np.random.default_rng([random_state, 19])
    for r in regs:
        if isinstance(r, GradingReform):
            g = frames["grades"].copy()
            codes = g["grade"].astype(str)
            numeric = pd.to_numeric(codes, errors="coerce")
            hit = _from_school_year(g["date"], r.year) & numeric.notna().to_numpy()
            new = codes.to_numpy(dtype=object)
            new[hit] = r.recorded(numeric.to_numpy()[hit]).astype(str)
            g["grade"] = pd.Categorical(new, categories=g["grade"].cat.categories)
            frames["grades"] = g
        elif isinstance(r, EngagementOutage):
            e = frames["engagement"]
            muns = (np.asarray(r.municipalities, dtype=str) if r.municipalities is not None
                    else None)
            if muns is None:
                all_m = np.sort(frames["schools"]["municipality_id"].astype(str).unique())
                n_hit = max(1, int(round(r.share * len(all_m))))
                muns = rng.choice(all_m, n_hit, replace=False)
            hit = _in_school_year(e["date"], r.year, r.months)
            if hit.any():
                hit[hit] = np.isin(_municipality_at(e[hit], frames["enrolments"]), muns)
            frames["engagement"] = e[~hit].reset_index(drop=True)
        elif isinstance(r, RemoteYear):
            a = frames["attendance"].copy()
            attended = a["status"].isin(["present", "late"]).to_numpy()
            hit = _in_school_year(a["date"], r.year) & attended
            hit &= rng.random(len(a)) < r.excused_share
            status = a["status"].to_numpy(dtype=object)
            status[hit] = "absent_excused"
            a["status"] = pd.Categorical(status, categories=a["status"].cat.categories)
            frames["attendance"] = a
    resources = getattr(tables, "resources", None)
    out = SchoolTables(**frames)
    out.resources = resources
    return out


def apply_regime_changes(system, regime_changes):
    """A copy of a simulated system with record-level regime changes applied.

    ``grading_reform``, ``engagement_outage`` and ``remote_year`` change the
    records only, so they can be applied to a finished system (the truth is the
    same); ``outcome_shift`` changes the simulation: pass it to
    :func:`make_school_system`.

    Parameters
    ----------
    system : SchoolSystem
    regime_changes : list of dict or regime dataclasses

    Returns
    -------
    SchoolSystem

    Examples
    --------
    >>> import riskmodel as rm
    >>> world = rm.datasets.make_school_system(n_pupils=300, n_years=2, random_state=0)
    >>> remote = rm.datasets.apply_regime_changes(
    ...     world, [{"kind": "remote_year", "year": 2023, "excused_share": 0.3}])
    >>> a0, a1 = world.tables.attendance, remote.tables.attendance
    >>> bool((a1["status"] == "absent_excused").sum() > (a0["status"] == "absent_excused").sum())
    True
    >>> remote.truth.equals(world.truth)
    True
    """
    cfg = system.config
    func = "apply_regime_changes"
    regs = validate_regimes(regime_changes, cfg["start_year"], cfg["n_years"], func)
    shift = [r for r in regs if r.kind == "outcome_shift"]
    if shift:
        raise InvalidParameterError(
            f"The regime_changes parameter of {func} holds an outcome_shift, which changes the "
            "simulation itself; pass it to make_school_system(regime_changes=...) instead.")
    tables = apply_record_regimes(system.tables, regs, cfg["random_state"])
    config = {**cfg, "regime_changes": [*cfg.get("regime_changes", []), *_as_dicts(regs)]}
    return dataclasses.replace(system, tables=tables, config=config)


def _as_dicts(regs) -> list:
    return [{"kind": r.kind, **dataclasses.asdict(r)} for r in regs]

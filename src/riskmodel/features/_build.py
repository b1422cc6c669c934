"""Orchestration: build the stores once, evaluate them at each as_of (private)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import vocab
from ..config import load_config
from . import _attendance, _context, _engagement, _grades, _transitions
from .._checks import InvalidParameterError, parse_as_of
from .._columns import NAT_DAY, check_tables, to_day, ts_day
from .._enrolments import (
    LIECIBA_CODE,
    OPEN_DAY,
    SUMMER_LOOKBACK_DAYS,
    Enrolments,
    cohort_at,
)
from ._common import school_year_start_day
from ._config import FeatureConfig
from ._registry import feature_names, registry

logger = logging.getLogger(__name__)

SENSITIVE = ("sex_female", "home_language", "migrant_background", "special_needs")


class _NoPupils(InvalidParameterError):
    """No pupil is enrolled on the date, nor waiting to continue after a completed grade
    (a bad ``as_of``: the CLI exits 2)."""


@dataclass
class AsOfContext:
    as_day: int
    ys_day: int
    enr: Enrolments  # known view at as_of (with the planned enrolments of a summer date)
    records: Enrolments  # known view at as_of, records only
    cur: np.ndarray  # enrolment index of each pupil in the population
    all_cur: np.ndarray  # enrolment index of every pupil in the cohort (any grade)
    rows: np.ndarray  # pupil row numbers of the population (ascending)
    grade: np.ndarray  # current grade of the population (the grade they will enter)
    planned: np.ndarray  # bool per pupil of the population: a planned (summer) enrolment
    summer: bool  # as_of lies between two school years (see riskmodel._enrolments)
    data_start: int | None = None  # first enrolment start of the whole system, when given


def _context_at(enrolments: Enrolments, config: FeatureConfig, as_of: pd.Timestamp,
                summer: bool | None = None, data_start: int | None = None) -> AsOfContext:
    """The cohort of ``as_of`` (in the configured grades); :class:`_NoPupils` if nobody.

    During a school year: the pupils enrolled on ``as_of``. On a summer date: also
    the pupils waiting to continue, in the grade they will enter
    (:func:`riskmodel._enrolments.cohort_at`). ``summer`` and ``data_start`` are
    decisions of the whole system, given when the tables hold a part of it
    (:mod:`riskmodel.spark`).
    """
    a = ts_day(as_of)
    ys, _ = school_year_start_day(a, config.school_year_start_month)
    cohort = cohort_at(enrolments, a, summer=summer)
    enr, all_cur = cohort.view, cohort.rows
    g = enr.grade[all_cur]
    sel = (g >= config.min_grade) & (g <= config.max_grade)
    cur = all_cur[sel]
    if len(all_cur) == 0:
        first = enrolments.start.min() if len(enrolments.start) else None
        last = enrolments.last_date()
        span = (
            f"the enrolments run from {np.datetime64(int(first), 'D')} "
            f"to {np.datetime64(int(last), 'D')}"
            if first is not None
            else "the enrolments table is empty"
        )
        raise _NoPupils(
            f"No pupil is enrolled on as_of={as_of.date()}, nor waiting to continue after "
            f"completing a grade in the {SUMMER_LOOKBACK_DAYS} days before it; {span}. "
            "Choose an as_of inside the enrolment period or in the summer after a school year."
        )
    return AsOfContext(
        as_day=a,
        ys_day=ys,
        enr=enr,
        records=cohort.records,
        cur=cur,
        all_cur=all_cur,
        rows=enr.pupil[cur],
        grade=enr.grade[cur],
        planned=cohort.planned[sel],
        summer=cohort.summer,
        data_start=data_start,
    )


class _Prepared:
    """Everything that does not depend on as_of, built once per call.

    ``whole`` holds what the tables cannot tell when they are one pupil partition
    of a larger system (:mod:`riskmodel.spark`): ``{"summer": {as_of: bool},
    "data_start": {as_of: int}, "attendance_first_day": int or None}``.
    """

    def __init__(self, tables, config: FeatureConfig, dates: list[pd.Timestamp],
                 whole: dict | None = None):
        self.tables = tables
        self.config = config
        self.pupil_ids = pd.Index(tables.pupils["pupil_id"].astype("str"), name="pupil_id")
        self.enrolments = Enrolments.from_tables(tables)
        domains = set(config.domains)
        self.transitions = _transitions.prepare(tables, config)
        self.context = _context.prepare(tables, config, self.enrolments)
        names = feature_names(include_sensitive=config.include_sensitive)
        reg = registry()
        self.columns = [c for c in names if reg.loc[c, "domain"] in domains or c in SENSITIVE]
        self.domain_of = reg["domain"].to_dict()
        # who is enrolled on each date; dates without pupils are kept as errors
        self.contexts: dict[pd.Timestamp, AsOfContext | _NoPupils] = {}
        for d in dates:
            try:
                if whole is None:
                    self.contexts[d] = _context_at(self.enrolments, config, d)
                else:
                    self.contexts[d] = _context_at(self.enrolments, config, d,
                                                   summer=whole["summer"][d],
                                                   data_start=whole["data_start"][d])
            except _NoPupils as exc:
                self.contexts[d] = exc
        ctxs = [c for c in self.contexts.values() if isinstance(c, AsOfContext)]
        self.results: dict[int, dict[str, np.ndarray]] = {id(c): {} for c in ctxs}
        if not ctxs:
            return
        # one pass over each event table serves all dates; only the records some
        # window can reach are read: [earliest window start, last as_of)
        a = [c.as_day for c in ctxs]
        lo_ys = min(c.ys_day for c in ctxs)
        hi = max(a)
        passes = []
        if domains & {"attendance", "context"}:
            passes.append((_attendance, min(lo_ys, min(a) - 365)))
        if "grades" in domains:
            passes.append((_grades, min(lo_ys, min(a) - 365)))
        if "engagement" in domains:
            passes.append((_engagement, min(a) - 365))
        for module, lo in passes:
            kwargs = {}
            if whole is not None and module is _attendance:
                kwargs["first_day"] = whole["attendance_first_day"]
            res = module.compute_all(tables, config, ctxs, lo, hi, **kwargs)
            if res is not None:
                for c, r in zip(ctxs, res):
                    self.results[id(c)].update(r)

    def columns_at(self, as_of: pd.Timestamp) -> tuple[pd.Index, dict]:
        """The pupil index and the feature arrays of one as_of."""
        ctx = self.contexts[as_of]
        if isinstance(ctx, _NoPupils):
            raise ctx
        cfg = self.config
        domains = set(cfg.domains)
        res = self.results[id(ctx)]
        cols: dict[str, np.ndarray] = {k: v for k, v in res.items() if not k.startswith("_")}
        if "transitions" in domains:
            cols.update(_transitions.compute(self.transitions, ctx, cfg))
        if "context" in domains:
            cols.update(_context.compute(self.context, ctx, cfg, res))
        if cfg.include_sensitive:
            cols.update(_sensitive(self.tables, ctx.rows))
        n = len(ctx.rows)
        data = {}
        for c in self.columns:
            v = cols.get(c)
            if v is None:  # the domain's table is missing or empty
                v = np.full(n, np.nan)
            elif not isinstance(v, pd.Categorical):
                v = np.asarray(v)  # made float64 when written into the frame
            data[c] = v
        return ctx.rows, data

    def features_at(self, as_of: pd.Timestamp) -> pd.DataFrame:
        rows, data = self.columns_at(as_of)
        return _assemble([data], self.columns, self.pupil_ids.take(rows))


def _assemble(datas: list[dict], columns: list[str], index: pd.Index) -> pd.DataFrame:
    """One DataFrame from per-date column dicts, writing each value once into a
    column-major float matrix (no concat, no block consolidation copies)."""
    sizes = [len(next(iter(d.values()))) if d else 0 for d in datas]
    total = sum(sizes)
    cats = [c for c in columns if datas and isinstance(datas[0][c], pd.Categorical)]
    floats = [c for c in columns if c not in cats]
    matrix = np.empty((total, len(floats)), dtype=np.float64, order="F")
    start = 0
    for d, size in zip(datas, sizes):
        for j, c in enumerate(floats):
            matrix[start : start + size, j] = d[c]  # casts to float64 on the way
        start += size
    df = pd.DataFrame(matrix, index=index, columns=floats, copy=False)
    for c in cats:
        first = datas[0][c]
        codes = np.concatenate([np.asarray(d[c].codes) for d in datas])
        df.insert(columns.index(c), c, pd.Categorical.from_codes(codes, dtype=first.dtype))
    return df


def _sensitive(tables, rows) -> dict:
    pupils = tables.pupils
    out: dict = {}
    n = len(rows)

    def flag(col):
        if col not in pupils.columns:
            return np.full(n, np.nan)
        return pupils[col].astype("float64").to_numpy()[rows]

    sex = pupils["sex"].astype("str").to_numpy()[rows] if "sex" in pupils.columns else None
    if sex is None:
        out["sex_female"] = np.full(n, np.nan)
    else:
        f = (sex == "F").astype(np.float64)
        f[~np.isin(sex, ["F", "M"])] = np.nan
        out["sex_female"] = f
    if "home_language" in pupils.columns:
        out["home_language"] = pd.Categorical(pupils["home_language"]).take(rows)
    else:
        out["home_language"] = pd.Categorical([np.nan] * n)
    out["migrant_background"] = flag("migrant_background")
    out["special_needs"] = flag("special_needs")
    return out


def _check_config(config) -> FeatureConfig:
    if config is not None and not isinstance(config, (FeatureConfig, dict, str)) and not hasattr(
        config, "__fspath__"
    ):
        raise InvalidParameterError(
            "The 'config' parameter of build_features must be a FeatureConfig, a mapping, "
            f"a path to a YAML file or None. Got {type(config).__name__} instead."
        )
    return load_config(FeatureConfig, config)


def build_features(tables, as_of, config=None) -> pd.DataFrame:
    """Point-in-time features, one row per pupil enrolled on ``as_of``.

    Only records dated strictly before ``as_of`` are used, and enrolments that
    end on or after ``as_of`` are treated as open, so the result is the same
    whether or not later records exist.

    On a summer date (between two school years, when more pupils are waiting to
    continue after completing a grade than are enrolled) the rows are the pupils
    expected to continue, in the grade they will enter, plus any pupil enrolled
    on the date; see ``docs/data_contract.md`` ("Scoring before the school year").
    Their features come from the same records before ``as_of``: the
    school-year-to-date windows cover the school year just ended, the 28- and
    90-day windows mostly the summer (NaN without records), and the transition
    features see a planned enrolment (the next school year, the grade they will
    enter, the school of the latest enrolment) that starts on ``as_of``.

    Parameters
    ----------
    tables : riskmodel.SchoolTables
        Validated school records (normalised table form).
    as_of : str, datetime.date or pandas.Timestamp
        The prediction date (a day, no time of day).
    config : FeatureConfig, dict, path or None
        Grade range, domains, sensitive attributes and definitions; see
        :class:`FeatureConfig`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``pupil_id`` (pupils enrolled on ``as_of``, or on a summer
        date also expected to continue, whose current grade, or the grade they
        will enter, is in the configured range), one float column per feature in
        :func:`registry` order (``home_language`` is categorical).  A domain whose
        table is missing or empty is all NaN.

    Raises
    ------
    ValueError
        When ``as_of`` is not a date, or no pupil is enrolled on it nor waiting
        to continue.

    Examples
    --------
    >>> import riskmodel as rm
    >>> world = rm.datasets.make_school_system(n_pupils=300, n_years=3, random_state=0)
    >>> X = rm.build_features(world.tables, as_of="2023-10-02")
    >>> X.index.name, list(X.columns) == rm.features.feature_names()
    ('pupil_id', True)
    >>> bool(X["attendance_rate_28d"].between(0, 1).all())
    True
    >>> len(rm.build_features(world.tables, as_of="2023-08-15")) > 0  # a summer date
    True
    """
    ts = parse_as_of(as_of, "build_features")
    check_tables(tables, "build_features")
    cfg = _check_config(config)
    prepared = _Prepared(tables, cfg, [ts])
    _warn_beyond_data(prepared, ts)
    return prepared.features_at(ts)


def build_features_at(tables, as_of, others, config=None):
    """``build_features`` at ``as_of`` and at each of ``others``, from one pass over
    each event table (private; the score run and its monitor's reference cohort).

    Each frame is the frame :func:`build_features` gives at its date: every date's
    windows end at that date, so no feature sees a record dated on or after it
    (the same passes as :func:`build_feature_panel`). Returns ``(X, [X_other or
    None, ...])``: None for a date of ``others`` on which nobody is enrolled (the
    caller decides; ``build_features`` there raises). Nobody on ``as_of`` raises,
    as ``build_features`` does.
    """
    ts = parse_as_of(as_of, "build_features")
    others = [parse_as_of(d, "build_features") for d in others]
    check_tables(tables, "build_features")
    cfg = _check_config(config)
    dates = [ts] + [d for d in others if d != ts]
    prepared = _Prepared(tables, cfg, dates)
    _warn_beyond_data(prepared, ts)
    X = prepared.features_at(ts)
    rest = []
    for d in others:
        _warn_beyond_data(prepared, d)
        try:
            rest.append(prepared.features_at(d))
        except _NoPupils:
            rest.append(None)
    return X, rest


def build_feature_panel(tables, as_of_dates, config=None) -> pd.DataFrame:
    """Features at several dates, stacked: index ``(as_of, pupil_id)``.

    The event tables are sorted and summed once; every date then costs a few
    look-ups per pupil, so ten dates cost far less than ten
    :func:`build_features` calls.  Each block equals ``build_features(tables, d)``
    (a summer date holds the pupils expected to continue); a date on which no
    pupil is enrolled nor waiting to continue is left out with a logged warning.

    Parameters
    ----------
    tables : riskmodel.SchoolTables
    as_of_dates : sequence of dates
        Distinct dates (a day each); the result is in the given order.
    config : FeatureConfig, dict, path or None

    Returns
    -------
    pandas.DataFrame
        MultiIndex ``(as_of, pupil_id)``.

    Examples
    --------
    >>> import riskmodel as rm
    >>> world = rm.datasets.make_school_system(n_pupils=300, n_years=3, random_state=0)
    >>> dates = ["2023-10-02", "2023-11-01", "2023-12-01"]
    >>> panel = rm.build_feature_panel(world.tables, dates)
    >>> panel.index.names
    FrozenList(['as_of', 'pupil_id'])
    >>> panel.loc["2023-10-02"].equals(rm.build_features(world.tables, "2023-10-02"))
    True
    """
    if isinstance(as_of_dates, (str, pd.Timestamp)) or not hasattr(as_of_dates, "__iter__"):
        raise InvalidParameterError(
            "The 'as_of_dates' parameter of build_feature_panel must be a sequence of dates. "
            f"Got {type(as_of_dates).__name__} instead."
        )
    dates = [parse_as_of(d, "build_feature_panel", "as_of_dates") for d in as_of_dates]
    if len(dates) == 0:
        raise InvalidParameterError(
            "The 'as_of_dates' parameter of build_feature_panel must hold at least one date. "
            "Got an empty sequence instead."
        )
    if len(set(dates)) != len(dates):
        raise InvalidParameterError(
            "The 'as_of_dates' parameter of build_feature_panel must not repeat a date. "
            f"Got {[str(d.date()) for d in dates]} instead."
        )
    check_tables(tables, "build_feature_panel")
    cfg = _check_config(config)
    prepared = _Prepared(tables, cfg, dates)
    datas, rows, kept = [], [], []
    for d in dates:
        _warn_beyond_data(prepared, d)
        try:
            r, data = prepared.columns_at(d)
        except _NoPupils as exc:
            logger.warning("build_feature_panel: %s; the date is left out of the panel.", exc)
            continue
        datas.append(data)
        rows.append(r)
        kept.append(d)
    if not datas:
        raise InvalidParameterError(
            "No pupil is enrolled (nor waiting to continue) on any of the 'as_of_dates' "
            "of build_feature_panel "
            f"({', '.join(str(d.date()) for d in dates)})."
        )
    index = _panel_index(kept, rows, prepared.pupil_ids)
    return _assemble(datas, prepared.columns, index)


def _panel_index(kept: list[pd.Timestamp], rows: list[np.ndarray],
                 pupil_ids: pd.Index) -> pd.MultiIndex:
    """The ``(as_of, pupil_id)`` index of the stacked blocks.

    The same index as ``MultiIndex.from_arrays`` (sorted levels holding the used
    values only), built from integer codes: the pupil ids are not re-factorised
    when they are sorted, as the generator's and most registers' ids are.
    """
    sizes = [len(r) for r in rows]
    dates = np.array(kept, dtype="datetime64[ns]")
    all_rows = np.concatenate(rows)
    if not pupil_ids.is_monotonic_increasing or not pupil_ids.is_unique:
        return pd.MultiIndex.from_arrays(
            [pd.DatetimeIndex(np.repeat(dates, sizes)), pupil_ids.take(all_rows)],
            names=["as_of", "pupil_id"],
        )
    # a date with an empty block (no pupil in the grade range) is not a level value
    present = np.array(sizes) > 0
    date_order = np.flatnonzero(present)[np.argsort(dates[present], kind="stable")]
    date_code = np.full(len(dates), -1, dtype=np.int64)
    date_code[date_order] = np.arange(len(date_order))
    used = np.zeros(len(pupil_ids), dtype=bool)
    used[all_rows] = True
    used_rows = np.flatnonzero(used)
    code_of_row = np.cumsum(used) - 1
    return pd.MultiIndex(
        levels=[pd.DatetimeIndex(dates[date_order]), pupil_ids.take(used_rows)],
        codes=[np.repeat(date_code, sizes), code_of_row[all_rows]],
        names=["as_of", "pupil_id"],
        verify_integrity=False,
    )


def _warn_beyond_data(prepared: _Prepared, ts: pd.Timestamp) -> None:
    last = prepared.enrolments.last_date()
    if last is not None and ts_day(ts) > last + 366:
        logger.warning(
            "as_of=%s is more than a year after the last enrolment change (%s); "
            "event features will mostly be NaN.",
            ts.date(),
            np.datetime64(last, "D"),
        )


def pupil_frame(tables, as_of, config=None) -> pd.DataFrame:
    """Who the pupils enrolled on ``as_of`` are: school, grade, age, audit attributes.

    The rows are exactly those of :func:`build_features` with the same
    ``config``; these columns are not model features.  They serve allocation
    (eligibility by age and grade, the liecība rule), fairness audits and
    scoring jobs.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``pupil_id`` with ``school_id``, ``municipality_id``
        (category), ``school_year``, ``grade`` (int8), ``age`` (completed years
        on ``as_of``, float, NaN when the birth date is unknown), ``liecība``
        (bool: finished grade 9 with a liecība before ``as_of``), ``enrolled``
        (bool: enrolled on ``as_of``; False for a pupil of a summer cohort who is
        waiting to continue, whose ``grade``, ``school_year``, ``school_id`` and
        ``municipality_id`` are those of the planned enrolment: the grade they will
        enter, the next school year, the school of their latest enrolment) and the
        audit attributes present in ``pupils`` (``sex``, ``home_language``,
        ``migrant_background``, ``special_needs``).

    Examples
    --------
    >>> import riskmodel as rm
    >>> from riskmodel.features import pupil_frame
    >>> world = rm.datasets.make_school_system(n_pupils=300, n_years=3, random_state=0)
    >>> info = pupil_frame(world.tables, "2023-10-02")
    >>> info.index.equals(rm.build_features(world.tables, "2023-10-02").index)
    True
    >>> bool(info["grade"].between(1, 12).all()), bool((info["age"] >= 5).all())
    (True, True)

    In the summer the pupils waiting to continue, in the grade they will enter:

    >>> summer = pupil_frame(world.tables, "2023-08-15")
    >>> bool(summer["enrolled"].any()), int(summer["school_year"].iloc[0])
    (False, 2023)
    """
    ts = parse_as_of(as_of, "pupil_frame")
    cfg = _check_config(config)
    check_tables(tables, "pupil_frame")
    pupils = tables.pupils
    ctx = _context_at(Enrolments.from_tables(tables), cfg, ts)
    enr, cur, rows = ctx.enr, ctx.cur, ctx.rows
    ids = pupils["pupil_id"].astype("str").to_numpy()[rows]
    out = pd.DataFrame(index=pd.Index(ids, name="pupil_id", dtype="str"))
    out["school_id"] = pd.Categorical.from_codes(enr.school[cur], categories=enr.school_ids)
    out["municipality_id"] = pd.Categorical.from_codes(
        enr.municipality[cur], categories=enr.municipality_ids
    )
    out["school_year"] = enr.school_year[cur].astype(np.int16)
    out["grade"] = enr.grade[cur].astype(np.int8)
    bd = to_day(pupils["birth_date"])[rows]
    out["age"] = _age_years(bd, ts)
    liec = (enr.end != OPEN_DAY) & (enr.reason == LIECIBA_CODE) & (enr.grade == 9)
    out["liecība"] = np.bincount(enr.pupil[liec], minlength=enr.n_pupils)[rows] > 0
    out["enrolled"] = ~ctx.planned
    for col in vocab.AUDIT_ATTRIBUTES:
        if col in pupils.columns:
            out[col] = pupils[col].iloc[rows].set_axis(out.index)
    return out


#: ``cohort_summary``'s rule names: a date in a school year, a summer date
COHORT_RULES = ("enrolled", "summer_continuers")


def cohort_summary(tables, as_of, config=None) -> dict:
    """How the cohort of ``as_of`` was chosen, for run manifests and reports.

    Returns
    -------
    dict
        ``rule`` (``"enrolled"``: the pupils enrolled on ``as_of``;
        ``"summer_continuers"``: a summer date, the pupils expected to continue
        plus any enrolled), ``as_of_in_school_year`` (bool), ``n`` (pupils in
        the configured grade range, the rows of :func:`build_features`),
        ``n_enrolled`` and ``n_continuing`` (of them: enrolled on ``as_of``,
        waiting to continue) and ``school_year`` (start year of the school year
        the grades refer to: the next one on a summer date).

    Examples
    --------
    >>> import riskmodel as rm
    >>> from riskmodel.features._build import cohort_summary
    >>> t = rm.datasets.make_school_system(n_pupils=300, n_years=2, random_state=0).tables
    >>> s = cohort_summary(t, "2023-08-15")
    >>> s["rule"], s["as_of_in_school_year"], s["school_year"], s["n"] == s["n_continuing"]
    ('summer_continuers', False, 2023, True)
    >>> cohort_summary(t, "2023-10-02")["rule"]
    'enrolled'
    """
    ts = parse_as_of(as_of, "cohort_summary")
    cfg = _check_config(config)
    check_tables(tables, "cohort_summary")
    ctx = _context_at(Enrolments.from_tables(tables), cfg, ts)
    years = ctx.enr.school_year[ctx.all_cur]
    vals, counts = np.unique(years, return_counts=True)
    n_cont = int(ctx.planned.sum())
    return {
        "rule": COHORT_RULES[int(ctx.summer)],
        "as_of_in_school_year": not ctx.summer,
        "n": int(len(ctx.rows)),
        "n_enrolled": int(len(ctx.rows)) - n_cont,
        "n_continuing": n_cont,
        "school_year": int(vals[np.argmax(counts)]),
    }


def _age_years(birth_day: np.ndarray, ts: pd.Timestamp) -> np.ndarray:
    nat = birth_day == NAT_DAY
    safe = np.where(nat, 0, birth_day).astype("datetime64[D]")
    by = safe.astype("datetime64[Y]").astype(np.int64) + 1970
    bm = safe.astype("datetime64[M]").astype(np.int64) % 12 + 1
    bday = (safe - safe.astype("datetime64[M]")).astype(np.int64) + 1
    age = ts.year - by - ((ts.month < bm) | ((ts.month == bm) & (ts.day < bday)))
    out = age.astype(np.float64)
    out[nat] = np.nan
    return out

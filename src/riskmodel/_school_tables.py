"""The :class:`SchoolTables` container (private; imported from :mod:`riskmodel.schema`)."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from . import _validation as V
from ._checks import InvalidParameterError, check_bool, check_option, parse_as_of
from ._codemap import CodeMap, as_codemap
from ._column_maps import check_column_maps
from ._fingerprint import tables_fingerprint
from ._normalise import as_frame, normalise_all
from .vocab import TABLES

__all__ = ["SchoolTables"]


class SchoolTables:
    """Validated, normalised school records (the data contract, ``docs/data_contract.md``).

    Parameters
    ----------
    pupils, enrolments : pandas.DataFrame
        Required tables.
    attendance, grades, engagement, support, schools : pandas.DataFrame or None
        Optional tables; ``None`` when missing. Objects with a ``to_pandas()`` method
        (pyarrow tables, polars frames) are converted. An ``attendance`` table with a
        ``lesson`` column holds one row per lesson and is counted into the contract's
        per-day rows (see Notes).
    codes : CodeMap, mapping, path or None
        Local codes to contract codes, applied before the codes are validated, e.g.
        ``{"attendance": {"status": {"n": "absent_unexcused"}}}`` or
        ``"configs/codes.yaml"``. The reserved key ``columns`` of a table is a column
        map (as ``columns``).
    validate : bool, default True
        Check values (codes, ranges, duplicates, overlaps) and raise on violations.
        With ``False`` the tables are only converted to the normalised dtypes; use it
        only for tables that are known to be valid.
    columns : mapping or None
        Column maps ``{table: {header as written: contract column}}``, applied before
        validation, e.g. ``{"pupils": {"Skolēna ID": "pupil_id"}}``. Headers are
        matched ignoring surrounding spaces, a UTF-8 byte-order mark and case
        (diacritics count). Entries replace the codes config's for the same header.
    date_format : str, mapping or None
        A ``strftime`` format for the string dates of every table (or
        ``{table: format}``), e.g. ``"%d.%m.%Y"``. None detects per column: ISO 8601
        or ``dd.mm.yyyy`` (with or without a time); a column mixing forms, or dates
        such as ``01/02/2024``, is reported and asks for ``date_format``.

    Raises
    ------
    DataValidationError
        Listing every violation of every table: table, column, number of rows and
        up to five example values.
    TypeError
        When a table is not a DataFrame.

    Notes
    -----
    The rules for exports are in ``docs/data_contract.md`` ("Bringing your own
    exports"). In short: dates are days (a time of day is dropped from parsed
    dates); ids stay strings as written, and float-like ids (``12345.0``) are
    reported. Per-lesson attendance becomes one row per (pupil, date, status) with
    ``lessons`` = the number of its lessons with that status; a lesson without a
    mark is ``present``; the same lesson with two statuses is reported. Exact
    duplicate rows of pupils, schools, enrolments, support and attendance are
    dropped with a logged warning, rows of one key that differ are reported;
    identical grade and engagement rows are kept (repeated events of one day).

    Extra columns are dropped with a logged warning (logger ``riskmodel.schema``).
    Rows of pupils that are not in ``pupils`` are dropped with a logged warning
    giving their count. Columns already in their normalised dtype are checked
    without being parsed again, so validating generator output is fast.

    Examples
    --------
    >>> import pandas as pd
    >>> import riskmodel as rm
    >>> pupils = pd.DataFrame({"pupil_id": ["p1", "p2"],
    ...                        "birth_date": ["2012-03-01", "2011-07-15"], "sex": ["F", "M"]})
    >>> enrolments = pd.DataFrame({
    ...     "pupil_id": ["p1", "p2"], "school_id": ["s1", "s1"], "municipality_id": ["m1", "m1"],
    ...     "school_year": [2024, 2024], "grade": [7, 8],
    ...     "start_date": ["2024-09-02", "2024-09-02"], "end_date": [None, None],
    ...     "end_reason": [None, None]})
    >>> attendance = pd.DataFrame({"pupil_id": ["p1", "p2"], "date": ["2024-09-02"] * 2,
    ...                            "status": ["n", "present"]})
    >>> t = rm.SchoolTables(pupils, enrolments, attendance,
    ...                     codes={"attendance": {"status": {"n": "absent_unexcused"}}})
    >>> t.attendance["status"].tolist()
    ['absent_unexcused', 'present']
    >>> t.names
    ('pupils', 'enrolments', 'attendance')

    A per-lesson export with Latvian headers and ``dd.mm.yyyy`` dates:

    >>> marks = pd.DataFrame({"Skolēna ID": ["p1"] * 3, "Datums": ["02.09.2024"] * 3,
    ...                       "Stunda": [1, 2, 3], "Atzīme": ["", "n", "n"]})
    >>> t = rm.SchoolTables(pupils, enrolments, marks,
    ...                     codes={"attendance": {"status": {"n": "absent_unexcused"}}},
    ...                     columns={"attendance": {"Skolēna ID": "pupil_id", "Datums": "date",
    ...                                             "Stunda": "lesson", "Atzīme": "status"}})
    >>> t.attendance[["status", "lessons"]].to_dict("list")
    {'status': ['present', 'absent_unexcused'], 'lessons': [1, 2]}
    """

    pupils: pd.DataFrame
    enrolments: pd.DataFrame
    attendance: pd.DataFrame | None
    grades: pd.DataFrame | None
    engagement: pd.DataFrame | None
    support: pd.DataFrame | None
    schools: pd.DataFrame | None
    #: The roster of support resources that came with the data (a ``resources`` file of
    #: a data folder, read by :func:`riskmodel.read_tables` and validated by
    #: :func:`riskmodel.read_resources`; the synthetic system's own roster), or None.
    #: Not pupil records: outside :meth:`fingerprint` and :meth:`equals`.
    resources: pd.DataFrame | None = None

    def __init__(
        self,
        pupils: pd.DataFrame,
        enrolments: pd.DataFrame,
        attendance: pd.DataFrame | None = None,
        grades: pd.DataFrame | None = None,
        engagement: pd.DataFrame | None = None,
        support: pd.DataFrame | None = None,
        schools: pd.DataFrame | None = None,
        *,
        codes: CodeMap | Mapping | str | os.PathLike | None = None,
        validate: bool = True,
        columns: Mapping[str, Mapping[str, str]] | None = None,
        date_format: str | Mapping[str, str] | None = None,
    ):
        raw = {
            "pupils": pupils, "enrolments": enrolments, "attendance": attendance,
            "grades": grades, "engagement": engagement, "support": support, "schools": schools,
        }
        validate = check_bool(validate, "validate", "SchoolTables")
        codemap = as_codemap(codes)
        columns = check_column_maps(columns, "SchoolTables")
        date_format = _check_date_format(date_format)
        frames = {name: as_frame(name, df) for name, df in raw.items()}
        normalised = normalise_all(frames, codemap, validate=validate, columns=columns,
                                   date_format=date_format)
        self._set(normalised)

    # -- construction without validation (already normalised tables) --------------
    @classmethod
    def _from_normalised(cls, tables: Mapping[str, pd.DataFrame | None]) -> SchoolTables:
        obj = cls.__new__(cls)
        obj._set(dict(tables))
        return obj

    def _set(self, tables: Mapping[str, pd.DataFrame | None]) -> None:
        for name in TABLES:
            setattr(self, name, tables.get(name))

    # -- access -------------------------------------------------------------------
    def has(self, name: str) -> bool:
        """True when table ``name`` is present and non-empty.

        Examples
        --------
        >>> import riskmodel as rm
        >>> tables = rm.datasets.make_school_system(n_pupils=300, n_years=3,
        ...                                         random_state=0).tables
        >>> tables.has("attendance"), tables.has("support")
        (True, True)
        """
        check_option(name, "name", TABLES, "SchoolTables.has")
        df = getattr(self, name)
        return df is not None and len(df) > 0

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the tables that are present (not None), in contract order.

        Examples
        --------
        >>> import riskmodel as rm
        >>> tables = rm.datasets.make_school_system(n_pupils=300, n_years=3,
        ...                                         random_state=0).tables
        >>> tables.names
        ('pupils', 'enrolments', 'attendance', 'grades', 'engagement', 'support', 'schools')
        """
        return tuple(n for n in TABLES if getattr(self, n) is not None)

    @property
    def pupil_ids(self) -> pd.Index:
        """``pupils.pupil_id`` as an Index (the categories of every ``pupil_id`` column).

        Examples
        --------
        >>> import riskmodel as rm
        >>> tables = rm.datasets.make_school_system(n_pupils=300, n_years=3,
        ...                                         random_state=0).tables
        >>> tables.pupil_ids[:2].tolist()
        ['P0000001', 'P0000002']
        """
        return pd.Index(self.pupils["pupil_id"], name="pupil_id")

    def __getitem__(self, name: str) -> pd.DataFrame | None:
        if name not in TABLES:
            raise KeyError(f"{name!r} is not a table; tables: {', '.join(TABLES)}")
        return getattr(self, name)

    def to_dict(self) -> dict[str, pd.DataFrame]:
        """The present tables as ``{name: DataFrame}``.

        Examples
        --------
        >>> import riskmodel as rm
        >>> tables = rm.datasets.make_school_system(n_pupils=300, n_years=3,
        ...                                         random_state=0).tables
        >>> rm.SchoolTables(**tables.to_dict()).equals(tables)
        True
        """
        return {n: getattr(self, n) for n in self.names}

    # -- point in time --------------------------------------------------------------
    def as_known_at(self, as_of) -> SchoolTables:
        """The records known strictly before ``as_of``.

        Event rows (attendance, grades, engagement) keep ``date < as_of``; enrolments
        and support keep ``start_date < as_of``, and those ending on or after
        ``as_of`` are shown as still open (``end_date`` NaT, ``end_reason`` NaN).
        Pupils and schools are unchanged.

        Parameters
        ----------
        as_of : str, datetime.date, numpy.datetime64 or pandas.Timestamp
            A tz-naive date without a time of day (records are dated by day); parsed
            by the same rule as every other ``as_of`` of riskmodel.

        Returns
        -------
        SchoolTables

        Examples
        --------
        >>> import riskmodel as rm
        >>> tables = rm.datasets.make_school_system(n_pupils=300, n_years=3,
        ...                                         random_state=0).tables
        >>> past = tables.as_known_at("2023-10-02")
        >>> bool((past.attendance["date"] < "2023-10-02").all())
        True
        >>> bool(past.enrolments["end_date"].isna().any())  # still open on 2023-10-02
        True
        """
        ts = parse_as_of(as_of, "SchoolTables.as_known_at")
        cut = np.datetime64(ts.as_unit("ns").to_datetime64(), "ns")
        out: dict[str, pd.DataFrame | None] = {}
        for name in TABLES:
            df = getattr(self, name)
            if df is None or name in ("pupils", "schools"):
                out[name] = df
                continue
            if name in ("enrolments", "support"):
                out[name] = _cut_periods(df, cut)
            else:
                keep = df["date"].to_numpy() < cut
                out[name] = df if keep.all() else df[keep].reset_index(drop=True)
        known = SchoolTables._from_normalised(out)
        known.resources = self.resources
        return known

    # -- description ------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """One row per present table: rows, distinct pupils and date range.

        Returns
        -------
        pandas.DataFrame
            Columns ``table``, ``rows``, ``pupils``, ``first_date``, ``last_date``.

        Examples
        --------
        >>> import riskmodel as rm
        >>> tables = rm.datasets.make_school_system(n_pupils=300, n_years=3,
        ...                                         random_state=0).tables
        >>> tables.summary()[["table", "first_date"]].head(3)
                table first_date
        0      pupils 2002-08-28
        1  enrolments 2022-09-01
        2  attendance 2022-09-01
        """
        rows = []
        n_pupils = len(self.pupils)
        for name in self.names:
            df = getattr(self, name)
            if name == "pupils":
                pupils = len(df)
            elif "pupil_id" in df.columns:
                pupils = _n_distinct_codes(df["pupil_id"].array.codes, n_pupils)
            else:
                pupils = np.nan
            first, last = table_dates(name, df)
            rows.append({"table": name, "rows": len(df), "pupils": pupils,
                         "first_date": first, "last_date": last})
        out = pd.DataFrame(rows, columns=["table", "rows", "pupils", "first_date", "last_date"])
        out["pupils"] = out["pupils"].astype("Int64")
        return out

    def fingerprint(self) -> str:
        """A sha256 hex digest of the normalised content.

        Stable across runs and processes; independent of row order within a table
        and of how categoricals are encoded (unused categories, category order).
        Each row's values are hashed with vectorised 64-bit mixing (category values
        through :func:`pandas.util.hash_array`) and the row hashes are summed; the
        table names, row counts, columns and dtypes enter the sha256 too.

        Examples
        --------
        >>> import riskmodel as rm
        >>> tables = rm.datasets.make_school_system(n_pupils=300, n_years=3,
        ...                                         random_state=0).tables
        >>> fp = tables.fingerprint()
        >>> len(fp), fp == rm.SchoolTables(**tables.to_dict()).fingerprint()
        (64, True)
        >>> tables.as_known_at("2023-10-02").fingerprint() == fp
        False
        """
        return tables_fingerprint(self)

    def equals(self, other: SchoolTables) -> bool:
        """True when every table of ``other`` equals this one (``DataFrame.equals``).

        Examples
        --------
        >>> import riskmodel as rm
        >>> tables = rm.datasets.make_school_system(n_pupils=300, n_years=3,
        ...                                         random_state=0).tables
        >>> tables.equals(tables.as_known_at("2023-10-02"))
        False
        """
        if not isinstance(other, SchoolTables):
            return False
        for name in TABLES:
            a, b = getattr(self, name), getattr(other, name)
            if (a is None) != (b is None):
                return False
            if a is not None and not a.equals(b):
                return False
        return True

    def __repr__(self) -> str:
        parts = []
        for name in self.names:
            parts.append(f"{name}={len(getattr(self, name)):,}")
        return f"SchoolTables({', '.join(parts)})"


def _check_date_format(date_format):
    """None, a strftime format, or ``{table: format}``."""
    def ok(fmt):
        return isinstance(fmt, str) and "%" in fmt

    if date_format is None or ok(date_format):
        return date_format
    if isinstance(date_format, Mapping) and all(
            t in TABLES and ok(f) for t, f in date_format.items()):
        return dict(date_format)
    raise InvalidParameterError(
        "The 'date_format' parameter of SchoolTables must be None, a strftime format such "
        "as '%d.%m.%Y', or a mapping {table: format} of tables among "
        f"{{{', '.join(TABLES)}}}. Got {date_format!r} instead.")


def _cut_periods(df: pd.DataFrame, cut: np.datetime64) -> pd.DataFrame:
    start = df["start_date"].to_numpy()
    keep = start < cut
    out = df if keep.all() else df[keep].reset_index(drop=True)
    end = out["end_date"].to_numpy()
    later = ~np.isnat(end) & (end >= cut)
    if later.any():
        out = out.copy()
        new_end = end.copy()
        new_end[later] = np.datetime64("NaT")
        out["end_date"] = new_end
        if "end_reason" in out.columns:
            out["end_reason"] = out["end_reason"].where(~later)
    return out


_NAT = np.iinfo(np.int64).min


def table_dates(name: str, df: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(first, last) date of the normalised table ``name`` (NaT, NaT when it has none):
    the ``first_date`` and ``last_date`` of :meth:`SchoolTables.summary`."""
    col = V.date_column_of(name)
    if col is None or not len(df):
        return pd.NaT, pd.NaT
    cols = [col, "end_date"] if name in ("enrolments", "support") else [col]
    ranges = [r for r in (_date_range(df[c].to_numpy()) for c in cols) if r is not None]
    if not ranges:
        return pd.NaT, pd.NaT
    return pd.Timestamp(min(r[0] for r in ranges)), pd.Timestamp(max(r[1] for r in ranges))


def _date_range(vals: np.ndarray):
    """(first, last) of a datetime64 array ignoring NaT, or None when all are NaT.

    Works on the int64 view (NaT is the smallest int64), so a column of tens of
    millions of dates costs two passes and no boolean mask unless NaT is present.
    """
    if len(vals) == 0:
        return None
    ticks = vals.view(np.int64)
    hi = ticks.max()
    if hi == _NAT:
        return None
    lo = ticks.min()
    if lo == _NAT:
        lo = ticks[ticks != _NAT].min()
    unit = vals.dtype
    return np.int64(lo).view(unit), np.int64(hi).view(unit)


def _n_distinct_codes(codes: np.ndarray, n: int) -> int:
    """How many distinct non-negative categorical codes ``codes`` holds (< ``n``)."""
    seen = np.zeros(max(n, int(codes.max(initial=-1)) + 1), dtype=bool)
    seen[codes[codes >= 0] if codes.min(initial=0) < 0 else codes] = True
    return int(np.count_nonzero(seen))

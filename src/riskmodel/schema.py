"""The data contract: validated, normalised school tables.

:class:`SchoolTables` holds the input tables of DESIGN.md section 3 (pupils,
enrolments, attendance, grades, engagement, support, schools), checks them on
construction and normalises their types so that every later step can rely on
them:

- ``pupils.pupil_id`` is a ``str`` column of unique ids; in every other table
  ``pupil_id`` is a :class:`pandas.Categorical` whose categories are exactly
  ``pupils.pupil_id`` in pupils order, so ``.cat.codes`` is the row number in
  ``pupils``;
- dates are ``datetime64[ns]`` (tz-naive), code columns are categoricals over the
  vocabularies of :mod:`riskmodel.vocab`, small integers are ``int8``/``int16``.

Every contract violation of every table is collected and raised together as one
:class:`~riskmodel.errors.DataValidationError`. Local codes (e.g. e-journal
absence codes) are translated with a :class:`CodeMap` before validation.

:func:`read_tables` and :func:`write_tables` move tables to and from a folder of
Parquet or CSV files named after the tables.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import field_validator, model_validator

from . import _validation as V
from . import vocab
from .config import StrictModel, load_config
from .errors import DataValidationError

__all__ = ["SchoolTables", "CodeMap", "read_tables", "write_tables"]

logger = logging.getLogger(__name__)

TABLES = vocab.TABLES
_FORMATS = ("parquet", "csv")


# ------------------------------------------------------------------------- code map
CodeTable = dict[str, dict[str, str]]


class CodeMap(StrictModel):
    """Translation of local codes to the contract's vocabulary, per table and column.

    Each table maps column names to ``{local code: contract code}``. Codes that are
    already contract codes need no entry. Only categorical columns can be mapped
    (``status``, ``event``, ``end_reason``, ``kind``, ``grade``, ``sex``, ``subject``,
    ``home_language``, ``language``); targets of vocabulary columns must be in the
    vocabulary.

    Examples
    --------
    >>> cm = CodeMap(attendance={"status": {"n": "absent_unexcused", "k": "late"}})
    >>> cm.for_column("attendance", "status")["n"]
    'absent_unexcused'
    >>> cm = CodeMap.from_yaml("configs/codes.yaml")  # doctest: +SKIP
    """

    pupils: CodeTable = {}
    enrolments: CodeTable = {}
    attendance: CodeTable = {}
    grades: CodeTable = {}
    engagement: CodeTable = {}
    support: CodeTable = {}
    schools: CodeTable = {}

    @field_validator(*TABLES, mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        out = {}
        for column, codes in value.items():
            if not isinstance(codes, Mapping):
                out[column] = codes
                continue
            inner = {}
            for local, target in codes.items():
                for v in (local, target):
                    if isinstance(v, bool) or v is None:
                        raise ValueError(
                            f"code {v!r} in column {column!r} was read as {type(v).__name__}; "
                            "quote codes such as 'no', 'yes', 'on', 'off', 'null' in YAML"
                        )
                inner[str(local)] = str(target)
            out[column] = inner
        return out

    @model_validator(mode="after")
    def _check_columns(self) -> CodeMap:
        specs = {t: {c.name: c for c in V.SPECS[t]} for t in TABLES}
        for table in TABLES:
            for column, codes in getattr(self, table).items():
                if column not in V.MAPPABLE[table]:
                    raise ValueError(
                        f"{table}.{column} cannot take a code map; mappable columns of "
                        f"{table}: {', '.join(V.MAPPABLE[table])}"
                    )
                allowed = specs[table][column].vocab
                if allowed is not None:
                    bad = sorted({t for t in codes.values() if t not in allowed})
                    if bad:
                        raise ValueError(
                            f"{table}.{column} maps to unknown codes {bad}; "
                            f"allowed: {', '.join(allowed)}"
                        )
        return self

    def for_column(self, table: str, column: str) -> dict[str, str]:
        """The ``{local: contract}`` mapping of one column (empty when none)."""
        return getattr(self, table).get(column, {})


def _as_codemap(codes) -> CodeMap:
    if codes is None or isinstance(codes, CodeMap):
        return codes or CodeMap()
    if isinstance(codes, (str, os.PathLike, Mapping)):
        return load_config(CodeMap, codes if not isinstance(codes, os.PathLike) else Path(codes))
    raise TypeError(
        "The 'codes' parameter of SchoolTables must be a CodeMap, a mapping, a path to a "
        f"YAML file or None. Got {type(codes).__name__} instead."
    )


# --------------------------------------------------------------------- SchoolTables
class SchoolTables:
    """Validated, normalised school records (the data contract of DESIGN.md, section 3).

    Parameters
    ----------
    pupils, enrolments : pandas.DataFrame
        Required tables.
    attendance, grades, engagement, support, schools : pandas.DataFrame or None
        Optional tables; ``None`` when missing. Objects with a ``to_pandas()`` method
        (pyarrow tables, polars frames) are converted.
    codes : CodeMap, mapping, path or None
        Local codes to contract codes, applied before the codes are validated, e.g.
        ``{"attendance": {"status": {"n": "absent_unexcused"}}}`` or
        ``"configs/codes.yaml"``.
    validate : bool, default True
        Check values (codes, ranges, duplicates, overlaps) and raise on violations.
        With ``False`` the tables are only converted to the normalised dtypes; use it
        only for tables that are known to be valid.

    Raises
    ------
    DataValidationError
        Listing every violation of every table: table, column, number of rows and
        up to five example values.
    TypeError
        When a table is not a DataFrame.

    Notes
    -----
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
    """

    pupils: pd.DataFrame
    enrolments: pd.DataFrame
    attendance: pd.DataFrame | None
    grades: pd.DataFrame | None
    engagement: pd.DataFrame | None
    support: pd.DataFrame | None
    schools: pd.DataFrame | None

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
    ):
        raw = {
            "pupils": pupils, "enrolments": enrolments, "attendance": attendance,
            "grades": grades, "engagement": engagement, "support": support, "schools": schools,
        }
        codemap = _as_codemap(codes)
        frames = {name: _as_frame(name, df) for name, df in raw.items()}
        normalised = _normalise_all(frames, codemap, validate=validate)
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
        >>> tables.has("attendance")  # doctest: +SKIP
        True
        """
        if name not in TABLES:
            raise ValueError(
                f"The 'name' parameter of SchoolTables.has must be one of {', '.join(TABLES)}. "
                f"Got {name!r} instead."
            )
        df = getattr(self, name)
        return df is not None and len(df) > 0

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the tables that are present (not None), in contract order."""
        return tuple(n for n in TABLES if getattr(self, n) is not None)

    @property
    def pupil_ids(self) -> pd.Index:
        """``pupils.pupil_id`` as an Index (the categories of every ``pupil_id`` column)."""
        return pd.Index(self.pupils["pupil_id"], name="pupil_id")

    def __getitem__(self, name: str) -> pd.DataFrame | None:
        if name not in TABLES:
            raise KeyError(f"{name!r} is not a table; tables: {', '.join(TABLES)}")
        return getattr(self, name)

    def to_dict(self) -> dict[str, pd.DataFrame]:
        """The present tables as ``{name: DataFrame}``."""
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
        as_of : str, datetime or pandas.Timestamp
            A tz-naive date.

        Returns
        -------
        SchoolTables

        Examples
        --------
        >>> past = tables.as_known_at("2025-10-01")  # doctest: +SKIP
        >>> (past.attendance["date"] < "2025-10-01").all()  # doctest: +SKIP
        True
        """
        ts = _as_timestamp(as_of, "as_of", "SchoolTables.as_known_at")
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
        return SchoolTables._from_normalised(out)

    # -- description ------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """One row per present table: rows, distinct pupils and date range.

        Returns
        -------
        pandas.DataFrame
            Columns ``table``, ``rows``, ``pupils``, ``first_date``, ``last_date``.

        Examples
        --------
        >>> tables.summary()  # doctest: +SKIP
        """
        rows = []
        n_pupils = len(self.pupils)
        for name in self.names:
            df = getattr(self, name)
            if name == "pupils":
                pupils = len(df)
            elif "pupil_id" in df.columns:
                codes = df["pupil_id"].array.codes
                pupils = int(np.count_nonzero(np.bincount(codes[codes >= 0],
                                                          minlength=n_pupils)))
            else:
                pupils = np.nan
            col = V.date_column_of(name)
            first = last = pd.NaT
            if col is not None and len(df):
                vals = df[col].to_numpy()
                if name in ("enrolments", "support"):
                    ends = df["end_date"].to_numpy()
                    vals = np.concatenate([vals, ends])
                ok = vals[~np.isnat(vals)]
                if len(ok):
                    first, last = pd.Timestamp(ok.min()), pd.Timestamp(ok.max())
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
        >>> tables.fingerprint()[:12]  # doctest: +SKIP
        '3f1a9c0b52de'
        """
        h = hashlib.sha256(b"riskmodel.SchoolTables/1")
        cache: dict = {}  # category hashes, shared by the pupil_id columns
        for name in TABLES:
            df = getattr(self, name)
            h.update(f"|{name}:".encode())
            if df is None:
                h.update(b"None")
                continue
            h.update(f"{len(df)}:{','.join(df.columns)}:".encode())
            h.update(",".join(str(df[c].dtype if not isinstance(df[c].dtype, pd.CategoricalDtype)
                                  else "category") for c in df.columns).encode())
            h.update(V.frame_digest(df, cache))
        return h.hexdigest()

    def equals(self, other: SchoolTables) -> bool:
        """True when every table of ``other`` equals this one (``DataFrame.equals``)."""
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


# ------------------------------------------------------------------- normalisation
def _as_frame(name: str, df) -> pd.DataFrame | None:
    if df is None:
        if name in vocab.REQUIRED_TABLES:
            raise TypeError(
                f"The '{name}' parameter of SchoolTables must be a pandas DataFrame. Got None."
            )
        return None
    if isinstance(df, pd.DataFrame):
        return df
    to_pandas = getattr(df, "to_pandas", None)
    if callable(to_pandas) and not isinstance(df, (pd.Series, np.ndarray)):
        out = to_pandas()
        if isinstance(out, pd.DataFrame):
            return out
    raise TypeError(
        f"The '{name}' parameter of SchoolTables must be a pandas DataFrame"
        f"{' or None' if name not in vocab.REQUIRED_TABLES else ''}. "
        f"Got {type(df).__name__} instead."
    )


def _normalise_all(frames: dict, codemap: CodeMap, *, validate: bool) -> dict:
    problems = V.Problems()
    out: dict[str, pd.DataFrame | None] = {}

    pupils = _normalise_table("pupils", frames["pupils"], problems, codemap, None)
    out["pupils"] = pupils
    if pupils is not None and "pupil_id" in pupils.columns:
        ids = pupils["pupil_id"]
        cats = pd.Index(ids[ids.notna()].drop_duplicates(), dtype="str")
        if not ids.isna().any() and len(cats) == len(ids):
            cats = pd.Index(ids, dtype="str", copy=False)
    else:
        cats = None  # pupils unusable (reported): other tables are checked on their own
    pupil_dtype = None if cats is None else pd.CategoricalDtype(cats, ordered=False)

    for name in TABLES[1:]:
        out[name] = _normalise_table(name, frames[name], problems, codemap, pupil_dtype)

    if validate:
        _cross_checks(out, problems)
    else:
        # without validation only structural problems (missing columns) are fatal
        problems.items = [p for p in problems.items if p.get("_fatal")]
    if problems:
        for p in problems.items:
            p.pop("_fatal", None)
        problems.items.sort(key=lambda p: TABLES.index(p["table"]))
        raise DataValidationError(problems.format(), problems.items)
    return out


def _normalise_table(name, df, problems: V.Problems, codemap: CodeMap, pupil_dtype):
    if df is None:
        return None
    specs = V.SPECS[name]
    names = [c.name for c in specs]
    cols = list(df.columns)
    if len(set(map(str, cols))) != len(cols):
        dup = sorted({str(c) for c in cols if list(map(str, cols)).count(str(c)) > 1})
        problems.add(name, dup[0], len(df), dup, "duplicated column name")
        problems.items[-1]["_fatal"] = True
        return None
    extra = [c for c in cols if c not in names]
    if extra:
        logger.warning("%s: dropping %d column(s) not in the data contract: %s",
                       name, len(extra), ", ".join(map(str, extra)))
    missing = [c.name for c in specs if c.required and c.name not in cols]
    empty = len(df) == 0
    if empty and name in vocab.REQUIRED_TABLES:
        problems.add(name, None, 0, [], f"the {name} table is empty (it is required)")
        problems.items[-1]["_fatal"] = True
        return None
    if missing and not empty:
        for m in missing:
            problems.add(name, m, len(df), [],
                         f"missing required column {m!r} (columns found: "
                         f"{', '.join(map(str, cols)) or 'none'})")
            problems.items[-1]["_fatal"] = True
        return None

    n = len(df)
    range_index = pd.RangeIndex(n)
    data: dict[str, Any] = {}
    unknown = None
    converted = []
    t0 = time.perf_counter()
    for col in specs:
        if col.name in cols:
            s = df[col.name]
            if not s.index.equals(range_index):
                s = s.reset_index(drop=True)  # lazy under copy-on-write
        elif col.required or col.default is not None:
            # only for empty tables (required) or defaults of optional columns
            s = None
        else:
            continue
        if s is None:
            data[col.name] = _default_column(col, n, pupil_dtype)
            continue
        kind = col.kind
        if kind == "pupil_key":
            data[col.name] = V.parse_pupil_key(s, name, col, problems)
        elif kind == "pupil_ref":
            values, unknown = V.parse_pupil_ref(s, name, col, problems, pupil_dtype)
            if unknown is not None:
                not_null = unknown & s.notna().to_numpy()
                if not_null.any():
                    examples = V.examples_at(s, not_null)
                    logger.warning(
                        "%s: dropping %d row(s) of pupils not in the pupils table "
                        "(examples: %s)", name, int(np.count_nonzero(not_null)),
                        ", ".join(map(repr, examples)))
            data[col.name] = values
        elif kind in ("id", "category"):
            mapping = codemap.for_column(name, col.name) if kind == "category" else None
            if mapping:
                s = _map_values(s, mapping)
            data[col.name] = V.parse_id(s, name, col, problems)
        elif kind == "code":
            data[col.name] = V.parse_code(s, name, col, problems,
                                          codemap.for_column(name, col.name))
        elif kind == "date":
            data[col.name] = V.parse_date(s, name, col, problems)
        elif kind == "int":
            data[col.name] = V.parse_int(s, name, col, problems)
        elif kind == "bool":
            data[col.name] = V.parse_bool(s, name, col, problems)
        else:  # pragma: no cover - specs are fixed
            raise AssertionError(kind)
        if data[col.name] is not s:
            converted.append(col.name)
    if converted and n:
        elapsed = time.perf_counter() - t0
        logger.log(
            logging.INFO if elapsed > 1.0 else logging.DEBUG,
            "%s: converted %s to the normalised dtypes (%d rows, %.2f s); tables that "
            "already have them are only checked, which is much faster",
            name, ", ".join(converted), n, elapsed)
    out = pd.DataFrame(data, copy=False)
    if unknown is not None:
        out = out[~unknown].reset_index(drop=True)
    return out


def _default_column(col: V.Col, n: int, pupil_dtype):
    if col.kind == "pupil_key":
        return pd.array([None] * n, dtype="str")
    if col.kind == "pupil_ref":
        dtype = pupil_dtype or pd.CategoricalDtype(pd.Index([], dtype="str"))
        return pd.Categorical.from_codes(np.full(n, -1, np.int32), dtype=dtype)
    if col.kind == "date":
        return np.full(n, np.datetime64("NaT"), dtype=V.NS)
    if col.kind == "int":
        return np.full(n, col.default if col.default is not None else 0, dtype=col.dtype)
    if col.kind == "bool":
        return np.zeros(n, dtype=bool)
    if col.kind == "code":
        dtype = V.code_dtype(col.vocab)
        code = -1 if col.default is None else dtype.categories.get_loc(col.default)
        return pd.Categorical.from_codes(np.full(n, code, np.int8), dtype=dtype)
    return pd.Categorical.from_codes(np.full(n, -1, np.int8),
                                     dtype=pd.CategoricalDtype(pd.Index([], dtype="str")))


def _map_values(s: pd.Series, mapping: dict[str, str]) -> pd.Series:
    """Apply a code map to a free-vocabulary column, working on its unique values."""
    codes, uniques = V.factorize(s)
    mapped = V.ids_to_str(uniques).map(lambda v: mapping.get(v, v))  # unique values only
    ucodes, cats = pd.factorize(mapped)
    new = V.take_codes(ucodes.astype(np.int64), codes)
    return pd.Series(pd.Categorical.from_codes(new, categories=pd.Index(cats, dtype="str")))


def _cross_checks(t: dict, problems: V.Problems) -> None:
    """Checks that span columns or tables (ranges, orderings, overlaps)."""
    for name, df in t.items():
        if df is None:
            continue
        for col in V.SPECS[name]:
            if col.kind == "date" and col.name in df.columns:
                V.check_date_range(df[col.name].to_numpy(), name, col, problems)

    enr = t.get("enrolments")
    if enr is not None and len(enr):
        start = enr["start_date"].to_numpy()
        end = enr["end_date"].to_numpy()
        with np.errstate(invalid="ignore"):
            backwards = ~np.isnat(end) & ~np.isnat(start) & (end < start)
        problems.add_mask("enrolments", "end_date", backwards,
                          enr["pupil_id"].astype(object) + ": " + enr["start_date"].astype(str)
                          + " -> " + enr["end_date"].astype(str) if backwards.any() else None,
                          "enrolment ending before it starts (end_date < start_date)")
        if not any(p["table"] == "enrolments" and p["column"] == "end_reason"
                   for p in problems.items):  # unknown codes (now NaN) are reported already
            reason_null = enr["end_reason"].isna().to_numpy()
            problems.add_mask("enrolments", "end_reason", ~np.isnat(end) & reason_null,
                              enr["end_date"], "end_date without end_reason")
            problems.add_mask("enrolments", "end_reason", np.isnat(end) & ~reason_null,
                              enr["end_reason"], "end_reason without end_date (still open)")
        _check_overlaps(enr, "enrolments", problems)
        pupils = t.get("pupils")
        if (pupils is not None and "birth_date" in pupils.columns
                and len(pupils) == len(enr["pupil_id"].cat.categories)):  # codes = rows
            codes = enr["pupil_id"].array.codes
            birth = pupils["birth_date"].to_numpy()[codes]
            age_ok = birth + np.timedelta64(3 * 365, "D")
            with np.errstate(invalid="ignore"):
                young = ~np.isnat(birth) & ~np.isnat(start) & (start < age_ok)
            problems.add_mask(
                "pupils", "birth_date", young,
                enr["pupil_id"].astype(object) if young.any() else None,
                "enrolment starting before the pupil is 3 years old "
                "(birth_date too late or start_date too early)")

    sup = t.get("support")
    if sup is not None and len(sup):
        start = sup["start_date"].to_numpy()
        end = sup["end_date"].to_numpy()
        backwards = ~np.isnat(end) & ~np.isnat(start) & (end < start)
        problems.add_mask("support", "end_date", backwards,
                          sup["pupil_id"].astype(object) if backwards.any() else None,
                          "support period ending before it starts (end_date < start_date)")

    sch = t.get("schools")
    if sch is not None and len(sch):
        dup = sch["school_id"].duplicated(keep=False).to_numpy()
        problems.add_mask("schools", "school_id", dup, sch["school_id"],
                          "duplicate school_id (school ids must be unique)")


def _check_overlaps(enr: pd.DataFrame, name: str, problems: V.Problems) -> None:
    """An enrolment starting before an earlier one of the same pupil ended."""
    codes = enr["pupil_id"].array.codes.astype(np.int64)
    start = enr["start_date"].to_numpy().view("int64")
    end = enr["end_date"].to_numpy().view("int64").copy()
    nat = np.iinfo(np.int64).min
    end[end == nat] = np.iinfo(np.int64).max  # open = until forever
    order = np.lexsort((start, codes))
    c, s, e = codes[order], start[order], end[order]
    if len(c) < 2:
        return
    # running max of end within each pupil (ends of all earlier enrolments)
    grp_start = np.r_[True, c[1:] != c[:-1]]
    prev_end = pd.Series(e).groupby(np.cumsum(grp_start)).cummax().to_numpy()
    overlap = np.zeros(len(c), dtype=bool)
    overlap[1:] = ~grp_start[1:] & (s[1:] < prev_end[:-1])
    if overlap.any():
        rows = order[overlap]
        ex = (enr["pupil_id"].astype(object).iloc[rows] + " from "
              + enr["start_date"].iloc[rows].dt.strftime("%Y-%m-%d"))
        problems.add(name, "start_date", int(overlap.sum()), list(ex),
                     "enrolment starting before the same pupil's previous enrolment "
                     "ended (overlapping enrolments)")


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


def _as_timestamp(value, param: str, where: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        ts = None
    if ts is None or ts is pd.NaT or pd.isna(ts) or ts.tzinfo is not None:
        raise ValueError(
            f"The '{param}' parameter of {where} must be a tz-naive date such as "
            f"'2025-10-01'. Got {value!r} instead."
        )
    return ts


# ------------------------------------------------------------------------------ I/O
_STR_COLUMNS = {
    t: [c.name for c in cols if c.kind not in ("int",)] for t, cols in V.SPECS.items()
}


def read_tables(folder, *, format: str | None = None, codes=None, validate: bool = True
                ) -> SchoolTables:
    """Read ``<table>.parquet`` or ``<table>.csv`` files from a folder into SchoolTables.

    Parameters
    ----------
    folder : str or path
        Folder with one file per table (``pupils``, ``enrolments`` required).
    format : {"parquet", "csv"} or None
        File format; None takes whichever exists (Parquet first).
    codes : CodeMap, mapping, path or None
        Local-code map, see :class:`SchoolTables`.
    validate : bool, default True
        Passed to :class:`SchoolTables`.

    Returns
    -------
    SchoolTables

    Raises
    ------
    DataValidationError
        When a required table file is missing, or the data break the contract.

    Examples
    --------
    >>> tables = rm.read_tables("data/school_2025")  # doctest: +SKIP
    """
    folder = Path(folder)
    if format is not None and format not in _FORMATS:
        raise ValueError(
            f"The 'format' parameter of read_tables must be one of {_FORMATS} or None. "
            f"Got {format!r} instead."
        )
    if not folder.is_dir():
        raise DataValidationError(
            f"Folder {str(folder)!r} does not exist or is not a folder.",
            [{"table": None, "column": None, "n_rows": 0, "examples": [str(folder)],
              "message": "folder not found"}],
        )
    frames: dict[str, pd.DataFrame | None] = {}
    missing = []
    for name in TABLES:
        path = _find_file(folder, name, format)
        if path is None:
            if name in vocab.REQUIRED_TABLES:
                missing.append(name)
            frames[name] = None
            continue
        frames[name] = _read_one(path, name)
    if missing:
        fmts = [format] if format else list(_FORMATS)
        expected = [f"{m}.{f}" for m in missing for f in fmts]
        problems = [{"table": m, "column": None, "n_rows": 0, "examples": [],
                     "message": "required table file missing"} for m in missing]
        raise DataValidationError(
            f"Folder {str(folder)!r} lacks the required table file(s) "
            f"{', '.join(missing)} (expected one of: {', '.join(expected)}).",
            problems,
        )
    return SchoolTables(**frames, codes=codes, validate=validate)


def _find_file(folder: Path, name: str, format: str | None) -> Path | None:
    found = [folder / f"{name}.{fmt}" for fmt in ([format] if format else _FORMATS)]
    found = [p for p in found if p.is_file()]
    if len(found) > 1:
        logger.warning("%s: both %s and %s exist; reading %s (pass format= to choose)",
                       name, found[0].name, found[1].name, found[0].name)
    return found[0] if found else None


def _read_one(path: Path, name: str) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    header = pd.read_csv(path, nrows=0).columns
    dtype = {c: "str" for c in header if c in _STR_COLUMNS[name]}
    return pd.read_csv(path, dtype=dtype, keep_default_na=False, na_values=[""])


def write_tables(tables: SchoolTables, folder, format: str = "parquet", *,
                 overwrite: bool = False) -> Path:
    """Write the present tables as ``<table>.<format>`` files into ``folder``.

    The files are written into a temporary folder next to ``folder`` and moved into
    place only when all of them were written, so a failure leaves nothing
    half-written.

    Parameters
    ----------
    tables : SchoolTables
    folder : str or path
        Target folder; it must not exist or be empty unless ``overwrite`` is True.
    format : {"parquet", "csv"}, default "parquet"
    overwrite : bool, default False
        Replace existing table files in ``folder`` (other files are left alone;
        table files of tables not present are removed).

    Returns
    -------
    pathlib.Path
        The folder.

    Examples
    --------
    >>> rm.write_tables(tables, "out/tables", format="csv")  # doctest: +SKIP
    """
    if not isinstance(tables, SchoolTables):
        raise TypeError(
            "The 'tables' parameter of write_tables must be a SchoolTables. "
            f"Got {type(tables).__name__} instead."
        )
    if format not in _FORMATS:
        raise ValueError(
            f"The 'format' parameter of write_tables must be one of {_FORMATS}. "
            f"Got {format!r} instead."
        )
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(
            f"The 'folder' parameter of write_tables must be a folder. Got {str(folder)!r}, "
            "which is a file."
        )
    existing = folder.exists() and any(folder.iterdir())
    if existing and not overwrite:
        raise FileExistsError(
            f"Folder {str(folder)!r} exists and is not empty; pass overwrite=True to "
            "replace its table files."
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        for name in tables.names:
            df = getattr(tables, name)
            target = tmp / f"{name}.{format}"
            if format == "parquet":
                df.to_parquet(target, index=False)
            else:
                df.to_csv(target, index=False)
        if not folder.exists():
            os.replace(tmp, folder)
            return folder
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            os.replace(tmp, folder)
            return folder
        for name in TABLES:  # overwrite: move files in, remove stale table files
            for fmt in _FORMATS:
                p = folder / f"{name}.{fmt}"
                if p.exists() and not (tmp / p.name).exists():
                    p.unlink()
        for f in tmp.iterdir():
            os.replace(f, folder / f.name)
        tmp.rmdir()
        return folder
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)

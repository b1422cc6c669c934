"""Column specifications and vectorised parsers behind :class:`riskmodel.SchoolTables`.

Private module. Every parser takes one input column, returns the column in its
normalised dtype (see ``HELPERS.md``, "Normalised table form") and records the
contract violations it found in a :class:`Problems` collector instead of raising,
so that one :class:`~riskmodel.errors.DataValidationError` can report every
problem of every table at once.

Speed rules (tables reach tens of millions of rows):

* a column that already has its normalised dtype is checked, not re-parsed;
* everything else is factorised first and only the *unique* values are parsed,
  then mapped back with one ``numpy.take`` — school records repeat a few
  hundred dates and a handful of codes millions of times;
* no per-row Python anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import vocab

__all__ = ["Col", "SPECS", "Problems"]

NS = "datetime64[ns]"
MAX_EXAMPLES = 5

_TRUE = ("true", "t", "1", "yes", "y", "jā", "ja")
_FALSE = ("false", "f", "0", "no", "n", "nē", "ne")


# --------------------------------------------------------------------------- specs
@dataclass(frozen=True)
class Col:
    """One column of the contract.

    kind is one of ``pupil_key`` (pupils.pupil_id, str), ``pupil_ref`` (pupil_id of
    every other table, categorical over pupils), ``id`` and ``category``
    (free-vocabulary categoricals with str categories), ``code`` (categorical
    over a fixed vocabulary), ``date``, ``int`` and ``bool``.
    """

    name: str
    kind: str
    required: bool = True
    nullable: bool = False
    vocab: tuple[str, ...] | None = None
    dtype: str | None = None  # int dtype
    lo: int | None = None
    hi: int | None = None
    default: Any = None  # value used when an optional column is absent (None = omit)
    fill_null: Any = None  # value replacing nulls (None = nulls stay or are problems)


SPECS: dict[str, tuple[Col, ...]] = {
    "pupils": (
        Col("pupil_id", "pupil_key"),
        Col("birth_date", "date"),
        Col("sex", "code", nullable=True, vocab=vocab.SEXES),
        Col("home_language", "category", required=False, nullable=True),
        Col("migrant_background", "bool", required=False),
        Col("special_needs", "bool", required=False),
    ),
    "enrolments": (
        Col("pupil_id", "pupil_ref"),
        Col("school_id", "id"),
        Col("municipality_id", "id"),
        Col("school_year", "int", dtype="int16", lo=1990, hi=2100),
        Col("grade", "int", dtype="int8", lo=vocab.MIN_GRADE_LEVEL, hi=vocab.MAX_GRADE_LEVEL),
        Col("start_date", "date"),
        Col("end_date", "date", nullable=True),
        Col("end_reason", "code", nullable=True, vocab=vocab.END_REASONS),
    ),
    "attendance": (
        Col("pupil_id", "pupil_ref"),
        Col("date", "date"),
        Col("status", "code", vocab=vocab.ATTENDANCE_STATUSES),
        Col("lessons", "int", required=False, dtype="int16", lo=0, hi=np.iinfo(np.int16).max,
            default=1),
    ),
    "grades": (
        Col("pupil_id", "pupil_ref"),
        Col("date", "date"),
        Col("subject", "category"),
        Col("grade", "code", vocab=vocab.GRADE_VALUES),
        Col("kind", "code", required=False, vocab=vocab.GRADE_KINDS, default="formative",
            fill_null="formative"),
    ),
    "engagement": (
        Col("pupil_id", "pupil_ref"),
        Col("date", "date"),
        Col("event", "code", vocab=vocab.ENGAGEMENT_EVENTS),
    ),
    "support": (
        Col("pupil_id", "pupil_ref"),
        Col("start_date", "date"),
        Col("end_date", "date", nullable=True),
        Col("kind", "code", vocab=vocab.SUPPORT_KINDS),
    ),
    "schools": (
        Col("school_id", "id"),
        Col("municipality_id", "id"),
        Col("urban", "bool", required=False),
        Col("language", "category", required=False, nullable=True),
    ),
}

#: columns whose values a code map may translate (categorical, not ids)
MAPPABLE = {
    t: tuple(c.name for c in cols if c.kind in ("code", "category")) for t, cols in SPECS.items()
}

_CODE_DTYPES: dict[tuple[str, ...], pd.CategoricalDtype] = {}


def code_dtype(values: tuple[str, ...]) -> pd.CategoricalDtype:
    """The (cached) categorical dtype of a vocabulary, categories in vocab order."""
    dt = _CODE_DTYPES.get(values)
    if dt is None:
        dt = pd.CategoricalDtype(pd.Index(list(values), dtype="str"), ordered=False)
        _CODE_DTYPES[values] = dt
    return dt


def date_column_of(table: str) -> str | None:
    """The column that dates an event row (None for tables without one)."""
    names = [c.name for c in SPECS[table]]
    if "date" in names:
        return "date"
    if "start_date" in names:
        return "start_date"
    if "birth_date" in names:
        return "birth_date"
    return None


# ------------------------------------------------------------------------- problems
class Problems:
    """Collects contract violations of all tables."""

    def __init__(self) -> None:
        self.items: list[dict] = []

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, table: str, column: str | None, n_rows: int, examples, message: str) -> None:
        ex = [_plain(v) for v in list(examples)[:MAX_EXAMPLES]]
        self.items.append(
            {"table": table, "column": column, "n_rows": int(n_rows), "examples": ex,
             "message": message}
        )

    def add_mask(self, table, column, mask: np.ndarray, values, message: str) -> None:
        """Record a problem for the rows where ``mask`` is True (if any)."""
        n = int(np.count_nonzero(mask))
        if n:
            self.add(table, column, n, examples_at(values, mask), message)

    def format(self) -> str:
        n = len(self.items)
        tables = sorted({p["table"] for p in self.items})
        lines = [
            f"The data break the data contract: {n} problem{'s' if n != 1 else ''} "
            f"in table{'s' if len(tables) != 1 else ''} {', '.join(tables)}."
        ]
        for p in self.items:
            where = p["table"] + (f".{p['column']}" if p["column"] else "")
            ex = ""
            if p["examples"]:
                ex = " Examples: " + ", ".join(repr(v) for v in p["examples"]) + "."
            lines.append(f"- {where}: {p['n_rows']:,} row{'s' if p['n_rows'] != 1 else ''}: "
                         f"{p['message']}.{ex}")
        return "\n".join(lines)


def _plain(v):
    """Turn numpy/pandas scalars into plain Python values for messages."""
    if isinstance(v, pd.Timestamp):
        return str(v.date()) if v == v.normalize() else str(v)
    if isinstance(v, np.generic):
        return v.item()
    return v


def examples_at(values, mask: np.ndarray, k: int = MAX_EXAMPLES) -> list:
    """Up to ``k`` distinct values at the first rows where ``mask`` is True."""
    idx = np.flatnonzero(mask)[: 50 * k]
    if isinstance(values, (pd.Series, pd.Index)):
        vals = values.iloc[idx] if isinstance(values, pd.Series) else values[idx]
        vals = list(vals)
    else:
        vals = list(np.asarray(values)[idx])
    out, seen = [], set()
    for v in vals:
        key = repr(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
        if len(out) == k:
            break
    return out


# -------------------------------------------------------------------------- helpers
def factorize(s: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Codes (-1 = missing) and unique values; free for categoricals."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.array.codes, s.cat.categories  # a view, no copy
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    return codes, pd.Index(uniques)


def take_codes(lut: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``lut[codes]`` with code -1 mapped to -1, in one take."""
    ext = np.empty(len(lut) + 1, dtype=lut.dtype)
    ext[:-1] = lut
    ext[-1] = -1
    return ext.take(codes)  # -1 indexes the last element


def small_int_dtype(n: int):
    for dt in (np.int8, np.int16, np.int32):
        if n < np.iinfo(dt).max:
            return dt
    return np.int64


def ids_to_str(values: pd.Index) -> pd.Index:
    """Id or code values as stripped strings; integral numbers lose their ``.0``.

    ``values`` holds unique, non-missing values (a handful for codes, one per
    pupil for ids), so this is cheap; common cases are vectorised.
    """
    if len(values) == 0:
        return pd.Index([], dtype="str")
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return pd.Index(np.asarray(values).astype(str), dtype="str")
    if pd.api.types.is_integer_dtype(dtype):
        return pd.Index(np.asarray(values, dtype="int64").astype(str), dtype="str")
    if pd.api.types.is_float_dtype(dtype):
        return _floats_to_str(np.asarray(values, dtype="float64"))
    if dtype != object and pd.api.types.is_string_dtype(dtype):
        return pd.Index(values, dtype="str").str.strip()
    arr = np.asarray(values, dtype=object)
    inferred = pd.api.types.infer_dtype(arr, skipna=True)
    if inferred == "string":
        return pd.Index(arr, dtype="str").str.strip()
    if inferred == "integer":
        return pd.Index(arr.astype("int64").astype(str), dtype="str")
    if inferred in ("floating", "mixed-integer-float"):
        return _floats_to_str(arr.astype("float64"))
    # mixed python values (rare): one by one, numbers written without ".0"
    out = np.empty(len(arr), dtype=object)
    for i, v in enumerate(arr):
        if isinstance(v, (bool, np.bool_)):
            out[i] = str(bool(v))
        elif isinstance(v, (int, np.integer)):
            out[i] = str(int(v))
        elif isinstance(v, (float, np.floating)) and np.isfinite(v) and float(v).is_integer():
            out[i] = str(int(v))
        else:
            out[i] = str(v).strip()
    return pd.Index(out, dtype="str")


def _floats_to_str(arr: np.ndarray) -> pd.Index:
    out = arr.astype(str).astype(object)
    integral = np.isfinite(arr) & (arr == np.round(arr))
    out[integral] = arr[integral].astype("int64").astype(str)
    return pd.Index(out, dtype="str")


def _same_categories(have, want: pd.CategoricalDtype) -> bool:
    """Same categories in the same order, same category dtype, unordered."""
    return (
        isinstance(have, pd.CategoricalDtype)
        and not have.ordered
        and (have.categories is want.categories or (
            have.categories.dtype == want.categories.dtype
            and have.categories.equals(want.categories)))
    )


# -------------------------------------------------------------------------- parsers
def parse_pupil_key(s: pd.Series, table: str, col: Col, problems: Problems) -> pd.Series:
    """pupils.pupil_id -> str Series; nulls and duplicates are problems."""
    if s.dtype == "str" and not isinstance(s.dtype, pd.CategoricalDtype):
        out = s.str.strip() if len(s) and _needs_strip(s) else s
    else:
        codes, uniques = factorize(s)
        strs = ids_to_str(uniques)
        out = pd.Series(strs.take(codes, allow_fill=True, fill_value=None), dtype="str",
                        index=s.index)
    null = out.isna().to_numpy()
    if null.any():
        problems.add(table, col.name, int(null.sum()), [],
                     "missing pupil_id (ids may not be null)")
    dup = out.duplicated(keep=False).to_numpy() & ~null
    if dup.any():
        problems.add_mask(table, col.name, dup, out,
                          "duplicate pupil_id (pupil ids must be unique)")
    return out


def _needs_strip(s: pd.Series) -> bool:
    st = s.str
    return bool((st.len() != st.strip().str.len()).any())


def parse_pupil_ref(
    s: pd.Series, table: str, col: Col, problems: Problems, pupil_dtype: pd.CategoricalDtype
) -> tuple[pd.Categorical, np.ndarray]:
    """pupil_id of a record table -> Categorical over pupils; returns (values, unknown mask).

    ``pupil_dtype`` None (pupils table unusable) checks the column on its own.
    """
    if pupil_dtype is None:
        pupil_dtype = pd.CategoricalDtype(ids_to_str(factorize(s)[1]).unique())
    target = pupil_dtype.categories
    probed = _probe_arrow_strings(s, target)
    if probed is not None:
        codes = new = probed  # -1 = missing id; unknown ids were resolved or are -2
        unknown = new == -2
        codes = np.where(unknown, 0, codes)  # an id, not a null
        new = np.where(unknown, -1, new)
    elif isinstance(s.dtype, pd.CategoricalDtype) and (
        (uniques := factorize(s)[1]) is target or uniques.equals(target)
    ):
        codes = new = s.array.codes
        new = codes
        unknown = None
    else:
        codes, uniques = factorize(s)
        strs = ids_to_str(uniques)
        lut = target.get_indexer(strs).astype(np.int32)
        new = take_codes(lut, codes)
        unknown = (new < 0) & (codes >= 0)
    null = codes < 0
    if null.any():
        problems.add(table, col.name, int(np.count_nonzero(null)), [],
                     "missing pupil_id (ids may not be null)")
        # rows without a pupil are dropped too (this matters only with validate=False)
        unknown = null if unknown is None else (unknown | null)
    if unknown is None or not unknown.any():
        unknown = None
    if unknown is None and new is codes and _same_categories(s.dtype, pupil_dtype):
        return s, None  # already normalised: the input Series, no copy (copy-on-write)
    cat = pd.Categorical.from_codes(new.astype(np.int32, copy=False), dtype=pupil_dtype,
                                    validate=False)
    return cat, unknown


def _probe_arrow_strings(s: pd.Series, target: pd.Index) -> np.ndarray | None:
    """Row positions in ``target`` of an Arrow-backed string column, or None.

    One hash probe per row (:func:`pyarrow.compute.index_in`) instead of
    factorising the column first; ids that are not found as they are get the
    full treatment (stripping, number formatting) on their unique values.
    Returns -1 for missing ids and -2 for ids not in ``target``.
    """
    if isinstance(s.dtype, pd.CategoricalDtype) or not isinstance(s.dtype, pd.StringDtype) \
            or s.dtype.storage != "pyarrow" or len(s) == 0:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pa.array(s.array)  # zero-copy view of the Arrow data
    value_set = pa.array(np.asarray(target, dtype=object), type=values.type)
    pos = pc.index_in(values, value_set=value_set)
    out = np.array(pos.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int32)
    miss = out < 0
    if miss.any():
        isnull = s.isna().to_numpy()
        miss &= ~isnull
        if miss.any():  # not found verbatim: normalise those ids and look again
            idx = np.flatnonzero(miss)
            codes, uniques = factorize(s.iloc[idx].reset_index(drop=True))
            lut = target.get_indexer(ids_to_str(uniques)).astype(np.int32)
            lut[lut < 0] = -2
            out[idx] = take_codes(lut, codes)
    return out


def parse_id(s: pd.Series, table: str, col: Col, problems: Problems) -> pd.Categorical:
    """A free-vocabulary column (ids, subject, language) -> Categorical over sorted str values."""
    codes, uniques = factorize(s)
    used = None
    if len(uniques) and len(codes):
        counts = np.bincount(codes[codes >= 0], minlength=len(uniques)) if (codes >= 0).any() \
            else np.zeros(len(uniques), dtype=np.int64)
        used = counts > 0
    fast = (
        isinstance(s.dtype, pd.CategoricalDtype)
        and uniques.dtype == "str"
        and uniques.is_monotonic_increasing
        and (used is None or used.all())
        and not s.cat.ordered
    )
    if fast:
        cats, new = uniques, codes
    else:
        strs = ids_to_str(uniques)
        if used is not None:
            strs_used = strs[used]
        else:
            strs_used = strs[:0]
        cats = pd.Index(np.unique(np.asarray(strs_used[strs_used.notna()], dtype=object))
                        if len(strs_used) else [], dtype="str")
        lut = cats.get_indexer(strs).astype(small_int_dtype(len(cats)) if len(cats) < 2**31
                                            else np.int64)
        new = take_codes(lut, codes)
    null = codes < 0
    if not col.nullable and null.any():
        problems.add(table, col.name, int(np.count_nonzero(null)), [],
                     f"missing {col.name} (it may not be null)")
    if fast:
        return s  # already normalised: the input Series, no copy (copy-on-write)
    dtype = pd.CategoricalDtype(cats, ordered=False)
    return pd.Categorical.from_codes(new, dtype=dtype, validate=False)


def parse_code(
    s: pd.Series, table: str, col: Col, problems: Problems, mapping: dict[str, str] | None
) -> pd.Categorical:
    """A code column -> Categorical over its vocabulary; unknown codes are problems."""
    dtype = code_dtype(col.vocab)
    target = dtype.categories
    codes, uniques = factorize(s)
    if not mapping and isinstance(s.dtype, pd.CategoricalDtype) and uniques.equals(target):
        new = codes
    else:
        strs = ids_to_str(uniques)
        if mapping:
            strs = pd.Index(strs.to_series().map(lambda v: mapping.get(v, v)).to_numpy(),
                            dtype="str")  # unique values only
        lut = target.get_indexer(strs).astype(np.int8)
        new = take_codes(lut, codes)
        bad_u = np.flatnonzero(lut < 0)
        if len(bad_u):
            counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
            n = int(counts[bad_u].sum())
            order = bad_u[np.argsort(-counts[bad_u], kind="stable")]
            allowed = ", ".join(col.vocab)
            problems.add(table, col.name, n, [uniques[i] for i in order],
                         f"unknown {col.name} code (allowed: {allowed}; "
                         "map local codes with the `codes` argument)")
    null = codes < 0
    if null.any():
        if col.fill_null is not None:
            new = np.where(null, target.get_loc(col.fill_null), new)
        elif not col.nullable:
            problems.add(table, col.name, int(np.count_nonzero(null)), [],
                         f"missing {col.name} (it may not be null)")
    if new is codes and _same_categories(s.dtype, dtype):
        return s  # already normalised: the input Series, no copy (copy-on-write)
    if not new.flags.writeable:
        new = new.copy()
    new = np.asarray(new).astype(np.int8, copy=False)
    return pd.Categorical.from_codes(new, dtype=dtype, validate=False)


def parse_date(s: pd.Series, table: str, col: Col, problems: Problems):
    """A date column -> datetime64[ns] Series or numpy array.

    Already ``datetime64[ns]``: returned as is (range checked later by
    :func:`check_date_range`). Other datetime units and tz-aware values (wall time
    kept): converted. Anything else is parsed on its unique values: ISO 8601
    strings, then ``dd.mm.yyyy``, then date/datetime objects. Unparseable and
    out-of-range values are problems.
    """
    if s.dtype == NS:
        values = s  # already normalised: the input Series, no copy (copy-on-write)
        null = np.isnat(s.to_numpy())
    elif isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s.dtype):
        parsed = s.dt.tz_localize(None) if isinstance(s.dtype, pd.DatetimeTZDtype) else s
        unit_vals = parsed.to_numpy()
        null = np.isnat(unit_vals)
        values = _range_to_ns(unit_vals, table, col, problems, row_values=parsed)
    else:
        codes, uniques = factorize(s)
        parsed_u = _parse_date_values(uniques)
        bad_u = np.isnat(parsed_u)
        if bad_u.any():
            counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
            idx = np.flatnonzero(bad_u)
            order = idx[np.argsort(-counts[idx], kind="stable")]
            problems.add(table, col.name, int(counts[idx].sum()), [uniques[i] for i in order],
                         "value that cannot be parsed as a date "
                         "(use ISO dates such as '2025-09-01')")
        ns_u = _range_to_ns(parsed_u, table, col, problems, uniques=uniques, codes=codes)
        values = take_codes(ns_u.view("int64"), codes).view(NS)  # NaT is int64 min
        values[codes < 0] = np.datetime64("NaT")
        null = codes < 0
    if not col.nullable and null.any():
        problems.add(table, col.name, int(np.count_nonzero(null)), [],
                     f"missing {col.name} (may not be null)")
    return values


def _parse_date_values(uniques: pd.Index) -> np.ndarray:
    """Parse unique date-like values to datetime64[us] (NaT where unparseable)."""
    out = np.full(len(uniques), np.datetime64("NaT"), dtype="datetime64[us]")
    if len(uniques) == 0:
        return out
    inferred = pd.api.types.infer_dtype(uniques, skipna=True)
    if inferred == "string":
        is_str = np.ones(len(uniques), dtype=bool)
    elif inferred in ("date", "datetime", "datetime64"):
        is_str = np.zeros(len(uniques), dtype=bool)
    elif inferred in ("integer", "floating", "mixed-integer-float", "boolean", "decimal",
                      "empty"):
        return out  # numbers are not dates
    else:  # mixed: sort the unique values out one by one
        is_str = np.fromiter((isinstance(v, str) for v in uniques), dtype=bool,
                             count=len(uniques))
    if is_str.any():
        strs = np.asarray(uniques, dtype=object)[is_str]
        p = _to_datetime(strs, format="ISO8601")
        miss = np.isnat(p)
        if miss.any():  # retry stripped, then as dd.mm.yyyy (Latvian usage)
            retry = pd.Series(strs[miss], dtype="str").str.strip()
            p2 = _to_datetime(retry.to_numpy(dtype=object), format="ISO8601")
            still = np.isnat(p2)
            if still.any():
                p2[still] = _to_datetime(retry.to_numpy(dtype=object)[still], format="%d.%m.%Y")
            p[miss] = p2
        out[is_str] = p
    other = ~is_str
    if other.any():
        out[other] = _to_datetime(np.asarray(uniques, dtype=object)[other], format=None)
    return out


def _to_datetime(values: np.ndarray, format) -> np.ndarray:
    """``pd.to_datetime(errors="coerce")`` of an object array as datetime64[us].

    Time-zone offsets are dropped (wall time kept).
    """
    try:
        p = pd.to_datetime(values, errors="coerce", format=format)
    except (ValueError, TypeError, OverflowError):
        p = pd.to_datetime(values, errors="coerce", format=format, utc=True)
    if not isinstance(p, pd.DatetimeIndex):  # e.g. an Index of mixed results
        return np.full(len(values), np.datetime64("NaT"), dtype="datetime64[us]")
    if p.tz is not None:
        p = p.tz_localize(None)
    return p.to_numpy().astype("datetime64[us]")


def _range_to_ns(unit_vals: np.ndarray, table, col, problems, *, row_values=None,
                 uniques=None, codes=None) -> np.ndarray:
    """Check [MIN_DATE, MAX_DATE] in the values' own unit, then convert to ns.

    Out-of-range values (which may not fit into ns at all) become NaT after being
    reported, either per row (``row_values``) or per unique value (``uniques`` and
    the row ``codes``).
    """
    unit = np.datetime_data(unit_vals.dtype)[0]
    lo = np.datetime64(vocab.MIN_DATE, unit)
    hi = np.datetime64(vocab.MAX_DATE, unit) + np.timedelta64(1, "D").astype(f"m8[{unit}]")
    nat = np.isnat(unit_vals)
    out = ~nat & ((unit_vals < lo) | (unit_vals >= hi))
    if out.any():
        msg = f"impossible date outside {vocab.MIN_DATE}..{vocab.MAX_DATE}"
        if codes is None:
            problems.add_mask(table, col.name, out, row_values, msg)
        else:
            counts = np.bincount(codes[codes >= 0], minlength=len(out))
            idx = np.flatnonzero(out)
            problems.add(table, col.name, int(counts[idx].sum()), [uniques[i] for i in idx], msg)
        unit_vals = unit_vals.copy()
        unit_vals[out] = np.datetime64("NaT")
    return unit_vals.astype(NS, copy=False)


def check_date_range(values: np.ndarray, table: str, col: Col, problems: Problems) -> None:
    """Range check of an already-ns array (fast path: min/max first)."""
    iv = values.view("int64")
    if len(iv) == 0:
        return
    nat = np.iinfo(np.int64).min
    lo = pd.Timestamp(vocab.MIN_DATE).value
    hi = (pd.Timestamp(vocab.MAX_DATE) + pd.Timedelta(days=1)).value
    vmax = iv.max()
    # NaT is int64 min, so min() < lo whenever NaT exists; check the mask only then
    vmin = iv.min()
    if vmin >= lo and vmax < hi:
        return
    bad = ((iv < lo) & (iv != nat)) | (iv >= hi)
    problems.add_mask(table, col.name, bad, pd.Series(values),
                      f"impossible date outside {vocab.MIN_DATE}..{vocab.MAX_DATE}")


def parse_int(s: pd.Series, table: str, col: Col, problems: Problems) -> np.ndarray:
    """An integer column -> numpy int8/int16; unparseable, non-integral, out-of-range are problems."""
    dtype = np.dtype(col.dtype)
    if pd.api.types.is_integer_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype):
        if s.hasnans:  # nullable Int columns
            null = s.isna().to_numpy()
            problems.add(table, col.name, int(null.sum()), [],
                         f"missing {col.name} (it may not be null)")
            arr = s.fillna(0).to_numpy(dtype="int64")
        else:
            arr = s.to_numpy()
            if arr.dtype == dtype and (not len(arr) or (arr.min() >= col.lo
                                                        and arr.max() <= col.hi)):
                return s  # already normalised: the input Series, no copy (copy-on-write)
        if len(arr):
            mn, mx = arr.min(), arr.max()
            if mn < col.lo or mx > col.hi:
                bad = (arr < col.lo) | (arr > col.hi)
                problems.add_mask(table, col.name, bad, arr,
                                  f"value outside {col.lo}..{col.hi}")
                arr = np.where(bad, col.lo, arr)
        return arr.astype(dtype, copy=False)
    # general path: unique values through to_numeric
    codes, uniques = factorize(s)
    if pd.api.types.is_bool_dtype(uniques.dtype):
        num = pd.Series(np.full(len(uniques), np.nan))
    else:
        u = uniques.to_series(index=None).reset_index(drop=True) if len(uniques) else \
            pd.Series([], dtype=float)
        if u.dtype == object or pd.api.types.is_string_dtype(u.dtype):
            u = u.map(lambda v: v.strip() if isinstance(v, str) else v)  # unique values only
        num = pd.to_numeric(u, errors="coerce").astype("float64")
    numv = num.to_numpy(dtype="float64")
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques)) if len(uniques) else None
    unparse = np.isnan(numv)
    nonint = ~unparse & ((numv != np.round(numv)) | ~np.isfinite(numv))
    outr = ~unparse & ~nonint & ((numv < col.lo) | (numv > col.hi))
    for mask, msg in (
        (unparse, "value that cannot be parsed as an integer"),
        (nonint, "value that is not a whole number"),
        (outr, f"value outside {col.lo}..{col.hi}"),
    ):
        if mask.any():
            idx = np.flatnonzero(mask)
            problems.add(table, col.name, int(counts[idx].sum()), [uniques[i] for i in idx], msg)
    good = ~(unparse | nonint | outr)
    lut = np.where(good, np.nan_to_num(numv, nan=0.0, posinf=0.0, neginf=0.0), 0).astype(dtype)
    null = codes < 0
    if null.any():
        problems.add(table, col.name, int(np.count_nonzero(null)), [],
                     f"missing {col.name} (it may not be null)")
    return take_codes(lut, codes).astype(dtype, copy=False) if len(lut) else np.zeros(
        len(codes), dtype=dtype)


def parse_bool(s: pd.Series, table: str, col: Col, problems: Problems) -> np.ndarray:
    """A boolean column -> numpy bool; accepts bools, 0/1 and true/false/yes/no/jā/nē."""
    if s.dtype == bool:
        return s
    codes, uniques = factorize(s)
    if len(uniques) == 0:
        lut = np.zeros(0, dtype=np.int8)
    elif pd.api.types.is_bool_dtype(uniques.dtype):
        lut = np.asarray(uniques, dtype=bool).astype(np.int8)
    else:
        strs = ids_to_str(uniques).str.lower()
        lut = np.where(strs.isin(_TRUE), 1, np.where(strs.isin(_FALSE), 0, -1))
        lut = lut.astype(np.int8)
    new = take_codes(lut, codes)
    if (lut < 0).any():
        counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
        idx = np.flatnonzero(lut < 0)
        problems.add(table, col.name, int(counts[idx].sum()), [uniques[i] for i in idx],
                     "value that cannot be read as true/false")
    null = codes < 0
    if null.any():
        problems.add(table, col.name, int(np.count_nonzero(null)), [],
                     f"missing {col.name} (use true or false)")
    return new > 0


# ------------------------------------------------------------------------ hashing
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_NULL_HASH = np.uint64(0x6A09E667F3BCC908)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, in place on a uint64 array."""
    h ^= h >> np.uint64(30)
    h *= _M1
    h ^= h >> np.uint64(27)
    h *= _M2
    h ^= h >> np.uint64(31)
    return h


def _light_mix(h: np.ndarray) -> np.ndarray:
    """Multiply-xorshift, in place (enough for one column before the final mix)."""
    h *= _M1
    h ^= h >> np.uint64(29)
    return h


_CHUNK = 1 << 18  # rows per hashing step: temporaries stay in cache, no big allocations


def _column_hasher(s: pd.Series, cache: dict):
    """A function ``(start, stop) -> uint64 hashes`` of one column's rows.

    The hashes depend on the values only. Categoricals hash their categories
    once (:func:`pandas.util.hash_array`, a fixed key, so stable across
    processes) and take by code, so the same values under another category
    order hash the same; missing values hash to a constant. Numbers and dates
    are mixed from their 64-bit value.
    """
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        hit = cache.get(id(cats))
        if hit is None or hit[0] is not cats:
            ch = pd.util.hash_array(np.asarray(cats, dtype=object), categorize=False)
            hit = (cats, np.append(ch, _NULL_HASH).astype(np.uint64))
            cache[id(cats)] = hit
        lut, codes = hit[1], s.array.codes
        return lambda a, b: lut.take(codes[a:b])
    if dtype == object or pd.api.types.is_string_dtype(dtype):
        h = np.asarray(pd.util.hash_array(np.asarray(s, dtype=object), categorize=True),
                       dtype=np.uint64)
        return lambda a, b: h[a:b].copy()
    values = s.to_numpy()
    kind = values.dtype.kind
    if kind == "M":
        values = values.view("int64")
    elif kind == "f":
        values = values.astype("float64", copy=False).view("int64")
    elif kind == "b":
        values = values.view(np.uint8)

    def numeric(a, b):
        h = values[a:b].astype(np.uint64)
        if kind == "b":
            h += np.uint64(0x51ED27)
        return _light_mix(h)

    return numeric


def frame_digest(df: pd.DataFrame, cache: dict) -> bytes:
    """Row-order-independent digest of a frame: sum and xor of the mixed row hashes.

    A row's hash is a polynomial in its column hashes (so the column a value is in
    matters) passed through the splitmix64 finaliser (so that sums over rows do
    not decompose into sums over columns). Works in chunks of rows.
    """
    n = len(df)
    if n == 0:
        return b""
    hashers = [_column_hasher(df[c], cache) for c in df.columns]
    total = xor = 0  # Python ints: numpy scalar additions would warn on wrap-around
    for a in range(0, n, _CHUNK):
        b = min(a + _CHUNK, n)
        row = hashers[0](a, b)
        for hasher in hashers[1:]:
            row *= np.uint64(0x100000001B3)
            row += hasher(a, b)
        _mix(row)
        total = (total + int(np.add.reduce(row, dtype=np.uint64))) & 0xFFFFFFFFFFFFFFFF
        xor ^= int(np.bitwise_xor.reduce(row))
    return np.array([total, xor], dtype="<u8").tobytes()

"""Vectorised column parsers behind :class:`riskmodel.SchoolTables` (private).

Every parser takes one input column, returns the column in its normalised dtype
(see :mod:`riskmodel.schema`) and records the contract violations it found in a
:class:`._validation.Problems` collector instead of raising. Dates are parsed in
:mod:`._parse_dates`.

Speed rules (tables reach tens of millions of rows):

* a column that already has its normalised dtype is checked, not re-parsed;
* everything else is factorised first and only the *unique* values are parsed,
  then mapped back with one ``numpy.take`` — school records repeat a few
  hundred dates and a handful of codes millions of times;
* no per-row Python anywhere.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._validation import Col, Problems, code_dtype

#: an id that a spreadsheet turned into a float and wrote back as text
_FLOAT_ID = r"[+-]?\d+\.0+"
FLOAT_IDS = ("ids look like numbers a spreadsheet converted to floats; export them as text "
             "(as floats, ids such as '0012345' lose their leading zeros)")

_TRUE = ("true", "t", "1", "yes", "y", "jā", "ja")
_FALSE = ("false", "f", "0", "no", "n", "nē", "ne")


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


def float_id_mask(uniques: pd.Index) -> np.ndarray:
    """True for the (unique, non-missing) id values that are floats or read like
    ``"12345.0"``: numbers a spreadsheet converted to floats."""
    if len(uniques) == 0:
        return np.zeros(0, dtype=bool)
    dtype = uniques.dtype
    if pd.api.types.is_float_dtype(dtype):
        return np.ones(len(uniques), dtype=bool)
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
        return np.zeros(len(uniques), dtype=bool)
    if dtype != object and pd.api.types.is_string_dtype(dtype):
        return np.asarray(uniques.str.strip().str.fullmatch(_FLOAT_ID), dtype=bool)
    arr = np.asarray(uniques, dtype=object)
    is_float = np.fromiter((isinstance(v, (float, np.floating)) for v in arr), dtype=bool,
                           count=len(arr))
    is_str = np.fromiter((isinstance(v, str) for v in arr), dtype=bool, count=len(arr))
    if is_str.any():
        strs = pd.Index(arr[is_str], dtype="str").str.strip()
        is_float[is_str] = np.asarray(strs.str.fullmatch(_FLOAT_ID), dtype=bool)
    return is_float


def report_float_ids(s: pd.Series, table: str, col: Col, problems: Problems,
                     rows: np.ndarray | None = None) -> None:
    """Report the values of ``s`` (or of its ``rows``) that are float-like ids."""
    if rows is not None:
        s = s[rows]
    _report_float_uniques(*factorize(s), table, col, problems)


def _report_float_uniques(codes: np.ndarray, uniques: pd.Index, table: str, col: Col,
                          problems: Problems) -> None:
    """Report the float-like ids among ``uniques`` that ``codes`` use."""
    bad = float_id_mask(uniques)
    if bad.any():
        counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
        idx = np.flatnonzero(bad & (counts > 0))
        if len(idx):
            problems.add(table, col.name, int(counts[idx].sum()),
                         [uniques[i] for i in idx], FLOAT_IDS)


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
    if pd.api.types.is_float_dtype(s.dtype) or s.dtype == object:
        report_float_ids(s, table, col, problems)
    elif len(out):
        flt = np.asarray(out.str.fullmatch(_FLOAT_ID), dtype=bool)  # NaN -> False
        problems.add_mask(table, col.name, flt, out, FLOAT_IDS)
    null = out.isna().to_numpy()
    if null.any():
        problems.add(table, col.name, int(null.sum()), [],
                     "missing pupil_id (ids may not be null)")
    return out


def report_duplicate_keys(out: pd.Series, table: str, col: Col, problems: Problems) -> None:
    """Duplicate (non-null) values of a key column are problems."""
    dup = out.duplicated(keep=False).to_numpy() & out.notna().to_numpy()
    if dup.any():
        problems.add_mask(table, col.name, dup, out,
                          f"duplicate {col.name} ({col.name} values must be unique; rows "
                          "that repeat another row exactly are dropped, these differ)")


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
    if pd.api.types.is_float_dtype(s.dtype):
        report_float_ids(s, table, col, problems)
    elif unknown is not None and unknown.any():  # verbatim ids of pupils are not floats
        report_float_ids(s, table, col, problems, rows=unknown)
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
    """A free-vocabulary column (ids, subject, language) -> Categorical over sorted str values.

    Ids (kind ``id``) that are floats or read like ``"12345.0"`` are problems.
    """
    codes, uniques = factorize(s)
    if col.kind == "id":
        _report_float_uniques(codes, uniques, table, col, problems)
    used = None
    any_null = bool(len(codes)) and codes.min() < 0  # one pass; no mask when nothing is null
    if len(uniques) and len(codes):
        valid = codes[codes >= 0] if any_null else codes
        counts = np.bincount(valid, minlength=len(uniques)) if len(valid) \
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
    if not col.nullable and any_null:
        problems.add(table, col.name, int(np.count_nonzero(codes < 0)), [],
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

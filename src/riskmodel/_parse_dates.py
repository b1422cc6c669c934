"""Date parsing behind :class:`riskmodel.SchoolTables` (private).

Dates are parsed on their unique values (ISO 8601, then ``dd.mm.yyyy``, then
date/datetime objects), range-checked against :data:`riskmodel.vocab.MIN_DATE`
and :data:`~riskmodel.vocab.MAX_DATE` in their own unit (so that out-of-range
values cannot overflow), and returned as ``datetime64[ns]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import vocab
from ._parsers import factorize, take_codes
from ._validation import NS, Col, Problems


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

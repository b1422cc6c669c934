"""Date parsing behind :class:`riskmodel.SchoolTables` (private).

Dates are parsed on their unique values (in the one form a column is written
in, ISO 8601 or ``dd.mm.yyyy``, or with an explicit ``date_format``; date and
datetime objects as they are), cut to the day, range-checked against :data:`riskmodel.vocab.MIN_DATE`
and :data:`~riskmodel.vocab.MAX_DATE` in their own unit (so that out-of-range
values cannot overflow), and returned as ``datetime64[ns]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import vocab
from ._parsers import factorize, take_codes
from ._validation import NS, Col, Problems


#: the date forms recognised when no ``date_format`` is given (one per column)
_FAMILIES = (
    ("ISO 8601", r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
                 r"(?:Z|[+-]\d{2}(?::?\d{2})?)?"),
    ("dd.mm.yyyy", r"\d{1,2}\.\d{1,2}\.\d{4}(?: \d{1,2}:\d{2}(?::\d{2})?)?"),
    ("dd/mm/yyyy or mm/dd/yyyy", r"\d{1,2}/\d{1,2}/\d{4}(?: \d{1,2}:\d{2}(?::\d{2})?)?"),
)
_LV_FORMATS = ("%d.%m.%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S")
_DAY = np.timedelta64(1, "D")


def parse_date(s: pd.Series, table: str, col: Col, problems: Problems,
               date_format: str | None = None):
    """A date column -> datetime64[ns] Series or numpy array.

    Already ``datetime64[ns]``: returned as is (range checked later by
    :func:`check_date_range`). Other datetime units and tz-aware values (wall time
    kept): converted and cut to the day. Strings are parsed on their unique values
    with ``date_format`` when given, else in the one form the column is written
    in (ISO 8601, or ``dd.mm.yyyy`` with or without ``HH:MM[:SS]``), detected per
    column: a column mixing forms, or written ``01/02/2024`` (day or month first?),
    is a problem asking for ``date_format``, never guessed row by row. A time of
    day is dropped (records are dated by day). Unparseable and out-of-range values
    are problems.
    """
    if s.dtype == NS:
        values = s  # already normalised: the input Series, no copy (copy-on-write)
        null = np.isnat(s.to_numpy())
    elif isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s.dtype):
        parsed = s.dt.tz_localize(None) if isinstance(s.dtype, pd.DatetimeTZDtype) else s
        unit_vals = parsed.to_numpy()
        null = np.isnat(unit_vals)
        values = _range_to_ns(unit_vals, table, col, problems, row_values=parsed)
        values = values.astype("datetime64[D]").astype(NS)  # the day (NaT stays NaT)
    else:
        codes, uniques = factorize(s)
        counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
        parsed_u, unparsed = _parse_date_values(uniques, counts, table, col, problems,
                                                date_format)
        bad_u = np.isnat(parsed_u) & unparsed
        if bad_u.any():
            idx = np.flatnonzero(bad_u)
            order = idx[np.argsort(-counts[idx], kind="stable")]
            hint = (f"it does not match date_format {date_format!r}" if date_format else
                    "use ISO dates such as '2025-09-01', or dd.mm.yyyy such as '01.09.2025'")
            problems.add(table, col.name, int(counts[idx].sum()), [uniques[i] for i in order],
                         f"value that cannot be parsed as a date ({hint})")
        ns_u = _range_to_ns(parsed_u, table, col, problems, uniques=uniques, codes=codes)
        values = take_codes(ns_u.view("int64"), codes).view(NS)  # NaT is int64 min
        values[codes < 0] = np.datetime64("NaT")
        null = codes < 0
    if not col.nullable and null.any():
        problems.add(table, col.name, int(np.count_nonzero(null)), [],
                     f"missing {col.name} (may not be null)")
    return values


def _parse_date_values(uniques: pd.Index, counts: np.ndarray, table: str, col: Col,
                       problems: Problems, date_format: str | None):
    """Parse unique date-like values to datetime64[us] cut to the day.

    Returns the parsed values (NaT where unparseable) and a mask of the values
    that count as unparseable (False for those already reported otherwise, such
    as every value of a column that mixes date forms).
    """
    out = np.full(len(uniques), np.datetime64("NaT"), dtype="datetime64[us]")
    unparsed = np.ones(len(uniques), dtype=bool)
    if len(uniques) == 0:
        return out, unparsed
    inferred = pd.api.types.infer_dtype(uniques, skipna=True)
    if inferred == "string":
        is_str = np.ones(len(uniques), dtype=bool)
    elif inferred in ("date", "datetime", "datetime64"):
        is_str = np.zeros(len(uniques), dtype=bool)
    elif inferred in ("integer", "floating", "mixed-integer-float", "boolean", "decimal",
                      "empty"):
        return out, unparsed  # numbers are not dates
    else:  # mixed: sort the unique values out one by one
        is_str = np.fromiter((isinstance(v, str) for v in uniques), dtype=bool,
                             count=len(uniques))
    if is_str.any():
        strs = pd.Index(np.asarray(uniques, dtype=object)[is_str], dtype="str").str.strip()
        if date_format is not None:
            p = _to_datetime(np.asarray(strs, dtype=object), format=date_format)
            u = np.ones(len(strs), dtype=bool)
        else:
            p, u = _detect_and_parse(strs, counts[is_str], table, col, problems)
        out[is_str] = p
        unparsed[is_str] = u
    other = ~is_str
    if other.any():
        out[other] = _to_datetime(np.asarray(uniques, dtype=object)[other], format=None)
    return out.astype("datetime64[D]").astype("datetime64[us]"), unparsed


def _detect_and_parse(strs: pd.Index, counts: np.ndarray, table: str, col: Col,
                      problems: Problems):
    """Parse stripped unique strings in the one date form of the column."""
    out = np.full(len(strs), np.datetime64("NaT"), dtype="datetime64[us]")
    unparsed = np.ones(len(strs), dtype=bool)
    family = np.full(len(strs), -1, dtype=np.int8)
    for k, (_, pattern) in enumerate(_FAMILIES):
        hit = np.asarray(strs.str.fullmatch(pattern), dtype=bool) & (family < 0)
        family[hit] = k
    found = [k for k in range(len(_FAMILIES)) if (family == k).any()]
    if len(found) > 1:  # never guessed row by row
        parts = []
        for k in found:
            idx = np.flatnonzero(family == k)
            idx = idx[np.argsort(-counts[idx], kind="stable")][:2]
            parts.append(f"{_FAMILIES[k][0]} ({int(counts[family == k].sum()):,} rows, e.g. "
                         + ", ".join(repr(str(strs[i])) for i in idx) + ")")
        main = max(found, key=lambda k: counts[family == k].sum())
        minor = (family >= 0) & (family != main)
        problems.add(table, col.name, int(counts[minor].sum()),
                     [str(v) for v in strs[minor][np.argsort(-counts[minor], kind="stable")]],
                     "dates written in more than one form: " + "; ".join(parts)
                     + "; riskmodel does not guess row by row: write the column in one form, "
                     "or set date_format (e.g. date_format='%d.%m.%Y') to read it in one")
        problems.items[-1]["_fatal"] = True
        unparsed[family >= 0] = False
        return out, unparsed
    if found == [2]:  # 01/02/2024: 1 February or 2 January?
        parts = strs.str.extract(r"^(\d{1,2})/(\d{1,2})/").astype("float64").to_numpy()
        hint = ""
        if (parts[:, 0] > 12).any() and not (parts[:, 1] > 12).any():
            hint = " (values such as '13/02/2024' suggest day first: '%d/%m/%Y')"
        elif (parts[:, 1] > 12).any() and not (parts[:, 0] > 12).any():
            hint = " (values such as '02/13/2024' suggest month first: '%m/%d/%Y')"
        hit = family == 2
        problems.add(table, col.name, int(counts[hit].sum()),
                     [str(v) for v in strs[hit][np.argsort(-counts[hit], kind="stable")]],
                     "dates written dd/mm/yyyy or mm/dd/yyyy are ambiguous ('01/02/2024' is "
                     "1 February or 2 January): set date_format='%d/%m/%Y' or "
                     f"date_format='%m/%d/%Y'{hint}")
        problems.items[-1]["_fatal"] = True
        unparsed[hit] = False
        return out, unparsed
    arr = np.asarray(strs, dtype=object)
    if found == [0]:
        hit = family == 0
        out[hit] = _to_datetime(arr[hit], format="ISO8601")
    elif found == [1]:
        n_colons = np.array(strs.str.count(":"), dtype=np.int64)
        n_colons[~np.asarray(strs.str.contains(" ", regex=False), dtype=bool)] = 0
        for k, fmt in enumerate(_LV_FORMATS):  # no time, HH:MM, HH:MM:SS
            hit = (family == 1) & (n_colons == k)
            if hit.any():
                out[hit] = _to_datetime(arr[hit], format=fmt)
    return out, unparsed


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

"""Normalisation and validation of the input tables (private; see :mod:`riskmodel.schema`).

:func:`normalise_all` turns raw frames into the normalised form, column by column
through the parsers of :mod:`._parsers` and :mod:`._parse_dates`, then runs the
checks that span columns or tables, and raises one
:class:`~riskmodel.errors.DataValidationError` listing every problem.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

import dataclasses

from . import _parsers as PR
from . import _validation as V
from . import vocab
from ._codemap import CodeMap
from ._column_maps import input_columns, rename_columns
from ._duplicates import attendance_duplicates, drop_exact_duplicates
from ._lessons import aggregate_lessons, lesson_codes
from ._parse_dates import check_date_range, parse_date
from .errors import DataValidationError
from .vocab import TABLES

logger = logging.getLogger("riskmodel.schema")  # the contract's warnings keep their logger

def as_frame(name: str, df) -> pd.DataFrame | None:
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


def normalise_all(frames: dict, codemap: CodeMap, *, validate: bool,
                  columns: dict | None = None, date_format=None) -> dict:
    """Normalise every table; ``columns`` is the checked ``columns`` argument and
    ``date_format`` a str, None or ``{table: str}``."""
    problems = V.Problems()
    out: dict[str, pd.DataFrame | None] = {}
    columns = columns or {}

    def options(name):
        colmap = {**codemap.columns_for(name), **columns.get(name, {})}
        fmt = date_format.get(name) if isinstance(date_format, dict) else date_format
        return {"colmap": colmap, "date_format": fmt, "validate": validate}

    pupils = _normalise_table("pupils", frames["pupils"], problems, codemap, None,
                              **options("pupils"))
    if pupils is not None and "pupil_id" in pupils.columns:
        if validate:
            pupils = drop_exact_duplicates("pupils", pupils, ["pupil_id"], problems, None)
        PR.report_duplicate_keys(pupils["pupil_id"], "pupils", V.SPECS["pupils"][0], problems)
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
        out[name] = _normalise_table(name, frames[name], problems, codemap, pupil_dtype,
                                     **options(name))

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


def _normalise_table(name, df, problems: V.Problems, codemap: CodeMap, pupil_dtype, *,
                     colmap: dict, date_format, validate: bool):
    if df is None:
        return None
    specs = V.SPECS[name]
    names = list(input_columns(name))
    cols = list(df.columns)
    if len(set(map(str, cols))) != len(cols):
        dup = sorted({str(c) for c in cols if list(map(str, cols)).count(str(c)) > 1})
        problems.add(name, dup[0], len(df), dup, "duplicated column name")
        problems.items[-1]["_fatal"] = True
        return None
    renames = rename_columns(name, cols, colmap, problems, len(df))
    if renames is None:
        return None
    renames = {k: v for k, v in renames.items() if k != v}
    if renames:
        df = df.rename(columns=renames)  # lazy under copy-on-write
        cols = list(df.columns)
    per_lesson = name == "attendance" and "lesson" in cols
    if per_lesson and "lessons" in cols:
        problems.add(name, "lesson", len(df), [],
                     "both `lesson` (one row per lesson) and `lessons` (one row per day with "
                     "a count) are given: keep the one that describes the rows")
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
        expects = {t: h for h, t in colmap.items()}
        for m in missing:
            hint = (f"; the column map expects the header {expects[m]!r}" if m in expects
                    else "")
            problems.add(name, m, len(df), [],
                         f"missing required column {m!r} (columns found: "
                         f"{', '.join(map(str, cols)) or 'none'}{hint})")
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
            data[col.name] = PR.parse_pupil_key(s, name, col, problems)
        elif kind == "pupil_ref":
            values, unknown = PR.parse_pupil_ref(s, name, col, problems, pupil_dtype)
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
            data[col.name] = PR.parse_id(s, name, col, problems)
        elif kind == "code":
            mapping = codemap.for_column(name, col.name)
            if per_lesson and col.name == "status":  # a lesson without a mark: attended
                col = dataclasses.replace(col, fill_null="present")
                mapping = {"": "present", **mapping}
            data[col.name] = PR.parse_code(s, name, col, problems, mapping)
        elif kind == "date":
            data[col.name] = parse_date(s, name, col, problems, date_format)
        elif kind == "int":
            data[col.name] = PR.parse_int(s, name, col, problems)
        elif kind == "bool":
            data[col.name] = PR.parse_bool(s, name, col, problems)
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
    if per_lesson:
        lesson, named = lesson_codes(df["lesson"])
        if unknown is not None:
            lesson = lesson[~unknown]
    if unknown is not None:
        out = out[~unknown].reset_index(drop=True)
    if per_lesson:
        return aggregate_lessons(out, lesson, named, problems)
    if validate and len(out) > 1:
        out = _duplicates(name, out, problems)
    return out


def _duplicates(name: str, df: pd.DataFrame, problems: V.Problems) -> pd.DataFrame:
    """Exact duplicates dropped, conflicting rows reported (the rule of ``_duplicates``)."""
    if name == "attendance":
        return attendance_duplicates(df, problems)
    if name == "enrolments":
        return drop_exact_duplicates(
            name, df, ["pupil_id", "start_date"], problems,
            "two enrolments of the same pupil starting on the same day that differ "
            "(conflicting rows)")
    if name == "support":
        return drop_exact_duplicates(
            name, df, ["pupil_id", "kind", "start_date"], problems,
            "the same support of the same pupil starting on the same day twice with "
            "different end dates (conflicting rows)")
    if name == "schools":  # differing rows of one school_id are reported by the key check
        return drop_exact_duplicates(name, df, ["school_id"], problems, None)
    return df  # pupils: in normalise_all; grades, engagement: identical rows are real events


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
    codes, uniques = PR.factorize(s)
    mapped = PR.ids_to_str(uniques).map(lambda v: mapping.get(v, v))  # unique values only
    ucodes, cats = pd.factorize(mapped)
    new = PR.take_codes(ucodes.astype(np.int64), codes)
    return pd.Series(pd.Categorical.from_codes(new, categories=pd.Index(cats, dtype="str")))


def _cross_checks(t: dict, problems: V.Problems) -> None:
    """Checks that span columns or tables (ranges, orderings, overlaps)."""
    for name, df in t.items():
        if df is None:
            continue
        for col in V.SPECS[name]:
            if col.kind == "date" and col.name in df.columns:
                check_date_range(df[col.name].to_numpy(), name, col, problems)

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
    # the same start twice is a conflict, reported by the duplicate check
    overlap[1:] = ~grp_start[1:] & (s[1:] < prev_end[:-1]) & (s[1:] != s[:-1])
    if overlap.any():
        rows = order[overlap]
        ex = (enr["pupil_id"].astype(object).iloc[rows] + " from "
              + enr["start_date"].iloc[rows].dt.strftime("%Y-%m-%d"))
        problems.add(name, "start_date", int(overlap.sum()), list(ex),
                     "enrolment starting before the same pupil's previous enrolment "
                     "ended (overlapping enrolments)")

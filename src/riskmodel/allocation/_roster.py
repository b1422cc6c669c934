"""Real rosters: :func:`read_resources` reads and validates a resources file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataValidationError
from ..vocab import DOMAINS
from ._rules import KINDS

__all__ = ["available_mask", "read_resources", "read_roster_file", "roster_info"]

REQUIRED = ("resource_id", "kind", "municipality_id", "capacity")
OPTIONAL = ("school_id", "specialty", "cost_per_pupil", "available_from", "available_to")


def _read_raw(path: Path, sheet: str | None = None, **options) -> pd.DataFrame:
    """The file's cells as text (``None`` for empty cells).

    The bytes are read by :func:`riskmodel._read_files.read_table_file`, the one
    reader of riskmodel (CSV dialect and encoding, Parquet, xlsx; a broken file is a
    :class:`DataValidationError` naming it); ``options`` are its ``encoding``,
    ``sep`` and ``decimal``.
    """
    from .._read_files import SUFFIXES, read_table_file

    if SUFFIXES.get(path.suffix.lower()) is None:
        raise DataValidationError(
            f"Resources file {str(path)!r}: unknown format {path.suffix!r}; use one of "
            f"{', '.join(sorted(SUFFIXES))}.",
            [{"table": str(path), "column": None, "n_rows": 0, "examples": [],
              "message": f"unknown file format {path.suffix!r}"}])
    df = read_table_file(path, "resources", sheet=sheet, **options)
    df.columns = [str(c).strip() for c in df.columns]
    out = {}
    for c in df.columns:
        col = df[c]
        if pd.api.types.is_datetime64_any_dtype(col.dtype):
            text = col.dt.strftime("%Y-%m-%d")
        else:
            text = col.astype(object).where(col.notna(), None)
            text = text.map(lambda v: None if v is None else str(v).strip())
        out[c] = text.where(text != "", None)
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


def _problem(where, column, bad, ids, values, message) -> dict:
    bad = np.asarray(bad, dtype=bool)
    ex = [(str(i), None if v is None else str(v))
          for i, v in list(zip(np.asarray(ids, dtype=object)[bad],
                               np.asarray(values, dtype=object)[bad]))[:3]]
    return {"table": where, "column": column, "n_rows": int(bad.sum()), "examples": ex,
            "message": message}


def validate_roster(raw: pd.DataFrame, where: str = "resources") -> pd.DataFrame:
    """Check a roster of text cells; return typed columns (ids as strings)."""
    missing = [c for c in REQUIRED if c not in raw.columns]
    problems = [{"table": where, "column": c, "n_rows": len(raw), "examples": [],
                 "message": "required column is missing"} for c in missing]
    if problems:
        _raise(problems, where)
    df = raw.reset_index(drop=True)
    # row numbers as the user sees them in the file (header = line 1)
    rows = np.array([f"line {i + 2}" for i in range(len(df))], dtype=object)
    ids = df["resource_id"].to_numpy(dtype=object)
    label = np.array([f"{r} ({i})" for r, i in zip(rows, ids)], dtype=object)
    for col in ("resource_id", "kind", "municipality_id", "capacity"):
        empty = df[col].isna().to_numpy()
        if empty.any():
            problems.append(_problem(where, col, empty, rows, df[col], "empty value"))
    dup = df["resource_id"].notna() & df["resource_id"].duplicated(keep=False)
    if dup.any():
        problems.append(_problem(where, "resource_id", dup, label, ids, "duplicate resource_id"))
    bad = df["kind"].notna() & ~df["kind"].isin(KINDS)
    if bad.any():
        problems.append(_problem(where, "kind", bad, label, df["kind"],
                                 f"unknown kind (allowed: {', '.join(KINDS)})"))
    cap = pd.to_numeric(df["capacity"], errors="coerce").to_numpy(dtype="float64")
    bad = df["capacity"].notna().to_numpy() & (~np.isfinite(cap) | (cap < 1)
                                               | (cap != np.round(cap)))
    if bad.any():
        problems.append(_problem(where, "capacity", bad, label, df["capacity"],
                                 "capacity must be a positive integer"))
    if "cost_per_pupil" in df.columns:
        cost = pd.to_numeric(df["cost_per_pupil"], errors="coerce").to_numpy(dtype="float64")
        bad = df["cost_per_pupil"].notna().to_numpy() & (~np.isfinite(cost) | (cost < 0))
        if bad.any():
            problems.append(_problem(where, "cost_per_pupil", bad, label, df["cost_per_pupil"],
                                     "cost_per_pupil must be a non-negative number"))
        cost = np.where(np.isfinite(cost), cost, 0.0)
    else:
        cost = np.zeros(len(df))
    if "specialty" in df.columns:
        bad = df["specialty"].notna() & ~df["specialty"].isin(DOMAINS)
        if bad.any():
            problems.append(_problem(where, "specialty", bad, label, df["specialty"],
                                     f"unknown specialty (allowed: {', '.join(DOMAINS)} "
                                     "or empty)"))
    dates = {}
    for col in ("available_from", "available_to"):
        if col not in df.columns:
            dates[col] = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")
            continue
        parsed = pd.to_datetime(df[col], errors="coerce", format="%Y-%m-%d")
        bad = df[col].notna() & parsed.isna()
        if bad.any():
            problems.append(_problem(where, col, bad, label, df[col],
                                     "not a date YYYY-MM-DD"))
        dates[col] = parsed.astype("datetime64[ns]")
    order = dates["available_to"] < dates["available_from"]
    if order.any():
        shown = [f"{a} > {b}" for a, b in zip(df.get("available_from", pd.Series(dtype=object)),
                                               df.get("available_to", pd.Series(dtype=object)))]
        problems.append(_problem(where, "available_to", order, label, shown,
                                 "available_to is before available_from"))
    _raise(problems, where)
    out = pd.DataFrame({
        "resource_id": df["resource_id"].astype(str).to_numpy(dtype=object),
        "kind": df["kind"].astype(str).to_numpy(dtype=object),
        "municipality_id": df["municipality_id"].astype(str).to_numpy(dtype=object),
        "school_id": _text_or_none(df, "school_id"),
        "capacity": cap.astype("int64"),
        "specialty": _text_or_none(df, "specialty"),
        "cost_per_pupil": cost.astype("float64"),
        "available_from": dates["available_from"].to_numpy(),
        "available_to": dates["available_to"].to_numpy(),
    })
    return out


def _text_or_none(df: pd.DataFrame, column: str) -> np.ndarray:
    if column not in df.columns:
        return np.full(len(df), None, dtype=object)
    return np.array([None if pd.isna(v) else str(v) for v in df[column]], dtype=object)


def _raise(problems: list[dict], where: str) -> None:
    if not problems:
        return
    lines = [f"column {p['column']!r}: {p['message']} ({p['n_rows']} rows; examples: "
             f"{p['examples']})" for p in problems]
    raise DataValidationError(f"Invalid resources file {where!r}:\n  " + "\n  ".join(lines),
                              problems)


def read_resources(path: str | os.PathLike, *, encoding: str | None = None,
                   sep: str | None = None, decimal: str | None = None) -> pd.DataFrame:
    """Read a roster of mentors, consultants and other support from a file.

    CSV, Parquet or XLSX (the sheet ``resources``, else the only sheet), read as
    :func:`riskmodel.read_tables` reads its files (separator, decimal comma and
    UTF-8 detected; ``encoding`` for other code pages), one row per resource, with
    the columns that :func:`riskmodel.allocate` takes:

    - required: ``resource_id``, ``kind`` (mentor, literacy, subject,
      support_staff, family), ``municipality_id``, ``capacity`` (places, a
      positive integer);
    - optional: ``school_id`` (empty: any school of the municipality),
      ``specialty`` (a domain or empty), ``cost_per_pupil`` (default 0),
      ``available_from`` / ``available_to`` (dates ``YYYY-MM-DD``, inclusive;
      empty: open). :func:`riskmodel.allocate` given ``as_of`` does not use a
      resource that is not available on that date.

    Ids are kept as text exactly as written (``"007"`` stays ``"007"``).

    Parameters
    ----------
    path : path
        ``.csv``, ``.parquet`` or ``.xlsx`` file.
    encoding, sep, decimal : str, optional
        As for :func:`riskmodel.read_tables` (CSV only).

    Returns
    -------
    DataFrame
        ``resource_id, kind, municipality_id, school_id, capacity, specialty,
        cost_per_pupil, available_from, available_to``.

    Raises
    ------
    DataValidationError
        The file is missing or unreadable; a required column is missing; an
        empty required cell, an unknown kind or specialty, a capacity that is
        not a positive integer, a negative cost, a duplicate ``resource_id``, a
        date that does not parse or ``available_to`` before ``available_from``
        (each problem names the file, the column, the number of rows and
        examples with their line numbers).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import riskmodel as rm
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "roster.csv"
    >>> _ = path.write_text("resource_id,kind,municipality_id,capacity\\n"
    ...                     "007,mentor,Rīga,25\\n", encoding="utf-8")
    >>> rm.read_resources(path)[["resource_id", "kind", "capacity"]].values.tolist()
    [['007', 'mentor', 25]]
    >>> _ = path.write_text("resource_id,kind,municipality_id,capacity\\n"
    ...                     "m1,mentor,Rīga,0\\n", encoding="utf-8")
    >>> rm.read_resources(path)
    Traceback (most recent call last):
    ...
    riskmodel.errors.DataValidationError: Invalid resources file '...roster.csv':
      column 'capacity': capacity must be a positive integer (1 rows; examples: [('line 2 (m1)', '0')])
    """
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(
            f"Resources file {str(path)!r} does not exist; give a CSV, Parquet or XLSX roster "
            "(option --resources / resources.path).",
            [{"table": str(path), "column": None, "n_rows": 0, "examples": [],
              "message": "file does not exist"}])
    from .._read_files import SEPARATORS, check_encoding
    from .._checks import check_option

    check_option(sep, "sep", (*SEPARATORS, None), "read_resources")
    check_option(decimal, "decimal", (".", ",", None), "read_resources")
    encoding = check_encoding(encoding, "read_resources")
    return validate_roster(_read_raw(path, encoding=encoding, sep=sep, decimal=decimal),
                           str(path))


def read_roster_file(path: Path, sheet: str | None = None, **options) -> pd.DataFrame:
    """A roster file (or workbook sheet) found by :func:`riskmodel.read_tables`, validated."""
    where = str(path) + (f" (sheet {sheet!r})" if sheet else "")
    return validate_roster(_read_raw(Path(path), sheet=sheet, **options), where)


def available_mask(resources: pd.DataFrame, as_of) -> np.ndarray:
    """Which resources are available on ``as_of`` (all when there are no date columns)."""
    ok = np.ones(len(resources), dtype=bool)
    ts = np.datetime64(pd.Timestamp(as_of).as_unit("ns").to_datetime64(), "ns")
    for col, side in (("available_from", "from"), ("available_to", "to")):
        if col not in resources.columns:
            continue
        d = pd.to_datetime(resources[col], errors="coerce").to_numpy(dtype="datetime64[ns]")
        known = ~np.isnat(d)
        if side == "from":
            ok &= ~known | (d <= ts)
        else:
            ok &= ~known | (d >= ts)
    return ok


def roster_info(resources: pd.DataFrame, source) -> dict:
    """What a manifest says about a roster: its source, fingerprint and size.

    A file's fingerprint is the sha256 of its bytes; the fingerprint of a synthetic
    roster (``source="synthetic"``) or of the data's own roster (``source="data"``,
    the ``resources`` file of the data folder, as read) is the sha256 of its CSV
    text (same table, same fingerprint).
    """
    if source in ("synthetic", "data") or source is None:
        text = resources.to_csv(index=False).encode("utf-8")
        return {"source": source or "synthetic", "sha256": hashlib.sha256(text).hexdigest(),
                "n": int(len(resources))}
    from .._util import file_sha256

    return {"source": str(source), "sha256": file_sha256(Path(source)),
            "n": int(len(resources))}

"""Column specifications and the problem collector behind :class:`riskmodel.SchoolTables`.

Private module. :data:`SPECS` lists every column of the contract (name, kind,
vocabulary, dtype, range); :class:`Problems` collects contract violations
instead of raising, so that one :class:`~riskmodel.errors.DataValidationError`
can report every problem of every table at once. The parsers that turn input
columns into the normalised dtypes (documented in :mod:`riskmodel.schema`)
live in :mod:`._parsers` and :mod:`._parse_dates`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import vocab

__all__ = ["Col", "SPECS", "MAPPABLE", "Problems", "code_dtype", "date_column_of",
           "examples_at"]

NS = "datetime64[ns]"
MAX_EXAMPLES = 5


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
        Col("resource_id", "id", required=False, nullable=True),
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

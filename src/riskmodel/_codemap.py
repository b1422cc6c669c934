"""Translation of local codes to the contract's vocabulary (private; see :mod:`riskmodel.schema`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import field_validator, model_validator

from . import _validation as V
from ._column_maps import column_map_errors
from .config import StrictModel, load_config
from .vocab import TABLES

__all__ = ["CodeMap"]

CodeTable = dict[str, dict[str, str]]


class CodeMap(StrictModel):
    """Translation of local codes to the contract's vocabulary, per table and column.

    Each table maps column names to ``{local code: contract code}``. Codes that are
    already contract codes need no entry. Only categorical columns can be mapped
    (``status``, ``event``, ``end_reason``, ``kind``, ``grade``, ``sex``, ``subject``,
    ``home_language``, ``language``); targets of vocabulary columns must be in the
    vocabulary.

    The reserved key ``columns`` of a table is a column map instead: it renames
    the headers of an export to contract columns, ``{header as written: contract
    column}`` (see :mod:`riskmodel._column_maps` for how headers are matched).
    A target that is not a column of the table, or two headers mapped to one
    column, is an error.

    Examples
    --------
    >>> cm = CodeMap(attendance={"status": {"n": "absent_unexcused", "k": "late"}})
    >>> cm.for_column("attendance", "status")["n"]
    'absent_unexcused'
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "codes.yaml"
    >>> _ = path.write_text("attendance: {status: {'n': absent_unexcused}}")
    >>> CodeMap.from_yaml(path).for_column("attendance", "status")
    {'n': 'absent_unexcused'}
    >>> CodeMap(pupils={"columns": {"Skolēna ID": "pupil_id"}}).columns_for("pupils")
    {'Skolēna ID': 'pupil_id'}
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
                if column == "columns":  # reserved: the table's column map
                    errors = column_map_errors(table, codes)
                    if errors:
                        raise ValueError("; ".join(errors))
                    continue
                if column not in V.MAPPABLE[table]:
                    raise ValueError(
                        f"{table}.{column} cannot take a code map; mappable columns of "
                        f"{table}: {', '.join(V.MAPPABLE[table])} (and the reserved key "
                        "'columns' for a column map)"
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
        """The ``{local: contract}`` mapping of one column (empty when none).

        Examples
        --------
        >>> CodeMap(attendance={"status": {"k": "late"}}).for_column("attendance", "status")
        {'k': 'late'}
        >>> CodeMap().for_column("grades", "grade")
        {}
        """
        if column == "columns":
            return {}
        return getattr(self, table).get(column, {})

    def columns_for(self, table: str) -> dict[str, str]:
        """The column map ``{header: contract column}`` of one table (empty when none).

        Examples
        --------
        >>> CodeMap(attendance={"columns": {"Stunda": "lesson"}}).columns_for("attendance")
        {'Stunda': 'lesson'}
        """
        return dict(getattr(self, table).get("columns", {}))


def as_codemap(codes) -> CodeMap:
    if codes is None or isinstance(codes, CodeMap):
        return codes or CodeMap()
    if isinstance(codes, (str, os.PathLike, Mapping)):
        return load_config(CodeMap, codes if not isinstance(codes, os.PathLike) else Path(codes))
    raise TypeError(
        "The 'codes' parameter of SchoolTables must be a CodeMap, a mapping, a path to a "
        f"YAML file or None. Got {type(codes).__name__} instead."
    )

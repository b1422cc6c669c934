"""Column names of exports -> contract columns (private; see :class:`riskmodel.SchoolTables`).

A column map is ``{table: {header as written: contract column}}``, given as the
``columns`` argument of :class:`~riskmodel.SchoolTables` or as the reserved key
``columns`` of a table in the codes config. Headers are matched after removing a
UTF-8 byte-order mark and surrounding whitespace, in Unicode NFC form (so that
"Skolēna ID" typed on one machine matches the decomposed "ē" another wrote) and
ignoring case; diacritics are never dropped. Headers that already are contract
column names are recognised by the same rule (``"\\ufeffpupil_id "`` and
``"Pupil_ID"`` are ``pupil_id``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from . import _validation as V
from .vocab import TABLES

__all__ = ["header_key", "column_map_errors", "check_column_maps", "input_columns",
           "rename_columns"]

#: columns a table may bring that are not contract columns of its normalised form
INPUT_ONLY = {"attendance": ("lesson",)}


def input_columns(table: str) -> tuple[str, ...]:
    """Contract columns of ``table`` plus the input-only ones (``attendance.lesson``)."""
    return tuple(c.name for c in V.SPECS[table]) + INPUT_ONLY.get(table, ())


def header_key(header) -> str:
    """The form in which headers are compared: NFC, no BOM, stripped, case-folded.

    Examples
    --------
    >>> header_key("\\ufeffSkolēna ID ") == header_key("skolēna id")
    True
    """
    text = unicodedata.normalize("NFC", str(header)).replace("\ufeff", "")
    return text.strip().casefold()


def column_map_errors(table: str, mapping) -> list[str]:
    """What is wrong with one table's column map (empty when it is valid)."""
    if not isinstance(mapping, Mapping):
        return [f"{table}.columns must map headers to contract columns, "
                f"got {type(mapping).__name__}"]
    allowed = input_columns(table)
    errors = []
    bad = [(h, t) for h, t in mapping.items() if t not in allowed]
    for header, target in bad:
        errors.append(f"{table}.columns maps {str(header)!r} to {target!r}, which is not a "
                      f"column of {table} (columns: {', '.join(allowed)})")
    by_target: dict[str, list[str]] = {}
    by_key: dict[str, list[str]] = {}
    for header, target in mapping.items():
        by_target.setdefault(target, []).append(str(header))
        by_key.setdefault(header_key(header), []).append(str(header))
    for target, headers in by_target.items():
        if len(headers) > 1:
            errors.append(f"{table}.columns maps {len(headers)} headers to {target!r}: "
                          f"{', '.join(map(repr, headers))} (one header per column)")
    for headers in by_key.values():
        if len(headers) > 1:
            errors.append(f"{table}.columns has headers that differ only in case, spaces or "
                          f"a byte-order mark: {', '.join(map(repr, headers))}")
    return errors


def check_column_maps(columns, func: str = "SchoolTables") -> dict[str, dict[str, str]]:
    """Validate the ``columns`` argument: ``{table: {header: contract column}}``.

    Raises
    ------
    ValueError
        Naming the table, the headers and the targets that are wrong.

    Examples
    --------
    >>> check_column_maps({"pupils": {"Skolēna ID": "pupil_id"}})
    {'pupils': {'Skolēna ID': 'pupil_id'}}
    >>> check_column_maps({"pupils": {"ID": "id"}})
    Traceback (most recent call last):
    ...
    ValueError: The 'columns' parameter of SchoolTables is invalid: pupils.columns maps 'ID' to 'id', which is not a column of pupils (columns: pupil_id, birth_date, sex, home_language, migrant_background, special_needs)
    """
    if columns is None:
        return {}
    if not isinstance(columns, Mapping):
        raise TypeError(f"The 'columns' parameter of {func} must be a mapping "
                        f"{{table: {{header: column}}}} or None. Got "
                        f"{type(columns).__name__} instead.")
    errors = []
    out: dict[str, dict[str, str]] = {}
    for table, mapping in columns.items():
        if table not in TABLES:
            errors.append(f"{table!r} is not a table (tables: {', '.join(TABLES)})")
            continue
        found = column_map_errors(table, mapping)
        errors.extend(found)
        if not found:
            out[table] = {str(h): str(t) for h, t in mapping.items()}
    if errors:
        raise ValueError(f"The 'columns' parameter of {func} is invalid: " + "; ".join(errors))
    return out


def rename_columns(table: str, columns: list, mapping: Mapping[str, str] | None,
                   problems: V.Problems, n_rows: int) -> dict | None:
    """``{input column: contract column}`` for the columns that get a contract name.

    Columns that match neither the map nor a contract name are left out (they are
    dropped later with a warning). Two input columns giving one contract column
    are a (fatal) problem; None is returned then.
    """
    wanted = {header_key(h): t for h, t in (mapping or {}).items()}
    contract = {header_key(c): c for c in input_columns(table)}
    renames: dict = {}
    sources: dict[str, list] = {}
    for col in columns:
        key = header_key(col)
        target = wanted.get(key) or contract.get(key)
        if target is not None:
            renames[col] = target
            sources.setdefault(target, []).append(col)
    clashes = {t: cols for t, cols in sources.items() if len(cols) > 1}
    for target, cols in clashes.items():
        problems.add(table, target, n_rows, [str(c) for c in cols],
                     f"{len(cols)} columns give the contract column {target!r} (after the "
                     "column map; headers are compared without case, spaces or a byte-order "
                     "mark): keep one of them or map the others elsewhere")
        problems.items[-1]["_fatal"] = True
    return None if clashes else renames

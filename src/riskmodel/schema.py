"""The data contract: validated, normalised school tables.

:class:`SchoolTables` holds the input tables (pupils, enrolments, attendance,
grades, engagement, support, schools; see ``docs/data_contract.md``), checks them
on construction and normalises their types so that every later step can rely on
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
Parquet or CSV files named after the tables; :func:`read_tables` also reads
``.xlsx`` workbooks and the CSV that Excel saves on a Latvian machine.

This module is the public face of the contract; the work is done in small
private modules:

- :mod:`._validation` — the column specifications and the problem collector;
- :mod:`._parsers`, :mod:`._parse_dates` — vectorised parsers, one per column kind;
- :mod:`._codemap` — :class:`CodeMap`;
- :mod:`._normalise` — normalisation and the checks across columns and tables;
- :mod:`._school_tables` — the :class:`SchoolTables` container;
- :mod:`._fingerprint` — :meth:`SchoolTables.fingerprint`;
- :mod:`._table_io` — :func:`read_tables` and :func:`write_tables`;
- :mod:`._read_files` — reading one file (CSV dialect, encoding, xlsx, broken files).
"""

from __future__ import annotations

from ._codemap import CodeMap
from ._school_tables import SchoolTables
from ._table_io import read_tables, write_tables
from .vocab import TABLES

__all__ = ["SchoolTables", "CodeMap", "read_tables", "write_tables"]

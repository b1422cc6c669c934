"""Reading and writing a folder of table files (private; see :mod:`riskmodel.schema`).

A tables folder holds one ``<table>.parquet`` or ``<table>.csv`` file per table.
:func:`write_tables` writes through :func:`riskmodel._atomic.atomic_output_dir`,
the one atomic folder swap of riskmodel. The file that marks a folder as a
riskmodel tables folder is its pupils file (``pupils.parquet`` or
``pupils.csv``), which every tables folder has; any other non-empty folder is
refused with the same :class:`~riskmodel.ConfigError` as every other writer.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd

from . import _validation as V
from . import vocab
from ._atomic import atomic_output_dir, check_output_dir
from ._checks import InvalidParameterError, check_bool, check_option
from ._school_tables import SchoolTables
from .errors import DataValidationError
from .vocab import TABLES

__all__ = ["FORMATS", "read_tables", "write_tables"]

logger = logging.getLogger("riskmodel.schema")  # the contract's warnings keep their logger

#: File formats of a tables folder, in the order read_tables looks for them.
FORMATS = ("parquet", "csv")
_STR_COLUMNS = {
    t: [c.name for c in cols if c.kind not in ("int",)] for t, cols in V.SPECS.items()
}
_TABLE_FILES = frozenset(f"{t}.{fmt}" for t in TABLES for fmt in FORMATS)


def read_tables(folder, *, format: str | None = None, codes=None, validate: bool = True
                ) -> SchoolTables:
    """Read ``<table>.parquet`` or ``<table>.csv`` files from a folder into SchoolTables.

    Parameters
    ----------
    folder : str or path
        Folder with one file per table (``pupils``, ``enrolments`` required).
    format : {"parquet", "csv"} or None
        File format; None takes whichever exists (Parquet first).
    codes : CodeMap, mapping, path or None
        Local-code map, see :class:`SchoolTables`.
    validate : bool, default True
        Passed to :class:`SchoolTables`.

    Returns
    -------
    SchoolTables

    Raises
    ------
    DataValidationError
        When a required table file is missing, or the data break the contract.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import riskmodel as rm
    >>> world = rm.datasets.make_school_system(n_pupils=300, n_years=3, random_state=0)
    >>> folder = rm.write_tables(world.tables, pathlib.Path(tempfile.mkdtemp()) / "tables")
    >>> back = rm.read_tables(folder)
    >>> back.equals(world.tables), back.fingerprint() == world.tables.fingerprint()
    (True, True)
    """
    folder = Path(folder)
    check_option(format, "format", (*FORMATS, None), "read_tables")
    check_bool(validate, "validate", "read_tables")
    if not folder.is_dir():
        raise DataValidationError(
            f"Folder {str(folder)!r} does not exist or is not a folder.",
            [{"table": None, "column": None, "n_rows": 0, "examples": [str(folder)],
              "message": "folder not found"}],
        )
    frames: dict[str, pd.DataFrame | None] = {}
    missing = []
    for name in TABLES:
        path = _find_file(folder, name, format)
        if path is None:
            if name in vocab.REQUIRED_TABLES:
                missing.append(name)
            frames[name] = None
            continue
        frames[name] = _read_one(path, name)
    if missing:
        fmts = [format] if format else list(FORMATS)
        expected = [f"{m}.{f}" for m in missing for f in fmts]
        problems = [{"table": m, "column": None, "n_rows": 0, "examples": [],
                     "message": "required table file missing"} for m in missing]
        raise DataValidationError(
            f"Folder {str(folder)!r} lacks the required table file(s) "
            f"{', '.join(missing)} (expected one of: {', '.join(expected)}).",
            problems,
        )
    return SchoolTables(**frames, codes=codes, validate=validate)


def _find_file(folder: Path, name: str, format: str | None) -> Path | None:
    found = [folder / f"{name}.{fmt}" for fmt in ([format] if format else FORMATS)]
    found = [p for p in found if p.is_file()]
    if len(found) > 1:
        logger.warning("%s: both %s and %s exist; reading %s (pass format= to choose)",
                       name, found[0].name, found[1].name, found[0].name)
    return found[0] if found else None


def _read_one(path: Path, name: str) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    header = pd.read_csv(path, nrows=0).columns
    dtype = {c: "str" for c in header if c in _STR_COLUMNS[name]}
    return pd.read_csv(path, dtype=dtype, keep_default_na=False, na_values=[""])


def write_tables(tables: SchoolTables, folder, format: str = "parquet", *,
                 overwrite: bool = False) -> Path:
    """Write the present tables as ``<table>.<format>`` files into ``folder``.

    The folder is written whole beside ``folder`` and swapped in only when every
    file was written (:func:`riskmodel._atomic.atomic_output_dir`), so a failure
    or a killed process leaves ``folder`` as it was and no temporary folder.

    Parameters
    ----------
    tables : SchoolTables
    folder : str or path
        Target folder: absent, empty, or (with ``overwrite``) a tables folder,
        i.e. one holding ``pupils.parquet`` or ``pupils.csv``.
    format : {"parquet", "csv"}, default "parquet"
    overwrite : bool, default False
        Replace the table files of an existing tables folder. Other files in it
        are kept; table files of tables not present (or in the other format) are
        removed.

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    riskmodel.ConfigError
        When ``folder`` is a non-empty folder that is not a tables folder (the same
        error as every writer of riskmodel); nothing is written.
    FileExistsError
        When ``folder`` is a non-empty tables folder and ``overwrite`` is False.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import riskmodel as rm
    >>> world = rm.datasets.make_school_system(n_pupils=300, n_years=3, random_state=0)
    >>> folder = rm.write_tables(world.tables, pathlib.Path(tempfile.mkdtemp()) / "t",
    ...                          format="csv")
    >>> sorted(p.name for p in folder.iterdir())[-3:]
    ['pupils.csv', 'schools.csv', 'support.csv']
    >>> _ = rm.write_tables(world.tables, folder, overwrite=True)  # now as Parquet
    >>> sorted(p.suffix for p in folder.iterdir())[0]
    '.parquet'
    """
    if not isinstance(tables, SchoolTables):
        raise InvalidParameterError(
            "The 'tables' parameter of write_tables must be an instance of 'SchoolTables'. "
            f"Got {type(tables).__name__} instead."
        )
    check_option(format, "format", FORMATS, "write_tables")
    check_bool(overwrite, "overwrite", "write_tables")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InvalidParameterError(
            f"The 'folder' parameter of write_tables must be a folder. Got {str(folder)!r}, "
            "which is a file."
        )
    marker = _marker(folder, format)
    check_output_dir(folder, marker=marker)  # a folder that is not ours: ConfigError
    existing = folder.is_dir() and any(folder.iterdir())
    if existing and not overwrite:
        raise FileExistsError(
            f"Folder {str(folder)!r} exists and is not empty; pass overwrite=True to "
            "replace its table files."
        )
    with atomic_output_dir(folder, marker=marker) as tmp:
        if existing:
            _keep_other_files(folder, tmp)
        for name in tables.names:
            df = getattr(tables, name)
            target = tmp / f"{name}.{format}"
            if format == "parquet":
                df.to_parquet(target, index=False)
            else:
                df.to_csv(target, index=False)
    return folder


def _marker(folder: Path, format: str) -> str:
    """The pupils file that marks ``folder`` as a tables folder (the one it holds, if any)."""
    for fmt in FORMATS:
        if (folder / f"pupils.{fmt}").is_file():
            return f"pupils.{fmt}"
    return f"pupils.{format}"


def _keep_other_files(folder: Path, tmp: Path) -> None:
    """Copy what is not a table file from the old folder into the new one."""
    for p in folder.iterdir():
        if p.name in _TABLE_FILES:
            continue
        if p.is_dir():
            shutil.copytree(p, tmp / p.name, symlinks=True)
        else:
            shutil.copy2(p, tmp / p.name, follow_symlinks=False)

"""Reading and writing a folder of table files (private; see :mod:`riskmodel.schema`).

A tables folder holds one ``<table>.parquet``, ``<table>.csv`` or ``<table>.xlsx``
file per table, or a workbook with one sheet per table (files are read by
:mod:`riskmodel._read_files`; write_tables writes Parquet or CSV).
:func:`write_tables` writes through :func:`riskmodel._atomic.atomic_output_dir`,
the one atomic folder swap of riskmodel. The file that marks a folder as a
riskmodel tables folder is its pupils file (``pupils.parquet`` or
``pupils.csv``), which every tables folder has; any other non-empty folder is
refused with the same :class:`~riskmodel.ConfigError` as every other writer.
"""

from __future__ import annotations

import difflib
import logging
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from . import vocab
from ._atomic import atomic_output_dir, check_output_dir
from ._checks import InvalidParameterError, check_bool, check_option
from ._read_files import SEPARATORS, check_encoding, list_sheets, read_table_file
from ._school_tables import SchoolTables
from .errors import DataValidationError
from .vocab import TABLES

__all__ = ["FORMATS", "READ_FORMATS", "read_tables", "write_tables"]

logger = logging.getLogger("riskmodel.schema")  # the contract's warnings keep their logger

#: File formats write_tables writes.
FORMATS = ("parquet", "csv")
#: File formats read_tables reads, in the order it looks for them.
READ_FORMATS = ("parquet", "csv", "xlsx")
#: A file or sheet name this close to a table name (difflib ratio) is taken for a typo.
_NEAR = 0.75
#: The roster file a data folder may hold beside the tables (see :func:`read_tables`).
ROSTER = "resources"
_KNOWN = (*TABLES, ROSTER)
_TABLE_FILES = frozenset(f"{t}.{fmt}" for t in _KNOWN for fmt in FORMATS)
#: Table files read at a time by read_tables (issue 21: the national attendance and
#: grades files decode side by side on two cores).
READ_THREADS = 2
#: How write_tables lays out a Parquet file (issue 21). Parquet keeps one dictionary per
#: column and row group, and a writer falls back to plain values once a dictionary
#: outgrows its page limit (1 MiB by default: some 80,000 pupil ids). A national
#: attendance table (67 M rows, 218,000 pupil ids) written with the defaults has 64 row
#: groups of 1 Mi rows, each with its own dictionary of all the ids, partly stored as
#: plain strings; reading it spends ~4-6 s re-encoding pupil_id. With row groups of up
#: to 64 Mi rows and room for the whole dictionary, the ids are stored once per row
#: group as dictionary indices, the file is ~25 % smaller and pupil_id reads with ~2.5x
#: less CPU (4.0 s -> 1.6 s, measured on a loaded machine).
#: Any Parquet layout reads the same; this one only reads faster.
PARQUET_LAYOUT = {"row_group_size": 1 << 26, "dictionary_pagesize_limit": 1 << 26}


def read_tables(folder, *, format: str | None = None, encoding: str | None = None,
                sep: str | None = None, date_format: str | None = None,
                decimal: str | None = None, columns=None, codes=None, validate: bool = True
                ) -> SchoolTables:
    """Read a folder of table files (or one workbook) into SchoolTables.

    A table is read from ``<table>.parquet``, ``<table>.csv`` or ``<table>.xlsx``
    in ``folder`` (the first of these that exists), or from the sheet named after
    it in a workbook of tables: ``folder`` itself when it is an ``.xlsx`` file,
    else the one ``.xlsx`` file in the folder that is not named after a table and
    has sheets named after tables (for example ``export.xlsx`` with the sheets
    ``pupils``, ``enrolments``, ...). Headers are kept as written (``columns``
    and the codes config rename them), and every CSV cell is read as the string
    written, so ids such as ``"0012345"`` stay as they are. See "Bringing your
    own exports" in ``docs/data_contract.md`` for dialects, encodings and Excel.

    Parameters
    ----------
    folder : str or path
        Folder with one file per table (``pupils``, ``enrolments`` required), or
        an ``.xlsx`` workbook with one sheet per table.
    format : {"parquet", "csv", "xlsx"} or None
        Read only files of this format; None takes whichever exists (Parquet,
        then CSV, then xlsx files, then the sheets of a workbook of tables).
    encoding : str or None
        Encoding of CSV files: None reads UTF-8 (with or without a byte-order
        mark); ``"cp1257"`` or ``"iso-8859-13"`` for Baltic exports; ``"detect"``
        guesses it (charset-normalizer).
    sep : {",", ";", "\\t"} or None
        CSV separator; None detects it (an error asks for ``sep`` when unsure).
    date_format : str or None
        Passed to :class:`SchoolTables` (None: ISO or ``dd.mm.yyyy``, detected).
    decimal : {".", ","} or None
        CSV decimal mark; None takes a decimal comma in ``;``/tab files whose
        numbers are written with one.
    columns : mapping or None
        ``{table: {local header: contract column}}``, passed to :class:`SchoolTables`.
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
        When a required table file is missing or has no rows, a file is empty,
        binary, corrupt, not valid in its encoding, of unknown CSV dialect, or
        named almost like a table (``attendence.csv``), or the data break the
        contract. The message names the file and the option to set.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import riskmodel as rm
    >>> world = rm.datasets.make_school_system(n_pupils=300, n_years=3, random_state=0)
    >>> folder = rm.write_tables(world.tables, pathlib.Path(tempfile.mkdtemp()) / "tables")
    >>> back = rm.read_tables(folder)
    >>> back.equals(world.tables), back.fingerprint() == world.tables.fingerprint()
    (True, True)

    The same tables as CSV saved by Excel on a Latvian machine (``;``, Windows-1257):

    >>> latvian = pathlib.Path(tempfile.mkdtemp())
    >>> for name in world.tables.names:
    ...     getattr(world.tables, name).to_csv(latvian / f"{name}.csv", sep=";",
    ...                                        index=False, encoding="cp1257")
    >>> rm.read_tables(latvian, encoding="cp1257").equals(world.tables)
    True
    """
    check_option(format, "format", (*READ_FORMATS, None), "read_tables")
    check_option(sep, "sep", (*SEPARATORS, None), "read_tables")
    check_option(decimal, "decimal", (".", ",", None), "read_tables")
    encoding = check_encoding(encoding, "read_tables")
    check_bool(validate, "validate", "read_tables")
    folder = Path(folder)
    options = {"encoding": encoding, "sep": sep, "decimal": decimal}
    sources = _find_sources(folder, format)
    frames: dict[str, pd.DataFrame | None] = {}
    with ThreadPoolExecutor(max_workers=READ_THREADS,
                            thread_name_prefix="riskmodel-read") as pool:
        # the files are read two at a time (Parquet decoding runs without the GIL);
        # results, and errors, are taken in the order of the tables
        pending = {name: pool.submit(read_table_file, src[0], name, sheet=src[1], **options)
                   for name, src in sources.items() if name in TABLES}
        if validate and "attendance" in pending:
            # imports numba (~0.7 s of Python) on this thread while the files are read
            from . import _duplicate_kernels  # noqa: F401
        try:
            for name in TABLES:
                frames[name] = _table_frame(name, sources.get(name), pending.get(name))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # no file is read in vain
            raise
    tables = SchoolTables(**frames, codes=codes, validate=validate, columns=columns,
                          date_format=date_format)
    if ROSTER in sources:
        from .allocation._roster import read_roster_file

        path, sheet = sources[ROSTER]
        tables.resources = read_roster_file(path, sheet=sheet, **options)
    return tables


def _table_frame(name: str, src, future) -> pd.DataFrame | None:
    """The frame of table ``name`` read by ``future``; an empty required table is an error."""
    if src is None:
        return None
    path, sheet = src
    df = future.result()
    if len(df) == 0 and name in vocab.REQUIRED_TABLES:
        where = f"{str(path)!r}" + (f" (sheet {sheet!r})" if sheet else "")
        raise DataValidationError(
            f"File {where} has a header but no rows; the {name} table is required "
            "and may not be empty.",
            [{"table": name, "column": None, "n_rows": 0, "examples": [path.name],
              "message": "required table has no rows"}],
        )
    return df


def _no_folder(folder: Path) -> DataValidationError:
    return DataValidationError(
        f"Folder {str(folder)!r} does not exist or is not a folder.",
        [{"table": None, "column": None, "n_rows": 0, "examples": [str(folder)],
          "message": "folder not found"}],
    )


def _find_sources(folder: Path, format: str | None) -> dict[str, tuple[Path, str | None]]:
    """{table: (file, sheet or None)} for the tables found; errors for what is wrong."""
    if folder.is_file() and folder.suffix.lower() == ".xlsx" and format in (None, "xlsx"):
        sources = _workbook_sources(folder, strict=True)
        _check_required(folder, sources, format)
        return sources
    if not folder.is_dir():
        raise _no_folder(folder)
    fmts = [format] if format else list(READ_FORMATS)
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and not p.name.startswith((".", "~$")))
    sources: dict[str, tuple[Path, str | None]] = {}
    for name in _KNOWN:
        found = [folder / f"{name}.{fmt}" for fmt in fmts]
        found = [p for p in found if p.is_file()]
        if len(found) > 1:
            logger.warning("%s: both %s and %s exist; reading %s (pass format= to choose)",
                           name, found[0].name, found[1].name, found[0].name)
        if found:
            sources[name] = (found[0], None)
    near, workbooks, others = [], [], []
    for p in files:
        suffix, stem = p.suffix.lower(), p.stem.lower()
        if stem in _KNOWN and suffix == ".xls":
            near.append((p, f"old-style Excel files are not read; save it as {p.stem}.xlsx "
                            "or as CSV"))
            continue
        if suffix.lstrip(".") not in fmts or p.name in (f"{t}{suffix}" for t in _KNOWN):
            continue
        match = difflib.get_close_matches(stem, _KNOWN, n=1, cutoff=_NEAR)
        if match:
            near.append((p, f"it is named after no table; did you mean "
                            f"{match[0]}{suffix}? Rename it"))
        elif suffix == ".xlsx":
            workbooks.append(p)
        else:
            others.append(p)
    if near:
        raise DataValidationError(
            f"Folder {str(folder)!r}: " + "; ".join(f"file {p.name!r}: {why}" for p, why in near)
            + f" (the tables are {', '.join(TABLES)}).",
            [{"table": None, "column": None, "n_rows": 0, "examples": [p.name],
              "message": why} for p, why in near],
        )
    books = {p: _workbook_sources(p, strict=False) for p in workbooks}
    books = {p: s for p, s in books.items() if s}
    others += [p for p in workbooks if p not in books]
    for p in others:
        logger.warning("%s: %s is named after no table (%s) and is not read", folder,
                       p.name, ", ".join(TABLES))
    if len(books) > 1:
        names = ", ".join(repr(p.name) for p in books)
        raise DataValidationError(
            f"Folder {str(folder)!r} holds several workbooks with sheets named after tables "
            f"({names}); pass the path of the one to read as the folder.",
            [{"table": None, "column": None, "n_rows": 0, "examples": [p.name for p in books],
              "message": "several workbooks of tables"}],
        )
    for book, sheets in books.items():
        for name, src in sheets.items():
            if name in sources:
                logger.warning("%s: both %s and sheet %r of %s exist; reading %s", name,
                               sources[name][0].name, src[1], book.name, sources[name][0].name)
            else:
                sources[name] = src
    _check_required(folder, sources, format)
    return sources


def _workbook_sources(book: Path, *, strict: bool) -> dict[str, tuple[Path, str]]:
    """The sheets of ``book`` named after tables; near misses are errors."""
    sources, near, others = {}, [], []
    for sheet in list_sheets(book):
        key = sheet.strip().lower()
        if key in _KNOWN and key not in sources:
            sources[key] = (book, sheet)
            continue
        match = difflib.get_close_matches(key, _KNOWN, n=1, cutoff=_NEAR)
        (near if match else others).append((sheet, match[0] if match else None))
    if near and (sources or strict):
        raise DataValidationError(
            f"Workbook {str(book)!r}: " + "; ".join(
                f"sheet {s!r} is named after no table (did you mean {m!r}?)" for s, m in near)
            + "; rename the sheet(s).",
            [{"table": m, "column": None, "n_rows": 0, "examples": [s],
              "message": "sheet named after no table"} for s, m in near],
        )
    if sources:
        for sheet, _ in others:
            logger.warning("%s: sheet %r is named after no table and is not read",
                           book.name, sheet)
    return sources


def _check_required(folder: Path, sources: dict, format: str | None) -> None:
    missing = [m for m in vocab.REQUIRED_TABLES if m not in sources]
    if not missing:
        return
    fmts = [format] if format else list(READ_FORMATS)
    expected = [f"{m}.{f}" for m in missing for f in fmts]
    if format in (None, "xlsx"):
        expected += [f"a sheet {m!r} of a workbook" for m in missing]
    problems = [{"table": m, "column": None, "n_rows": 0, "examples": [],
                 "message": "required table file missing"} for m in missing]
    raise DataValidationError(
        f"{'Workbook' if folder.is_file() else 'Folder'} {str(folder)!r} lacks the required "
        f"table file(s) {', '.join(missing)} (expected one of: {', '.join(expected)}).",
        problems,
    )


def write_tables(tables: SchoolTables, folder, format: str = "parquet", *,
                 overwrite: bool = False) -> Path:
    """Write the present tables as ``<table>.<format>`` files into ``folder``.

    The roster ``tables.resources``, when set, is written too, as
    ``resources.<format>`` (read back by :func:`read_tables`).

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
    ['resources.csv', 'schools.csv', 'support.csv']
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
                df.to_parquet(target, index=False, **PARQUET_LAYOUT)
            else:
                df.to_csv(target, index=False)
        if tables.resources is not None:
            target = tmp / f"{ROSTER}.{format}"
            if format == "parquet":
                tables.resources.to_parquet(target, index=False)
            else:
                tables.resources.to_csv(target, index=False)
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

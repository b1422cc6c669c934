"""Reading one table file as it arrives from a school system (private).

:func:`read_table_file` reads a single ``.parquet``, ``.csv`` or ``.xlsx`` file
into a :class:`pandas.DataFrame` with the headers exactly as written. It knows
nothing of the data contract: the column names, codes and dates are the business
of :class:`riskmodel.SchoolTables` (or of whoever reads a roster with it).

What it does with a file:

- **CSV dialect.** The separator is the one an Excel ``sep=;`` first line names,
  else one of ``,`` ``;`` and tab: the one that
  splits the header and the first lines (quotes respected) into the same number
  (more than one) of fields. A decimal comma is assumed for a ``;`` or tab file
  whose number-like fields use a comma (``1,5``) and none a point. When the
  separator cannot be told (one column, lines of different lengths, two
  candidates), it stops with a :class:`~riskmodel.DataValidationError` that
  names the file and ``sep=``.
- **Values.** Every CSV cell is read as the string written (``"0012345"`` and
  ``"12345"`` stay two values); an empty field is missing. With a decimal comma,
  the columns whose every value is a number written with a comma get a point
  instead (``"1,5"`` -> ``"1.5"``), still as strings: turning strings into
  numbers and dates is the reader's job.
- **Encoding.** UTF-8, with or without a byte-order mark (which is dropped).
  Other encodings need ``encoding=`` (``"cp1257"``, the Windows-Baltic code page
  Excel saves in on a Latvian machine, or ``"iso-8859-13"``), or
  ``encoding="detect"`` (charset-normalizer among the Baltic code pages first, then
  other Latin-script ones; the guess is logged). A file that starts with a UTF-8
  byte-order mark, or whose first 64 KiB hold non-ASCII text that is valid UTF-8,
  is read as UTF-8 whatever ``encoding`` says (logged), so that one encoding can
  be given for a folder of mixed exports. A file that
  is not valid in its encoding is an error naming the byte offset of the first
  bad byte and the option to set.
- **Excel.** ``.xlsx`` through openpyxl: the sheet ``sheet``, else the sheet
  named after ``table``, else the only sheet. Text cells stay text, whole-number
  cells become their digits (``12345`` -> ``"12345"``), other number cells the
  text of the float (``12345.0`` -> ``"12345.0"``, so that an id column that a
  spreadsheet turned into floats is reported, not repaired), booleans
  ``"True"``/``"False"``, and date cells datetimes (a column that mixes date
  cells and text gets ISO text for the dates, so the mix is reported).
- **Broken files.** An empty file, a binary file named ``.csv``, a corrupt or
  truncated Parquet or ``.xlsx`` file: a :class:`~riskmodel.DataValidationError`
  naming the file (the library's exception is chained, never shown alone).
  A header-only file is an empty frame with its columns.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import logging
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from ._checks import InvalidParameterError, check_option
from .errors import DataValidationError

__all__ = ["SUFFIXES", "SEPARATORS", "read_table_file", "list_sheets", "check_encoding"]

logger = logging.getLogger("riskmodel.schema")

#: File suffixes read_table_file reads, and the format each one is.
SUFFIXES = {".parquet": "parquet", ".csv": "csv", ".xlsx": "xlsx"}
#: The CSV separators that are detected (and the only ones accepted as ``sep=``).
SEPARATORS = (",", ";", "\t")
_SEP_NAMES = {",": "','", ";": "';'", "\t": "tab ('\\t')"}
_SAMPLE_BYTES = 1 << 16
_SAMPLE_LINES = 200
_COMMA_NUMBER = re.compile(r"[+-]?\d+,\d+")
_POINT_NUMBER = re.compile(r"[+-]?\d+\.\d+")
_NUMBER_COMMA_OK = r"\s*[+-]?\d*(?:,\d+)?\s*"
_BOM = codecs.BOM_UTF8
#: The encodings encoding="detect" tries, in two rounds: the Baltic code pages (which
#: encode the Latvian letters alike), then other Latin-script ones. charset-normalizer
#: knows no Latvian: left free, it takes Latvian text for cp1251, cp1250 or cp1258,
#: which garble ā, ē, ī, ū and the others.
_DETECT_ROUNDS = (("cp1257", "iso8859_13"),
                  ("iso8859_4", "cp775", "cp1252", "iso8859_15", "cp1250", "iso8859_2"))


def _fail(path: Path, message: str, table: str | None = None, what: str = "unreadable file",
          examples=()) -> DataValidationError:
    return DataValidationError(
        f"File {str(path)!r}: {message}",
        [{"table": table, "column": None, "n_rows": 0, "examples": list(examples) or [path.name],
          "message": what}],
    )


def check_encoding(encoding: str | None, caller: str) -> str | None:
    """``encoding`` as given (None, ``"detect"`` or a codec Python knows), else an error.

    Examples
    --------
    >>> check_encoding("cp1257", "read_tables")
    'cp1257'
    >>> check_encoding("latvian", "read_tables")
    Traceback (most recent call last):
    ...
    sklearn.utils._param_validation.InvalidParameterError: The 'encoding' parameter of read_tables must be None, 'detect' or an encoding Python knows (e.g. 'utf-8', 'cp1257', 'iso-8859-13'). Got 'latvian' instead.
    """
    if encoding is None or encoding == "detect":
        return encoding
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise InvalidParameterError(
            f"The 'encoding' parameter of {caller} must be None, 'detect' or an encoding "
            f"Python knows (e.g. 'utf-8', 'cp1257', 'iso-8859-13'). Got {encoding!r} instead."
        ) from None
    return encoding


def read_table_file(path, table: str | None = None, *, encoding: str | None = None,
                    sep: str | None = None, decimal: str | None = None,
                    sheet: str | None = None) -> pd.DataFrame:
    """Read one ``.parquet``, ``.csv`` or ``.xlsx`` file, headers as written.

    Parameters
    ----------
    path : str or path
        The file; its suffix says the format.
    table : str, optional
        Name used in messages and problems, and the sheet looked for in a
        workbook when ``sheet`` is None. It selects nothing else: every CSV
        column is read as strings.
    encoding : str, optional
        CSV only: None (UTF-8, with or without BOM), ``"detect"``, or a codec
        such as ``"cp1257"`` or ``"iso-8859-13"``.
    sep : {",", ";", "\\t"}, optional
        CSV separator; None detects it.
    decimal : {".", ","}, optional
        CSV decimal mark; None detects a decimal comma in a ``;``/tab file.
    sheet : str, optional
        ``.xlsx`` only: the sheet to read.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    DataValidationError
        When the file is empty, binary, corrupt, not valid in its encoding, or
        its CSV dialect cannot be told (the message names the file and the
        option to set).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "pupils.csv"
    >>> _ = f.write_bytes("Skolēna ID;Vērtējums\\n0012345;7,5\\n12345;8\\n".encode("cp1257"))
    >>> df = read_table_file(f, encoding="cp1257")
    >>> list(df.columns), df["Skolēna ID"].tolist(), df["Vērtējums"].tolist()
    (['Skolēna ID', 'Vērtējums'], ['0012345', '12345'], ['7.5', '8'])
    """
    path = Path(path)
    check_option(sep, "sep", (*SEPARATORS, None), "read_table_file")
    check_option(decimal, "decimal", (".", ",", None), "read_table_file")
    encoding = check_encoding(encoding, "read_table_file")
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise _fail(path, f"unknown file type {path.suffix!r}; riskmodel reads "
                          f"{', '.join(SUFFIXES)} files.", table, "unknown file type")
    if not path.is_file():
        raise _fail(path, "no such file.", table, "file not found")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc.strerror}).", table) from exc
    if size == 0:
        raise _fail(path, "the file is empty (0 bytes); export the table again with its "
                          "header row.", table, "empty file")
    if fmt == "parquet":
        return _read_parquet(path, table)
    if fmt == "xlsx":
        return _read_xlsx(path, table, sheet)
    return _read_csv(path, table, encoding, sep, decimal)


# ------------------------------------------------------------------ Parquet
#: Rows per Arrow batch when reading a Parquet file (issue 21). Every batch of a
#: dictionary column carries its own copy of the dictionary: with Arrow's default of
#: 128 Ki rows a national attendance file (67 M rows, 218,000 pupil ids) is read as 510
#: batches and copies the id dictionary 510 times (~5 s of CPU for pupil_id alone). One
#: batch for the whole file is slow too (the builders grow by reallocation). Batches of
#: 1 Mi rows read the attendance, grades and engagement files with about 2.5x less CPU
#: than ``pq.read_table``; the table read is the same.
PARQUET_BATCH_ROWS = 1 << 20


def _read_parquet(path: Path, table: str | None) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(path) as pf:
            return _streamed_frame(pf)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _fail(path, f"not a readable Parquet file ({type(exc).__name__}: "
                          f"{_short(exc)}); it may be truncated or corrupt - write it again.",
                    table, "corrupt Parquet file") from exc


def _streamed_frame(pf) -> pd.DataFrame:
    """The frame of ``pd.read_parquet`` for the file ``pf``, read in batches.

    The batches (:data:`PARQUET_BATCH_ROWS` rows, decoded on this thread: on two
    cores Arrow's pool of threads costs more than it saves) are copied as they come
    into the frame's arrays for the columns of numbers and dates without missing
    values (:func:`_plain_numbers`), so those never exist twice in memory (first
    touching fresh memory is a large part of reading here: ~1.4 s of system time
    for the national attendance table); the other columns are gathered as Arrow
    chunks and converted by :func:`arrow_to_frame`.
    """
    import pyarrow as pa

    schema = pf.schema_arrow
    n = pf.metadata.num_rows
    plain = _plain_numbers(pf) if _plain_index(schema) else {}
    if len(plain) == len(schema):  # one column converted by Arrow, which builds the index
        plain.pop(max(plain))
    dest = {i: np.empty(n, dtype=dtype) for i, dtype in plain.items()}
    chunks: dict[int, list] = {i: [] for i in range(len(schema)) if i not in plain}
    start = 0
    for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, use_threads=False,
                                 use_pandas_metadata=True):
        stop = start + batch.num_rows
        for i, out in dest.items():
            col = batch.column(i)
            if col.null_count:  # the statistics said none: read it as Arrow does
                return arrow_to_frame(pf.read(use_pandas_metadata=True))
            out[start:stop] = col.to_numpy(zero_copy_only=False)
        for i, parts in chunks.items():
            parts.append(batch.column(i))
        start = stop
    rest = [i for i in range(len(schema)) if i not in plain]
    arrow = pa.Table.from_arrays(
        [pa.chunked_array(chunks.pop(i), type=schema.field(i).type) for i in rest],
        schema=pa.schema([schema.field(i) for i in rest], metadata=schema.metadata))
    df = arrow_to_frame(arrow)
    del arrow
    for i in sorted(dest):
        df.insert(i, schema.field(i).name, pd.Series(dest[i], index=df.index, copy=False))
    return df


def _plain_numbers(pf) -> dict[int, np.dtype]:
    """``{column position: numpy dtype}`` of the columns that convert to that numpy dtype
    as they are: integers, floats and tz-naive ``timestamp[ns]``, stored without missing
    values (by the row groups' statistics) and without a pandas dtype of their own."""
    import pyarrow as pa

    schema = pf.schema_arrow
    if len(set(schema.names)) != len(schema.names):
        return {}
    meta = schema.pandas_metadata or {}
    numpy_types = {c.get("field_name", c.get("name")): c.get("numpy_type")
                   for c in meta.get("columns", [])}
    md = pf.metadata
    if md.num_columns != len(schema):
        return {}  # nested columns: positions differ
    out = {}
    for i, field in enumerate(schema):
        t = field.type
        if pa.types.is_timestamp(t) and t.tz is None and t.unit == "ns":
            dtype = np.dtype("datetime64[ns]")
        elif pa.types.is_integer(t) or pa.types.is_floating(t):
            dtype = np.dtype(t.to_pandas_dtype())
        else:
            continue
        if numpy_types.get(field.name, str(dtype)) != str(dtype):
            continue  # a pandas dtype of its own (Int64, ...)
        stats = [md.row_group(g).column(i).statistics for g in range(md.num_row_groups)]
        if all(st is not None and st.has_null_count and st.null_count == 0 for st in stats):
            out[i] = dtype
    return out


def arrow_to_frame(arrow) -> pd.DataFrame:
    """``arrow`` (a pyarrow Table) as :func:`pandas.read_parquet` converts it, faster.

    The same frame as ``pd.read_parquet`` (columns, dtypes, category order, index),
    with two shortcuts for tables of tens of millions of rows:

    - string dictionary columns (categoricals) are built from their chunks' indices
      directly (:func:`_dictionary_column`), not through Arrow's unification of
      every chunk's dictionary;
    - the other columns are converted a block per column (no consolidating copy)
      with the Arrow buffers released while converting (lower peak memory).
    """
    import json

    try:  # pandas' own conversion of read_parquet (dtype mapping, time zones)
        from pandas.io._util import arrow_table_to_pandas
    except ImportError:  # pragma: no cover - a pandas without it: Arrow's conversion
        def arrow_table_to_pandas(table, to_pandas_kwargs):
            return table.to_pandas(**to_pandas_kwargs)

    meta = arrow.schema.metadata or {}
    attrs = json.loads(meta[b"PANDAS_ATTRS"]) if b"PANDAS_ATTRS" in meta else None
    fast = {}
    if _plain_index(arrow) and len(set(arrow.column_names)) == len(arrow.column_names):
        for i, field in enumerate(arrow.schema):
            col = _dictionary_column(arrow.column(i), field.type)
            if col is not None:
                fast[i] = (field.name, col)
    if fast:
        arrow = arrow.drop_columns([name for name, _ in fast.values()])
    # self_destruct: the Arrow buffers are released while converting; arrow is not
    # used after this
    df = arrow_table_to_pandas(arrow, to_pandas_kwargs={"split_blocks": True,
                                                       "self_destruct": True})
    del arrow
    if attrs is not None:
        df.attrs = attrs
    for i in sorted(fast):
        name, values = fast[i]
        df.insert(i, name, pd.Series(values, index=df.index, copy=False))
    return df


def _plain_index(arrow) -> bool:
    """Whether ``arrow`` (a Table or its schema) converts to a frame with a RangeIndex
    and plain column names (no index column stored, no MultiIndex of columns)."""
    meta = getattr(arrow, "schema", arrow).pandas_metadata
    if meta is None:
        return True
    return (all(isinstance(ix, dict) and ix.get("kind") == "range"
                for ix in meta.get("index_columns", []))
            and len(meta.get("column_indexes", [])) <= 1)


def _dictionary_column(col, dtype) -> pd.Categorical | None:
    """A string dictionary ChunkedArray as a Categorical, or None (plain conversion).

    Categories in order of first appearance over the chunks' dictionaries, as Arrow's
    unification gives them. A chunk whose dictionary is a prefix of the categories
    so far (the chunks of one Parquet row group, whose dictionary grows) or extends
    them keeps its indices as codes; only chunks with another dictionary (another
    row group) are re-mapped, one hash probe per dictionary value, not per row.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_dictionary(dtype) or dtype.ordered or col.num_chunks < 2 \
            or not (pa.types.is_string(dtype.value_type)
                    or pa.types.is_large_string(dtype.value_type)):
        return None
    cats = None  # the categories so far (an Arrow array)
    remaps: list[np.ndarray | None] = []
    seen: dict[tuple, np.ndarray | None] = {}
    for chunk in col.chunks:
        d = chunk.dictionary
        if d.null_count:
            return None
        key = (tuple(b.address if b is not None else 0 for b in d.buffers()), d.offset,
               len(d))
        if key in seen:  # the same dictionary as an earlier chunk (categories only grow)
            remaps.append(seen[key])
            continue
        if cats is None:
            cats, remap = d, None
        elif len(d) <= len(cats) and cats.slice(0, len(d)).equals(d):
            remap = None
        elif len(d) > len(cats) and d.slice(0, len(cats)).equals(cats):
            cats, remap = d, None
        else:
            pos = pc.index_in(d, value_set=cats)
            new = pc.is_null(pos)
            if pc.any(new).as_py():
                cats = pa.concat_arrays([cats, d.filter(new)])
                pos = pc.index_in(d, value_set=cats)
            remap = pos.to_numpy(zero_copy_only=False).astype(np.int64)
        seen[key] = remap
        remaps.append(remap)
    categories = pd.Index(cats.to_pandas(), copy=False)
    if not categories.is_unique:
        return None  # a dictionary with repeated values: Arrow's conversion decides
    n = len(categories)
    code_dtype = np.int8 if n < 2**7 else np.int16 if n < 2**15 else np.int32 \
        if n < 2**31 else np.int64
    codes = np.empty(len(col), dtype=code_dtype)
    start = 0
    for chunk, remap in zip(col.chunks, remaps):
        stop = start + len(chunk)
        idx = chunk.indices
        if idx.null_count:
            idx = pc.fill_null(idx, pa.scalar(-1, idx.type))
        values = idx.to_numpy(zero_copy_only=False)
        if remap is not None:
            values = np.where(values >= 0, remap.take(np.maximum(values, 0)), -1)
        codes[start:stop] = values
        start = stop
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories, ordered=False),
                                     validate=False)


def _short(exc: BaseException, n: int = 160) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= n else text[: n - 3] + "..."


# ---------------------------------------------------------------------- CSV
def _read_csv(path: Path, table, encoding, sep, decimal) -> pd.DataFrame:
    with open(path, "rb") as fh:
        head = fh.read(_SAMPLE_BYTES)
    if b"\x00" in head:
        raise _fail(path, "this is not a text (CSV) file: it holds NUL bytes (a binary file, "
                          "or UTF-16 text; save it as CSV in UTF-8 or Windows-1257).",
                    table, "binary file")
    bom = head.startswith(_BOM)
    if encoding == "detect":
        encoding = _detect_encoding(path, table)
    elif encoding is not None and not _is_utf8(encoding) and _looks_utf8(head, bom):
        logger.warning("%s: read as UTF-8, not %s: it %s", path.name, encoding,
                       "starts with a UTF-8 byte-order mark" if bom
                       else "holds non-ASCII text that is valid UTF-8")
        encoding = None
    codec = "utf-8" if encoding is None else encoding
    sample = _decode_sample(path, head[len(_BOM):] if bom else head, codec, len(_BOM) * bom,
                            table, explicit=encoding is not None)
    if not sample.strip():
        raise _fail(path, "the file holds no header row (only blank lines).", table,
                    "empty file")
    skip = 0
    hint = re.match(r"sep=(.)\r?\n", sample)  # Excel's "sep=;" first line
    if hint and hint.group(1) in SEPARATORS:
        skip, sample = 1, sample[hint.end():]
        sep = sep or hint.group(1)
    detected = sep is None
    sep = sep or _detect_sep(path, sample, table)
    header = next(csv.reader(io.StringIO(sample), delimiter=sep))
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise _fail(path, f"the header names the column(s) {', '.join(map(repr, dupes))} more "
                          "than once.", table, "duplicate column names", dupes)
    if decimal is None:
        decimal = _detect_decimal(sample, sep)
    kwargs = dict(sep=sep, dtype=str, keep_default_na=False, na_values=[""], skiprows=skip,
                  encoding="utf-8-sig" if bom and _is_utf8(codec) else codec)
    try:
        df = _read_csv_fast(path, kwargs)
        if df is None:  # pyarrow refused the file: the C engine reads it or says why
            df = pd.read_csv(path, encoding_errors="strict", **kwargs)
    except UnicodeDecodeError as exc:
        raise _decode_error(path, codec, _first_bad_offset(path, codec), table,
                            explicit=encoding is not None) from exc
    except (pd.errors.ParserError, csv.Error) as exc:
        raise _fail(path, f"the lines do not all have the {len(header)} fields of the header "
                          f"({_short(exc)}); check the separator ({'detected ' * detected}"
                          f"{_SEP_NAMES[sep]}; set sep= / --sep) and the quoting.",
                    table, "inconsistent field counts") from exc
    except (pd.errors.EmptyDataError, ValueError) as exc:
        raise _fail(path, f"cannot be read as CSV ({_short(exc)}).", table) from exc
    if df.columns.size and isinstance(df.columns[0], str):
        df.columns = [df.columns[0].lstrip("\ufeff"), *df.columns[1:]]
    if decimal == ",":
        _comma_to_point(df, sample, sep)
    return df


def _is_utf8(codec: str) -> bool:
    return codecs.lookup(codec).name in ("utf-8", "utf-8-sig")


def _looks_utf8(head: bytes, bom: bool) -> bool:
    """A UTF-8 byte-order mark, or non-ASCII bytes that decode as UTF-8 (no cp1257 text
    with Latvian letters does: its letters are single bytes that UTF-8 rejects)."""
    if bom:
        return True
    if head.isascii():
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _read_csv_fast(path: Path, kwargs: dict) -> pd.DataFrame | None:
    """pyarrow's CSV reader (2-3x pandas' C engine; the same strings, quotes and missing
    values); None when it fails, so that the C engine gives the error its message."""
    import pyarrow as pa

    try:
        return pd.read_csv(path, engine="pyarrow", **kwargs)
    except (pa.ArrowException, ValueError, UnicodeDecodeError, OSError):
        return None


def _decode_sample(path: Path, head: bytes, codec: str, skip: int, table, *,
                   explicit: bool) -> str:
    """The first bytes decoded (an incomplete last character is left for later)."""
    dec = codecs.getincrementaldecoder(codec)(errors="strict")
    try:
        text = dec.decode(head, final=len(head) < _SAMPLE_BYTES - skip)
    except UnicodeDecodeError as exc:
        raise _decode_error(path, codec, skip + exc.start, table, explicit=explicit) from exc
    if len(head) >= _SAMPLE_BYTES - skip:  # cut at the last line end: whole lines only
        cut = text.rfind("\n")
        text = text[: cut + 1] if cut > 0 else text
    return text.lstrip("\ufeff")


def _first_bad_offset(path: Path, codec: str) -> int | None:
    """Byte offset of the first byte of ``path`` that ``codec`` cannot decode (None: none)."""
    dec = codecs.getincrementaldecoder(codec)(errors="strict")
    offset = 0  # bytes handed to the decoder so far
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(1 << 20)
            pending = len(dec.getstate()[0])
            try:
                dec.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                return offset - pending + exc.start
            if not chunk:
                return None
            offset += len(chunk)


def _decode_error(path: Path, codec: str, offset: int | None, table, *, explicit: bool):
    where = ""
    if offset is not None:
        with open(path, "rb") as fh:
            before = fh.read(offset + 1)
        line = before.count(b"\n") + 1
        where = f" at byte offset {offset} (line {line}, byte 0x{before[offset:offset + 1].hex()})"
    if explicit:
        hint = ("check encoding= / --encoding (the Baltic code pages are 'cp1257' and "
                "'iso-8859-13'), or set encoding='detect'")
    else:
        hint = ("it is not UTF-8; set encoding='cp1257' (--encoding cp1257) for a CSV saved "
                "by Excel on a Latvian Windows machine, or encoding='detect' (--encoding detect)")
    return _fail(path, f"cannot be decoded as {codec}{where}; {hint}.", table,
                 "undecodable bytes", [f"byte offset {offset}"] if offset is not None else ())


def _detect_encoding(path: Path, table) -> str:
    from charset_normalizer import from_bytes

    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
        return "utf-8-sig" if raw.startswith(_BOM) else "utf-8"
    except UnicodeDecodeError:
        pass
    best = None
    for candidates in _DETECT_ROUNDS:
        best = from_bytes(raw[: 1 << 22], cp_isolation=list(candidates)).best()
        if best is not None:
            break
    if best is None:
        raise _fail(path, "its encoding cannot be detected; set encoding= / --encoding "
                          "(e.g. 'cp1257').", table, "unknown encoding")
    logger.info("%s: detected encoding %s", path.name, best.encoding)
    return best.encoding


def _sample_rows(sample: str, sep: str) -> list[list[str]]:
    rows = []
    try:
        for row in csv.reader(io.StringIO(sample), delimiter=sep, strict=True):
            if row:
                rows.append(row)
            if len(rows) > _SAMPLE_LINES:
                break
    except csv.Error:
        return []
    return rows


def _detect_sep(path: Path, sample: str, table) -> str:
    ok, seen = [], {}
    for sep in SEPARATORS:
        rows = _sample_rows(sample, sep)
        if not rows:
            continue
        width = len(rows[0])
        seen[sep] = (width, {len(r) for r in rows})
        if width > 1 and all(len(r) == width for r in rows):
            ok.append((width, sep))
    if len(ok) == 1:
        return ok[0][1]
    if not ok:
        why = ("the header has no ',', ';' or tab between column names"
               if all(w == 1 for w, _ in seen.values())
               else "no separator splits the first lines into the same number of fields")
    else:
        why = "both " + " and ".join(_SEP_NAMES[s] for _, s in ok) + (
            " split every line into the same number of fields")
    raise _fail(path, f"cannot tell the CSV separator: {why}; set sep= (--sep) to ',', ';' "
                      "or '\\t'.", table, "unknown CSV separator")


def _detect_decimal(sample: str, sep: str) -> str | None:
    if sep == ",":
        return None
    comma = point = False
    for row in _sample_rows(sample, sep)[1:]:
        for v in row:
            v = v.strip()
            comma = comma or bool(_COMMA_NUMBER.fullmatch(v))
            point = point or bool(_POINT_NUMBER.fullmatch(v))
    return "," if comma and not point else None


def _comma_to_point(df: pd.DataFrame, sample: str, sep: str) -> None:
    """Columns whose every value is a number with a decimal comma get a decimal point."""
    rows = _sample_rows(sample, sep)[1:]
    for j, name in enumerate(df.columns):
        if not any(j < len(r) and _COMMA_NUMBER.fullmatch(r[j].strip()) for r in rows):
            continue
        s = df[name]
        present = s.notna()
        if s[present].str.fullmatch(_NUMBER_COMMA_OK).all():
            df[name] = s.str.replace(",", ".", regex=False)


# --------------------------------------------------------------------- xlsx
_XLSX_ERRORS: tuple[type[BaseException], ...] = (zipfile.BadZipFile, KeyError, ValueError,
                                                  OSError, TypeError, IndexError, EOFError)


def _open_workbook(path: Path, table):
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, *_XLSX_ERRORS) as exc:
        raise _fail(path, f"not a readable .xlsx workbook ({type(exc).__name__}: "
                          f"{_short(exc)}); it may be corrupt - save it again from Excel.",
                    table, "corrupt xlsx file") from exc


def list_sheets(path) -> list[str]:
    """The sheet names of an ``.xlsx`` workbook (DataValidationError when it is corrupt)."""
    path = Path(path)
    wb = _open_workbook(path, None)
    try:
        return list(wb.sheetnames)
    finally:
        wb.close()


def _read_xlsx(path: Path, table, sheet) -> pd.DataFrame:
    wb = _open_workbook(path, table)
    try:
        names = list(wb.sheetnames)
        if sheet is None:
            sheet = table if table in names else names[0] if len(names) == 1 else None
        if sheet not in names:
            want = f"sheet {sheet!r}" if sheet is not None else (
                f"a sheet named {table!r}" if table else "a single sheet")
            raise _fail(path, f"the workbook has no {want} (its sheets: "
                              f"{', '.join(map(repr, names))}).", table, "sheet not found",
                        names)
        try:
            rows = list(wb[sheet].iter_rows(values_only=True))
        except _XLSX_ERRORS as exc:
            raise _fail(path, f"sheet {sheet!r} cannot be read ({type(exc).__name__}: "
                              f"{_short(exc)}); the workbook may be corrupt.", table,
                        "corrupt xlsx file") from exc
    finally:
        wb.close()
    return _sheet_frame(path, sheet, rows, table)


def _sheet_frame(path: Path, sheet: str, rows: list[tuple], table) -> pd.DataFrame:
    while rows and all(v is None for v in rows[-1]):
        rows.pop()
    if not rows:
        raise _fail(path, f"sheet {sheet!r} is empty (no header row).", table, "empty sheet")
    header = list(rows[0])
    width = max(len(r) for r in rows)
    header += [None] * (width - len(header))
    body = [tuple(r) + (None,) * (width - len(r)) for r in rows[1:]]
    cols = list(zip(*body)) if body else [()] * width
    data, names = {}, []
    for j, (name, values) in enumerate(zip(header, cols)):
        if name is None or (isinstance(name, str) and not name.strip()):
            if all(v is None for v in values):
                continue  # a blank column Excel kept
            raise _fail(path, f"sheet {sheet!r}: column {j + 1} holds values but no header.",
                        table, "column without header")
        name = _cell_text(name)
        if name in data:
            raise _fail(path, f"sheet {sheet!r}: the header names the column {name!r} more "
                              "than once.", table, "duplicate column names", [name])
        names.append(name)
        data[name] = _cell_column(values)
    return pd.DataFrame(data, columns=names)


def _cell_text(v) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (dt.datetime, dt.date)):
        return _iso(v)
    return str(v)


def _iso(v) -> str:
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ") if v.time() != dt.time() else v.date().isoformat()
    return v.isoformat()


def _cell_column(values: tuple) -> pd.Series:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, (dt.datetime, dt.date)) for v in present):
        return pd.Series(pd.to_datetime(list(values)), dtype="datetime64[ns]")
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = np.nan if v is None else v if isinstance(v, str) else _cell_text(v)
    return pd.Series(out, dtype="str")

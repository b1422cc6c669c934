"""School tables as Spark DataFrames (private)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .._checks import InvalidParameterError
from ..errors import DataValidationError
from ..vocab import TABLES
from ._session import spark_errors


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as strings, datetimes as dates, small ints as int64 (Spark types)."""
    out = {}
    for c in df.columns:
        s = df[c]
        if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == "str" or s.dtype == object:
            v = s.astype(object)
            out[c] = v.where(s.notna(), None)
        elif s.dtype.kind == "M":
            out[c] = s.dt.date.astype(object).where(s.notna(), None)
        elif s.dtype.kind in "iu":
            out[c] = s.astype("int64")
        else:
            out[c] = s
    return pd.DataFrame(out)


def write_plain(tables, folder) -> Path:
    """The present tables of a :class:`~riskmodel.SchoolTables` as ``<table>.parquet``
    files with the data contract's plain types (ids and codes strings, dates dates),
    and the roster that came with them (``tables.resources``) as ``resources.parquet``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in tables.names:
        df = _plain(getattr(tables, name))
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False),
                       folder / f"{name}.parquet")
    if getattr(tables, "resources", None) is not None:
        tables.resources.to_parquet(folder / "resources.parquet", index=False)
    return folder


def to_spark(spark, tables, folder=None) -> dict:
    """``{name: Spark DataFrame}`` of the present tables of a :class:`~riskmodel.SchoolTables`.

    Ids and codes become strings, dates Spark dates: the data contract's columns.
    The tables go to Spark through Parquet files in ``folder`` (a new temporary
    folder when None), which keeps the JVM's memory small (a ``createDataFrame``
    of a pandas frame holds the whole frame in the driver).
    """
    if not hasattr(tables, "names"):
        raise InvalidParameterError("The 'tables' parameter of to_spark must be a "
                                    f"riskmodel.SchoolTables. Got {type(tables).__name__}.")
    if folder is None:
        import tempfile

        folder = tempfile.mkdtemp(prefix="riskmodel-spark-")
    return read_tables(spark, write_plain(tables, folder))


def read_tables(spark, folder) -> dict:
    """The tables of a data folder as Spark DataFrames: ``<table>.parquet`` (a file or a
    Parquet dataset folder, e.g. partitioned by municipality) for each table present.

    Raises
    ------
    DataValidationError
        When the folder or a required table is missing.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataValidationError(f"The data folder {folder} does not exist.")
    out = {}
    with spark_errors("read_tables"):
        for name in TABLES:
            p = folder / f"{name}.parquet"
            if p.exists():
                out[name] = spark.read.parquet(str(p))
    missing = [n for n in ("pupils", "enrolments") if n not in out]
    if missing:
        raise DataValidationError(
            f"The data folder {folder} has no {' or '.join(f'{m}.parquet' for m in missing)}: "
            "the Spark engine reads Parquet tables (files or dataset folders).")
    return out

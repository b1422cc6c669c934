"""What the runs share (private): stage timing, data loading, writing, allocation inputs.

Used by the train, score and allocate runs of :mod:`riskmodel.pipeline`. Output
folders are written through :func:`riskmodel._atomic.atomic_output_dir`;
manifests carry the installed riskmodel version (:mod:`riskmodel._util`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from pathlib import Path

import pandas as pd

from ._atomic import MANIFEST, pause_point
from ._checks import parse_as_of
from ._run_config import SyntheticConfig
from ._util import file_sha256, jsonable, riskmodel_version
from .errors import ConfigError
from .vocab import DOMAINS

logger = logging.getLogger(__name__)

__all__ = ["Stages", "load_tables", "data_end", "check_as_of", "MAX_DAYS_AFTER_DATA", "write_parquet", "write_csv", "write_manifest",
           "output_paths", "audit_groups", "resolve_rules", "allocation_pupils",
           "joined_reasons", "as_frame"]


class Stages:
    """Times named stages; shows a tqdm bar over the stages when ``progress``.

    Entering a stage calls the test-only :func:`riskmodel._atomic.pause_point`
    with the stage's name.

    Examples
    --------
    >>> stages = Stages(["read"])
    >>> with stages("read"):
    ...     pass
    >>> list(stages.timings)
    ['read']
    """

    def __init__(self, names: list[str], progress: bool = False, desc: str = "riskmodel"):
        self.names = names
        self.timings: dict[str, float] = {}
        self._bar = None
        if progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=len(names), desc=desc, unit="step", leave=False)

    @contextlib.contextmanager
    def __call__(self, name: str):
        if self._bar is not None:
            self._bar.set_postfix_str(name)
        start = time.perf_counter()
        try:
            pause_point(name)
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start
            if self._bar is not None:
                self._bar.update(1)
        logger.info("%s: %.2f s", name, self.timings[name])

    def close(self):
        if self._bar is not None:
            self._bar.close()


def load_tables(data: str | os.PathLike | None = None, *, synthetic: SyntheticConfig | None = None,
                codes=None, read=None):
    """Tables from a data folder, or the synthetic system when ``data`` is None.

    Parameters
    ----------
    data : path or None
        Folder of Parquet/CSV/xlsx tables (see :func:`riskmodel.read_tables`).
    synthetic : SyntheticConfig, optional
        Size and seed of the synthetic system (used when ``data`` is None).
    codes : path or CodeMap, optional
        Local codes -> contract codes.
    read : ReadConfig or mapping, optional
        Options of :func:`riskmodel.read_tables` (format, encoding, sep, decimal,
        date_format, columns) for the files of ``data``.

    Returns
    -------
    tables : SchoolTables
    as_of_dates : list of Timestamp or None
        The synthetic system's dates (None for a data folder).

    Raises
    ------
    DataValidationError
        When the folder is missing, lacks a required table or breaks the contract.

    Examples
    --------
    >>> from riskmodel.pipeline import SyntheticConfig, load_tables
    >>> tables, dates = load_tables(synthetic=SyntheticConfig(n_pupils=200, n_years=2))
    >>> len(tables.pupils) > 0, str(dates[0].date())
    (True, '2022-09-01')
    """
    from .schema import read_tables

    if data is not None:
        options = read.kwargs() if hasattr(read, "kwargs") else dict(read or {})
        return read_tables(data, codes=codes, **options), None
    from .datasets import make_school_system

    syn = synthetic or SyntheticConfig()
    world = make_school_system(n_pupils=syn.n_pupils, n_years=syn.n_years,
                               random_state=syn.random_state)
    return world.tables, [parse_as_of(d) for d in world.as_of_dates]


def data_end(tables) -> pd.Timestamp:
    """Last date anything was recorded (exclusive bound of what is known)."""
    from ._school_tables import table_dates

    # records of what happened (not birth dates, nor planned ends of support); the
    # last_date of tables.summary(), without its count of distinct pupils per table
    last = pd.Series([table_dates(n, tables[n])[1] for n in
                      ("enrolments", "attendance", "grades", "engagement")
                      if tables[n] is not None], dtype="datetime64[ns]").max()
    if pd.isna(last):
        raise ConfigError("The data hold no dated records; cannot choose an as_of date.")
    return parse_as_of(last.normalize())


#: An as_of more than this many days after the data's last record is refused by the
#: runs: a wrong year or an old export, not a plan (the features would be empty).
MAX_DAYS_AFTER_DATA = 365


def check_as_of(tables, as_of: pd.Timestamp, option: str = "--as-of") -> pd.Timestamp:
    """``as_of`` if the data can say something about it, else :class:`ConfigError`.

    Refused: a date on or before the first enrolment start (nobody is known yet;
    records dated on ``as_of`` are not seen), and a date more than
    :data:`MAX_DAYS_AFTER_DATA` days after the last dated record (:func:`data_end`).
    The message names the data's first or last date and ``option``.

    Examples
    --------
    >>> import riskmodel as rm
    >>> world = rm.datasets.make_school_system(n_pupils=200, n_years=2, random_state=0)
    >>> check_as_of(world.tables, pd.Timestamp("2023-03-01"))
    Timestamp('2023-03-01 00:00:00')
    >>> check_as_of(world.tables, pd.Timestamp("2030-01-01"))
    Traceback (most recent call last):
    ...
    riskmodel.errors.ConfigError: --as-of 2030-01-01 is 2041 days after the last record in the data (2024-05-31); riskmodel scores at most 365 days past the data. Choose a date up to 2025-05-31, or bring newer data.
    """
    starts = pd.to_datetime(tables.enrolments["start_date"], errors="coerce")
    first = starts.min()
    if pd.notna(first) and as_of <= first.normalize():
        raise ConfigError(
            f"{option} {as_of.date()} is on or before the first enrolment in the data "
            f"({first.date()}): no pupil is known then. Choose a date after {first.date()}."
        )
    last = data_end(tables)
    if (as_of - last).days > MAX_DAYS_AFTER_DATA:
        latest = last + pd.Timedelta(days=MAX_DAYS_AFTER_DATA)
        raise ConfigError(
            f"{option} {as_of.date()} is {(as_of - last).days} days after the last record in "
            f"the data ({last.date()}); riskmodel scores at most {MAX_DAYS_AFTER_DATA} days "
            f"past the data. Choose a date up to {latest.date()}, or bring newer data."
        )
    return as_of


def write_parquet(df: pd.DataFrame, path: Path, *, float_dictionary: bool = True) -> None:
    """Deterministic Parquet: no timestamps; same frame -> same bytes.

    ``float_dictionary=False`` writes float columns without a dictionary (the
    other columns keep theirs): for columns whose values are nearly all distinct
    (log-odds contributions, risks) Arrow builds the dictionary and then drops it,
    which doubles the time of the file for no gain in size. The values read back
    are the same either way.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=True)
    use_dictionary = True if float_dictionary else [
        f.name for f in table.schema if not pa.types.is_floating(f.type)]
    pq.write_table(table, path, compression="zstd", write_statistics=True,
                   use_dictionary=use_dictionary)


def write_csv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False, lineterminator="\n")


def write_manifest(folder: Path, manifest: dict, files: dict | None = None) -> dict:
    """Write ``manifest.json`` into ``folder``, with ``files`` (name -> sha256; by
    default every other file directly in ``folder``)."""
    if files is None:
        files = {p.name: file_sha256(p) for p in sorted(folder.iterdir())
                 if p.is_file() and p.name != MANIFEST}
    manifest = {"riskmodel_manifest": 1, **manifest, "files_sha256": files,
                "riskmodel_version": riskmodel_version()}
    text = json.dumps(jsonable(manifest), indent=2, sort_keys=True, ensure_ascii=False)
    (folder / MANIFEST).write_text(text + "\n", encoding="utf-8")
    return manifest


def output_paths(out, written=None) -> dict[str, Path]:
    """``{stem: path}`` of the files of a finished output folder.

    ``written`` (the temporary folder, before its swap) lists the files instead of ``out``:
    once swapped, ``out`` may be swapped again by a concurrent run at any moment.
    """
    out = Path(out)
    src = Path(written) if written is not None else out
    return {p.stem: out / p.name for p in sorted(src.iterdir()) if p.is_file()}


def as_frame(obj) -> pd.DataFrame:
    df = obj if isinstance(obj, pd.DataFrame) else pd.DataFrame(obj)
    if df.index.name is None and isinstance(df.index, pd.RangeIndex):
        return df.reset_index(drop=True)
    return df


def audit_groups(tables, as_of, index, attributes, frame=None) -> pd.DataFrame:
    """The audit attributes of the pupils ``index`` as of ``as_of`` (plain labels).

    ``frame``: the run's own ``pupil_frame(tables, as_of)``, when it has one
    (else it is computed here).
    """
    from .features import pupil_frame

    if frame is None:
        frame = pupil_frame(tables, as_of)
    if "urban" in attributes and "urban" not in frame.columns and tables.schools is not None \
            and "urban" in tables.schools.columns and "school_id" in frame.columns:
        urban = tables.schools.drop_duplicates("school_id").set_index("school_id")["urban"]
        frame = frame.assign(urban=frame["school_id"].astype("str").map(
            urban.set_axis(urban.index.astype("str"))))
    cols = [a for a in attributes if a in frame.columns]
    missing = sorted(set(attributes) - set(cols))
    if missing:
        logger.info("Audit attributes not in the data and skipped: %s", missing)
    groups = frame[cols].reindex(index)
    for c in cols:  # plain labels: the audit treats every value as a group
        if isinstance(groups[c].dtype, pd.CategoricalDtype):
            groups[c] = groups[c].astype("str").where(groups[c].notna(), None)
    return groups


def resolve_rules(path):
    """Programme rules from a YAML file, or the defaults when ``path`` is None."""
    from .allocation import ProgrammeRules

    if path is None:
        return ProgrammeRules()
    return ProgrammeRules.from_yaml(path)


def allocation_pupils(pupils_frame, risk, by_domain, reasons=None) -> pd.DataFrame:
    """The pupils table of :func:`riskmodel.allocate`: where they are, eligibility facts,
    risk, domain contributions (for the fit objective) and the Latvian reasons."""
    cols = [c for c in ("municipality_id", "school_id", "age", "grade", "liecība")
            if c in pupils_frame.columns]
    df = pupils_frame[cols].copy()
    for c in ("municipality_id", "school_id"):
        df[c] = df[c].astype("str")
    df["risk"] = risk
    df = df.join(by_domain[[d for d in DOMAINS if d in by_domain.columns]])
    if reasons is not None:
        df["reasons"] = reasons
    df.index.name = "pupil_id"
    return df


def joined_reasons(scores: pd.DataFrame, n_reasons: int, lang: str = "lv") -> pd.Series:
    """A pupil's reason texts ``reason_1_<lang>`` ... joined by ``"; "``."""
    cols = [f"reason_{i}_{lang}" for i in range(1, n_reasons + 1)
            if f"reason_{i}_{lang}" in scores]
    import pyarrow as pa
    import pyarrow.compute as pc

    # in Arrow, column by column (issue 21: Python strings per pupil were slow); a missing
    # or empty reason is null, and is skipped
    joined = pa.nulls(len(scores), pa.large_string())
    sep = pa.scalar("; ", pa.large_string())
    for c in cols:
        text = pa.chunked_array(pa.array(scores[c])).cast(pa.large_string()).combine_chunks()
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.large_string()), text)
        both = pc.binary_join_element_wise(joined, text, sep)  # null unless both are there
        joined = pc.coalesce(both, joined, text)
    joined = pc.fill_null(joined, "")
    return pd.Series(pd.array(joined, dtype="str"), index=scores.index)

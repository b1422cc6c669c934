"""What runs inside a Spark task on one pupil partition (private; pandas only, no pyspark).

A partition holds every record of its pupils (the event tables are repartitioned
by ``pupil_id``), so the library's own per-pupil code runs on it unchanged:
:class:`riskmodel.features._build._Prepared` builds the features of the
partition's pupils. What a partition cannot know (is the date a summer date, the
first enrolment and attendance record of the whole system, the school and
municipality context) is decided for the whole system by the driver, given to the
partitions (``whole``) or joined afterwards.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._columns import to_day, ts_day
from .._enrolments import Enrolments, waiting_to_continue
from .._school_tables import SchoolTables
from ..features import _context
from ..features._build import AsOfContext, _NoPupils, _Prepared

#: the tables a pupil partition carries (support is not a feature input; schools
#: is small and given whole to every partition)
EVENT_TABLES = ("pupils", "enrolments", "attendance", "grades", "engagement")
DATE_COLUMNS = ("birth_date", "start_date", "end_date", "date")

#: context features that need the whole system (replaced after the partition step)
GLOBAL_CONTEXT = ("school_attendance_rate_90d", "school_leaving_rate_3y",
                  "municipality_leaving_rate_3y", "school_enrolled_pupils")


class PartitionTables(SchoolTables):
    """The tables of one pupil partition; ``has`` answers for the whole system.

    A partition whose pupils have no engagement record must still see the table as
    present (a pupil without records has 365 days since the last contact, not NaN).
    """

    present: dict

    def has(self, name: str) -> bool:
        if name in self.present:
            return bool(self.present[name])
        return super().has(name)


def _dates(df: pd.DataFrame) -> pd.DataFrame:
    for c in DATE_COLUMNS:
        if c in df.columns and df[c].dtype.kind != "M":
            df[c] = pd.to_datetime(df[c])
    return df


def split_batches(batches, layout: dict) -> dict[str, pd.DataFrame] | None:
    """The union frame of a partition (Arrow record batches) back as one pandas frame
    per table; None when the partition is empty.

    ``layout`` is ``{table: (code, [(column, slot), ...])}`` (see
    :func:`riskmodel.spark._features._union`): the rows of a table are those whose
    ``_table`` is its code, its columns are its slots. Only those rows and columns are
    converted; strings become categoricals (one code per row, as the library's reader
    gives dictionary columns), dates datetime64.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    batches = [b for b in batches if b.num_rows]
    if not batches:
        return None
    union = pa.Table.from_batches(batches)
    del batches
    codes = union.column("_table")
    out = {}
    for name, (code, cols) in layout.items():
        part = union.select([slot for _, slot in cols]).filter(pc.equal(codes, code))
        arrays = {}
        for (col, _), arr in zip(cols, part.columns):
            if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
                arr = pc.dictionary_encode(arr)
            arrays[col] = arr
        df = pa.table(arrays).to_pandas(date_as_object=False)
        out[name] = _dates(df)
    return out


def partition_tables(frames: dict, schools: pd.DataFrame | None,
                     present: dict) -> PartitionTables:
    t = PartitionTables(
        pupils=frames["pupils"], enrolments=frames["enrolments"],
        attendance=frames.get("attendance"), grades=frames.get("grades"),
        engagement=frames.get("engagement"), schools=schools, validate=False,
    )
    t.present = present
    return t


# -- step 1: the cohort counts, first starts and leaving counts ---------------------

STATS_SCHEMA = ("as_day long, kind string, key string, a long, b long")


def cohort_stats(enrolments: pd.DataFrame, as_days: list[int], config) -> pd.DataFrame:
    """Per date: enrolled and waiting pupils (``kind="cohort"``), the first known
    start (``"start"``), and per school / municipality the settled leavers and
    exposed enrolments of the leaving rates (``"school"``, ``"municipality"``)."""
    enrolments = _dates(enrolments.reset_index(drop=True))
    ids = pd.Index(pd.unique(enrolments["pupil_id"].astype("str")))
    pupils = pd.DataFrame({"pupil_id": ids.to_numpy()})

    class _T:
        pass

    t = _T()
    t.pupils, t.enrolments = pupils, enrolments
    enr = Enrolments.from_tables(t)
    rows = []
    for a in as_days:
        known = enr.known_at(a)
        n_enr = len(known.current_rows())
        n_wait = len(waiting_to_continue(known, a)[0])
        rows.append((a, "cohort", "", n_enr, n_wait))
        if len(known.start):
            rows.append((a, "start", "", int(known.start.min()), 0))
        leavers, exposed = _context.leaving_flags(known, a, config)
        for kind, codes, ids_ in (("school", known.school, known.school_ids),
                                  ("municipality", known.municipality, known.municipality_ids)):
            n = len(ids_)
            lv = np.bincount(codes[leavers], minlength=n)
            ex = np.bincount(codes[exposed], minlength=n)
            for k in np.flatnonzero((lv > 0) | (ex > 0)):
                rows.append((a, kind, str(ids_[k]), int(lv[k]), int(ex[k])))
    return arrow_safe(pd.DataFrame(rows, columns=["as_day", "kind", "key", "a", "b"]))


# -- step 2: the features of the partition's pupils ----------------------------------

def partition_features(tables, config, dates: list[pd.Timestamp], whole: dict,
                       columns: list[str]) -> pd.DataFrame:
    """Feature rows (``_kind`` 0) of the partition's pupils at every date, and per
    school the partial sums of the school context (``_kind`` 1: attended and
    recorded lessons in 90 days, pupils) over the whole cohort (any grade)."""
    prepared = _Prepared(tables, config, dates, whole=whole)
    blocks = []
    for d in dates:
        ctx = prepared.contexts[d]
        if isinstance(ctx, _NoPupils):
            continue
        rows, data = prepared.columns_at(d)
        enr, cur = ctx.enr, ctx.cur
        block = {
            "_kind": np.zeros(len(rows), dtype=np.int32),
            "as_day": np.full(len(rows), ts_day(d), dtype=np.int64),
            "pupil_id": prepared.pupil_ids.take(rows).to_numpy(dtype=object),
            "school_id": np.asarray(enr.school_ids.astype("str"), dtype=object)[enr.school[cur]],
            "municipality_id": np.asarray(enr.municipality_ids.astype("str"),
                                          dtype=object)[enr.municipality[cur]],
        }
        for c in columns:
            v = data[c]
            if isinstance(v, pd.Categorical):
                v = np.asarray(v.astype(object))
            block[c] = v
        blocks.append(pd.DataFrame(block))
        blocks.append(_school_partials(prepared, ctx, d))
    if not blocks:
        return pd.DataFrame({"_kind": np.zeros(0, dtype=np.int32)})
    return pd.concat(blocks, ignore_index=True)


def _school_partials(prepared: _Prepared, ctx: AsOfContext, d: pd.Timestamp) -> pd.DataFrame:
    enr, all_cur = ctx.enr, ctx.all_cur
    res = prepared.results[id(ctx)]
    n_s = len(enr.school_ids)
    school = enr.school[all_cur]
    n = np.bincount(school, minlength=n_s)
    if "_att90_all" in res:
        p = enr.pupil[all_cur]
        att = np.bincount(school, weights=res["_att90_all"][p].astype(np.float64), minlength=n_s)
        tot = np.bincount(school, weights=res["_tot90_all"][p].astype(np.float64), minlength=n_s)
    else:
        att = tot = np.full(n_s, np.nan)
    k = np.flatnonzero(n > 0)
    return pd.DataFrame({
        "_kind": np.ones(len(k), dtype=np.int32),
        "as_day": np.full(len(k), ts_day(d), dtype=np.int64),
        "school_id": np.asarray(enr.school_ids.astype("str"), dtype=object)[k],
        "_att": att[k], "_tot": tot[k], "_n": n[k].astype(np.int64),
    })


def arrow_safe(df: pd.DataFrame) -> pd.DataFrame:
    """String columns as object dtype: pyspark's Arrow writer does not take pandas 3's
    Arrow-backed ``str`` columns (chunked arrays)."""
    for c in df.columns:
        if df[c].dtype == "str" or isinstance(df[c].dtype, pd.StringDtype):
            values = df[c].astype(object)
            df[c] = values.where(values.notna(), None)
    return df


def first_day(values) -> int | None:
    """Day number of the earliest of ``values`` (None when there is none)."""
    days = to_day(pd.Series(values).dropna())
    return int(days.min()) if len(days) else None

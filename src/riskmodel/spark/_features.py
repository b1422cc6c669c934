"""Point-in-time features on Spark (private): the plan the driver builds.

1. The cohort step: enrolments repartitioned by pupil; per partition
   (``mapInPandas``) the enrolled and waiting pupils, the first start and the
   leaving counts per school and municipality; summed in Spark.  The driver takes
   the small result (dates x schools) and decides, per date, what only the whole
   system can tell (a summer date? the first start).
2. The feature step: the event tables in one union frame repartitioned by pupil,
   so that a partition holds every record of its pupils; each partition runs the
   library's own feature code (:mod:`riskmodel.spark._partition`).
3. The context step: the school context (attendance in 90 days, pupils enrolled)
   summed per school in Spark, and the leaving rates, broadcast-joined onto the
   pupils' rows in place of the partition-local values.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from .._checks import InvalidParameterError, parse_as_of
from .._columns import ts_day
from .._enrolments import SUMMER_LOOKBACK_DAYS
from ..features._build import SENSITIVE, _check_config
from ..features._registry import feature_names, registry
from . import _partition as P
from ._session import spark_errors

logger = logging.getLogger(__name__)

#: pupils per partition of the feature step. A task's Python worker holds its partition
#: (Arrow, then pandas, then the feature arrays): measured at the generator's record
#: density (2 years: ~330 attendance, ~200 grade, ~100 engagement rows per pupil) about
#: 0.3 GB plus 0.08 GB per 1,000 pupils, so 0.7 GB at 5,000 (docs/spark.md). The
#: worker's memory does not depend on the system's size, only on this.
PUPILS_PER_PARTITION = 5_000


def _frames(tables, func: str) -> dict:
    """``{name: Spark DataFrame}`` from a mapping or an object with table attributes."""
    from pyspark.sql import DataFrame

    if isinstance(tables, dict):
        get = tables.get
    else:
        def get(name):
            return getattr(tables, name, None)
    out = {}
    for name in (*P.EVENT_TABLES, "schools"):
        df = get(name)
        if df is None:
            continue
        if not isinstance(df, DataFrame):
            raise InvalidParameterError(
                f"The 'tables' parameter of {func} must hold Spark DataFrames; "
                f"table '{name}' is a {type(df).__name__}. Convert pandas tables with "
                "riskmodel.spark.to_spark(spark, tables).")
        out[name] = df
    for name in ("pupils", "enrolments"):
        if name not in out:
            raise InvalidParameterError(
                f"The 'tables' parameter of {func} must have a '{name}' table "
                "(a Spark DataFrame with the data contract's columns).")
        if "pupil_id" not in out[name].columns:
            raise InvalidParameterError(
                f"Table '{name}' given to {func} has no 'pupil_id' column; "
                f"its columns are {out[name].columns}.")
    return out


def _columns(config) -> list[str]:
    names = feature_names(include_sensitive=config.include_sensitive)
    reg = registry()
    domains = set(config.domains)
    return [c for c in names if reg.loc[c, "domain"] in domains or c in SENSITIVE]


def _output_schema(columns: list[str]):
    from pyspark.sql import types as T

    fields = [T.StructField("_kind", T.IntegerType()), T.StructField("as_day", T.LongType()),
              T.StructField("pupil_id", T.StringType()), T.StructField("school_id", T.StringType()),
              T.StructField("municipality_id", T.StringType())]
    for c in columns:
        fields.append(T.StructField(c, T.StringType() if c == "home_language" else T.DoubleType()))
    fields += [T.StructField("_att", T.DoubleType()), T.StructField("_tot", T.DoubleType()),
               T.StructField("_n", T.LongType())]
    return T.StructType(fields)


def _union(frames: dict, n_parts: int):
    """The event tables as one frame, repartitioned by ``pupil_id``: a partition holds
    all records of its pupils.

    Columns: ``pupil_id``, ``_table`` (the table's code) and typed slots ``_v<i>``
    shared by the tables (a table's k-th column of a type goes to that type's k-th
    slot), so an attendance row carries about ten fields, not every table's columns
    as nulls. Returns the frame and ``{table: (code, [(column, slot), ...])}``.
    """
    from pyspark.sql import functions as F

    slots, layout = [], {}  # slots: [(name, Spark type)]
    for code, name in enumerate(P.EVENT_TABLES):
        df = frames.get(name)
        if df is None:
            continue
        used, cols = set(), []
        for field in df.schema.fields:
            if field.name == "pupil_id":
                cols.append(("pupil_id", "pupil_id"))
                continue
            slot = next((s for s, t in slots if t == field.dataType and s not in used), None)
            if slot is None:
                slot = f"_v{len(slots)}"
                slots.append((slot, field.dataType))
            used.add(slot)
            cols.append((field.name, slot))
        layout[name] = (code, cols)
    parts = []
    for name, (code, cols) in layout.items():
        slot_of = {slot: col for col, slot in cols}
        parts.append(frames[name].select(
            F.col("pupil_id").cast("string").alias("pupil_id"),
            F.lit(code).cast("byte").alias("_table"),
            *[(F.col(slot_of[s]) if s in slot_of else F.lit(None).cast(t)).alias(s)
              for s, t in slots]))
    union = parts[0]
    for p in parts[1:]:
        union = union.union(p)
    return union.repartition(n_parts, "pupil_id"), layout


class _Whole:
    """What the driver decided for the whole system, per date."""

    def __init__(self, dates, stats: pd.DataFrame, first_att: int | None):
        self.dates = dates
        self.summer, self.data_start, self.n_cohort = {}, {}, {}
        for d in dates:
            a = ts_day(d)
            s = stats[stats["as_day"] == a]
            c = s[s["kind"] == "cohort"]
            n_enr, n_wait = int(c["a"].sum()), int(c["b"].sum())
            summer = n_wait > n_enr
            self.summer[d] = summer
            self.n_cohort[d] = n_enr + (n_wait if summer else 0)
            st = s[s["kind"] == "start"]["a"]
            self.data_start[d] = int(st.min()) if len(st) else a
        self.first_att = first_att
        rates = stats[stats["kind"].isin(["school", "municipality"])].copy()
        rates["rate"] = np.where(rates["b"] > 0, rates["a"] / rates["b"].where(rates["b"] > 0),
                                 np.nan)
        self.rates = rates

    def as_dict(self) -> dict:
        return {"summer": self.summer, "data_start": self.data_start,
                "attendance_first_day": self.first_att}


def _no_pupils(d: pd.Timestamp) -> str:
    return (f"No pupil is enrolled on as_of={d.date()}, nor waiting to continue after "
            f"completing a grade in the {SUMMER_LOOKBACK_DAYS} days before it.")


def _n_partitions(spark, frames, pupils_per_partition):
    n = frames["pupils"].count()
    return max(spark.sparkContext.defaultParallelism, math.ceil(n / pupils_per_partition), 1)


def _panel(tables, dates: list[pd.Timestamp], config, func: str,
           pupils_per_partition: int | None):
    """The Spark DataFrame of features at ``dates`` (columns ``as_of``, ``pupil_id``,
    ``school_id``, ``municipality_id``, features) and the kept dates."""
    from pyspark.sql import functions as F

    frames = _frames(tables, func)
    cfg = _check_config(config)
    spark = frames["pupils"].sparkSession
    columns = _columns(cfg)
    n_parts = _n_partitions(spark, frames, pupils_per_partition or PUPILS_PER_PARTITION)
    as_days = [ts_day(d) for d in dates]

    # 1. cohort counts and leaving counts, summed over the partitions
    enr_cols = frames["enrolments"].columns

    def stats(batches):
        pdf = pd.concat(list(batches), ignore_index=True)
        if len(pdf) == 0:
            return
        yield P.cohort_stats(pdf[enr_cols], as_days, cfg)

    enr = frames["enrolments"].withColumn("pupil_id", F.col("pupil_id").cast("string"))
    raw = enr.repartition(n_parts, "pupil_id").mapInPandas(stats, P.STATS_SCHEMA)
    summed = (raw.groupBy("as_day", "kind", "key")
              .agg(F.sum("a").alias("sa"), F.min("a").alias("ma"), F.sum("b").alias("b")))
    stats_pdf = summed.toPandas()
    stats_pdf["a"] = np.where(stats_pdf["kind"] == "start", stats_pdf["ma"], stats_pdf["sa"])
    att = frames.get("attendance")
    first_att = None
    if att is not None:
        first = att.agg(F.min("date")).collect()[0][0]
        first_att = P.first_day([first]) if first is not None else None
    whole = _Whole(dates, stats_pdf, first_att)
    kept = [d for d in dates if whole.n_cohort[d] > 0]
    if not kept:
        return None, whole, []

    # 2. features per pupil partition (the library's code)
    union, layout = _union(frames, n_parts)
    present = {name: frames[name].limit(1).count() > 0 if name in frames else False
               for name in P.EVENT_TABLES}
    schools = frames["schools"].toPandas() if "schools" in frames else None
    if schools is not None:
        schools = P._dates(schools)
    whole_d = whole.as_dict()
    schema = _output_schema(columns)
    names = schema.fieldNames()

    from pyspark.sql.pandas.types import to_arrow_schema

    arrow_schema = to_arrow_schema(schema)

    def features(batches):
        import pyarrow as pa

        parts = P.split_batches(batches, layout)
        if parts is None or len(parts["pupils"]) == 0:
            return
        t = P.partition_tables(parts, schools, present)
        del parts
        out = P.partition_features(t, cfg, kept, whole_d, columns)
        if len(out):
            yield from pa.Table.from_pandas(out.reindex(columns=names),
                                            schema=arrow_schema,
                                            preserve_index=False).to_batches()

    from pyspark import StorageLevel

    rows = union.mapInArrow(features, schema).persist(StorageLevel.MEMORY_AND_DISK)

    # 3. school and municipality context of the whole system, broadcast-joined
    pupils = rows.filter(F.col("_kind") == 0).drop("_kind", "_att", "_tot", "_n")
    if "context" in cfg.domains:
        # the per-school sums are small (schools x dates): collected, they are one more
        # table of the driver; a broadcast join of the Spark aggregate would compute the
        # feature step a second time (the broadcast job runs beside the main one)
        ctx = (rows.filter(F.col("_kind") == 1).groupBy("as_day", "school_id")
               .agg(F.sum("_att").alias("_att"), F.sum("_tot").alias("_tot"),
                    F.sum("_n").alias("_n")).toPandas())
        tot = ctx["_tot"].to_numpy(dtype=float)
        # Spark's order: NaN > 0 (a school without attendance sums gives NaN/NaN)
        ctx["school_attendance_rate_90d"] = np.where((tot > 0) | np.isnan(tot),
                                                     ctx["_att"] / ctx["_tot"], np.nan)
        ctx["school_enrolled_pupils"] = ctx["_n"].astype(float)
        r = whole.rates
        sch = r[r["kind"] == "school"][["as_day", "key", "rate"]].rename(
            columns={"key": "school_id", "rate": "school_leaving_rate_3y"})
        mun = r[r["kind"] == "municipality"][["as_day", "key", "rate"]].rename(
            columns={"key": "municipality_id", "rate": "municipality_leaving_rate_3y"})
        sch = ctx[["as_day", "school_id", "school_attendance_rate_90d",
                   "school_enrolled_pupils"]].merge(sch, on=["as_day", "school_id"],
                                                    how="outer")
        sch_df = spark.createDataFrame(sch, "as_day long, school_id string, "
                                            "school_attendance_rate_90d double, "
                                            "school_enrolled_pupils double, "
                                            "school_leaving_rate_3y double")
        mun_df = spark.createDataFrame(mun, "as_day long, municipality_id string, "
                                            "municipality_leaving_rate_3y double")
        pupils = pupils.drop(*P.GLOBAL_CONTEXT)
        pupils = (pupils.join(F.broadcast(sch_df), ["as_day", "school_id"], "left")
                  .join(F.broadcast(mun_df), ["as_day", "municipality_id"], "left"))
    out = pupils.select(F.date_from_unix_date("as_day").alias("as_of"), "pupil_id",
                        "school_id", "municipality_id", *columns)
    return out, whole, kept


def build_features(tables, as_of, config=None, *, pupils_per_partition=None):
    """Point-in-time features on Spark, equal to :func:`riskmodel.build_features`.

    Parameters
    ----------
    tables : mapping or object of Spark DataFrames
        ``pupils`` and ``enrolments`` (required), ``attendance``, ``grades``,
        ``engagement`` and ``schools`` with the data contract's columns (see
        :func:`riskmodel.spark.to_spark` and :func:`riskmodel.spark.read_tables`).
    as_of : date
    config : FeatureConfig, mapping, path or None
    pupils_per_partition : int, optional
        Pupils per partition of the feature step (default 5,000).

    Returns
    -------
    pyspark.sql.DataFrame
        ``pupil_id``, ``school_id``, ``municipality_id`` (of the current or planned
        enrolment) and one column per feature in registry order (doubles;
        ``home_language`` a string), one row per pupil of the cohort. Not sorted.
    """
    ts = parse_as_of(as_of, "build_features")
    with spark_errors("build_features"):
        out, whole, kept = _panel(tables, [ts], config, "build_features",
                                  pupils_per_partition)
        if not kept:
            raise InvalidParameterError(_no_pupils(ts) + " Choose an as_of inside the "
                                        "enrolment period or in the summer after a school year.")
        return out.drop("as_of")


def build_feature_panel(tables, as_of_dates, config=None, *, pupils_per_partition=None):
    """Features at several dates on Spark, equal to :func:`riskmodel.build_feature_panel`.

    One cohort step and one feature step serve all dates (each partition builds its
    pupils' event sums once). A date without pupils is left out with a logged
    warning, as in the library.

    Returns
    -------
    pyspark.sql.DataFrame
        ``as_of`` (date), ``pupil_id``, ``school_id``, ``municipality_id``, features.
    """
    if isinstance(as_of_dates, (str, pd.Timestamp)) or not hasattr(as_of_dates, "__iter__"):
        raise InvalidParameterError(
            "The 'as_of_dates' parameter of build_feature_panel must be a sequence of dates. "
            f"Got {type(as_of_dates).__name__} instead.")
    dates = [parse_as_of(d, "build_feature_panel", "as_of_dates") for d in as_of_dates]
    if not dates:
        raise InvalidParameterError(
            "The 'as_of_dates' parameter of build_feature_panel must hold at least one date. "
            "Got an empty sequence instead.")
    if len(set(dates)) != len(dates):
        raise InvalidParameterError(
            "The 'as_of_dates' parameter of build_feature_panel must not repeat a date. "
            f"Got {[str(d.date()) for d in dates]} instead.")
    with spark_errors("build_feature_panel"):
        out, whole, kept = _panel(tables, dates, config, "build_feature_panel",
                                  pupils_per_partition)
        for d in dates:
            if d not in kept:
                logger.warning("build_feature_panel: %s; the date is left out of the panel.",
                               _no_pupils(d))
        if not kept:
            raise InvalidParameterError(
                "No pupil is enrolled (nor waiting to continue) on any of the 'as_of_dates' "
                f"of build_feature_panel ({', '.join(str(d.date()) for d in dates)}).")
        return out

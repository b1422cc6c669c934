"""The score run on Spark (private): ``riskmodel score --engine spark``.

Reads the data folder's Parquet tables with Spark, builds the features
(:func:`riskmodel.spark.build_features`), scores them with the registered pyfunc
(:func:`riskmodel.spark.score`), ranks and tiers the whole cohort in Spark, and
allocates support to the candidates collected on the driver
(:mod:`riskmodel.spark._allocate`), and writes ``features.parquet``,
``scores.parquet`` and the plan as Parquet datasets partitioned by
``municipality_id`` plus ``manifest.json`` into a temporary
folder that is renamed to ``out`` only when everything is written
(:func:`riskmodel._atomic.atomic_output_dir`, as the local run).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .._atomic import MANIFEST, atomic_output_dir, check_output_dir
from .._checks import parse_as_of
from .._run_config import ScoreConfig
from .._run_io import MAX_DAYS_AFTER_DATA, Stages, resolve_rules, write_manifest
from .._run_score import tier_cuts
from .._util import file_sha256, jsonable, riskmodel_version
from ..config import load_config
from ..errors import ConfigError
from ..vocab import DOMAINS
from ._allocate import PLAN_FILES, collect_candidates, plan_on_driver, write_plan_partitioned
from ._session import session, spark_errors

#: what a Spark score run writes (Parquet datasets partitioned by municipality_id)
SPARK_SCORE_FILES = ("features.parquet", "scores.parquet", MANIFEST)


def _data_end(frames) -> pd.Timestamp:
    """Last date of a record in the event tables (Spark aggregates)."""
    from pyspark.sql import functions as F

    last = []
    for name, cols in (("enrolments", ("start_date", "end_date")), ("attendance", ("date",)),
                       ("grades", ("date",)), ("engagement", ("date",))):
        df = frames.get(name)
        if df is None:
            continue
        cols = [c for c in cols if c in df.columns]
        if cols:
            row = df.agg(*[F.max(c).alias(c) for c in cols]).collect()[0]
            last += [v for v in row if v is not None]
    if not last:
        raise ConfigError("The data hold no dated records; cannot choose an as_of date.")
    return parse_as_of(pd.Timestamp(max(last)).normalize())


def _pyfunc_uri(cfg) -> tuple[str, dict]:
    """The pinned pyfunc URI of ``cfg.model`` (an alias resolved to its version)."""
    from .. import tracking

    uri = cfg.model
    if not isinstance(uri, str) or not (uri.startswith(("models:/", "runs:/")) or "://" in uri):
        raise ConfigError(
            f"--engine spark scores with the registered MLflow pyfunc model; got {uri!r}. "
            "Pass --model models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN/model.")
    resolved = tracking.resolve_model(uri, tracking_uri=cfg.tracking_uri)
    info = dict(resolved.info)
    if info.get("name") and info.get("version"):
        return f"models:/{info['name']}/{info['version']}", info
    return uri, info


def _tiered(scores, n: int, tiers):
    """National and school ranks (1 = highest risk; ties by pupil_id) and tiers, in Spark."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    high, elevated = tier_cuts(n, tiers)
    # one global order: Spark sorts by range partitions, then numbers within them
    national = Window.orderBy(F.col("risk").desc(), F.col("pupil_id").asc())
    school = Window.partitionBy("school_id").orderBy(F.col("rank_national").asc())
    out = (scores.withColumn("rank_national", F.row_number().over(national).cast("long"))
           .withColumn("rank_school", F.row_number().over(school).cast("long")))
    tier = (F.when(F.col("rank_national") <= high, "high")
            .when(F.col("rank_national") <= elevated, "elevated").otherwise("low"))
    return out.withColumn("tier", tier), high


def _shares(scores):
    """``share_<domain>``: the domain's part of the pupil's risk-raising contributions."""
    from pyspark.sql import functions as F

    pos = {d: F.greatest(F.col(f"contribution_{d}"), F.lit(0.0)) for d in DOMAINS}
    total = sum(pos.values(), F.lit(0.0))
    for d in DOMAINS:
        scores = scores.withColumn(
            f"share_{d}", F.when(total > 0, pos[d] / total).otherwise(F.lit(0.0)))
    return scores


def _hashes(folder: Path) -> dict:
    files = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and p.name != MANIFEST and not any(
                part.startswith((".", "_")) for part in p.relative_to(folder).parts):
            files[rel] = file_sha256(p)
    return files


def spark_score_run(config: ScoreConfig | dict | str | os.PathLike | None = None, *,
                    master: str = "local[*]", spark=None, progress: bool = False):
    """Score the data folder on Spark and write the outputs atomically.

    The outputs, in ``config.out``: ``features.parquet/`` and ``scores.parquet/``
    (Parquet datasets partitioned by ``municipality_id``; the scores hold
    ``pupil_id``, ``school_id``, ``risk``, ``rank_national``, ``rank_school``,
    ``tier``, ``reason_<i>_<lang>``, ``contribution_<domain>``, ``share_<domain>``)
    and ``manifest.json`` (engine, master, model URI and version, as_of, the
    cohort, the high tier, sha256 of every data file).

    With ``allocate`` (the default), the allocation's candidates (the risk group,
    the pupils eligible without it, those with ongoing support; see
    :mod:`riskmodel.spark._allocate`) are collected to the driver and planned by the
    library's allocation, as in the local run; ``allocation.parquet/``,
    ``ended.parquet/`` and ``waitlist.parquet/`` are written partitioned by
    ``municipality_id`` and the manifest has the roster and the plan's summary.

    Not on Spark yet: the ``benefit`` objective, the monitor (``monitor`` must be
    off), the score history and the report; the run refuses the first three rather
    than skip them, and writes no report.

    Returns
    -------
    riskmodel.pipeline.ScoreResult
    """
    from .._run_score import ScoreResult
    from . import build_features, read_tables, score

    cfg = load_config(ScoreConfig, config)
    if cfg.allocate and cfg.objective == "benefit":
        raise ConfigError("--engine spark does not allocate by the 'benefit' objective yet: "
                          "use objective 'fit' or 'risk', or pass --no-allocate.")
    if cfg.monitor == "on":
        raise ConfigError("--engine spark does not run the monitor yet: pass --monitor off "
                          "(run `riskmodel monitor` on the data beside it).")
    if cfg.history is not None:
        raise ConfigError("--engine spark keeps no score history yet: leave out --history.")
    if cfg.data is None:
        raise ConfigError("Scoring needs a data folder: pass --data DIR (or set 'data' in "
                          "the config).")
    check_output_dir(cfg.out)
    rules = resolve_rules(cfg.rules) if cfg.allocate else None
    stages = Stages(["session", "model", "features", "score", "allocate", "write"], progress,
                    desc="score (spark)")
    try:
        with stages("session"):
            spark = spark or session(master)
        with stages("model"):
            uri, model_info = _pyfunc_uri(cfg)
        with spark_errors("score_run"):
            from pyspark import StorageLevel

            with stages("features"):
                frames = read_tables(spark, cfg.data)
                end = _data_end(frames)
                if cfg.as_of is not None:
                    as_of = parse_as_of(cfg.as_of, "score_run")
                    if (as_of - end).days > MAX_DAYS_AFTER_DATA:
                        raise ConfigError(
                            f"--as-of {as_of.date()} is more than {MAX_DAYS_AFTER_DATA} days "
                            f"after the data's last record ({end.date()}).")
                else:
                    as_of = end + pd.Timedelta(days=1)
                X = build_features(frames, as_of).persist(StorageLevel.MEMORY_AND_DISK)
                n = X.count()
            if n == 0:
                raise ConfigError(f"No pupil is enrolled on {as_of.date()}; nothing to score. "
                                  "Choose another --as-of.")
            with stages("score"):
                scored = score(X, uri, n_reasons=cfg.n_reasons)
                scored = scored.persist(StorageLevel.MEMORY_AND_DISK)
                ranked, high = _tiered(scored, n, cfg.tiers)
                ranked = _shares(ranked)
            allocation = None
            if cfg.allocate:
                with stages("allocate"):  # from the scores: the candidates need no ranks
                    cand, support = collect_candidates(scored, X, frames, cfg, rules, as_of)
                    allocation, roster = plan_on_driver(cand, support, cfg, rules, as_of,
                                                        cfg.data)
                    n_candidates = len(cand)
                    del cand
            with stages("write"):
                manifest = {
                    "kind": "score", "engine": "spark",
                    "spark_master": spark.sparkContext.master,
                    "riskmodel_version": riskmodel_version(), "as_of": str(as_of.date()),
                    "model": jsonable(model_info), "pyfunc_uri": uri, "data": str(cfg.data),
                    "n_pupils": int(n), "high_tier": {"top_fraction": cfg.tiers.high_fraction,
                                                      "k": int(high)},
                    "partitioned_by": "municipality_id",
                    "config": jsonable(cfg.model_dump(mode="json", exclude={"out"})),
                }
                if allocation is not None:
                    from .._run_benefit import allocation_manifest

                    manifest["resources"] = roster
                    manifest["allocation"] = {**allocation_manifest(allocation, None),
                                              "n_candidates": int(n_candidates)}
                with atomic_output_dir(cfg.out) as tmp:
                    X.write.partitionBy("municipality_id").parquet(str(tmp / "features.parquet"))
                    ranked.write.partitionBy("municipality_id").parquet(
                        str(tmp / "scores.parquet"))
                    if allocation is not None:
                        write_plan_partitioned(allocation, tmp)
                    manifest = write_manifest(tmp, manifest, files=_hashes(tmp))
                X.unpersist()
        out = Path(cfg.out)
        files = SPARK_SCORE_FILES + (PLAN_FILES if cfg.allocate else ())
        paths = {Path(f).stem: out / f for f in files if (out / f).exists()}
        return ScoreResult(out=out, paths=paths, manifest=manifest,
                           timings=dict(stages.timings))
    finally:
        stages.close()

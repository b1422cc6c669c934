"""The allocation of a Spark score run (private).

The allocation needs the whole cohort at once, so it runs on the driver with the
library's own :func:`riskmodel.allocate` (through the local run's
:func:`riskmodel._run_allocate.plan_support`), on the only pupils it can plan or
end: the candidates. A pupil is a candidate when it may be eligible for some kind
of support under the programme rules (in the risk group, ``risk >= min_risk``, for
the kinds that need it; else by the kind's grades and liecība rule alone: literacy
for grades 1-3 at any risk) or has support ongoing on ``as_of`` (which may continue
below ``min_risk``, down to ``exit_level``, or end). Every other pupil is eligible
for nothing and takes no part in the plan, so the plan of the candidates is the
local run's plan of the whole cohort. The age rule is left to the driver (the
candidates are a superset for it).

What the local run takes from ``pupil_frame`` comes from the Spark side: ``grade``
is the feature ``grade_level``, ``liecība`` the feature ``finished_grade9_lieciba``
and ``age`` the library's completed years from ``pupils.birth_date``.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from ..vocab import DOMAINS

#: the allocation outputs of a Spark run (Parquet datasets partitioned by municipality_id)
PLAN_FILES = ("allocation.parquet", "ended.parquet", "waitlist.parquet")


def candidate_condition(rules):
    """Spark condition: the pupil may be eligible for a kind of support (see the module)."""
    from pyspark.sql import functions as F

    from ..allocation._rules import KINDS

    cond = F.col("risk") >= F.lit(float(rules.min_risk))
    for kind in KINDS:
        rule = rules.kind_rule(kind)
        if rule.requires_risk_group:
            continue
        ok = F.lit(True)
        if rule.grades is not None:
            ok = ok & F.col("grade_level").isin([float(g) for g in rule.grades])
        if rule.requires_liecība:
            ok = ok & (F.col("finished_grade9_lieciba") > 0)
        cond = cond | ok
    return cond


def _roster(data: Path):
    """The data folder's own roster (``resources.<parquet|csv|xlsx>``), as the local run
    reads it, or None."""
    from .._table_io import READ_FORMATS, ROSTER
    from ..allocation._roster import read_roster_file

    for fmt in READ_FORMATS:
        path = Path(data) / f"{ROSTER}.{fmt}"
        if path.is_file():
            return read_roster_file(path)
    return None


def collect_candidates(scored, X, frames, cfg, rules, as_of):
    """The candidates' allocation inputs and the support known before ``as_of``, on the
    driver: ``(pupils, scores, support)`` (pandas; ``support`` None without the table
    or with ``resources.current`` off)."""
    from pyspark.sql import functions as F

    cut = F.lit(as_of.date())
    support = None
    ongoing = None
    if cfg.resources.current and "support" in frames:
        known = frames["support"].filter(F.col("start_date") < cut)
        support = known.toPandas()
        for c in ("start_date", "end_date"):
            if c in support.columns:
                support[c] = pd.to_datetime(support[c])
        ongoing = (known.filter(F.col("end_date").isNull() | (F.col("end_date") >= cut))
                   .select("pupil_id").distinct().withColumn("_ongoing", F.lit(True)))
    reasons = [c for c in scored.columns if c.startswith("reason_")]
    facts = X.select("pupil_id", "grade_level", "finished_grade9_lieciba")
    births = frames["pupils"].select("pupil_id", "birth_date")
    cand = scored.select("pupil_id", "school_id", "municipality_id", "risk", *reasons,
                         *[f"contribution_{d}" for d in DOMAINS]).join(facts, "pupil_id")
    cond = candidate_condition(rules)
    if ongoing is not None:
        cand = cand.join(F.broadcast(ongoing), "pupil_id", "left")
        cond = cond | F.col("_ongoing").isNotNull()
    cand = cand.filter(cond).join(births, "pupil_id", "left").drop("_ongoing")
    df = cand.toPandas().sort_values("pupil_id").set_index("pupil_id")
    return df, support


def plan_on_driver(cand: pd.DataFrame, support, cfg, rules, as_of, data):
    """``plan_support`` of the local run on the candidates: ``(allocation, roster_info)``."""
    from .._columns import to_day
    from .._run_allocate import plan_support
    from .._run_io import allocation_pupils, joined_reasons
    from ..features._build import _age_years

    frame = pd.DataFrame({
        "school_id": cand["school_id"].astype("str"),
        "municipality_id": cand["municipality_id"].astype("str"),
        "grade": cand["grade_level"].to_numpy().astype("int8"),
        "age": _age_years(to_day(pd.to_datetime(cand["birth_date"])), as_of),
        "liecība": cand["finished_grade9_lieciba"].to_numpy() > 0,
    }, index=cand.index)
    by_domain = cand[[f"contribution_{d}" for d in DOMAINS]].set_axis(list(DOMAINS), axis=1)
    scores = cand[[c for c in cand.columns if c.startswith("reason_")]]
    pupils = allocation_pupils(frame, cand["risk"], by_domain,
                               joined_reasons(scores, cfg.n_reasons))
    tables = SimpleNamespace(support=support, resources=_roster(data))
    options = ({"exploration": cfg.exploration, "random_state": cfg.exploration_seed}
               if cfg.exploration > 0 else {})
    allocation, _, roster = plan_support(pupils, scores, cfg.resources, rules, cfg.objective,
                                         as_of, tables, **options)
    return allocation, roster


def write_plan_partitioned(allocation, tmp: Path) -> None:
    """The local run's plan files as Parquet datasets partitioned by ``municipality_id``
    (an empty table: one file with the columns)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .._run_io import as_frame

    frames = {"allocation": allocation.assignments, "ended": allocation.ended,
              "waitlist": allocation.waitlist}
    if allocation.exploration > 0:
        frames["probabilities"] = allocation.probabilities
    for name, df in frames.items():
        table = pa.Table.from_pandas(as_frame(df), preserve_index=False)
        root = tmp / f"{name}.parquet"
        if table.num_rows == 0 or "municipality_id" not in table.column_names:
            root.mkdir()
            pq.write_table(table, root / "part-0.parquet", compression="zstd")
        else:
            pq.write_to_dataset(table, root, partition_cols=["municipality_id"],
                                compression="zstd", basename_template="part-{i}.parquet")

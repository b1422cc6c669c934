"""riskmodel on Spark: the same features, scores and explanations on a cluster.

Needs the ``spark`` extra (``pip install "riskmodel[spark]"``: pyspark) and Java
17. Nothing else in riskmodel imports pyspark; ``import riskmodel`` stays light.

- :func:`build_features`, :func:`build_feature_panel`: point-in-time features of
  Spark DataFrames with the data contract's columns, equal to the library's. The
  event tables are repartitioned by pupil and each partition runs the library's
  own feature code (``mapInArrow``); the school and municipality context is
  summed over the whole system in Spark and broadcast-joined.
- :func:`score`: risk, reasons (Latvian, English) and domain contributions with
  ``mlflow.pyfunc.spark_udf`` on the registered pyfunc model.
- :func:`score_run`: the score run of ``riskmodel score --engine spark``.
- :func:`session`, :func:`to_spark`, :func:`read_tables`: a session with
  riskmodel's settings, pandas tables to Spark, a data folder read by Spark.

See ``docs/spark.md``.
"""

from __future__ import annotations

from ._features import build_feature_panel, build_features
from ._score import result_type, score
from ._session import SparkError, session
from ._tables import read_tables, to_spark

__all__ = ["SparkError", "build_feature_panel", "build_features", "read_tables",
           "result_type", "score", "score_run", "session", "to_spark"]


def score_run(*args, **kwargs):
    """:func:`riskmodel.pipeline.score_run` on Spark (see :mod:`riskmodel.spark._run`)."""
    from ._run import spark_score_run

    return spark_score_run(*args, **kwargs)

"""Scoring on Spark with MLflow's own Spark integration (private).

:func:`score` wraps the registered pyfunc model (:mod:`riskmodel.pyfunc`) in
``mlflow.pyfunc.spark_udf`` with ``env_manager="local"``: the executors use the
Python environment they run in, which must hold riskmodel (the ``spark`` extra's
installation on every node, or a wheel/conda pack shipped with the job; see
``docs/spark.md``). The model itself reaches the executors through MLflow: the
udf downloads the model's artifacts (LightGBM text and JSON, never a pickle) once
and loads it in each Python worker.
"""

from __future__ import annotations

from ..vocab import DOMAINS
from ._session import SparkError, spark_errors

#: the pyfunc's inference parameters on Spark: domain contributions, one thread per task
SPARK_PARAMS = {"domain_contributions": True, "num_threads": 1}


def result_type(n_reasons: int = 3):
    """The struct the udf returns: ``risk``, ``reason_<i>_lv``, ``reason_<i>_en``,
    ``contribution_<domain>`` (log-odds summed by domain)."""
    from pyspark.sql import types as T

    from ..pyfunc import output_columns

    fields = [T.StructField("risk", T.DoubleType())]
    fields += [T.StructField(c, T.StringType()) for c in output_columns(n_reasons)[1:]]
    fields += [T.StructField(f"contribution_{d}", T.DoubleType()) for d in DOMAINS]
    return T.StructType(fields)


def _inputs(model_uri: str):
    import mlflow

    try:
        info = mlflow.models.get_model_info(model_uri)
    except Exception as exc:  # MLflow's own errors: an unknown run, alias or path
        raise SparkError(f"score: cannot read the model {model_uri!r}: {exc}") from exc
    sig = info.signature
    if sig is None or sig.inputs is None:
        raise SparkError(f"score: the model {model_uri!r} has no input signature; log it "
                         "with riskmodel.pyfunc.log_model.")
    return [(c.name, c.type.name) for c in sig.inputs.inputs], info


def score(features, model_uri: str, *, n_reasons: int = 3, keep=("pupil_id", "school_id",
                                                                     "municipality_id")):
    """Risk, top reasons and domain contributions of every row of ``features``.

    Parameters
    ----------
    features : pyspark.sql.DataFrame
        One row per pupil with (at least) the model's feature columns, e.g. the
        result of :func:`riskmodel.spark.build_features`.
    model_uri : str
        A riskmodel pyfunc model: ``models:/riskmodel@champion``, ``runs:/…/model``
        or a local path.
    n_reasons : int, default 3
        Reasons per pupil; at most the number the model was logged with (3).
    keep : sequence of str
        Columns of ``features`` carried into the result (those present).

    Returns
    -------
    pyspark.sql.DataFrame
        ``keep`` columns and the fields of :func:`result_type`; risks equal the
        library's ``model.predict_proba`` and the pyfunc's ``predict`` on the same
        rows.
    """
    import mlflow.pyfunc
    from pyspark.sql import functions as F

    from ..pyfunc import output_columns

    inputs, info = _inputs(model_uri)
    names = [p.name for p in (info.signature.params.params if info.signature.params else [])]
    if "domain_contributions" not in names:
        raise SparkError(f"score: the model {model_uri!r} was logged without riskmodel's "
                         "inference parameters (domain contributions, threads); log it again "
                         "with riskmodel.pyfunc.log_model.")
    missing = [n for n, _ in inputs if n not in features.columns]
    if missing:
        raise SparkError(f"score: the features lack {len(missing)} column(s) of the model, "
                         f"e.g. {missing[:5]}.")
    with spark_errors("score"):
        spark = features.sparkSession
        udf = mlflow.pyfunc.spark_udf(
            spark, model_uri, result_type=result_type(n_reasons), env_manager="local",
            params=SPARK_PARAMS)
        args = [(F.col(n).cast("string") if t == "string" else F.col(n).cast("double")).alias(n)
                for n, t in inputs]
        kept = [c for c in keep if c in features.columns]
        out = (features.withColumn("_prediction", udf(F.struct(*args)))
               .select(*kept, "_prediction.*"))
        # spark_udf casts a struct's string fields with astype(str): a missing reason
        # (a pupil with fewer reasons) arrives as "None" or "nan"; no reason text is that
        for c in output_columns(n_reasons)[1:]:
            out = out.withColumn(c, F.when(F.col(c).isin("None", "nan"), F.lit(None))
                                 .otherwise(F.col(c)))
        return out

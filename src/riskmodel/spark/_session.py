"""The SparkSession and Spark's failures as riskmodel errors (private)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys

from ..errors import ConfigError


class SparkError(ConfigError):
    """Spark could not run the job: no Java, a bad master URL, a failed task.

    A :class:`~riskmodel.ConfigError`, so the CLI exits 2 with the message and no
    Py4J traceback.
    """


#: settings of every session riskmodel starts (the caller's session is used as is)
DEFAULT_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # pupil partitions of a few thousand pupils; Arrow batches of that size
    "spark.sql.execution.arrow.maxRecordsPerBatch": "20000",
    # one LightGBM / numba thread per task: the executors' cores are the tasks
    "spark.executorEnv.OMP_NUM_THREADS": "1",
    "spark.executorEnv.NUMBA_NUM_THREADS": "1",
    # output folders hold data and manifest.json only (no _SUCCESS marker files)
    "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
}


#: the master URLs Spark accepts (checked before the JVM starts, which would print its
#: own stack trace for a bad one)
_MASTER = re.compile(r"^(local(\[(\*|\d+)(,\d+)?\])?|local-cluster\[[\d, ]+\]|spark://\S+|"
                     r"yarn|k8s://\S+)$")


def session(master: str = "local[*]", *, app_name: str = "riskmodel", driver_memory="2g",
            conf: dict | None = None):
    """A SparkSession for riskmodel (the active one when a session is running).

    Parameters
    ----------
    master : str, default "local[*]"
        Spark master URL (``local[2]``, ``spark://host:7077``, ``yarn``, ...).
    app_name : str
    driver_memory : str, default "2g"
        ``spark.driver.memory`` (in local mode also the executors' memory).
    conf : mapping, optional
        More Spark settings (they win over riskmodel's defaults).

    Raises
    ------
    SparkError
        When Java is missing or Spark does not start (a bad master URL, ...).
    """
    if not isinstance(master, str) or not _MASTER.match(master):
        raise SparkError(f"{master!r} is not a Spark master URL: use local[*], local[N], "
                         "spark://HOST:PORT, yarn or k8s://HOST:PORT.")
    if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        raise SparkError("Spark needs Java (17 or later): no 'java' on PATH and JAVA_HOME is "
                         "not set. Install a JRE (make test installs default-jre-headless).")
    with spark_errors("session"):
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is not None:
            return active
        builder = SparkSession.builder.master(master).appName(app_name)
        settings = {**DEFAULT_CONF, "spark.driver.memory": str(driver_memory)}
        if master.startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
            # local workers run this interpreter, so they import the riskmodel the driver
            # imports (Spark's default is the first python3 on PATH, which may not have it).
            # PySpark takes the workers' Python from this variable when the context starts.
            os.environ["PYSPARK_PYTHON"] = sys.executable
        settings.update(conf or {})
        for k, v in settings.items():
            builder = builder.config(k, v)
        return builder.getOrCreate()


def _message(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = next((ln for ln in text if ln.strip()), type(exc).__name__)
    return first[:500]


@contextlib.contextmanager
def spark_errors(func: str):
    """Turn Spark's and Py4J's exceptions into :class:`SparkError` naming ``func``.

    riskmodel's own errors raised inside a task come back as a Spark
    ``PythonException``; their message is kept.
    """
    try:
        yield
    except SparkError:
        raise
    except Exception as exc:
        mod = type(exc).__module__ or ""
        if not (mod.startswith("pyspark") or mod.startswith("py4j")
                or "Java gateway" in str(exc) or "JAVA_HOME" in str(exc)):
            raise
        raise SparkError(f"{func} on Spark failed: {_message(exc)}") from exc

"""The monitor in MLflow (private): aggregates only, small cells blanked.

- :func:`log_thresholds` -- into the training run: ``monitor_thresholds.json`` (the
  thresholds stored with the model) and ``monitor_n_thresholds``.
- :func:`log_monitor` -- a ``riskmodel monitor`` run (tag ``riskmodel.kind=monitor``):
  the decision and dates as parameters, flagged counts per level and the score and
  outcome statistics as metrics, ``monitor.json`` (findings of fewer than
  ``MIN_CELL`` pupils blanked, as in :meth:`MonitorReport.to_dict`) and
  ``monitor.html`` as artifacts.
"""

from __future__ import annotations

import math
from pathlib import Path

__all__ = ["log_monitor", "log_thresholds", "monitor_metrics"]


def log_thresholds(model) -> None:
    """Log the model's monitor thresholds into the active MLflow run (if it has any)."""
    import mlflow

    th = getattr(model, "monitor_thresholds_", None)
    if th is None:
        mlflow.set_tag("riskmodel.monitor_thresholds", "missing")
        return
    d = th.to_dict() if hasattr(th, "to_dict") else dict(th)
    mlflow.log_dict(d, "monitor_thresholds.json")
    mlflow.log_metric("monitor_n_thresholds", float(len(d["thresholds"])))


def monitor_metrics(doc: dict) -> dict:
    """Metrics of a monitor document: flagged counts per level, score and outcome values.

    Examples
    --------
    >>> doc = {"findings": [
    ...     {"level": "score", "name": "score", "statistic": "score_psi", "value": 0.01,
    ...      "flagged": False},
    ...     {"level": "feature", "name": "a", "statistic": "psi", "value": None, "flagged": True}]}
    >>> monitor_metrics(doc)
    {'monitor_flagged_score': 0.0, 'monitor_flagged_feature': 1.0, 'monitor_score_score_psi': 0.01}
    """
    out = {}
    for row in doc["findings"]:
        key = f"monitor_flagged_{row['level']}"
        out[key] = out.get(key, 0.0) + float(bool(row["flagged"]))
    for row in doc["findings"]:
        v = row.get("value")
        if row["level"] in ("score", "outcome") and v is not None and math.isfinite(v):
            name = "".join(c if c.isalnum() or c in "_-." else "_" for c in row["name"])
            out[f"monitor_{name}_{row['statistic']}"] = float(v)
    return out


def log_monitor(doc: dict, out, *, tracking_uri=None) -> str:
    """Log a monitor run; returns its run id."""
    import mlflow

    from ..tracking import _server_errors, configure, tracking_uri as resolve

    with _server_errors(resolve(tracking_uri)):
        configure(tracking_uri)
        mlflow.set_experiment("riskmodel-monitor")
        with mlflow.start_run(run_name=f"monitor {doc['as_of']}") as run:
            mlflow.set_tags({"riskmodel.kind": "monitor", "riskmodel.decision": doc["decision"]})
            mlflow.log_params({"as_of": doc["as_of"], "reference_date": doc["reference_date"],
                               "model": str((doc.get("model") or {}).get("uri")),
                               "decision": doc["decision"],
                               "data_fingerprint": doc["data_fingerprint"]})
            mlflow.log_metrics(monitor_metrics(doc))
            mlflow.log_dict(doc, "monitor.json")
            mlflow.log_artifact(str(Path(out) / "monitor.html"))
            return run.info.run_id

"""MLflow runs and the model registry for riskmodel.

Tracking store: ``MLFLOW_TRACKING_URI`` when it is set (a real MLflow server,
see ``docs/mlflow_server.md``), else an embedded ``sqlite:///mlflow.db`` in the
working directory. The registry uses the same store.

A training run records the config, the parameters, the backtest metrics
(means over the test dates, and the whole table), figures, the data
fingerprint and summary, the feature registry, the fairness audit at capacity
(aggregates only; groups smaller than 10 pupils suppressed), the model card
(HTML and Markdown) and the model as a pyfunc from code
(:mod:`riskmodel.pyfunc`), registered as ``riskmodel`` with the alias
``champion`` moved to the new version when asked. No pupil-level row is
logged.

A tracking server that is down is reported within about 30 s, not after
MLflow's minutes of retries: for an ``http://`` or ``https://`` URI,
:func:`configure` sets MLflow's own HTTP settings when they are not already in
the environment (:data:`FAIL_FAST_HTTP_SETTINGS`: 2 retries, backoff factor 1,
a 6 s timeout per request), a training or evaluation run checks the server
(:func:`check_server`) before any work, and a server that cannot be reached,
keeps answering with errors or refuses the credentials raises
:class:`TrackingUnavailableError`, which names the URI and what to check.
A local model folder is loaded without any tracking server.

Examples
--------
>>> import tempfile
>>> from riskmodel import tracking
>>> uri = "sqlite:///" + tempfile.mkdtemp() + "/mlflow.db"
>>> tracking.tracking_uri(uri) == uri
True
>>> tracking.resolve_model("models:/riskmodel@champion", tracking_uri=uri)
Traceback (most recent call last):
...
riskmodel.errors.ConfigError: The model registry at sqlite:///.../mlflow.db has no registered model 'riskmodel' with alias 'champion' ...
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._suppression import MIN_CELL, blank_small
from ._util import riskmodel_version
from .errors import ConfigError, ModelFileError

__all__ = [
    "DEFAULT_TRACKING_URI",
    "FAIL_FAST_HTTP_SETTINGS",
    "TrackingUnavailableError",
    "check_server",
    "tracking_uri",
    "configure",
    "LoggedRun",
    "ResolvedModel",
    "log_training_run",
    "log_evaluation_run",
    "set_alias",
    "resolve_model",
]
# kept importable for one release, no longer public: MIN_CELL and suppress_small_groups
# (use riskmodel._suppression), backtest_metrics (internal)

logger = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"

#: MLflow's HTTP settings (:mod:`mlflow.environment_variables`) that :func:`configure`
#: puts into ``os.environ`` for an http(s) tracking URI, each only when it is not set
#: already. MLflow's defaults (7 retries, backoff factor 2, 120 s timeout) wait for
#: minutes on a server that is down; these give up on a refused connection in about
#: 2 s and on a server that never answers in at most 3 x 6 s + 2 s of backoff. Set
#: any of them yourself to keep MLflow's value or choose another (a longer timeout for an
#: artifact store that is slow to accept a model upload, for example).
FAIL_FAST_HTTP_SETTINGS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "6",
}


class TrackingUnavailableError(ConfigError):
    """The MLflow tracking server cannot be reached, keeps failing or refuses access.

    A :class:`riskmodel.ConfigError` (so a :class:`ValueError`); the command line
    exits with code 2 on it and prints its one-line message, which names the URI
    and what to check.

    Attributes
    ----------
    uri : str
        The tracking URI that failed.
    reason : str
        What went wrong, e.g. ``"connection refused"``.

    Examples
    --------
    >>> err = TrackingUnavailableError("http://127.0.0.1:5000", "connection refused")
    >>> err.uri, isinstance(err, ConfigError)
    ('http://127.0.0.1:5000', True)
    >>> print(err)
    The MLflow tracking server at http://127.0.0.1:5000 cannot be used: connection refused. ...
    """

    def __init__(self, uri: str, reason: str, hint: str = ""):
        self.uri = uri
        self.reason = reason
        credentials = "refused access" in reason
        super().__init__(
            f"The MLflow tracking server at {uri} cannot be used: {reason}. Check that the "
            "server is running and reachable from this machine and that MLFLOW_TRACKING_URI "
            "(or tracking_uri in the config) is right"
            + (", and check the credentials (MLFLOW_TRACKING_USERNAME and "
               "MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN)" if credentials else "")
            + (f"; {hint}" if hint else "") + "."
        )


def _is_http(uri: str) -> bool:
    return uri.lower().startswith(("http://", "https://"))


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _unavailable_reason(exc: BaseException) -> str | None:
    """Why ``exc`` means the server is unusable (None: it is some other error)."""
    import requests
    import urllib3

    chain = list(_chain(exc))
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or any(
            "connection refused" in str(e).lower() for e in chain):
        return "connection refused"
    if any(isinstance(e, (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError))
           or isinstance(getattr(e.args[0] if e.args else None, "reason", None),
                         urllib3.exceptions.TimeoutError) for e in chain):
        return (f"no answer within {os.environ.get('MLFLOW_HTTP_REQUEST_TIMEOUT', '120')} s "
                "(MLFLOW_HTTP_REQUEST_TIMEOUT)")
    if any(isinstance(e, requests.exceptions.RetryError) for e in chain):
        return "it kept answering with server errors"
    if any(isinstance(e, requests.exceptions.ConnectionError) for e in chain):
        return "it cannot be reached"
    code = getattr(exc, "error_code", None)
    if code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return "it refused access (" + code.lower().replace("_", " ") + ")"
    return None


class _server_errors:
    """Turn an unusable server inside the block into :class:`TrackingUnavailableError`."""

    def __init__(self, uri: str, hint: str = ""):
        self.uri, self.hint = uri, hint

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or not isinstance(exc, Exception) or isinstance(exc, ConfigError):
            return False
        _raise_if_unavailable(self.uri, exc, self.hint)
        return False


def tracking_uri(uri: str | None = None) -> str:
    """The tracking URI: ``uri``, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``.

    Parameters
    ----------
    uri : str or None
        An explicit URI (from a config); wins over the environment.

    Returns
    -------
    str

    Examples
    --------
    >>> tracking_uri("sqlite:///runs.db")
    'sqlite:///runs.db'
    """
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def configure(uri: str | None = None) -> str:
    """Point MLflow's tracking and registry at :func:`tracking_uri` and return it.

    Parameters
    ----------
    uri : str or None
        See :func:`tracking_uri`.

    Returns
    -------
    str
        The URI now used for runs and for the model registry.

    Examples
    --------
    >>> import tempfile, mlflow
    >>> uri = configure("sqlite:///" + tempfile.mkdtemp() + "/mlflow.db")
    >>> mlflow.get_tracking_uri() == uri == mlflow.get_registry_uri()
    True
    """
    import mlflow

    uri = tracking_uri(uri)
    if _is_http(uri):
        for name, value in FAIL_FAST_HTTP_SETTINGS.items():
            os.environ.setdefault(name, value)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def check_server(uri: str | None = None, *, hint: str = "") -> str:
    """Check that the tracking server answers, before a run does any work.

    Configures MLflow (:func:`configure`) and, for an ``http://`` or ``https://``
    URI, asks the server for one experiment. A local store (``sqlite:``, a folder)
    is not checked.

    Parameters
    ----------
    uri : str or None
        See :func:`tracking_uri`.
    hint : str
        Added to the error message, e.g. how to run without tracking.

    Returns
    -------
    str
        The tracking URI.

    Raises
    ------
    TrackingUnavailableError
        When the server cannot be reached, keeps answering with server errors,
        or refuses the credentials.

    Examples
    --------
    >>> import socket
    >>> with socket.socket() as s:  # a free local port that nothing listens on
    ...     _ = s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    >>> check_server(f"http://127.0.0.1:{port}")
    Traceback (most recent call last):
    ...
    riskmodel.tracking.TrackingUnavailableError: The MLflow tracking server at http://127.0.0.1:... cannot be used: connection refused. ...
    >>> check_server("sqlite:///mlflow.db")
    'sqlite:///mlflow.db'
    """
    uri = configure(uri)
    if _is_http(uri):
        from mlflow import MlflowClient

        with _server_errors(uri, hint):
            MlflowClient().search_experiments(max_results=1)
        logger.info("The tracking server at %s answers", uri)
    return uri


@dataclass
class LoggedRun:
    """Identifiers of a logged run (and of its registered model, if any).

    Returned by :func:`log_training_run` and :func:`log_evaluation_run`.

    Examples
    --------
    >>> LoggedRun(run_id="abc", experiment_id="1", tracking_uri="sqlite:///mlflow.db").model_uri is None
    True
    """

    run_id: str
    experiment_id: str
    tracking_uri: str
    model_uri: str | None = None
    model_version: str | None = None
    registered_model_uri: str | None = None
    artifact_uri: str | None = None


@dataclass
class ResolvedModel:
    """A fitted RiskModel and where it came from (``info`` goes into the run manifest).

    Returned by :func:`resolve_model`.

    Examples
    --------
    >>> ResolvedModel(model=None, info={"uri": "models:/riskmodel/1", "version": "1"}).info["version"]
    '1'
    """

    model: Any
    info: dict


# ------------------------------------------------------------------- helpers
def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _param_value(v) -> str:
    text = json.dumps(v, default=str) if isinstance(v, (list, dict)) else str(v)
    return text if len(text) <= 6000 else text[:5997] + "..."


def _metric_key(*parts: str) -> str:
    return "/".join(re.sub(r"[^A-Za-z0-9_\-. ]", "_", str(p)) for p in parts)


_ID_COLUMNS = {"model", "fold", "test_date", "train_end", "as_of", "k", "k_share", "n", "n_train",
               "n_test", "positives", "n_positive"}


def _backtest_metrics(backtest: pd.DataFrame) -> dict[str, float]:
    """Mean of every numeric backtest metric over the test dates, per model.

    Keys are ``backtest/<model>/<metric>``; interval bounds (``*_low``, ``*_high``)
    and counts are left out.
    """
    if backtest is None or len(backtest) == 0 or "model" not in backtest.columns:
        return {}
    metrics = [c for c in backtest.columns
               if c not in _ID_COLUMNS and pd.api.types.is_numeric_dtype(backtest[c])
               and not c.endswith(("_low", "_high"))]
    means = backtest.groupby("model", sort=True)[metrics].mean(numeric_only=True)
    out = {}
    for model, row in means.iterrows():
        for metric, value in row.items():
            if pd.notna(value) and np.isfinite(value):
                out[_metric_key("backtest", model, metric)] = float(value)
    return out


backtest_metrics = _backtest_metrics  # kept importable for one release


def suppress_small_groups(table: pd.DataFrame | None, min_cell: int = MIN_CELL):
    """Blank every number of groups with fewer than ``min_cell`` pupils (and their ``n``).

    Kept for one release; use the shared rule :func:`riskmodel._suppression.blank_small`
    (this is ``blank_small(table, "n", min_cell)``).

    Examples
    --------
    >>> import pandas as pd
    >>> suppress_small_groups(pd.DataFrame({"n": [4, 25], "rate": [0.5, 0.2]}))
          n  rate
    0   NaN   NaN
    1  25.0   0.2
    """
    return blank_small(table, "n", min_cell)


def _log_figures(backtest, audit) -> None:
    import mlflow
    from matplotlib.figure import Figure

    from .plotting import AuditDisplay, BacktestDisplay

    figs = []
    for metric in ("precision_at_k", "roc_auc"):
        if backtest is not None and metric in backtest.columns:
            fig = Figure(figsize=(6, 4), dpi=80)
            BacktestDisplay.from_backtest(backtest, metric=metric).plot(ax=fig.subplots())
            fig.tight_layout()
            figs.append((fig, f"figures/backtest_{metric}.png"))
    if audit is not None and len(audit):
        for metric in ("recall", "false_positive_rate"):
            shown = (audit["metric"] == metric) & audit["value"].notna()  # the tidy audit table
            if shown.any():
                n_rows = int(shown.sum())
                fig = Figure(figsize=(6, max(3.0, 0.22 * n_rows + 1)), dpi=80)
                AuditDisplay.from_audit(audit, metric=metric).plot(ax=fig.subplots())
                fig.tight_layout()
                figs.append((fig, f"figures/audit_{metric}.png"))
    for fig, path in figs:
        mlflow.log_figure(fig, path)


def _start(cfg, kind: str):
    import mlflow

    uri = configure(cfg.tracking.tracking_uri)
    mlflow.set_experiment(cfg.tracking.experiment)
    run = mlflow.start_run(run_name=cfg.tracking.run_name)
    mlflow.set_tags({"riskmodel.kind": kind})
    return run, uri


def _log_common(cfg, *, backtest, audit, tables, train_dates, k, fingerprint) -> None:
    import mlflow

    __version__ = riskmodel_version()
    config = cfg.model_dump(mode="json")
    mlflow.log_dict(config, "config.json")
    params = {key: _param_value(v) for key, v in _flatten(config).items()}
    params.update({
        "k": str(k),
        "train_dates": ",".join(str(pd.Timestamp(d).date()) for d in train_dates),
        "data_fingerprint": fingerprint,
        "riskmodel_version": __version__,
    })
    mlflow.log_params(params)
    mlflow.set_tags({"data_fingerprint": fingerprint, "riskmodel.version": __version__})
    summary = tables.summary()
    # the first and last birth dates would be single pupils' values: leave them out
    pupils_row = (summary["table"] == "pupils").to_numpy()
    summary.loc[pupils_row, ["first_date", "last_date"]] = pd.NaT
    mlflow.log_text(summary.to_csv(index=False, lineterminator="\n"), "data/summary.csv")
    if backtest is not None:
        mlflow.log_metrics(_backtest_metrics(backtest))
        mlflow.log_text(backtest.to_csv(index=False, lineterminator="\n"), "backtest.csv")
    if audit is not None:
        safe = blank_small(audit, "n", max(MIN_CELL, getattr(cfg.audit, "min_cell", MIN_CELL)))
        mlflow.log_text(safe.to_csv(index=False, lineterminator="\n"), "audit.csv")
    from .features import registry

    mlflow.log_text(registry().reset_index().to_csv(index=False, lineterminator="\n"),
                    "feature_registry.csv")
    _log_figures(backtest, audit)


def _new_support_share(tables, X) -> float | None:
    """Share of training rows with new support within 30 days (None without a support table)."""
    index = getattr(X, "index", None)
    if not isinstance(index, pd.MultiIndex) or getattr(tables, "support", None) is None:
        return None
    from .benefit import new_support

    return float(new_support(tables, index).to_numpy().max(axis=1).mean()) if len(index) else None


def log_training_run(cfg, *, model, X, y, backtest, audit, tables, train_dates, k, fingerprint,
                     register: bool = True, synthetic: bool = False,
                     benefit: dict | None = None) -> LoggedRun:
    """Log a training run (see the module docstring) and register the model.

    Parameters
    ----------
    cfg : riskmodel.pipeline.TrainConfig
    model : RiskModel
        The final fitted model.
    X, y : DataFrame, Series
        Training features and labels (only their shape and base rate are logged).
    backtest, audit : DataFrame
    tables : SchoolTables
    train_dates : list of Timestamp
    k : int
        Capacity used for metrics at k and the audit.
    fingerprint : str
    register : bool
        Register the model as ``cfg.tracking.registered_model_name`` and, when
        ``cfg.tracking.set_alias``, move ``cfg.tracking.alias`` to the new version.
    synthetic : bool
        The data are the synthetic school system (the model card says so).
    benefit : dict, optional
        The run's fitted benefit model (``TrainResult.benefit``): the model card
        gets its section "Benefit of support" (aggregates only).

    Returns
    -------
    LoggedRun

    Examples
    --------
    :func:`riskmodel.pipeline.train_run` calls it when tracking is enabled:

    >>> import tempfile
    >>> import riskmodel as rm
    >>> from riskmodel.pipeline import train_run
    >>> world = rm.datasets.make_school_system(n_pupils=300, n_years=3, random_state=0)
    >>> uri = "sqlite:///" + tempfile.mkdtemp() + "/mlflow.db"
    >>> res = train_run({"n_boot": 0, "audit": {"n_boot": 0}, "baselines": ["rule"],
    ...                  "tracking": {"tracking_uri": uri}}, tables=world.tables)
    >>> res.model_version
    '1'
    >>> resolve_model("models:/riskmodel@champion", tracking_uri=uri).info["version"]
    '1'
    """
    import mlflow

    from . import pyfunc
    from .report import build_model_card

    with _server_errors(tracking_uri(cfg.tracking.tracking_uri)):
        run, uri = _start(cfg, "train")
        with run:
            _log_common(cfg, backtest=backtest, audit=audit, tables=tables,
                        train_dates=train_dates, k=k, fingerprint=fingerprint)
            mlflow.log_params({"n_train_rows": str(len(X)), "n_features": str(X.shape[1]),
                               "n_iter": str(getattr(model, "n_iter_", ""))})
            mlflow.log_metric("train_base_rate", float(np.mean(y)))
            from .monitor._tracking import log_thresholds  # issue 19

            log_thresholds(model)
            name = cfg.tracking.registered_model_name if register else None
            info = pyfunc.log_model(model, registered_model_name=name)
            version = getattr(info, "registered_model_version", None)
            version = None if version is None else str(version)
            markdown, html = build_model_card(
                cfg=cfg, model=model, backtest=backtest, audit=audit, tables=tables,
                train_dates=train_dates, k=k, fingerprint=fingerprint, version=version,
                synthetic=synthetic, benefit=benefit,
                new_support_share=_new_support_share(tables, X))
            mlflow.log_text(markdown, "model_card.md")
            mlflow.log_text(html, "model_card.html")
            logged = LoggedRun(run_id=run.info.run_id, experiment_id=run.info.experiment_id,
                               tracking_uri=uri, model_uri=info.model_uri, model_version=version,
                               artifact_uri=run.info.artifact_uri)
            if version is not None:
                logged.registered_model_uri = f"models:/{name}/{version}"
                mlflow.set_tag("registered_model", logged.registered_model_uri)
                if cfg.tracking.set_alias and cfg.tracking.alias:
                    set_alias(name, cfg.tracking.alias, version)
    return logged


def log_evaluation_run(cfg, *, backtest, audit, tables, train_dates, k, fingerprint) -> LoggedRun:
    """Log an evaluation run: config, backtest metrics and table, audit, figures; no model.

    Parameters are those of :func:`log_training_run` (no model, no training data).

    Returns
    -------
    LoggedRun
        Without a model.

    Examples
    --------
    >>> import tempfile
    >>> import riskmodel as rm
    >>> from riskmodel.pipeline import EvaluateConfig
    >>> world = rm.datasets.make_school_system(n_pupils=300, n_years=3, random_state=0)
    >>> cfg = EvaluateConfig(tracking={"tracking_uri": "sqlite:///" + tempfile.mkdtemp() + "/m.db"})
    >>> run = log_evaluation_run(cfg, backtest=None, audit=None, tables=world.tables,
    ...                          train_dates=["2024-10-01"], k=15, fingerprint="abc")
    >>> run.model_uri is None and len(run.run_id) == 32
    True
    """
    with _server_errors(tracking_uri(cfg.tracking.tracking_uri)):
        run, uri = _start(cfg, "evaluate")
        with run:
            _log_common(cfg, backtest=backtest, audit=audit, tables=tables,
                        train_dates=train_dates, k=k, fingerprint=fingerprint)
    return LoggedRun(run_id=run.info.run_id, experiment_id=run.info.experiment_id,
                     tracking_uri=uri, artifact_uri=run.info.artifact_uri)


def set_alias(name: str, alias: str, version: str | int) -> None:
    """Move registry alias ``alias`` of model ``name`` to ``version``.

    Uses the registry :func:`configure` pointed MLflow at.

    Parameters
    ----------
    name : str
        Registered model name.
    alias : str
        E.g. ``"champion"``.
    version : str or int
        An existing version of ``name``.

    Examples
    --------
    >>> import tempfile
    >>> from mlflow import MlflowClient
    >>> _ = configure("sqlite:///" + tempfile.mkdtemp() + "/mlflow.db")
    >>> client = MlflowClient()
    >>> _ = client.create_registered_model("demo")
    >>> _ = client.create_model_version("demo", source=tempfile.mkdtemp())
    >>> set_alias("demo", "champion", 1)
    >>> int(client.get_model_version_by_alias("demo", "champion").version)
    1
    """
    from mlflow import MlflowClient

    MlflowClient().set_registered_model_alias(name, alias, str(version))
    logger.info("Alias %s@%s now points to version %s", name, alias, version)


# ------------------------------------------------------------------ resolving
_LOCAL_MODEL_HINT = ("a model folder (--model path/to/folder, written by `riskmodel train "
                     "--save-model`) is scored without any server")


def _raise_if_unavailable(uri: str, exc: BaseException, hint: str = "") -> None:
    reason = _unavailable_reason(exc) if _is_http(uri) else None
    if reason is not None:
        raise TrackingUnavailableError(uri, reason, hint) from exc


_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))?/?$")


def _load_local(path: Path):
    from .model import RiskModel

    if (path / "MLmodel").is_file():
        folder = path / "artifacts" / "riskmodel"
        if not folder.is_dir():
            raise ConfigError(f"{path} is an MLflow model but not a riskmodel pyfunc "
                              "(no artifacts/riskmodel folder).")
        return RiskModel.load(folder), "mlflow model folder"
    try:
        return RiskModel.load(path), "riskmodel folder"
    except FileNotFoundError:  # a ModelFileError too; this message only if neither file is there
        if (path / "riskmodel.json").exists() or (path / "model.txt").exists():
            raise
        raise ConfigError(
            f"Model folder {str(path)!r} holds neither a saved RiskModel (model.txt and "
            "riskmodel.json) nor an MLflow model (MLmodel). Give a registry URI such as "
            "models:/riskmodel@champion or a folder written by RiskModel.save."
        ) from None


def resolve_model(uri: str, tracking_uri: str | None = None) -> ResolvedModel:
    """Load the RiskModel behind a registry URI, a run URI or a local folder.

    Parameters
    ----------
    uri : str
        ``models:/<name>@<alias>``, ``models:/<name>/<version>``, ``models:/<model_id>``,
        ``runs:/<run_id>/<path>``, or a local folder (saved RiskModel or MLflow model).
    tracking_uri : str or None
        See :func:`tracking_uri`.

    Returns
    -------
    ResolvedModel
        ``info`` holds ``uri``, and for registry URIs ``name``, ``version`` and
        ``run_id``, plus the ``tracking_uri``.

    Raises
    ------
    ConfigError
        When the folder, registered model, version or alias does not exist.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np, pandas as pd
    >>> import riskmodel as rm
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"attendance_rate_28d": rng.random(400)})
    >>> y = pd.Series((rng.random(400) < 0.3).astype(int))
    >>> folder = rm.RiskModel(random_state=0).fit(X, y).save(tempfile.mkdtemp() + "/model")
    >>> resolve_model(str(folder)).info["source"]
    'riskmodel folder'
    """
    if not isinstance(uri, str) or not uri:
        raise ConfigError(f"The model must be a registry URI or a folder. Got {uri!r} instead.")
    if "://" not in uri and not uri.startswith(("models:/", "runs:/")):
        path = Path(uri)
        if not path.exists():
            raise ConfigError(
                f"Model folder {uri!r} does not exist. Give a registry URI such as "
                "models:/riskmodel@champion or the folder of a saved model."
            )
        model, source = _load_local(path)
        return ResolvedModel(model, {"uri": str(path.resolve()), "source": source,
                                     "name": None, "version": None, "run_id": None})
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    turi = configure(tracking_uri)
    client = MlflowClient()
    info: dict[str, Any] = {"uri": uri, "tracking_uri": turi, "name": None, "version": None,
                            "run_id": None, "source": "mlflow"}
    m = _MODELS_URI.match(uri)
    download_uri = uri
    if m and (m.group("alias") or m.group("version")):
        name = m.group("name")
        try:
            if m.group("alias"):
                mv = client.get_model_version_by_alias(name, m.group("alias"))
            else:
                mv = client.get_model_version(name, m.group("version"))
        except MlflowException as exc:
            _raise_if_unavailable(turi, exc, _LOCAL_MODEL_HINT)
            what = (f"alias {m.group('alias')!r}" if m.group("alias")
                    else f"version {m.group('version')}")
            raise ConfigError(
                f"The model registry at {turi} has no registered model {name!r} with {what} "
                f"({exc.message.splitlines()[0] if exc.message else exc}). Train and register "
                "one with `riskmodel train`, check MLFLOW_TRACKING_URI, or pass --model with "
                "an existing version or a model folder."
            ) from None
        info.update(name=name, version=str(mv.version), run_id=mv.run_id)
        download_uri = f"models:/{name}/{mv.version}"
    with tempfile.TemporaryDirectory(prefix="riskmodel-model-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(artifact_uri=download_uri, dst_path=tmp)
        except Exception as exc:
            _raise_if_unavailable(turi, exc, _LOCAL_MODEL_HINT)
            if not isinstance(exc, MlflowException):
                raise
            raise ConfigError(
                f"Cannot load model {uri!r} from {turi}: {exc.message.splitlines()[0]}. Check "
                "the URI and MLFLOW_TRACKING_URI."
            ) from None
        try:
            model, _ = _load_local(Path(local))
        except ModelFileError as exc:  # name the file in the registry, not the temporary copy
            where = str(Path(local))
            raise ModelFileError(
                f"{str(exc).replace(where, download_uri)} (registry at {turi})",
                exc.path and exc.path.replace(where, download_uri)) from None
    return ResolvedModel(model, info)

"""The train and evaluate runs (private; re-exported by :mod:`riskmodel.pipeline`).

Both build the cohorts once (:func:`riskmodel._cohorts.build_cohorts`), run the
temporal backtest against the baselines and the fairness audit at one capacity
(:func:`riskmodel._checks.resolve_capacity`, the same ``k`` in the backtest, the
audit and the model card); training also fits the final model and registers it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ._atomic import atomic_output_dir, check_output_dir, check_writable
from ._checks import parse_as_of, resolve_capacity
from ._cohorts import build_cohorts, default_models
from ._run_config import EvaluateConfig, TrainConfig
from ._run_io import Stages, audit_groups, data_end, load_tables, write_csv, write_manifest
from ._util import jsonable
from .config import load_config
from .errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["TrainResult", "EvaluateResult", "train_run", "evaluate_run"]


@dataclass
class TrainResult:
    """What :func:`train_run` produced.

    ``backtest`` and ``audit`` carry ``test_date`` as datetime64 (midnight);
    ``k`` is the capacity (pupils) of the last test cohort, used by the backtest's
    last rows, the audit and the model card alike.

    Examples
    --------
    >>> import pandas as pd
    >>> TrainResult(model=None, backtest=pd.DataFrame(), audit=None, train_dates=[],
    ...             fingerprint="abc", k=51).k
    51
    """

    model: Any
    backtest: pd.DataFrame
    audit: pd.DataFrame | None
    train_dates: list[pd.Timestamp]
    fingerprint: str
    run_id: str | None = None
    model_uri: str | None = None
    model_version: str | None = None
    artifact_uri: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    k: int | None = None
    benefit: Any = None


EvaluateResult = TrainResult


def _default_dates(tables) -> list[pd.Timestamp]:
    years = sorted(int(y) for y in pd.unique(tables.enrolments["school_year"]))
    return [pd.Timestamp(year=y, month=10, day=1) for y in years]


def _train_dates(cfg, tables) -> list[pd.Timestamp]:
    """The candidate dates whose outcome horizon lies entirely within the recorded data."""
    candidates = [parse_as_of(d) for d in (cfg.as_of_dates or _default_dates(tables))]
    first = pd.to_datetime(tables.enrolments["start_date"], errors="coerce").min()
    early = [d for d in candidates if pd.notna(first) and d <= first.normalize()]
    if early and cfg.as_of_dates:
        raise ConfigError(
            f"The as_of_dates {[str(d.date()) for d in early]} are on or before the first "
            f"enrolment in the data ({first.date()}): no pupil is known then. Give "
            f"'as_of_dates' after {first.date()}."
        )
    candidates = [d for d in candidates if d not in early]  # default dates: data start later
    end = data_end(tables)
    horizon = pd.Timedelta(days=cfg.horizon_days)
    dates = sorted({d for d in candidates if d + horizon <= end})
    if len(dates) < 2:
        raise ConfigError(
            f"Training needs at least two as_of dates whose {cfg.horizon_days}-day horizon "
            f"lies within the data (which end on {end.date()}); got "
            f"{[str(d.date()) for d in candidates]}. Give earlier 'as_of_dates', more "
            "years of data, or a shorter 'horizon_days'."
        )
    return dates


#: Rows of each class (leavers, stayers) that every fit needs (RiskModel's early
#: stopping and calibration hold rows out).
MIN_CLASS_ROWS = 2


def _check_labels(cfg, cohorts, dates) -> None:
    """ConfigError when the first backtest fit (the fewest cohorts) lacks either class.

    The backtest fits on the cohorts whose horizon ended by each test date; the
    first such set is the smallest. Too few leavers is a matter of the data and the
    options, so the message names both, not RiskModel's internals.
    """
    horizon = pd.Timedelta(days=cfg.horizon_days)
    first = next((train for t in dates if (train := [s for s in dates if s + horizon <= t])),
                 dates)  # no backtest fit at all: the final fit on every cohort
    y = pd.concat([cohorts[d][1] for d in first])
    n_pos, n = int((y == 1).sum()), len(y)
    if min(n_pos, n - n_pos) < MIN_CLASS_ROWS:
        raise ConfigError(
            f"Too few outcomes to train: the first training cohort(s) "
            f"{[str(d.date()) for d in first]} hold {n_pos} leaver(s) among {n} pupils within "
            f"the {cfg.horizon_days}-day horizon; each class needs at least {MIN_CLASS_ROWS}. "
            "Give more data (pupils or years), a longer 'horizon_days' or other 'as_of_dates'."
        )


def _models(cfg) -> dict:
    try:
        return default_models(cfg.random_state, baselines=cfg.baselines,
                              model_params=cfg.model_params)
    except TypeError as exc:
        raise ConfigError(f"Invalid model_params {cfg.model_params}: {exc}") from None


def _capacity_kw(cfg) -> dict:
    """The capacity of the config, as :func:`~riskmodel._checks.resolve_capacity` takes it."""
    if cfg.top_k is not None:
        return {"top_k": cfg.top_k}
    return {"top_fraction": cfg.top_fraction}


def _audit(cfg, tables, preds, k):
    """Fairness audit of the riskmodel's ranking on the last test cohort, at ``k`` pupils."""
    from .fairness import audit

    last = preds["test_date"].max()
    test = preds[(preds["model"] == "riskmodel") & (preds["test_date"] == last)]
    index = pd.Index(test["pupil_id"].to_numpy(), name="pupil_id")
    y_true = pd.Series(test["y_true"].to_numpy(), index=index)
    groups = audit_groups(tables, last, index, cfg.audit.attributes)
    table = audit(y_true, pd.Series(test["y_prob"].to_numpy(), index=index), groups, top_k=k,
                  n_boot=cfg.audit.n_boot, min_cell=cfg.audit.min_cell,
                  random_state=cfg.random_state)
    table.insert(0, "test_date", pd.Timestamp(last))
    return table


def _fit_all(cfg: TrainConfig, tables, stages, *, final_model: bool):
    """Load, build the cohorts, backtest, audit and (``final_model``) fit on every cohort.

    Returns the run's result (without tracking), the tables and the final
    model's training rows ``X``, ``y`` (None without a final model).
    """
    from .splits import backtest

    with stages("load data"):
        if tables is None:
            tables, _ = load_tables(cfg.data, synthetic=cfg.synthetic, codes=cfg.codes, read=cfg.read)
        fingerprint, dates = tables.fingerprint(), _train_dates(cfg, tables)
    with stages("features"):
        cohorts = build_cohorts(tables, dates, cfg.horizon_days)
    _check_labels(cfg, cohorts, dates)
    k = resolve_capacity(len(cohorts[dates[-1]][1]), **_capacity_kw(cfg), func="train_run")
    with stages("backtest"):
        bt, preds = backtest(cohorts, dates, horizon_days=cfg.horizon_days, models=_models(cfg),
                             n_boot=cfg.n_boot, return_predictions=True,
                             random_state=cfg.random_state, **_capacity_kw(cfg))
    audit_table = None
    if cfg.audit.enabled:
        with stages("audit"):
            audit_table = _audit(cfg, tables, preds, k)
    model, X, y = None, None, None
    if final_model:
        with stages("final model"):
            X = pd.concat([cohorts[d][0] for d in dates], keys=dates, names=["as_of"])
            y = pd.concat([cohorts[d][1] for d in dates], keys=dates, names=["as_of"])
            model = _models(cfg)["riskmodel"].fit(X.droplevel("as_of"), y.droplevel("as_of"))
            from ._run_monitor import thresholds_from_cohorts  # issue 19: stored with the model

            model.monitor_thresholds_ = thresholds_from_cohorts(
                [cohorts[d][0] for d in dates], model, random_state=cfg.random_state,
                dates=dates)
    result = TrainResult(model=model, backtest=bt, audit=audit_table, train_dates=dates,
                         fingerprint=fingerprint, k=k)
    return result, tables, X, y


def train_run(config: TrainConfig | dict | str | os.PathLike | None = None, *, tables=None,
              progress: bool = False, synthetic: bool | None = None) -> TrainResult:
    """Train, backtest, audit and (by default) log and register a model.

    Parameters
    ----------
    config : TrainConfig, mapping, YAML path or None
    tables : SchoolTables, optional
        Use these tables instead of ``config.data``.
    progress : bool
        Show a progress bar over the stages.
    synthetic : bool or None
        Whether the data are the synthetic school system (the model card says
        so); None: True when neither ``tables`` nor ``config.data`` is given.

    Returns
    -------
    TrainResult

    Examples
    --------
    A full run takes tens of seconds (see ``tests/test_pipeline.py``); its config:

    >>> from riskmodel.pipeline import TrainConfig
    >>> cfg = TrainConfig(synthetic={"n_pupils": 3000}, tracking={"enabled": False})
    >>> cfg.top_fraction, cfg.n_boot, cfg.baselines
    (0.05, 1000, ['rule', 'school', 'logistic'])
    """
    cfg = load_config(TrainConfig, config)
    if synthetic is None:
        synthetic = tables is None and cfg.data is None
    if cfg.save_model is not None:  # an unwritable folder too
        check_writable(cfg.save_model, "--save-model")
    if cfg.tracking.enabled:  # a dead server is reported before any work, not after it
        from . import tracking

        tracking.check_server(cfg.tracking.tracking_uri,
                              hint="or train without tracking: --set tracking.enabled=false")
    stages = Stages(["load data", "features", "backtest", "audit", "final model", "benefit",
                     "tracking"], progress, desc="train")
    try:
        result, tables, X, y = _fit_all(cfg, tables, stages, final_model=True)
        if cfg.save_model is not None:
            result.model.save(cfg.save_model)
        if cfg.benefit.enabled:
            from ._run_benefit import train_hook

            with stages("benefit"):
                train_hook(cfg, tables, result)
        if cfg.tracking.enabled:
            with stages("tracking"):
                from . import tracking

                logged = tracking.log_training_run(
                    cfg, model=result.model, X=X, y=y, backtest=result.backtest,
                    audit=result.audit, tables=tables, train_dates=result.train_dates,
                    k=result.k, fingerprint=result.fingerprint,
                    register=cfg.tracking.register_model, synthetic=synthetic,
                    benefit=getattr(result, "benefit", None),
                )
                result.run_id = logged.run_id
                result.model_uri = logged.model_uri
                result.model_version = logged.model_version
                result.artifact_uri = logged.artifact_uri
                from ._run_benefit import log_benefit

                log_benefit(result)
        result.timings = dict(stages.timings)
        return result
    finally:
        stages.close()


def evaluate_run(config: EvaluateConfig | dict | str | os.PathLike | None = None, *,
                 tables=None, progress: bool = False) -> EvaluateResult:
    """Temporal backtest against the baselines and the fairness audit, without a model.

    The tables are logged to an MLflow run (unless ``tracking.enabled`` is false)
    and written as CSV into ``out`` when given (atomically; ``out`` must be absent,
    empty or an earlier riskmodel output).

    Examples
    --------
    >>> from riskmodel.pipeline import EvaluateConfig
    >>> EvaluateConfig(out="out/eval", baselines=["rule"]).tracking.enabled
    True
    """
    cfg = load_config(EvaluateConfig, config)
    if cfg.out is not None:
        check_output_dir(cfg.out)  # before any work: a foreign folder fails at once
    if cfg.tracking.enabled:
        from . import tracking

        tracking.check_server(cfg.tracking.tracking_uri,
                              hint="or evaluate without tracking: --no-tracking")
    stages = Stages(["load data", "features", "backtest", "audit", "tracking", "write"],
                    progress, desc="evaluate")
    try:
        result, tables, _, _ = _fit_all(cfg, tables, stages, final_model=False)
        bt, audit_table, dates, k = result.backtest, result.audit, result.train_dates, result.k
        if cfg.tracking.enabled:
            with stages("tracking"):
                from . import tracking

                logged = tracking.log_evaluation_run(
                    cfg, backtest=bt, audit=audit_table, tables=tables, train_dates=dates, k=k,
                    fingerprint=result.fingerprint,
                )
                result.run_id = logged.run_id
                result.artifact_uri = logged.artifact_uri
        if cfg.out is not None:
            with stages("write"), atomic_output_dir(cfg.out) as tmp:
                write_csv(bt, tmp / "backtest.csv")
                if audit_table is not None:
                    write_csv(audit_table, tmp / "audit.csv")
                write_manifest(tmp, {"kind": "evaluate", "data_fingerprint": result.fingerprint,
                                     "as_of_dates": [str(d.date()) for d in dates],
                                     "horizon_days": cfg.horizon_days, "k": k,
                                     "config": jsonable(cfg.model_dump(mode="json"))})
        result.timings = dict(stages.timings)
        return result
    finally:
        stages.close()

"""The benefit model in the runs (private): fit and register it in ``train``, use it in
``score --objective benefit`` and ``allocate --objective benefit``.

Training (``benefit.enabled``, ``riskmodel train --benefit``): a
:class:`~riskmodel.BenefitModel` is fitted on monthly decision dates (the 1st of
October to April of every school year whose outcome horizon lies in the data).
With ``benefit.evaluate`` and at least two school years, the model is fitted on
the earlier years and evaluated (:func:`riskmodel.benefit.evaluate`, RATE with
school-clustered intervals) on the last one; the evaluated model is the one
kept, and its *evidence* (per kind: why it must fall back to ``"fit"``, see
:func:`riskmodel.allocation.weak_arms`) is saved beside it as
``evidence.json``. The folder (``benefit.json`` + LightGBM texts, no pickle) is
saved into ``<save_model>/benefit`` (or ``benefit.save_model``) and logged to the
training run's MLflow artifacts under ``benefit_model/``.

Scoring: the model is ``benefit.model`` (a folder), else the ``benefit`` folder
inside a local risk-model folder, else the ``benefit_model`` artifacts of the
registered risk model's run. Missing or broken: :class:`~riskmodel.ModelFileError`
(the command line exits 2).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
import warnings
from pathlib import Path

import pandas as pd
from pydantic import Field

from .config import StrictModel
from .errors import ModelFileError

logger = logging.getLogger(__name__)

EVIDENCE_FILE = "evidence.json"
ARTIFACT_PATH = "benefit_model"
#: months of the decision dates (1st of the month) in each school year
MONTHS = (10, 11, 12, 1, 2, 3, 4)


class BenefitTrainConfig(StrictModel):
    """``benefit:`` of the train config.

    Parameters
    ----------
    enabled : bool, default False
        Fit and register the benefit model beside the risk model.
    as_of_dates : list of dates or None
        Decision dates; None: the 1st of October to April of each school year
        whose horizon lies within the data.
    evaluate : bool, default True
        Hold the last school year out, evaluate on it, keep the evaluated model.
    n_boot : int, default 200
        Bootstrap replicates of the evaluation.
    params : dict
        :class:`~riskmodel.BenefitModel` parameters (e.g. ``n_estimators``).
    save_model : path or None
        Where to save the model (default: ``<save_model>/benefit``).

    Examples
    --------
    >>> BenefitTrainConfig(enabled=True, params={"n_folds": 3}).params
    {'n_folds': 3}
    """

    enabled: bool = False
    as_of_dates: list[dt.date] | None = None
    evaluate: bool = True
    n_boot: int = Field(default=200, ge=10)
    params: dict = Field(default_factory=dict)
    save_model: Path | None = None


class BenefitUseConfig(StrictModel):
    """``benefit:`` of the score and allocate configs (used with ``objective: benefit``).

    Parameters
    ----------
    model : path or None
        A saved BenefitModel folder; None: beside the risk model (see the module).
    alpha : float, default 0.1
        Interval level of the ``benefit_<kind>_se`` columns.
    quantile : float or None
        ``benefit_quantile`` of :func:`riskmodel.allocate` (e.g. 0.05: the lower
        end of the 90 % interval); None: the point estimate.
    risk_floor : float or None
        ``risk_floor`` of :func:`riskmodel.allocate`.

    Examples
    --------
    >>> BenefitUseConfig(quantile=0.05).quantile
    0.05
    """

    model: Path | None = None
    alpha: float = Field(default=0.1, gt=0, lt=1)
    quantile: float | None = Field(default=None, gt=0, lt=1)
    risk_floor: float | None = Field(default=None, ge=0, le=1)


# ------------------------------------------------------------------ training
def benefit_dates(tables, horizon_days: int, given=None) -> list[pd.Timestamp]:
    """Monthly decision dates whose horizon lies within the data (or the given ones)."""
    from ._run_io import data_end

    if given:
        return sorted(pd.Timestamp(d) for d in given)
    end = data_end(tables)
    first = pd.to_datetime(tables.enrolments["start_date"], errors="coerce").min()
    years = sorted(int(y) for y in pd.unique(tables.enrolments["school_year"]))
    out = []
    for y in years:
        for m in MONTHS:
            d = pd.Timestamp(year=y if m >= 9 else y + 1, month=m, day=1)
            if d > first and d + pd.Timedelta(days=horizon_days) <= end:
                out.append(d)
    return out


def _school_year(d: pd.Timestamp) -> int:
    return d.year if d.month >= 9 else d.year - 1


def fit_benefit(cfg, tables, risk=None) -> dict:
    """Fit (and evaluate) the benefit model of a train run.

    ``risk``: the run's risk model. The evaluation then also ranks by it, and
    the evidence gate (:func:`riskmodel.allocation.weak_arms`) requires the
    benefit ranking to beat it. The run's final risk model has seen the
    evaluation year's outcomes, which favours the risk ranking: conservative
    for the gate.

    Returns ``{"model", "evidence", "dates", "eval_dates", "rate"}``.
    """
    from .allocation import weak_arms
    from .benefit import BenefitModel, evaluate
    from .errors import ConfigError

    bc = cfg.benefit
    dates = benefit_dates(tables, cfg.horizon_days, bc.as_of_dates)
    years = sorted({_school_year(d) for d in dates})
    fit_dates, eval_dates = dates, []
    if bc.evaluate and len(years) >= 2:
        fit_dates = [d for d in dates if _school_year(d) < years[-1]]
        eval_dates = [d for d in dates if _school_year(d) == years[-1]]
    if not fit_dates:
        raise ConfigError("The benefit model needs decision dates whose "
                          f"{cfg.horizon_days}-day horizon lies within the data; there are none. "
                          "Give benefit.as_of_dates, more data or a shorter horizon_days.")
    params = {"horizon_days": cfg.horizon_days, "random_state": cfg.random_state,
              **bc.params}
    try:
        model = BenefitModel(**params)
    except TypeError as exc:
        raise ConfigError(f"Invalid benefit.params {bc.params}: {exc}") from None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(tables, [str(d.date()) for d in fit_dates])
        evaluation = None
        if eval_dates:
            evaluation = evaluate(model, tables, [str(d.date()) for d in eval_dates],
                                  risk=risk, n_boot=bc.n_boot, random_state=cfg.random_state)
    for w in caught:  # overlap failures: recorded in the evidence, not raised mid-run
        logger.warning("%s", w.message)
    evidence = weak_arms(model, evaluation)
    rate = [] if evaluation is None else evaluation.table.to_dict(orient="records")
    return {"model": model, "evidence": evidence, "rate": rate,
            "dates": [str(d.date()) for d in fit_dates],
            "eval_dates": [str(d.date()) for d in eval_dates]}


def save_benefit(fitted: dict, folder: Path) -> Path:
    """Save the model and its ``evidence.json`` into ``folder``."""
    from ._util import jsonable

    folder = Path(fitted["model"].save(folder))
    (folder / EVIDENCE_FILE).write_text(json.dumps(jsonable({
        "weak_arms": fitted["evidence"], "fit_dates": fitted["dates"],
        "eval_dates": fitted["eval_dates"], "rate": fitted["rate"]}), indent=1,
        ensure_ascii=False), encoding="utf-8")
    return folder


def train_hook(cfg, tables, result) -> None:
    """The train run's benefit step: fit, save, and log to the run (when tracked)."""
    if not cfg.benefit.enabled:
        return
    fitted = fit_benefit(cfg, tables, risk=getattr(result, "model", None))
    result.benefit = fitted
    folder = cfg.benefit.save_model or (Path(cfg.save_model) / "benefit"
                                        if cfg.save_model is not None else None)
    if folder is not None:
        save_benefit(fitted, folder)
        fitted["folder"] = str(folder)
    logger.info("benefit model: arms %s; weak: %s",
                {k: v.get("estimated") for k, v in fitted["model"].arms_.items()},
                fitted["evidence"])


def log_benefit(result) -> None:
    """Log the fitted benefit model into the (finished) MLflow run of ``result``."""
    fitted = getattr(result, "benefit", None)
    if fitted is None or result.run_id is None:
        return
    from mlflow import MlflowClient

    client = MlflowClient()
    with tempfile.TemporaryDirectory(prefix="riskmodel-benefit-") as tmp:
        save_benefit(fitted, Path(tmp) / "benefit")
        client.log_artifacts(result.run_id, str(Path(tmp) / "benefit"), ARTIFACT_PATH)
    for k, info in fitted["model"].arms_.items():
        client.log_metric(result.run_id, f"benefit.{k}.estimated", float(bool(info["estimated"])))
        if info.get("ate_benefit") is not None:
            client.log_metric(result.run_id, f"benefit.{k}.ate", float(info["ate_benefit"]))
    for row in fitted["rate"]:
        for key in ("estimate", "low", "high", "p_value"):
            if key in row:
                client.log_metric(result.run_id,
                                  f"benefit.{row['kind']}.rate_{row['rule']}_{row['metric']}_{key}"
                                  .replace("-", "_minus_"), float(row[key]))
    for k in fitted["model"].kinds_:  # the gate's verdict, per arm
        why = fitted["evidence"].get(k)
        client.log_metric(result.run_id, f"benefit.{k}.allocated_by_benefit", float(why is None))
        client.set_tag(result.run_id, f"benefit.{k}.allocated_by",
                       "benefit" if why is None else f"fit: {why}"[:5000])


# ------------------------------------------------------------------- scoring
def _load(folder: Path, where: str):
    from .benefit import BenefitModel

    model = BenefitModel.load(folder)  # ModelFileError when missing or broken
    evidence = {}
    file = folder / EVIDENCE_FILE
    if file.is_file():
        try:
            evidence = json.loads(file.read_text(encoding="utf-8"))["weak_arms"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise ModelFileError(f"{file} is not a benefit evidence file (unreadable or no "
                                 "'weak_arms'). Train the benefit model again.",
                                 str(file)) from None
    return model, evidence, {"source": where, "path": str(folder)}


def load_benefit(use: BenefitUseConfig, model_info: dict | None):
    """(BenefitModel, evidence {kind: reason}, info) for a score or allocate run."""
    if use.model is not None:
        return _load(Path(use.model), "benefit.model")
    info = model_info or {}
    if info.get("source") == "riskmodel folder" and info.get("uri"):
        folder = Path(info["uri"]) / "benefit"
        if not (folder / "benefit.json").is_file():
            raise ModelFileError(
                f"No benefit model beside the risk model: {folder / 'benefit.json'} is missing. "
                "Train with `riskmodel train --benefit --save-model DIR`, or give "
                "--set benefit.model=FOLDER.", str(folder / "benefit.json"))
        return _load(folder, "risk model folder")
    if info.get("run_id"):
        import mlflow

        from . import tracking

        tracking.configure(info.get("tracking_uri"))
        uri = f"runs:/{info['run_id']}/{ARTIFACT_PATH}"
        with tempfile.TemporaryDirectory(prefix="riskmodel-benefit-") as tmp:
            try:
                local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp)
            except Exception as exc:  # noqa: BLE001 - any failure means: no usable model
                raise ModelFileError(
                    f"The risk model's run has no benefit model at {uri} ({type(exc).__name__}). "
                    "Train with `riskmodel train --benefit`, or give --set "
                    "benefit.model=FOLDER.", uri) from None
            model, evidence, _ = _load(Path(local), uri)
        return model, evidence, {"source": "mlflow run", "path": uri}
    raise ModelFileError("objective 'benefit' needs a benefit model: give --set "
                         "benefit.model=FOLDER (a saved BenefitModel), or use a risk model "
                         "trained with `riskmodel train --benefit`.", "benefit.model")


def benefit_inputs(use: BenefitUseConfig, model_info, X: pd.DataFrame, pupils: pd.DataFrame):
    """Pupils with ``benefit_<kind>`` (and ``_se``) columns, allocate's options, manifest info."""
    from .allocation import benefit_columns
    from .allocation._rules import KINDS

    model, evidence, info = load_benefit(use, model_info)
    cols = benefit_columns(model, X.reindex(pupils.index), alpha=use.alpha)
    fallback = {k: str(v) for k, v in evidence.items()}
    for kind in KINDS:  # kinds the model does not estimate are allocated by fit
        if f"benefit_{kind}" not in cols.columns and kind not in fallback:
            fallback[kind] = "no benefit model for this kind"
    options = {"benefit_quantile": use.quantile, "risk_floor": use.risk_floor,
               "fallback": fallback}
    info = {**info, "kinds": list(model.kinds_), "alpha": use.alpha}
    return pupils.join(cols), options, info


def allocation_manifest(allocation, benefit_info: dict | None) -> dict:
    """The manifest's ``allocation`` entry: objective, basis and fallback per kind."""
    out = {"objective": allocation.objective, "basis": allocation.basis,
           "fallback": allocation.fallback, "exploration": allocation.exploration,
           "objective_value": allocation.objective_value}
    if allocation.leavings_prevented == allocation.leavings_prevented:  # not NaN
        out["leavings_prevented"] = allocation.leavings_prevented
    if allocation.floor_price is not None:
        out["risk_floor"] = allocation.risk_floor
        out["floor_price"] = allocation.floor_price
    if benefit_info is not None:
        out["benefit_model"] = benefit_info
    return out


def run_options(cfg, model_info, X, pupils):
    """(pupils, allocate options, benefit manifest info) of a score or allocate run."""
    options, info = {}, None
    if cfg.objective == "benefit":
        pupils, options, info = benefit_inputs(cfg.benefit, model_info, X, pupils)
    if cfg.exploration > 0:
        options.update(exploration=cfg.exploration, random_state=cfg.exploration_seed)
    return pupils, options, info


def upstream_inputs(cfg, scores_path: Path):
    """(features, risk model info) of the score run beside ``scores_path`` (allocate run
    with ``objective: benefit``; (None, None) otherwise)."""
    from ._atomic import MANIFEST
    from .errors import ConfigError

    if cfg.objective != "benefit":
        return None, None
    feats = scores_path.parent / "features.parquet"
    if not feats.is_file():
        raise ConfigError(f"objective 'benefit' needs the features of the score run: "
                          f"{feats} is missing. Allocate from a full score run's folder.")
    X = pd.read_parquet(feats)
    manifest = scores_path.parent / MANIFEST
    info = json.loads(manifest.read_text()).get("model") if manifest.is_file() else None
    return X, info

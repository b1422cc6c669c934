"""Train, score, evaluate and allocate runs, end to end.

These functions are what ``riskmodel train|score|evaluate|allocate|demo`` run,
and what a notebook calls to do the same thing in one line. Each takes a
pydantic config (a :class:`~riskmodel.config.StrictModel`, so a misspelt key
fails loudly), a mapping or a YAML path:

- :func:`train_run` — features, temporal backtest against the baselines,
  fairness audit at capacity, the final model, and an MLflow run with the model
  registered as ``riskmodel`` (alias ``champion`` moved when asked).
- :func:`score_run` — validate a data folder, build features, score, explain,
  allocate, and write ``features.parquet``, ``scores.parquet``,
  ``explanations.parquet``, ``allocation.parquet``, ``waitlist.parquet``,
  ``report.html`` and ``manifest.json`` into ``out`` atomically.
- :func:`evaluate_run` — backtest and audit only (no model registered).
- :func:`allocate_run` — allocate support from an existing ``scores.parquet``.

Output folders appear atomically: everything is written into a temporary
folder beside ``out`` (named ``.<out>.riskmodel-tmp-<pid>-<random>``) and renamed
into place at the end; a run that fails or is stopped leaves no partial
output, and a rerun with the same inputs writes byte-identical files.

Examples
--------
>>> from riskmodel.pipeline import ScoreConfig, score_run
>>> result = score_run(ScoreConfig(data="data/2025", as_of="2025-10-01",
...                                model="models:/riskmodel@champion",
...                                out="out/2025-10-01"))  # doctest: +SKIP
>>> result.paths["scores"]  # doctest: +SKIP
PosixPath('out/2025-10-01/scores.parquet')
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from .config import StrictModel, load_config
from ._atomic import MANIFEST, TMP_MARKER, atomic_output_dir
from .errors import ConfigError, DataValidationError
from .vocab import AUDIT_ATTRIBUTES, DOMAINS

__all__ = [
    "SyntheticConfig",
    "TrackingConfig",
    "AuditConfig",
    "ResourcesConfig",
    "TierConfig",
    "TrainConfig",
    "ScoreConfig",
    "EvaluateConfig",
    "AllocateConfig",
    "DemoConfig",
    "DemoResult",
    "TrainResult",
    "ScoreResult",
    "EvaluateResult",
    "AllocateResult",
    "train_run",
    "score_run",
    "evaluate_run",
    "allocate_run",
    "demo_run",
    "load_tables",
    "atomic_output_dir",
    "TMP_MARKER",
    "MANIFEST",
]

logger = logging.getLogger(__name__)

SCORE_FILES = (
    "features.parquet",
    "scores.parquet",
    "explanations.parquet",
    "allocation.parquet",
    "waitlist.parquet",
    "report.html",
)


# ----------------------------------------------------------------------- configs
class SyntheticConfig(StrictModel):
    """Size of the synthetic school system used when no data folder is given."""

    n_pupils: int = Field(default=20_000, gt=0)
    n_years: int = Field(default=3, ge=2)
    seed: int = 0


class TrackingConfig(StrictModel):
    """Where and how a run is recorded in MLflow.

    ``tracking_uri`` None means ``MLFLOW_TRACKING_URI`` when set, else
    ``sqlite:///mlflow.db`` in the working directory.
    """

    enabled: bool = True
    tracking_uri: str | None = None
    experiment: str = "riskmodel"
    registered_model_name: str = "riskmodel"
    register_model: bool = True
    alias: str | None = "champion"
    set_alias: bool = True
    run_name: str | None = None

    @field_validator("alias")
    @classmethod
    def _check_alias(cls, value):
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", value):
            raise ValueError(f"alias must be a simple name such as 'champion', got {value!r}")
        return value


class AuditConfig(StrictModel):
    """Fairness audit at capacity (see :func:`riskmodel.fairness.audit`)."""

    enabled: bool = True
    attributes: list[str] = Field(
        default_factory=lambda: [*AUDIT_ATTRIBUTES, "municipality_id", "urban"]
    )
    n_boot: int = Field(default=200, ge=0)
    min_cell: int = Field(default=10, ge=10)


class ResourcesConfig(StrictModel):
    """Synthetic resources for the allocation (see ``allocation.make_resources``)."""

    n_mentors: int = Field(default=117, ge=0)
    seed: int = 0
    options: dict[str, Any] = Field(default_factory=dict)


class TierConfig(StrictModel):
    """Risk tiers by national rank: the top ``high_fraction`` are "high", the next
    pupils up to ``elevated_fraction`` are "elevated", the rest "low"."""

    high_fraction: float = Field(default=0.05, gt=0, lt=1)
    elevated_fraction: float = Field(default=0.15, gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self):
        if self.elevated_fraction < self.high_fraction:
            raise ValueError("elevated_fraction must be >= high_fraction")
        return self


class _DataMixin(StrictModel):
    data: Path | None = None
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)
    codes: Path | None = None


class TrainConfig(_DataMixin):
    """Configuration of :func:`train_run` (``configs/train.yaml``).

    Parameters
    ----------
    data : path or None
        Folder of Parquet/CSV tables; None builds the synthetic system ``synthetic``.
    as_of_dates : list of date or None
        Training dates; only those whose horizon is fully observed are used.
        None: 1 October of every school year in the data.
    horizon_days : int
    top_k, top_fraction : capacity for metrics at k (``top_k`` wins when set).
    random_state : int
        Seed of the model (and of the backtest's bootstrap).
    model_params : dict
        Other keyword arguments of :class:`riskmodel.RiskModel`.
    baselines : list of {"rule", "school", "logistic"}
    """

    as_of_dates: list[dt.date] | None = None
    horizon_days: int = Field(default=365, gt=0)
    top_k: int | None = Field(default=None, gt=0)
    top_fraction: float = Field(default=0.05, gt=0, le=1)
    random_state: int = 0
    model_params: dict[str, Any] = Field(default_factory=dict)
    baselines: list[Literal["rule", "school", "logistic"]] = Field(
        default_factory=lambda: ["rule", "school", "logistic"]
    )
    n_boot: int = Field(default=200, ge=0)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    save_model: Path | None = None


class EvaluateConfig(TrainConfig):
    """Configuration of :func:`evaluate_run`: like training, but nothing is registered;
    the backtest and audit tables are also written into ``out`` when given."""

    out: Path | None = None


class _ScoreDataMixin(StrictModel):
    data: Path | None = None
    codes: Path | None = None


class ScoreConfig(_ScoreDataMixin):
    """Configuration of :func:`score_run` (``configs/score.yaml``).

    Parameters
    ----------
    data : path
        Folder of tables to score (required unless tables are passed to score_run).
    as_of : date or None
        Scoring date; None = the day after the last recorded event.
    model : str
        ``models:/riskmodel@champion``, ``models:/riskmodel/3``, ``runs:/<id>/model``
        or a local folder (a saved RiskModel or an MLflow model).
    out : path
        Output folder (written atomically).
    rules : path or None
        Programme rules YAML (:class:`riskmodel.ProgrammeRules`); None = defaults.
    objective : {"fit", "risk"}
    """

    as_of: dt.date | None = None
    model: str = "models:/riskmodel@champion"
    out: Path = Path("out/score")
    allocate: bool = True
    rules: Path | None = None
    objective: Literal["fit", "risk"] = "fit"
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    tiers: TierConfig = Field(default_factory=TierConfig)
    reasons_k: int = Field(default=3, ge=1, le=10)
    tracking_uri: str | None = None


class AllocateConfig(_ScoreDataMixin):
    """Configuration of :func:`allocate_run`: allocation from an existing ``scores.parquet``."""

    scores: Path
    as_of: dt.date | None = None
    out: Path = Path("out/allocate")
    rules: Path | None = None
    objective: Literal["fit", "risk"] = "fit"
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)


class DemoConfig(StrictModel):
    """Configuration of ``riskmodel demo`` (``configs/demo.yaml``)."""

    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)
    out: Path = Path("out/demo")
    train: dict[str, Any] = Field(default_factory=dict)
    score: dict[str, Any] = Field(default_factory=dict)


# ----------------------------------------------------------------------- results
@dataclass
class TrainResult:
    """What :func:`train_run` produced."""

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


EvaluateResult = TrainResult


@dataclass
class ScoreResult:
    """What :func:`score_run` wrote: folder, file paths, manifest and timings."""

    out: Path
    paths: dict[str, Path]
    manifest: dict
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class AllocateResult:
    out: Path
    paths: dict[str, Path]
    timings: dict[str, float] = field(default_factory=dict)


# ----------------------------------------------------------------- small helpers
class _Stages:
    """Times named stages; shows a tqdm bar over the stages when ``progress``."""

    def __init__(self, names: list[str], progress: bool = False, desc: str = "riskmodel"):
        self.names = names
        self.timings: dict[str, float] = {}
        self._bar = None
        if progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=len(names), desc=desc, unit="step", leave=False)

    @contextlib.contextmanager
    def __call__(self, name: str):
        if self._bar is not None:
            self._bar.set_postfix_str(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start
            if self._bar is not None:
                self._bar.update(1)
        logger.info("%s: %.2f s", name, self.timings[name])

    def close(self):
        if self._bar is not None:
            self._bar.close()


def _ts(value) -> pd.Timestamp:
    return pd.Timestamp(value).normalize()


def load_tables(data: str | os.PathLike | None = None, *, synthetic: SyntheticConfig | None = None,
                codes=None):
    """Tables from a data folder, or the synthetic system when ``data`` is None.

    Returns
    -------
    tables : SchoolTables
    as_of_dates : list of Timestamp or None
        The synthetic system's dates (None for a data folder).

    Raises
    ------
    DataValidationError
        When the folder is missing, lacks a required table or breaks the contract.
    """
    from .schema import read_tables

    if data is not None:
        return read_tables(data, codes=codes), None
    from .datasets import make_school_system

    syn = synthetic or SyntheticConfig()
    world = make_school_system(n_pupils=syn.n_pupils, n_years=syn.n_years, seed=syn.seed)
    return world.tables, [_ts(d) for d in world.as_of_dates]


def _data_end(tables) -> pd.Timestamp:
    """Last date anything was recorded (exclusive bound of what is known)."""
    summary = tables.summary()
    # records of what happened (not birth dates, nor planned ends of support)
    events = summary["table"].isin(["enrolments", "attendance", "grades", "engagement"])
    last = pd.to_datetime(summary.loc[events, "last_date"]).max()
    if pd.isna(last):
        raise ConfigError("The data hold no dated records; cannot choose an as_of date.")
    return _ts(last)


def _default_dates(tables) -> list[pd.Timestamp]:
    years = sorted(int(y) for y in pd.unique(tables.enrolments["school_year"]))
    return [pd.Timestamp(year=y, month=10, day=1) for y in years]


def _labelled_dates(tables, dates, horizon_days: int) -> list[pd.Timestamp]:
    """The dates whose outcome horizon lies entirely within the recorded data."""
    end = _data_end(tables)
    return sorted({_ts(d) for d in dates if _ts(d) + pd.Timedelta(days=horizon_days) <= end})


def _capacity(cfg, n: int) -> int:
    if cfg.top_k is not None:
        return int(min(cfg.top_k, n))
    return max(1, int(round(cfg.top_fraction * n)))


def _make_model(params: dict, random_state: int = 0):
    from .model import RiskModel

    try:
        return RiskModel(**{"random_state": random_state, **params})
    except TypeError as exc:
        raise ConfigError(f"Invalid model_params {params}: {exc}") from None


def _baselines(names) -> dict:
    from . import model as M

    table = {"rule": M.RuleBaseline, "school": M.SchoolBaseline, "logistic": M.LogisticBaseline}
    return {name: table[name]() for name in names}


def _cohorts(tables, dates, horizon_days):
    """``{as_of: (X, y)}``: features and labels of the pupils of each cohort, aligned."""
    from .features import build_feature_panel
    from .labels import make_labels

    panel = build_feature_panel(tables, list(dates))
    cohorts = {}
    for d in dates:
        X = panel.xs(d, level="as_of")
        y = make_labels(tables, d, horizon_days=horizon_days)
        common = X.index.intersection(y.index)
        X, y = X.loc[common], y.loc[common]
        keep = y.notna().to_numpy()
        if not keep.all():
            logger.info("Cohort %s: %d pupils without a known outcome left out", d.date(),
                        int((~keep).sum()))
            X, y = X[keep], y[keep]
        cohorts[d] = (X, y.astype("int8"))
    return cohorts


def _audit_groups(tables, as_of, index, attributes):
    from .features import pupil_frame

    frame = pupil_frame(tables, as_of)
    if "urban" in attributes and "urban" not in frame.columns and tables.schools is not None \
            and "urban" in tables.schools.columns and "school_id" in frame.columns:
        urban = tables.schools.drop_duplicates("school_id").set_index("school_id")["urban"]
        frame = frame.assign(urban=frame["school_id"].astype("str").map(
            urban.set_axis(urban.index.astype("str"))))
    cols = [a for a in attributes if a in frame.columns]
    missing = sorted(set(attributes) - set(cols))
    if missing:
        logger.info("Audit attributes not in the data and skipped: %s", missing)
    groups = frame[cols].reindex(index)
    for c in cols:  # plain labels: the audit treats every value as a group
        if isinstance(groups[c].dtype, pd.CategoricalDtype):
            groups[c] = groups[c].astype("str").where(groups[c].notna(), None)
    return groups


def _k_value(cfg):
    """Capacity as the backtest and audit take it: a count (top_k) or a share."""
    return cfg.top_k if cfg.top_k is not None else cfg.top_fraction


def _fit_all(cfg: TrainConfig, tables, dates, stages, *, final_model: bool):
    from .fairness import audit
    from .metrics import resolve_k
    from .splits import backtest

    with stages("features"):
        cohorts = _cohorts(tables, dates, cfg.horizon_days)
    last = dates[-1]
    k = resolve_k(_k_value(cfg), len(cohorts[last][1]))
    with stages("backtest"):
        models = {"riskmodel": _make_model(cfg.model_params, cfg.random_state),
                  **_baselines(cfg.baselines)}
        bt, preds = backtest(cohorts, dates, horizon_days=cfg.horizon_days, models=models,
                             k=_k_value(cfg), n_boot=cfg.n_boot, return_predictions=True,
                             random_state=cfg.random_state)
    audit_table = None
    if cfg.audit.enabled:
        with stages("audit"):
            test = preds[(preds["model"] == "riskmodel")
                         & (pd.to_datetime(preds["test_date"]) == preds["test_date"].max())]
            test_date = _ts(test["test_date"].iloc[0])
            y_true = pd.Series(test["y_true"].to_numpy(), index=pd.Index(
                test["pupil_id"].to_numpy(), name="pupil_id"))
            groups = _audit_groups(tables, test_date, y_true.index, cfg.audit.attributes)
            kw = {"k": cfg.top_k} if cfg.top_k is not None else {"top_fraction": cfg.top_fraction}
            audit_table = audit(y_true, pd.Series(test["y_prob"].to_numpy(), index=y_true.index),
                                groups, n_boot=cfg.audit.n_boot, min_cell=cfg.audit.min_cell,
                                random_state=cfg.random_state, **kw)
            audit_table.insert(0, "test_date", str(test_date.date()))
    model, X, y = None, None, None
    if final_model:
        with stages("final model"):
            X = pd.concat([cohorts[d][0] for d in dates], keys=dates, names=["as_of"])
            y = pd.concat([cohorts[d][1] for d in dates], keys=dates, names=["as_of"])
            model = _make_model(cfg.model_params, cfg.random_state).fit(
                X.droplevel("as_of"), y.droplevel("as_of"))
    return X, y, bt, audit_table, model, k


def _train_dates(cfg, tables) -> list[pd.Timestamp]:
    candidates = cfg.as_of_dates or _default_dates(tables)
    dates = _labelled_dates(tables, candidates, cfg.horizon_days)
    if len(dates) < 2:
        raise ConfigError(
            f"Training needs at least two as_of dates whose {cfg.horizon_days}-day horizon "
            f"lies within the data (which end on {_data_end(tables).date()}); got "
            f"{[str(_ts(d).date()) for d in candidates]}. Give earlier 'as_of_dates', more "
            "years of data, or a shorter 'horizon_days'."
        )
    return dates


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
    >>> from riskmodel.pipeline import train_run
    >>> res = train_run({"synthetic": {"n_pupils": 3000, "n_years": 3},
    ...                  "tracking": {"enabled": False}})  # doctest: +SKIP
    >>> res.backtest.columns[:3].tolist()  # doctest: +SKIP
    """
    cfg = load_config(TrainConfig, config)
    if synthetic is None:
        synthetic = tables is None and cfg.data is None
    stages = _Stages(["load data", "features", "backtest", "audit", "final model", "tracking"],
                     progress, desc="train")
    try:
        tables, fingerprint, dates = _load_for_training(cfg, tables, stages)
        X, y, bt, audit_table, model, k = _fit_all(cfg, tables, dates, stages, final_model=True)
        result = TrainResult(model=model, backtest=bt, audit=audit_table, train_dates=dates,
                             fingerprint=fingerprint)
        if cfg.save_model is not None:
            model.save(cfg.save_model)
        if cfg.tracking.enabled:
            with stages("tracking"):
                from . import tracking

                logged = tracking.log_training_run(
                    cfg, model=model, X=X, y=y, backtest=bt, audit=audit_table, tables=tables,
                    train_dates=dates, k=k, fingerprint=fingerprint,
                    register=cfg.tracking.register_model, synthetic=synthetic,
                )
                result.run_id = logged.run_id
                result.model_uri = logged.model_uri
                result.model_version = logged.model_version
                result.artifact_uri = logged.artifact_uri
        result.timings = dict(stages.timings)
        return result
    finally:
        stages.close()


def _load_for_training(cfg, tables, stages):
    """Tables (read or generated when not given), their fingerprint and the training dates."""
    with stages("load data"):
        if tables is None:
            tables, _ = load_tables(cfg.data, synthetic=cfg.synthetic, codes=cfg.codes)
        return tables, tables.fingerprint(), _train_dates(cfg, tables)


def evaluate_run(config: EvaluateConfig | dict | str | os.PathLike | None = None, *,
                 tables=None, progress: bool = False) -> EvaluateResult:
    """Temporal backtest against the baselines and the fairness audit, without a model.

    The tables are logged to an MLflow run (unless ``tracking.enabled`` is false)
    and written as CSV into ``out`` when given (atomically).

    Examples
    --------
    >>> from riskmodel.pipeline import evaluate_run
    >>> res = evaluate_run({"synthetic": {"n_pupils": 3000}, "out": "out/eval"})  # doctest: +SKIP
    """
    cfg = load_config(EvaluateConfig, config)
    stages = _Stages(["load data", "features", "backtest", "audit", "tracking", "write"],
                     progress, desc="evaluate")
    try:
        tables, fingerprint, dates = _load_for_training(cfg, tables, stages)
        X, y, bt, audit_table, _, k = _fit_all(cfg, tables, dates, stages, final_model=False)
        result = EvaluateResult(model=None, backtest=bt, audit=audit_table, train_dates=dates,
                                fingerprint=fingerprint)
        if cfg.tracking.enabled:
            with stages("tracking"):
                from . import tracking

                logged = tracking.log_evaluation_run(
                    cfg, backtest=bt, audit=audit_table, tables=tables, train_dates=dates, k=k,
                    fingerprint=fingerprint,
                )
                result.run_id = logged.run_id
                result.artifact_uri = logged.artifact_uri
        if cfg.out is not None:
            with stages("write"), atomic_output_dir(cfg.out) as tmp:
                _write_csv(bt, tmp / "backtest.csv")
                if audit_table is not None:
                    _write_csv(audit_table, tmp / "audit.csv")
                _write_manifest(tmp, {"kind": "evaluate", "data_fingerprint": fingerprint,
                                      "as_of_dates": [str(d.date()) for d in dates],
                                      "horizon_days": cfg.horizon_days, "k": k,
                                      "config": _jsonable(cfg.model_dump(mode="json"))})
        result.timings = dict(stages.timings)
        return result
    finally:
        stages.close()


# ------------------------------------------------------------------------ scoring
def _resolve_rules(path):
    from .allocation import ProgrammeRules

    if path is None:
        return ProgrammeRules()
    return ProgrammeRules.from_yaml(path)


def _tiers(rank: np.ndarray, n: int, tiers: TierConfig) -> pd.Categorical:
    high = max(1, int(np.ceil(tiers.high_fraction * n)))
    elevated = max(high, int(np.ceil(tiers.elevated_fraction * n)))
    labels = np.where(rank <= high, "high", np.where(rank <= elevated, "elevated", "low"))
    return pd.Categorical(labels, categories=["high", "elevated", "low"], ordered=True)


def _rank_table(risk: pd.Series, pupils: pd.DataFrame, tiers: TierConfig) -> pd.DataFrame:
    """National and school ranks (1 = highest risk; ties broken by pupil_id) and tiers."""
    df = pd.DataFrame({"risk": risk.to_numpy(), "school_id": pupils["school_id"].to_numpy()},
                      index=risk.index)
    order = np.lexsort((df.index.to_numpy().astype(str), -df["risk"].to_numpy()))
    rank = np.empty(len(df), dtype=np.int64)
    rank[order] = np.arange(1, len(df) + 1)
    df["rank_national"] = rank
    df["rank_school"] = (df.groupby("school_id", observed=True, sort=False)["rank_national"]
                         .rank(method="first").astype("int64"))
    df["tier"] = _tiers(rank, len(df), tiers)
    return df[["rank_national", "rank_school", "tier"]]


def _domain_shares(by_domain: pd.DataFrame) -> pd.DataFrame:
    """Share of each domain in the risk-raising (positive) contributions of a pupil."""
    pos = by_domain.clip(lower=0)
    total = pos.sum(axis=1)
    shares = pos.div(total.where(total > 0), axis=0).fillna(0.0)
    cols = [d for d in DOMAINS if d in shares.columns] + \
           [c for c in shares.columns if c not in DOMAINS]
    return shares[cols].add_prefix("share_")


def _reasons_wide(explanation, k: int) -> tuple[pd.DataFrame, pd.Series]:
    """Reason texts as columns ``reason_<i>_<lang>``, and the feature of each first reason."""
    parts, first = [], None
    for lang in ("lv", "en"):
        r = explanation.reasons(k=k, lang=lang)
        if first is None:
            top = r[r["rank"] == 1]
            first = pd.Series(top["feature"].to_numpy(), index=pd.Index(
                top["pupil_id"].to_numpy(), name="pupil_id"), name="first_reason")
        wide = r.pivot(index="pupil_id", columns="rank", values="text")
        wide = wide.reindex(columns=range(1, k + 1))
        wide.columns = [f"reason_{i}_{lang}" for i in wide.columns]
        parts.append(wide)
    out = pd.concat(parts, axis=1)
    cols = [f"reason_{i}_{lang}" for lang in ("lv", "en") for i in range(1, k + 1)]
    return out[cols].astype("str").where(out[cols].notna(), None), first


def _sort_pupils(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_index(kind="stable")


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    """Deterministic Parquet: no timestamps; same frame → same bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=True)
    pq.write_table(table, path, compression="zstd", write_statistics=True,
                   use_dictionary=True)


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False, lineterminator="\n")


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str))


def _write_manifest(folder: Path, manifest: dict) -> dict:
    files = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.name != MANIFEST:
            files[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
    manifest = {"riskmodel_manifest": 1, **manifest, "files_sha256": files}
    from . import __version__

    manifest["riskmodel_version"] = __version__
    text = json.dumps(_jsonable(manifest), indent=2, sort_keys=True, ensure_ascii=False)
    (folder / MANIFEST).write_text(text + "\n", encoding="utf-8")
    return manifest


def _allocation_pupils(pupils_frame, risk, by_domain, reasons=None):
    """The pupils table of :func:`riskmodel.allocate`: where they are, eligibility facts,
    risk, domain contributions (for the fit objective) and the Latvian reasons."""
    cols = [c for c in ("municipality_id", "school_id", "age", "grade", "liecība")
            if c in pupils_frame.columns]
    df = pupils_frame[cols].copy()
    for c in ("municipality_id", "school_id"):
        df[c] = df[c].astype("str")
    df["risk"] = risk
    df = df.join(by_domain[[d for d in DOMAINS if d in by_domain.columns]])
    if reasons is not None:
        df["reasons"] = reasons
    df.index.name = "pupil_id"
    return df


def _support_audit(tables, as_of, allocation, alloc_pupils, rules):
    """Who in the risk group got support, by audit attribute (aggregates, small cells hidden)."""
    from .fairness import audit_allocation

    attributes = [*AUDIT_ATTRIBUTES, "urban"]
    groups = _audit_groups(tables, as_of, alloc_pupils.index, attributes)
    if groups.shape[1] == 0:
        return None
    table = audit_allocation(allocation.assignments, alloc_pupils[["risk"]], groups,
                             risk_threshold=rules.min_risk)
    return table[table["kind"] == "any"].reset_index(drop=True)


def _joined_reasons(scores: pd.DataFrame, k: int, lang: str = "lv") -> pd.Series:
    cols = [f"reason_{i}_{lang}" for i in range(1, k + 1) if f"reason_{i}_{lang}" in scores]
    parts = scores[cols].astype(object).where(scores[cols].notna(), None)
    return pd.Series(["; ".join(v for v in row if v) for row in parts.to_numpy()],
                     index=scores.index, dtype="str")


def _allocate(alloc_pupils, cfg_resources: ResourcesConfig, rules, objective: str):
    from .allocation import allocate, make_resources

    try:
        resources = make_resources(alloc_pupils, n_mentors=cfg_resources.n_mentors,
                                   seed=cfg_resources.seed, rules=rules, **cfg_resources.options)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, DataValidationError):
            raise
        raise ConfigError(f"Invalid 'resources' config (n_mentors={cfg_resources.n_mentors}, "
                          f"options={cfg_resources.options}): {exc}") from None
    return allocate(alloc_pupils, resources, rules, objective=objective), resources


def _score_as_of(cfg, tables):
    if cfg.as_of is not None:
        return _ts(cfg.as_of)
    return _data_end(tables) + pd.Timedelta(days=1)


def score_run(config: ScoreConfig | dict | str | os.PathLike | None = None, *, tables=None,
              model=None, progress: bool = False) -> ScoreResult:
    """Score a school system end to end and write the outputs atomically.

    Stages: validate (read) the data, build features, score, explain, allocate,
    write. Written into ``config.out``: ``features.parquet`` (the model inputs),
    ``scores.parquet`` (pupil_id, school_id, municipality_id, risk,
    ``rank_national``, ``rank_school``, ``tier``, ``reason_1_lv`` …
    ``reason_3_en``, ``share_<domain>``), ``explanations.parquet`` (log-odds
    contribution of every feature, and ``base_value``), ``allocation.parquet``,
    ``waitlist.parquet``, ``report.html`` and
    ``manifest.json`` (model URI and version, data fingerprint, as_of, sha256 of
    every file). Pupil-level files are indexed by ``pupil_id`` and sorted by it.

    Parameters
    ----------
    config : ScoreConfig, mapping, YAML path or None
    tables : SchoolTables, optional
        Score these tables instead of reading ``config.data``.
    model : RiskModel, optional
        Use this fitted model instead of resolving ``config.model``.
    progress : bool

    Returns
    -------
    ScoreResult

    Raises
    ------
    DataValidationError
        When the data break the contract (nothing is written).
    ConfigError
        When the model, alias or rules file cannot be found.

    Examples
    --------
    >>> from riskmodel.pipeline import score_run
    >>> res = score_run({"data": "data/2025", "as_of": "2025-10-01",
    ...                  "out": "out/2025-10-01"})  # doctest: +SKIP
    """
    cfg = load_config(ScoreConfig, config)
    stages = _Stages(["validate", "model", "features", "score", "explain", "allocate", "write"],
                     progress, desc="score")
    try:
        from .features import build_features, pupil_frame

        with stages("validate"):
            if tables is None:
                if cfg.data is None:
                    raise ConfigError("Scoring needs a data folder: pass --data DIR (or set "
                                      "'data' in the config).")
                tables, _ = load_tables(cfg.data, codes=cfg.codes)
            fingerprint = tables.fingerprint()
            as_of = _score_as_of(cfg, tables)
        with stages("model"):
            if model is None:
                from . import tracking

                resolved = tracking.resolve_model(cfg.model, tracking_uri=cfg.tracking_uri)
                model, model_info = resolved.model, resolved.info
            else:
                model_info = {"uri": None, "version": None, "source": "in-memory model"}
            rules = _resolve_rules(cfg.rules) if cfg.allocate else None
        with stages("features"):
            X = _sort_pupils(build_features(tables, as_of))
            pupils = pupil_frame(tables, as_of).reindex(X.index)
        if len(X) == 0:
            raise ConfigError(f"No pupil is enrolled on {as_of.date()}; nothing to score. "
                              "Choose another --as-of.")
        with stages("score"):
            risk = pd.Series(model.predict_proba(X)[:, 1], index=X.index, name="risk")
        with stages("explain"):
            ex = model.explain(X)
            by_domain = ex.by_domain().reindex(X.index)
            reasons, first_reason = _reasons_wide(ex, cfg.reasons_k)
            reasons = reasons.reindex(X.index)
        scores = pd.DataFrame({
            "school_id": pupils["school_id"].astype("str"),
            "municipality_id": pupils["municipality_id"].astype("str"),
            "risk": risk,
        }, index=X.index)
        scores = scores.join(_rank_table(risk, scores, cfg.tiers)).join(reasons)
        scores = scores.join(_domain_shares(by_domain))
        allocation, support_audit = None, None
        if cfg.allocate:
            with stages("allocate"):
                alloc_pupils = _allocation_pupils(pupils, risk, by_domain,
                                                  _joined_reasons(scores, cfg.reasons_k))
                allocation, _ = _allocate(alloc_pupils, cfg.resources, rules, cfg.objective)
                support_audit = _support_audit(tables, as_of, allocation, alloc_pupils, rules)
        with stages("write"):
            explanations = ex.values.reindex(X.index).copy()
            explanations["base_value"] = float(ex.base_value)
            with atomic_output_dir(cfg.out) as tmp:
                _write_parquet(X, tmp / "features.parquet")
                _write_parquet(scores, tmp / "scores.parquet")
                _write_parquet(explanations, tmp / "explanations.parquet")
                if allocation is not None:
                    _write_parquet(_frame(allocation.assignments), tmp / "allocation.parquet")
                    _write_parquet(_frame(allocation.waitlist), tmp / "waitlist.parquet")
                from . import __version__

                manifest = {
                    "kind": "score",
                    "riskmodel_version": __version__,
                    "as_of": str(as_of.date()),
                    "model": _jsonable(model_info),
                    "data": str(cfg.data) if cfg.data is not None else "in-memory tables",
                    "data_fingerprint": fingerprint,
                    "n_pupils": int(len(X)),
                    "config": _jsonable(cfg.model_dump(mode="json", exclude={"out"})),
                }
                from .report._score_report import score_report_html

                html = score_report_html(scores=scores, by_domain=by_domain,
                                         allocation=allocation, manifest=manifest,
                                         support_audit=support_audit,
                                         first_reason=first_reason)
                (tmp / "report.html").write_text(html, encoding="utf-8")
                manifest = _write_manifest(tmp, manifest)
        out = Path(cfg.out)
        paths = {p.stem: out / p.name for p in sorted(out.iterdir()) if p.is_file()}
        return ScoreResult(out=out, paths=paths, manifest=manifest, timings=dict(stages.timings))
    finally:
        stages.close()


def _frame(obj) -> pd.DataFrame:
    df = obj if isinstance(obj, pd.DataFrame) else pd.DataFrame(obj)
    if df.index.name is None and isinstance(df.index, pd.RangeIndex):
        return df.reset_index(drop=True)
    return df


def allocate_run(config: AllocateConfig | dict | str | os.PathLike, *, tables=None,
                 progress: bool = False) -> AllocateResult:
    """Allocate support from an existing ``scores.parquet`` (of a score run).

    Age, grade and liecība come from the tables as of the scores' date (read
    from the ``manifest.json`` beside the scores, or ``as_of``); domain
    contributions from the ``explanations.parquet`` beside the scores when it is
    there. Writes ``allocation.parquet``, ``waitlist.parquet``,
    ``shortfall.parquet`` and ``manifest.json`` into ``out`` atomically.

    Examples
    --------
    >>> from riskmodel.pipeline import allocate_run
    >>> allocate_run({"data": "data/2025", "scores": "out/2025/scores.parquet",
    ...               "out": "out/2025-plan"})  # doctest: +SKIP
    """
    cfg = load_config(AllocateConfig, config)
    stages = _Stages(["read", "allocate", "write"], progress, desc="allocate")
    try:
        from .features import pupil_frame

        with stages("read"):
            scores_path = Path(cfg.scores)
            if not scores_path.is_file():
                raise ConfigError(f"Scores file {str(scores_path)!r} does not exist; give the "
                                  "scores.parquet of a score run.")
            scores = pd.read_parquet(scores_path)
            as_of = cfg.as_of
            manifest_path = scores_path.parent / MANIFEST
            upstream = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
            if as_of is None:
                if "as_of" not in upstream:
                    raise ConfigError("No as_of given and no manifest.json beside the scores; "
                                      "pass --as-of.")
                as_of = upstream["as_of"]
            as_of = _ts(as_of)
            if tables is None:
                if cfg.data is None:
                    raise ConfigError("Allocation needs the data folder the scores came from: "
                                      "pass --data DIR.")
                tables, _ = load_tables(cfg.data, codes=cfg.codes)
            pupils = pupil_frame(tables, as_of).reindex(scores.index)
            expl_path = scores_path.parent / "explanations.parquet"
            if expl_path.is_file():
                by_domain = _by_domain_from_file(expl_path)
            else:
                by_domain = pd.DataFrame(index=scores.index)
            rules = _resolve_rules(cfg.rules)
        with stages("allocate"):
            alloc_pupils = _allocation_pupils(pupils, scores["risk"], by_domain,
                                              _joined_reasons(scores, 10))
            allocation, _ = _allocate(alloc_pupils, cfg.resources, rules, cfg.objective)
        with stages("write"), atomic_output_dir(cfg.out) as tmp:
            _write_parquet(_frame(allocation.assignments), tmp / "allocation.parquet")
            _write_parquet(_frame(allocation.waitlist), tmp / "waitlist.parquet")
            _write_parquet(_frame(allocation.shortfall), tmp / "shortfall.parquet")
            _write_manifest(tmp, {"kind": "allocate", "as_of": str(as_of.date()),
                                  "scores_sha256": hashlib.sha256(
                                      scores_path.read_bytes()).hexdigest(),
                                  "data_fingerprint": tables.fingerprint(),
                                  "config": _jsonable(cfg.model_dump(mode="json",
                                                                     exclude={"out"}))})
        out = Path(cfg.out)
        paths = {p.stem: out / p.name for p in sorted(out.iterdir()) if p.is_file()}
        return AllocateResult(out=out, paths=paths, timings=dict(stages.timings))
    finally:
        stages.close()


def _by_domain_from_file(path: Path) -> pd.DataFrame:
    """Domain sums of the feature contributions stored in ``explanations.parquet``."""
    from .features import registry

    values = pd.read_parquet(path).drop(columns=["base_value"], errors="ignore")
    domains = registry()["domain"]
    known = [c for c in values.columns if c in domains.index]
    return values[known].T.groupby(domains.loc[known].to_numpy()).sum().T


# --------------------------------------------------------------------------- demo
@dataclass
class DemoResult:
    """What :func:`demo_run` produced."""

    data: Path
    train: TrainResult
    score: ScoreResult
    model_uri: str
    tracking_uri: str


def demo_run(config: DemoConfig | dict | str | os.PathLike | None = None, *,
             progress: bool = False) -> DemoResult:
    """Generate a synthetic system, train and register the champion, score the latest as_of.

    Writes the tables to ``<out>/data`` and the scoring outputs to
    ``<out>/scores``; the run and the model go to the tracking store
    (:func:`riskmodel.tracking.tracking_uri`).

    Examples
    --------
    >>> from riskmodel.pipeline import demo_run
    >>> res = demo_run({"synthetic": {"n_pupils": 3000}, "out": "out/demo"})  # doctest: +SKIP
    >>> res.score.paths["report"]  # doctest: +SKIP
    PosixPath('out/demo/scores/report.html')
    """
    from .datasets import make_school_system
    from .schema import write_tables
    from .tracking import tracking_uri

    cfg = load_config(DemoConfig, config)
    syn = cfg.synthetic
    out = Path(cfg.out)
    world = make_school_system(n_pupils=syn.n_pupils, n_years=syn.n_years, seed=syn.seed)
    data = write_tables(world.tables, out / "data", overwrite=True)
    dates = sorted(_ts(d) for d in world.as_of_dates)
    train_cfg = load_config(TrainConfig, {"data": str(data), **cfg.train})
    train = train_run(train_cfg, tables=world.tables, progress=progress, synthetic=True)
    if train.model_version is not None:
        name = train_cfg.tracking.registered_model_name
        alias = train_cfg.tracking.alias if train_cfg.tracking.set_alias else None
        model_uri = f"models:/{name}@{alias}" if alias else f"models:/{name}/{train.model_version}"
    else:
        model_uri = None
    score_cfg = load_config(ScoreConfig, {"data": str(data), "as_of": str(dates[-1].date()),
                                          "out": str(out / "scores"),
                                          **({"model": model_uri} if model_uri else {}),
                                          **cfg.score})
    score = score_run(score_cfg, tables=world.tables,
                      model=None if model_uri else train.model, progress=progress)
    return DemoResult(data=Path(data), train=train, score=score, model_uri=model_uri or "in-memory",
                      tracking_uri=tracking_uri(train_cfg.tracking.tracking_uri))

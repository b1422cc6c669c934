"""Configurations of the runs (private; re-exported by :mod:`riskmodel.pipeline`).

Every run takes a pydantic model deriving from :class:`~riskmodel.config.StrictModel`
(``extra="forbid"``, so a misspelt key fails loudly). Dates go through
:func:`riskmodel._checks.parse_as_of` (a time of day is rejected with its one
message); seeds are ``random_state`` (the old key ``seed`` is accepted for one
release with a ``FutureWarning``); interval defaults are those of
:mod:`riskmodel._checks`.

Examples
--------
>>> from riskmodel.pipeline import ScoreConfig, TrainConfig
>>> TrainConfig(synthetic={"n_pupils": 300}).synthetic.random_state
0
>>> str(ScoreConfig(as_of="2025-10-01").as_of)
'2025-10-01'
>>> ScoreConfig(as_of="2025-10-01 13:00")
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for ScoreConfig
as_of
  Value error, The 'as_of' parameter of ScoreConfig must be a date without a time of day (records are dated by day). Got 2025-10-01 13:00:00 instead. ...
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ._checks import N_BOOT, UNSET, parse_as_of, renamed_param
from ._run_benefit import BenefitTrainConfig, BenefitUseConfig
from ._suppression import MIN_CELL
from .config import StrictModel
from .vocab import AUDIT_ATTRIBUTES

__all__ = [
    "SyntheticConfig",
    "ReadConfig",
    "TrackingConfig",
    "AuditConfig",
    "ResourcesConfig",
    "TierConfig",
    "TrainConfig",
    "ScoreConfig",
    "EvaluateConfig",
    "AllocateConfig",
    "DemoConfig",
]


def _renamed_key(old: str, new: str):
    """A before-validator that reads the old key ``old`` as ``new`` (FutureWarning, until 0.3).

    Giving both keys at once is an error.
    """

    def rename(cls, data):
        if isinstance(data, dict) and old in data:
            data = dict(data)
            if new in data:
                raise ValueError(f"give '{new}' only ('{old}' is its old name)")
            data[new] = renamed_param(data.pop(old), UNSET, old=old, new=new,
                                      func=cls.__name__, stacklevel=6)
        return data

    return model_validator(mode="before")(classmethod(rename))


def _date(cls, value, param="as_of"):
    return None if value is None else parse_as_of(value, cls.__name__, param).date()


class SyntheticConfig(StrictModel):
    """Size and seed of the synthetic school system used when no data folder is given.

    ``seed`` is the old name of ``random_state`` (accepted until 0.3, with a
    ``FutureWarning``).

    Examples
    --------
    >>> SyntheticConfig(n_pupils=300, n_years=3)
    SyntheticConfig(n_pupils=300, n_years=3, random_state=0)
    """

    n_pupils: int = Field(default=20_000, gt=0)
    n_years: int = Field(default=3, ge=2)
    random_state: int = 0

    _renamed = _renamed_key("seed", "random_state")


class TrackingConfig(StrictModel):
    """Where and how a run is recorded in MLflow.

    ``tracking_uri`` None means ``MLFLOW_TRACKING_URI`` when set, else
    ``sqlite:///mlflow.db`` in the working directory.

    Examples
    --------
    >>> TrackingConfig(alias="challenger").registered_model_name
    'riskmodel'
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
    """Fairness audit at capacity (see :func:`riskmodel.fairness.audit`).

    Groups smaller than ``min_cell`` pupils are suppressed (never fewer than 10).

    Examples
    --------
    >>> AuditConfig(attributes=["sex"]).n_boot
    1000
    """

    enabled: bool = True
    attributes: list[str] = Field(
        default_factory=lambda: [*AUDIT_ATTRIBUTES, "municipality_id", "urban"]
    )
    n_boot: int = Field(default=N_BOOT, ge=0)
    min_cell: int = Field(default=MIN_CELL, ge=MIN_CELL)


class ResourcesConfig(StrictModel):
    """The roster for the allocation: a file, or synthetic resources.

    ``path``: a roster file (CSV, Parquet or XLSX, see
    :func:`riskmodel.read_resources`); then exactly that roster is allocated and
    ``n_mentors``, ``random_state`` and ``options`` are not used. Without it the
    resources are synthetic (``allocation.make_resources``). ``resources:
    FILE`` is short for ``resources: {path: FILE}``. ``current``: take the
    data's ``support`` table as the support that pupils already receive
    (continuity, see :func:`riskmodel.allocate`). ``seed`` is the old name of
    ``random_state`` (accepted until 0.3, with a ``FutureWarning``).

    Examples
    --------
    >>> ResourcesConfig(n_mentors=42).random_state
    0
    >>> ResourcesConfig.model_validate("configs/resources_example.csv").path
    PosixPath('configs/resources_example.csv')
    """

    path: Path | None = None
    n_mentors: int = Field(default=117, ge=0)
    random_state: int = 0
    options: dict[str, Any] = Field(default_factory=dict)
    current: bool = True

    _renamed = _renamed_key("seed", "random_state")

    @model_validator(mode="before")
    @classmethod
    def _path_shorthand(cls, value):
        if isinstance(value, (str, Path)):
            return {"path": value}
        return value


class TierConfig(StrictModel):
    """Risk tiers by national rank: the top ``high_fraction`` are "high", the next
    pupils up to ``elevated_fraction`` are "elevated", the rest "low".

    Each share becomes a number of pupils by the one capacity rule
    (:func:`riskmodel._checks.resolve_capacity`, ``ceil(share * n)``).

    Examples
    --------
    >>> TierConfig(high_fraction=0.1).elevated_fraction
    0.15
    """

    high_fraction: float = Field(default=0.05, gt=0, lt=1)
    elevated_fraction: float = Field(default=0.15, gt=0, le=1)
    #: hysteresis (with a score history): a "high" pupil stays high up to this rank share
    #: (None = 1.3 x high_fraction); likewise "elevated" (None = 1.3 x elevated_fraction)
    high_exit_fraction: float | None = Field(default=None, gt=0, le=1)
    elevated_exit_fraction: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self):
        if self.elevated_fraction < self.high_fraction:
            raise ValueError("elevated_fraction must be >= high_fraction")
        return self


_SEP_ALIASES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"}


class ReadConfig(StrictModel):
    """How the files of ``data`` are read: the options of :func:`riskmodel.read_tables`.

    ``sep`` may also be written ``tab``, ``comma`` or ``semicolon``. ``columns``
    maps local headers to the contract's (``{table: {local: contract}}``); the
    codes config can hold the same map.

    Examples
    --------
    >>> ReadConfig(encoding="cp1257", sep="semicolon").sep
    ';'
    >>> ReadConfig(encoding="latvian")
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for ReadConfig
    encoding
      Value error, The 'encoding' parameter of ReadConfig must be None, 'detect' or an encoding Python knows ...
    """

    format: Literal["parquet", "csv", "xlsx"] | None = None
    encoding: str | None = None
    sep: Literal[",", ";", "\t"] | None = None
    decimal: Literal[".", ","] | None = None
    date_format: str | None = None
    columns: dict[str, dict[str, str]] | None = None

    @field_validator("sep", mode="before")
    @classmethod
    def _sep(cls, value):
        return _SEP_ALIASES.get(value, value) if isinstance(value, str) else value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value):
        from ._read_files import check_encoding

        return check_encoding(value, cls.__name__)

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`riskmodel.read_tables`."""
        return self.model_dump()


class _DataMixin(StrictModel):
    data: Path | None = None
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)
    codes: Path | None = None
    read: ReadConfig = Field(default_factory=ReadConfig)


class TrainConfig(_DataMixin):
    """Configuration of :func:`train_run` (``configs/train.yaml``).

    Parameters
    ----------
    data : path or None
        Folder of Parquet/CSV/xlsx tables (or an ``.xlsx`` workbook of tables);
        None builds the synthetic system ``synthetic``.
    codes : path or None
        Local codes (and column names) -> the contract's; see ``configs/codes.yaml``.
    read : ReadConfig
        How the files of ``data`` are read (format, encoding, sep, decimal,
        date_format, columns).
    as_of_dates : list of date or None
        Training dates; only those whose horizon is fully observed are used.
        None: 1 October of every school year in the data.
    horizon_days : int
    top_k, top_fraction : capacity of metrics at k and of the audit
        (``top_k`` wins when set): ``top_k`` pupils, or ``ceil(top_fraction * n)``
        of the ``n`` pupils of the last test cohort
        (:func:`riskmodel._checks.resolve_capacity`); ``top_fraction=1.0`` is everyone.
    random_state : int
        Seed of the model (and of the backtest's bootstrap).
    n_boot : int
        Bootstrap draws of the backtest's intervals (default 1000, as everywhere).
    model_params : dict
        Other keyword arguments of :class:`riskmodel.RiskModel`.
    baselines : list of {"rule", "school", "logistic"}
        The labels of the baselines in the backtest's ``model`` column (the
        model itself is ``"riskmodel"``), as in :func:`riskmodel.backtest`.

    Examples
    --------
    >>> cfg = TrainConfig(as_of_dates=["2022-10-01", "2023-10-01"], top_fraction=1.0)
    >>> [str(d) for d in cfg.as_of_dates], cfg.top_fraction
    (['2022-10-01', '2023-10-01'], 1.0)
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
    n_boot: int = Field(default=N_BOOT, ge=0)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    save_model: Path | None = None
    benefit: BenefitTrainConfig = Field(default_factory=BenefitTrainConfig)

    @field_validator("as_of_dates", mode="before")
    @classmethod
    def _dates(cls, value):
        return None if value is None else [_date(cls, v, "as_of_dates") for v in value]


class EvaluateConfig(TrainConfig):
    """Configuration of :func:`evaluate_run`: like training, but nothing is registered;
    the backtest and audit tables are also written into ``out`` when given.

    Examples
    --------
    >>> EvaluateConfig(out="out/eval").out
    PosixPath('out/eval')
    """

    out: Path | None = None


class _ScoreDataMixin(StrictModel):
    data: Path | None = None
    codes: Path | None = None
    read: ReadConfig = Field(default_factory=ReadConfig)


class ScoreConfig(_ScoreDataMixin):
    """Configuration of :func:`score_run` (``configs/score.yaml``).

    Parameters
    ----------
    data : path
        Folder of tables to score (required unless tables are passed to score_run).
    codes : path or None
        Local codes (and column names) -> the contract's.
    read : ReadConfig
        How the files of ``data`` are read (format, encoding, sep, decimal,
        date_format, columns).
    as_of : date or None
        Scoring date; None = the day after the last recorded event.
    model : str
        ``models:/riskmodel@champion``, ``models:/riskmodel/3``, ``runs:/<id>/model``
        or a local folder (a saved RiskModel or an MLflow model).
    out : path
        Output folder (written atomically).
    rules : path or None
        Programme rules YAML (:class:`riskmodel.ProgrammeRules`); None = defaults.
    objective : {"fit", "risk", "benefit"}
        ``benefit``: by the benefit model (``benefit``; see
        :mod:`riskmodel._run_benefit`), weak kinds by fit.
    benefit : BenefitUseConfig
        The benefit model and its options (``objective: benefit``).
    exploration, exploration_seed : float, int
        Randomised assignment at the capacity margin (``exploration`` of
        :func:`riskmodel.allocate`) and its seed; 0: none.
    resources : ResourcesConfig or path
        The roster: ``resources: FILE`` (CSV, Parquet or XLSX) or synthetic
        resources (the default), and whether the data's support continues.
    tiers : TierConfig
        Risk tiers by national rank.
    n_reasons : int, default=3
        Reasons per pupil in ``scores.parquet`` (``reasons_k`` is its old name,
        accepted until 0.3 with a ``FutureWarning``).
    tracking_uri : str or None
        MLflow tracking URI used to resolve ``model``.

    Examples
    --------
    >>> ScoreConfig(as_of="2025-10-01", n_reasons=2).n_reasons
    2
    """

    as_of: dt.date | None = None
    model: str = "models:/riskmodel@champion"
    out: Path = Path("out/score")
    allocate: bool = True
    rules: Path | None = None
    objective: Literal["fit", "risk", "benefit"] = "fit"
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    benefit: BenefitUseConfig = Field(default_factory=BenefitUseConfig)
    exploration: float = Field(default=0.0, ge=0, lt=1)
    exploration_seed: int = 0
    tiers: TierConfig = Field(default_factory=TierConfig)
    n_reasons: int = Field(default=3, ge=1, le=10)
    tracking_uri: str | None = None
    monitor: Literal["on", "off"] = "on"  # the monitor before scoring (riskmodel._run_monitor)
    #: score history folder (riskmodel.watchlists); None = no history, plain tiers
    history: Path | None = None

    _as_of = field_validator("as_of", mode="before")(classmethod(_date))
    _renamed = _renamed_key("reasons_k", "n_reasons")


class AllocateConfig(_ScoreDataMixin):
    """Configuration of :func:`allocate_run`: allocation from an existing ``scores.parquet``.

    Examples
    --------
    >>> AllocateConfig(scores="out/score/scores.parquet").out
    PosixPath('out/allocate')
    """

    scores: Path
    as_of: dt.date | None = None
    out: Path = Path("out/allocate")
    rules: Path | None = None
    objective: Literal["fit", "risk", "benefit"] = "fit"
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    benefit: BenefitUseConfig = Field(default_factory=BenefitUseConfig)
    exploration: float = Field(default=0.0, ge=0, lt=1)
    exploration_seed: int = 0

    _as_of = field_validator("as_of", mode="before")(classmethod(_date))


class DemoConfig(StrictModel):
    """Configuration of ``riskmodel demo`` (``configs/demo.yaml``).

    ``train`` and ``score`` override keys of :class:`TrainConfig` and :class:`ScoreConfig`.

    Examples
    --------
    >>> DemoConfig(train={"n_boot": 0}).synthetic.n_pupils
    20000
    """

    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)
    out: Path = Path("out/demo")
    train: dict[str, Any] = Field(default_factory=dict)
    score: dict[str, Any] = Field(default_factory=dict)

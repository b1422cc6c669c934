"""The allocate and demo runs (private; re-exported by :mod:`riskmodel.pipeline`)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ._atomic import MANIFEST, atomic_output_dir, check_output_dir
from ._checks import parse_as_of
from ._run_config import AllocateConfig, DemoConfig, ScoreConfig, TrainConfig
from ._run_io import (
    Stages,
    allocation_pupils,
    as_frame,
    check_as_of,
    joined_reasons,
    load_tables,
    output_paths,
    resolve_rules,
    write_manifest,
    write_parquet,
)
from ._run_score import ScoreResult, score_run
from ._run_train import TrainResult, train_run
from ._util import file_sha256, jsonable
from .config import load_config
from .errors import ConfigError, DataValidationError

__all__ = ["AllocateResult", "DemoResult", "allocate_run", "demo_run"]

#: reason columns of scores.parquet that the support plans carry
PLAN_REASONS = tuple(f"reason_{i}_{lang}" for lang in ("lv", "en") for i in (1, 2, 3))


def current_support(tables, as_of) -> pd.DataFrame | None:
    """The data's support table as the allocation's ``current`` (None when absent).

    Only what is known before ``as_of`` counts (``start_date < as_of``; an end on
    or after ``as_of`` is not known yet, so such support is ongoing). Without a
    ``resource_id`` column every ongoing support has an unknown resource (see
    :func:`riskmodel.allocate`).
    """
    support = getattr(tables, "support", None)
    if support is None or len(support) == 0:
        return None
    cut = pd.Timestamp(as_of)
    known = support[pd.to_datetime(support["start_date"]) < cut]
    return known.reset_index(drop=True)


def plan_support(alloc_pupils, scores, cfg_resources, rules, objective, as_of, tables,
                 **options):
    """The allocation of a run: the roster (file or synthetic), the data's ongoing
    support as ``current``, support plans with the scores' top reasons.

    Returns ``(allocation, resources, roster_info)``; ``roster_info`` is the
    manifest's ``resources`` entry (source, sha256, n).
    """
    from .allocation import allocate, read_resources
    from .allocation._roster import roster_info

    pupils = alloc_pupils.join(scores[[c for c in PLAN_REASONS if c in scores.columns]])
    current = current_support(tables, as_of) if cfg_resources.current else None
    data_roster = getattr(tables, "resources", None)
    if cfg_resources.path is not None or data_roster is not None:
        if cfg_resources.path is not None:
            resources, source = read_resources(cfg_resources.path), cfg_resources.path
        else:  # the data's own roster (a resources file of the data folder)
            resources, source = data_roster, "data"
        allocation = allocate(pupils, resources, rules, objective=objective, current=current,
                              as_of=as_of, **options)
        info = roster_info(resources, source)
    else:
        allocation, resources = _synthetic_allocation(pupils, cfg_resources, rules, objective,
                                                      current, as_of, **options)
        info = roster_info(resources, "synthetic")
    info["continuing"] = int((allocation.assignments["change"] == "continuing").sum())
    info["ended"] = int(len(allocation.ended))
    return allocation, resources, info


def _synthetic_allocation(pupils, cfg_resources, rules, objective, current, as_of, **options):
    from .allocation import allocate, make_resources
    from .errors import DataValidationError

    try:
        resources = make_resources(pupils, n_mentors=cfg_resources.n_mentors,
                                   random_state=cfg_resources.random_state, rules=rules,
                                   **cfg_resources.options)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, DataValidationError):
            raise
        raise ConfigError(f"Invalid 'resources' config (n_mentors={cfg_resources.n_mentors}, "
                          f"options={cfg_resources.options}): {exc}") from None
    return allocate(pupils, resources, rules, objective=objective, current=current,
                    as_of=as_of, **options), resources


def write_plan(allocation, tmp: Path) -> None:
    """allocation.parquet (assignments with their plans), ended.parquet, waitlist.parquet."""
    write_parquet(as_frame(allocation.assignments), tmp / "allocation.parquet")
    write_parquet(as_frame(allocation.ended), tmp / "ended.parquet")
    write_parquet(as_frame(allocation.waitlist), tmp / "waitlist.parquet")
    if allocation.exploration > 0:  # each pupil's exact assignment probability
        write_parquet(as_frame(allocation.probabilities), tmp / "probabilities.parquet")


@dataclass
class AllocateResult:
    """What :func:`allocate_run` wrote: folder, file paths and timings.

    Examples
    --------
    >>> from pathlib import Path
    >>> AllocateResult(out=Path("plan"), paths={}).out
    PosixPath('plan')
    """

    out: Path
    paths: dict[str, Path]
    timings: dict[str, float] = field(default_factory=dict)


def _by_domain_from_file(path: Path) -> pd.DataFrame:
    """Domain sums of the feature contributions stored in ``explanations.parquet``."""
    from .features import registry

    values = pd.read_parquet(path).drop(columns=["base_value"], errors="ignore")
    domains = registry()["domain"]
    known = [c for c in values.columns if c in domains.index]
    return values[known].T.groupby(domains.loc[known].to_numpy()).sum().T


def _scores_as_of(cfg, scores_path: Path) -> pd.Timestamp:
    """The as_of of the config, else the one in the manifest beside the scores."""
    if cfg.as_of is not None:
        return parse_as_of(cfg.as_of, "allocate_run")
    manifest_path = scores_path.parent / MANIFEST
    upstream = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    if "as_of" not in upstream:
        raise ConfigError("No as_of given and no manifest.json beside the scores; pass --as-of.")
    return parse_as_of(upstream["as_of"], "allocate_run", f"as_of of {manifest_path}")


def allocate_run(config: AllocateConfig | dict | str | os.PathLike, *, tables=None,
                 progress: bool = False) -> AllocateResult:
    """Allocate support from an existing ``scores.parquet`` (of a score run).

    Age, grade and liecība come from the tables as of the scores' date (read
    from the ``manifest.json`` beside the scores, or ``as_of``); domain
    contributions from the ``explanations.parquet`` beside the scores when it is
    there. The roster is ``resources.path`` (a file) or synthetic; the data's
    ``support`` table is the ongoing support (``resources.current``). Writes
    ``allocation.parquet`` (assignments with their support plans),
    ``ended.parquet``, ``waitlist.parquet``, ``shortfall.parquet`` and
    ``manifest.json`` (with the roster's source and fingerprint) into ``out``
    atomically.

    Examples
    --------
    >>> from riskmodel.pipeline import AllocateConfig
    >>> AllocateConfig(scores="out/2025/scores.parquet", out="out/2025-plan").objective
    'fit'
    """
    cfg = load_config(AllocateConfig, config)
    check_output_dir(cfg.out)
    stages = Stages(["read", "allocate", "write"], progress, desc="allocate")
    try:
        from .features import pupil_frame

        with stages("read"):
            scores_path = Path(cfg.scores)
            if not scores_path.is_file():
                raise ConfigError(f"Scores file {str(scores_path)!r} does not exist; give the "
                                  "scores.parquet of a score run.")
            try:
                scores = pd.read_parquet(scores_path)
            except (OSError, ValueError) as exc:  # pyarrow's errors of a file that is not Parquet
                raise DataValidationError(f"Scores file {str(scores_path)!r} cannot be read as "
                                          f"Parquet ({exc}); give the scores.parquet of a score "
                                          "run.") from None
            if "risk" not in scores.columns:
                raise DataValidationError(
                    f"Scores file {str(scores_path)!r} has no 'risk' column; give the "
                    "scores.parquet of a score run.",
                    [{"table": "scores", "column": "risk", "n_rows": len(scores),
                      "examples": [], "message": "missing column"}])
            as_of = _scores_as_of(cfg, scores_path)
            if tables is None:
                if cfg.data is None:
                    raise ConfigError("Allocation needs the data folder the scores came from: "
                                      "pass --data DIR.")
                tables, _ = load_tables(cfg.data, codes=cfg.codes, read=cfg.read)
            check_as_of(tables, as_of)
            pupils = pupil_frame(tables, as_of).reindex(scores.index)
            expl_path = scores_path.parent / "explanations.parquet"
            if expl_path.is_file():
                by_domain = _by_domain_from_file(expl_path)
            else:
                by_domain = pd.DataFrame(index=scores.index)
            rules = resolve_rules(cfg.rules)
        with stages("allocate"):
            from ._run_benefit import allocation_manifest, run_options, upstream_inputs

            alloc_pupils = allocation_pupils(pupils, scores["risk"], by_domain,
                                             joined_reasons(scores, 10))
            X, model_info = upstream_inputs(cfg, scores_path)
            alloc_pupils, options, benefit_info = run_options(cfg, model_info, X, alloc_pupils)
            allocation, _, roster = plan_support(alloc_pupils, scores, cfg.resources, rules,
                                                 cfg.objective, as_of, tables, **options)
        with stages("write"), atomic_output_dir(cfg.out) as tmp:
            write_plan(allocation, tmp)
            write_parquet(as_frame(allocation.shortfall), tmp / "shortfall.parquet")
            write_manifest(tmp, {"kind": "allocate", "as_of": str(as_of.date()),
                                 "scores_sha256": file_sha256(scores_path),
                                 "data_fingerprint": tables.fingerprint(),
                                 "resources": roster,
                                 "allocation": allocation_manifest(allocation, benefit_info),
                                 "config": jsonable(cfg.model_dump(mode="json",
                                                                   exclude={"out"}))})
            paths = output_paths(cfg.out, written=tmp)
        return AllocateResult(out=Path(cfg.out), paths=paths,
                              timings=dict(stages.timings))
    finally:
        stages.close()


@dataclass
class DemoResult:
    """What :func:`demo_run` produced: the data folder, both runs, the model's URI.

    Examples
    --------
    >>> DemoResult.__dataclass_fields__.keys()
    dict_keys(['data', 'train', 'score', 'model_uri', 'tracking_uri'])
    """

    data: Path
    train: TrainResult
    score: ScoreResult
    model_uri: str
    tracking_uri: str


def _registered_uri(train_cfg, train) -> str | None:
    if train.model_version is None:
        return None
    name = train_cfg.tracking.registered_model_name
    alias = train_cfg.tracking.alias if train_cfg.tracking.set_alias else None
    return f"models:/{name}@{alias}" if alias else f"models:/{name}/{train.model_version}"


def demo_run(config: DemoConfig | dict | str | os.PathLike | None = None, *,
             progress: bool = False) -> DemoResult:
    """Generate a synthetic system, train and register the champion, score the latest as_of.

    Writes the tables to ``<out>/data`` and the scoring outputs to
    ``<out>/scores``; the run and the model go to the tracking store
    (:func:`riskmodel.tracking.tracking_uri`). A full demo takes minutes.

    Examples
    --------
    >>> from riskmodel.pipeline import DemoConfig
    >>> DemoConfig(synthetic={"n_pupils": 3000}, out="out/demo").synthetic.n_pupils
    3000
    """
    from .datasets import make_school_system
    from .schema import write_tables
    from .tracking import tracking_uri

    cfg = load_config(DemoConfig, config)
    syn = cfg.synthetic
    out = Path(cfg.out)
    check_output_dir(cfg.score.get("out", out / "scores"))  # before the long training
    world = make_school_system(n_pupils=syn.n_pupils, n_years=syn.n_years,
                               random_state=syn.random_state)
    data = write_tables(world.tables, out / "data", overwrite=True)
    dates = sorted(parse_as_of(d) for d in world.as_of_dates)
    train_cfg = load_config(TrainConfig, {"data": str(data), **cfg.train})
    train = train_run(train_cfg, tables=world.tables, progress=progress, synthetic=True)
    model_uri = _registered_uri(train_cfg, train)
    score_cfg = load_config(ScoreConfig, {"data": str(data), "as_of": str(dates[-1].date()),
                                          "out": str(out / "scores"),
                                          **({"model": model_uri} if model_uri else {}),
                                          **cfg.score})
    score = score_run(score_cfg, tables=world.tables,
                      model=None if model_uri else train.model, progress=progress)
    return DemoResult(data=Path(data), train=train, score=score, model_uri=model_uri or "in-memory",
                      tracking_uri=tracking_uri(train_cfg.tracking.tracking_uri))

"""The score run (private; re-exported by :mod:`riskmodel.pipeline`).

Validate (read) the data, build features, score, explain, allocate, and write the
outputs into one folder atomically. Ranks and tiers are national; the high tier
holds :func:`riskmodel._checks.resolve_capacity` pupils at ``tiers.high_fraction``
(the same rule as the training run's ``k``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._atomic import atomic_output_dir, check_output_dir
from ._checks import parse_as_of, resolve_capacity
from ._ranking import national_rank, school_rank
from ._run_config import ScoreConfig, TierConfig
from ._run_io import (
    Stages,
    allocation_pupils,
    audit_groups,
    check_as_of,
    data_end,
    joined_reasons,
    load_tables,
    output_paths,
    resolve_rules,
    write_manifest,
    write_parquet,
)
from ._util import jsonable, riskmodel_version
from .config import load_config
from .errors import ConfigError
from .vocab import AUDIT_ATTRIBUTES, DOMAINS

__all__ = ["SCORE_FILES", "ScoreResult", "score_run"]

SCORE_FILES = (
    "features.parquet",
    "scores.parquet",
    "explanations.parquet",
    "allocation.parquet",
    "ended.parquet",
    "waitlist.parquet",
    "report.html",
)


@dataclass
class ScoreResult:
    """What :func:`score_run` wrote: folder, file paths, manifest and timings.

    Examples
    --------
    >>> from pathlib import Path
    >>> ScoreResult(out=Path("out"), paths={}, manifest={"n_pupils": 0}).manifest
    {'n_pupils': 0}
    """

    out: Path
    paths: dict[str, Path]
    manifest: dict
    timings: dict[str, float] = field(default_factory=dict)


def tier_cuts(n: int, tiers: TierConfig) -> tuple[int, int]:
    """The last national rank of the high and of the elevated tier among ``n`` pupils."""
    high = resolve_capacity(n, top_fraction=tiers.high_fraction, func="score_run")
    elevated = max(high, resolve_capacity(n, top_fraction=tiers.elevated_fraction,
                                          func="score_run"))
    return high, elevated


def _tiers(rank: np.ndarray, n: int, tiers: TierConfig) -> pd.Categorical:
    high, elevated = tier_cuts(n, tiers)
    labels = np.where(rank <= high, "high", np.where(rank <= elevated, "elevated", "low"))
    return pd.Categorical(labels, categories=["high", "elevated", "low"], ordered=True)


def _rank_table(risk: pd.Series, pupils: pd.DataFrame, tiers: TierConfig) -> pd.DataFrame:
    """National and school ranks (1 = highest risk; ties broken by pupil_id) and tiers."""
    rank = national_rank(risk)
    df = pd.DataFrame({"rank_national": rank.to_numpy(),
                       "rank_school": school_rank(rank, pupils["school_id"]).to_numpy()},
                      index=risk.index)
    df["tier"] = _tiers(rank.to_numpy(), len(df), tiers)
    return df


def _domain_shares(by_domain: pd.DataFrame) -> pd.DataFrame:
    """Share of each domain in the risk-raising (positive) contributions of a pupil."""
    pos = by_domain.clip(lower=0)
    total = pos.sum(axis=1)
    shares = pos.div(total.where(total > 0), axis=0).fillna(0.0)
    cols = [d for d in DOMAINS if d in shares.columns] + \
           [c for c in shares.columns if c not in DOMAINS]
    return shares[cols].add_prefix("share_")


def _reasons_wide(explanation, n_reasons: int) -> tuple[pd.DataFrame, pd.Series]:
    """Reason texts as columns ``reason_<i>_<lang>``, and the feature of each first reason."""
    return explanation._reasons_wide(n_reasons)  # placed by position, no pivot (issue 21)


def _support_audit(tables, as_of, allocation, alloc_pupils, rules, pupils=None):
    """Who in the risk group got support, by audit attribute (aggregates, small cells hidden)."""
    from .fairness import audit_allocation

    groups = audit_groups(tables, as_of, alloc_pupils.index, [*AUDIT_ATTRIBUTES, "urban"],
                          frame=pupils)
    if groups.shape[1] == 0:
        return None
    table = audit_allocation(allocation.assignments, alloc_pupils[["risk"]], groups,
                             risk_threshold=rules.min_risk)
    return table[table["kind"] == "any"].reset_index(drop=True)


def _score_as_of(cfg, tables) -> pd.Timestamp:
    if cfg.as_of is not None:
        return check_as_of(tables, parse_as_of(cfg.as_of, "score_run"))
    return data_end(tables) + pd.Timedelta(days=1)


def _read(cfg, tables):
    if tables is None:
        if cfg.data is None:
            raise ConfigError("Scoring needs a data folder: pass --data DIR (or set "
                              "'data' in the config).")
        tables, _ = load_tables(cfg.data, codes=cfg.codes, read=cfg.read)
    return tables


def _model(cfg, model):
    if model is not None:
        return model, {"uri": None, "version": None, "source": "in-memory model"}
    from . import tracking

    resolved = tracking.resolve_model(cfg.model, tracking_uri=cfg.tracking_uri)
    return resolved.model, resolved.info


def score_run(config: ScoreConfig | dict | str | os.PathLike | None = None, *, tables=None,
              model=None, progress: bool = False) -> ScoreResult:
    """Score a school system end to end and write the outputs atomically.

    Stages: validate (read) the data, build features, score, explain, allocate,
    write. Written into ``config.out``: ``features.parquet`` (the model inputs),
    ``scores.parquet`` (pupil_id, school_id, municipality_id, risk,
    ``rank_national``, ``rank_school``, ``tier``, ``reason_1_lv`` …
    ``reason_3_en``, ``share_<domain>``), ``explanations.parquet`` (log-odds
    contribution of every feature, and ``base_value``), ``allocation.parquet``,
    ``ended.parquet``, ``waitlist.parquet``, ``report.html`` and
    ``manifest.json`` (model URI and version, data fingerprint, as_of, the
    cohort, the capacity of the high tier, sha256 of every file). Pupil-level
    files are indexed by ``pupil_id`` and sorted by it.

    The manifest's ``cohort`` says who was scored
    (:func:`riskmodel.features._build.cohort_summary`): ``{"rule": "enrolled",
    "as_of_in_school_year": true, ...}`` for a date in a school year, and
    ``{"rule": "summer_continuers", "as_of_in_school_year": false, "n": ...,
    "n_enrolled": ..., "n_continuing": ..., "school_year": ...}`` for a summer
    date, when the pupils expected to continue are scored in the grade they
    will enter (``docs/data_contract.md``, "Scoring before the school year");
    the report says so in one sentence.

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
        When the model, alias or rules file cannot be found, or ``out`` is a
        folder that is neither empty nor an earlier riskmodel output.

    Examples
    --------
    A tiny system, a tiny model, no allocation:

    >>> import tempfile, pathlib, riskmodel as rm
    >>> from riskmodel.pipeline import score_run
    >>> world = rm.datasets.make_school_system(n_pupils=300, n_years=2, random_state=0)
    >>> X = rm.build_features(world.tables, "2023-03-01")
    >>> y = rm.make_labels(world.tables, "2023-03-01", horizon_days=60).reindex(X.index).fillna(0)
    >>> model = rm.RiskModel(n_estimators=5, random_state=0).fit(X, y)
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "scores"
    >>> res = score_run({"as_of": "2023-03-01", "out": str(out), "allocate": False},
    ...                 tables=world.tables, model=model)
    >>> sorted(res.paths), res.manifest["n_pupils"] == len(X)
    (['explanations', 'features', 'manifest', 'report', 'scores'], True)
    """
    cfg = load_config(ScoreConfig, config)
    check_output_dir(cfg.out)  # before any work: a foreign folder fails at once
    stages = Stages(["validate", "model", "features", "score", "explain", "allocate", "write"],
                    progress, desc="score")
    try:
        from .features import pupil_frame
        from .features._build import cohort_summary

        with stages("validate"):
            tables = _read(cfg, tables)
            fingerprint = tables.fingerprint()
            as_of = _score_as_of(cfg, tables)
        with stages("model"):
            model, model_info = _model(cfg, model)
            rules = resolve_rules(cfg.rules) if cfg.allocate else None
        from ._run_monitor import score_features, score_monitor, write_rules_only

        with stages("features"):
            # with the monitor's reference cohort (a year back) from the same passes
            feats = score_features(cfg, tables, as_of, model)
            X = feats.X
            pupils = pupil_frame(tables, as_of).reindex(X.index)
            cohort = cohort_summary(tables, as_of)
        if len(X) == 0:
            raise ConfigError(f"No pupil is enrolled on {as_of.date()}; nothing to score. "
                              "Choose another --as-of.")
        with stages("monitor"):  # issue 19: the monitor first
            monitor = score_monitor(cfg, tables, as_of, X, model, X_ref=feats.X_ref,
                                    first=feats.first)
        if monitor.rules_only:
            return write_rules_only(cfg, X=X, pupils=pupils, monitor=monitor, as_of=as_of,
                                    model_info=model_info, fingerprint=fingerprint,
                                    cohort=cohort)
        with stages("score"):
            p = monitor.risk_current  # predicted once, by the monitor, when it ran
            p = model.predict_proba(X)[:, 1] if p is None else p
            risk = pd.Series(p, index=X.index, name="risk")
            risk = monitor.apply(risk)  # the monitor's update_intercept/recalibrate, if any
        with stages("explain"):
            ex = model.explain(X)
            by_domain = ex.by_domain().reindex(X.index)
            reasons, first_reason = _reasons_wide(ex, cfg.n_reasons)
            reasons = reasons.reindex(X.index)
        scores = pd.DataFrame({
            "school_id": pupils["school_id"].astype("str"),
            "municipality_id": pupils["municipality_id"].astype("str"),
            "risk": risk,
        }, index=X.index)
        scores = scores.join(_rank_table(risk, scores, cfg.tiers)).join(reasons)
        scores = scores.join(_domain_shares(by_domain))
        history = None
        if cfg.history is not None:  # hook: score history, hysteresis tiers (watchlists)
            from .watchlists._run_hook import HistoryStep

            history = HistoryStep(cfg.history, model, model_info, as_of)
            scores["tier"] = history.tiers(scores, cfg.tiers)
        allocation, support_audit = None, None
        if cfg.allocate:
            with stages("allocate"):
                alloc_pupils = allocation_pupils(pupils, risk, by_domain,
                                                 joined_reasons(scores, cfg.n_reasons))
                from ._run_allocate import plan_support
                from ._run_benefit import run_options

                alloc_pupils, options, benefit_info = run_options(cfg, model_info, X,
                                                                  alloc_pupils)
                allocation, _, roster = plan_support(alloc_pupils, scores, cfg.resources, rules,
                                                     cfg.objective, as_of, tables, **options)
                support_audit = _support_audit(tables, as_of, allocation, alloc_pupils, rules,
                                               pupils=pupils)  # the frame of this run
        with stages("write"):
            explanations = ex.values.reindex(X.index).copy()
            explanations["base_value"] = float(ex.base_value)
            manifest = {
                "kind": "score",
                "riskmodel_version": riskmodel_version(),
                "as_of": str(as_of.date()),
                "model": jsonable(model_info),
                "data": str(cfg.data) if cfg.data is not None else "in-memory tables",
                "data_fingerprint": fingerprint,
                "n_pupils": int(len(X)),
                "cohort": cohort,
                "high_tier": {"top_fraction": cfg.tiers.high_fraction,
                              "k": int((scores["tier"] == "high").sum())},
                "config": jsonable(cfg.model_dump(mode="json", exclude={"out"})),
            }
            manifest["monitor"] = monitor.manifest()
            if allocation is not None:
                manifest["resources"] = roster
                from ._run_benefit import allocation_manifest

                manifest["allocation"] = allocation_manifest(allocation, benefit_info)
            changes = None
            if history is not None:
                hist_rows = history.rows(scores, X, allocation)
                changes, manifest["history"] = history.changes(hist_rows)
                manifest.setdefault("history", None)
                manifest["history_dir"] = str(cfg.history)
            with atomic_output_dir(cfg.out) as tmp:
                from ._parallel_write import ParallelWrites

                # the Parquet files are encoded in threads (Arrow frees the GIL) while
                # the report is drawn; all are finished before the manifest hashes them
                with ParallelWrites() as writes:
                    writes.submit(write_parquet, X, tmp / "features.parquet")
                    writes.submit(write_parquet, scores, tmp / "scores.parquet",
                                  float_dictionary=False)
                    writes.submit(write_parquet, explanations, tmp / "explanations.parquet",
                                  float_dictionary=False)  # contributions: near-unique
                    if allocation is not None:
                        from ._run_allocate import write_plan

                        writes.submit(write_plan, allocation, tmp)
                    if changes is not None:
                        writes.submit(write_parquet, changes, tmp / "changes.parquet")
                    from .report import score_report_html

                    html = score_report_html(scores=scores, by_domain=by_domain,
                                             allocation=allocation, manifest=manifest,
                                             support_audit=support_audit,
                                             first_reason=first_reason)
                    (tmp / "report.html").write_text(html, encoding="utf-8")
                manifest = write_manifest(tmp, manifest)
                paths = output_paths(cfg.out, written=tmp)
            if history is not None:
                history.append(hist_rows, X)
        return ScoreResult(out=Path(cfg.out), paths=paths, manifest=manifest,
                           timings=dict(stages.timings))
    finally:
        stages.close()

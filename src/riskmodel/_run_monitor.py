"""The monitor inside the runs (private): thresholds at training, the check before scoring.

- :func:`thresholds_from_cohorts` -- at training, the thresholds from the data's own
  history: :func:`riskmodel.monitor.calibrate_thresholds` on the consecutive yearly
  training cohorts (without the first when there are three or more: a system's
  first year lacks the 365-day history), stored with the model
  (``model.monitor_thresholds_``, a JSON dict written by ``RiskModel.save``).
- :func:`run_monitor` -- before scoring on ``as_of``: the cohort of 52 weeks before
  (the same weekday, about the same date: the comparison of consecutive years the
  thresholds were taken on) is the reference and its outcomes, complete and known
  on ``as_of`` (a horizon of one day less: an enrolment end dated ``as_of`` is not
  known on ``as_of``), are the latest outcomes. The thresholds are the model's when
  they were calibrated at ``as_of``'s time of year; else they are calibrated anew
  from the data's history at that time of year (:func:`seasonal_thresholds`) when
  the data reach back far enough. Either way, too short a history raises them to
  the documented minimum (:data:`riskmodel.monitor.FLOORS`), and the manifest says
  which thresholds were used and why. Two checks: inputs and score (reference
  against today's cohort), and
  calibration and discrimination (the model on the reference cohort against its
  outcomes). One decision from both (:func:`riskmodel.monitor._decision.decide`);
  a case-mix shift today counts as unchecked calibration, since the outcomes are
  last year's. ``update_intercept`` and ``recalibrate`` carry the update fitted on
  the latest outcomes (``logit p' = a + b logit p``, ``b = 1`` for the intercept)
  when those outcomes show the miscalibration (the closed test rejected the model);
  a ``recalibrate`` that rests on today's case-mix shift alone carries none
  (``update_withheld = "case_mix_today"``): last year's outcomes predate the shift.
- :func:`monitor_run` -- the ``riskmodel monitor`` command: ``monitor.json``
  (decision, reasons, findings with small cells blanked, thresholds, update) and
  ``monitor.html`` (plots of the drifted features against the reference).
- :func:`write_rules_only` -- the score run's output on ``rules_only``: no risk, no
  tiers, the transparent rule indicators and the rule baseline's ranking.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._ranking import national_rank, school_rank
from .errors import ConfigError, ModelFileError

__all__ = ["MonitorRun", "ScoreFeatures", "first_enrolment", "model_thresholds", "monitor_run",
           "run_monitor", "score_features", "score_monitor", "seasonal_thresholds",
           "thresholds_from_cohorts", "write_rules_only"]

#: leavers (and stayers) the outcome check needs among the reference cohort
MIN_OUTCOMES = 5


def thresholds_from_cohorts(frames, model, *, n_resamples=20, random_state=0, dates=None):
    """MonitorThresholds from yearly training frames (the first dropped when 3 or more)."""
    from .monitor import calibrate_thresholds

    frames = list(frames)
    dates = list(dates) if dates is not None else None
    if len(frames) >= 3:
        frames = frames[1:]
        dates = dates[1:] if dates is not None else None
    if len(frames) < 2:
        return None
    return calibrate_thresholds(frames, model=model, n_resamples=n_resamples,
                                random_state=random_state, dates=dates)


#: a year back, in whole weeks: the reference falls on the same weekday (counts of
#: days since an event, and weekly rhythms, differ between weekdays)
YEAR = pd.Timedelta(days=364)


def first_enrolment(tables) -> pd.Timestamp:
    """The first enrolment start of the tables (NaT when there is none)."""
    return pd.to_datetime(tables.enrolments["start_date"], errors="coerce").min()


def seasonal_thresholds(tables, as_of, model, X_ref, *, n_resamples=20, random_state=0,
                        first=None):
    """Thresholds at ``as_of``'s time of year from the data's own history, or None.

    The frames of ``as_of - j * 52 weeks`` (``j >= 2``, each with a full year of data
    before it) and the reference ``X_ref`` (``j = 1``); None when there is no such
    earlier frame. ``first``: the first enrolment start (:func:`first_enrolment`),
    when the caller has it.
    """
    from .features import build_features
    from .monitor import calibrate_thresholds

    if first is None:
        first = first_enrolment(tables)
    as_of = pd.Timestamp(as_of)
    dates, j = [], 2
    while pd.notna(first) and as_of - j * YEAR - pd.Timedelta(days=365) >= first.normalize():
        dates.append(as_of - j * YEAR)
        j += 1
    if not dates:
        return None
    dates = sorted(dates)
    frames = [build_features(tables, d).sort_index(kind="stable") for d in dates] + [X_ref]
    return calibrate_thresholds(frames, model=model, n_resamples=n_resamples,
                                random_state=random_state, dates=dates + [as_of - YEAR])


def model_thresholds(model):
    """The model's stored thresholds (MonitorThresholds), or None for an older model."""
    from .monitor import MonitorThresholds

    th = getattr(model, "monitor_thresholds_", None)
    if th is None or isinstance(th, MonitorThresholds):
        return th
    try:
        return MonitorThresholds.from_dict(th)
    except ValueError as exc:
        raise ModelFileError(f"The model's monitor thresholds are malformed: {exc}") from None


@dataclass
class MonitorRun:
    """What the monitor said before a score run (``status``: checked, off, no_thresholds,
    no_reference)."""

    status: str
    decision: str | None = None
    report: object = None
    reference_date: pd.Timestamp | None = None
    message: str = ""
    update: dict | None = None
    frames: tuple = field(default=(), repr=False)
    thresholds: object = field(default=None, repr=False)
    thresholds_source: str | None = None
    #: the model's risks of today's cohort (``frames[1]``'s rows), predicted once
    risk_current: np.ndarray | None = field(default=None, repr=False)
    #: why an update the decision names was not fitted: ``case_mix_today`` (it rests on
    #: today's case-mix shift; the latest outcomes predate it and show the model
    #: calibrated), or None
    update_withheld: str | None = None

    @property
    def rules_only(self) -> bool:
        return self.decision == "rules_only"

    def apply(self, risk: pd.Series) -> pd.Series:
        """``risk`` with the update applied (unchanged without one)."""
        if not self.update:
            return risk
        from scipy.special import expit, logit

        p = np.clip(risk.to_numpy(dtype="float64"), 1e-12, 1 - 1e-12)
        new = expit(self.update["intercept"] + self.update["slope"] * logit(p))
        return pd.Series(new, index=risk.index, name=risk.name)

    def manifest(self) -> dict:
        """The manifest's ``monitor`` entry (aggregates only)."""
        action = _ACTIONS.get(self.decision, "scored with the model (no check)")
        if self.decision in ("update_intercept", "recalibrate") and not self.update:
            action = (f"scored with the model unchanged: {self.decision} is recommended, but "
                      "no outcomes of the reference cohort are known yet, so no update was "
                      "applied")
            if self.update_withheld == "case_mix_today":
                action = (f"scored with the model unchanged: {self.decision} is recommended "
                          "because today's case mix shifted; the latest outcomes predate the "
                          "shift and show the model calibrated, so an update fitted on them "
                          "could not correct it; recalibrate once this cohort's outcomes are "
                          "known")
        out = {"status": self.status, "decision": self.decision, "message": self.message,
               "action": action}
        if self.reference_date is not None:
            out["reference_date"] = str(self.reference_date.date())
        if self.report is not None:
            out["reasons"] = list(self.report.reasons)
            out["n_flagged"] = int(self.report.findings["flagged"].sum())
            out["n_checked"] = int(len(self.report.findings))
            out["notes"] = list(self.report.notes)
        out["update"] = self.update
        out["update_withheld"] = self.update_withheld
        if self.thresholds is not None:
            th = self.thresholds
            out["thresholds"] = {"source": self.thresholds_source, "n_pairs": th.n_pairs,
                                 "dates": list(th.dates), "floored": th.floored()}
        return out


#: what the score run does on each decision
_ACTIONS = {
    "keep": "scored with the model",
    "update_intercept": "scored with the model, its intercept updated on the latest outcomes",
    "recalibrate": "scored with the model, recalibrated (intercept and slope) on the latest "
                   "outcomes",
    "refit": "scored with the model; its associations changed: a refit (riskmodel train) is due",
    "rules_only": "no risk scores: rule indicators and the rule baseline's ranking",
}


def _decide(inputs, outcomes, model_columns, calibrated):
    """One report from the inputs' check and the outcome rows (a DataFrame, or None)."""
    from .monitor._availability import domains_of
    from .monitor._decision import decide
    from .monitor._report import MonitorReport

    parts = [inputs.findings]
    if outcomes is not None:
        parts.append(outcomes)
    findings = pd.concat(parts, ignore_index=True)
    decision, reasons = decide(findings, model_domains=set(domains_of(model_columns)["domain"]),
                               has_outcomes=False, calibrated=calibrated,
                               outcomes_of_current=False)
    # the outcome rows' own notes (thresholds floored) are the inputs' already
    notes = [n for n in inputs.notes if not n.startswith("No outcomes")] \
        if outcomes is not None else list(inputs.notes)
    return MonitorReport(findings, decision, reasons, calibrated=calibrated, notes=notes,
                         fdr=inputs.fdr)


def run_monitor(tables, as_of, model, X=None, *, thresholds=None, top_fraction=0.05,
                require_thresholds=False, random_state=0, X_ref=None, first=None,
                risk_current=None) -> MonitorRun:
    """The monitor's check before scoring ``as_of`` (see the module docstring).

    ``X`` and ``X_ref``: today's and the reference's features, when the caller has
    them; ``first``: the first enrolment start (:func:`first_enrolment`);
    ``risk_current``: the model's risks of ``X``'s rows. Each cohort is predicted
    once (here, or by the caller), and :attr:`MonitorRun.risk_current` holds
    today's risks for the score stage.
    """
    from . import monitor as mon
    from ._checks import resolve_capacity
    from .features import build_features
    from .labels import _outcome_window, make_labels
    from .monitor._check import outcome_findings
    from .monitor._score import logistic_recalibration

    as_of = pd.Timestamp(as_of)
    if thresholds is None:
        thresholds = model_thresholds(model)
    if thresholds is None:
        msg = ("The model carries no monitor thresholds (it was trained before they were "
               "stored with the model, or on fewer than two yearly cohorts); retrain it with "
               "riskmodel train, or score with --monitor off.")
        if require_thresholds:
            raise ConfigError(msg)
        return MonitorRun("no_thresholds", message=msg)
    ref_date = as_of - YEAR
    horizon = (as_of - ref_date).days - 1
    if first is None:
        first = first_enrolment(tables)
    if pd.isna(first) or ref_date <= first.normalize():
        msg = (f"The data hold no cohort a year before {as_of.date()} (the reference date "
               f"{ref_date.date()} is on or before the first enrolment"
               f"{'' if pd.isna(first) else ' ' + str(first.date())}); the monitor needs a "
               "year of history.")
        if require_thresholds:
            raise ConfigError(msg + " Choose a later --as-of.")
        return MonitorRun("no_reference", message=msg)
    if X_ref is None:
        X_ref = build_features(tables, ref_date).sort_index(kind="stable")
    X_cur = build_features(tables, as_of).sort_index(kind="stable") if X is None else X
    if len(X_ref) == 0 or len(X_cur) == 0:
        empty = ref_date if len(X_ref) == 0 else as_of
        raise ConfigError(f"No pupil is enrolled on {empty.date()}; the monitor has nothing "
                          "to compare. Choose another --as-of.")
    source = "stored with the model"
    if thresholds.in_season(as_of) is False:  # calibrated at another time of year
        seasonal = seasonal_thresholds(tables, as_of, model, X_ref, random_state=random_state,
                                       first=first)
        if seasonal is not None:
            thresholds, source = seasonal, "calibrated at the scoring date's time of year"
    thresholds = thresholds.at(as_of)
    # each cohort is predicted once: the inputs' check, the outcome rows and the
    # update take the reference's risks, the score stage today's
    columns = [str(c) for c in model.feature_names_]
    missing = [c for c in columns if c not in X_ref.columns or c not in X_cur.columns]
    if missing:  # check names them (a DataValidationError)
        risks = None
    else:
        p_ref = np.asarray(model.predict_proba(X_ref[columns])[:, 1], dtype="float64")
        p_cur = (np.asarray(model.predict_proba(X_cur[columns])[:, 1], dtype="float64")
                 if risk_current is None else np.asarray(risk_current, dtype="float64"))
        risks = (p_ref, p_cur)
    inputs = mon.check(X_ref, X_cur, model=model, thresholds=thresholds,
                       top_fraction=top_fraction, random_state=random_state, risks=risks)
    # a reference cohort whose outcome window has not closed yet is an expected case here,
    # said in the report's notes below, not a warning of make_labels in the run's log
    if _outcome_window(tables, ref_date, horizon)[2]:
        y = make_labels(tables, ref_date, horizon_days=horizon).reindex(X_ref.index).dropna()
    else:
        y = pd.Series(np.zeros(0, dtype=np.int8), index=X_ref.index[:0], name="early_leaving")
    outcomes, update = None, None
    n_pos = int((y == 1).sum())
    if min(n_pos, len(y) - n_pos) >= MIN_OUTCOMES:
        # the outcome rows of check(X_ref[y], X_ref[y], outcomes=y): no drift of a
        # cohort against itself, no second prediction
        p_out = p_ref[X_ref.index.get_indexer(y.index)]
        k = resolve_capacity(len(y), top_fraction=0.05 if top_fraction is None else top_fraction,
                             func="monitor.check")  # check's own default: the high tier
        outcomes = outcome_findings(y.astype(int).to_numpy(dtype="float64"), p_out, k=k,
                                    thresholds=thresholds, random_state=random_state)
        outcomes.loc[outcomes["level"] == "outcome", "name"] = f"cohort {ref_date.date()}"
    report = _decide(inputs, outcomes, list(model.feature_names_), calibrated=True)
    if outcomes is None and len(y) == 0:
        report.notes.append(f"The outcomes of the reference cohort of {ref_date.date()} are not "
                            f"known yet (its {horizon}-day window and the re-enrolment grace "
                            "period end after the data's last date); calibration was not "
                            "checked.")
    elif outcomes is None:
        report.notes.append(f"The reference cohort of {ref_date.date()} has {n_pos} leaver(s) "
                            f"among {len(y)} pupils with known outcomes; calibration was not "
                            f"checked (at least {MIN_OUTCOMES} of each needed).")
    # an update is fitted only on outcomes that show the miscalibration (the closed test
    # rejected the model on the reference cohort): a recalibrate that rests on today's
    # case-mix shift alone cannot be fitted on last year's outcomes, which predate the
    # shift and which the model fitted (Davis et al. 2019: each update is fitted on the
    # outcomes of the population that drifted); it waits for this cohort's outcomes
    rejected = outcomes is not None and bool(
        (outcomes["flagged"] & (outcomes["statistic"] == "recalibration_lr")).any())
    withheld = None
    if report.decision in ("update_intercept", "recalibrate") and outcomes is not None \
            and not rejected:
        withheld = "case_mix_today"
        report.notes.append(
            f"{report.decision} rests on today's case-mix shift alone: the outcomes of the "
            f"cohort of {ref_date.date()} show the model calibrated (the closed test did not "
            "reject it) and predate the shift, so no update was fitted on them; the model "
            "scores as it is until this cohort's outcomes are known.")
    if report.decision in ("update_intercept", "recalibrate") and rejected:
        a, b, _, _ = logistic_recalibration(y.to_numpy(dtype="float64"), p_out,
                                            fix_slope=report.decision == "update_intercept")
        update = {"kind": report.decision, "intercept": float(a), "slope": float(b),
                  "fitted_on": f"outcomes of the cohort of {ref_date.date()}",
                  "n": int(len(y)), "n_leavers": n_pos}
    return MonitorRun("checked", report.decision, report, ref_date,
                      message=f"decision {report.decision}", update=update,
                      update_withheld=withheld,
                      frames=(X_ref, X_cur), thresholds=thresholds, thresholds_source=source,
                      risk_current=risks[1] if risks is not None else None)


def _rule_table(X: pd.DataFrame, pupils: pd.DataFrame) -> pd.DataFrame:
    """Rule indicators, the rule score and its national and school ranks."""
    from ._baselines import RuleBaseline

    rule = RuleBaseline()
    missing = [c for _, c in rule._columns() if c not in X.columns]
    if missing:
        raise ConfigError(f"The rules need the features {missing}, which the data do not give.")
    flags = rule._flags(X).rename(columns={
        "attendance": "rule_attendance_below_90", "core_fail": "rule_failing_core_subject",
        "over_age": "rule_over_age", "liecība": "rule_lieciba"})
    score = pd.Series(rule._score(X), index=X.index, name="rule_score")
    out = pd.DataFrame({"school_id": pupils["school_id"].astype("str"),
                        "municipality_id": pupils["municipality_id"].astype("str")},
                       index=X.index).join(flags).join(score)
    out["rule_count"] = flags.sum(axis=1).astype("int64")
    rank = national_rank(score)
    out["rank_national"] = rank
    out["rank_school"] = school_rank(rank, out["school_id"])
    return out


def write_rules_only(cfg, *, X, pupils, monitor: MonitorRun, as_of, model_info, fingerprint,
                     cohort):
    """Write the rules-only output of a score run into ``cfg.out``; return the ScoreResult."""
    from pathlib import Path

    from ._atomic import atomic_output_dir
    from ._run_io import output_paths, write_manifest, write_parquet
    from ._run_score import ScoreResult
    from ._util import jsonable, riskmodel_version
    from .monitor._html import rules_only_html

    rules = _rule_table(X, pupils)
    manifest = {
        "kind": "score", "riskmodel_version": riskmodel_version(), "as_of": str(as_of.date()),
        "model": jsonable(model_info),
        "data": str(cfg.data) if cfg.data is not None else "in-memory tables",
        "data_fingerprint": fingerprint, "n_pupils": int(len(X)), "cohort": cohort,
        "monitor": monitor.manifest(),
        "config": jsonable(cfg.model_dump(mode="json", exclude={"out"})),
        "output": "rules_only", "high_tier": None,
                "rules": {"columns": [c for c in rules.columns if c.startswith("rule_")],
                          "ranking": "rule baseline (RuleBaseline score: conditions that hold, "
                                     "ties by attendance shortfall)"}}
    with atomic_output_dir(cfg.out) as tmp:
        write_parquet(X, tmp / "features.parquet")
        write_parquet(rules, tmp / "scores.parquet")
        (tmp / "report.html").write_text(rules_only_html(rules, manifest, monitor.report),
                                         encoding="utf-8")
        manifest = write_manifest(tmp, manifest)
        paths = output_paths(cfg.out, written=tmp)
    return ScoreResult(out=Path(cfg.out), paths=paths, manifest=manifest)


@dataclass
class ScoreFeatures:
    """The score run's features: today's ``X`` (sorted by pupil), and the monitor's
    reference cohort ``X_ref`` built in the same pass over the event tables (None
    when the monitor will not compare, or nobody is enrolled on its date)."""

    X: pd.DataFrame
    X_ref: pd.DataFrame | None = None
    first: pd.Timestamp | None = None


def score_features(cfg, tables, as_of, model) -> ScoreFeatures:
    """Today's features and, when the monitor will compare, the reference cohort's.

    The two dates share the passes over the event tables
    (:func:`riskmodel.features._build.build_features_at`); each frame equals
    ``build_features`` at its own date.
    """
    from .features._build import build_features_at

    as_of = pd.Timestamp(as_of)
    ref_date, first = None, None
    if getattr(cfg, "monitor", "on") != "off" and model_thresholds(model) is not None:
        first = first_enrolment(tables)
        if pd.notna(first) and as_of - YEAR > first.normalize():
            ref_date = as_of - YEAR
    X, rest = build_features_at(tables, as_of, [] if ref_date is None else [ref_date])
    X_ref = rest[0].sort_index(kind="stable") if rest and rest[0] is not None else None
    return ScoreFeatures(X.sort_index(kind="stable"), X_ref, first)


def score_monitor(cfg, tables, as_of, X, model, *, X_ref=None, first=None):
    """The score run's monitor (``cfg.monitor``: on or off)."""
    if getattr(cfg, "monitor", "on") == "off":
        return MonitorRun("off", message="--monitor off: the monitor was skipped")
    return run_monitor(tables, as_of, model, X, top_fraction=cfg.tiers.high_fraction,
                       X_ref=X_ref, first=first)


def monitor_run(*, data, as_of, model, out, codes=None, read=None, tracking_uri=None,
                top_fraction=0.05, log_mlflow=False):
    """The ``riskmodel monitor`` command: ``monitor.json`` and ``monitor.html`` into ``out``."""
    import json

    from . import tracking
    from ._atomic import atomic_output_dir, check_output_dir
    from ._checks import parse_as_of
    from ._run_io import check_as_of, load_tables, write_manifest
    from ._util import jsonable, riskmodel_version
    from .monitor._html import monitor_html

    check_output_dir(out)
    if data is None:
        raise ConfigError("The monitor needs a data folder: pass --data DIR.")
    if as_of is None:
        raise ConfigError("The monitor needs a date: pass --as-of YYYY-MM-DD.")
    as_of = parse_as_of(as_of, "monitor", "--as-of")
    tables, _ = load_tables(data, codes=codes, read=read)
    as_of = check_as_of(tables, as_of)
    resolved = tracking.resolve_model(model, tracking_uri=tracking_uri)
    res = run_monitor(tables, as_of, resolved.model, top_fraction=top_fraction,
                      require_thresholds=True)
    th = res.thresholds
    doc = {"kind": "monitor", "riskmodel_version": riskmodel_version(),
           "as_of": str(as_of.date()), "reference_date": str(res.reference_date.date()),
           "model": jsonable(resolved.info), "data": str(data),
           "data_fingerprint": tables.fingerprint(), **res.report.to_dict(),
           "update": res.update, "thresholds": {"source": res.thresholds_source,
                                                **th.to_dict()}}
    with atomic_output_dir(out) as tmp:
        (tmp / "monitor.json").write_text(json.dumps(jsonable(doc), indent=1,
                                                     ensure_ascii=False), encoding="utf-8")
        (tmp / "monitor.html").write_text(monitor_html(res.report, *res.frames, doc),
                                          encoding="utf-8")
        write_manifest(tmp, {k: doc[k] for k in ("kind", "as_of", "reference_date", "model",
                                                  "data_fingerprint", "decision")})
    if log_mlflow:
        from .monitor._tracking import log_monitor

        log_monitor(doc, out, tracking_uri=tracking_uri)
    return res, doc

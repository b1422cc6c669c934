"""The score run's monitor does each piece of work once (issue 21): the same findings.

- the reference cohort's features come from the same passes as today's
  (``build_features_at``), and equal ``build_features`` at each date;
- ``monitor.check(..., risks=)`` with the model's risks equals the check that
  predicts them itself;
- the outcome rows (``outcome_findings``) equal those of the full check of the
  outcome cohort against itself, which ``run_monitor`` used to run;
- a score run predicts each cohort once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import riskmodel as rm
from riskmodel._run_monitor import YEAR, run_monitor, thresholds_from_cohorts
from riskmodel.features._build import build_features_at
from riskmodel.monitor._check import outcome_findings

AS_OF = pd.Timestamp("2024-10-01")


@pytest.fixture(scope="module")
def world_model():
    world = rm.datasets.make_school_system(n_pupils=900, n_years=3, random_state=5)
    dates = ["2022-10-03", "2023-10-02"]
    panel = rm.build_feature_panel(world.tables, dates)
    frames = [g.droplevel(0) for _, g in panel.groupby(level=0)]
    y = rm.make_labels(world.tables, dates[0]).reindex(frames[0].index).fillna(0).astype(int)
    model = rm.RiskModel(n_estimators=20, validation=0.3, linear=False,
                         random_state=0).fit(frames[0], y)
    model.monitor_thresholds_ = thresholds_from_cohorts(frames, model, n_resamples=2)
    return world, model


def test_features_at_two_dates_equal_each_dates_own_build(world_model):
    world, _ = world_model
    ref = AS_OF - YEAR
    X, (X_ref,) = build_features_at(world.tables, AS_OF, [ref])
    pd.testing.assert_frame_equal(X, rm.build_features(world.tables, AS_OF), check_exact=True)
    pd.testing.assert_frame_equal(X_ref, rm.build_features(world.tables, ref), check_exact=True)
    # point in time: the reference frame does not change when later records are cut away
    cut = world.tables.to_dict()
    for name in ("attendance", "grades", "engagement"):
        cut[name] = cut[name][pd.to_datetime(cut[name]["date"]) < ref]
    early = rm.build_features(rm.SchoolTables(**cut), ref)
    pd.testing.assert_frame_equal(X_ref, early, check_exact=True)


def test_a_date_without_pupils_is_none_and_today_still_raises(world_model):
    world, _ = world_model
    before = pd.Timestamp("2015-01-05")  # long before the first enrolment
    X, rest = build_features_at(world.tables, AS_OF, [before])
    assert rest == [None] and len(X) > 0
    with pytest.raises(ValueError, match="No pupil is enrolled"):
        build_features_at(world.tables, before, [AS_OF])


def test_check_with_given_risks_equals_check_that_predicts(world_model):
    world, model = world_model
    X_ref = rm.build_features(world.tables, AS_OF - YEAR)
    X_cur = rm.build_features(world.tables, AS_OF)
    cols = list(model.feature_names_)
    risks = (model.predict_proba(X_ref[cols])[:, 1], model.predict_proba(X_cur[cols])[:, 1])
    th = model.monitor_thresholds_.at(AS_OF)
    a = rm.monitor.check(X_ref, X_cur, model=model, thresholds=th)
    b = rm.monitor.check(X_ref, X_cur, model=model, thresholds=th, risks=risks)
    pd.testing.assert_frame_equal(a.findings, b.findings, check_exact=True)
    assert (a.decision, a.reasons, a.notes) == (b.decision, b.reasons, b.notes)
    with pytest.raises(ValueError, match="shape"):
        rm.monitor.check(X_ref, X_cur, model=model, risks=(risks[0][:-1], risks[1]))
    with pytest.raises(ValueError, match="only with the 'model'"):
        rm.monitor.check(X_ref, X_cur, risks=risks)


def test_outcome_rows_equal_the_full_check_of_the_cohort_against_itself(world_model):
    world, model = world_model
    ref = AS_OF - YEAR
    X_ref = rm.build_features(world.tables, ref).sort_index(kind="stable")
    y = rm.make_labels(world.tables, ref, horizon_days=363).reindex(X_ref.index).dropna()
    assert 5 <= y.sum() < len(y) - 5
    X_out = X_ref.loc[y.index]
    th = model.monitor_thresholds_.at(AS_OF)
    full = rm.monitor.check(X_out, X_out, model=model, outcomes=y.astype(int), thresholds=th,
                            top_fraction=0.05).findings
    old = full[full["level"] == "outcome"].reset_index(drop=True)
    p_all = model.predict_proba(X_ref[list(model.feature_names_)])[:, 1]
    p = p_all[X_ref.index.get_indexer(y.index)]
    # a row's risk does not depend on the other rows predicted with it
    np.testing.assert_array_equal(p, model.predict_proba(X_out)[:, 1])
    k = rm._checks.resolve_capacity(len(y), top_fraction=0.05)
    new = outcome_findings(y.to_numpy(dtype="float64"), p, k=k, thresholds=th)
    pd.testing.assert_frame_equal(old, new, check_exact=True)
    assert len(new) == 6 and new["p_value"].notna().all()


def test_run_monitor_reports_what_the_two_full_checks_reported(world_model):
    """The findings, decision and notes of the former run_monitor (two full checks)."""
    world, model = world_model
    ref = AS_OF - YEAR
    res = run_monitor(world.tables, AS_OF, model, top_fraction=0.05)
    X_ref = rm.build_features(world.tables, ref).sort_index(kind="stable")
    X_cur = rm.build_features(world.tables, AS_OF).sort_index(kind="stable")
    th = res.thresholds
    kw = {"model": model, "thresholds": th, "top_fraction": 0.05, "random_state": 0}
    inputs = rm.monitor.check(X_ref, X_cur, **kw)
    y = rm.make_labels(world.tables, ref, horizon_days=363).reindex(X_ref.index).dropna()
    X_out = X_ref.loc[y.index]
    of = rm.monitor.check(X_out, X_out, outcomes=y.astype(int), **kw).findings
    of = of[of["level"] == "outcome"].copy()
    of["name"] = f"cohort {ref.date()}"
    expected = pd.concat([inputs.findings, of], ignore_index=True)
    pd.testing.assert_frame_equal(res.report.findings, expected, check_exact=True)
    assert res.report.notes == [n for n in inputs.notes if not n.startswith("No outcomes")]
    np.testing.assert_array_equal(res.risk_current, model.predict_proba(X_cur)[:, 1])


def test_a_score_run_predicts_each_cohort_once(world_model, tmp_path, monkeypatch):
    world, model = world_model
    from riskmodel.pipeline import score_run

    calls = []
    predict = model.predict_proba

    def counted(X):
        calls.append(len(X))
        return predict(X)

    monkeypatch.setattr(model, "predict_proba", counted)
    res = score_run({"as_of": str(AS_OF.date()), "out": str(tmp_path / "out"),
                     "allocate": False}, tables=world.tables, model=model)
    assert res.manifest["monitor"]["status"] == "checked"
    n_ref = len(rm.build_features(world.tables, AS_OF - YEAR))
    assert calls == [n_ref, res.manifest["n_pupils"]]
    scores = pd.read_parquet(res.paths["scores"])
    X = pd.read_parquet(res.paths["features"])
    expected = res.manifest["monitor"]["update"]
    if expected is None:  # the risks written are the model's own
        np.testing.assert_array_equal(scores["risk"].to_numpy(), predict(X)[:, 1])


def test_a_reference_cohort_without_known_outcomes_is_a_note_not_a_warning(world_model, caplog):
    """The demo's case: the reference cohort's outcome window closes after the data end."""
    import logging

    world, model = world_model
    as_of = pd.Timestamp("2025-05-02")
    caplog.set_level(logging.WARNING)
    res = run_monitor(world.tables, as_of, model, top_fraction=0.05)
    assert not [r for r in caplog.records if r.name == "riskmodel.labels"]
    note = [n for n in res.report.notes if "are not known yet" in n]
    assert note == [f"The outcomes of the reference cohort of {(as_of - YEAR).date()} are not "
                    "known yet (its 363-day window and the re-enrolment grace period end after "
                    "the data's last date); calibration was not checked."]
    rm.make_labels(world.tables, as_of - YEAR, horizon_days=363)  # a direct call still warns
    assert [r for r in caplog.records if r.name == "riskmodel.labels"]

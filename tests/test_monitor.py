"""Tests of riskmodel.monitor: drift statistics, availability, the score, outcomes, the ladder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.special import expit, logit

import riskmodel as rm
from riskmodel.monitor._drift import bin_counts, js_distance, psi


@pytest.fixture(scope="module")
def frames():
    """Feature frames at mid-January of four consecutive school years (2,000 pupils)."""
    world = rm.datasets.make_school_system(n_pupils=2000, n_years=4, random_state=0)
    dates = [f"{y}-01-15" for y in (2023, 2024, 2025, 2026)]
    panel = rm.build_feature_panel(world.tables, dates)
    out = [g.droplevel(0) for _, g in panel.groupby(level=0)]
    out[0].attrs["world"] = world
    return out


@pytest.fixture(scope="module")
def thresholds(frames, model):
    return rm.monitor.calibrate_thresholds(frames, model=model, n_resamples=5, random_state=0)


@pytest.fixture(scope="module")
def model(frames):
    world = frames[0].attrs["world"]
    X = frames[1]
    y = rm.make_labels(world.tables, "2024-01-15").reindex(X.index).fillna(0).astype(int)
    return rm.RiskModel(n_estimators=40, validation=0.3, linear=False, random_state=0).fit(X, y)


# ------------------------------------------------------------------ statistics by hand
def test_psi_and_js_by_hand():
    rc, cc = bin_counts(np.array([0.0, 1, 2, 3]), np.array([3.0, 3, np.nan]), n_bins=2)
    assert rc.tolist() == [2, 2, 0] and cc.tolist() == [0, 2, 1]
    r = (rc + 0.5) / (4 + 1.5)
    c = (cc + 0.5) / (3 + 1.5)
    assert psi(rc, cc) == pytest.approx(np.sum((c - r) * np.log(c / r)))
    assert psi(np.array([50, 50]), np.array([25, 75])) == pytest.approx(
        (25.5 / 101 - 0.5) * np.log(25.5 / 50.5) + (75.5 / 101 - 0.5) * np.log(75.5 / 50.5))
    assert js_distance(rc, cc) == pytest.approx(jensenshannon(rc, cc, base=2))
    assert psi(rc, rc) == 0.0 and js_distance(rc, rc) == 0.0


def test_out_of_range_and_missing_share():
    ref = pd.DataFrame({"a": np.arange(100.0)})
    cur = pd.DataFrame({"a": np.r_[np.arange(80.0), np.full(10, 500.0), np.full(10, np.nan)]})
    f = rm.monitor.check(ref, cur).findings.set_index("statistic")
    assert f.loc["out_of_range_share", "value"] == pytest.approx(10 / 90)
    assert f.loc["missing_share_change", "value"] == pytest.approx(0.1)
    assert f.loc["out_of_range_share", "flagged"]


# ------------------------------------------------------------------ the ladder on real frames
def test_identical_frames_keep(frames, model):
    report = rm.monitor.check(frames[1], frames[1], model=model)
    assert report.decision == "keep" and report.reasons == []
    assert not report.findings["flagged"].any()
    feat = report.findings[report.findings["level"] == "feature"]
    assert (feat.loc[feat["statistic"] == "psi", "value"] == 0).all()
    assert set(report.findings["level"]) == {"feature", "domain", "score", "outcome"}


def test_shifted_feature_is_flagged(frames):
    ref = frames[1]
    cur = ref.assign(grade_mean_ytd=ref["grade_mean_ytd"] + 2 * ref["grade_mean_ytd"].std())
    report = rm.monitor.check(ref, cur)
    assert report.decision != "keep"
    flagged = set(report.flagged()["name"])
    assert flagged == {"grade_mean_ytd"}
    assert report.by_feature().loc["grade_mean_ytd", "flagged"]
    assert report.by_feature().index[0] == "grade_mean_ytd"  # sorted by PSI, flagged first


def test_emptied_domain_rules_only(frames, model):
    eng = rm.features.registry().query("domain == 'engagement'").index
    cur = frames[2].copy()
    cur[eng.intersection(cur.columns)] = np.nan
    report = rm.monitor.check(frames[1], cur, model=model)
    assert report.decision == "rules_only"
    dom = report.findings.query("level == 'domain' and name == 'engagement'").set_index(
        "statistic")
    assert dom.loc["all_missing_share_change", "flagged"]
    assert dom.loc["all_missing_share_change", "value"] > 0.9
    assert any("engagement" in r for r in report.reasons)


def test_records_drop_is_a_domain_finding(frames, thresholds):
    counts = ["parent_logins_28d", "parent_logins_90d", "messages_read_28d", "messages_read_90d"]
    cur = frames[3].copy()
    cur[counts] = cur[counts] * 0.3  # records keep coming, far fewer of them
    report = rm.monitor.check(frames[2], cur)
    row = report.findings.query("level == 'domain' and name == 'engagement' and "
                                "statistic == 'records_per_pupil_ratio'").iloc[0]
    assert row["value"] < 0.5 and row["flagged"]
    # uncalibrated, only a domain gone empty outright breaks the inputs: a shift otherwise
    assert report.decision == "recalibrate"
    report = rm.monitor.check(frames[2], cur, thresholds=thresholds)
    assert report.decision == "rules_only"
    assert any("engagement: records_per_pupil_ratio" in r for r in report.reasons)


def _simulated_outcomes(p, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random(len(p)) < expit(logit(p) + shift)).astype(int)


def test_outcomes_calibrated_keep_and_shifted_base_rate(frames, model):
    X = frames[1]
    p = model.predict_proba(X)[:, 1]
    # outcomes drawn from the model's own probabilities: a false alarm now and then only
    decisions = []
    for seed in range(20):
        y = pd.Series(_simulated_outcomes(p, 0.0, seed), index=X.index)
        decisions.append(rm.monitor.check(X, X, model=model, outcomes=y, n_boot=100,
                                          random_state=seed).decision)
    assert decisions.count("keep") >= 16, decisions
    # the base rate moves (a logit shift of +1.2 of every pupil): O/E off, slope fine
    y2 = pd.Series(_simulated_outcomes(p, 1.2), index=X.index)
    report = rm.monitor.check(X, X, model=model, outcomes=y2, n_boot=200)
    out = report.findings.query("level == 'outcome'").set_index("statistic")
    assert report.decision == "update_intercept", report.reasons
    assert out.loc["observed_expected", "value"] > 1.5 and out.loc["observed_expected", "flagged"]
    assert out.loc["calibration_intercept", "value"] == pytest.approx(1.2, abs=0.4)
    assert not out.loc["calibration_slope", "flagged"]


def test_randomised_association_refit(frames, model):
    X = frames[1]
    p = model.predict_proba(X)[:, 1]
    y = _simulated_outcomes(p, 0.0)
    y = np.random.default_rng(1).permutation(y)  # outcomes no longer follow the risk
    report = rm.monitor.check(X, X, model=model, outcomes=y, n_boot=200)
    out = report.findings.query("level == 'outcome'").set_index("statistic")
    assert report.decision == "refit", report.reasons
    assert out.loc["auc", "flagged"] and out.loc["auc", "value"] < 0.65


def test_without_outcomes_expected_precision_is_an_estimate(frames, model):
    report = rm.monitor.check(frames[1], frames[1], model=model, top_k=50)
    row = report.findings.query("statistic == 'expected_precision_at_k'").iloc[0]
    p = np.sort(model.predict_proba(frames[1])[:, 1])[::-1][:50]
    assert row["value"] == pytest.approx(p.mean()) and row["n"] == 50
    assert "covariate shift" in row["note"] and not row["flagged"]
    tiers = report.findings.query("level == 'score'").set_index("statistic")
    assert tiers.loc["high_tier_share", "value"] == pytest.approx(
        tiers.loc["high_tier_share", "expected"])


def test_calibrated_thresholds_stable_pair_keep(frames, model, thresholds):
    th = thresholds
    t = th.table
    psi_rows = t[t["statistic"] == "psi"]
    assert len(psi_rows) == frames[0].shape[1] and np.isfinite(psi_rows["threshold"]).all()
    assert (psi_rows["inflation"] >= 1).all()
    # 3 pairs x (the pair + 5 resamples); fewer where a statistic is undefined (no values)
    assert th.n_pairs == 3 and (psi_rows["n_values"] == 3 * 6).all()
    assert t["n_values"].between(6, 18).all()
    back = rm.monitor.MonitorThresholds.from_dict(json.loads(json.dumps(th.to_dict())))
    pd.testing.assert_frame_equal(back.table, th.table, check_dtype=False)
    report = rm.monitor.check(frames[2], frames[3], model=model, thresholds=th)
    assert report.calibrated and report.decision == "keep", report.reasons
    # the same pair, uncalibrated, flags the year-to-year drift of school-level features
    assert rm.monitor.check(frames[2], frames[3], model=model).decision != "keep"


def test_to_dict_is_json_and_suppresses_small_cells(frames, model):
    report = rm.monitor.check(frames[1], frames[2], model=model, top_k=5)
    d = json.loads(json.dumps(report.to_dict()))
    assert d["decision"] == report.decision and d["min_cell"] == 10
    small = [r for r in d["findings"] if r["statistic"] == "expected_precision_at_k"][0]
    assert small["value"] is None and small["n"] is None
    summary = report.summary()
    assert summary["n_checked"].sum() == len(report.findings)


# ------------------------------------------------------------------ bad input
def test_bad_input():
    a = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(rm.DataValidationError, match="no column in common"):
        rm.monitor.check(a, pd.DataFrame({"y": [1.0]}))
    with pytest.raises(rm.DataValidationError, match="'current'.*no rows"):
        rm.monitor.check(a, a.iloc[:0])
    with pytest.raises(rm.DataValidationError, match="school_name") as err:
        rm.monitor.check(a.assign(school_name=["a", "b"]), a.assign(school_name=["a", "b"]))
    assert err.value.problems[0]["column"] == "school_name"
    with pytest.raises(ValueError, match="'model'"):
        rm.monitor.check(a, a, outcomes=[0, 1])
    with pytest.raises(ValueError, match="at least 2"):
        rm.monitor.calibrate_thresholds([a])
    with pytest.raises(ValueError, match="fdr"):
        rm.monitor.check(a, a, fdr=2)
    with pytest.raises(ValueError, match="flat index"):
        rm.monitor.calibrate_thresholds(a)
    with pytest.raises(ValueError, match="Not a monitor thresholds dict"):
        rm.monitor.MonitorThresholds.from_dict({"thresholds": []})
    with pytest.raises(ValueError, match="thresholds"):
        rm.monitor.check(a, a, thresholds={"quantile": 0.99})


def test_calibrate_thresholds_from_a_panel(frames):
    panel = pd.concat({pd.Timestamp(f"{y}-01-15"): f for y, f in zip((2024, 2025, 2026),
                                                                       frames[1:])},
                      names=["as_of", "pupil_id"])
    th = rm.monitor.calibrate_thresholds(panel, n_resamples=2, random_state=1)
    listed = rm.monitor.calibrate_thresholds(frames[1:], n_resamples=2, random_state=1)
    pd.testing.assert_frame_equal(th.table, listed.table)


def test_bootstrap_intervals_match_plain_resampling():
    from sklearn.metrics import roc_auc_score

    from riskmodel.monitor._score import outcome_statistics

    rng = np.random.default_rng(3)
    for digits in (None, 2):  # continuous scores, and tied ones
        p = rng.beta(1, 12, 1500)
        p = np.round(p, digits) if digits else p
        y = (rng.random(1500) < p).astype(float)
        ours = outcome_statistics(y, p, k=100, n_boot=1000, confidence=0.9, random_state=0)
        ours = ours.set_index("statistic")
        top = np.argsort(-p, kind="stable")[:100]
        plain = []
        for _ in range(1000):
            i = rng.integers(0, 1500, 1500)
            plain.append((y[i].sum() / p[i].sum(), roc_auc_score(y[i], p[i]),
                          y[i][np.isin(i, top)].mean()))
        lo, hi = np.quantile(plain, [0.05, 0.95], axis=0)
        for j, stat in enumerate(["observed_expected", "auc", "precision_at_k"]):
            width = hi[j] - lo[j]
            assert ours.loc[stat, "low"] == pytest.approx(lo[j], abs=0.1 * width)
            assert ours.loc[stat, "high"] == pytest.approx(hi[j], abs=0.1 * width)
        assert ours.loc["auc", "value"] == pytest.approx(roc_auc_score(y, p))

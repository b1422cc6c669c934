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
    rc, cc = bin_counts(np.array([0.0, 1, 2, 3]), np.array([3.0, 3, np.nan]), n_bins=2,
                        soft=False)
    assert rc.tolist() == [2, 2, 0] and cc.tolist() == [0, 2, 1]
    r = (rc + 0.5) / (4 + 1.5)
    c = (cc + 0.5) / (3 + 1.5)
    assert psi(rc, cc) == pytest.approx(np.sum((c - r) * np.log(c / r)))
    assert psi(np.array([50, 50]), np.array([25, 75])) == pytest.approx(
        (25.5 / 101 - 0.5) * np.log(25.5 / 50.5) + (75.5 / 101 - 0.5) * np.log(75.5 / 50.5))
    assert js_distance(rc, cc) == pytest.approx(jensenshannon(rc, cc, base=2))
    assert psi(rc, rc) == 0.0 and js_distance(rc, rc) == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bin_counts_sorts_once_yet_cuts_as_the_separate_steps(seed):
    """bin_counts sorts the reference once and takes all its quantiles in one call
    (issue 21); its cuts and width are exactly those of _cuts and resolution, whose
    own quantile calls see the unsorted values: ties, lattices, signed zeros, NaN."""
    from riskmodel.monitor._drift import _cuts, _cuts_and_width, _sorted_values, resolution

    rng = np.random.default_rng(seed)
    n = 5_000
    columns = [rng.normal(size=n), rng.integers(0, 20, n) / 19.0,
               np.where(rng.random(n) < 0.3, np.nan, rng.exponential(size=n)),
               np.full(n, 2.5), np.where(rng.random(n) < 0.5, 0.0, -0.0),
               rng.normal(size=3), np.full(4, np.nan)]
    for ref in columns:
        for n_bins in (2, 10):
            cuts, width = _cuts_and_width(_sorted_values(ref), n_bins, soft=True)
            assert np.array_equal(cuts, _cuts(ref, n_bins))
            assert width == resolution(ref, n_bins)
            hard, zero = _cuts_and_width(_sorted_values(ref), n_bins, soft=False)
            assert np.array_equal(hard, cuts) and zero == 0.0


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


# ------------------------------------------------------------ the runs (issue 19, item 2)
from riskmodel._run_monitor import MonitorRun, run_monitor, thresholds_from_cohorts  # noqa: E402
from riskmodel.cli import main  # noqa: E402

AS_OF = "2024-10-01"


@pytest.fixture(scope="module")
def run_world():
    """A 3-year system, a model with thresholds from its first two October cohorts."""
    world = rm.datasets.make_school_system(n_pupils=1500, n_years=3, random_state=2)
    dates = ["2022-10-03", "2023-10-02"]
    panel = rm.build_feature_panel(world.tables, dates)
    frames = [g.droplevel(0) for _, g in panel.groupby(level=0)]
    y = rm.make_labels(world.tables, dates[0]).reindex(frames[0].index).fillna(0).astype(int)
    model = rm.RiskModel(n_estimators=30, validation=0.3, linear=False,
                         random_state=0).fit(frames[0], y)
    model.monitor_thresholds_ = thresholds_from_cohorts(frames, model, n_resamples=3)
    return world, model


@pytest.fixture(scope="module")
def folders(run_world, tmp_path_factory):
    world, model = run_world
    root = tmp_path_factory.mktemp("monitor_runs")
    rm.write_tables(world.tables, root / "data")
    model.save(root / "model")
    outage = rm.datasets.apply_regime_changes(world, [{
        "kind": "engagement_outage", "year": 2024, "months": [9], "share": 1.0}])
    rm.write_tables(outage.tables, root / "outage")
    return root


def test_thresholds_travel_with_the_model_file(run_world, folders):
    _, model = run_world
    loaded = rm.RiskModel.load(folders / "model")
    th = rm.monitor.MonitorThresholds.from_dict(loaded.monitor_thresholds_)
    assert th.table.equals(model.monitor_thresholds_.table)


def test_older_model_file_loads_and_the_monitor_says_thresholds_are_missing(folders, tmp_path,
                                                                             run_world):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(folders / "model", old)
    meta = json.loads((old / "riskmodel.json").read_text())
    del meta["monitor_thresholds"]
    (old / "riskmodel.json").write_text(json.dumps(meta))
    model = rm.RiskModel.load(old)
    assert model.monitor_thresholds_ is None
    res = run_monitor(run_world[0].tables, AS_OF, model)
    assert res.status == "no_thresholds" and "thresholds" in res.message
    assert res.decision is None and res.apply(pd.Series([0.2])).tolist() == [0.2]


def test_cli_monitor_writes_json_and_html(folders, tmp_path, capsys):
    out = tmp_path / "mon"
    code = main(["monitor", "--data", str(folders / "data"), "--as-of", AS_OF,
                 "--model", str(folders / "model"), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    doc = json.loads((out / "monitor.json").read_text())
    assert doc["decision"] in rm.monitor.DECISIONS
    assert doc["reference_date"] == "2023-10-03"  # 52 weeks back, the same weekday
    assert doc["thresholds"]["n_pairs"] == 1 and len(doc["thresholds"]["thresholds"]) > 100
    # one pair is too few: the documented minimum effect sizes apply, and it says why
    assert "1 stable year pair" in doc["thresholds"]["floored"]
    assert doc["thresholds"]["floors"] == rm.monitor.FLOORS
    assert any("FLOORS" in n for n in doc["notes"])
    levels = {f["level"] for f in doc["findings"]}
    assert {"feature", "domain", "score", "outcome"} <= levels
    names = {f["name"] for f in doc["findings"] if f["level"] == "outcome"}
    assert "cohort 2023-10-03" in names  # the latest outcomes: last year's cohort
    page = (out / "monitor.html").read_text()
    assert "Monitor decision: " + doc["decision"] in page
    assert "<script" not in page and "http" not in page  # offline, no CDN


def test_cli_monitor_on_an_outage_plots_and_decides_rules_only(folders, tmp_path, capsys):
    out = tmp_path / "mon"
    assert main(["monitor", "--data", str(folders / "outage"), "--as-of", AS_OF,
                 "--model", str(folders / "model"), "--out", str(out)]) == 0
    doc = json.loads((out / "monitor.json").read_text())
    assert doc["decision"] == "rules_only"
    assert any("domain engagement" in r for r in doc["reasons"])
    page = (out / "monitor.html").read_text()
    assert page.count("<img") >= 1 and "data:image/png;base64," in page
    assert "rules_only" in capsys.readouterr().out


def test_score_on_rules_only_writes_no_tiers(run_world, folders, tmp_path):
    from riskmodel.pipeline import score_run

    world, model = run_world
    outage = rm.read_tables(folders / "outage")
    res = score_run({"as_of": AS_OF, "out": str(tmp_path / "s"), "allocate": False},
                    tables=outage, model=model)
    m = res.manifest
    assert m["monitor"]["decision"] == "rules_only" and m["output"] == "rules_only"
    scores = pd.read_parquet(res.paths["scores"])
    assert "tier" not in scores and "risk" not in scores
    assert {"rule_attendance_below_90", "rule_failing_core_subject", "rule_over_age",
            "rule_lieciba", "rule_score", "rank_national"} <= set(scores.columns)
    X = pd.read_parquet(res.paths["features"])
    expect = rm.RuleBaseline().fit(X, np.zeros(len(X), int) | (np.arange(len(X)) == 0))
    assert np.allclose(scores["rule_score"], expect.decision_function(X))
    assert scores["rank_national"].min() == 1 and scores["rank_national"].is_unique
    top = scores.sort_values("rank_national")["rule_score"].to_numpy()
    assert (np.diff(top) <= 0).all()
    assert (scores["rule_attendance_below_90"] == (X["attendance_rate_90d"] < 0.9)).all()
    page = res.paths["report"].read_text()
    assert "No risk scores in this run" in page and "rules_only" in page


def test_score_records_the_monitor_or_that_it_was_off(folders, tmp_path, capsys):
    args = ["score", "--data", str(folders / "data"), "--as-of", AS_OF, "--model",
            str(folders / "model"), "--no-allocate"]
    assert main([*args, "--out", str(tmp_path / "on")]) == 0, capsys.readouterr().err
    on = json.loads((tmp_path / "on" / "manifest.json").read_text())["monitor"]
    assert on["status"] == "checked" and on["decision"] in rm.monitor.DECISIONS
    assert on["reference_date"] == "2023-10-03"
    assert on["thresholds"]["n_pairs"] == 1 and on["thresholds"]["floored"]
    assert on["thresholds"]["source"] == "stored with the model"
    assert main([*args, "--out", str(tmp_path / "off"), "--monitor", "off"]) == 0
    off = json.loads((tmp_path / "off" / "manifest.json").read_text())["monitor"]
    assert off["status"] == "off" and off["decision"] is None
    s = pd.read_parquet(tmp_path / "off" / "scores.parquet")
    assert "tier" in s


def test_the_update_is_applied_to_the_risk():
    run = MonitorRun("checked", "update_intercept",
                     update={"kind": "update_intercept", "intercept": np.log(2.0), "slope": 1.0})
    p = pd.Series([0.1, 0.5], index=["a", "b"])
    odds = run.apply(p) / (1 - run.apply(p))
    assert np.allclose(odds, 2 * p / (1 - p))


def test_a_case_mix_shift_today_recalibrates_nothing_on_last_years_outcomes(run_world):
    """A grading reform from this school year shifts today's inputs; last year's cohort
    (before the reform) is calibrated on its outcomes. ``recalibrate`` is recommended, but
    no update is fitted on outcomes that predate the shift (Davis et al.: an update is
    fitted on the outcomes of the population that shifted)."""
    from riskmodel.report import score_report_html

    world, model = run_world
    reform = rm.datasets.apply_regime_changes(world, [{"kind": "grading_reform",
                                                       "year": 2024}])
    res = run_monitor(reform.tables, AS_OF, model)
    flagged = res.report.flagged()
    assert res.decision == "recalibrate", res.report.reasons
    assert (flagged["level"] == "feature").any()
    assert not (flagged["level"] == "outcome").any()  # last year's calibration held
    assert res.update is None and res.update_withheld == "case_mix_today"
    assert res.apply(pd.Series([0.2, 0.7])).tolist() == [0.2, 0.7]
    assert all("predate" in r for r in res.report.reasons)
    entry = res.manifest()
    assert entry["update"] is None and entry["update_withheld"] == "case_mix_today"
    assert "could not correct it" in entry["action"]
    scores = pd.DataFrame({"risk": [0.1, 0.6], "tier": pd.Categorical(["low", "high"]),
                           "municipality_id": "M1"})
    page = score_report_html(scores=scores, manifest={"as_of": AS_OF, "monitor": entry})
    assert "predate the shift" in page and "pirms šīm pārmaiņām" in page
    # the same model on the unchanged world: no update withheld, nothing flagged today
    stable = run_monitor(world.tables, AS_OF, model)
    assert stable.update_withheld is None


def test_an_outcome_shift_gives_update_intercept_with_its_update():
    # past the system's warm-up (2-year and 3-year histories fill up by 2022), a model
    # without the school-level context features (their 3-year rates move for years)
    kw = {"n_pupils": 2000, "n_years": 5, "random_state": 4, "start_year": 2020}
    base = rm.datasets.make_school_system(**kw)
    shifted = rm.datasets.make_school_system(**kw, regime_changes=[
        {"kind": "outcome_shift", "year": 2023, "log_hazard_shift": 0.8}])
    dates = ["2021-10-01", "2022-10-03", "2023-10-02"]
    frames = [g.droplevel(0) for _, g in
              rm.build_feature_panel(base.tables, dates).groupby(level=0)]
    frames = [f[[c for c in f.columns if not c.startswith(("school_", "municipality_"))]]
              for f in frames]
    y = [rm.make_labels(base.tables, d).reindex(f.index).fillna(0).astype(int)
         for d, f in zip(dates[:2], frames[:2])]
    model = rm.RiskModel(random_state=0).fit(pd.concat(frames[:2]), pd.concat(y))
    th = thresholds_from_cohorts(frames, model, n_resamples=3)
    assert th.n_pairs == 1  # the first year is dropped
    res = run_monitor(shifted.tables, AS_OF, model, thresholds=th)
    f = res.report.flagged().set_index("statistic")
    assert f.loc["observed_expected", "value"] > 1.3
    assert f.loc["calibration_intercept", "value"] > 0.2
    # the rung of the outcome rate, or above it: a doubled hazard also saturates at the
    # generator's hazard cap for the riskiest pupils, which can lower the attainable AUC
    assert res.decision in ("update_intercept", "refit"), res.report.reasons
    assert "calibration_slope" not in f.index
    if res.decision == "update_intercept":
        assert res.update["slope"] == 1.0 and res.update["intercept"] > 0.2
    # without the shift the outcomes agree with the model (the inputs' false-alarm rate
    # over many worlds is a figure of benchmarks/bench_regimes.py)
    stable = run_monitor(base.tables, AS_OF, model, thresholds=th).report.flagged()
    assert not stable["statistic"].isin(["observed_expected", "calibration_intercept"]).any()


@pytest.mark.parametrize("case", ["no_thresholds", "bad_as_of", "broken_data", "no_history"])
def test_cli_monitor_bad_input_exits_2_with_one_line(case, folders, tmp_path, capsys, run_world):
    data, as_of, model = folders / "data", AS_OF, folders / "model"
    if case == "no_thresholds":
        bare = rm.RiskModel.load(model)
        bare.monitor_thresholds_ = None
        model = bare.save(tmp_path / "bare")
    elif case == "bad_as_of":
        as_of = "2024-13-01"
    elif case == "broken_data":
        import shutil

        data = tmp_path / "broken"
        shutil.copytree(folders / "data", data)
        (data / "grades.parquet").write_bytes(b"not parquet")
    else:
        as_of = "2023-06-01"  # a year before is before the first enrolment
    code = main(["monitor", "--data", str(data), "--as-of", as_of, "--model", str(model),
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("riskmodel: error: ") and err.count("\n") == 1
    assert {"no_thresholds": "thresholds", "bad_as_of": "as-of", "broken_data": "grades",
            "no_history": "year of history"}[case] in err
    assert not (tmp_path / "out").exists()


def test_cli_monitor_logs_an_mlflow_run_of_aggregates(folders, tmp_path, capsys):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "mon"
    assert main(["monitor", "--data", str(folders / "outage"), "--as-of", AS_OF, "--model",
                 str(folders / "model"), "--out", str(out), "--tracking-uri", uri]) == 0, \
        capsys.readouterr().err
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["riskmodel-monitor"])
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["params.decision"] == "rules_only" and run["tags.riskmodel.kind"] == "monitor"
    assert run["metrics.monitor_flagged_domain"] >= 1
    client = mlflow.MlflowClient(uri)
    names = {a.path for a in client.list_artifacts(run["run_id"])}
    assert {"monitor.json", "monitor.html"} <= names
    from pathlib import Path

    path = client.download_artifacts(run["run_id"], "monitor.json", str(tmp_path))
    logged = json.loads(Path(path).read_text())
    assert logged["decision"] == "rules_only" and logged["min_cell"] == 10
    assert "pupil_id" not in json.dumps(logged)  # aggregates only


def test_train_run_stores_thresholds_from_its_cohorts(tmp_path):
    from riskmodel.pipeline import train_run

    res = train_run({"synthetic": {"n_pupils": 1000, "n_years": 3}, "n_boot": 20,
                     "tracking": {"enabled": False}, "audit": {"enabled": False},
                     "baselines": ["rule"], "save_model": str(tmp_path / "m")})
    th = res.model.monitor_thresholds_
    assert th.n_pairs == len(res.train_dates) - 1 == 1
    assert set(th.table["level"]) >= {"feature", "domain", "score"}
    loaded = rm.RiskModel.load(tmp_path / "m").monitor_thresholds_
    assert loaded == th.to_dict()


def test_the_outcome_history_moving_with_the_rate_is_no_case_mix_shift():
    from riskmodel.monitor._decision import decide

    def rows(*spec):
        return pd.DataFrame([{"level": lv, "name": n, "statistic": s, "value": 1.5,
                              "expected": 1.0, "threshold": np.nan, "p_adjusted": 0.001,
                              "flagged": True} for lv, n, s in spec])

    oe = ("outcome", "cohort 2025-10-01", "observed_expected")
    echo = ("feature", "municipality_leaving_rate_3y", "psi")
    other = ("feature", "attendance_rate_90d", "psi")
    decision, reasons = decide(rows(oe, echo), has_outcomes=False, calibrated=True)
    assert decision == "update_intercept" and "own history" in reasons[-1]
    assert decide(rows(oe, echo, other), has_outcomes=False, calibrated=True)[0] == "recalibrate"
    assert decide(rows(echo), has_outcomes=False, calibrated=True)[0] == "recalibrate"


def test_lattice_of_different_denominators_is_not_drift():
    """Rates k/20 and k/19 of the same attendance probability are one distribution; cut
    points between distinct reference values keep them in the same bins, while a real
    shift of the probability still gives a large PSI."""
    from riskmodel.monitor._drift import bin_counts, psi

    rng = np.random.default_rng(0)
    ref = rng.binomial(20, 0.9, 20_000) / 20
    same = rng.binomial(19, 0.9, 20_000) / 19
    shifted = rng.binomial(19, 0.8, 20_000) / 19
    # with a cut at 18/20 = 0.9 itself, 17/19 = 0.895 fell below it: PSI was 2.6
    assert psi(*bin_counts(ref, same)) < 0.01
    assert psi(*bin_counts(ref, shifted)) > 1.0


def test_atoms_a_hair_apart_moving_with_the_calendar_are_little_drift():
    """Attendance rates ``1 - missed days * L / lessons`` over a window of 20 school days
    and then 19 (L lessons a day, a lesson or two more for some pupils): atoms of mass a
    hair apart move by one day's share. Hard quantile bins split the atoms (PSI > 1, as the
    demo's attendance_rate_28d had 0.72); soft bins at the central range's resolution
    count the move for little, while more missed days still count."""
    rng = np.random.default_rng(0)

    def rates(days, p, size=20_000):
        lessons = rng.choice([5, 6, 7], size)
        n = days * lessons + rng.choice([0, 1, 2], size)
        missed = np.minimum(rng.geometric(1 - p, size) - 1, days)
        return 1 - missed * lessons / n

    ref, same, shifted = rates(20, 0.5), rates(19, 0.5), rates(19, 0.65)
    assert psi(*bin_counts(ref, same, soft=False)) > 1.0
    soft_same, soft_shift = psi(*bin_counts(ref, same)), psi(*bin_counts(ref, shifted))
    assert soft_same < 0.15 and soft_shift > 3 * soft_same


@pytest.mark.parametrize("decision,update,en,lv", [
    ("update_intercept", {"intercept": 0.4, "slope": 1.0}, "intercept was updated",
     "brīvais loceklis ir atjaunināts"),
    ("recalibrate", {"intercept": 0.1, "slope": 0.8}, "Recalibrated on the latest outcomes",
     "Pārkalibrēts"),
    ("recalibrate", None, "recommends a recalibration", "iesaka pārkalibrēšanu"),
    ("refit", None, "Refit due", "pārapmācība"),
])
def test_score_report_banner_says_what_the_monitor_did(decision, update, en, lv):
    from riskmodel.report import score_report_html

    risk = np.linspace(0.01, 0.6, 200)
    tier = pd.Categorical(np.where(risk > 0.5, "high", "low"), categories=["high", "low"])
    scores = pd.DataFrame({"risk": risk, "tier": tier, "municipality_id": "M1"})
    mon = {"decision": decision, "update": update, "reasons": ["outcome x: auc = 0.6<1"]}
    page = score_report_html(scores=scores, manifest={"as_of": "2025-10-01", "monitor": mon})
    assert en in page and lv in page and "auc = 0.6&lt;1" in page  # escaped
    for keep in ({"decision": "keep", "update": None}, {"status": "off", "decision": None}):
        page = score_report_html(scores=scores, manifest={"as_of": "2025-10-01",
                                                          "monitor": keep})
        assert 'class="banner' not in page


def test_thresholds_state_their_pairs_season_and_floors():
    rng = np.random.default_rng(1)
    years = [pd.DataFrame({"a": rng.normal(size=400), "b": rng.integers(0, 3, 400)})
             for _ in range(4)]
    dates = ["2021-10-04", "2022-10-03", "2023-10-02", "2024-09-30"]
    th = rm.monitor.calibrate_thresholds(years, n_resamples=3, dates=dates)
    assert th.n_pairs == 3 and th.dates == dates
    assert th.at("2025-10-06").floored() is None  # three pairs, in season
    why = th.at("2025-05-02").floored()
    assert "another time of year than 2025-05-02" in why
    short = rm.monitor.calibrate_thresholds(years[:2], n_resamples=3, dates=dates[:2])
    assert "1 stable year pair(s), fewer than 3" in short.floored()
    # every threshold is at least its floor; the history raises some above it
    f = th.table[["level", "name", "statistic"]]
    thr = th.lookup(f, "threshold")
    floor = f["statistic"].map(rm.monitor.FLOORS).to_numpy(dtype=float)
    has = ~np.isnan(floor)
    assert (thr[has] >= floor[has]).all()
    raw = th.table["threshold"].to_numpy()
    assert np.allclose(thr[has], np.fmax(raw[has], floor[has]))
    d = th.at("2025-05-02").to_dict()
    assert d["dates"] == dates and d["used_at"] == "2025-05-02" and d["floored"] == why
    assert rm.monitor.MonitorThresholds.from_dict(d).dates == dates
    with pytest.raises(ValueError, match="3 dates for 4 frames"):
        rm.monitor.calibrate_thresholds(years, n_resamples=0, dates=dates[:3])

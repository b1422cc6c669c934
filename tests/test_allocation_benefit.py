"""Allocation by expected benefit: optimum, risk floor, fallback, exploration, CLI."""

from __future__ import annotations

import itertools
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.utils._param_validation import InvalidParameterError

import riskmodel as rm
from riskmodel import DataValidationError
from riskmodel.allocation import weak_arms

from _cli import run_cli


# ----------------------------------------------------------------- helpers
def _instance(seed, n=7):
    rng = np.random.default_rng(seed)
    pupils = pd.DataFrame({
        "pupil_id": [f"p{i}" for i in range(n)],
        "municipality_id": "M1",
        "school_id": rng.choice(["S1", "S2"], n),
        "age": rng.integers(12, 17, n),
        "grade": rng.integers(6, 11, n),
        "risk": rng.uniform(0.02, 0.6, n).round(3),
        "benefit_mentor": rng.normal(0.03, 0.04, n).round(4),
        "benefit_family": rng.normal(0.02, 0.03, n).round(4),
    })
    pupils["benefit_mentor_se"] = rng.uniform(0.0, 0.03, n).round(4)
    pupils["benefit_family_se"] = rng.uniform(0.0, 0.03, n).round(4)
    resources = pd.DataFrame({"resource_id": ["m1", "m2", "f1"],
                              "kind": ["mentor", "mentor", "family"],
                              "municipality_id": "M1", "school_id": [None, "S1", None],
                              "capacity": [2, 1, 2]})
    return pupils, resources


def _brute(pupils, resources, kind, value, eligible):
    """Best total value of ``kind`` by enumerating every assignment."""
    res = resources[resources["kind"] == kind].reset_index(drop=True)
    best = 0.0
    options = []
    for i in range(len(pupils)):
        opt = [None]
        for r in range(len(res)):
            tied = res.loc[r, "school_id"]
            if eligible[i] and (pd.isna(tied) or tied == pupils.loc[i, "school_id"]):
                opt.append(r)
        options.append(opt)
    for combo in itertools.product(*options):
        used = np.bincount([c for c in combo if c is not None], minlength=len(res))
        if (used > res["capacity"].to_numpy()).any():
            continue
        best = max(best, sum(value[i] for i, c in enumerate(combo) if c is not None))
    return best


def _mentor_eligible(pupils, floor=0.0):
    return ((pupils["age"] >= 13) & (pupils["risk"] >= max(0.10, floor))).to_numpy()


def _family_eligible(pupils, floor=0.0):
    return (pupils["risk"] >= max(0.10, floor)).to_numpy()


# -------------------------------------------------------------- the optimum
@pytest.mark.parametrize("seed", range(6))
def test_benefit_objective_is_the_brute_force_optimum(seed):
    pupils, resources = _instance(seed)
    plan = rm.allocate(pupils, resources, objective="benefit")
    want = (_brute(pupils, resources, "mentor", pupils["benefit_mentor"].to_numpy(),
                   _mentor_eligible(pupils))
            + _brute(pupils, resources, "family", pupils["benefit_family"].to_numpy(),
                     _family_eligible(pupils)))
    assert plan.objective_value == pytest.approx(want, abs=1e-12)
    # leavings prevented are the point benefits of the assignments; nobody without benefit
    assert plan.leavings_prevented == pytest.approx(want, abs=1e-12)
    assert (plan.assignments["value"] > 0).all()
    assert set(plan.assignments["objective_basis"]) <= {"benefit"}
    assert plan.basis["mentor"] == plan.basis["family"] == "benefit" and plan.fallback == {}


@pytest.mark.parametrize("seed", range(4))
def test_benefit_quantile_values_the_lower_bound(seed):
    pupils, resources = _instance(seed)
    q = 0.1
    plan = rm.allocate(pupils, resources, objective="benefit", benefit_quantile=q)
    z = norm.ppf(q)
    lo_m = (pupils["benefit_mentor"] + z * pupils["benefit_mentor_se"]).to_numpy()
    lo_f = (pupils["benefit_family"] + z * pupils["benefit_family_se"]).to_numpy()
    want = (_brute(pupils, resources, "mentor", lo_m, _mentor_eligible(pupils))
            + _brute(pupils, resources, "family", lo_f, _family_eligible(pupils)))
    assert plan.objective_value == pytest.approx(want, abs=1e-12)
    # the report still counts point estimates
    a = plan.assignments
    assert plan.leavings_prevented == pytest.approx(a["benefit"].sum())


@pytest.mark.parametrize("seed", range(5))
def test_risk_floor_price_is_the_brute_force_difference(seed):
    pupils, resources = _instance(seed)
    floor = 0.3
    plan = rm.allocate(pupils, resources, objective="benefit", risk_floor=floor)
    bm, bf = pupils["benefit_mentor"].to_numpy(), pupils["benefit_family"].to_numpy()
    free = (_brute(pupils, resources, "mentor", bm, _mentor_eligible(pupils))
            + _brute(pupils, resources, "family", bf, _family_eligible(pupils)))
    floored = (_brute(pupils, resources, "mentor", bm, _mentor_eligible(pupils, floor))
               + _brute(pupils, resources, "family", bf, _family_eligible(pupils, floor)))
    assert plan.objective_value == pytest.approx(floored, abs=1e-12)
    assert plan.floor_price == pytest.approx(free - floored, abs=1e-12)
    assert plan.floor_price >= 0
    rep = plan.floor_report
    assert rep["price"].sum() == pytest.approx(plan.floor_price)
    assert (plan.assignments["risk"] >= floor).all()
    below = plan.waitlist[plan.waitlist["reason"] == "below_floor"]
    assert (below["risk"] < floor).all()


def test_floor_price_positive_on_a_known_case():
    pupils = pd.DataFrame({"pupil_id": ["a", "b", "c"], "municipality_id": "M1",
                           "school_id": "S1", "age": [14, 15, 16], "grade": [8, 9, 10],
                           "risk": [0.6, 0.2, 0.15], "benefit_mentor": [0.01, 0.06, 0.05]})
    roster = pd.DataFrame({"resource_id": ["m1"], "kind": ["mentor"],
                           "municipality_id": ["M1"], "capacity": [2]})
    plan = rm.allocate(pupils, roster, objective="benefit", risk_floor=0.18)
    assert sorted(plan.assignments["pupil_id"]) == ["a", "b"]
    assert plan.floor_price == pytest.approx(0.11 - 0.07)
    assert plan.floor_report.loc["mentor", "prevented_without_floor"] == pytest.approx(0.11)


def test_continuity_under_the_benefit_objective():
    pupils = pd.DataFrame({"pupil_id": ["a", "b", "c", "d"], "municipality_id": "M1",
                           "school_id": "S1", "age": [14, 15, 16, 15], "grade": [8, 9, 10, 9],
                           "risk": [0.5, 0.3, 0.2, 0.4],
                           "benefit_mentor": [0.001, 0.05, 0.04, 0.03]})
    roster = pd.DataFrame({"resource_id": ["m1"], "kind": ["mentor"],
                           "municipality_id": ["M1"], "capacity": [2]})
    current = pd.DataFrame({"pupil_id": ["a"], "kind": ["mentor"], "resource_id": ["m1"],
                            "start_date": ["2025-09-01"], "end_date": [None]})
    plan = rm.allocate(pupils, roster, objective="benefit", current=current,
                       as_of="2025-10-01", exploration=0.5, random_state=0)
    a = plan.assignments.set_index("pupil_id")
    assert a.loc["a", "change"] == "continuing" and a.loc["a", "assignment_probability"] == 1.0
    new = a[a["change"] == "new"]
    assert len(new) == 1  # one place left
    # the new place is drawn among b (0.05, the optimum), c and d (>= 0.5 * 0.05)
    assert new.index[0] in ("b", "c", "d")
    assert new["assignment_probability"].iloc[0] == pytest.approx(1 / 3)
    w = plan.waitlist.query("kind == 'mentor'").set_index("pupil_id")
    assert w.loc[[p for p in "bcd" if p != new.index[0]], "assignment_probability"].tolist() \
        == pytest.approx([1 / 3, 1 / 3])


# ------------------------------------------------------------------ fallback
def test_all_nan_arm_falls_back_to_fit():
    pupils, resources = _instance(0)
    pupils["benefit_family"] = np.nan
    plan = rm.allocate(pupils, resources, objective="benefit")
    fit = rm.allocate(pupils, resources, objective="fit")
    assert "family" in plan.fallback and "NaN" in plan.fallback["family"]
    assert plan.basis == {**plan.basis, "mentor": "benefit", "family": "fit"}
    fam = plan.assignments[plan.assignments["kind"] == "family"]
    fam_fit = fit.assignments[fit.assignments["kind"] == "family"]
    assert (fam["objective_basis"] == "fit").all()
    assert sorted(fam["pupil_id"]) == sorted(fam_fit["pupil_id"])
    assert fam["value"].sum() == pytest.approx(fam_fit["value"].sum())


def test_weak_rate_interval_falls_back():
    pupils, resources = _instance(1)
    model = SimpleNamespace(kinds_=["mentor", "family"],
                            arms_={"mentor": {"estimated": True}, "family": {"estimated": True}})
    table = pd.DataFrame({"kind": ["mentor", "family"], "rule": ["benefit", "benefit"],
                          "metric": ["autoc", "autoc"], "estimate": [0.01, 0.02],
                          "low": [-0.002, 0.004], "high": [0.02, 0.03],
                          "p_value": [0.08, 0.004], "n_treated": [500, 500]})
    ev = SimpleNamespace(arms={"mentor": {"evaluated": True}, "family": {"evaluated": True}},
                         table=table)
    weak = weak_arms(model, ev)
    assert list(weak) == ["mentor"] and "[-0.0020, 0.0200]" in weak["mentor"]
    assert "Holm-adjusted p = 0.080 > level 0.05" in weak["mentor"]
    plan = rm.allocate(pupils.drop(columns=["benefit_mentor"]), resources, objective="benefit",
                       fallback=weak)
    assert plan.fallback == weak
    a = plan.assignments
    assert set(a.loc[a["kind"] == "mentor", "objective_basis"]) == {"fit"}
    assert set(a.loc[a["kind"] == "family", "objective_basis"]) == {"benefit"}


# ---------------------------------------------------------------- bad input
def test_bad_benefit_inputs_are_named():
    pupils, resources = _instance(2)
    with pytest.raises(DataValidationError, match="benefit_mentor") as err:
        rm.allocate(pupils.drop(columns=["benefit_mentor"]), resources, objective="benefit")
    assert err.value.problems[0]["column"] == "benefit_mentor"
    part = pupils.copy()
    part.loc[[0, 2], "benefit_family"] = np.nan
    with pytest.raises(DataValidationError, match="missing for some pupils") as err:
        rm.allocate(part, resources, objective="benefit")
    assert err.value.problems[0]["n_rows"] == 2
    big = pupils.copy()
    big.loc[1, "benefit_mentor"] = 2.0
    with pytest.raises(DataValidationError, match=r"benefit_mentor.*\[-1, 1\]"):
        rm.allocate(big, resources, objective="benefit")
    with pytest.raises(DataValidationError, match="benefit_family_se"):
        rm.allocate(pupils.drop(columns=["benefit_family_se"]), resources,
                    objective="benefit", benefit_quantile=0.05)
    with pytest.raises(ValueError, match="only apply to objective='benefit'"):
        rm.allocate(pupils, resources, objective="fit", risk_floor=0.2)
    with pytest.raises(InvalidParameterError, match="exploration"):
        rm.allocate(pupils, resources, exploration=1.0)
    with pytest.raises(InvalidParameterError, match="benefit_quantile"):
        rm.allocate(pupils, resources, objective="benefit", benefit_quantile=1.5)
    with pytest.raises(ValueError, match="unknown kinds in 'fallback'"):
        rm.allocate(pupils, resources, objective="benefit", fallback={"tutor": "x"})


# --------------------------------------------------------------- value curve
def test_value_curve_in_leavings_prevented():
    pupils = pd.DataFrame({"pupil_id": list("abcde"), "municipality_id": "M1",
                           "school_id": "S1", "age": 15, "grade": 9,
                           "risk": [0.5, 0.4, 0.3, 0.2, 0.6],
                           "benefit_mentor": [0.05, 0.04, 0.03, 0.02, -0.01]})
    roster = pd.DataFrame({"resource_id": ["m1"], "kind": ["mentor"],
                           "municipality_id": ["M1"], "capacity": [1]})
    plan = rm.allocate(pupils, roster, objective="benefit")
    curve = plan.value_curve("mentor", n_units=4, unit_capacity=1)
    assert curve["marginal_value"].tolist() == pytest.approx([0.04, 0.03, 0.02, 0.0])
    assert curve["marginal_prevented"].tolist() == pytest.approx([0.04, 0.03, 0.02, 0.0])
    assert (curve["basis"] == "benefit").all()
    # a fit plan of the same pupils: placed by fit, counted in leavings prevented
    fit_curve = rm.allocate(pupils, roster).value_curve("mentor", n_units=2, unit_capacity=1)
    assert fit_curve["marginal_prevented"].tolist() == pytest.approx([0.05, 0.04])


# ----------------------------------------------------------------- exploration
def _explore_case():
    pupils = pd.DataFrame({"pupil_id": list("abcde"), "municipality_id": "M1",
                           "school_id": "S1", "age": 15, "grade": 9,
                           "risk": [0.5, 0.4, 0.3, 0.2, 0.6],
                           "benefit_mentor": [0.1, 0.05, 0.048, 0.047, 0.01]})
    roster = pd.DataFrame({"resource_id": ["m1"], "kind": ["mentor"],
                           "municipality_id": ["M1"], "capacity": [2]})
    return pupils, roster


def test_exploration_probabilities_match_frequencies():
    pupils, roster = _explore_case()
    counts = pd.Series(0, index=list("abcde"))
    n = 600
    for seed in range(n):
        plan = rm.allocate(pupils, roster, objective="benefit", exploration=0.1,
                           random_state=seed)
        counts[plan.assignments["pupil_id"]] += 1
    probs = plan.probabilities.set_index("pupil_id")["assignment_probability"]
    # margin 0.05: the band holds b (served), c and d (>= 0.045); a is clear; e is not near
    assert probs.to_dict() == pytest.approx({"a": 1.0, "b": 1 / 3, "c": 1 / 3, "d": 1 / 3})
    assert probs.sum() == pytest.approx(2.0)  # = places used
    freq = counts / n
    sd = np.sqrt(1 / 3 * 2 / 3 / n)
    assert freq["a"] == 1.0 and freq["e"] == 0.0
    for p in "bcd":
        assert abs(freq[p] - 1 / 3) < 4 * sd
    same = rm.allocate(pupils, roster, objective="benefit", exploration=0.1, random_state=7)
    again = rm.allocate(pupils, roster, objective="benefit", exploration=0.1, random_state=7)
    pd.testing.assert_frame_equal(same.assignments, again.assignments)


@pytest.mark.parametrize("objective", ["fit", "benefit"])
def test_exploration_keeps_the_rules_and_sums(objective):
    world = rm.datasets.make_school_system(n_pupils=300, n_years=2, random_state=0)
    frame = rm.features.pupil_frame(world.tables, "2023-03-01")
    rng = np.random.default_rng(0)
    pupils = frame[["municipality_id", "school_id", "age", "grade"]].copy()
    pupils["risk"] = rng.uniform(0.0, 0.5, len(pupils)).round(2)  # ties: a real margin
    pupils["benefit_mentor"] = rng.normal(0.03, 0.02, len(pupils)).round(3)
    pupils["benefit_family"] = rng.normal(0.02, 0.02, len(pupils)).round(3)
    pupils.index.name = "pupil_id"
    resources = rm.allocation.make_resources(pupils, n_mentors=4, random_state=0)
    fb = None if objective == "fit" else {"literacy": "x", "subject": "x", "support_staff": "x"}
    base = rm.allocate(pupils, resources, objective=objective, fallback=fb)
    zero = rm.allocate(pupils, resources, objective=objective, fallback=fb, exploration=0.0,
                       random_state=3)
    pd.testing.assert_frame_equal(base.assignments, zero.assignments)
    assert (base.assignments["assignment_probability"] == 1.0).all()
    plan = rm.allocate(pupils, resources, objective=objective, fallback=fb, exploration=0.3,
                       random_state=1)
    a = plan.assignments
    assert a.groupby("resource_id").size().to_dict() == \
        base.assignments.groupby("resource_id").size().to_dict()
    probs = plan.probabilities
    assert probs.groupby("kind")["assignment_probability"].sum().round(9).to_dict() == \
        a.groupby("kind").size().astype(float).to_dict()
    assert ((probs["assignment_probability"] > 0) & (probs["assignment_probability"] <= 1)).all()
    assert (a["assignment_probability"] < 1).any()
    assert plan.objective_value <= base.objective_value + 1e-12
    assert plan.optimality_gap == pytest.approx(base.objective_value - plan.objective_value,
                                                abs=1e-9)


# ----------------------------------------------------------------------- CLI
def test_cli_train_then_score_by_benefit(tmp_path):
    world = rm.datasets.make_school_system(n_pupils=1500, n_years=3, random_state=0)
    rm.schema.write_tables(world.tables, tmp_path / "data")
    common = ["--set", "tracking.enabled=false", "--set", "n_boot=20", "--set",
              "baselines=[rule]", "--set", "audit.enabled=false"]
    bparams = ["--set", "benefit.params.n_folds=3", "--set", "benefit.params.n_estimators=30",
               "--set", "benefit.params.min_treated=20", "--set", "benefit.params.min_ess=10",
               "--set", "benefit.evaluate=false"]
    proc, _ = run_cli(["train", "--data", "data", "--benefit", "--save-model", "model",
                       *common, *bparams], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((tmp_path / "model" / "benefit" / "benefit.json").read_text())
    assert meta["estimator"] == "BenefitModel" and not list(
        (tmp_path / "model" / "benefit").glob("*.pkl"))
    proc, _ = run_cli(["score", "--data", "data", "--model", "model", "--objective", "benefit",
                       "--out", "scores", "--set", "exploration=0.2"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "scores" / "manifest.json").read_text())
    alloc = manifest["allocation"]
    assert alloc["objective"] == "benefit"
    estimated = [k for k, v in meta["arms"].items() if v["estimated"]]
    assert estimated  # some arm is estimated on this system
    for k in estimated:
        assert alloc["basis"][k] == "benefit" and k not in alloc["fallback"]
    assert alloc["basis"]["family"] == "fit" and "family" in alloc["fallback"]
    a = pd.read_parquet(tmp_path / "scores" / "allocation.parquet")
    assert set(a["objective_basis"]) <= {"benefit", "fit"}
    assert alloc["leavings_prevented"] == pytest.approx(a["benefit"].sum())
    probs = pd.read_parquet(tmp_path / "scores" / "probabilities.parquet")
    assert probs["assignment_probability"].between(0, 1, inclusive="right").all()
    # a risk model without a benefit model beside it: named, exit 2
    proc, _ = run_cli(["train", "--data", "data", "--save-model", "plain", *common],
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc, _ = run_cli(["score", "--data", "data", "--model", "plain", "--objective", "benefit",
                       "--out", "scores2"], cwd=tmp_path)
    assert proc.returncode == 2
    assert "plain/benefit/benefit.json is missing" in proc.stderr
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------ the evidence gate
def _null_evaluation(rng, n_arms=4, n=1500, n_boot=200, treated=500):
    """An evaluation of arms where no ranking helps: gamma is noise around a constant."""
    from riskmodel.benefit._evaluate import _p_above_zero, _rates

    rows, arms = [], {}
    for a in range(n_arms):
        k = f"arm{a}"
        gamma = 0.01 + rng.normal(size=n)
        res = _rates({"benefit": rng.random(n), "risk": rng.random(n)}, gamma,
                     np.arange(n) // 15, n_boot=n_boot, confidence=0.9,
                     random_state=int(rng.integers(1 << 30)))
        for rule in ("benefit", "risk"):
            rows.append({"kind": k, "rule": rule, "metric": "autoc",
                         "estimate": res[rule]["autoc"], "low": res[rule]["autoc_low"],
                         "high": res[rule]["autoc_high"],
                         "p_value": _p_above_zero(res[rule]["boot_autoc"]),
                         "n_treated": treated})
        d = res["benefit"]["boot_autoc"] - res["risk"]["boot_autoc"]
        rows.append({"kind": k, "rule": "benefit-risk", "metric": "autoc",
                     "estimate": res["benefit"]["autoc"] - res["risk"]["autoc"],
                     "low": np.quantile(d, 0.05), "high": np.quantile(d, 0.95),
                     "p_value": _p_above_zero(d), "n_treated": treated})
        arms[k] = {"evaluated": True}
    return SimpleNamespace(arms=arms, table=pd.DataFrame(rows))


def test_gate_controls_false_passes_across_arms():
    """Under the null in every arm, the uncorrected 90 % interval rule passes some arm in
    many families; Holm at 0.05 (and the benefit-risk requirement) in at most ~5 %."""
    rng = np.random.default_rng(0)
    n_fam = 150
    old = holm = bonf = benefit_only = 0
    for _ in range(n_fam):
        ev = _null_evaluation(rng)
        t = ev.table
        b = t[t["rule"] == "benefit"]
        old += bool((b["low"] > 0).any())  # the former gate: one 90 % interval per arm
        holm += len(weak_arms(evaluation=ev)) < 4
        bonf += len(weak_arms(evaluation=ev, correction="bonferroni")) < 4
        benefit_only += len(weak_arms(evaluation=ev, versus=None)) < 4
    # 4 arms at a one-sided 5 %: about 1 - 0.95**4 = 19 % of families pass an arm
    assert 0.10 <= old / n_fam <= 0.30
    assert holm / n_fam <= 0.05 and bonf <= holm
    assert benefit_only / n_fam <= 0.07 and holm <= benefit_only


def test_gate_passes_a_real_effect_and_names_its_reasons():
    rng = np.random.default_rng(1)
    ev = _null_evaluation(rng, n_arms=3)
    t = ev.table.copy()
    strong = (t["kind"] == "arm0") & t["rule"].isin(["benefit", "benefit-risk"])
    t.loc[strong, ["estimate", "low", "high", "p_value"]] = [0.05, 0.02, 0.08, 0.001]
    t.loc[t["kind"] == "arm2", "n_treated"] = 40
    ev.table = t
    weak = weak_arms(evaluation=ev)
    assert "arm0" not in weak
    assert weak["arm2"] == "40 treated rows in the evaluation cohort, fewer than min_treated=100"
    assert "Holm-adjusted" in weak["arm1"] and "benefit - risk" in weak["arm1"]
    assert weak_arms(evaluation=ev, min_treated=30)["arm2"].startswith("RATE (autoc)")
    t["n_treated_events"] = 25
    t.loc[t["kind"] == "arm0", "n_treated_events"] = 4
    assert weak_arms(evaluation=ev)["arm0"] == (
        "4 early leavings among the arm's treated rows in the evaluation cohort, fewer than "
        "min_events=10")
    assert "arm0" not in weak_arms(evaluation=ev, min_events=4)
    t["n_treated_events"] = 25
    # the arm's p-value is the larger of benefit and benefit - risk: a benefit ranking that
    # is above zero but does not beat risk stays weak
    t.loc[(t["kind"] == "arm0") & (t["rule"] == "benefit-risk"), "p_value"] = 0.4
    assert "arm0" in weak_arms(evaluation=ev)
    assert "arm0" not in weak_arms(evaluation=ev, versus=None)
    with pytest.raises(ValueError, match="correction must be"):
        weak_arms(evaluation=ev, correction="sidak")
    with pytest.raises(ValueError, match="no 'p_value' column"):
        weak_arms(evaluation=SimpleNamespace(arms=ev.arms, table=t.drop(columns="p_value")))


def test_train_run_logs_the_benefit_section_to_mlflow(tmp_path):
    """The training run's MLflow entry: the model card's benefit section (aggregates only),
    the RATE p-values and the gate's verdict per arm."""
    from mlflow import MlflowClient

    from riskmodel.pipeline import train_run

    world = rm.datasets.make_school_system(n_pupils=1500, n_years=3, random_state=0)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    res = train_run({"n_boot": 0, "audit": {"enabled": False}, "baselines": ["rule"],
                     "tracking": {"tracking_uri": uri},
                     "benefit": {"enabled": True, "n_boot": 50,
                                 "params": {"n_folds": 3, "n_estimators": 30,
                                            "min_treated": 20, "min_ess": 10}}},
                    tables=world.tables)
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(res.run_id)
    model = res.benefit["model"]
    for k in model.kinds_:
        verdict = run.data.tags[f"benefit.{k}.allocated_by"]
        weak = res.benefit["evidence"].get(k)
        assert verdict == ("benefit" if weak is None else f"fit: {weak}"[:5000])
        assert run.data.metrics[f"benefit.{k}.allocated_by_benefit"] == float(weak is None)
    evaluated = [r for r in res.benefit["rate"] if r["rule"] == "benefit"]
    assert evaluated  # the held-out year was evaluated
    r = evaluated[0]
    key = f"benefit.{r['kind']}.rate_benefit_{r['metric']}_p_value"
    assert run.data.metrics[key] == pytest.approx(r["p_value"])
    path = client.download_artifacts(res.run_id, "model_card.md", str(tmp_path))
    with open(path, encoding="utf-8") as f:
        card = f.read()
    section = card.split("## Benefit of support")[1].split("## Known limits")[0]
    assert f"fitted on {len(res.benefit['dates'])} decision date(s)" in section
    for k in model.kinds_:
        assert f"| {k} |" in section
    assert "## What the risk means" in card
    assert "new support started within 30 days after the prediction date in" in card
    assert "pupil_id" not in section and "P0" not in section  # no pupil rows

import numpy as np
import pandas as pd
import pytest

import riskmodel as rm
from riskmodel import plotting


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_precision_recall_at_k_display_matches_metrics():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = y * 0.5 + rng.random(200)
    disp = plotting.PrecisionRecallAtKDisplay.from_predictions(
        y, {"model": s, "random": rng.random(200)}, ks=[10, 50, 100], capacity_k=50
    )
    row = disp.table_.query("model == 'model' and k == 50").iloc[0]
    assert row["precision_at_k"] == pytest.approx(rm.metrics.precision_at_k(y, s, k=50))
    assert row["recall_at_k"] == pytest.approx(rm.metrics.recall_at_k(y, s, k=50))
    assert len(disp.table_) == 6
    out = disp.plot()
    assert out is disp and disp.ax_ is not None and disp.figure_ is disp.ax_.figure
    assert len(disp.ax_.get_lines()) == 5  # 2 models x 2 curves + capacity line


def test_precision_recall_display_rejects_length_mismatch():
    with pytest.raises(ValueError, match="have 3 values"):
        plotting.PrecisionRecallAtKDisplay.from_predictions([0, 1, 0, 1], {"m": [0.1, 0.2, 0.3]})


def test_calibration_curves_display_bins_are_quantiles():
    rng = np.random.default_rng(1)
    p = rng.random(1000)
    y = (rng.random(1000) < p).astype(int)
    disp = plotting.CalibrationCurvesDisplay.from_predictions(y, p, n_bins=5)
    t = disp.table_
    assert len(t) == 5
    # well calibrated by construction: observed within 0.1 of predicted in every bin
    assert np.all(np.abs(t["observed_rate"] - t["mean_predicted"]) < 0.1)
    disp.plot()
    assert disp.ax_.get_xlabel() == "mean predicted risk"


def test_backtest_display_requires_metric_columns_and_draws_intervals():
    bt = pd.DataFrame({
        "model": ["RiskModel", "RiskModel", "RuleBaseline", "RuleBaseline"],
        "test_date": pd.to_datetime(["2024-10-01", "2024-11-01"] * 2),
        "precision_at_k": [0.4, 0.5, 0.2, 0.25],
        "precision_at_k_low": [0.3, 0.4, 0.1, 0.15],
        "precision_at_k_high": [0.5, 0.6, 0.3, 0.35],
    })
    disp = plotting.BacktestDisplay.from_backtest(bt).plot()
    assert len(disp.ax_.get_lines()) == 2
    assert len(disp.ax_.collections) == 2  # one interval band per model
    with pytest.raises(ValueError, match="roc_auc"):
        plotting.BacktestDisplay.from_backtest(bt, metric="roc_auc")


def test_domain_reasons_display_counts_top_raising_domain():
    by_domain = pd.DataFrame(
        {"attendance": [0.9, 0.1, -0.2, 0.0], "grades": [0.2, 0.5, -0.1, 0.3],
         "engagement": [0.0, 0.0, -0.3, 0.4]},
        index=pd.Index(["a", "b", "c", "d"], name="pupil_id"),
    )
    disp = plotting.DomainReasonsDisplay.from_explanation(by_domain)
    counts = dict(zip(disp.table_["domain"], disp.table_["pupils"]))
    assert counts == {"attendance": 1, "grades": 1, "engagement": 1, "none": 1}
    assert disp.table_["share"].sum() == pytest.approx(1.0)
    disp.plot()


def test_audit_display_leaves_out_suppressed_groups():
    audit = pd.DataFrame({
        "attribute": ["sex", "sex", "home_language"],
        "group": ["F", "M", "other"],
        "recall": [0.5, 0.6, np.nan],
        "recall_low": [0.4, 0.5, np.nan],
        "recall_high": [0.6, 0.7, np.nan],
    })
    disp = plotting.AuditDisplay.from_audit(audit, metric="recall").plot()
    assert [t.get_text() for t in disp.ax_.get_yticklabels()] == ["sex: F", "sex: M"]
    assert "1 group(s) suppressed" in disp.ax_.get_title()
    with pytest.raises(ValueError, match="'metric' parameter"):
        plotting.AuditDisplay.from_audit(audit, metric="nonsense")


def test_risk_distribution_display_stacks_tiers():
    # two bins ([0.05, 0.375), [0.375, 0.7]); tiers in order of appearance: low, then high
    risk = np.array([0.05, 0.1, 0.15, 0.2, 0.6, 0.7])
    tier = np.array(["low", "low", "high", "low", "high", "high"])
    disp = plotting.RiskDistributionDisplay(risk, tier, bins=2).plot()
    assert [t.get_text() for t in disp.ax_.get_legend().get_texts()] == ["low", "high"]
    bars = [(round(p.get_x(), 3), p.get_y(), p.get_height()) for p in disp.ax_.patches]
    # low: 3 and 0 pupils from the axis; high: 1 and 2 pupils, each on top of the low bar
    # of its bin (its bottom is the sum of the segments below it)
    assert bars == [(0.05, 0.0, 3.0), (0.375, 0.0, 0.0), (0.05, 3.0, 1.0), (0.375, 0.0, 2.0)]
    assert disp.ax_.get_ylabel() == "pupils"


def test_risk_distribution_without_tiers_is_one_histogram():
    disp = plotting.RiskDistributionDisplay(np.array([0.1, 0.2, 0.9]), bins=2).plot()
    assert [p.get_height() for p in disp.ax_.patches] == [2.0, 1.0]
    assert disp.ax_.get_legend() is None


def test_audit_display_reads_the_tidy_audit():
    y = np.arange(40) % 3 == 0
    groups = pd.DataFrame({"sex": ["F", "M"] * 20, "lang": ["lv"] * 35 + ["ru"] * 5})
    audit = rm.fairness.audit(y, np.linspace(1, 0, 40), groups, top_k=10, n_boot=20)
    disp = plotting.AuditDisplay.from_audit(audit, metric="recall", attributes=["sex", "lang"])
    recall = rm.fairness.by_group(audit).set_index(["attribute", "group"])["recall"]
    shown = disp.table_.set_index(["attribute", "group"])["value"]
    assert shown.loc[("sex", "F")] == pytest.approx(recall.loc[("sex", "F")])
    disp.plot()
    # lang: ru has 5 pupils (small cell) and lv is hidden with it (complementary)
    assert [t.get_text() for t in disp.ax_.get_yticklabels()] == ["sex: F", "sex: M"]
    assert disp.ax_.get_title() == "2 group(s) suppressed (too few pupils)"
    # the wide view gives the same display
    wide = plotting.AuditDisplay.from_audit(rm.fairness.by_group(audit), metric="recall",
                                            attributes=["sex", "lang"])
    pd.testing.assert_frame_equal(wide.table_, disp.table_)

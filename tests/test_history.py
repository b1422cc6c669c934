"""Score history, changes since the last run and hysteresis tiers (riskmodel.watchlists)."""

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest

import riskmodel as rm
from riskmodel.pipeline import score_run
from riskmodel.vocab import DOMAINS
from riskmodel.watchlists import append_history, hysteresis_tiers, read_history


@pytest.fixture(scope="module")
def world():
    w = rm.datasets.make_school_system(n_pupils=300, n_years=2, random_state=0)
    X = rm.build_features(w.tables, "2023-02-01")
    y = rm.make_labels(w.tables, "2023-02-01", horizon_days=120).reindex(X.index).fillna(0)
    m1 = rm.RiskModel(n_estimators=8, random_state=0).fit(X, y)
    m2 = rm.RiskModel(n_estimators=12, learning_rate=0.2, random_state=1).fit(X, y)
    return w, m1, m2


def _run(tmp_path, world, model, as_of, name):
    cfg = {"as_of": as_of, "out": str(tmp_path / name), "allocate": True,
           "history": str(tmp_path / "history")}
    return score_run(cfg, tables=world[0].tables, model=model)


def test_history_partitions_and_replace(tmp_path, world):
    _run(tmp_path, world, world[1], "2023-03-01", "a")
    _run(tmp_path, world, world[1], "2023-03-01", "a")  # same as_of + model: replaced
    _run(tmp_path, world, world[1], "2023-04-01", "b")
    parts = sorted(p.relative_to(tmp_path / "history" / "scores").parent.as_posix()
                   for p in (tmp_path / "history" / "scores").rglob("part-0.parquet"))
    assert len(parts) == 2 and parts[0].startswith("as_of=2023-03-01/model=sha-")
    hist = read_history(tmp_path / "history" / "scores")
    n1 = len(pd.read_parquet(tmp_path / "a" / "scores.parquet"))
    assert (hist["as_of"] == "2023-03-01").sum() == n1
    assert not hist.duplicated(["as_of", "model", "pupil_id"]).any()
    # readable by a plain pyarrow hive dataset
    t = ds.dataset(tmp_path / "history" / "scores", format="parquet", partitioning="hive")
    assert t.count_rows() == len(hist)
    row = hist.iloc[0]
    total = row["base_value"] + sum(row[f"contrib_{d}"] for d in DOMAINS)
    assert total == pytest.approx(row["log_odds"], abs=1e-9)


def test_changes_same_model_sum_exactly(tmp_path, world):
    _run(tmp_path, world, world[1], "2023-03-01", "a")
    res = _run(tmp_path, world, world[1], "2023-04-01", "b")
    ch = pd.read_parquet(tmp_path / "b" / "changes.parquet")
    both = ch.dropna(subset=["d_log_odds"])
    assert len(both) > 100 and both["d_log_odds"].abs().max() > 0.01
    split = both[[f"d_{d}" for d in DOMAINS]].sum(axis=1)
    np.testing.assert_allclose(split, both["d_log_odds"], atol=1e-9, rtol=0)
    rsplit = both[[f"d_risk_{d}" for d in DOMAINS]].sum(axis=1)
    moved = both["d_log_odds"].abs() > 1e-12
    np.testing.assert_allclose(rsplit[moved], both["d_risk"][moved], atol=1e-9, rtol=0)
    assert res.manifest["history"]["model_changed"] is False
    assert set(ch["status"]) <= {"new", "still", "left", "off"}
    left = ch[ch["status"] == "left"]
    assert left["left_reason"].isin(["risk_fell", "left_school", "now_supported"]).all()
    assert ch.loc[ch["status"] != "left", "left_reason"].isna().all()


def test_changes_model_changed_split_into_data_and_model(tmp_path, world):
    _run(tmp_path, world, world[1], "2023-03-01", "a")
    res = _run(tmp_path, world, world[2], "2023-04-01", "b")
    assert res.manifest["history"]["model_changed"] is True
    ch = pd.read_parquet(tmp_path / "b" / "changes.parquet").dropna(subset=["d_log_odds"])
    data = ch[[f"d_{d}" for d in DOMAINS]].sum(axis=1)
    np.testing.assert_allclose(data, ch["d_log_odds_data"], atol=1e-9, rtol=0)
    np.testing.assert_allclose(ch["d_log_odds_data"] + ch["model_part"], ch["d_log_odds"],
                               atol=1e-9, rtol=0)
    assert ch["model_part"].abs().max() > 1e-3


def test_left_school_reason(tmp_path):
    idx = pd.Index(["a", "b", "c"], name="pupil_id")
    prev = pd.DataFrame({"risk": [.5, .4, .3], "log_odds": [0., -.4, -.8], "base_value": -1.,
                         "contrib_grades": [1., .6, .2], "tier": ["high", "elevated", "high"],
                         "has_plan": False}, idx)
    cur = prev.loc[["b", "c"]].assign(tier=["low", "low"], has_plan=[True, False])
    append_history(tmp_path, prev, as_of="2024-01-01", model="1")
    from riskmodel.watchlists import changes_since
    ch = changes_since(cur, prev)
    assert ch["left_reason"].to_dict() == {"a": "left_school", "b": "now_supported",
                                           "c": "risk_fell"}


def test_hysteresis_keeps_high_until_exit_rank():
    idx = [f"p{i}" for i in range(100)]
    rank = pd.Series(np.arange(1, 101), index=idx)
    prev = pd.Series("low", index=idx)
    prev.iloc[7] = "high"   # rank 8: inside the exit cut-off (10) -> stays high
    prev.iloc[12] = "high"  # rank 13: beyond it -> leaves
    t = hysteresis_tiers(rank, prev, high_fraction=0.05, elevated_fraction=0.15,
                         high_exit_fraction=0.10, elevated_exit_fraction=0.2)
    assert (t == "high").sum() == 6 and t.iloc[7] == "high" and t.iloc[12] == "elevated"
    plain = hysteresis_tiers(rank, None, high_fraction=0.05, elevated_fraction=0.15,
                             high_exit_fraction=0.10, elevated_exit_fraction=0.2)
    assert (plain == "high").sum() == 5 and (plain == "elevated").sum() == 10


def test_leaving_high_needs_two_runs_of_evidence():
    """Entering is by this run's rank; staying holds while this run's rank or the rank of
    the two-run mean log-odds is within the exit cut-off."""
    from riskmodel.watchlists import national_rank, smoothed_rank

    idx = [f"p{i:03d}" for i in range(100)]
    before = pd.Series(np.r_[[0.9, 0.88, 0.86, 0.84, 0.82], np.linspace(0.3, 0.01, 95)],
                       index=idx)  # p000..p004 clearly highest
    now = before.copy()
    now["p002"] = 0.25   # was high (rank 3), falls beyond the exit rank now: one good month
    now["p099"] = 0.95   # jumps into the top 5 now
    prev = pd.Series("low", index=idx)
    prev.iloc[:5] = "high"
    rank = national_rank(now)
    smooth = smoothed_rank(now, before)
    kw = dict(high_fraction=0.05, elevated_fraction=0.15, high_exit_fraction=0.065,
              elevated_exit_fraction=0.2)
    plain_exit = hysteresis_tiers(rank, prev, **kw)
    t = hysteresis_tiers(rank, prev, **kw, smoothed=smooth)
    assert rank["p002"] > 7 and smooth["p002"] <= 7  # the two-run mean keeps it near the top
    assert plain_exit["p002"] == "low" and t["p002"] == "high"
    assert t["p099"] == "high" and rank["p099"] <= 5  # entering never waits
    # all of this run's top 5 are high; the list is the top 5 plus those who stayed
    assert set(rank.index[rank <= 5]) <= set(t.index[t == "high"])
    # a second such month: the smoothed rank now agrees, and the pupil leaves
    later = now.copy()
    t2 = hysteresis_tiers(national_rank(later), t, **kw, smoothed=smoothed_rank(later, now))
    assert t2["p002"] != "high"

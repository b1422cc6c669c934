"""Regime changes of the synthetic system: each changes what it claims; the truth stays exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import riskmodel as rm
from riskmodel._checks import InvalidParameterError


@pytest.fixture(scope="module")
def world():
    return rm.datasets.make_school_system(n_pupils=600, n_years=3, random_state=3)


def _school_year(dates):
    d = pd.DatetimeIndex(dates)
    return np.where(d.month >= 9, d.year, d.year - 1)


def test_grading_reform_changes_recorded_grades_only(world):
    reg = rm.datasets.GradingReform(year=2023, shift=1.0, compress=0.5)
    new = rm.datasets.apply_regime_changes(world, [reg])
    g0, g1 = world.tables.grades, new.tables.grades
    num0 = pd.to_numeric(g0["grade"].astype(str), errors="coerce")
    num1 = pd.to_numeric(g1["grade"].astype(str), errors="coerce")
    before = _school_year(g0["date"]) < 2023
    assert (num0[before].fillna(-1) == num1[before].fillna(-1)).all()
    after = ~before & num0.notna().to_numpy()
    assert np.array_equal(num1[after].to_numpy(), reg.recorded(num0[after].to_numpy()))
    # compressed: the spread of the recorded grades falls, the mean rises
    assert num1[after].std() < 0.7 * num0[after].std()
    assert num1[after].mean() > num0[after].mean() + 0.5
    assert new.truth.equals(world.truth)
    assert new.tables.enrolments.equals(world.tables.enrolments)
    assert new.config["regime_changes"][0]["kind"] == "grading_reform"


def test_engagement_outage_empties_the_months_of_the_municipalities():
    world = rm.datasets.make_school_system(n_pupils=1500, n_years=2, random_state=3)
    muns = sorted(world.tables.schools["municipality_id"].astype(str).unique())[:3]
    reg = {"kind": "engagement_outage", "year": 2023, "months": [10, 11],
           "municipalities": muns}
    new = rm.datasets.apply_regime_changes(world, [reg])
    e0, e1 = world.tables.engagement, new.tables.engagement
    assert len(e1) < len(e0)
    d1 = pd.DatetimeIndex(e1["date"])
    window = (_school_year(e1["date"]) == 2023) & np.isin(d1.month, [10, 11])
    enr = world.tables.enrolments
    in_muns = set(enr.loc[enr["municipality_id"].astype(str).isin(muns), "pupil_id"].astype(str))
    left = e1[window]
    # what is left in the window belongs to pupils outside the municipalities (or moved in)
    assert len(left) > 0
    assert left["pupil_id"].astype(str).isin(in_muns).mean() < 0.1
    outside = ~window
    d0 = pd.DatetimeIndex(e0["date"])
    w0 = (_school_year(e0["date"]) == 2023) & np.isin(d0.month, [10, 11])
    assert outside.sum() == (~w0).sum()  # nothing else removed
    assert new.truth.equals(world.truth)


def test_remote_year_more_excused_same_truth(world):
    new = rm.datasets.apply_regime_changes(world, [{"kind": "remote_year", "year": 2023,
                                                    "excused_share": 0.2}])
    a0, a1 = world.tables.attendance, new.tables.attendance
    sy = _school_year(a0["date"])
    exc0 = (a0["status"] == "absent_excused").to_numpy()
    exc1 = (a1["status"] == "absent_excused").to_numpy()
    assert np.array_equal(exc0[sy != 2023], exc1[sy != 2023])
    attended = a0["status"].isin(["present", "late"]).to_numpy() & (sy == 2023)
    share = (exc1 & attended).sum() / attended.sum()
    assert 0.18 < share < 0.22
    assert new.truth.equals(world.truth)


def test_outcome_shift_moves_truth_and_outcomes_alike():
    kw = {"n_pupils": 3000, "n_years": 3, "random_state": 1}
    base = rm.datasets.make_school_system(**kw)
    shifted = rm.datasets.make_school_system(
        **kw, regime_changes=[{"kind": "outcome_shift", "year": 2023, "log_hazard_shift": 1.0}])
    d = "2023-09-01"
    for w in (base, shifted):
        t = w.truth[w.truth["as_of"] == d].set_index("pupil_id")["p_leave"]
        y = rm.make_labels(w.tables, d).reindex(t.index.astype(str)).dropna()
        p = t.loc[y.index].to_numpy()
        # the truth is exact: observed leavers within 3 standard errors of the expected
        se = np.sqrt((p * (1 - p)).sum())
        assert abs(y.sum() - p.sum()) < 3 * se + 1, (y.sum(), p.sum())
    pb = base.truth.loc[base.truth["as_of"] == d, "p_leave"].mean()
    ps = shifted.truth.loc[shifted.truth["as_of"] == d, "p_leave"].mean()
    assert ps > 1.6 * pb
    # before the look-ahead reaches the new year the truth is the same
    first = base.truth["as_of"].min()
    assert np.allclose(base.truth.loc[base.truth["as_of"] == first, "p_leave"],
                       shifted.truth.loc[shifted.truth["as_of"] == first, "p_leave"])


@pytest.mark.parametrize("regimes, match", [
    ([{"kind": "strike", "year": 2023}], "unknown kind 'strike'.*one of"),
    ([{"kind": "remote_year", "year": 2030}], r"regime_changes\[0\].year"),
    ([{"kind": "remote_year", "year": 2022}], r"regime_changes\[0\].year"),
    ([{"kind": "remote_year"}], "lacks the key 'year'"),
    ([{"kind": "remote_year", "year": 2023, "share": 0.1}], r"unknown keys \['share'\]"),
    ([{"kind": "engagement_outage", "year": 2023, "months": [7]}], "months"),
    ([{"kind": "grading_reform", "year": 2023, "compress": 0}], "compress"),
    (["grading_reform"], "must be a dict"),
    (5, "must be a list"),
])
def test_bad_regimes_name_the_option(regimes, match):
    with pytest.raises(InvalidParameterError, match=match):
        rm.datasets.make_school_system(n_pupils=200, n_years=2, regime_changes=regimes)


def test_outcome_shift_is_not_a_record_change(world):
    with pytest.raises(InvalidParameterError, match="make_school_system"):
        rm.datasets.apply_regime_changes(world, [{"kind": "outcome_shift", "year": 2023}])

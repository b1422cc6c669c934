"""Tests of riskmodel.make_labels on hand-made enrolment histories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import riskmodel as rm
from riskmodel.labels import LabelConfig, make_labels

AS_OF = "2024-10-01"


def _tables(extra_attendance_until="2026-03-01") -> rm.SchoolTables:
    """One pupil per case; the records run until ``extra_attendance_until``."""
    cases = [
        # pupil, school, year, grade, start, end, reason
        ("stay", "s1", 2024, 7, "2024-09-02", None, None),
        ("left", "s1", 2024, 8, "2024-09-02", "2025-01-20", "left"),
        ("left_back", "s1", 2024, 8, "2024-09-02", "2025-01-20", "left"),
        ("left_back", "s2", 2024, 8, "2025-02-10", None, None),  # back within 30 days
        ("left_late_back", "s1", 2024, 8, "2024-09-02", "2025-01-20", "left"),
        ("left_late_back", "s2", 2024, 8, "2025-03-10", None, None),  # 49 days later
        ("transfer", "s1", 2024, 6, "2024-09-02", "2024-11-30", "transferred"),
        ("expelled", "s1", 2024, 10, "2024-09-02", "2025-03-03", "expelled"),
        ("emigrated", "s1", 2024, 5, "2024-09-02", "2025-04-01", "emigrated"),
        ("liec_stop", "s1", 2024, 9, "2024-09-02", "2025-06-13", "completed_liecība"),
        ("liec_cont", "s1", 2024, 9, "2024-09-02", "2025-06-13", "completed_liecība"),
        ("liec_cont", "s3", 2025, 10, "2025-09-01", None, None),
        ("cert", "s1", 2024, 9, "2024-09-02", "2025-06-13", "completed_certificate"),
        ("repeat", "s1", 2024, 4, "2024-09-02", "2025-05-30", "completed"),
        ("repeat", "s1", 2025, 4, "2025-09-01", None, None),
        ("promote", "s1", 2024, 4, "2024-09-02", "2025-05-30", "completed"),
        ("promote", "s1", 2025, 5, "2025-09-01", None, None),
        ("late_leave", "s1", 2024, 8, "2024-09-02", "2025-11-03", "left"),  # after horizon
        ("gone", "s1", 2023, 8, "2023-09-01", "2024-05-31", "left"),  # not enrolled
        ("on_as_of", "s1", 2024, 8, "2024-09-02", AS_OF, "left"),  # leaves on as_of
    ]
    enr = pd.DataFrame(
        cases,
        columns=["pupil_id", "school_id", "school_year", "grade", "start_date", "end_date",
                 "end_reason"],
    )
    enr["municipality_id"] = "m1"
    ids = list(dict.fromkeys(enr["pupil_id"]))
    pupils = pd.DataFrame(
        {"pupil_id": ids, "birth_date": "2010-01-01", "sex": (["F", "M"] * len(ids))[: len(ids)]}
    )
    att = pd.DataFrame(
        {
            "pupil_id": ["stay", "stay"],
            "date": ["2024-09-10", extra_attendance_until],
            "status": ["present", "present"],
        }
    )
    return rm.SchoolTables(pupils, enr, att)


@pytest.fixture(scope="module")
def tables():
    return _tables()


def test_early_leaving_definition(tables):
    y = make_labels(tables, AS_OF, horizon_days=365)
    assert y.dtype == np.int8 and y.name == "early_leaving" and y.index.name == "pupil_id"
    expected = {
        "stay": 0, "left": 1, "left_back": 0, "left_late_back": 1, "transfer": 0,
        "expelled": 1, "emigrated": 0, "liec_stop": 1, "liec_cont": 0, "cert": 0,
        "repeat": 0, "promote": 0, "late_leave": 0, "on_as_of": 1,
    }
    assert y.to_dict() == expected
    assert "gone" not in y.index  # not enrolled on as_of


def test_same_rows_as_features(tables):
    y = make_labels(tables, AS_OF)
    X = rm.build_features(tables, AS_OF)
    assert y.index.equals(X.index)


def test_emigration_configurable(tables):
    y = make_labels(tables, AS_OF, config=LabelConfig(emigration_is_leaving=True))
    assert y["emigrated"] == 1
    y = make_labels(tables, AS_OF, config={"reenrolment_grace_days": 60})
    assert y["left_late_back"] == 0


def test_horizon(tables):
    y = make_labels(tables, AS_OF, horizon_days=150)  # until 2025-02-28
    assert y["left"] == 1 and y["expelled"] == 0 and y["liec_stop"] == 0


def test_other_outcomes(tables):
    liec = make_labels(tables, AS_OF, outcome="liecība")
    assert liec[liec == 1].index.tolist() == ["liec_stop", "liec_cont"]
    assert make_labels(tables, AS_OF, outcome="lieciba").equals(liec)
    rep = make_labels(tables, AS_OF, outcome="repetition")
    assert rep["repeat"] == 1 and rep["promote"] == 0 and rep["left"] == 0
    assert rep.sum() == 1


def test_unobserved_window_is_left_out(tables, caplog):
    # records end 2026-03-01: as_of + 365 + 30 days grace must not pass it
    with caplog.at_level("WARNING", logger="riskmodel.labels"):
        y = make_labels(tables, "2025-02-01", horizon_days=365)
    assert len(y) == 0 and y.dtype == np.int8
    assert "returning no labels" in caplog.text
    # the repetition outcome needs no grace period
    assert len(make_labels(tables, "2025-02-01", outcome="repetition")) > 0
    y = make_labels(tables, "2025-02-01", config={"observed_until": "2027-01-01"})
    assert len(y) > 0


def test_the_outcome_window_says_when_make_labels_has_labels(tables):
    """``_outcome_window`` (asked by the monitor before make_labels) agrees with it:
    closed exactly when labels come back, at the day the window needs."""
    from riskmodel.labels import _outcome_window

    last = pd.Timestamp("2026-03-01")  # the records' last date
    for horizon, outcome, grace in [(365, "early_leaving", 30), (365, "repetition", 0)]:
        # the last as_of whose window (and grace period) ends on the last date
        edge = last - pd.Timedelta(days=horizon + grace)
        for as_of, closed in [(edge, True), (edge + pd.Timedelta(days=1), False)]:
            need, observed, is_closed = _outcome_window(tables, as_of, horizon, outcome,
                                                        LabelConfig())
            assert (need, observed, is_closed) == (
                (as_of - pd.Timestamp(0)).days + horizon + grace,
                (last - pd.Timestamp(0)).days, closed)
            n = len(make_labels(tables, as_of, horizon_days=horizon, outcome=outcome))
            assert (n > 0) == closed


def test_liecība_at_the_end_of_the_records_is_left_out(tables, caplog):
    # window until 2025-06-28 (+30 days grace) is observed up to 2025-08-01, but
    # liec_stop's liecība of 2025-06-13 could still be followed by an enrolment
    cfg = {"observed_until": "2025-08-01"}
    with caplog.at_level("WARNING", logger="riskmodel.labels"):
        y = make_labels(tables, AS_OF, horizon_days=270, config=cfg)
    assert "liec_stop" not in y.index
    assert "1 pupils left out" in caplog.text
    assert y["liec_cont"] == 0 and y["left"] == 1 and y["stay"] == 0


def test_labels_use_only_what_happens_after_as_of(tables):
    """Records before as_of (events, the past enrolments) do not move the labels;
    outcomes after as_of do."""
    base = make_labels(tables, AS_OF)
    t = tables
    # drop everything dated before as_of from the event tables
    att = t.attendance[t.attendance["date"] >= pd.Timestamp(AS_OF)]
    enr = t.enrolments[t.enrolments["pupil_id"] != "gone"]
    t2 = rm.SchoolTables(t.pupils, enr, att)
    pd.testing.assert_series_equal(base, make_labels(t2, AS_OF))
    # a future change of outcome changes the label
    enr3 = t.enrolments.copy()
    enr3["end_reason"] = enr3["end_reason"].astype(object)
    enr3.loc[enr3["pupil_id"] == "left", "end_reason"] = "transferred"
    y3 = make_labels(rm.SchoolTables(t.pupils, enr3, t.attendance), AS_OF)
    assert y3["left"] == 0 and (y3.drop("left") == base.drop("left")).all()


def test_bad_parameters(tables):
    with pytest.raises(ValueError, match=r"The 'horizon_days' parameter of make_labels must be "
                                         r"an int >= 1\. Got -3 instead\."):
        make_labels(tables, AS_OF, horizon_days=-3)
    with pytest.raises(TypeError, match="'horizon_days'"):
        make_labels(tables, AS_OF, horizon_days=36.5)
    with pytest.raises(TypeError, match="'horizon_days'"):
        make_labels(tables, AS_OF, horizon_days=True)
    with pytest.raises(TypeError, match="The 'tables' parameter of make_labels must be a "
                                        r"riskmodel\.SchoolTables .*Got dict instead\."):
        make_labels({"pupils": None}, AS_OF)
    with pytest.raises(ValueError, match="'outcome' parameter of make_labels must be a str "
                                         "among .*'liecība'.*Got 'dropout'"):
        make_labels(tables, AS_OF, outcome="dropout")
    with pytest.raises(ValueError, match="'as_of' parameter of make_labels"):
        make_labels(tables, "not a date")
    with pytest.raises(ValueError, match="No pupil is enrolled"):
        make_labels(tables, "2010-01-01")
    with pytest.raises(rm.ConfigError, match="emigration"):
        make_labels(tables, AS_OF, config={"emigration": True})

"""Tests of the 365-day attendance features (attendance_rate_365d,
excused_lessons_365d, unexcused_lessons_365d): exact values on hand-made
tables whose records straddle the window edges, and a plain pandas reference
on random tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import riskmodel as rm
from riskmodel.features import build_feature_panel, build_features, feature_names, registry

D = pd.Timestamp
AS_OF = D("2025-10-15")  # as_of - 365 = 2024-10-15, as_of - 366 = 2024-10-14
NEW = ["attendance_rate_365d", "excused_lessons_365d", "unexcused_lessons_365d"]


def _edge_tables() -> rm.SchoolTables:
    """Four pupils enrolled in 2024/25 (grade 7) and 2025/26 (grade 8).

    x: records on as_of - 366 (outside), as_of - 365 (inside), through the
       year, on as_of and after (outside).
    y: records only on as_of - 366 and on/after as_of: nothing in the window.
    z: only attended lessons in the window.
    w: one record with 0 lessons in the window (a record, but no lessons).
    """
    ids = ["x", "y", "z", "w"]
    pupils = pd.DataFrame(
        {
            "pupil_id": ids,
            "birth_date": ["2012-03-01"] * 4,
            "sex": ["F", "M", "F", "M"],
        }
    )
    enr = []
    for p in ids:
        enr.append((p, "s1", "m1", 2024, 7, "2024-09-02", "2025-05-31", "completed"))
        enr.append((p, "s1", "m1", 2025, 8, "2025-09-01", None, None))
    enrolments = pd.DataFrame(
        enr,
        columns=["pupil_id", "school_id", "municipality_id", "school_year", "grade",
                 "start_date", "end_date", "end_reason"],
    )
    attendance = pd.DataFrame(
        [
            ("x", "2024-10-14", "absent_unexcused", 6),  # as_of - 366: outside
            ("x", "2024-10-15", "absent_unexcused", 6),  # as_of - 365: inside
            ("x", "2025-03-03", "absent_excused", 4),
            ("x", "2025-03-03", "present", 2),
            ("x", "2025-05-20", "late", 1),
            ("x", "2025-05-20", "present", 5),
            ("x", "2025-09-15", "absent_unexcused", 3),
            ("x", "2025-09-15", "present", 3),
            ("x", "2025-10-14", "present", 6),
            ("x", "2025-10-15", "absent_unexcused", 2),  # as_of: outside
            ("x", "2025-10-15", "present", 4),
            ("x", "2025-11-03", "absent_excused", 6),  # after as_of
            ("y", "2024-10-14", "present", 6),
            ("y", "2025-10-15", "absent_unexcused", 6),
            ("y", "2025-12-01", "absent_excused", 6),
            ("z", "2025-01-10", "present", 6),
            ("z", "2025-02-10", "present", 6),
            ("w", "2025-09-20", "absent_unexcused", 0),
        ],
        columns=["pupil_id", "date", "status", "lessons"],
    )
    return rm.SchoolTables(pupils=pupils, enrolments=enrolments, attendance=attendance)


@pytest.fixture(scope="module")
def edge():
    return _edge_tables()


def test_registry_places_and_describes_the_new_features():
    names = feature_names()
    assert names.index("attendance_rate_365d") == names.index("attendance_rate_28d") + 1
    assert names.index("excused_lessons_365d") == names.index("excused_lessons_90d") + 1
    assert names.index("unexcused_lessons_365d") == names.index("unexcused_lessons_90d") + 1
    reg = registry()
    assert reg.loc[NEW, "domain"].tolist() == ["attendance"] * 3
    assert reg.loc[NEW, "direction"].tolist() == [-1, 1, 1]
    assert reg.loc["attendance_rate_365d", "value_format"] == ".0%"
    assert reg.loc["attendance_rate_365d", "reason_lv"].format(value="57%") == (
        "Stundu apmeklējums pēdējos 12 mēnešos: 57%"
    )
    assert reg.loc["unexcused_lessons_365d", "reason_lv"].format(value=9) == (
        "Neattaisnoti kavējumi pēdējos 12 mēnešos: 9 stundas"
    )
    assert reg.loc["unexcused_lessons_365d", "reason_en"].format(value=9) == (
        "Unexcused absences in the last 12 months: 9 lessons"
    )


def test_window_edges_by_hand(edge):
    X = build_features(edge, AS_OF)
    assert list(X.index) == ["x", "y", "z", "w"]
    x = X.loc["x"]
    # in [2024-10-15, 2025-10-15): lessons 6 + 6 + 6 + 6 + 6 = 30;
    # attended 0 + 2 + (1 + 5) + 3 + 6 = 17; unexcused 6 + 3; excused 4
    assert x["attendance_rate_365d"] == 17 / 30
    assert x["unexcused_lessons_365d"] == 9.0
    assert x["excused_lessons_365d"] == 4.0
    # the school year alone (from 2025-09-01) sees much less of the pupil
    assert x["attendance_rate_ytd"] == 9 / 12
    assert x["unexcused_lessons_90d"] == 3.0
    # y: records only on as_of - 366 and on/after as_of -> unknown, not zero
    y = X.loc["y"]
    for col in NEW:
        assert np.isnan(y[col]), col
    # z: records, no absence -> real zeros
    z = X.loc["z"]
    assert z["attendance_rate_365d"] == 1.0
    assert z["unexcused_lessons_365d"] == 0.0
    assert z["excused_lessons_365d"] == 0.0
    # w: a record with 0 lessons: no rate, but counts are 0 (same rule as 90 days)
    w = X.loc["w"]
    assert np.isnan(w["attendance_rate_365d"])
    assert w["unexcused_lessons_365d"] == 0.0 == w["unexcused_lessons_90d"]
    assert w["excused_lessons_365d"] == 0.0 == w["excused_lessons_90d"]


def test_window_moves_with_as_of(edge):
    # one day later: 2024-10-15 (6 unexcused) drops out, 2025-10-15 (2 unexcused,
    # 4 present) comes in
    X = build_features(edge, AS_OF + pd.Timedelta(days=1))
    x = X.loc["x"]
    assert x["attendance_rate_365d"] == 21 / 30
    assert x["unexcused_lessons_365d"] == 5.0
    assert x["excused_lessons_365d"] == 4.0
    # y's as_of record is now inside: 6 lessons, none attended
    assert X.loc["y", "attendance_rate_365d"] == 0.0
    assert X.loc["y", "unexcused_lessons_365d"] == 6.0
    assert X.loc["y", "excused_lessons_365d"] == 0.0
    # one day earlier: 2024-10-14 is the first day of the window, 2025-10-14 is not in it
    X = build_features(edge, AS_OF - pd.Timedelta(days=1))
    x = X.loc["x"]
    assert x["attendance_rate_365d"] == 11 / 30
    assert x["unexcused_lessons_365d"] == 15.0
    assert X.loc["y", "attendance_rate_365d"] == 1.0
    assert X.loc["y", "unexcused_lessons_365d"] == 0.0


def test_point_in_time_and_panel(edge):
    full = build_features(edge, AS_OF)
    past = build_features(edge.as_known_at(AS_OF), AS_OF)
    pd.testing.assert_frame_equal(full, past, check_exact=True)
    dates = [AS_OF + pd.Timedelta(days=1), D("2025-03-01"), AS_OF]
    panel = build_feature_panel(edge, dates)
    for d in dates:
        pd.testing.assert_frame_equal(
            panel.loc[d], build_features(edge, d), check_exact=True, check_names=False
        )
    assert panel.loc[AS_OF, "unexcused_lessons_365d"].loc["x"] == 9.0


def test_no_record_before_as_of(edge):
    # the first record (2024-10-14) is on or after these dates: everything unknown
    for as_of in ("2024-10-01", "2024-10-14"):
        X = build_features(edge, as_of)
        assert len(X) == 4
        for col in [*NEW, "attendance_rate_ytd", "unexcused_lessons_90d"]:
            assert X[col].isna().all(), (as_of, col)
    # 2024-10-14 is known, but the records do not cover the 365 days before as_of:
    # the window is unknown for everybody (not a one-day window)
    X = build_features(edge, "2024-10-15")
    assert X[NEW].isna().all().all()
    assert X.loc["x", "unexcused_lessons_90d"] == 6.0  # the shorter windows are known
    # from the first record + 365 days on, the window is covered
    X = build_features(edge, "2025-10-14")
    assert X.loc["x", "unexcused_lessons_365d"] == 15.0
    assert X.loc["y", "attendance_rate_365d"] == 1.0
    assert X.loc["z", "attendance_rate_365d"] == 1.0


# ----------------------------------------------------------------------------- reference
def _reference(tables: rm.SchoolTables, as_of: pd.Timestamp, index: pd.Index) -> pd.DataFrame:
    """The three features in plain pandas, straight from the definition."""
    att = tables.attendance
    start = as_of - pd.Timedelta(days=365)
    win = att[(att["date"] >= start) & (att["date"] < as_of)]
    if start < att["date"].min():  # the records do not cover the window
        win = win.iloc[:0]
    pid = win["pupil_id"].astype("str")
    status = win["status"].astype("str")
    les = win["lessons"].astype("int64")
    g = pd.DataFrame(
        {
            "tot": les,
            "att": les.where(status.isin(["present", "late"]), 0),
            "exc": les.where(status == "absent_excused", 0),
            "unx": les.where(status == "absent_unexcused", 0),
        }
    ).groupby(pid.to_numpy()).sum()
    g = g.reindex(index)  # NaN for pupils without a record in the window
    rate = (g["att"] / g["tot"]).where(g["tot"] > 0)
    return pd.DataFrame(
        {
            "attendance_rate_365d": rate,
            "excused_lessons_365d": g["exc"].astype("float64"),
            "unexcused_lessons_365d": g["unx"].astype("float64"),
        },
        index=index,
    )


def _random_tables(random_state: int, n: int = 30) -> rm.SchoolTables:
    """Pupils enrolled from 2022-09-01 on, with random daily attendance over
    about two years (gaps included) in random row order."""
    rng = np.random.default_rng(random_state)
    ids = [f"p{i:02d}" for i in range(n)]
    pupils = pd.DataFrame(
        {"pupil_id": ids, "birth_date": ["2010-01-01"] * n, "sex": rng.choice(["F", "M"], n)}
    )
    enrolments = pd.DataFrame(
        {
            "pupil_id": ids,
            "school_id": "s1",
            "municipality_id": "m1",
            "school_year": 2022,
            "grade": 5,
            "start_date": "2022-09-01",
            "end_date": None,
            "end_reason": None,
        }
    )
    rows = []
    statuses = list(rm.vocab.ATTENDANCE_STATUSES)
    days = pd.bdate_range("2022-09-01", "2024-11-29")
    for p in ids:
        keep = days[rng.random(len(days)) < rng.uniform(0.05, 0.9)]
        if rng.random() < 0.2:  # some pupils stop having records for a long time
            keep = keep[keep < D("2023-06-01")]
        for d in keep:
            for s in rng.choice(statuses, int(rng.integers(1, 3)), replace=False):
                rows.append((p, d, str(s), int(rng.integers(0, 8))))
    attendance = pd.DataFrame(rows, columns=["pupil_id", "date", "status", "lessons"])
    attendance = attendance.sample(frac=1.0, random_state=random_state)
    return rm.SchoolTables(pupils=pupils, enrolments=enrolments, attendance=attendance)


@pytest.mark.parametrize("random_state", [1, 2])
def test_matches_pandas_reference(random_state):
    tables = _random_tables(random_state)
    dates = [D("2023-02-10"), D("2023-09-04"), D("2023-10-01"), D("2024-06-30"),
             D("2024-09-02"), D("2024-11-15")]
    panel = build_feature_panel(tables, dates)
    for d in dates:
        got = build_features(tables, d)[NEW]
        want = _reference(tables, d, got.index)
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)
        pd.testing.assert_frame_equal(panel.loc[d, NEW], got, check_exact=True,
                                      check_names=False)
    # the windows differ from the school-year ones (the test is not vacuous)
    late = build_features(tables, D("2024-10-01"))
    assert late["attendance_rate_365d"].notna().sum() > 10
    assert (late["unexcused_lessons_365d"] > late["unexcused_lessons_90d"]).sum() > 10
    assert late["unexcused_lessons_365d"].isna().sum() > 0

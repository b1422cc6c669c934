"""Tests of riskmodel.features: exact values on hand-made tables, the
point-in-time property on random tables, the registry and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import riskmodel as rm
from riskmodel.errors import ConfigError
from riskmodel.features import (
    FeatureConfig,
    build_feature_panel,
    build_features,
    feature_names,
    pupil_frame,
    registry,
    registry_markdown,
)

ROOT = Path(__file__).resolve().parents[1]
D = pd.Timestamp


# ----------------------------------------------------------------------------- fixtures
def _hand_tables(**drop) -> rm.SchoolTables:
    """Four pupils with known records (see the expected values in the tests)."""
    pupils = pd.DataFrame(
        {
            "pupil_id": ["a", "b", "c", "d"],
            "birth_date": ["2011-05-01", "2010-02-01", "2009-03-01", "2012-01-10"],
            "sex": ["F", "M", "F", "M"],
            "home_language": ["lv", "ru", "lv", "lv"],
            "migrant_background": [False, True, False, False],
            "special_needs": [False, False, True, False],
        }
    )
    enrolments = pd.DataFrame(
        {
            "pupil_id": ["a", "b", "c", "c", "c", "d", "d"],
            "school_id": ["s1", "s1", "s2", "s2", "s1", "s1", "s1"],
            "municipality_id": ["m1", "m1", "m2", "m2", "m1", "m1", "m1"],
            "school_year": [2024, 2024, 2022, 2023, 2024, 2023, 2024],
            "grade": [7, 8, 8, 8, 9, 5, 6],
            "start_date": [
                "2024-09-02", "2024-09-02", "2022-09-01", "2023-09-01", "2024-09-16",
                "2023-09-01", "2024-09-02",
            ],
            "end_date": [
                None, "2025-02-14", "2023-05-31", "2024-05-31", None, "2024-05-31", None,
            ],
            "end_reason": [None, "left", "completed", "completed", None, "completed", None],
        }
    )
    # attendance: weekdays 2024-09-02 .. 2024-11-29, 6 lessons a day
    days = pd.bdate_range("2024-09-02", "2024-11-29")
    rows = []
    for d in days:
        # a: always present
        rows.append(("a", d, "present", 6))
        # b: absent (unexcused) every Monday, late 1 lesson on Wednesdays,
        #    absent (excused) 2024-11-11..2024-11-15 (a run of 5 school days)
        if D("2024-11-11") <= d <= D("2024-11-15"):
            rows.append(("b", d, "absent_excused", 6))
        elif d.day_of_week == 0:
            rows.append(("b", d, "absent_unexcused", 6))
        elif d.day_of_week == 2:
            rows.append(("b", d, "late", 1))
            rows.append(("b", d, "present", 5))
        else:
            rows.append(("b", d, "present", 6))
        # c: only from 2024-09-16 (its enrolment), 2 unexcused lessons on Fridays
        if d >= D("2024-09-16"):
            if d.day_of_week == 4:
                rows.append(("c", d, "absent_unexcused", 2))
                rows.append(("c", d, "present", 4))
            else:
                rows.append(("c", d, "present", 6))
        # d: no attendance records at all
    attendance = pd.DataFrame(rows, columns=["pupil_id", "date", "status", "lessons"])
    grades = pd.DataFrame(
        [
            ("a", "2024-09-20", "latvian", "8", "formative"),
            ("a", "2024-10-20", "latvian", "6", "formative"),
            ("a", "2024-11-19", "mathematics", "4", "formative"),
            ("b", "2024-09-10", "mathematics", "3", "formative"),
            ("b", "2024-10-10", "mathematics", "2", "formative"),
            ("b", "2024-10-15", "history", "nv", "formative"),
            ("b", "2024-10-16", "history", "5", "formative"),
            ("c", "2024-06-10", "mathematics", "3", "year"),
            ("c", "2024-06-10", "latvian", "6", "year"),
            ("c", "2024-10-01", "mathematics", "3", "formative"),
            ("c", "2024-10-02", "physics", "4", "formative"),
            ("c", "2024-10-03", "chemistry", "3", "formative"),
            ("c", "2024-10-04", "chemistry", "4", "formative"),
            ("d", "2024-10-01", "latvian", "S", "formative"),
            ("d", "2024-10-02", "latvian", "T", "formative"),
            ("d", "2024-10-03", "mathematics", "S", "formative"),
            ("d", "2024-10-04", "mathematics", "A", "formative"),
        ],
        columns=["pupil_id", "date", "subject", "grade", "kind"],
    )
    engagement = pd.DataFrame(
        [
            ("a", "2024-10-01", "parent_login"),
            ("a", "2024-11-20", "parent_login"),
            ("a", "2024-11-21", "message_read"),
            ("a", "2024-10-05", "meeting_invited"),
            ("a", "2024-10-06", "meeting_attended"),
            ("b", "2024-09-05", "meeting_invited"),
            ("b", "2024-11-05", "meeting_invited"),
            ("b", "2024-11-06", "contact_failed"),
            ("b", "2024-11-07", "message_unanswered"),
            ("b", "2024-06-01", "consultation"),
        ],
        columns=["pupil_id", "date", "event"],
    )
    schools = pd.DataFrame(
        {"school_id": ["s1", "s2"], "municipality_id": ["m1", "m2"], "urban": [True, False]}
    )
    tables = dict(
        pupils=pupils, enrolments=enrolments, attendance=attendance, grades=grades,
        engagement=engagement, schools=schools,
    )
    for name in drop:
        tables[name] = None
    return rm.SchoolTables(**tables)


@pytest.fixture(scope="module")
def hand():
    return _hand_tables()


@pytest.fixture(scope="module")
def X(hand):
    return build_features(hand, "2024-12-02")


# ----------------------------------------------------------------------------- shape
def test_rows_index_and_columns(X):
    assert X.index.name == "pupil_id"
    assert list(X.index) == ["a", "b", "c", "d"]
    assert list(X.columns) == feature_names()
    assert (X.dtypes == np.float64).all()


def test_enrolment_rule_and_grade_range(hand):
    # b's enrolment ends 2025-02-14: enrolled up to and including that day
    assert "b" in build_features(hand, "2025-02-14").index
    assert "b" not in build_features(hand, "2025-02-15").index
    # c starts 2024-09-16: enrolled only from the day after (start < as_of)
    assert "c" not in build_features(hand, "2024-09-16").index
    assert "c" in build_features(hand, "2024-09-17").index
    X = build_features(hand, "2024-12-02", config={"min_grade": 7, "max_grade": 8})
    assert list(X.index) == ["a", "b"]
    assert list(pupil_frame(hand, "2024-12-02", FeatureConfig(min_grade=9)).index) == ["c"]


# ----------------------------------------------------------------------------- attendance
def test_attendance_values(X):
    # window [2024-09-02, 2024-12-02): 65 weekdays
    a, b, c = X.loc["a"], X.loc["b"], X.loc["c"]
    assert a["attendance_rate_ytd"] == 1.0
    assert a["unexcused_lessons_28d"] == 0.0  # records, no such absence: a real zero
    assert a["longest_absence_run_days_ytd"] == 0.0
    assert np.isnan(a["monday_friday_absence_share_ytd"])  # nothing missed
    # b over the school year: 13 Mondays; 2024-11-11 (Monday) is in the excused week
    mondays_unexcused = 12
    excused = 5 * 6
    total = 65 * 6
    attended = total - mondays_unexcused * 6 - excused
    assert b["attendance_rate_ytd"] == pytest.approx(attended / total)
    # last 28 days = [2024-11-04, 2024-12-02): 20 weekdays, Mondays 11-04, 11-18, 11-25
    assert b["unexcused_lessons_28d"] == 3 * 6
    assert b["unexcused_days_28d"] == 3
    assert b["excused_lessons_28d"] == 30
    assert b["excused_days_28d"] == 5
    assert b["late_lessons_28d"] == 3  # Wednesdays 11-06, 11-20, 11-27 (11-13 excused)
    assert b["attendance_rate_28d"] == pytest.approx((120 - 18 - 30) / 120)
    # run: Mon 11-11 .. Fri 11-15 excused, then Mon 11-18 unexcused -> 6 school days;
    # the Friday before (11-08) was attended
    assert b["longest_absence_run_days_ytd"] == 6
    # share of missed lessons on Monday/Friday: Mondays 12*6 + excused Mon 11-11 and
    # Fri 11-15 (12) out of 12*6 + 30
    assert b["monday_friday_absence_share_ytd"] == pytest.approx((72 + 12) / (72 + 30))
    assert b["chronic_absence_ytd"] == 1.0
    assert a["chronic_absence_ytd"] == 0.0
    # c: Fridays lose 2 of 6 lessons
    assert c["monday_friday_absence_share_ytd"] == 1.0
    assert c["unexcused_days_90d"] > 0


def test_attendance_trend(hand):
    X = build_features(hand, "2024-12-02")
    b = X.loc["b"]
    # rest of the year: [2024-09-02, 2024-11-04): 45 weekdays, 9 Mondays unexcused
    rest = (45 * 6 - 9 * 6) / (45 * 6)
    assert b["attendance_trend_28d"] == pytest.approx(b["attendance_rate_28d"] - rest)
    # within 28 days of the school-year start there is no "rest of the year"
    early = build_features(hand, "2024-09-20")
    assert early["attendance_trend_28d"].isna().all()


def test_no_attendance_records_gives_nan(X):
    d = X.loc["d"]
    for col in ("attendance_rate_ytd", "unexcused_lessons_28d", "longest_absence_run_days_ytd",
                "chronic_absence_ytd"):
        assert np.isnan(d[col]), col


def test_out_of_term_windows_are_nan_not_zero(hand):
    # no attendance records in the summer: 28-day counts are unknown, not zero
    X = build_features(hand, "2025-01-31")
    assert X["unexcused_lessons_28d"].isna().all()
    assert X["attendance_rate_ytd"].notna().sum() == 3


# ----------------------------------------------------------------------------- grades
def test_grade_values(X):
    a, b, c, d = (X.loc[p] for p in "abcd")
    assert a["grade_mean_ytd"] == pytest.approx(6.0)
    assert a["grade_mean_90d"] == pytest.approx(6.0)  # 90 days: from 2024-09-03
    assert a["grade_min_90d"] == 4.0
    assert a["grade_mean_latvian_ytd"] == pytest.approx(7.0)
    assert a["grade_mean_mathematics_ytd"] == pytest.approx(4.0)
    # slope of (09-20, 8), (10-20, 6), (11-19, 4) = -2 per 30 days
    assert a["grade_trend_ytd"] == pytest.approx(-2.0)
    assert a["subjects_below_pass_ytd"] == 0.0
    assert a["nv_marks_ytd"] == 0.0
    assert np.isnan(a["grade9_subjects_below_pass_projected"])  # grade 7
    assert b["subjects_below_pass_ytd"] == 1.0  # maths 2.5; history 5
    assert b["nv_marks_ytd"] == 1.0
    assert b["grade_min_90d"] == 2.0
    assert np.isnan(b["subjects_below_pass_last_term"])  # no term grades
    # c (grade 9): maths 3, physics 4, chemistry 3.5 -> below 4: maths, chemistry;
    # projected (mean < 3.5): maths only
    assert c["subjects_below_pass_ytd"] == 2.0
    assert c["grade9_subjects_below_pass_projected"] == 1.0
    assert c["subjects_below_pass_last_term"] == 1.0  # last year grades: maths 3, latvian 6
    assert np.isnan(c["learning_level_s_share_ytd"])
    # d: learning levels S, T, S, A
    assert d["learning_level_s_share_ytd"] == pytest.approx(0.5)
    assert np.isnan(d["grade_mean_ytd"])
    assert d["nv_marks_ytd"] == 0.0


def test_last_term_grade_expires_after_a_year(hand):
    X = build_features(hand, "2025-06-11")
    assert np.isnan(X.loc["c", "subjects_below_pass_last_term"])


# ----------------------------------------------------------------------------- engagement
def test_engagement_values(X):
    a, b, c = X.loc["a"], X.loc["b"], X.loc["c"]
    assert a["parent_logins_28d"] == 1 and a["parent_logins_90d"] == 2
    assert a["messages_read_28d"] == 1
    assert a["days_since_parent_contact"] == (D("2024-12-02") - D("2024-11-21")).days
    assert a["meeting_attendance_share_365d"] == 1.0
    assert b["meeting_attendance_share_365d"] == 0.0
    assert b["contacts_failed_90d"] == 1 and b["messages_unanswered_90d"] == 1
    assert b["days_since_parent_contact"] == (D("2024-12-02") - D("2024-06-01")).days
    # c: table present, no events -> counts 0, no contact within a year -> the cap
    assert c["parent_logins_90d"] == 0.0
    assert c["days_since_parent_contact"] == 365
    assert np.isnan(c["meeting_attendance_share_365d"])


# ----------------------------------------------------------------------------- transitions
def test_transition_values(X):
    a, b, c, d = (X.loc[p] for p in "abcd")
    assert a["grade_level"] == 7
    # a: born 2011, grade 7 in 2024: 2024 - 2011 - 13 = 0
    assert a["over_age_years"] == 0
    # c: born 2009, grade 9 in 2024: 15 - 15 = 0; repeated grade 8 in 2023
    assert c["grade_repetitions"] == 1
    assert c["school_changes_2y"] == 1  # s2 -> s1 in 2024-09
    # gap between 2024-05-31 and 2024-09-16: 2024-09-02 .. 2024-09-13 = 10 weekdays
    assert c["enrolment_gap_days_2y"] == 10
    assert d["grade_repetitions"] == 0 and d["school_changes_2y"] == 0
    assert d["enrolment_gap_days_2y"] == 0
    # records start 2022-09-01: enough history on 2024-12-02
    assert a["new_arrival_365d"] == 1.0  # first enrolment 2024-09, grade 7
    assert c["new_arrival_365d"] == 0.0
    assert (X["finished_grade9_lieciba"] == 0).all()
    # c repeated grade 8 in 2023/24, not in 2024/25; nobody else ever repeated
    assert (X["repeating_grade"] == 0).all()
    # c changed school (s2 -> s1) on 2024-09-16: 77 days before 2024-12-02; others never
    assert c["days_since_school_change"] == 77
    assert X.loc[["a", "b", "d"], "days_since_school_change"].isna().all()


def test_repeating_grade_is_the_current_year_only(hand):
    X = build_features(hand, "2023-10-10")  # c is in grade 8 for the second year
    assert X.loc["c", "repeating_grade"] == 1
    assert X.loc["c", "grade_repetitions"] == 1
    assert X.loc["d", "repeating_grade"] == 0
    # no school change yet on that date (c's change to s1 starts 2024-09-16)
    assert X["days_since_school_change"].isna().all()


def test_new_arrival_unknown_without_history():
    t = _hand_tables()
    # records start 2022-09-01; on 2023-09-20 a first enrolment in 2022-09 could be a
    # new arrival or not: unknown
    X = build_features(t, "2023-09-20")
    assert X["new_arrival_365d"].isna().all()
    assert build_features(t, "2023-10-10")["new_arrival_365d"].notna().all()


# ----------------------------------------------------------------------------- context
def test_context_values(X):
    # s1 on 2024-12-02: a, b, c, d; attendance over 90 days of a, b, c (d has none)
    assert (X["school_enrolled_pupils"] == 4).all()
    assert X.loc["a", "school_urban"] == 1.0
    assert X["school_attendance_rate_90d"].nunique() == 1
    # no early leaving known before 2024-12-02
    assert (X["school_leaving_rate_3y"] == 0).all()


def test_school_leaving_rate_uses_only_settled_past(hand):
    # b leaves s1 on 2025-02-14: unknown on 2025-03-01 (grace of 30 days not over)
    before = build_features(hand, "2025-03-01")
    assert (before["school_leaving_rate_3y"] == 0).all()
    after = build_features(hand, "2025-03-20")
    # s1 enrolments active in the last 3 years: a, b, c(2024), d(2023), d(2024) -> 1/5
    assert after.loc["a", "school_leaving_rate_3y"] == pytest.approx(1 / 5)
    assert after.loc["a", "municipality_leaving_rate_3y"] == pytest.approx(1 / 5)


# ----------------------------------------------------------------------------- missing data
@pytest.mark.parametrize(
    "table,domain", [("attendance", "attendance"), ("grades", "grades"),
                     ("engagement", "engagement")]
)
def test_missing_table_gives_nan_domain(table, domain):
    t = _hand_tables(**{table: True})
    X = build_features(t, "2024-12-02")
    reg = registry(include_sensitive=False)
    cols = reg.index[reg["domain"] == domain]
    assert X[cols].isna().all().all()
    other = reg.index[reg["domain"] == "transitions"]
    assert X[other].notna().any().all()
    if table == "attendance":
        assert X["school_attendance_rate_90d"].isna().all()


def test_domains_and_sensitive_config(hand):
    X = build_features(hand, "2024-12-02", FeatureConfig(domains=["grades"]))
    assert set(registry().loc[X.columns, "domain"]) == {"grades"}
    S = build_features(hand, "2024-12-02", {"include_sensitive": True})
    assert list(S.columns) == feature_names(include_sensitive=True)
    assert S["sex_female"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert S["migrant_background"].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert S["home_language"].tolist() == ["lv", "ru", "lv", "lv"]
    assert registry().loc[["sex_female", "home_language"], "sensitive"].all()


# ----------------------------------------------------------------------------- pupil frame
def test_pupil_frame(hand):
    info = pupil_frame(hand, "2024-12-02")
    assert list(info.index) == ["a", "b", "c", "d"]
    assert info.loc["c", "school_id"] == "s1"
    assert info.loc["c", "grade"] == 9
    assert info["age"].tolist() == [13.0, 14.0, 15.0, 12.0]
    assert info.loc["b", "sex"] == "M"
    assert not info["liecība"].any()
    assert {"migrant_background", "special_needs", "home_language"} <= set(info.columns)


# ----------------------------------------------------------------------------- point in time
def _random_tables(random_state: int, n: int = 40) -> rm.SchoolTables:
    """A small random school system over two school years (2022, 2023)."""
    rng = np.random.default_rng(random_state)
    ids = [f"p{i:03d}" for i in range(n)]
    pupils = pd.DataFrame(
        {
            "pupil_id": ids,
            "birth_date": pd.to_datetime("2006-01-01")
            + pd.to_timedelta(rng.integers(0, 10 * 365, n), unit="D"),
            "sex": rng.choice(["F", "M"], n),
        }
    )
    enr, att, grd, eng = [], [], [], []
    reasons = ["left", "expelled", "emigrated", "other", "transferred"]
    for i, p in enumerate(ids):
        grade = int(rng.integers(1, 11))
        school = f"s{rng.integers(1, 4)}"
        start = D("2022-09-01")
        periods = []
        for year in (2022, 2023):
            start = D(f"{year}-09-01") + pd.Timedelta(days=int(rng.integers(0, 3)))
            end, reason = D(f"{year + 1}-05-31"), "completed"
            if grade == 9 and rng.random() < 0.3:
                reason = "completed_liecība"
            if rng.random() < 0.25:
                end = start + pd.Timedelta(days=int(rng.integers(20, 200)))
                reason = str(rng.choice(reasons))
            periods.append((school, year, grade, start, end, reason))
            if reason != "completed" and reason != "completed_liecība":
                if rng.random() < 0.6:  # re-enrols somewhere after a gap
                    s2 = D(end) + pd.Timedelta(days=int(rng.integers(1, 60)))
                    if s2 < D(f"{year + 1}-05-31"):
                        school = f"s{rng.integers(1, 4)}"
                        periods.append((school, year, grade, s2, D(f"{year + 1}-05-31"),
                                        "completed"))
                    else:
                        break
                else:
                    break
            if rng.random() > 0.1:
                grade = min(grade + 1, 12)
        if periods and rng.random() < 0.5:  # last enrolment still open
            s, y, g, st, _, _ = periods[-1]
            periods[-1] = (s, y, g, st, pd.NaT, None)
        for s, y, g, st, en, r in periods:
            enr.append((p, s, "m" + s[1], y, g, st, en, r))
            last = en if en is not pd.NaT else D("2024-06-15")
            days = pd.bdate_range(st, last)
            days = days[rng.random(len(days)) < 0.7]
            absent_p = rng.uniform(0.0, 0.3)
            for d in days:
                u = rng.random()
                if u < absent_p:
                    att.append((p, d, str(rng.choice(["absent_excused", "absent_unexcused"])),
                                int(rng.integers(1, 7))))
                    if rng.random() < 0.3:
                        att.append((p, d, "present", int(rng.integers(1, 4))))
                else:
                    att.append((p, d, str(rng.choice(["present", "late"], p=[0.9, 0.1])),
                                int(rng.integers(4, 8))))
            for d in pd.DatetimeIndex(rng.choice(pd.date_range(st, last), 12)):
                subj = str(rng.choice(["latvian", "mathematics", "english", "history"]))
                val = str(rng.choice(["S", "T", "A", "P"])) if g <= 3 else str(
                    rng.choice([*map(str, range(1, 11)), "nv"]))
                kind = str(rng.choice(["formative", "summative", "term"], p=[0.7, 0.2, 0.1]))
                grd.append((p, d, subj, val, kind))
            for d in pd.DatetimeIndex(rng.choice(pd.date_range(st, last), 10)):
                eng.append((p, d, str(rng.choice(rm.vocab.ENGAGEMENT_EVENTS))))
    enrolments = pd.DataFrame(
        enr, columns=["pupil_id", "school_id", "municipality_id", "school_year", "grade",
                      "start_date", "end_date", "end_reason"])
    attendance = pd.DataFrame(att, columns=["pupil_id", "date", "status", "lessons"])
    attendance = attendance.groupby(["pupil_id", "date", "status"], as_index=False)["lessons"].sum()
    attendance = attendance.sample(frac=1.0, random_state=random_state)  # not sorted
    grades = pd.DataFrame(grd, columns=["pupil_id", "date", "subject", "grade", "kind"])
    engagement = pd.DataFrame(eng, columns=["pupil_id", "date", "event"])
    return rm.SchoolTables(pupils, enrolments, attendance, grades, engagement)


@pytest.fixture(scope="module")
def world():
    return _random_tables(7)


def test_point_in_time_random_dates(world):
    rng = np.random.default_rng(0)
    days = pd.date_range("2022-10-01", "2024-06-10")
    cfg = FeatureConfig(include_sensitive=True)
    for as_of in rng.choice(days, 8, replace=False):
        as_of = D(as_of)
        full = build_features(world, as_of, cfg)
        past = build_features(world.as_known_at(as_of), as_of, cfg)
        pd.testing.assert_frame_equal(full, past, check_exact=True)
        assert len(full) > 0


def test_future_records_do_not_change_features(world):
    """Adding records dated on or after as_of changes nothing."""
    as_of = D("2023-11-15")
    base = build_features(world, as_of)
    att = world.attendance.copy()
    late = att[att["date"] >= as_of].copy()
    late["status"] = "absent_unexcused"
    moved = pd.concat([att[att["date"] < as_of], late.assign(date=as_of)])
    moved = moved.drop_duplicates(["pupil_id", "date", "status"])
    t2 = rm.SchoolTables(world.pupils, world.enrolments, moved, world.grades, world.engagement)
    pd.testing.assert_frame_equal(base, build_features(t2, as_of), check_exact=True)


def test_row_order_does_not_matter(world):
    as_of = D("2023-12-04")
    base = build_features(world, as_of)
    shuffled = {
        name: getattr(world, name).sample(frac=1.0, random_state=3).reset_index(drop=True)
        for name in ("attendance", "grades", "engagement")
    }
    t2 = rm.SchoolTables(world.pupils, world.enrolments, **shuffled)
    pd.testing.assert_frame_equal(base, build_features(t2, as_of), check_exact=True)


def test_panel_equals_single_dates(world):
    dates = pd.date_range("2023-01-01", periods=4, freq="MS")
    panel = build_feature_panel(world, dates)
    assert panel.index.names == ["as_of", "pupil_id"]
    for d in dates:
        pd.testing.assert_frame_equal(
            panel.loc[d], build_features(world, d), check_exact=True, check_names=False
        )


def _assert_index_as_from_arrays(index: pd.MultiIndex) -> None:
    """The panel index equals, level by level, what MultiIndex.from_arrays builds."""
    ref = pd.MultiIndex.from_arrays(
        [index.get_level_values(0), index.get_level_values(1)], names=index.names
    )
    for got, exp in zip(index.levels, ref.levels, strict=True):
        assert got.equals(exp) and got.dtype == exp.dtype and got.name == exp.name
    for got, exp in zip(index.codes, ref.codes, strict=True):
        np.testing.assert_array_equal(got, exp)


@pytest.mark.parametrize("min_grade, max_grade", [(1, 12), (1, 6)])
def test_panel_across_years_in_any_date_order(world, min_grade, max_grade):
    """Dates over two school years, unsorted, some with no pupil in the grade range
    (grades 1-6): each block equals the single-date call, and the index is the one
    MultiIndex.from_arrays gives."""
    dates = list(pd.date_range("2022-09-05", "2024-06-01", freq="33D"))[::-1]
    cfg = FeatureConfig(min_grade=min_grade, max_grade=max_grade, include_sensitive=True)
    panel = build_feature_panel(world, dates, cfg)
    _assert_index_as_from_arrays(panel.index)
    blocks = panel.index.get_level_values("as_of")
    assert blocks.unique().tolist() == [d for d in dates if d in set(blocks)]
    n_checked = 0
    for d in dates:
        try:
            single = build_features(world, d, cfg)
        except ValueError:  # nobody enrolled (summer)
            assert d not in set(blocks)
            continue
        if len(single):
            pd.testing.assert_frame_equal(
                panel.loc[d], single, check_exact=True, check_names=False
            )
            n_checked += 1
        else:
            assert d not in set(blocks)
    assert n_checked >= 10


def test_panel_with_unsorted_pupil_ids(world):
    """Pupils listed in descending id order (the index is then built by
    factorising the ids): blocks still equal the single-date calls."""
    pupils = world.pupils.iloc[::-1].reset_index(drop=True)
    other = {
        name: getattr(world, name).assign(
            pupil_id=lambda df: df["pupil_id"].astype("str")
        )
        for name in ("enrolments", "attendance", "grades", "engagement")
    }
    t2 = rm.SchoolTables(pupils, **other)
    assert not t2.pupils["pupil_id"].is_monotonic_increasing
    dates = [D("2024-03-04"), D("2023-10-02")]
    panel = build_feature_panel(t2, dates)
    _assert_index_as_from_arrays(panel.index)
    for d in dates:
        single = build_features(t2, d)
        pd.testing.assert_frame_equal(panel.loc[d], single, check_exact=True, check_names=False)
        # the same pupils and values as with the sorted pupils table
        pd.testing.assert_frame_equal(
            single.sort_index(), build_features(world, d).sort_index(), check_exact=True
        )


def test_panel_leaves_out_dates_without_pupils(hand, caplog):
    # the hand-made enrolments start on 2022-09-01: nobody is enrolled on 2022-07-01 nor
    # waiting to continue (the summer of 2024 has pupils waiting: see test_summer.py)
    with pytest.raises(ValueError, match="No pupil is enrolled on as_of=2022-07-01"):
        build_features(hand, "2022-07-01")
    with caplog.at_level("WARNING", logger="riskmodel.features._build"):
        panel = build_feature_panel(hand, ["2022-07-01", "2024-12-02"])
    assert "left out of the panel" in caplog.text
    assert panel.index.get_level_values("as_of").unique().tolist() == [D("2024-12-02")]
    with pytest.raises(ValueError, match="any of the 'as_of_dates'"):
        build_feature_panel(hand, ["2022-07-01"])


# ----------------------------------------------------------------------------- registry
def test_registry_is_complete_and_well_formed():
    reg = registry()
    assert reg.index.is_unique
    assert set(reg["domain"]) <= set(rm.vocab.DOMAINS)
    assert set(reg["direction"]) <= {-1, 0, 1}
    for name, r in reg.iterrows():
        for lang in ("en", "lv"):
            assert "{value}" in r[f"reason_{lang}"], name
            assert len(r[f"description_{lang}"]) > 20, name
        if r["value_format"]:
            format(0.25, r["value_format"])  # a valid format spec
    assert reg.loc["unexcused_lessons_28d", "reason_lv"].format(value=5) == (
        "Neattaisnoti kavējumi pēdējās 4 nedēļās: 5 stundas"
    )
    assert reg.attrs["version"] >= 1


def test_docs_are_generated_from_registry():
    doc = (ROOT / "docs" / "features.md").read_text(encoding="utf-8")
    assert doc == registry_markdown(), "run riskmodel.features.registry_markdown() to update"
    for name in feature_names(include_sensitive=True):
        assert f"`{name}`" in doc


# ----------------------------------------------------------------------------- bad input
def test_bad_as_of(hand):
    with pytest.raises(TypeError, match="'as_of' parameter of build_features"):
        build_features(hand, 20241202)
    with pytest.raises(ValueError, match="without a time of day"):
        build_features(hand, "2024-12-02 10:00")
    with pytest.raises(ValueError, match="'as_of' parameter of build_features must be a valid"):
        build_features(hand, "2024-13-45")
    with pytest.raises(ValueError, match="No pupil is enrolled on as_of=2020-01-01"):
        build_features(hand, "2020-01-01")


def test_bad_config_and_panel_dates(hand):
    with pytest.raises(ConfigError, match="min_grd"):
        build_features(hand, "2024-12-02", {"min_grd": 3})
    with pytest.raises(ConfigError, match="min_grade"):
        build_features(hand, "2024-12-02", {"min_grade": 9, "max_grade": 5})
    with pytest.raises(TypeError, match="config"):
        build_features(hand, "2024-12-02", config=3)
    with pytest.raises(ValueError, match="must not repeat a date"):
        build_feature_panel(hand, ["2024-12-02", "2024-12-02"])
    with pytest.raises(ValueError, match="at least one date"):
        build_feature_panel(hand, [])
    with pytest.raises(TypeError, match="sequence of dates"):
        build_feature_panel(hand, "2024-12-02")
    with pytest.raises(TypeError, match="The 'tables' parameter of build_features must be a "
                                        r"riskmodel\.SchoolTables .*Got dict instead\."):
        build_features({"pupils": None}, "2024-12-02")
    with pytest.raises(ValueError, match="The 'tables' parameter of build_feature_panel"):
        build_feature_panel({"pupils": None}, ["2024-12-02"])

"""Tests of the synthetic school system (riskmodel.datasets.make_school_system)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import riskmodel as rm
from riskmodel import vocab

N_PUPILS, N_YEARS, RANDOM_STATE = 2_000, 2, 7
LEAVING = list(vocab.LEAVING_END_REASONS)


@pytest.fixture(scope="module")
def world():
    return rm.datasets.make_school_system(n_pupils=N_PUPILS, n_years=N_YEARS,
                                          random_state=RANDOM_STATE)


@pytest.fixture(scope="module")
def enrolled_at(world):
    """as_of -> enrolments open on that date (start <= as_of <= end)."""
    en = world.tables.enrolments
    return {
        d: en[(en["start_date"] <= d) & (en["end_date"] >= d)] for d in world.as_of_dates
    }


# ------------------------------------------------------------------- structure
def test_returns_validated_tables_in_normalised_form(world):
    t = world.tables
    assert isinstance(t, rm.SchoolTables)
    assert isinstance(world, rm.datasets.SchoolSystem)
    for name in ("pupils", "enrolments", "attendance", "grades", "engagement", "schools"):
        assert t.has(name), name
    # the support history (tests/test_support_history.py) carries the resource
    assert list(t.support.columns) == ["pupil_id", "start_date", "end_date", "kind",
                                       "resource_id"]
    ids = t.pupils["pupil_id"]
    assert ids.is_unique and str(ids.dtype) == "str"
    for name in ("enrolments", "attendance", "grades", "engagement", "support"):
        col = t[name]["pupil_id"]
        assert isinstance(col.dtype, pd.CategoricalDtype)
        assert col.cat.categories.equals(pd.Index(ids))
    assert t.attendance["lessons"].dtype == np.int16
    assert t.enrolments["grade"].dtype == np.int8
    assert t.enrolments["school_year"].dtype == np.int16
    assert list(t.attendance["status"].cat.categories) == list(vocab.ATTENDANCE_STATUSES)
    # re-validating the generator's output from plain copies accepts it unchanged
    again = rm.SchoolTables(**{k: v.copy() for k, v in t.to_dict().items()})
    assert len(again.attendance) == len(t.attendance)
    assert len(again.enrolments) == len(t.enrolments)


def test_same_seed_same_tables_different_seed_differs(world):
    kw = dict(n_pupils=400, n_years=1)
    a = rm.datasets.make_school_system(random_state=3, **kw)
    b = rm.datasets.make_school_system(random_state=3, **kw)
    c = rm.datasets.make_school_system(random_state=4, **kw)
    for name in ("pupils", "enrolments", "attendance", "grades", "engagement", "schools"):
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert a.tables.fingerprint() == b.tables.fingerprint()
    assert a.tables.fingerprint() != c.tables.fingerprint()
    assert not a.truth["p_leave"].equals(c.truth["p_leave"])


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(n_pupils=10), ValueError, "'n_pupils'.*Got 10"),
        (dict(n_pupils=2.5e3), TypeError, "'n_pupils'"),
        (dict(n_years=0), ValueError, "'n_years'"),
        (dict(random_state=-1), ValueError, "'random_state' parameter of make_school_system"),
        (dict(random_state="0"), TypeError, "'random_state'.*Got '0'"),
        (dict(start_year=1900), ValueError, "'start_year'"),
    ],
)
def test_bad_arguments_are_rejected_with_the_parameter_named(kwargs, exc, match):
    with pytest.raises(exc, match=match) as info:
        rm.datasets.make_school_system(**kwargs)
    # one kind of error for every parameter: scikit-learn's, both ValueError and TypeError
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)


@pytest.mark.parametrize("param", ["drop_grades", "return_X_y"])
def test_load_student_performance_checks_its_flags(param):
    with pytest.raises(TypeError, match=f"The '{param}' parameter of load_student_performance "
                                        "must be an instance of 'bool'. Got 'yes' instead."):
        rm.datasets.load_student_performance(**{param: "yes"})


def test_seed_still_works_for_one_release_and_warns():
    kw = dict(n_pupils=300, n_years=1)
    with pytest.warns(FutureWarning, match="'seed' parameter of make_school_system was "
                                           "renamed 'random_state'"):
        old = rm.datasets.make_school_system(seed=5, **kw)
    new = rm.datasets.make_school_system(random_state=5, **kw)
    assert old.tables.fingerprint() == new.tables.fingerprint()
    assert old.config["random_state"] == 5


def test_dates_have_one_type_in_every_output(world):
    """Every date the generator hands out is tz-naive datetime64[ns]."""
    for name, df in world.tables.to_dict().items():
        for col in df.columns:
            if col.endswith("date"):
                assert df[col].dtype == "datetime64[ns]", (name, col)
    assert world.truth["as_of"].dtype == "datetime64[ns]"
    assert world.as_of_dates.dtype == "datetime64[ns]"
    assert world.truth["as_of"].isin(world.as_of_dates).all()


# --------------------------------------------------------------- calendar
def test_calendar_school_days_and_as_of_dates(world):
    a = world.tables.attendance
    days = pd.DatetimeIndex(np.unique(a["date"].to_numpy()))
    assert (days.day_of_week < 5).all()
    assert set(days.month) == {9, 10, 11, 12, 1, 2, 3, 4, 5}
    first_year = days[days < "2023-07-01"]
    assert 160 <= len(first_year) <= 180
    # holidays: Christmas, 18 November 2022 and the autumn week have no lessons
    for holiday in ("2022-12-27", "2023-01-02", "2022-11-18", "2022-10-26", "2023-03-22"):
        assert pd.Timestamp(holiday) not in days
    # grades 1-6 have a winter week in February, grades 7-12 do not
    feb = a[(a["date"] >= "2023-02-20") & (a["date"] <= "2023-02-24")]
    grade = world.tables.enrolments.drop_duplicates("pupil_id").set_index("pupil_id")["grade"]
    assert len(feb) > 0
    assert (grade.reindex(feb["pupil_id"].astype(str)).to_numpy() >= 7).mean() > 0.9
    # as_of dates: first school day of each month, September to May, each year
    ad = world.as_of_dates
    assert len(ad) == 9 * N_YEARS and ad.is_monotonic_increasing
    for d in ad:
        month_days = days[(days.year == d.year) & (days.month == d.month)]
        assert d == month_days.min()


# ---------------------------------------------------------- population
def test_pupil_attributes_have_realistic_shares(world):
    p = world.tables.pupils
    assert 0.45 <= (p["sex"] == "M").mean() <= 0.55
    lang = p["home_language"].value_counts(normalize=True)
    assert 0.65 <= lang["lv"] <= 0.85
    assert 0.10 <= lang["ru"] <= 0.30
    assert 0.02 <= p["migrant_background"].mean() <= 0.07
    assert 0.04 <= p["special_needs"].mean() <= 0.09


def test_schools_municipalities_and_grades(world):
    t = world.tables
    en = t.enrolments
    first = en[en["school_year"] == 2022]
    assert first["pupil_id"].nunique() == N_PUPILS
    assert set(first["grade"]) == set(range(1, 13))
    per_grade = first.groupby("grade")["pupil_id"].nunique()
    # grades 10-12 are smaller than grades 1-9 (many go to vocational schools)
    assert per_grade.loc[10:12].mean() < 0.85 * per_grade.loc[1:9].mean()
    size = first.groupby("school_id", observed=True)["pupil_id"].nunique()
    assert size.min() >= 20 and size.max() <= 1_300
    assert t.schools["municipality_id"].nunique() >= 5
    assert "Rīga" in set(t.schools["municipality_id"])
    # pupils progress: most pupils of year 1 are one grade higher in year 2
    g = en.pivot_table(index="pupil_id", columns="school_year", values="grade",
                       aggfunc="max", observed=True).dropna()
    step = g[2023] - g[2022]
    assert step.isin([0, 1]).all()
    assert 0.002 <= (step == 0).mean() <= 0.05  # repetition is rare
    # a new grade-1 cohort enters in the second year
    entrants = en.groupby("pupil_id", observed=True)["school_year"].min() == 2023
    assert entrants.sum() > 0.06 * N_PUPILS


def test_enrolments_are_consistent(world):
    en = world.tables.enrolments
    assert (en["end_date"] >= en["start_date"]).all()
    assert en["end_reason"].notna().all()  # every simulated year is closed
    # grade 9 ends with the certificate or a liecība; no other grade does
    g9 = en["end_reason"].isin(["completed_certificate", "completed_liecība"])
    assert (en.loc[g9, "grade"] == 9).all()
    # transfers: the next enrolment starts after the old one ended, at another school
    en = en.sort_values(["pupil_id", "start_date"])
    nxt = en.groupby("pupil_id", observed=True).shift(-1)
    tr = en["end_reason"] == "transferred"
    assert tr.sum() > 0
    assert (nxt.loc[tr, "start_date"] > en.loc[tr, "end_date"]).all()
    assert (nxt.loc[tr, "school_id"].astype(str) != en.loc[tr, "school_id"].astype(str)).all()
    # leavers, emigrants and grade-12 completers do not come back
    gone = en["end_reason"].isin(LEAVING + ["emigrated"]) | (
        (en["grade"] == 12) & (en["end_reason"] == "completed"))
    assert nxt.loc[gone, "start_date"].isna().all()


# ---------------------------------------------------------- attendance
def test_attendance_rates_have_a_realistic_mean_and_a_chronic_tail(world):
    a = world.tables.attendance
    present = a["status"].isin(["present", "late"]).to_numpy()
    rate = pd.Series(present).groupby(a["pupil_id"].cat.codes.to_numpy()).mean()
    assert 0.92 <= rate.mean() <= 0.96
    chronic = (rate < 0.8).mean()
    assert 0.005 <= chronic <= 0.08
    share = a["status"].value_counts(normalize=True)
    assert 0.005 <= share["absent_unexcused"] <= 0.04
    assert 0.02 <= share["absent_excused"] <= 0.06
    assert 0.005 <= share["late"] <= 0.04
    assert a["lessons"].between(4, 8).all()
    # older pupils have more lessons a day
    grade = world.tables.enrolments.drop_duplicates("pupil_id").set_index("pupil_id")["grade"]
    g = grade.reindex(a["pupil_id"].astype(str)).to_numpy()
    assert a["lessons"].to_numpy()[g == 1].mean() < a["lessons"].to_numpy()[g >= 10].mean()


def test_attendance_only_while_enrolled(world):
    en = world.tables.enrolments
    a = world.tables.attendance
    left = en[en["end_reason"].isin(LEAVING + ["emigrated"])]
    last = a.groupby("pupil_id", observed=True)["date"].max()
    assert (last.reindex(left["pupil_id"].astype(str)).to_numpy() < left["end_date"].to_numpy()).all()
    first = a.groupby("pupil_id", observed=True)["date"].min()
    start = en.groupby("pupil_id", observed=True)["start_date"].min()
    assert (first >= start.reindex(first.index)).all()
    assert not a.duplicated(["pupil_id", "date"]).any()


# ----------------------------------------------------------------- grades
def test_grades_scale_levels_and_kinds(world):
    g = world.tables.grades
    grade = world.tables.enrolments.drop_duplicates("pupil_id").set_index("pupil_id")["grade"]
    level = grade.reindex(g["pupil_id"].astype(str)).to_numpy()
    values = g["grade"].astype(str)
    first_year = (g["date"] < "2023-07-01").to_numpy()
    lower = values[(level <= 3) & first_year]
    upper = values[(level >= 4) & first_year]
    assert set(lower) <= {"S", "T", "A", "P", "nv"}
    assert set(upper) <= set(vocab.NUMERIC_GRADES) | {"nv"}
    num = pd.to_numeric(values, errors="coerce")
    assert 6.0 <= num.mean() <= 7.3
    assert 0.005 <= (num < 4).mean() <= 0.06
    assert 0.002 <= (values == "nv").mean() <= 0.03
    kinds = g["kind"].value_counts()
    assert kinds["term"] > 0 and kinds["year"] > 0 and kinds["formative"] > kinds["year"]
    # term grades at the end of December, year grades at the end of May
    assert set(g.loc[g["kind"] == "term", "date"].dt.month) == {12}
    assert set(g.loc[g["kind"] == "year", "date"].dt.month) == {5}
    assert {"latvian", "mathematics"} <= set(g["subject"].cat.categories)
    per_pupil_year = len(g) / world.tables.enrolments.groupby("school_year")["pupil_id"].nunique().sum()
    assert 80 <= per_pupil_year <= 140


def test_liecība_follows_the_rule_and_has_a_plausible_share(world):
    en = world.tables.enrolments
    g = world.tables.grades
    fin = en[en["end_reason"].isin(["completed_certificate", "completed_liecība"])]
    share = (fin["end_reason"] == "completed_liecība").mean()
    assert 0.01 <= share <= 0.15
    year = g[(g["kind"] == "year") & g["pupil_id"].astype(str).isin(fin["pupil_id"].astype(str))]
    v = year["grade"].astype(str)
    fail = pd.to_numeric(v, errors="coerce").lt(4) | (v == "nv")
    key = year["pupil_id"].astype(str) + "|" + year["date"].dt.year.astype(str)
    n_fail = fail.groupby(key).sum()
    fkey = fin["pupil_id"].astype(str) + "|" + fin["end_date"].dt.year.astype(str)
    expected = np.where(n_fail.reindex(fkey).to_numpy() >= 2, "completed_liecība",
                        "completed_certificate")
    assert (expected == fin["end_reason"].astype(str).to_numpy()).all()


# ------------------------------------------------------------- engagement
def test_engagement_events_thin_out_for_disengaged_families(world):
    e = world.tables.engagement
    counts = e["event"].value_counts()
    assert set(counts.index) == set(vocab.ENGAGEMENT_EVENTS)
    assert counts["parent_login"] > counts["message_read"] > counts["meeting_attended"]
    assert counts["meeting_attended"] <= counts["meeting_invited"]
    per_pupil_year = len(e) / world.tables.enrolments.groupby("school_year")["pupil_id"].nunique().sum()
    assert 30 <= per_pupil_year <= 80
    # families with failed contacts log in less
    codes = e["pupil_id"].cat.codes.to_numpy()
    n = len(world.tables.pupils)
    logins = np.bincount(codes[(e["event"] == "parent_login").to_numpy()], minlength=n)
    failed = np.bincount(codes[(e["event"] == "contact_failed").to_numpy()], minlength=n)
    assert logins[failed >= 2].mean() < 0.7 * logins[failed == 0].mean()


# ------------------------------------------------------------ leaving rates
def test_early_leaving_rates_by_grade_band(world):
    en = world.tables.enrolments
    y1 = en[en["school_year"] == 2022]
    band = pd.cut(y1["grade"], [0, 6, 12], labels=["1-6", "7-12"])
    left = y1["end_reason"].isin(LEAVING)
    rate = left.groupby(band, observed=True).sum() / y1.groupby(band, observed=True)[
        "pupil_id"].nunique()
    assert 0.015 <= rate["7-12"] <= 0.06
    assert rate["1-6"] < 0.3 * rate["7-12"]
    assert (en["end_reason"] == "emigrated").sum() > 0


# ----------------------------------------------------------------- truth
def test_truth_shape_and_population(world, enrolled_at):
    tr = world.truth
    assert list(tr.columns) == ["pupil_id", "as_of", "p_leave", "driver_domain",
                                "effect_mentor", "effect_literacy", "effect_subject",
                                "effect_support_staff"]
    assert tr["pupil_id"].cat.categories.equals(pd.Index(world.tables.pupils["pupil_id"]))
    assert tr["p_leave"].between(0.0, 1.0).all()
    assert set(tr["driver_domain"].cat.categories) == {
        "attendance", "grades", "engagement", "transitions"}
    assert set(tr["as_of"]) == set(world.as_of_dates)
    assert not tr.duplicated(["pupil_id", "as_of"]).any()
    for d, sub in tr.groupby("as_of"):
        enrolled = set(enrolled_at[d]["pupil_id"].astype(str))
        assert set(sub["pupil_id"].astype(str)) == enrolled


def test_truth_predicts_leaving_and_is_calibrated(world):
    en = world.tables.enrolments
    tr = world.truth
    d = world.as_of_dates[0]
    sub = tr[tr["as_of"] == d]
    horizon = (en["end_date"] >= d) & (en["end_date"] < d + pd.Timedelta(days=365))
    leavers = set(en.loc[horizon & en["end_reason"].isin(LEAVING), "pupil_id"].astype(str))
    y = sub["pupil_id"].astype(str).isin(leavers).to_numpy()
    p = sub["p_leave"].to_numpy()
    assert y.sum() >= 10
    assert p[y].mean() > 4 * p[~y].mean()
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, p) > 0.8
    # calibration: expected and observed leavers agree within sampling error (the
    # September horizon ends before the next school year, so liecība counts only
    # for those who do not repeat grade 9, which is checked in the label tests)
    liec = en[horizon & (en["end_reason"] == "completed_liecība")]
    expected, observed = p.sum(), y.sum() + len(liec)
    assert abs(expected - observed) < 4 * np.sqrt(expected) + 0.15 * expected


def test_driver_domains_are_varied_and_match_the_records(world):
    tr = world.truth
    top = tr[tr["p_leave"] >= tr["p_leave"].quantile(0.9)]
    shares = top["driver_domain"].value_counts(normalize=True)
    assert (shares[["attendance", "grades", "engagement"]] > 0.15).all()
    assert shares["transitions"] > 0.01
    # pupils driven by attendance miss more school than those driven by grades
    d = world.as_of_dates[-1]
    a = world.tables.attendance
    a = a[a["date"] < d]
    absent = pd.Series(a["status"].isin(["absent_unexcused"]).to_numpy()).groupby(
        a["pupil_id"].astype(str).to_numpy()).mean()
    last = top[top["as_of"] == d].set_index(top.loc[top["as_of"] == d, "pupil_id"].astype(str))
    by_driver = absent.reindex(last.index).groupby(last["driver_domain"].to_numpy()).mean()
    assert by_driver["attendance"] > 2 * by_driver["grades"]


@pytest.mark.parametrize("n_pupils, n_years", [(200, 1), (500, 1), (1_000, 2)])
def test_small_systems_generate_and_validate(n_pupils, n_years):
    """Small systems keep only a few municipalities and schools; every grade must
    still have a school, and the records must pass validation."""
    world = rm.datasets.make_school_system(n_pupils=n_pupils, n_years=n_years,
                                           random_state=0)
    t = world.tables
    # re-validating plain copies accepts the tables unchanged
    again = rm.SchoolTables(**{k: v.copy() for k, v in t.to_dict().items()})
    for name in ("pupils", "enrolments", "attendance", "grades", "engagement"):
        assert len(again[name]) == len(t[name]) > 0, name
    en = t.enrolments
    first = en[en["school_year"] == 2022]
    assert first["pupil_id"].nunique() == n_pupils
    assert set(first["grade"]) == set(range(1, 13))
    assert set(en["school_id"].astype(str)) <= set(t.schools["school_id"].astype(str))
    assert "Rīga" in set(t.schools["municipality_id"])
    assert len(world.truth) > 0 and world.truth["p_leave"].between(0, 1).all()
    assert len(world.as_of_dates) == 9 * n_years

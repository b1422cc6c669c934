"""Scoring before the school year: the summer cohort (pupils waiting to continue after a
completed grade) in features, pupil frames, labels and the score run.

See ``docs/data_contract.md``, "Scoring before the school year", and
``riskmodel._enrolments`` for the rule.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import riskmodel as rm
from riskmodel.cli import main
from riskmodel.features import FeatureConfig, build_feature_panel, build_features, pupil_frame
from riskmodel.features._build import cohort_summary
from riskmodel.labels import make_labels

D = pd.Timestamp
SUMMER = D("2023-08-15")  # after school year 2022/23 of the synthetic system
LAST_SUMMER = D("2024-08-15")  # after its last school year: planning for 2024/25
COMPLETIONS = ("completed", "completed_certificate", "completed_liecība")


@pytest.fixture(scope="module")
def world():
    return rm.datasets.make_school_system(n_pupils=400, n_years=2, random_state=0)


def _expected_cohort(enrolments: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The summer cohort derived by hand from the enrolments table (pandas, not the
    library's arrays): pupils not enrolled on ``as_of`` whose latest enrolment ended in a
    grade completion below grade 12 within the year before it; the grade they will enter."""
    e = enrolments[enrolments["start_date"] < as_of].copy()
    e["pupil_id"] = e["pupil_id"].astype(str)
    open_ = e["end_date"].isna() | (e["end_date"] >= as_of)
    enrolled = set(e.loc[open_, "pupil_id"])
    last = (e.sort_values(["pupil_id", "start_date", "end_date"], kind="stable")
            .groupby("pupil_id").tail(1).set_index("pupil_id"))
    last = last[~last.index.isin(enrolled)]
    keep = (last["end_reason"].astype(str).isin(COMPLETIONS) & (last["grade"] < 12)
            & (last["end_date"] >= as_of - pd.Timedelta(days=365)))
    last = last[keep]
    liec9 = (last["end_reason"].astype(str) == "completed_liecība") & (last["grade"] == 9)
    return pd.DataFrame({
        "grade": np.where(liec9, 9, last["grade"] + 1),
        "school_id": last["school_id"].astype(str),
        "municipality_id": last["municipality_id"].astype(str),
        "school_year": last["school_year"] + 1,
        "completed_as": last["end_reason"].astype(str),
        "completed_grade": last["grade"],
    }, index=last.index).sort_index()


# ------------------------------------------------------------------ who is in the cohort
@pytest.mark.parametrize("as_of", [SUMMER, LAST_SUMMER, D("2023-06-01"), D("2023-09-01")])
def test_summer_cohort_equals_hand_derived_set(world, as_of):
    t = world.tables
    exp = _expected_cohort(t.enrolments, as_of)
    info = pupil_frame(t, as_of)
    assert len(exp) > 300
    assert info.index.tolist() == exp.index.tolist()
    assert not info["enrolled"].any()
    assert info["grade"].astype(int).tolist() == exp["grade"].tolist()
    assert info["school_id"].astype(str).tolist() == exp["school_id"].tolist()
    assert info["municipality_id"].astype(str).tolist() == exp["municipality_id"].tolist()
    assert info["school_year"].astype(int).tolist() == exp["school_year"].tolist()
    X = build_features(t, as_of)
    assert X.index.equals(info.index)
    assert X["grade_level"].tolist() == exp["grade"].astype(float).tolist()
    summary = cohort_summary(t, as_of)
    assert summary == {"rule": "summer_continuers", "as_of_in_school_year": False,
                       "n": len(exp), "n_enrolled": 0, "n_continuing": len(exp),
                       "school_year": int(exp["school_year"].mode()[0])}


def test_summer_grades_and_exclusions(world):
    """Grades are +1 (a grade-9 certificate leads to grade 10, a grade-9 liecība to
    grade 9 again); grade-12 completers, leavers and emigrants are not in the cohort."""
    t = world.tables
    e = t.enrolments.assign(pupil_id=lambda d: d["pupil_id"].astype(str),
                            end_reason=lambda d: d["end_reason"].astype(str))
    year = e[e["school_year"] == 2022]
    info = pupil_frame(t, SUMMER)
    exp = _expected_cohort(t.enrolments, SUMMER)
    plus_one = exp["completed_as"] != "completed_liecība"
    assert (info.loc[plus_one[plus_one].index, "grade"].to_numpy()
            == exp.loc[plus_one, "completed_grade"].to_numpy() + 1).all()
    cert = year.loc[(year["end_reason"] == "completed_certificate") & (year["grade"] == 9),
                    "pupil_id"]
    assert len(cert) > 20 and (info.loc[cert, "grade"] == 10).all()
    liec = year.loc[year["end_reason"] == "completed_liecība", "pupil_id"]
    assert len(liec) >= 1
    assert (info.loc[liec, "grade"] == 9).all() and info.loc[liec, "liecība"].all()
    assert info["liecība"].sum() == len(liec)
    grade12 = set(year.loc[(year["grade"] == 12) & (year["end_reason"] == "completed"),
                           "pupil_id"])
    leavers = set(year.loc[year["end_reason"].isin(["left", "other", "expelled", "emigrated"]),
                           "pupil_id"])
    later = set(e.loc[e["school_year"] == 2023, "pupil_id"])
    assert len(grade12) > 15 and not grade12 & set(info.index)
    gone = leavers - later  # left in 2022/23 and not enrolled again
    assert gone and not gone & set(info.index)


def test_a_date_in_the_school_year_is_unchanged(world):
    """On a school day the cohort is the pupils enrolled on it, as before."""
    t = world.tables
    as_of = D("2023-10-02")
    e = t.enrolments
    open_ = (e["start_date"] < as_of) & (e["end_date"].isna() | (e["end_date"] >= as_of))
    enrolled = sorted(set(e.loc[open_, "pupil_id"].astype(str)))
    info = pupil_frame(t, as_of)
    assert info.index.tolist() == enrolled and info["enrolled"].all()
    s = cohort_summary(t, as_of)
    assert (s["rule"], s["as_of_in_school_year"], s["n"], s["n_continuing"]) == (
        "enrolled", True, len(enrolled), 0)
    assert s["school_year"] == 2023


# ------------------------------------------------------------------ point in time
@pytest.mark.parametrize("as_of", [SUMMER, D("2023-07-03"), LAST_SUMMER])
def test_summer_features_are_point_in_time(world, as_of):
    t = world.tables
    cfg = FeatureConfig(include_sensitive=True)
    full = build_features(t, as_of, cfg)
    past = build_features(t.as_known_at(as_of), as_of, cfg)
    pd.testing.assert_frame_equal(full, past, check_exact=True)
    # the records of the summer: the 28-day windows hold no attendance, the
    # school-year-to-date windows the school year just ended
    assert full["attendance_rate_28d"].isna().all()
    assert full["attendance_rate_ytd"].notna().mean() > 0.95
    pd.testing.assert_frame_equal(pupil_frame(t, as_of), pupil_frame(t.as_known_at(as_of), as_of))


def test_panel_with_summer_and_school_dates(world):
    t = world.tables
    dates = [D("2023-05-02"), SUMMER, D("2023-10-02")]
    panel = build_feature_panel(t, dates)
    assert panel.index.get_level_values("as_of").unique().tolist() == dates
    for d in dates:
        pd.testing.assert_frame_equal(panel.loc[d], build_features(t, d), check_exact=True,
                                      check_names=False)


# ------------------------------------------------------------------ a hand-made summer
def _summer_tables() -> rm.SchoolTables:
    """One pupil per case, school year 2023/24 ending 2024-05-31 (see the tests)."""
    cases = {  # pupil: (grade, end_reason of 2023/24, end_date) and what follows
        "c7": (7, "completed", "2024-05-31"),  # never enrolled again
        "l9": (9, "completed_liecība", "2024-05-31"),  # never enrolled again
        "l9r": (9, "completed_liecība", "2024-05-31"),  # repeats grade 9 from 2024-09-02
        "c5l": (5, "completed", "2024-05-31"),  # grade 6 from 2024-09-02, left 2024-11-15
        "cert": (9, "completed_certificate", "2024-05-31"),  # never enrolled again
        "c4": (4, "completed", "2024-05-31"),  # grade 5 from 2024-09-02, ongoing
        "ss": (3, "completed", "2024-05-31"),  # a summer school from 2024-06-10, open
        "g12": (12, "completed", "2024-05-31"),  # finished school
        "lft": (8, "left", "2024-03-01"),  # left school
        "tr": (6, "transferred", "2024-05-31"),  # transferred, new school not recorded
        "em": (7, "emigrated", "2024-04-10"),  # moved abroad
        "old": (4, "completed", "2023-05-31"),  # completed a year earlier, then nothing
    }
    ids = list(cases)
    pupils = pd.DataFrame({"pupil_id": ids, "birth_date": "2010-09-01", "sex": "F"})
    pupils.loc[pupils["pupil_id"] == "c4", "birth_date"] = "2014-03-01"
    rows = []
    for p, (g, reason, end) in cases.items():
        year = 2022 if p == "old" else 2023
        rows.append((p, "s1", "m1", year, g, f"{year}-09-01", end, reason))
    rows += [
        ("l9r", "s1", "m1", 2024, 9, "2024-09-02", None, None),
        ("c5l", "s2", "m2", 2024, 6, "2024-09-02", "2024-11-15", "left"),
        ("c4", "s1", "m1", 2024, 5, "2024-09-02", None, None),
        ("ss", "s2", "m2", 2023, 3, "2024-06-10", None, None),
    ]
    enrolments = pd.DataFrame(rows, columns=["pupil_id", "school_id", "municipality_id",
                                             "school_year", "grade", "start_date", "end_date",
                                             "end_reason"])
    # records reach 2025-05-30, so outcome windows up to then are observed
    attendance = pd.DataFrame({"pupil_id": ["c4", "c4"], "date": ["2024-05-20", "2025-05-30"],
                               "status": ["present", "present"]})
    return rm.SchoolTables(pupils, enrolments, attendance)


def test_hand_made_summer_cohort():
    t = _summer_tables()
    info = pupil_frame(t, "2024-08-15")
    assert info["grade"].to_dict() == {"c4": 5, "c5l": 6, "c7": 8, "cert": 10, "l9": 9,
                                       "l9r": 9, "ss": 3}
    assert info["enrolled"].to_dict() == {p: p == "ss" for p in info.index}
    assert info.loc["ss", "school_id"] == "s2" and info.loc["c7", "school_id"] == "s1"
    assert info.loc[["l9", "l9r"], "liecība"].all() and info["liecība"].sum() == 2
    assert info.loc["c4", "age"] == 10.0  # on as_of, as for any pupil
    assert cohort_summary(t, "2024-08-15") == {
        "rule": "summer_continuers", "as_of_in_school_year": False, "n": 7, "n_enrolled": 1,
        "n_continuing": 6, "school_year": 2024}
    # the planned enrolment: next school year, starting on as_of, no teaching-day gap
    X = build_features(t, "2024-08-15")
    assert X["enrolment_gap_days_2y"].tolist() == [0.0] * 7
    assert X.loc["l9", "repeating_grade"] == 1.0 and X.loc["c7", "repeating_grade"] == 0.0
    assert X.loc["c7", "school_enrolled_pupils"] == 6.0  # all but ss (at s2) are at s1
    cfg = FeatureConfig(include_sensitive=True)
    pd.testing.assert_frame_equal(build_features(t, "2024-08-15", cfg), build_features(
        t.as_known_at("2024-08-15"), "2024-08-15", cfg), check_exact=True)
    # the last school day is still in the school year (an end on as_of is not known on it)
    assert cohort_summary(t, "2024-05-31")["rule"] == "enrolled"
    assert cohort_summary(t, "2024-06-01")["rule"] == "summer_continuers"
    # in the school year: only the enrolled pupils (the summer-school pupil among them)
    autumn = pupil_frame(t, "2024-10-01")
    assert sorted(autumn.index) == ["c4", "c5l", "l9r", "ss"] and autumn["enrolled"].all()
    assert cohort_summary(t, "2024-10-01")["rule"] == "enrolled"
    # a grade range applies to the grade they will enter
    assert sorted(pupil_frame(t, "2024-08-15", FeatureConfig(min_grade=9)).index) == [
        "cert", "l9", "l9r"]


def test_hand_made_summer_labels():
    t = _summer_tables()
    X = build_features(t, "2024-08-15")
    y = make_labels(t, "2024-08-15", horizon_days=200)
    assert y.index.equals(X.index)
    # c5l leaves in November; l9 never continues after a liecība; c7 and cert do not
    # turn up either, but a completed grade followed by no enrolment is not leaving
    assert y.to_dict() == {"c4": 0, "c5l": 1, "c7": 0, "cert": 0, "l9": 1, "l9r": 0, "ss": 0}
    rep = make_labels(t, "2024-08-15", horizon_days=200, outcome="repetition")
    assert rep[rep == 1].index.tolist() == ["l9r"]  # grade 9 again in 2024/25
    lie = make_labels(t, "2024-08-15", horizon_days=200, outcome="liecība")
    assert lie.sum() == 0 and lie.index.equals(X.index)
    # the same pupils before the summer: l9's liecība and c5l's leaving both count
    may = make_labels(t, "2024-05-02", horizon_days=180)
    assert may[["l9", "c5l"]].tolist() == [1, 0]  # c5l leaves after the window
    assert make_labels(t, "2024-05-02", horizon_days=200)["c5l"] == 1


def test_summer_label_unknown_until_the_liecība_grace_is_over(caplog):
    t = _summer_tables()
    cfg = {"observed_until": "2024-09-10"}  # l9 could still enrol by 2024-09-28
    with caplog.at_level("WARNING", logger="riskmodel.labels"):
        y = make_labels(t, "2024-08-01", horizon_days=10, config=cfg)
    assert "1 pupils left out" in caplog.text
    assert sorted(y.index) == ["c4", "c5l", "c7", "cert", "l9r", "ss"]
    assert y.sum() == 0


def test_nobody_enrolled_nor_waiting_is_still_an_error(world):
    # the synthetic system's last school year ended 2024-05-31: a year and more later
    # nobody is waiting to continue any more
    with pytest.raises(ValueError, match="No pupil is enrolled on as_of=2025-06-10, nor "
                                         "waiting to continue"):
        build_features(world.tables, "2025-06-10")
    assert len(build_features(world.tables, "2025-05-31")) == len(
        _expected_cohort(world.tables.enrolments, D("2025-05-31")))
    with pytest.raises(ValueError, match="No pupil is enrolled on as_of=2022-08-15"):
        make_labels(_summer_tables(), "2022-08-15", horizon_days=30)


def test_summer_cohorts_train_like_any_other(world):
    """A summer as_of is a backtest cohort: features and labels aligned, outcomes known."""
    from riskmodel._cohorts import build_cohorts

    cohorts = build_cohorts(world.tables, [D("2022-10-03"), SUMMER], horizon_days=200)
    X, y = cohorts[SUMMER]
    assert len(X) == len(y) == len(_expected_cohort(world.tables.enrolments, SUMMER))
    assert X.index.equals(y.index) and set(y.unique()) <= {0, 1}


# ------------------------------------------------------------------ the score run
@pytest.fixture(scope="module")
def scored(world, tmp_path_factory):
    """A tiny model, the data folder, and a summer score run with allocation."""
    root = tmp_path_factory.mktemp("summer")
    t = world.tables
    X = build_features(t, "2022-10-03")
    y = make_labels(t, "2022-10-03", horizon_days=365).reindex(X.index).fillna(0)
    rm.RiskModel(n_estimators=5, random_state=0).fit(X, y).save(root / "model")
    rm.write_tables(t, root / "data")
    # the tiny model's risks are low: a low risk threshold puts pupils in the risk group
    (root / "rules.yaml").write_text("min_risk: 0.001\n", encoding="utf-8")
    rc = main(["score", "--data", str(root / "data"), "--as-of", str(LAST_SUMMER.date()),
               "--model", str(root / "model"), "--rules", str(root / "rules.yaml"),
               "--out", str(root / "out"), "-q"])
    return root, rc


def test_score_at_a_summer_date(scored, world):
    root, rc = scored
    assert rc == 0
    manifest = json.loads((root / "out" / "manifest.json").read_text(encoding="utf-8"))
    exp = _expected_cohort(world.tables.enrolments, LAST_SUMMER)
    assert manifest["cohort"] == {"rule": "summer_continuers", "as_of_in_school_year": False,
                                  "n": len(exp), "n_enrolled": 0, "n_continuing": len(exp),
                                  "school_year": 2024}
    assert manifest["n_pupils"] == len(exp)
    scores = pd.read_parquet(root / "out" / "scores.parquet")
    assert scores.index.tolist() == exp.index.tolist()
    assert scores["school_id"].tolist() == exp["school_id"].tolist()
    html = (root / "out" / "report.html").read_text(encoding="utf-8")
    assert (f"2024-08-15 lies between two school years: the {len(exp):,} pupils expected to "
            "continue are scored in the grade they will enter in 2024/25") in html


def test_summer_allocation_uses_the_grade_they_will_enter(scored, world):
    root, _ = scored
    alloc = pd.read_parquet(root / "out" / "allocation.parquet")
    info = pupil_frame(world.tables, LAST_SUMMER)
    kinds = alloc.groupby("kind")["pupil_id"].apply(set)
    literacy, subject, mentor = kinds["literacy"], kinds["subject"], kinds["mentor"]
    # literacy in grades 1-3: grades 2 and 3, entered after grades 1 and 2
    assert literacy and set(info.loc[list(literacy), "grade"]) <= {2, 3}
    # subject consultations: exactly the pupils who finished grade 9 with a liecība
    assert subject and subject <= set(info.index[info["liecība"]])
    assert (info.loc[list(subject), "grade"] == 9).all()
    assert mentor and (info.loc[list(mentor), "age"] >= 13).all()


def test_score_in_the_school_year_states_the_rule(scored, world):
    root, _ = scored
    out = root / "autumn"
    rc = main(["score", "--data", str(root / "data"), "--as-of", "2023-10-02", "--model",
               str(root / "model"), "--no-allocate", "--out", str(out), "-q"])
    assert rc == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["cohort"]["rule"] == "enrolled"
    assert manifest["cohort"]["as_of_in_school_year"] is True
    assert manifest["cohort"]["n"] == manifest["n_pupils"] == manifest["cohort"]["n_enrolled"]
    assert "lies between two school years" not in (out / "report.html").read_text(
        encoding="utf-8")

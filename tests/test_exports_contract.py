"""The data contract for real exports: column maps, date forms, per-lesson attendance,
ids as written, and the duplicate rule (issue 15, item 1; DataFrame input)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import riskmodel as rm
from riskmodel.config import load_config
from riskmodel.schema import CodeMap

CODES_YAML = Path(__file__).resolve().parents[1] / "configs" / "codes.yaml"


# ------------------------------------------------------------------------- fixtures
def _pupils(ids=("A", "B", "C")):
    return pd.DataFrame({"pupil_id": list(ids),
                         "birth_date": ["2012-03-01", "2011-07-15", "2010-01-20"][:len(ids)],
                         "sex": ["F", "M", "M"][:len(ids)]})


def _enrolments(ids=("A", "B", "C")):
    n = len(ids)
    return pd.DataFrame({"pupil_id": list(ids), "school_id": ["s1"] * n,
                         "municipality_id": ["m1"] * n, "school_year": [2024] * n,
                         "grade": [7] * n, "start_date": ["2024-09-02"] * n,
                         "end_date": [None] * n, "end_reason": [None] * n})


def _raises(match, **tables):
    tables.setdefault("pupils", _pupils())
    tables.setdefault("enrolments", _enrolments())
    with pytest.raises(rm.DataValidationError, match=match) as info:
        rm.SchoolTables(**tables)
    return info.value


def _problem(err, table, column, part=""):
    found = [p for p in err.problems if p["table"] == table and p["column"] == column
             and part in p["message"]]
    assert found, f"no problem for {table}.{column} ({part}): {err.problems}"
    return found[0]


# Hand-counted per-lesson marks: 3 pupils x 2 days x 6 lessons (e-klase-like codes,
# "" = no mark = present). Lesson times are part of the date and are dropped.
MARKS = {
    ("A", "02.09.2024"): ["+", "+", "n", "n", "k", "+"],
    ("A", "03.09.2024"): ["", "", "", "", "", ""],
    ("B", "02.09.2024"): ["ns", "ns", "ns", "ns", "ns", "ns"],
    ("B", "03.09.2024"): ["+", "a", "a", "+", "+", "n"],
    ("C", "02.09.2024"): ["k", "+", "+", "+", "+", "+"],
    ("C", "03.09.2024"): ["n", "n", "n", "n", "n", "n"],
}
# counted by hand: (pupil, date, status, lessons), in date, pupil, status order
EXPECTED = [
    ("A", "2024-09-02", "present", 3), ("A", "2024-09-02", "late", 1),
    ("A", "2024-09-02", "absent_unexcused", 2),
    ("B", "2024-09-02", "absent_excused", 6),
    ("C", "2024-09-02", "present", 5), ("C", "2024-09-02", "late", 1),
    ("A", "2024-09-03", "present", 6),
    ("B", "2024-09-03", "present", 3), ("B", "2024-09-03", "absent_excused", 2),
    ("B", "2024-09-03", "absent_unexcused", 1),
    ("C", "2024-09-03", "absent_unexcused", 6),
]


def _lesson_export():
    rows = []
    for (pupil, day), marks in MARKS.items():
        for lesson, mark in enumerate(marks, start=1):
            rows.append({"Skolēna ID": pupil, "Datums": f"{day} {7 + lesson:02d}:30",
                         "Stunda": lesson, "Atzīme": mark})
    return pd.DataFrame(rows)


def _rows(df):
    return [(p, f"{d:%Y-%m-%d}", s, int(n)) for p, d, s, n in
            df[["pupil_id", "date", "status", "lessons"]].itertuples(index=False)]


# ---------------------------------------------------------------------- column maps
def test_column_map_renames_latvian_headers_with_bom_spaces_and_case():
    pupils = pd.DataFrame({"\ufeffSkolēna ID": ["0012345", "12345"],
                           " Dzimšanas datums ": ["01.03.2012", "15.07.2011"],
                           "DZIMUMS": ["S", "V"], "Piezīmes": ["x", "y"]})
    enr = _enrolments(["0012345", "12345"]).rename(columns={"pupil_id": "Pupil_ID "})
    t = rm.SchoolTables(
        pupils, enr, codes={"pupils": {"sex": {"S": "F", "V": "M"}}},
        columns={"pupils": {"Skolēna ID": "pupil_id", "Dzimšanas datums": "birth_date",
                            "Dzimums": "sex"}})
    assert list(t.pupils.columns)[:3] == ["pupil_id", "birth_date", "sex"]
    assert t.pupils["pupil_id"].tolist() == ["0012345", "12345"]  # two pupils
    assert t.pupils["birth_date"].tolist() == [pd.Timestamp("2012-03-01"),
                                               pd.Timestamp("2011-07-15")]
    assert t.pupils["sex"].tolist() == ["F", "M"]
    assert t.enrolments["pupil_id"].tolist() == ["0012345", "12345"]


def test_column_map_in_the_codes_config_and_argument_override():
    pupils = _pupils().rename(columns={"pupil_id": "Skolēna ID", "sex": "Dzimums"})
    codes = {"pupils": {"columns": {"Skolēna ID": "pupil_id", "Dzimums": "home_language"}}}
    t = rm.SchoolTables(pupils, _enrolments(), codes=codes,
                        columns={"pupils": {"Dzimums": "sex"}})
    assert t.pupils["sex"].tolist() == ["F", "M", "M"]
    assert CodeMap(**codes).columns_for("pupils") == codes["pupils"]["columns"]


def test_bad_column_maps_name_what_is_wrong():
    with pytest.raises(rm.ConfigError, match=r"pupils\.columns maps 'ID' to 'pupil', which is "
                                             r"not a column of pupils"):
        load_config(CodeMap, {"pupils": {"columns": {"ID": "pupil"}}})
    with pytest.raises(rm.ConfigError, match=r"maps 2 headers to 'pupil_id': 'ID', "
                                             r"'Skolēna ID'"):
        load_config(CodeMap, {"pupils": {"columns": {"ID": "pupil_id",
                                                     "Skolēna ID": "pupil_id"}}})
    with pytest.raises(ValueError, match="The 'columns' parameter of SchoolTables is invalid: "
                                         "'pupil' is not a table"):
        rm.SchoolTables(_pupils(), _enrolments(), columns={"pupil": {"ID": "pupil_id"}})
    with pytest.raises(ValueError, match=r"grades\.columns maps 'Stunda' to 'lesson'"):
        rm.SchoolTables(_pupils(), _enrolments(), columns={"grades": {"Stunda": "lesson"}})
    # a mapped header and a contract header giving one column; a map whose header is absent
    pupils = _pupils().assign(ID=["a", "b", "c"])
    err = _raises(r"pupils\.pupil_id: 3 rows: 2 columns give the contract column 'pupil_id'",
                  pupils=pupils, columns={"pupils": {"ID": "pupil_id"}})
    assert _problem(err, "pupils", "pupil_id")["examples"] == ["pupil_id", "ID"]
    _raises(r"missing required column 'sex' \(columns found: pupil_id, birth_date; the column "
            r"map expects the header 'Dzimums'\)", pupils=_pupils().drop(columns="sex"),
            columns={"pupils": {"Dzimums": "sex"}})


# ----------------------------------------------------------------------------- dates
def test_latvian_and_iso_dates_with_and_without_time():
    pupils = _pupils().assign(birth_date=["01.03.2012", "5.7.2011", "20.01.2010"])
    enr = _enrolments().assign(start_date=["2024-09-02T08:00:00", "2024-09-02",
                                           "2024-09-02 13:45"])
    eng = pd.DataFrame({"pupil_id": ["A", "B"], "date": ["02.09.2024 18:05:59",
                                                         "03.09.2024 07:10"],
                        "event": ["parent_login"] * 2})
    t = rm.SchoolTables(pupils, enr, engagement=eng)
    assert t.pupils["birth_date"].tolist() == [pd.Timestamp(d) for d in
                                               ("2012-03-01", "2011-07-05", "2010-01-20")]
    assert (t.enrolments["start_date"] == pd.Timestamp("2024-09-02")).all()  # time dropped
    assert t.engagement["date"].tolist() == [pd.Timestamp("2024-09-02"),
                                             pd.Timestamp("2024-09-03")]
    # a datetime64[ns] column passes as it is
    ns = pd.Series(pd.to_datetime(["2024-09-02", "2024-09-03"]))
    again = rm.SchoolTables(_pupils(), _enrolments(), engagement=eng.assign(date=ns))
    assert list(again.engagement["date"]) == list(ns)


def test_a_column_mixing_date_forms_is_reported_not_guessed():
    eng = pd.DataFrame({"pupil_id": ["A", "B", "C", "A"],
                        "date": ["2024-09-02", "2024-09-03", "04.09.2024", "2024-09-05"],
                        "event": ["parent_login"] * 4})
    err = _raises(r"engagement\.date: 1 row: dates written in more than one form: ISO 8601 "
                  r"\(3 rows, e\.g\. '2024-09-02', '2024-09-03'\); dd\.mm\.yyyy \(1 rows, e\.g\. "
                  r"'04\.09\.2024'\); riskmodel does not guess row by row: .*set date_format",
                  engagement=eng)
    assert _problem(err, "engagement", "date")["examples"] == ["04.09.2024"]
    with pytest.raises(rm.DataValidationError, match="more than one form"):  # even unvalidated
        rm.SchoolTables(_pupils(), _enrolments(), engagement=eng, validate=False)


def test_slash_dates_are_ambiguous_and_date_format_decides():
    eng = pd.DataFrame({"pupil_id": ["A", "B"], "date": ["01/02/2024", "13/02/2024"],
                        "event": ["parent_login"] * 2})
    _raises(r"engagement\.date: 2 rows: dates written dd/mm/yyyy or mm/dd/yyyy are ambiguous "
            r".*set date_format='%d/%m/%Y' or date_format='%m/%d/%Y' \(values such as "
            r"'13/02/2024' suggest day first", engagement=eng)
    t = rm.SchoolTables(_pupils(), _enrolments(), engagement=eng,
                        date_format={"engagement": "%d/%m/%Y"})
    assert t.engagement["date"].tolist() == [pd.Timestamp("2024-02-01"),
                                             pd.Timestamp("2024-02-13")]
    err = _raises(r"engagement\.date: 1 row: value that cannot be parsed as a date \(it does "
                  r"not match date_format '%m/%d/%Y'\)", engagement=eng, date_format="%m/%d/%Y")
    assert _problem(err, "engagement", "date")["examples"] == ["13/02/2024"]
    with pytest.raises(ValueError, match="'date_format' parameter of SchoolTables"):
        rm.SchoolTables(_pupils(), _enrolments(), date_format="dd.mm.yyyy")


# ------------------------------------------------------------- per-lesson attendance
def test_per_lesson_marks_are_counted_into_per_day_rows_through_codes_yaml(caplog):
    export = _lesson_export()
    dup = export[(export["Skolēna ID"] == "C") & (export["Stunda"] == 3)
                 & export["Datums"].str.startswith("03.09")]
    export = pd.concat([export, dup], ignore_index=True)  # an exact duplicate lesson row
    pupils = _pupils().rename(columns={"pupil_id": "Skolēna ID", "birth_date":
                                       "Dzimšanas datums", "sex": "Dzimums"})
    pupils["Dzimums"] = ["S", "V", "V"]
    with caplog.at_level(logging.WARNING, logger="riskmodel.schema"):
        t = rm.SchoolTables(pupils, _enrolments(), attendance=export, codes=CODES_YAML)
    assert _rows(t.attendance) == EXPECTED
    assert t.attendance["lessons"].dtype == np.int16 and t.attendance["lessons"].sum() == 36
    assert "attendance: dropping 1 exact duplicate row(s) (the same pupil, date, lesson and " \
        "status" in caplog.text
    # the features read the counts: A's two unexcused lessons and one late lesson
    f = rm.build_features(t, "2024-09-04")
    assert f.loc["A", "unexcused_lessons_28d"] == 2 and f.loc["A", "late_lessons_28d"] == 1
    assert f.loc["C", "unexcused_days_28d"] == 1 and f.loc["B", "excused_days_28d"] == 2


def test_conflicting_lesson_marks_and_bad_per_lesson_tables():
    att = pd.DataFrame({"pupil_id": ["A", "A", "A", "B"],
                        "date": ["2024-09-02"] * 4, "lesson": [1, "1", 2, 1],
                        "status": ["present", "absent_unexcused", "present", "late"]})
    err = _raises(r"attendance\.status: 2 rows: the same pupil, date and lesson with two or "
                  "more statuses", attendance=att)
    assert _problem(err, "attendance", "status")["examples"] == [
        "A 2024-09-02 lesson 1: present/absent_unexcused"]
    _raises(r"both `lesson` .* and `lessons`", attendance=att.assign(lessons=1))
    _raises(r"attendance\.status: 2 rows: per-lesson attendance lists no lesson as present",
            attendance=att.iloc[[1, 3]].assign(lesson=[1, 1]))
    _raises(r"attendance\.lesson: 1 row: missing lesson",
            attendance=att.iloc[[0, 2, 3]].assign(lesson=[1, None, 1]))


# ------------------------------------------------------------------------------- ids
def test_ids_stay_as_written_and_spreadsheet_floats_are_reported(caplog):
    t = rm.SchoolTables(_pupils(["0012345", "12345", "C"]), _enrolments(["0012345", "12345", "C"]))
    assert t.pupils["pupil_id"].tolist() == ["0012345", "12345", "C"]
    assert t.enrolments["pupil_id"].cat.codes.tolist() == [0, 1, 2]
    pupils = _pupils(["12345.0", "12346.0", "C"])
    enr = _enrolments(["12345.0", "12346.0", "C"]).assign(school_id=[101.0, 101.0, 102.0])
    att = pd.DataFrame({"pupil_id": ["12345", "12345.0", "99.0"],
                        "date": ["2024-09-02"] * 3, "status": ["present"] * 3})
    err = _raises("3 problems", pupils=pupils, enrolments=enr, attendance=att)
    p = _problem(err, "pupils", "pupil_id", "spreadsheet")
    assert p["n_rows"] == 2 and p["examples"] == ["12345.0", "12346.0"]
    assert _problem(err, "enrolments", "school_id", "spreadsheet")["examples"] == [101.0, 102.0]
    # "12345.0" refers to a pupil's id as written (reported in pupils); "99.0" is no pupil
    # and reads like a float: reported too, not only dropped as an unknown pupil
    assert _problem(err, "attendance", "pupil_id", "spreadsheet")["examples"] == ["99.0"]


# ------------------------------------------------------------------------ duplicates
def test_per_day_attendance_duplicates_in_any_row_order(caplog):
    att = pd.DataFrame({"pupil_id": ["A", "B", "A", "C", "A"],
                        "date": ["2024-09-02", "2024-09-02", "2024-09-02", "2024-09-03",
                                 "2024-09-03"],
                        "status": ["present", "late", "present", "present", "late"],
                        "lessons": [5, 1, 5, 6, 2]})
    for order in ([0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 4, 0, 3, 1]):  # sorted or not
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="riskmodel.schema"):
            t = rm.SchoolTables(_pupils(), _enrolments(), attendance=att.iloc[order])
        assert len(t.attendance) == 4 and t.attendance["lessons"].sum() == 14
        assert "attendance: dropping 1 exact duplicate row(s)" in caplog.text
    conflict = att.assign(lessons=[5, 1, 4, 6, 2])
    err = _raises(r"attendance\.lessons: 2 rows: the same pupil, date and status in two rows "
                  "with different lessons", attendance=conflict)
    assert _problem(err, "attendance", "lessons")["examples"] == [
        "A 2024-09-02 present: lessons 5 and 4"]


def test_duplicate_rule_of_the_other_tables(caplog):
    pupils = pd.concat([_pupils(), _pupils().iloc[[1]]], ignore_index=True)
    enr = pd.concat([_enrolments(), _enrolments().iloc[[0]]], ignore_index=True)
    grades = pd.DataFrame({"pupil_id": ["A", "A"], "date": ["2024-09-20"] * 2,
                           "subject": ["mathematics"] * 2, "grade": ["7", "7"]})
    eng = pd.DataFrame({"pupil_id": ["B", "B"], "date": ["2024-09-05"] * 2,
                        "event": ["parent_login"] * 2})
    with caplog.at_level(logging.WARNING, logger="riskmodel.schema"):
        t = rm.SchoolTables(pupils, enr, grades=grades, engagement=eng)
    assert len(t.pupils) == 3 and len(t.enrolments) == 3
    assert "pupils: dropping 1 exact duplicate row(s)" in caplog.text
    assert "enrolments: dropping 1 exact duplicate row(s)" in caplog.text
    assert len(t.grades) == 2 and len(t.engagement) == 2  # two marks, two logins: kept
    enr.loc[3, "grade"] = 8
    err = _raises(r"enrolments\.start_date: 2 rows: two enrolments of the same pupil starting "
                  "on the same day that differ", enrolments=enr)
    assert not [p for p in err.problems if "overlapping" in p["message"]]
    sup = pd.DataFrame({"pupil_id": ["A", "A"], "start_date": ["2024-10-01"] * 2,
                        "end_date": ["2024-12-01", "2025-01-01"], "kind": ["mentor"] * 2})
    _raises(r"support\.start_date: 2 rows: the same support", support=sup)


def test_synthetic_tables_validate_unchanged(caplog):
    tables = rm.datasets.make_school_system(n_pupils=300, n_years=2, random_state=0).tables
    with caplog.at_level(logging.WARNING, logger="riskmodel.schema"):
        again = rm.SchoolTables(**tables.to_dict())
    assert again.fingerprint() == tables.fingerprint() and not caplog.records
    # the generator writes identical grade and engagement rows (real repeated events)
    assert tables.engagement.duplicated().any()
    shuffled = {k: v.sample(frac=1, random_state=1) for k, v in tables.to_dict().items()}
    assert rm.SchoolTables(**shuffled).fingerprint() == tables.fingerprint()


# --------------------------------------------------------------- everything at once
def test_one_error_reports_every_export_problem(caplog):
    att = _lesson_export()
    att.loc[0, "Datums"] = "2024-09-02"  # a second date form
    pupils = _pupils(["A", "B", "12.0"]).assign(sex=["F", "M", "X"])
    with caplog.at_level(logging.WARNING, logger="riskmodel.schema"):  # C is no pupil
        err = _raises("3 problems in tables attendance, pupils", pupils=pupils,
                      attendance=att, codes=CODES_YAML)
    assert [(p["table"], p["column"]) for p in err.problems] == [
        ("pupils", "pupil_id"), ("pupils", "sex"), ("attendance", "date")]

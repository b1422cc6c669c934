"""Tests of the data contract: riskmodel.SchoolTables, read_tables, write_tables."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import riskmodel as rm
from riskmodel import vocab
from riskmodel.config import load_config
from riskmodel.schema import CodeMap

CODES_YAML = Path(__file__).resolve().parents[1] / "configs" / "codes.yaml"


# ------------------------------------------------------------------------- fixtures
def _raw_tables():
    """Small valid tables as a user would type them (strings, ints, None)."""
    pupils = pd.DataFrame({
        "pupil_id": ["00012", "p2", "p3", "p4"],
        "birth_date": ["2012-03-01", "2011-07-15", "2010-01-20", "2017-05-05"],
        "sex": ["F", "M", "M", "F"],
        "home_language": ["lv", "ru", "lv", None],
        "migrant_background": [False, True, False, False],
        "special_needs": [False, False, True, False],
    })
    enrolments = pd.DataFrame({
        "pupil_id": ["00012", "p2", "p2", "p3", "p4"],
        "school_id": ["s1", "s1", "s2", "s2", "s1"],
        "municipality_id": ["m1", "m1", "m2", "m2", "m1"],
        "school_year": [2024, 2024, 2024, 2024, 2024],
        "grade": [7, 8, 8, 9, 1],
        "start_date": ["2024-09-02", "2024-09-02", "2025-01-10", "2024-09-02", "2024-09-02"],
        "end_date": [None, "2025-01-10", None, "2025-03-01", None],
        "end_reason": [None, "transferred", None, "left", None],
    })
    attendance = pd.DataFrame({
        "pupil_id": ["00012", "00012", "p2", "p3", "p3", "p4"],
        "date": ["2024-09-02", "2024-09-03", "2024-09-02", "2024-09-02", "2025-02-01",
                 "2024-09-03"],
        "status": ["present", "absent_unexcused", "late", "absent_excused", "present",
                   "present"],
        "lessons": [6, 6, 1, 5, 6, 4],
    })
    grades = pd.DataFrame({
        "pupil_id": ["00012", "p2", "p3", "p4", "p3"],
        "date": ["2024-09-20", "2024-10-01", "2024-12-20", "2024-10-03", "2025-01-15"],
        "subject": ["mathematics", "latvian", "mathematics", "latvian", "english"],
        "grade": [7, "3", "10", "S", "nv"],
        "kind": ["formative", "summative", "term", "formative", "formative"],
    })
    engagement = pd.DataFrame({
        "pupil_id": ["00012", "p2", "p3"],
        "date": ["2024-09-05", "2024-09-06", "2024-11-01"],
        "event": ["parent_login", "message_read", "contact_failed"],
    })
    support = pd.DataFrame({
        "pupil_id": ["p3"], "start_date": ["2024-11-01"], "end_date": ["2025-02-01"],
        "kind": ["mentor"],
    })
    schools = pd.DataFrame({"school_id": ["s1", "s2"], "municipality_id": ["m1", "m2"],
                            "urban": [True, False], "language": ["lv", "lv"]})
    return dict(pupils=pupils, enrolments=enrolments, attendance=attendance, grades=grades,
                engagement=engagement, support=support, schools=schools)


@pytest.fixture
def raw():
    """Fresh raw tables (tests may change them)."""
    return _raw_tables()


@pytest.fixture(scope="module")
def tables():
    """The raw tables validated once; tests must not change them."""
    return rm.SchoolTables(**_raw_tables())


def _raises(raw, match, **kw):
    with pytest.raises(rm.DataValidationError, match=match) as info:
        rm.SchoolTables(**raw, **kw)
    return info.value


def _problem(err, table, column):
    found = [p for p in err.problems if p["table"] == table and p["column"] == column]
    assert found, f"no problem for {table}.{column}: {err.problems}"
    return found[0]


# ------------------------------------------------------------------- normalisation
def test_valid_tables_normalise_to_the_contract_form(tables):
    p = tables.pupils
    assert p["pupil_id"].dtype == "str"
    assert p["pupil_id"].tolist() == ["00012", "p2", "p3", "p4"]
    assert p["birth_date"].dtype == "datetime64[ns]"
    assert list(p["sex"].cat.categories) == list(vocab.SEXES)
    assert p["migrant_background"].dtype == bool and p["special_needs"].tolist()[2]
    assert p["home_language"].dtype == "category" and pd.isna(p["home_language"].iloc[3])

    for name in ("enrolments", "attendance", "grades", "engagement", "support"):
        pid = tables[name]["pupil_id"]
        assert isinstance(pid.dtype, pd.CategoricalDtype), name
        assert pid.cat.categories.equals(pd.Index(p["pupil_id"])), name
        # pandas picks the smallest int dtype for the codes (int32 from 32,768 pupils on)
        assert pid.cat.codes.dtype == np.int8
    # codes are row numbers of pupils
    assert tables.attendance["pupil_id"].cat.codes.tolist() == [0, 0, 1, 2, 2, 3]

    e = tables.enrolments
    assert e["school_year"].dtype == np.int16 and e["grade"].dtype == np.int8
    assert e["start_date"].dtype == "datetime64[ns]" and e["end_date"].isna().sum() == 3
    assert list(e["end_reason"].cat.categories) == list(vocab.END_REASONS)
    assert e["school_id"].dtype == "category"
    a = tables.attendance
    assert list(a["status"].cat.categories) == list(vocab.ATTENDANCE_STATUSES)
    assert a["lessons"].dtype == np.int16 and a["lessons"].sum() == 28
    g = tables.grades
    assert list(g["grade"].cat.categories) == list(vocab.GRADE_VALUES)
    assert g["grade"].tolist() == ["7", "3", "10", "S", "nv"]
    assert list(g["kind"].cat.categories) == list(vocab.GRADE_KINDS)
    assert list(tables.engagement["event"].cat.categories) == list(vocab.ENGAGEMENT_EVENTS)
    assert list(tables.support["kind"].cat.categories) == list(vocab.SUPPORT_KINDS)
    assert tables.schools["urban"].tolist() == [True, False]
    assert list(tables.names) == list(vocab.TABLES)
    assert isinstance(tables.pupils.index, pd.RangeIndex)


def test_defaults_for_optional_columns_and_missing_tables(raw):
    att = raw["attendance"].drop(columns="lessons")
    gr = raw["grades"].drop(columns="kind")
    t = rm.SchoolTables(raw["pupils"], raw["enrolments"], attendance=att, grades=gr)
    assert t.attendance["lessons"].dtype == np.int16
    assert (t.attendance["lessons"] == 1).all()
    assert (t.grades["kind"] == "formative").all()
    assert t.engagement is None and not t.has("engagement") and t.has("attendance")
    assert t.names == ("pupils", "enrolments", "attendance", "grades")
    empty = rm.SchoolTables(raw["pupils"], raw["enrolments"], engagement=pd.DataFrame())
    assert empty.engagement is not None and not empty.has("engagement")
    assert list(empty.engagement.columns) == ["pupil_id", "date", "event"]
    with pytest.raises(ValueError, match="'name' parameter"):
        t.has("marks")


def test_integer_ids_become_strings_and_float_ids_are_rejected(raw):
    raw["pupils"]["pupil_id"] = [12, 2, 3, 4]
    for name in ("enrolments", "attendance", "grades", "engagement", "support"):
        raw[name]["pupil_id"] = raw[name]["pupil_id"].map(
            {"00012": 12, "p2": 2, "p3": 3, "p4": 4})
    t = rm.SchoolTables(**raw)
    assert t.pupils["pupil_id"].tolist() == ["12", "2", "3", "4"]
    assert t.attendance["pupil_id"].tolist() == ["12", "12", "2", "3", "3", "4"]
    # floats (a spreadsheet's numbers) are reported, not silently turned into "12"
    raw["attendance"]["pupil_id"] = raw["attendance"]["pupil_id"].astype(float)
    err = _raises(raw, r"attendance\.pupil_id: 6 rows: ids look like numbers a spreadsheet "
                       "converted to floats; export them as text")
    assert _problem(err, "attendance", "pupil_id")["examples"] == [12.0, 2.0, 3.0, 4.0]


def test_normalised_input_is_not_copied_or_changed(tables):
    again = rm.SchoolTables(**tables.to_dict())
    assert again.equals(tables)
    for name in ("attendance", "grades", "engagement"):
        assert np.shares_memory(again[name]["date"].to_numpy(), tables[name]["date"].to_numpy())
        assert np.shares_memory(again[name]["pupil_id"].array.codes,
                                tables[name]["pupil_id"].array.codes)
    assert np.shares_memory(again.attendance["status"].array.codes,
                            tables.attendance["status"].array.codes)


def test_other_date_formats_and_bool_spellings(raw):
    # one form per column (ISO here, date and date-time; dd.mm.yyyy: test_exports_contract)
    raw["pupils"]["birth_date"] = ["2012-03-01", "2011-07-15", "2010-01-20T00:00:00", "2017-05-05"]
    raw["pupils"]["migrant_background"] = ["nē", "jā", "0", "false"]
    raw["attendance"]["date"] = pd.to_datetime(raw["attendance"]["date"]).dt.tz_localize(
        "Europe/Riga")
    raw["engagement"]["date"] = pd.to_datetime(raw["engagement"]["date"]).astype("datetime64[s]")
    raw["grades"]["date"] = pd.to_datetime(raw["grades"]["date"]).astype(object)  # Timestamps
    t = rm.SchoolTables(**raw)
    assert t.engagement["date"].dtype == "datetime64[ns]"
    assert t.engagement["date"].iloc[2] == pd.Timestamp("2024-11-01")
    assert t.grades["date"].dtype == "datetime64[ns]"
    assert t.grades["date"].iloc[4] == pd.Timestamp("2025-01-15")
    assert t.pupils["birth_date"].iloc[0] == pd.Timestamp("2012-03-01")
    assert t.pupils["migrant_background"].tolist() == [False, True, False, False]
    assert t.attendance["date"].dtype == "datetime64[ns]"
    assert t.attendance["date"].iloc[1] == pd.Timestamp("2024-09-03")


def test_pyarrow_table_is_accepted_and_other_objects_are_not(raw):
    import pyarrow as pa

    raw["engagement"] = pa.Table.from_pandas(raw["engagement"])
    t = rm.SchoolTables(**raw)
    assert len(t.engagement) == 3
    raw["attendance"] = [("00012", "2024-09-02", "present")]
    with pytest.raises(TypeError, match="'attendance' parameter .* DataFrame.*Got list"):
        rm.SchoolTables(**raw)
    with pytest.raises(TypeError, match="'pupils' parameter"):
        rm.SchoolTables(None, raw["enrolments"])


# ---------------------------------------------------------------------- code maps
def test_code_map_translates_local_codes(raw):
    raw["attendance"]["status"] = ["+", "n", "k", "ns", "a", "present"]
    raw["grades"]["grade"] = [7, "3", "10", "s", "n/v"]
    raw["grades"]["kind"] = ["ikdienas", "summatīvais", "semestra", "ikdienas", "ikdienas"]
    raw["grades"]["subject"] = ["matemātika", "latviešu valoda", "matemātika", "latvian",
                                "angļu valoda"]
    raw["pupils"]["sex"] = ["S", "V", "V", "F"]
    t = rm.SchoolTables(**raw, codes=CODES_YAML)
    assert t.attendance["status"].tolist() == [
        "present", "absent_unexcused", "late", "absent_excused", "absent_excused", "present"]
    assert t.grades["grade"].tolist() == ["7", "3", "10", "S", "nv"]
    assert t.grades["kind"].tolist() == ["formative", "summative", "term", "formative",
                                         "formative"]
    assert t.grades["subject"].tolist() == ["mathematics", "latvian", "mathematics", "latvian",
                                            "english"]
    assert t.pupils["sex"].tolist() == ["F", "M", "M", "F"]
    # a plain mapping works too, and without the map the local codes are unknown
    t2 = rm.SchoolTables(**raw, codes=CodeMap.from_yaml(CODES_YAML).model_dump())
    assert t2.equals(t)
    err = _raises(raw, r"attendance\.status: 5 rows: unknown status code")
    assert _problem(err, "attendance", "status")["examples"][:1] == ["+"]


def test_code_map_rejects_bad_configs(tmp_path):
    with pytest.raises(ValueError, match="unknown codes"):  # pydantic's own error
        CodeMap(attendance={"status": {"n": "absent"}})
    with pytest.raises(rm.ConfigError, match=r"attendance\.status maps to unknown codes"):
        load_config(CodeMap, {"attendance": {"status": {"n": "absent"}}})
    with pytest.raises(rm.ConfigError, match="cannot take a code map"):
        load_config(CodeMap, {"attendance": {"date": {"x": "y"}}})
    with pytest.raises(rm.ConfigError, match="marks"):
        load_config(CodeMap, {"marks": {}})
    bad = tmp_path / "codes.yaml"
    bad.write_text("attendance:\n  status:\n    no: absent_unexcused\n")
    with pytest.raises(rm.ConfigError, match="quote codes"):
        CodeMap.from_yaml(bad)
    with pytest.raises(TypeError, match="'codes' parameter"):
        rm.SchoolTables(pd.DataFrame(), pd.DataFrame(), codes=3)


# ---------------------------------------------------------------- validation cases
@pytest.mark.parametrize("table,column", [
    ("pupils", "birth_date"), ("enrolments", "school_id"), ("attendance", "status"),
    ("grades", "subject"), ("engagement", "event"), ("support", "kind"),
    ("schools", "municipality_id"),
])
def test_missing_required_column(raw, table, column):
    raw[table] = raw[table].drop(columns=column)
    err = _raises(raw, rf"{table}\.{column}: .*missing required column '{column}'")
    assert _problem(err, table, column)["n_rows"] == len(raw[table])


def test_unparseable_dates_and_ints(raw):
    raw["attendance"]["date"] = ["2024-09-02", "yesterday", "2024-13-45", "2024-09-02",
                                 "2025-02-01", "2024-09-03"]
    raw["enrolments"]["school_year"] = [2024, "2024/25", 2024, 2024.5, 2024]
    raw["attendance"]["lessons"] = [6, "six", 1, 5, 6, 4]
    err = _raises(raw, r"attendance\.date: 2 rows: value that cannot be parsed as a date")
    assert _problem(err, "attendance", "date")["examples"] == ["yesterday", "2024-13-45"]
    p = _problem(err, "enrolments", "school_year")
    assert p["n_rows"] == 1 and p["examples"] == ["2024/25"]
    whole = [q for q in err.problems if q["column"] == "school_year"
             and "whole number" in q["message"]]
    assert whole and whole[0]["examples"] == [2024.5]
    assert _problem(err, "attendance", "lessons")["examples"] == ["six"]


@pytest.mark.parametrize("table,column,bad", [
    ("attendance", "status", "absent"),
    ("engagement", "event", "login"),
    ("enrolments", "end_reason", "graduated"),
    ("grades", "kind", "quiz"),
    ("support", "kind", "tutor"),
    ("pupils", "sex", "X"),
])
def test_unknown_codes(raw, table, column, bad):
    df = raw[table].copy()
    df.loc[df.index[-1], column] = bad
    if table == "enrolments":  # the last enrolment is open; give it an end
        df.loc[df.index[-1], "end_date"] = "2025-05-30"
    raw[table] = df
    err = _raises(raw, rf"{table}\.{column}: 1 row: unknown {column} code \(allowed: ")
    assert _problem(err, table, column)["examples"] == [bad]
    assert repr(bad) in str(err)


def test_grades_outside_the_vocabulary(raw):
    raw["grades"]["grade"] = [0, "11", 7.5, "B", "7"]
    err = _raises(raw, r"grades\.grade: 4 rows: unknown grade code")
    assert _problem(err, "grades", "grade")["examples"] == [0, "11", 7.5, "B"]


def test_numeric_grades_as_ints_floats_and_strings_are_accepted(raw):
    raw["grades"]["grade"] = [1, 10.0, "4", "A", "ni"]
    t = rm.SchoolTables(**raw)
    assert t.grades["grade"].tolist() == ["1", "10", "4", "A", "ni"]


def test_grade_levels_outside_1_to_12(raw):
    raw["enrolments"]["grade"] = [0, 8, 13, 9, 1]
    err = _raises(raw, r"enrolments\.grade: 2 rows: value outside 1\.\.12\. Examples: 0, 13")
    assert _problem(err, "enrolments", "grade")["n_rows"] == 2


def test_duplicate_pupils(raw):
    raw["pupils"].loc[1, "pupil_id"] = "00012"
    err = _raises(raw, r"pupils\.pupil_id: 2 rows: duplicate pupil_id")
    assert _problem(err, "pupils", "pupil_id")["examples"] == ["00012"]


def test_null_ids(raw):
    raw["pupils"].loc[2, "pupil_id"] = None
    raw["grades"].loc[0, "pupil_id"] = np.nan
    raw["enrolments"].loc[0, "school_id"] = None
    err = _raises(raw, r"pupils\.pupil_id: 1 row: missing pupil_id")
    assert "grades.pupil_id: 1 row: missing pupil_id" in str(err)
    assert "enrolments.school_id: 1 row: missing school_id" in str(err)


def test_impossible_dates(raw):
    raw["attendance"]["date"] = ["1989-12-31", "2024-09-03", "2101-01-01", "2024-09-02",
                                 "2025-02-01", "2024-09-03"]
    raw["pupils"]["birth_date"] = ["1850-03-01", "2011-07-15", "2010-01-20", "2023-05-05"]
    err = _raises(raw, r"attendance\.date: 2 rows: impossible date outside 1990-01-01\.\."
                       r"2100-12-31\. Examples: '1989-12-31', '2101-01-01'")
    assert _problem(err, "pupils", "birth_date")["examples"] == ["1850-03-01"]
    young = [p for p in err.problems if p["column"] == "birth_date" and "3 years" in p["message"]]
    assert young and young[0]["n_rows"] == 1 and young[0]["examples"] == ["p4"]


def test_impossible_dates_already_datetime(tables):
    d = tables.to_dict()
    att = d["attendance"].copy()
    att["date"] = att["date"].where(att.index != 2, pd.Timestamp("1970-01-01"))
    d["attendance"] = att
    with pytest.raises(rm.DataValidationError,
                       match=r"attendance\.date: 1 row: impossible date .* '1970-01-01'"):
        rm.SchoolTables(**d)


def test_enrolment_ending_before_it_starts(raw):
    raw["enrolments"].loc[3, "end_date"] = "2024-08-01"
    err = _raises(raw, r"enrolments\.end_date: 1 row: enrolment ending before it starts")
    assert _problem(err, "enrolments", "end_date")["examples"] == ["p3: 2024-09-02 -> 2024-08-01"]


def test_overlapping_enrolments(raw):
    enr = raw["enrolments"]
    # p2 already moves on the day the first enrolment ends: fine (the fixture is valid)
    rm.SchoolTables(**raw)
    enr.loc[2, "start_date"] = "2025-01-09"  # one day before the previous end
    err = _raises(raw, r"enrolments\.start_date: 1 row: .*overlapping enrolments")
    assert _problem(err, "enrolments", "start_date")["examples"] == ["p2 from 2025-01-09"]
    enr.loc[2, "start_date"] = "2025-01-10"
    # an open enrolment followed by another one overlaps too; so does one inside a long one
    enr = pd.concat([raw["enrolments"].iloc[[0]]] * 3, ignore_index=True)
    enr["start_date"] = ["2020-09-01", "2021-09-01", "2022-09-01"]
    enr["end_date"] = ["2024-06-01", "2022-06-01", None]
    enr["end_reason"] = ["completed", "transferred", None]
    raw["enrolments"] = pd.concat([raw["enrolments"].iloc[1:], enr], ignore_index=True)
    err = _raises(raw, r"enrolments\.start_date: 2 rows: ")
    assert _problem(err, "enrolments", "start_date")["examples"] == [
        "00012 from 2021-09-01", "00012 from 2022-09-01"]


def test_end_reason_must_match_end_date(raw):
    raw["enrolments"].loc[1, "end_reason"] = None
    raw["enrolments"].loc[0, "end_reason"] = "left"
    err = _raises(raw, r"enrolments\.end_reason: 1 row: end_date without end_reason")
    assert "end_reason without end_date" in str(err)


def test_all_problems_of_all_tables_in_one_error(raw):
    raw["attendance"].loc[0, "status"] = "??"
    raw["grades"].loc[1, "grade"] = "12"
    raw["engagement"] = raw["engagement"].drop(columns="date")
    raw["pupils"].loc[3, "pupil_id"] = "p3"
    err = _raises(raw, "4 problems in tables attendance, engagement, grades, pupils")
    assert isinstance(err, ValueError)
    assert [(p["table"], p["column"]) for p in err.problems] == [
        ("pupils", "pupil_id"), ("attendance", "status"), ("grades", "grade"),
        ("engagement", "date")]
    for p in err.problems:
        assert set(p) == {"table", "column", "n_rows", "examples", "message"}


def test_at_most_five_examples(raw):
    raw["attendance"]["status"] = ["a", "b", "c", "d", "e", "f"]
    err = _raises(raw, r"attendance\.status: 6 rows")
    assert _problem(err, "attendance", "status")["examples"] == ["a", "b", "c", "d", "e"]


def test_unknown_pupils_are_dropped_with_a_logged_warning(raw, caplog):
    raw["attendance"].loc[6] = ["ghost", "2024-09-04", "present", 6]
    raw["attendance"].loc[7] = ["ghost2", "2024-09-04", "late", 1]
    raw["attendance"]["extra_note"] = "x"
    with caplog.at_level(logging.WARNING, logger="riskmodel.schema"):
        t = rm.SchoolTables(**raw)
    assert len(t.attendance) == 6
    msgs = [r.getMessage() for r in caplog.records if r.name == "riskmodel.schema"]
    assert any("attendance: dropping 2 row(s) of pupils not in the pupils table" in m
               and "'ghost'" in m for m in msgs)
    assert any("dropping 1 column(s) not in the data contract: extra_note" in m for m in msgs)
    assert "extra_note" not in t.attendance.columns


def test_validate_false_only_normalises(raw):
    raw["enrolments"].loc[3, "end_date"] = "2024-08-01"
    t = rm.SchoolTables(**raw, validate=False)
    assert t.enrolments["end_date"].dtype == "datetime64[ns]"
    raw["attendance"] = raw["attendance"].drop(columns="status")
    with pytest.raises(rm.DataValidationError, match=r"attendance\.status"):
        rm.SchoolTables(**raw, validate=False)


# ---------------------------------------------------------------- point in time etc.
def test_as_known_at(tables):
    past = tables.as_known_at("2025-01-10")
    assert (past.attendance["date"] < "2025-01-10").all() and len(past.attendance) == 5
    assert len(past.grades) == 4 and len(past.engagement) == 3
    e = past.enrolments
    assert len(e) == 4  # p2's second enrolment starts on as_of: not yet known
    # p2 ends on as_of and p3 later: both shown open
    assert e["end_date"].isna().all() and e["end_reason"].isna().all()
    assert past.support["end_date"].isna().all()
    assert past.pupils is tables.pupils
    assert past.attendance["pupil_id"].cat.categories.equals(tables.pupil_ids)
    later = tables.as_known_at(pd.Timestamp("2025-01-11"))
    assert later.enrolments["end_reason"].tolist()[1] == "transferred"
    assert tables.enrolments["end_date"].notna().sum() == 2  # original untouched
    with pytest.raises(ValueError, match="'as_of' parameter"):
        tables.as_known_at("not a date")
    # the one as_of rule of riskmodel: a time of day would move the cut-off silently
    with pytest.raises(ValueError, match="'as_of' parameter of SchoolTables.as_known_at must "
                                         "be a date without a time of day"):
        tables.as_known_at("2025-01-10 12:00")
    assert tables.as_known_at(date(2025, 1, 10)).equals(past)


def test_summary(tables):
    s = tables.summary()
    assert list(s.columns) == ["table", "rows", "pupils", "first_date", "last_date"]
    row = s.set_index("table").loc["attendance"]
    assert row["rows"] == 6 and row["pupils"] == 4
    assert row["first_date"] == pd.Timestamp("2024-09-02")
    assert row["last_date"] == pd.Timestamp("2025-02-01")
    assert s.set_index("table").loc["enrolments", "last_date"] == pd.Timestamp("2025-03-01")
    assert "attendance=6" in repr(tables)


def test_fingerprint_is_stable_and_content_sensitive(raw, tables):
    fp = tables.fingerprint()
    assert len(fp) == 64 and int(fp, 16) >= 0
    assert rm.SchoolTables(**raw).fingerprint() == fp
    shuffled = dict(raw, attendance=raw["attendance"].iloc[::-1])
    assert rm.SchoolTables(**shuffled).fingerprint() == fp  # row order is not content
    raw["attendance"].loc[0, "lessons"] = 5
    assert rm.SchoolTables(**raw).fingerprint() != fp
    assert tables.as_known_at("2025-01-01").fingerprint() != fp


def test_fingerprint_is_the_same_in_another_process(tmp_path, tables):
    rm.write_tables(tables, tmp_path / "t")
    code = ("import riskmodel as rm, sys; "
            f"print(rm.read_tables({str(tmp_path / 't')!r}).fingerprint())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == tables.fingerprint()


# ------------------------------------------------------------------------------ I/O
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_round_trip(tmp_path, tables, fmt):
    folder = rm.write_tables(tables, tmp_path / "out", format=fmt)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{n}.{fmt}" for n in tables.names)
    back = rm.read_tables(folder)
    assert back.equals(tables)
    assert back.pupils["pupil_id"].iloc[0] == "00012"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs


def test_csv_ids_keep_leading_zeros(tmp_path, raw):
    folder = tmp_path / "csv"
    folder.mkdir()
    raw["pupils"].to_csv(folder / "pupils.csv", index=False)
    raw["enrolments"].to_csv(folder / "enrolments.csv", index=False)
    raw["attendance"].assign(status=["+", "n", "k", "ns", "+", "+"]).to_csv(
        folder / "attendance.csv", index=False)
    t = rm.read_tables(folder, codes=CODES_YAML)
    assert t.pupils["pupil_id"].tolist()[0] == "00012"
    assert t.attendance["pupil_id"].tolist()[:2] == ["00012", "00012"]
    assert t.attendance["status"].tolist()[1] == "absent_unexcused"
    assert t.grades is None


def test_read_tables_names_missing_files(tmp_path, raw):
    raw["pupils"].to_parquet(tmp_path / "pupils.parquet")
    with pytest.raises(rm.DataValidationError, match=r"lacks the required table file\(s\) "
                                                     r"enrolments .*enrolments\.parquet"):
        rm.read_tables(tmp_path)
    with pytest.raises(rm.DataValidationError, match="does not exist"):
        rm.read_tables(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="'format' parameter"):
        rm.read_tables(tmp_path, format="xls")
    with pytest.raises(TypeError, match="The 'validate' parameter of read_tables must be an "
                                        "instance of 'bool'. Got 'no' instead."):
        rm.read_tables(tmp_path, validate="no")
    with pytest.raises(TypeError, match="The 'validate' parameter of SchoolTables must be an "
                                        "instance of 'bool'. Got 1 instead."):
        rm.SchoolTables(raw["pupils"], raw["enrolments"], validate=1)


def test_write_tables_is_atomic(tmp_path, tables, monkeypatch):
    calls = []
    real = pd.DataFrame.to_parquet

    def failing(self, *a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(self, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", failing)
    with pytest.raises(OSError, match="disk full"):
        rm.write_tables(tables, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []  # nothing half-written, no temp folder left
    monkeypatch.undo()

    rm.write_tables(tables, tmp_path / "out")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        rm.write_tables(tables, tmp_path / "out", format="csv")
    (tmp_path / "out" / "notes.txt").write_text("keep me")
    rm.write_tables(tables.as_known_at("2024-10-01"), tmp_path / "out", format="csv",
                    overwrite=True)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "notes.txt" in names and not any(n.endswith(".parquet") for n in names)
    # as_known_at keeps the categories of the full tables (stable over time) while a fresh
    # read has only the subjects in use: same content, same fingerprint
    back = rm.read_tables(tmp_path / "out")
    assert back.fingerprint() == tables.as_known_at("2024-10-01").fingerprint()
    assert back.equals(rm.SchoolTables(**tables.as_known_at("2024-10-01").to_dict()))
    with pytest.raises(TypeError, match="'tables' parameter"):
        rm.write_tables({"pupils": None}, tmp_path / "x")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match="'folder' parameter .* is a file"):
        rm.write_tables(tables, tmp_path / "afile", overwrite=True)


def test_failed_overwrite_leaves_the_old_folder_intact(tmp_path, tables, monkeypatch):
    out = tmp_path / "out"
    rm.write_tables(tables, out, format="csv")
    (out / "notes.txt").write_text("keep me")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = []
    real = pd.DataFrame.to_parquet

    def failing(self, *a, **k):
        calls.append(1)
        if len(calls) == 2:  # after the first table file
            raise OSError("disk full")
        return real(self, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", failing)
    with pytest.raises(OSError, match="disk full"):
        rm.write_tables(tables, out, format="parquet", overwrite=True)
    assert len(calls) == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # old folder as it was
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left
    assert rm.read_tables(out).equals(tables)


def test_write_tables_refuses_a_folder_that_is_not_a_tables_folder(tmp_path, tables):
    """The same error as every riskmodel writer, with or without overwrite."""
    other = tmp_path / "thesis"
    other.mkdir()
    (other / "chapter1.md").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(rm.ConfigError, match="exists, is not empty and is not a riskmodel "
                                                 r"output \(no pupils\.parquet\)"):
            rm.write_tables(tables, other, overwrite=overwrite)
    assert [p.name for p in other.iterdir()] == ["chapter1.md"]
    with pytest.raises(ValueError, match="'format' parameter of write_tables must be a str "
                                         "among"):
        rm.write_tables(tables, tmp_path / "x", format="xlsx")


def test_fingerprint_ignores_encoding_but_not_values(tables):
    d = tables.to_dict()
    g = d["grades"].copy()
    g["subject"] = g["subject"].cat.set_categories(
        ["zoology", *reversed(g["subject"].cat.categories)])  # other order, unused category
    assert rm.SchoolTables._from_normalised(dict(d, grades=g)).fingerprint() == \
        tables.fingerprint()
    a = d["attendance"].copy()
    a["lessons"] = a["lessons"].to_numpy()[[2, 1, 0, 3, 4, 5]]  # swap values of two rows
    assert rm.SchoolTables._from_normalised(dict(d, attendance=a)).fingerprint() != \
        tables.fingerprint()


def test_empty_required_table_is_an_error(raw):
    raw["enrolments"] = raw["enrolments"].iloc[:0]
    _raises(raw, r"enrolments: 0 rows: the enrolments table is empty")


def test_rows_without_pupil_are_dropped_when_not_validating(raw):
    raw["attendance"].loc[0, "pupil_id"] = None
    t = rm.SchoolTables(**raw, validate=False)
    assert len(t.attendance) == 5 and t.attendance["pupil_id"].notna().all()


def test_changing_a_normalised_table_leaves_the_input_alone(tables):
    d = tables.to_dict()
    again = rm.SchoolTables(**d)
    again.attendance.loc[0, "status"] = "late"
    again.attendance.loc[0, "date"] = pd.Timestamp("2024-09-09")
    again.grades.loc[0, "pupil_id"] = "p4"
    assert tables.attendance.loc[0, "status"] == "present"
    assert tables.attendance.loc[0, "date"] == pd.Timestamp("2024-09-02")
    assert tables.grades.loc[0, "pupil_id"] == "00012"


def test_sliced_input_gets_a_fresh_range_index(raw):
    raw["attendance"] = raw["attendance"].iloc[2:]
    t = rm.SchoolTables(**raw)
    assert t.attendance.index.equals(pd.RangeIndex(4))
    assert t.attendance["pupil_id"].tolist() == ["p2", "p3", "p3", "p4"]


def test_broken_pupils_table_does_not_drop_other_tables_rows(raw, caplog):
    raw["pupils"] = raw["pupils"].drop(columns="sex")
    raw["attendance"].loc[0, "status"] = "??"
    with caplog.at_level(logging.WARNING, logger="riskmodel.schema"):
        err = _raises(raw, r"pupils\.sex: 4 rows: missing required column 'sex'")
    assert _problem(err, "attendance", "status")["n_rows"] == 1
    assert not [r for r in caplog.records if "not in the pupils table" in r.getMessage()]


def test_conversion_is_logged_and_normalised_input_is_not(raw, tables, caplog):
    with caplog.at_level(logging.DEBUG, logger="riskmodel.schema"):
        rm.SchoolTables(**raw)
    msgs = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("attendance: converted pupil_id, date, status, lessons") for m in msgs)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="riskmodel.schema"):
        rm.SchoolTables(**tables.to_dict())
    assert not [r for r in caplog.records if "converted" in r.getMessage()]


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(
    st.sampled_from(["00012", "p2", "p3", "p4"]),
    st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)),
    st.sampled_from(vocab.ATTENDANCE_STATUSES),
    st.integers(0, 12)), max_size=30, unique_by=lambda r: r[:3]))  # one row per pupil-day-status
def test_valid_attendance_never_raises_and_keeps_its_values(raw, rows):
    att = pd.DataFrame(rows, columns=["pupil_id", "date", "status", "lessons"])
    att["date"] = att["date"].astype(str)
    t = rm.SchoolTables(raw["pupils"], raw["enrolments"], attendance=att)
    a = t.attendance
    assert a["pupil_id"].astype(object).tolist() == [r[0] for r in rows]
    assert [d.date() for d in a["date"]] == [r[1] for r in rows]
    assert a["status"].astype(object).tolist() == [r[2] for r in rows]
    assert a["lessons"].tolist() == [r[3] for r in rows]


def test_ids_with_spaces_and_object_dtype_resolve(raw):
    raw["attendance"]["pupil_id"] = pd.Series([" 00012", "00012 ", "p2", "p3", "p3", "p4"],
                                              dtype=object)
    raw["grades"]["pupil_id"] = [" 00012", "p2", "p3", "p4", "p3"]  # Arrow-backed str
    t = rm.SchoolTables(**raw)
    assert t.attendance["pupil_id"].tolist() == ["00012", "00012", "p2", "p3", "p3", "p4"]
    assert t.grades["pupil_id"].tolist()[0] == "00012"

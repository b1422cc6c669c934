"""Tests of riskmodel.privacy: keyed, consistent pseudonyms; the key is never stored."""

from __future__ import annotations

import hashlib
import hmac

import pandas as pd
import pytest

import riskmodel as rm
from riskmodel.privacy import pseudonymize_ids

KEY = "0123456789abcdef-test-key"


def _tables() -> rm.SchoolTables:
    pupils = pd.DataFrame({
        "pupil_id": ["p1", "p2", "p3"],
        "birth_date": ["2012-03-01", "2011-07-15", "2010-01-20"],
        "sex": ["F", "M", "F"],
    })
    enrolments = pd.DataFrame({
        "pupil_id": ["p1", "p2", "p3"], "school_id": ["s1", "s1", "s2"],
        "municipality_id": ["m1", "m1", "m2"], "school_year": [2024] * 3, "grade": [7, 8, 9],
        "start_date": ["2024-09-02"] * 3, "end_date": [None] * 3, "end_reason": [None] * 3,
    })
    attendance = pd.DataFrame({
        "pupil_id": ["p3", "p1", "p3"], "date": ["2024-09-03", "2024-09-03", "2024-09-04"],
        "status": ["present", "late", "absent_unexcused"],
    })
    return rm.SchoolTables(pupils, enrolments, attendance)


def test_pseudonym_is_hmac_sha256_of_the_id():
    expected = hmac.new(KEY.encode(), b"p1", hashlib.sha256).hexdigest()[:32]
    assert pseudonymize_ids(["p1"], KEY)[0] == expected


def test_consistent_across_tables_and_structure_kept():
    t = _tables()
    out = rm.pseudonymize(t, key=KEY)
    assert isinstance(out, rm.SchoolTables)
    new_ids = out.pupils["pupil_id"].tolist()
    assert len(set(new_ids)) == 3
    assert not set(new_ids) & {"p1", "p2", "p3"}
    # the categories of every pupil_id column are the new pupils ids, in order
    for name in ("enrolments", "attendance"):
        col = out[name]["pupil_id"]
        assert list(col.cat.categories) == new_ids
        # same rows point to the same pupil as before
        assert (col.cat.codes.to_numpy() == t[name]["pupil_id"].cat.codes.to_numpy()).all()
    mapping = dict(zip(t.pupils["pupil_id"], new_ids))
    assert out.attendance["pupil_id"].astype(str).tolist() == [
        mapping[p] for p in t.attendance["pupil_id"].astype(str)
    ]
    # everything else unchanged; the input is not modified
    pd.testing.assert_frame_equal(out.attendance.drop(columns="pupil_id"),
                                  t.attendance.drop(columns="pupil_id"))
    assert t.pupils["pupil_id"].tolist() == ["p1", "p2", "p3"]
    assert out.fingerprint() != t.fingerprint()


def test_same_key_same_pseudonyms_other_key_different():
    t = _tables()
    a = rm.pseudonymize(t, key=KEY).pupils["pupil_id"].tolist()
    b = rm.pseudonymize(t, key=KEY).pupils["pupil_id"].tolist()
    c = rm.pseudonymize(t, key=KEY + "x").pupils["pupil_id"].tolist()
    assert a == b
    assert not set(a) & set(c)


def test_key_from_environment(monkeypatch):
    monkeypatch.setenv("RISKMODEL_PSEUDONYM_KEY", KEY)
    t = _tables()
    assert (rm.pseudonymize(t).pupils["pupil_id"].tolist()
            == rm.pseudonymize(t, key=KEY).pupils["pupil_id"].tolist())
    monkeypatch.setenv("MY_KEY", KEY + "other")
    assert (rm.pseudonymize(t, env_var="MY_KEY").pupils["pupil_id"].tolist()
            == rm.pseudonymize(t, key=KEY + "other").pupils["pupil_id"].tolist())


def test_missing_or_short_key_is_an_error(monkeypatch):
    monkeypatch.delenv("RISKMODEL_PSEUDONYM_KEY", raising=False)
    with pytest.raises(ValueError, match="RISKMODEL_PSEUDONYM_KEY"):
        rm.pseudonymize(_tables())
    with pytest.raises(ValueError, match="at least 16 bytes"):
        rm.pseudonymize(_tables(), key="short")
    with pytest.raises(TypeError, match="'key' parameter"):
        rm.pseudonymize(_tables(), key=12345)


def test_key_never_appears_in_output_or_logs(caplog):
    caplog.set_level("DEBUG")
    out = rm.pseudonymize(_tables(), key=KEY)
    assert KEY not in caplog.text
    for df in out.to_dict().values():
        assert not df.astype(str).apply(lambda c: c.str.contains(KEY, regex=False)).any().any()


def test_raw_mapping_before_validation():
    raw = {
        "pupils": pd.DataFrame({"pupil_id": ["10", "20"], "sex": ["F", "M"]}),
        "grades": pd.DataFrame({"pupil_id": [20, 10, 20], "grade": ["5", "7", "3"]}),
        "schools": pd.DataFrame({"school_id": ["s1"]}),
    }
    out = rm.pseudonymize(raw, key=KEY)
    ids = out["pupils"]["pupil_id"].tolist()
    assert out["grades"]["pupil_id"].tolist() == [ids[1], ids[0], ids[1]]
    assert out["schools"].equals(raw["schools"])
    raw["grades"].loc[0, "pupil_id"] = 99
    with pytest.raises(ValueError, match="not in the pupils table"):
        rm.pseudonymize(raw, key=KEY)


def test_pupils_table_required_and_unique():
    with pytest.raises(ValueError, match="'pupils' table"):
        rm.pseudonymize({"grades": pd.DataFrame({"pupil_id": ["a"]})}, key=KEY)
    with pytest.raises(ValueError, match="duplicate"):
        rm.pseudonymize({"pupils": pd.DataFrame({"pupil_id": ["a", "a"]})}, key=KEY)
    with pytest.raises(TypeError, match="SchoolTables or a mapping"):
        rm.pseudonymize([1, 2], key=KEY)

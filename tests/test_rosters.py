"""Rosters as data: read_resources, availability dates, --resources in the runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import riskmodel as rm
from riskmodel.allocation import read_resources

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "configs" / "resources_example.csv"
HEADER = "resource_id,kind,municipality_id,school_id,capacity,specialty,cost_per_pupil"


def write(tmp_path, text, name="roster.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def pupils_frame():
    return pd.DataFrame({
        "pupil_id": ["a", "b", "c", "d"], "municipality_id": ["Rīga"] * 3 + ["Cēsu novads"],
        "school_id": ["S0001", "S0002", "S0001", "S0100"], "age": [14, 15, 16, 14],
        "grade": [8, 9, 10, 8], "risk": [0.5, 0.4, 0.3, 0.6]})


def test_example_roster_reads_with_text_ids_and_dates():
    roster = read_resources(EXAMPLE)
    assert list(roster.columns) == ["resource_id", "kind", "municipality_id", "school_id",
                                    "capacity", "specialty", "cost_per_pupil",
                                    "available_from", "available_to"]
    assert len(roster) == 9 and roster["capacity"].dtype == np.int64
    assert set(roster["municipality_id"]) >= {"Rīga", "Daugavpils", "Cēsu novads"}
    row = roster.set_index("resource_id").loc["M-RIGA-002"]
    assert row["available_to"] == pd.Timestamp("2026-05-31") and row["specialty"] == "engagement"
    assert pd.isna(roster.set_index("resource_id").loc["M-RIGA-003", "specialty"])
    assert roster.set_index("resource_id").loc["SS-S0001", "school_id"] == "S0001"


@pytest.mark.parametrize("fmt", ["csv", "parquet", "xlsx"])
def test_formats_read_the_same_roster(tmp_path, fmt):
    text = pd.DataFrame({"resource_id": ["007", "012"], "kind": ["mentor", "family"],
                         "municipality_id": ["0100", "Rīga"], "capacity": ["25", "30"],
                         "available_from": ["2025-09-01", None]})
    path = tmp_path / f"roster.{fmt}"
    if fmt == "csv":
        text.to_csv(path, index=False)
    elif fmt == "parquet":
        text.to_parquet(path)
    else:
        text.to_excel(path, index=False)
    roster = read_resources(path)
    assert roster["resource_id"].tolist() == ["007", "012"]  # leading zeros kept
    assert roster["municipality_id"].tolist() == ["0100", "Rīga"]
    assert roster["capacity"].tolist() == [25, 30]
    assert roster["available_from"].tolist()[0] == pd.Timestamp("2025-09-01")
    assert pd.isna(roster["available_from"].tolist()[1])
    assert roster["cost_per_pupil"].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("body, column, n_rows, message", [
    ("m1,tutor,Rīga,,25,,\nm2,coach,Rīga,,25,,\nm3,mentor,Rīga,,5,,", "kind", 2, "unknown kind"),
    ("m1,mentor,Rīga,,0,,\nm2,mentor,Rīga,,2.5,,\nm3,mentor,Rīga,,x,,", "capacity", 3,
     "positive integer"),
    ("m1,mentor,Rīga,,5,,\nm1,mentor,Rīga,,5,,", "resource_id", 2, "duplicate"),
    ("m1,mentor,Rīga,,5,luck,", "specialty", 1, "unknown specialty"),
    ("m1,mentor,Rīga,,5,,-3", "cost_per_pupil", 1, "non-negative"),
    ("m1,mentor,,,5,,", "municipality_id", 1, "empty"),
])
def test_bad_cells_are_located(tmp_path, body, column, n_rows, message):
    path = write(tmp_path, HEADER + "\n" + body + "\n")
    with pytest.raises(rm.DataValidationError, match=message) as info:
        read_resources(path)
    problem = next(p for p in info.value.problems if p["column"] == column)
    assert problem["table"] == str(path) and problem["n_rows"] == n_rows
    assert problem["examples"][0][0].startswith("line 2")
    assert str(path) in str(info.value)


def test_dates_are_checked(tmp_path):
    path = write(tmp_path, "resource_id,kind,municipality_id,capacity,available_from,"
                           "available_to\nm1,mentor,Rīga,5,2026-01-01,2025-12-31\n"
                           "m2,mentor,Rīga,5,1.1.2026,\nm3,mentor,Rīga,5,2025-09-01,2026-05-31\n")
    with pytest.raises(rm.DataValidationError) as info:
        read_resources(path)
    by_col = {p["column"]: p for p in info.value.problems}
    assert by_col["available_to"]["n_rows"] == 1
    assert by_col["available_to"]["examples"][0][0] == "line 2 (m1)"
    assert by_col["available_from"]["examples"] == [("line 3 (m2)", "1.1.2026")]


def test_missing_columns_and_files_are_typed_errors(tmp_path):
    path = write(tmp_path, "resource_id,kind\nm1,mentor\n")
    with pytest.raises(rm.DataValidationError, match="required column") as info:
        read_resources(path)
    assert {p["column"] for p in info.value.problems} == {"municipality_id", "capacity"}
    with pytest.raises(rm.DataValidationError, match="does not exist"):
        read_resources(tmp_path / "nope.csv")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not a parquet file at all")
    with pytest.raises(rm.DataValidationError, match="broken.parquet.*truncated or corrupt"):
        read_resources(broken)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(rm.DataValidationError, match="broken.xlsx.*not a readable .xlsx workbook"):
        read_resources(broken)
    with pytest.raises(rm.DataValidationError, match="unknown format"):
        read_resources(write(tmp_path, "x", name="roster.json"))


def test_unavailable_resources_are_not_allocated():
    roster = read_resources(EXAMPLE)
    pupils = pupils_frame()
    autumn = rm.allocate(pupils, roster, as_of="2025-10-01", objective="risk")
    spring = rm.allocate(pupils, roster, as_of="2026-02-02", objective="risk")
    summer = rm.allocate(pupils, roster, as_of="2026-06-15", objective="risk")
    assert "M-RIGA-003" not in set(autumn.assignments["resource_id"])  # from 2026-01-05
    def mentors(plan):
        return set(plan.assignments.query("kind == 'mentor'")["resource_id"])

    assert mentors(autumn) <= {"M-RIGA-001", "M-RIGA-002", "M-CESU-001"}
    assert "M-RIGA-002" not in mentors(summer)  # until 2026-05-31
    assert len(spring.assignments.query("kind == 'mentor'")) == 4
    assert autumn.shortfall.query("kind == 'mentor' and municipality_id == 'Rīga'")[
        "capacity"].item() == 50  # M-RIGA-003 not counted yet
    with pytest.raises(ValueError, match="pass as_of"):
        rm.allocate(pupils, roster)


def test_allocate_run_uses_exactly_the_roster_file(tmp_path):
    from riskmodel.pipeline import allocate_run

    world = rm.datasets.make_school_system(n_pupils=300, n_years=2, random_state=0)
    as_of = pd.Timestamp(world.as_of_dates[-1])
    enrolled = rm.build_features(world.tables, as_of).index
    rng = np.random.default_rng(0)
    scores = pd.DataFrame({"risk": rng.beta(2, 5, len(enrolled))}, index=enrolled)
    folder = tmp_path / "scores"
    folder.mkdir()
    scores.to_parquet(folder / "scores.parquet")
    (folder / "manifest.json").write_text(json.dumps({"as_of": str(as_of.date())}))
    roster = tmp_path / "roster.csv"
    roster.write_text(HEADER + "\nR-1,mentor,Rīga,,3,,700\nR-2,support_staff,Rīga,,2,,300\n",
                      encoding="utf-8")
    res = allocate_run({"scores": str(folder / "scores.parquet"), "out": str(tmp_path / "plan"),
                        "resources": str(roster)}, tables=world.tables)
    plan = pd.read_parquet(res.paths["allocation"])
    assert set(plan["resource_id"]) == {"R-1", "R-2"}
    assert (plan["resource_id"].value_counts() == pd.Series({"R-1": 3, "R-2": 2})).all()
    assert set(plan["change"]) == {"new"} and (plan["start_date"] == as_of).all()
    manifest = json.loads((tmp_path / "plan" / "manifest.json").read_text())
    assert manifest["resources"]["source"] == str(roster)
    assert manifest["resources"]["n"] == 2
    from riskmodel._util import file_sha256

    assert manifest["resources"]["sha256"] == file_sha256(roster)
    assert "ended.parquet" in manifest["files_sha256"]


def test_cli_takes_resources_for_score_and_allocate_only():
    from riskmodel.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["score", "--resources", "r.csv"]).resources == Path("r.csv")
    assert parser.parse_args(["allocate", "--resources", "r.xlsx"]).resources == Path("r.xlsx")
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--resources", "r.csv"])


def test_config_resources_key():
    from riskmodel.pipeline import ScoreConfig

    cfg = ScoreConfig(resources="configs/resources_example.csv")
    assert cfg.resources.path == Path("configs/resources_example.csv") and cfg.resources.current
    assert ScoreConfig().resources.path is None  # synthetic by default
    with pytest.raises(rm.ConfigError):
        rm.config.load_config(ScoreConfig, {"resources": {"path": "x.csv", "bogus": 1}})


def test_runs_take_the_data_support_as_current(tmp_path):
    """The data's support table (no resource_id in the contract) is ongoing support of an
    unknown resource: the pupil is planned again and the plan says so."""
    from riskmodel.pipeline import allocate_run

    world = rm.datasets.make_school_system(n_pupils=300, n_years=2, random_state=0)
    as_of = pd.Timestamp(world.as_of_dates[-1])
    enrolled = rm.build_features(world.tables, as_of).index
    scores = pd.DataFrame({"risk": np.linspace(0.9, 0.01, len(enrolled))}, index=enrolled)
    scores["reason_1_lv"], scores["reason_1_en"] = "Kavējumi", "Absences"
    folder = tmp_path / "scores"
    folder.mkdir()
    scores.to_parquet(folder / "scores.parquet")
    (folder / "manifest.json").write_text(json.dumps({"as_of": str(as_of.date())}))
    pf = rm.features.pupil_frame(world.tables, as_of).reindex(enrolled)
    older = pf.index[pf["age"] >= 13][:2]  # the two highest-risk mentor-age pupils
    support = pd.DataFrame({"pupil_id": list(older), "kind": ["mentor", "psychologist"],
                            "start_date": as_of - pd.Timedelta(days=40), "end_date": pd.NaT})
    tables = rm.SchoolTables(**{**world.tables.to_dict(), "support": support})
    roster = tmp_path / "roster.csv"
    muni = str(pf.loc[older[0], "municipality_id"])
    roster.write_text(f"{HEADER}\nR-1,mentor,{muni},,2,,700\n", encoding="utf-8")
    res = allocate_run({"scores": str(folder / "scores.parquet"), "out": str(tmp_path / "plan"),
                        "resources": {"path": str(roster)}}, tables=tables)
    plan = pd.read_parquet(res.paths["allocation"]).set_index("pupil_id")
    assert plan.loc[older[0], "change_reason"] == "resource_unknown"
    assert plan.loc[older[0], "reason_1_en"] == "Absences"
    ended = pd.read_parquet(res.paths["ended"])
    assert ended[["pupil_id", "kind", "change_reason"]].values.tolist() == [
        [older[1], "support_staff", "resource_unknown"]]  # no support staff in the roster
    manifest = json.loads((tmp_path / "plan" / "manifest.json").read_text())
    assert manifest["resources"]["ended"] == 1


def test_cli_bad_roster_exits_2_naming_the_file(tmp_path, capsys):
    from riskmodel.cli import main

    world = rm.datasets.make_school_system(n_pupils=300, n_years=2, random_state=0)
    data = rm.write_tables(world.tables, tmp_path / "data")
    as_of = pd.Timestamp(world.as_of_dates[-1])
    enrolled = rm.build_features(world.tables, as_of).index
    folder = tmp_path / "scores"
    folder.mkdir()
    pd.DataFrame({"risk": 0.3}, index=enrolled).to_parquet(folder / "scores.parquet")
    (folder / "manifest.json").write_text(json.dumps({"as_of": str(as_of.date())}))
    bad = write(tmp_path, HEADER + "\nm1,mentor,Rīga,,-2,,\n")
    rc = main(["allocate", "--data", str(data), "--scores", str(folder / "scores.parquet"),
               "--out", str(tmp_path / "plan"), "--resources", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2 and str(bad) in err and "capacity must be a positive integer" in err
    assert not (tmp_path / "plan").exists()


def test_a_roster_saved_by_latvian_excel_reads_like_the_utf8_one(tmp_path):
    """';' separator, decimal comma and Windows-1257, as Excel writes it on a Latvian machine."""
    utf8 = write(tmp_path, "resource_id,kind,municipality_id,capacity,cost_per_pupil\n"
                           "M-ĀDAŽI-1,mentor,Ādažu novads,25,120.5\n", name="a.csv")
    latvian = tmp_path / "b.csv"
    latvian.write_bytes("resource_id;kind;municipality_id;capacity;cost_per_pupil\n"
                        "M-ĀDAŽI-1;mentor;Ādažu novads;25;120,5\n".encode("cp1257"))
    with pytest.raises(rm.DataValidationError, match="encoding"):
        read_resources(latvian)
    back = read_resources(latvian, encoding="cp1257")
    pd.testing.assert_frame_equal(back, read_resources(utf8))
    assert back.loc[0, "municipality_id"] == "Ādažu novads" and back.loc[0, "cost_per_pupil"] == 120.5


def test_a_data_folder_roster_travels_with_the_tables_and_keeps_ongoing_support(tmp_path):
    """The synthetic system's roster is written as resources.parquet beside the tables,
    read back by read_tables, and a run without --resources allocates exactly it; the
    ongoing support of the data keeps its resource."""
    from riskmodel.pipeline import allocate_run

    world = rm.datasets.make_school_system(n_pupils=2000, n_years=2, random_state=0)
    data = rm.write_tables(world.tables, tmp_path / "data")
    assert (data / "resources.parquet").is_file()
    tables = rm.read_tables(data)
    pd.testing.assert_frame_equal(tables.resources,
                                  rm.read_resources(data / "resources.parquet"))
    assert list(tables.resources["resource_id"]) == list(world.resources["resource_id"])
    assert tables.equals(world.tables)  # the roster is not pupil records
    as_of = pd.Timestamp(world.as_of_dates[-1])
    enrolled = rm.build_features(tables, as_of).index
    folder = tmp_path / "scores"
    folder.mkdir()
    risk = world.truth.loc[world.truth["as_of"] == as_of].set_index("pupil_id")["p_leave"]
    pd.DataFrame({"risk": risk.reindex(enrolled).fillna(0.0).to_numpy()},
                 index=enrolled).to_parquet(folder / "scores.parquet")
    (folder / "manifest.json").write_text(json.dumps({"as_of": str(as_of.date())}))
    res = allocate_run({"scores": str(folder / "scores.parquet"), "out": str(tmp_path / "plan")},
                       tables=tables)
    plan = pd.read_parquet(res.paths["allocation"])
    assert set(plan["resource_id"]) <= set(world.resources["resource_id"])
    manifest = json.loads((tmp_path / "plan" / "manifest.json").read_text())
    assert manifest["resources"]["source"] == "data"
    assert manifest["resources"]["n"] == len(world.resources)
    sup = world.tables.support
    ongoing = sup[(sup["start_date"] < as_of)
                  & (sup["end_date"].isna() | (sup["end_date"] >= as_of))]
    kept = plan[plan["change"] == "continuing"].merge(
        ongoing[["pupil_id", "kind", "resource_id"]].astype(str),
        on=["pupil_id", "kind", "resource_id"])
    assert manifest["resources"]["continuing"] == len(kept) > 0

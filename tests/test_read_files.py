"""Reading files as they arrive: CSV dialects, encodings, Excel, broken files (read_tables)."""

from __future__ import annotations

import logging
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import riskmodel as rm
from riskmodel._read_files import read_table_file
from riskmodel.cli import main

LATVIAN = "āčēģīķļņšūž ĀČĒĢĪĶĻŅŠŪŽ"
#: natural sentences with every Latvian letter (for encoding="detect", which judges text)
NOTES = ["Skolēns kavēja ģeogrāfijas stundas", "Ķīmijā ļoti čakls", "Uzņemts no Šūpoļu ielas",
         "Žurnālā atzīme iesniegta", "Mājās šķēršļi, žēl", "Ģimene informēta par kavējumiem"]


@pytest.fixture(scope="module")
def world():
    return rm.datasets.make_school_system(n_pupils=300, n_years=2, random_state=0)


@pytest.fixture(scope="module")
def tables(world):
    """A few hundred rows per table (Excel files are slow to write)."""
    t = world.tables
    return rm.SchoolTables(t.pupils, t.enrolments, attendance=t.attendance.head(400),
                           grades=t.grades.head(300), engagement=t.engagement.head(200),
                           schools=t.schools)


def _write_csv_folder(tables, folder: Path, **to_csv) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in tables.names:
        getattr(tables, name).to_csv(folder / f"{name}.csv", index=False, **to_csv)
    return folder


def _latvian_frame(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    words = ["Rīga", "Jūrmala", "Ķekava", "Ogre", "Cēsis", "Līvāni", "Ādaži", "Ģēģere",
             "Kuldīga", "Alūksne", "Preiļi", "Ņukši", "Šķēde", "Žagarkalns"]
    return pd.DataFrame({
        "Skolēna ID": [f"{i:07d}" for i in range(n)],
        "Pašvaldība": rng.choice(words, n),
        "Vērtējums": [f"{v:.1f}".replace(".", ",") for v in rng.uniform(1, 10, n)],
        "Piezīmes": [f"{LATVIAN} {i}" for i in range(n)],
    })


# ------------------------------------------------------------------- dialect
def test_semicolon_decimal_comma_cp1257_latvian_headers(tmp_path):
    df = _latvian_frame()
    f = tmp_path / "pupils.csv"
    df.to_csv(f, sep=";", index=False, encoding="cp1257")
    got = read_table_file(f, encoding="cp1257")
    assert list(got.columns) == ["Skolēna ID", "Pašvaldība", "Vērtējums", "Piezīmes"]
    assert got["Skolēna ID"].tolist() == df["Skolēna ID"].tolist()  # leading zeros kept
    assert got["Pašvaldība"].tolist() == df["Pašvaldība"].tolist()
    assert got["Piezīmes"].iloc[7] == f"{LATVIAN} 7"
    # decimal comma detected: the numbers arrive with a point, as strings
    assert got["Vērtējums"].tolist() == [v.replace(",", ".") for v in df["Vērtējums"]]
    assert np.allclose(pd.to_numeric(got["Vērtējums"]),
                       [float(v.replace(",", ".")) for v in df["Vērtējums"]])


def test_decimal_comma_leaves_text_columns_and_honours_decimal_point(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("a;b;c\n1,5;x,y;2,0\n2;z;3,25\n", encoding="utf-8")
    got = read_table_file(f)
    assert got["a"].tolist() == ["1.5", "2"] and got["b"].tolist() == ["x,y", "z"]
    assert got["c"].tolist() == ["2.0", "3.25"]
    kept = read_table_file(f, decimal=".")  # explicit: no conversion
    assert kept["a"].tolist() == ["1,5", "2"]
    # a comma-separated file never has its (quoted) commas turned into points
    g = tmp_path / "y.csv"
    g.write_text('a,b\n"1,5",2\n', encoding="utf-8")
    assert read_table_file(g)["a"].tolist() == ["1,5"]
    assert read_table_file(g, decimal=",")["a"].tolist() == ["1.5"]


def test_tab_separated(tmp_path, tables):
    folder = _write_csv_folder(tables, tmp_path / "tsv", sep="\t")
    assert rm.read_tables(folder).equals(tables)
    assert rm.read_tables(folder, sep="\t").fingerprint() == tables.fingerprint()


def test_separator_inside_quotes_is_not_counted(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text('id;name\n1;"Bērziņš, Jānis"\n2;"Ozols; Pēteris"\n', encoding="utf-8")
    got = read_table_file(f)
    assert got["name"].tolist() == ["Bērziņš, Jānis", "Ozols; Pēteris"]


def test_excel_sep_line(tmp_path):
    f = tmp_path / "x.csv"
    f.write_bytes("sep=;\r\nSkolēna ID;Vārds\r\n007;Jānis\r\n".encode("utf-8-sig"))
    got = read_table_file(f)
    assert list(got.columns) == ["Skolēna ID", "Vārds"] and got.iloc[0].tolist() == ["007", "Jānis"]


@pytest.mark.parametrize("text, why", [
    ("pupil_id\np1\np2\n", "no ',', ';' or tab"),
    ("a;b;c\n1;2\n1;2;3;4\n", "same number of fields"),
    ("a;b,c\n1;2,3\n4;5,6\n", "both ',' and ';'"),
])
def test_unsure_separator_names_file_and_option(tmp_path, text, why):
    f = tmp_path / "pupils.csv"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(rm.DataValidationError, match="sep=") as err:
        read_table_file(f)
    assert str(f) in str(err.value) and why in str(err.value)
    # the same file with the separator given is read
    if text.startswith("a;b;c"):
        return  # ragged lines stay an error with sep=";"
    assert len(read_table_file(f, sep=";")) == 2


def test_ragged_lines_with_explicit_sep_name_file(tmp_path):
    f = tmp_path / "grades.csv"
    f.write_text("a;b\n1;2\n" + "3;4\n" * 300 + "5;6;7\n", encoding="utf-8")
    with pytest.raises(rm.DataValidationError, match="grades.csv.*fields of the header"):
        read_table_file(f, sep=";")


def test_duplicate_headers_are_an_error(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("id,id\n1,2\n", encoding="utf-8")
    with pytest.raises(rm.DataValidationError, match="'id' more than once"):
        read_table_file(f)


# ------------------------------------------------------------------ encodings
def test_utf8_bom_is_dropped(tmp_path, tables):
    folder = _write_csv_folder(tables, tmp_path / "bom", encoding="utf-8-sig")
    assert (folder / "pupils.csv").read_bytes()[:3] == b"\xef\xbb\xbf"
    got = read_table_file(folder / "pupils.csv")
    assert got.columns[0] == "pupil_id"
    assert rm.read_tables(folder).equals(tables)


@pytest.mark.parametrize("codec", ["cp1257", "iso-8859-13"])
def test_baltic_encodings_explicit_and_detected(tmp_path, codec):
    df = _latvian_frame()
    df["Piezīmes"] = [NOTES[i % len(NOTES)] for i in range(len(df))]
    assert set("āčēģīķļņšūž") <= set("".join(NOTES).lower())
    f = tmp_path / "x.csv"
    df.to_csv(f, sep=";", index=False, encoding=codec)
    for encoding in (codec, "detect"):
        got = read_table_file(f, encoding=encoding)
        assert list(got.columns) == list(df.columns), encoding
        assert got["Piezīmes"].tolist() == df["Piezīmes"].tolist(), encoding
        assert got["Pašvaldība"].tolist() == df["Pašvaldība"].tolist(), encoding


def test_explicit_cp1257_on_a_utf8_file_reads_utf8(tmp_path, caplog):
    df = _latvian_frame(20)
    for name, enc in (("bom.csv", "utf-8-sig"), ("plain.csv", "utf-8")):
        df.to_csv(tmp_path / name, sep=";", index=False, encoding=enc)
        with caplog.at_level(logging.WARNING, logger="riskmodel.schema"):
            got = read_table_file(tmp_path / name, encoding="cp1257")
        assert list(got.columns) == list(df.columns)
        assert got["Piezīmes"].tolist() == df["Piezīmes"].tolist()
        assert f"{name}: read as UTF-8, not cp1257" in caplog.text


def test_detect_keeps_utf8(tmp_path):
    df = _latvian_frame(20)
    f = tmp_path / "x.csv"
    df.to_csv(f, sep=";", index=False, encoding="utf-8")
    assert read_table_file(f, encoding="detect")["Piezīmes"].tolist() == df["Piezīmes"].tolist()


def test_undecodable_names_file_byte_offset_and_option(tmp_path):
    f = tmp_path / "pupils.csv"
    good = "pupil_id;name\n".encode() + "p1;Jānis\n".encode()
    f.write_bytes(good + "p2;Pēteris\n".encode("cp1257"))
    offset = len(good) + len("p2;P")  # the cp1257 byte of "ē"
    with pytest.raises(rm.DataValidationError) as err:
        read_table_file(f)
    msg = str(err.value)
    assert str(f) in msg and f"byte offset {offset}" in msg and "line 3" in msg
    assert "encoding='cp1257'" in msg and "--encoding cp1257" in msg and "detect" in msg
    assert isinstance(err.value.__cause__, UnicodeDecodeError)


def test_undecodable_after_the_sample_gives_the_true_offset(tmp_path):
    f = tmp_path / "attendance.csv"
    head = "pupil_id,date,status\n" + "p1,2024-09-02,present\n" * 5000
    f.write_bytes(head.encode() + b"p\xe8,2024-09-03,present\n")
    with pytest.raises(rm.DataValidationError, match=f"byte offset {len(head) + 1} "):
        read_table_file(f)
    with pytest.raises(rm.DataValidationError, match="cannot be decoded as ascii"):
        read_table_file(f, encoding="ascii")


def test_unknown_encoding_is_a_parameter_error(tmp_path):
    with pytest.raises(ValueError, match="'encoding' parameter of read_tables"):
        rm.read_tables(tmp_path, encoding="latvian")
    with pytest.raises(ValueError, match="'sep' parameter of read_tables"):
        rm.read_tables(tmp_path, sep="|")


# ----------------------------------------------------------------------- ids
def test_ids_stay_strings_as_written(tmp_path, tables):
    pupils = tables.pupils.copy()
    pupils["pupil_id"] = pupils["pupil_id"].astype(str)
    ids = pupils["pupil_id"].tolist()
    ids[0], ids[1] = "0012345", "12345"
    f = tmp_path / "pupils.csv"
    pupils.assign(pupil_id=ids).to_csv(f, sep=";", index=False)
    got = read_table_file(f, "pupils")
    assert got["pupil_id"].iloc[:2].tolist() == ["0012345", "12345"]
    assert got["pupil_id"].nunique() == len(got)


# ---------------------------------------------------------------------- Excel
def _to_xlsx_per_table(tables, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in tables.names:
        getattr(tables, name).to_excel(folder / f"{name}.xlsx", index=False, sheet_name="Sheet1")
    return folder


def test_xlsx_one_file_per_table(tmp_path, tables):
    folder = _to_xlsx_per_table(tables, tmp_path / "x")
    got = rm.read_tables(folder)
    assert got.equals(tables) and got.fingerprint() == tables.fingerprint()
    assert rm.read_tables(folder, format="xlsx").equals(tables)
    raw = read_table_file(folder / "pupils.xlsx", "pupils")
    assert pd.api.types.is_datetime64_any_dtype(raw["birth_date"])  # date cells: datetimes


def test_xlsx_one_workbook_with_sheets(tmp_path, tables):
    folder = tmp_path / "book"
    folder.mkdir()
    book = folder / "export.xlsx"
    with pd.ExcelWriter(book) as writer:
        for name in tables.names:
            getattr(tables, name).to_excel(writer, sheet_name=name, index=False)
        pd.DataFrame({"note": ["eksportēts"]}).to_excel(writer, sheet_name="Info", index=False)
    assert rm.read_tables(folder).equals(tables)  # the one workbook of tables in the folder
    assert rm.read_tables(book).equals(tables)  # or the workbook itself
    # a second workbook of tables makes the folder ambiguous
    with pd.ExcelWriter(folder / "copy.xlsx") as writer:
        tables.pupils.to_excel(writer, sheet_name="pupils", index=False)
    with pytest.raises(rm.DataValidationError, match="several workbooks.*'copy.xlsx'"):
        rm.read_tables(folder)
    assert rm.read_tables(book).equals(tables)


def test_xlsx_sheet_named_almost_like_a_table(tmp_path, tables):
    book = tmp_path / "export.xlsx"
    with pd.ExcelWriter(book) as writer:
        tables.pupils.to_excel(writer, sheet_name="pupils", index=False)
        tables.enrolments.to_excel(writer, sheet_name="enrolments", index=False)
        tables.attendance.head().to_excel(writer, sheet_name="Attendence", index=False)
    with pytest.raises(rm.DataValidationError, match="'Attendence'.*'attendance'"):
        rm.read_tables(book)


def _set_cell_xml(book: Path, old: bytes, new: bytes) -> None:
    """Rewrite a value in the sheet XML (openpyxl writes 12345.0 as 12345)."""
    with zipfile.ZipFile(book) as z:
        items = {n: z.read(n) for n in z.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    assert old in items[sheet]
    items[sheet] = items[sheet].replace(old, new, 1)
    with zipfile.ZipFile(book, "w") as z:
        for n, data in items.items():
            z.writestr(n, data)


def test_xlsx_ids_text_int_and_float_cells(tmp_path):
    import openpyxl

    book = tmp_path / "pupils.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Skolēna ID", "Dzimšanas datums", "Vārds"])
    ws.append(["0012345", pd.Timestamp("2010-05-04").to_pydatetime(), "Jānis"])
    ws.append([12345, pd.Timestamp("2011-01-31").to_pydatetime(), "Līga"])
    ws.append([77777, None, None])
    ws.append([None, None, None])  # a trailing blank row
    wb.save(book)
    _set_cell_xml(book, b"<v>77777</v>", b"<v>77777.0</v>")
    got = read_table_file(book)
    assert list(got.columns) == ["Skolēna ID", "Dzimšanas datums", "Vārds"]
    assert got["Skolēna ID"].tolist() == ["0012345", "12345", "77777.0"]
    assert got["Dzimšanas datums"].iloc[:2].tolist() == [pd.Timestamp("2010-05-04"),
                                                        pd.Timestamp("2011-01-31")]
    assert pd.isna(got["Dzimšanas datums"].iloc[2]) and got["Vārds"].iloc[0] == "Jānis"


def test_xlsx_several_sheets_need_sheet(tmp_path):
    book = tmp_path / "pupils.xlsx"
    with pd.ExcelWriter(book) as writer:
        pd.DataFrame({"a": [1]}).to_excel(writer, sheet_name="Lapa1", index=False)
        pd.DataFrame({"a": [2]}).to_excel(writer, sheet_name="Lapa2", index=False)
    with pytest.raises(rm.DataValidationError, match="no a single sheet.*'Lapa1', 'Lapa2'"):
        read_table_file(book)
    assert read_table_file(book, sheet="Lapa2")["a"].tolist() == ["2"]


# --------------------------------------------------------------- broken files
def _parquet_folder(tables, folder: Path) -> Path:
    return rm.write_tables(tables, folder)


def test_truncated_parquet_names_file(tmp_path, tables):
    folder = _parquet_folder(tables, tmp_path / "t")
    f = folder / "attendance.parquet"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(rm.DataValidationError, match="attendance.parquet.*truncated or "
                                                     "corrupt") as err:
        rm.read_tables(folder)
    assert err.value.__cause__ is not None  # the pyarrow error is chained, not shown alone


def test_empty_file_names_file(tmp_path, tables):
    folder = _parquet_folder(tables, tmp_path / "t")
    (folder / "grades.parquet").unlink()
    (folder / "grades.csv").write_bytes(b"")
    with pytest.raises(rm.DataValidationError, match=r"grades.csv.*empty \(0 bytes\)"):
        rm.read_tables(folder)
    (folder / "grades.csv").write_text("\n\n", encoding="utf-8")
    with pytest.raises(rm.DataValidationError, match="grades.csv.*no header row"):
        rm.read_tables(folder)


def test_header_only_optional_is_empty_required_is_error(tmp_path, tables):
    folder = _write_csv_folder(tables, tmp_path / "t")
    (folder / "grades.csv").write_text("pupil_id,date,subject,grade\n", encoding="utf-8")
    got = rm.read_tables(folder)
    assert got.grades is not None and len(got.grades) == 0
    assert got.pupils.equals(tables.pupils)
    (folder / "enrolments.csv").write_text(
        ",".join(tables.enrolments.columns) + "\n", encoding="utf-8")
    with pytest.raises(rm.DataValidationError, match="enrolments.csv.*header but no rows"):
        rm.read_tables(folder)


def test_binary_file_named_csv(tmp_path, tables):
    folder = _write_csv_folder(tables, tmp_path / "t")
    (folder / "schools.csv").write_bytes(np.random.default_rng(0).bytes(4096) + b"\x00")
    with pytest.raises(rm.DataValidationError, match="schools.csv.*not a text"):
        rm.read_tables(folder)


def test_parquet_bytes_named_csv(tmp_path, tables):
    folder = _write_csv_folder(tables, tmp_path / "t")
    tables.schools.to_parquet(folder / "schools.csv")
    with pytest.raises(rm.DataValidationError, match="schools.csv"):
        rm.read_tables(folder)


def test_corrupt_xlsx(tmp_path, tables):
    folder = _to_xlsx_per_table(tables, tmp_path / "x")
    f = folder / "pupils.xlsx"
    f.write_bytes(f.read_bytes()[:500])
    with pytest.raises(rm.DataValidationError, match="pupils.xlsx.*not a readable .xlsx") as e:
        rm.read_tables(folder)
    assert e.value.__cause__ is not None
    (folder / "pupils.xlsx").write_text("pupil_id,birth_date\n", encoding="utf-8")
    with pytest.raises(rm.DataValidationError, match="pupils.xlsx"):
        rm.read_tables(folder)


@pytest.mark.parametrize("name, table", [("attendence.parquet", "attendance"),
                                         ("pupil.csv", "pupils"),
                                         ("Enrolment.csv", "enrolments")])
def test_file_named_almost_like_a_table_is_an_error(tmp_path, tables, name, table):
    folder = _parquet_folder(tables, tmp_path / "t")
    tables.schools.to_parquet(folder / name) if name.endswith("parquet") else \
        tables.schools.to_csv(folder / name, index=False)
    with pytest.raises(rm.DataValidationError,
                       match=f"'{name}'.*did you mean {table}{Path(name).suffix}"):
        rm.read_tables(folder)


def test_file_named_after_nothing_is_logged_not_read(tmp_path, tables, caplog):
    folder = _parquet_folder(tables, tmp_path / "t")
    tables.schools.to_csv(folder / "mentori.csv", index=False)
    (folder / "README.txt").write_text("not data", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="riskmodel.schema"):
        got = rm.read_tables(folder)
    assert got.equals(tables)
    assert [r.getMessage() for r in caplog.records if "mentori.csv" in r.getMessage()]
    assert not [r for r in caplog.records if "README" in r.getMessage()]


def test_old_xls_named_after_a_table(tmp_path, tables):
    folder = _parquet_folder(tables, tmp_path / "t")
    (folder / "grades.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(rm.DataValidationError, match="'grades.xls'.*grades.xlsx"):
        rm.read_tables(folder)


# ------------------------------------------------------------------------ CLI
def test_cli_validate_latvian_csv_exit_0(tmp_path, tables, capsys):
    folder = _write_csv_folder(tables, tmp_path / "lv", sep=";", encoding="cp1257")
    assert main(["validate", "--data", str(folder), "--encoding", "cp1257", "--sep", ";"]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and tables.fingerprint() in out
    assert main(["validate", "--data", str(folder), "--format", "csv"]) == 2  # not UTF-8
    err = capsys.readouterr().err
    assert "--encoding cp1257" in err and "byte offset" in err


def test_cli_broken_file_exit_2_names_file_no_traceback(tmp_path, tables):
    folder = _parquet_folder(tables, tmp_path / "t")
    f = folder / "enrolments.parquet"
    f.write_bytes(f.read_bytes()[:100])
    res = subprocess.run([sys.executable, "-m", "riskmodel", "validate", "--data", str(folder)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and 'File "' not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("riskmodel: error: "), res.stderr
    assert "enrolments.parquet" in lines[0] and "truncated or corrupt" in lines[0]


def test_cli_options_reach_the_run_configs(tmp_path):
    from riskmodel.cli import _config, _read_options, build_parser
    from riskmodel.pipeline import ScoreConfig

    args = build_parser().parse_args(
        ["score", "--data", str(tmp_path), "--encoding", "cp1257", "--sep", "tab",
         "--decimal", ",", "--date-format", "%d.%m.%Y", "--format", "csv"])
    cfg = _config(ScoreConfig, args, {"data": str(tmp_path), **_read_options(args)})
    assert cfg.read.kwargs() == {"format": "csv", "encoding": "cp1257", "sep": "\t",
                                 "decimal": ",", "date_format": "%d.%m.%Y", "columns": None}
    assert main(["validate", "--data", str(tmp_path), "--encoding", "latvian"]) == 2


def test_run_configs_read_section_reaches_read_tables(tmp_path, tables):
    from riskmodel.config import load_config
    from riskmodel.pipeline import TrainConfig, load_tables

    folder = _write_csv_folder(tables, tmp_path / "lv", sep=";", encoding="cp1257")
    cfg = load_config(TrainConfig, {"data": str(folder),
                                    "read": {"encoding": "cp1257", "sep": "semicolon"}})
    assert cfg.read.sep == ";"
    got, dates = load_tables(cfg.data, codes=cfg.codes, read=cfg.read)
    assert dates is None and got.equals(tables)
    with pytest.raises(rm.DataValidationError, match="encoding='cp1257'"):
        load_tables(cfg.data)  # the same folder without the read section
    with pytest.raises(rm.ConfigError, match="read.sep"):
        load_config(TrainConfig, {"read": {"sep": "|"}})

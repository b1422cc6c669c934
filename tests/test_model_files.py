"""Tests of saved model folders that are broken: each fails with rm.ModelFileError naming the file."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from _cli import assert_one_line_error, run_cli

import riskmodel as rm
from riskmodel.cli import main

@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"attendance_rate_28d": rng.random(300), "grade_mean_term": rng.random(300) * 10})
    y = pd.Series((rng.random(300) < 0.2 + 0.5 * (X["attendance_rate_28d"] < 0.3)).astype(int))
    model = rm.RiskModel(n_estimators=15, validation=3, random_state=0).fit(X, y)
    return X, model


@pytest.fixture
def folder(fitted, tmp_path):
    return fitted[1].save(tmp_path / "model")


def _meta(folder):
    return json.loads((folder / "riskmodel.json").read_text(encoding="utf-8"))


def _write_meta(folder, meta):
    (folder / "riskmodel.json").write_text(json.dumps(meta), encoding="utf-8")


def _load_fails(folder, file, *words):
    with pytest.raises(rm.ModelFileError) as info:
        rm.RiskModel.load(folder)
    message = str(info.value)
    assert str(folder / file) in message, message
    assert info.value.path == str(folder / file)
    for word in words:
        assert word in message, message
    assert "\n" not in message
    return message


def _truncate(file):
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])


def _as_format_2(folder):
    """The folder as riskmodel 0.2 saved it: format 2, no files_sha256."""
    meta = _meta(folder)
    meta["format_version"] = 2
    del meta["files_sha256"]
    _write_meta(folder, meta)


def test_save_writes_the_sha256_of_model_txt(folder):
    meta = _meta(folder)
    assert meta["format_version"] == rm._model_io.FORMAT_VERSION == 3
    digest = hashlib.sha256((folder / "model.txt").read_bytes()).hexdigest()
    assert meta["files_sha256"] == {"model.txt": digest}


def test_a_save_cut_short_leaves_the_earlier_model_as_it_was(fitted, folder, monkeypatch):
    """Saving over an earlier model is all or nothing: an interrupt while writing
    (here in the JSON, after model.txt) keeps the earlier folder, byte for byte."""
    import riskmodel._model_io as io

    X, model = fitted
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    y_other = (X["attendance_rate_28d"] < 0.5).astype(int)
    other = rm.RiskModel(n_estimators=7, validation=3, random_state=1).fit(X, y_other)

    def cut(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(io.json, "dumps", cut)
    with pytest.raises(KeyboardInterrupt):
        other.save(folder)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert [p.name for p in folder.parent.iterdir()] == ["model"]  # no temporary left
    np.testing.assert_array_equal(rm.RiskModel.load(folder).predict_proba(X),
                                  model.predict_proba(X))
    # a save that completes replaces it whole
    np.testing.assert_array_equal(rm.RiskModel.load(other.save(folder)).predict_proba(X),
                                  other.predict_proba(X))


def test_save_never_writes_into_a_folder_of_other_files(fitted, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("keep me")
    with pytest.raises(rm.ConfigError, match="notes.*not a riskmodel output .no riskmodel.json"):
        fitted[1].save(notes)
    assert [p.name for p in notes.iterdir()] == ["todo.txt"]


def test_good_model_loads_and_predicts_identically(fitted, folder):
    X, model = fitted
    loaded = rm.RiskModel.load(folder)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.get_params() == model.get_params()


def test_format_2_without_hashes_still_loads(fitted, folder):
    X, model = fitted
    _as_format_2(folder)
    np.testing.assert_array_equal(rm.RiskModel.load(folder).predict_proba(X), model.predict_proba(X))


def test_truncated_model_txt(folder):
    digest = _meta(folder)["files_sha256"]["model.txt"]
    _truncate(folder / "model.txt")
    _load_fails(folder, "model.txt", "changed or truncated after saving", digest)


def test_truncated_model_txt_of_format_2_is_caught_by_its_structure(folder):
    _as_format_2(folder)
    _truncate(folder / "model.txt")
    _load_fails(folder, "model.txt", "not a whole LightGBM model")


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.7, 0.99])
def test_truncated_model_txt_never_kills_the_process(folder, fraction):
    # LightGBM 4 aborts (SIGABRT) or crashes (SIGSEGV) on some of these prefixes when
    # given them directly; riskmodel checks first. Format 2: no hash to catch it.
    _as_format_2(folder)
    data = (folder / "model.txt").read_bytes()
    (folder / "model.txt").write_bytes(data[: int(len(data) * fraction)])
    code = ("import sys, riskmodel as rm\n"
            "try:\n    rm.RiskModel.load(sys.argv[1])\n"
            "except rm.ModelFileError as err:\n    print(err.path, file=sys.stderr); sys.exit(3)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.strip() == str(folder / "model.txt")
    assert "terminate called" not in proc.stderr


def test_altered_byte(folder):
    file = folder / "model.txt"
    data = bytearray(file.read_bytes())
    i = data.index(b"leaf_value=") + len(b"leaf_value=") + 1
    data[i] = ord("7") if data[i] != ord("7") else ord("8")
    file.write_bytes(bytes(data))
    _load_fails(folder, "model.txt", "changed or truncated after saving", "expected")


def test_missing_model_txt(folder):
    (folder / "model.txt").unlink()
    message = _load_fails(folder, "model.txt", "is missing")
    # still a FileNotFoundError, as before format 3
    with pytest.raises(FileNotFoundError):
        rm.RiskModel.load(folder)
    assert "incomplete" in message


def test_missing_json(folder):
    (folder / "riskmodel.json").unlink()
    _load_fails(folder, "riskmodel.json", "is missing", "model.txt is there")


def test_missing_folder(tmp_path):
    with pytest.raises(rm.ModelFileError, match="does not exist") as info:
        rm.RiskModel.load(tmp_path / "nowhere")
    assert info.value.path == str(tmp_path / "nowhere")


def test_invalid_json(folder):
    text = (folder / "riskmodel.json").read_text(encoding="utf-8")
    (folder / "riskmodel.json").write_text(text[: len(text) // 2], encoding="utf-8")
    _load_fails(folder, "riskmodel.json", "not valid JSON", "line")


def test_json_not_utf8(folder):
    (folder / "riskmodel.json").write_bytes(b'{"format_version": 3, "x": "\xe9"}')
    _load_fails(folder, "riskmodel.json", "not UTF-8")


def test_json_that_is_a_list(folder):
    (folder / "riskmodel.json").write_text("[1, 2, 3]", encoding="utf-8")
    _load_fails(folder, "riskmodel.json", "JSON list")


def test_newer_format_version(folder):
    meta = _meta(folder)
    meta["format_version"] = 4
    _write_meta(folder, meta)
    _load_fails(folder, "riskmodel.json", "saved by a newer riskmodel (format 4)",
                "this riskmodel reads up to 3", "upgrade riskmodel")


def test_wrong_estimator_name(folder):
    meta = _meta(folder)
    meta["estimator"] = "LogisticBaseline"
    _write_meta(folder, meta)
    _load_fails(folder, "riskmodel.json", "'LogisticBaseline'", "'RiskModel'")


def test_missing_keys_and_hashes(folder):
    meta = _meta(folder)
    del meta["calibration"], meta["files_sha256"]
    _write_meta(folder, meta)
    _load_fails(folder, "riskmodel.json", "calibration", "files_sha256")


def test_hash_list_cannot_point_outside_the_folder(folder):
    meta = _meta(folder)
    meta["files_sha256"]["../elsewhere.txt"] = "0" * 64
    _write_meta(folder, meta)
    _load_fails(folder, "riskmodel.json", "plain file names")


def test_registry_folder_load_uses_the_same_checks(folder):
    from riskmodel import tracking

    _truncate(folder / "model.txt")
    with pytest.raises(rm.ModelFileError, match="changed or truncated"):
        tracking.resolve_model(str(folder))


def _tiny_system(tmp_path):
    pupils = pd.DataFrame({"pupil_id": ["p1", "p2"], "birth_date": ["2011-03-01", "2010-07-15"],
                           "sex": ["F", "M"]})
    enrolments = pd.DataFrame({
        "pupil_id": ["p1", "p2"], "school_id": ["s1", "s1"], "municipality_id": ["m1", "m1"],
        "school_year": [2024, 2024], "grade": [7, 8], "start_date": ["2024-09-02"] * 2,
        "end_date": [None, None], "end_reason": [None, None]})
    data = tmp_path / "data"
    rm.write_tables(rm.SchoolTables(pupils, enrolments), data)
    return data


@pytest.mark.parametrize("damage", ["truncate", "invalid_json"])
def test_cli_score_with_a_broken_model_exits_2_in_one_line(folder, tmp_path, damage):
    if damage == "truncate":
        _truncate(folder / "model.txt")
        file = folder / "model.txt"
    else:
        (folder / "riskmodel.json").write_text("{not json", encoding="utf-8")
        file = folder / "riskmodel.json"
    data, out = _tiny_system(tmp_path), tmp_path / "scores"
    proc, _ = run_cli(["score", "--data", data, "--as-of", "2024-10-01", "--model", folder,
                       "--out", out], cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert_one_line_error(proc.stderr, str(file))
    assert "JSONDecodeError" not in proc.stderr
    assert not out.exists()


def test_cli_main_returns_2(folder, tmp_path, capsys):
    meta = _meta(folder)
    meta["format_version"] = 9
    _write_meta(folder, meta)
    data = _tiny_system(tmp_path)
    rc = main(["score", "--data", str(data), "--as-of", "2024-10-01", "--model", str(folder),
               "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "newer riskmodel (format 9)" in err and "riskmodel.json" in err
    assert not (tmp_path / "o").exists()


def test_model_from_the_registry_uses_the_same_checks(fitted, tmp_path, monkeypatch):
    import mlflow

    from riskmodel import pyfunc, tracking

    monkeypatch.chdir(tmp_path)  # the sqlite store puts artifacts in ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracking.configure(uri)
    mlflow.set_experiment("broken-model")
    with mlflow.start_run():
        pyfunc.log_model(fitted[1], registered_model_name="broken")
    X, model = fitted
    resolved = tracking.resolve_model("models:/broken/1", tracking_uri=uri)
    np.testing.assert_array_equal(resolved.model.predict_proba(X), model.predict_proba(X))
    [stored] = [p for p in (tmp_path / "mlruns").rglob("model.txt") if p.parent.name == "riskmodel"]
    _truncate(stored)
    with pytest.raises(rm.ModelFileError) as info:
        tracking.resolve_model("models:/broken/1", tracking_uri=uri)
    message = str(info.value)
    assert "models:/broken/1/" in message and "model.txt" in message, message
    assert "changed or truncated after saving" in message and uri in message
    assert info.value.path.startswith("models:/broken/1/")

"""Fault injection: the real CLI on a small system, with broken inputs, signals and races.

Issue 15, items 5 and 6. Every case runs ``python -m riskmodel`` in a subprocess
(see ``tests/_cli.py``) and asserts the exit code, the one-line message (it names
the file, folder or URI to fix) and that no partial output was left: the ``--out``
folder is absent or exactly the earlier whole output, and no hidden temporary
folder (``_atomic.TMP_MARKER``) remains. Stages are hit deterministically with the
test-only pause hook ``RISKMODEL_TEST_PAUSE_AT`` (:func:`riskmodel._atomic.pause_point`).
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest
from _cli import (
    Running,
    assert_one_line_error,
    assert_whole_output,
    make_small_system,
    run_cli,
    snapshot,
    temp_leftovers,
)

from riskmodel._atomic import PAUSE_ENV
from riskmodel.cli import main

AS_OF = "2023-03-01"
#: the issue's bound on reporting a dead tracking server
TRACKING_BOUND_S = 30.0
#: the stages of a score run, in order, and the last moment before the swap
SCORE_STAGES = ["validate", "model", "features", "score", "explain", "allocate", "write",
                "swap"]


@pytest.fixture(scope="module")
def system(tmp_path_factory) -> tuple[Path, Path]:
    return make_small_system(tmp_path_factory.mktemp("system"))


@pytest.fixture(scope="module")
def previous(system, tmp_path_factory) -> Path:
    """A whole earlier score output (with allocation) that later runs must not damage."""
    data, model = system
    out = tmp_path_factory.mktemp("previous") / "scores"
    proc, _ = run_cli(["score", "--data", data, "--model", model, "--as-of", AS_OF,
                       "--out", out], cwd=out.parent)
    assert proc.returncode == 0, proc.stderr
    manifest = assert_whole_output(out)
    assert {"allocation.parquet", "waitlist.parquet", "report.html"} <= set(manifest["files_sha256"])
    return out


def _score(system, out: Path, *extra, data: Path | None = None, model: Path | str | None = None):
    d, m = system
    return ["score", "--data", data or d, "--model", model or m, "--as-of", AS_OF,
            "--out", out, *extra]


def _copy_previous(previous: Path, tmp_path: Path) -> tuple[Path, dict]:
    out = tmp_path / "scores"
    shutil.copytree(previous, out)
    return out, snapshot(out)


def _assert_untouched(out: Path, before: dict) -> None:
    assert snapshot(out) == before
    assert_whole_output(out)
    assert temp_leftovers(out.parent) == []


# ------------------------------------------------------------ broken data files
def _broken_data(system, tmp_path: Path, damage: str) -> tuple[Path, str]:
    """A copy of the data folder with one file broken; returns it and the file's name."""
    src, _ = system
    data = tmp_path / "data"
    shutil.copytree(src, data)
    if damage == "truncated parquet":
        file = data / "enrolments.parquet"
        raw = file.read_bytes()
        file.write_bytes(raw[: len(raw) // 2])
    elif damage == "empty file":
        file = data / "grades.parquet"
        file.write_bytes(b"")
    elif damage == "binary pupils.csv":
        (data / "pupils.parquet").unlink()
        file = data / "pupils.csv"
        file.write_bytes(random.Random(0).randbytes(4096))
    else:  # header-only enrolments
        (data / "enrolments.parquet").unlink()
        file = data / "enrolments.csv"
        file.write_text("pupil_id,school_id,municipality_id,school_year,grade,start_date,"
                        "end_date,end_reason\n", encoding="utf-8")
    return data, file.name


@pytest.mark.parametrize("damage", ["truncated parquet", "empty file", "binary pupils.csv",
                                    "header-only enrolments"])
def test_broken_data_file_exits_2_naming_the_file(system, tmp_path, damage):
    data, name = _broken_data(system, tmp_path, damage)
    out = tmp_path / "scores"
    proc, _ = run_cli(_score(system, out, data=data), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert_one_line_error(proc.stderr, name)
    assert not out.exists() and temp_leftovers(tmp_path) == []


# ------------------------------------------------------------------ broken model
def test_truncated_model_exits_2_and_keeps_the_earlier_output(system, previous, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(system[1], model)
    raw = (model / "model.txt").read_bytes()
    (model / "model.txt").write_bytes(raw[: len(raw) // 2])
    out, before = _copy_previous(previous, tmp_path)
    proc, _ = run_cli(_score(system, out, model=model), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert_one_line_error(proc.stderr, str(model / "model.txt"), "truncated")
    assert "terminate called" not in proc.stderr
    _assert_untouched(out, before)


# -------------------------------------------------------------- dead tracking
def test_tracking_uri_at_a_closed_port_exits_2_fast(system, previous, tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        uri = f"http://127.0.0.1:{s.getsockname()[1]}"
    # closed once the socket is: nothing listens there
    out, before = _copy_previous(previous, tmp_path)
    # timed from the start of the model stage (the registry look-up), so that the
    # imports of a loaded machine do not count
    run = Running(_score(system, out, model="models:/riskmodel@champion"), cwd=tmp_path,
                  env={"MLFLOW_TRACKING_URI": uri, PAUSE_ENV: "model"})
    try:
        run.wait_for("riskmodel: test pause at model")
        start = time.perf_counter()
        run.resume()
        code, err = run.finish()
        seconds = time.perf_counter() - start
    finally:
        run.kill()
    assert code == 2, err
    assert seconds < TRACKING_BOUND_S, f"took {seconds:.1f} s"
    lines = err.strip().splitlines()
    assert lines[0] == "riskmodel: test pause at model"
    assert_one_line_error("\n".join(lines[1:]), uri, "connection refused")
    _assert_untouched(out, before)
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "mlflow.db").exists()


# ------------------------------------------------------------- unwritable --out
def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _read_only(folder: Path) -> None:
    """Make ``folder`` unwritable for this user: mode 0o555, or immutable for root.

    chmod does not stop root, so as root the folder gets the ext4/xfs immutable
    attribute (``chattr +i``), which does; where that is refused, the test fails
    rather than pass without testing anything.
    """
    if _is_root():
        done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
        assert done.returncode == 0, f"cannot make {folder} read-only as root: {done.stderr}"
    else:
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP
                     | stat.S_IROTH | stat.S_IXOTH)
    with pytest.raises(OSError):  # really unwritable, whoever we are
        (folder / "probe").mkdir()


def _writable_again(folder: Path) -> None:
    if _is_root():
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True, check=False)
    folder.chmod(0o755)


@pytest.mark.parametrize("case", ["new folder in a read-only folder",
                                  "earlier output in a read-only folder",
                                  "path under a file"])
def test_unwritable_out_exits_2_naming_the_folder(system, previous, tmp_path, case):
    parent = tmp_path / "parent"
    if case == "path under a file":
        parent.write_text("a file, not a folder")
        out, before = parent / "scores", None
    else:
        parent.mkdir()
        out, before = (parent / "scores", None)
        if case.startswith("earlier output"):
            out, before = _copy_previous(previous, parent)
        _read_only(parent)
    try:
        # a data folder that does not exist: the folder is refused before any work
        proc, _ = run_cli(_score(system, out, data=tmp_path / "no-data"), cwd=tmp_path)
    finally:
        if parent.is_dir():
            _writable_again(parent)
    assert proc.returncode == 2, proc.stderr
    line = assert_one_line_error(proc.stderr, repr(str(out)), "cannot be written", "--out")
    assert ("not writable" in line) if parent.is_dir() else ("is a file" in line)
    if before is None:
        assert not out.exists()
    else:
        _assert_untouched(out, before)
    if parent.is_dir():
        assert temp_leftovers(parent) == []


def test_unwritable_save_model_folder_exits_2_before_training(tmp_path, capsys):
    blocker = tmp_path / "models"
    blocker.write_text("a file, not a folder")
    # no data folder either: the model folder is refused first, before any work
    _main_fails(capsys, ["train", "--data", tmp_path / "no-data", "--save-model",
                         blocker / "m", "--set", "tracking.enabled=false"], 2,
                repr(str(blocker / "m")), "is a file", "(--save-model)")


def test_full_disk_exits_1_naming_enospc(system, previous, tmp_path, monkeypatch, capsys):
    """A full disk is a real failure (1), not the user's input; nothing half-written stays."""
    import riskmodel._run_score as run_score

    def full(df, path):
        path.write_bytes(b"\0" * 10)  # a file begun, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(run_score, "write_parquet", full)
    out, before = _copy_previous(previous, tmp_path)
    data, model = system
    code = main(["score", "--data", str(data), "--model", str(model), "--as-of", AS_OF,
                 "--out", str(out), "--no-allocate"])
    err = capsys.readouterr().err
    assert code == 1, err
    line = assert_one_line_error(err, "ENOSPC", "no space left", "features.parquet",
                                 "run with -v")
    assert line.startswith("riskmodel: error: score failed:")
    _assert_untouched(out, before)


def test_io_error_is_a_failure_and_a_bad_path_is_input():
    from riskmodel.cli import _exit_code

    code, message = _exit_code(OSError(errno.EIO, "Input/output error", "/x/y"), "score")
    assert code == 1 and "OSError" in message
    code, message = _exit_code(PermissionError(errno.EACCES, "Permission denied", "/x/y"),
                               "score")
    assert (code, message) == (2, "Permission denied: '/x/y'. Check the path.")


# ---------------------------------------------------------------- SIGTERM
@pytest.mark.parametrize("stage", SCORE_STAGES)
def test_sigterm_during_each_stage_of_score(system, previous, tmp_path, stage):
    out, before = _copy_previous(previous, tmp_path)
    run = Running(_score(system, out), cwd=tmp_path, env={PAUSE_ENV: stage})
    try:
        run.wait_for(f"riskmodel: test pause at {stage}")
        if stage == "swap":  # everything is written, beside the old output
            assert len(temp_leftovers(tmp_path)) == 1
        run.proc.send_signal(signal.SIGTERM)
        code, err = run.finish()
    finally:
        run.kill()
    assert code == 143, err
    last = err.strip().splitlines()[-1]
    assert last == "riskmodel: error: terminated (SIGTERM); no partial output was left."
    assert "Traceback" not in err
    _assert_untouched(out, before)


# ------------------------------------------------------- two runs, one --out
def test_two_concurrent_scores_into_one_out(system, previous, tmp_path):
    """Both runs wait with their whole output written, then swap at the same moment.

    Without the lock, about 1 swap in 400 so released failed (FileNotFoundError: the
    other run had just moved the old folder away); with it, none in 400.
    """
    out, _ = _copy_previous(previous, tmp_path)
    dates = ["2023-03-01", "2023-04-03"]  # the two outputs differ, so the winner shows
    runs = []
    try:
        for as_of in dates:
            args = _score(system, out, "--no-allocate")
            args[args.index("--as-of") + 1] = as_of
            runs.append(Running(args, cwd=tmp_path, env={PAUSE_ENV: "swap"}))
        for run in runs:
            run.wait_for("riskmodel: test pause at swap")
        assert len(temp_leftovers(tmp_path)) == 2
        for run in runs:
            run.resume()
        results = [run.finish() for run in runs]
    finally:
        for run in runs:
            run.kill()
    # the swaps take turns (a lock on the parent folder): both runs succeed and the
    # folder holds the whole output of the one that swapped last
    assert [code for code, _ in results] == [0, 0], results
    manifest = assert_whole_output(out)
    assert manifest["as_of"] in dates
    assert temp_leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores"]


# ------------------------------------------------------- exit codes by cause
def _main_fails(capsys, argv: list, code: int, *words: str) -> str:
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert rc == code, err
    return assert_one_line_error(err, *words)


def test_as_of_before_the_data_exits_2(system, tmp_path, capsys):
    out = tmp_path / "scores"
    argv = _score(system, out)
    argv[argv.index("--as-of") + 1] = "2020-01-01"
    _main_fails(capsys, argv, 2, "--as-of 2020-01-01", "first enrolment in the data (2022-09-01)")
    argv[argv.index("--as-of") + 1] = "2022-09-01"  # nothing is known on the first day
    _main_fails(capsys, argv, 2, "--as-of 2022-09-01", "Choose a date after 2022-09-01")
    assert not out.exists()


def test_as_of_far_after_the_data_exits_2_naming_the_last_record(system, previous, tmp_path,
                                                                  capsys):
    out = tmp_path / "scores"
    argv = _score(system, out)
    argv[argv.index("--as-of") + 1] = "2030-01-01"
    _main_fails(capsys, argv, 2, "--as-of 2030-01-01", "2041 days after the last record",
                "(2024-05-31)", "up to 2025-05-31")
    data, _ = system
    _main_fails(capsys, ["allocate", "--data", data, "--scores", previous / "scores.parquet",
                         "--as-of", "2030-01-01", "--out", out], 2, "last record")
    assert not out.exists()


@pytest.mark.parametrize("scores", ["not parquet", "no risk column"])
def test_allocate_from_a_file_that_is_not_scores_exits_2(system, tmp_path, capsys, scores):
    data, _ = system
    if scores == "not parquet":
        path = tmp_path / "scores.parquet"
        path.write_text("risk\n0.5\n", encoding="utf-8")
        words = ("cannot be read as Parquet",)
    else:
        path = data / "pupils.parquet"
        words = ("has no 'risk' column",)
    out = tmp_path / "plan"
    _main_fails(capsys, ["allocate", "--data", data, "--scores", path, "--as-of", AS_OF,
                         "--out", out], 2, repr(str(path)), *words, "Nothing was written.")
    assert not out.exists()


def test_the_365_day_rule():
    import pandas as pd

    import riskmodel as rm
    from riskmodel._run_io import MAX_DAYS_AFTER_DATA, check_as_of, data_end

    tables = rm.datasets.make_school_system(n_pupils=200, n_years=2, random_state=0).tables
    last = data_end(tables)
    ok = last + pd.Timedelta(days=MAX_DAYS_AFTER_DATA)
    assert check_as_of(tables, ok) == ok
    with pytest.raises(rm.ConfigError, match="366 days after the last record"):
        check_as_of(tables, ok + pd.Timedelta(days=1))


def test_train_with_dates_before_the_data_or_too_few_leavers_exits_2(system, capsys):
    data, _ = system
    base = ["train", "--data", data, "--set", "tracking.enabled=false"]
    _main_fails(capsys, [*base, "--set", "as_of_dates=[2020-01-01, 2020-02-01]"], 2,
                "['2020-01-01', '2020-02-01']", "first enrolment in the data (2022-09-01)")
    _main_fails(capsys, [*base, "--horizon-days", "90"], 2, "Too few outcomes",
                "1 leaver(s) among 299 pupils", "'horizon_days'")


def test_a_short_pseudonym_key_exits_2_naming_the_variable(system, tmp_path, capsys,
                                                           monkeypatch):
    monkeypatch.setenv("RM_KEY", "short")
    _main_fails(capsys, ["pseudonymize", "--data", system[0], "--out", tmp_path / "p",
                         "--key-env", "RM_KEY"], 2, "environment variable RM_KEY",
                "at least 16 bytes")
    assert not (tmp_path / "p").exists()


def test_a_config_that_is_not_yaml_exits_2_in_one_line(system, tmp_path, capsys):
    bad = tmp_path / "score.yaml"
    bad.write_text("tiers: [\n", encoding="utf-8")
    argv = [*_score(system, tmp_path / "s"), "--config", bad]
    _main_fails(capsys, argv, 2, str(bad), "not valid YAML at line 2, column 1")
    # -v: the traceback first, then the same one line
    assert main([str(a) for a in [*argv, "-v"]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback (most recent call last):" in err
    assert err[-1].startswith("riskmodel: error: ") and "not valid YAML at line 2" in err[-1]


def test_several_data_problems_are_one_line(system, tmp_path, capsys):
    import pandas as pd

    data = tmp_path / "data"
    shutil.copytree(system[0], data)
    pupils = pd.read_parquet(data / "pupils.parquet")
    pupils["sex"] = pupils["sex"].astype("str")
    pupils.loc[:5, "sex"] = "Q"
    pupils.loc[:3, "birth_date"] = pd.NaT
    pupils.to_parquet(data / "pupils.parquet")
    line = _main_fails(capsys, ["validate", "--data", data], 2, "2 problems in table pupils",
                       "pupils.birth_date: 4 rows", "; pupils.sex: 6 rows", "'Q'")
    assert "Nothing was written" not in line  # validate writes nothing anyway
    _main_fails(capsys, _score(system, tmp_path / "s", data=data), 2, "pupils.sex",
                "Nothing was written.")

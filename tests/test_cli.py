"""Tests of the command line: parsing, configs, exit codes, atomic output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import riskmodel as rm
from riskmodel.cli import main
from riskmodel._atomic import MANIFEST, TMP_MARKER, atomic_output_dir
from riskmodel.pipeline import ScoreConfig, TrainConfig


def _valid_tables() -> rm.SchoolTables:
    pupils = pd.DataFrame({"pupil_id": ["p1", "p2"], "birth_date": ["2011-03-01", "2010-07-15"],
                           "sex": ["F", "M"]})
    enrolments = pd.DataFrame({
        "pupil_id": ["p1", "p2"], "school_id": ["s1", "s1"], "municipality_id": ["m1", "m1"],
        "school_year": [2024, 2024], "grade": [7, 8], "start_date": ["2024-09-02"] * 2,
        "end_date": [None, None], "end_reason": [None, None]})
    return rm.SchoolTables(pupils, enrolments)


def _valid_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    rm.write_tables(_valid_tables(), folder)
    return folder


def _invalid_folder(tmp_path: Path) -> Path:
    folder = _valid_folder(tmp_path)
    att = pd.DataFrame({"pupil_id": ["p1", "p2"], "date": ["2024-09-03", "2024-09-03"],
                        "status": ["present", "asleep"]})
    att.to_parquet(folder / "attendance.parquet")
    return folder


# ------------------------------------------------------------------ parsing
def test_help_imports_nothing_heavy():
    code = ("import sys; from riskmodel.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit: pass\n"
            "heavy=[m for m in ('pandas','mlflow','lightgbm','matplotlib','sklearn') "
            "if m in sys.modules]\nprint('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert "usage: riskmodel" in out.stdout
    assert "HEAVY []" in out.stdout


def test_help_and_version_exit_zero(capsys):
    assert main(["--help"]) == 0
    assert "score" in capsys.readouterr().out
    assert main(["score", "--help"]) == 0
    assert "--as-of" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert rm.__version__ in capsys.readouterr().out


def test_bad_arguments_exit_2(capsys):
    assert main([]) == 2
    assert main(["nonsense"]) == 2
    assert main(["train", "--n-pupils", "many"]) == 2
    assert "invalid int value" in capsys.readouterr().err


def test_python_dash_m_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "riskmodel", "validate", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "--data" in out.stdout


# ------------------------------------------------------------------ configs
def test_config_file_plus_overrides(tmp_path):
    from riskmodel.cli import _config, build_parser

    cfg_file = tmp_path / "train.yaml"
    cfg_file.write_text("horizon_days: 200\ntracking:\n  alias: staging\n")
    args = build_parser().parse_args([
        "train", "--config", str(cfg_file), "--n-pupils", "500",
        "--set", "tracking.experiment=exp1", "--set", "baselines=[rule]",
        "--set", "model_params.learning_rate=0.1"])
    cfg = _config(TrainConfig, args, {"synthetic.n_pupils": args.n_pupils,
                                      "horizon_days": args.horizon_days})
    assert cfg.horizon_days == 200
    assert cfg.synthetic.n_pupils == 500
    assert cfg.tracking.alias == "staging"
    assert cfg.tracking.experiment == "exp1"
    assert cfg.baselines == ["rule"]
    assert cfg.model_params == {"learning_rate": 0.1}
    assert cfg.random_state == 0


def test_shipped_configs_are_valid():
    root = Path(__file__).resolve().parents[1] / "configs"
    from riskmodel.pipeline import DemoConfig

    assert TrainConfig.from_yaml(root / "train.yaml").tracking.alias == "champion"
    assert ScoreConfig.from_yaml(root / "score.yaml").model == "models:/riskmodel@champion"
    assert DemoConfig.from_yaml(root / "demo.yaml").out == Path("out/demo")


def test_misspelt_config_key_exit_2(tmp_path, capsys):
    cfg_file = tmp_path / "score.yaml"
    cfg_file.write_text("modle: models:/riskmodel@champion\n")
    out = tmp_path / "out"
    assert main(["score", "--config", str(cfg_file), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "modle" in err and "score.yaml" in err
    assert not out.exists()


def test_bad_override_and_missing_config_exit_2(tmp_path, capsys):
    assert main(["score", "--set", "nokey", "--out", str(tmp_path / "o")]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(["score", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["score", "--set", "tiers.high_fraction=2", "--out", str(tmp_path / "o")]) == 2
    assert "tiers.high_fraction" in capsys.readouterr().err


# ---------------------------------------------------------- invalid data / model
def test_validate_reports_table_and_column_exit_2(tmp_path, capsys):
    folder = _invalid_folder(tmp_path)
    assert main(["validate", "--data", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "attendance" in err and "status" in err


def test_validate_ok_exit_0(tmp_path, capsys):
    folder = _valid_folder(tmp_path)
    assert main(["validate", "--data", str(folder)]) == 0
    assert "fingerprint" in capsys.readouterr().out


def test_score_invalid_data_exit_2_nothing_written(tmp_path, capsys):
    folder = _invalid_folder(tmp_path)
    out = tmp_path / "scores"
    rc = main(["score", "--data", str(folder), "--as-of", "2024-10-01",
               "--model", str(tmp_path / "no-model"), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "attendance" in err and "status" in err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if TMP_MARKER in p.name]


def test_missing_data_folder_exit_2(tmp_path, capsys):
    rc = main(["score", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "nowhere" in capsys.readouterr().err


def test_score_without_data_exit_2(tmp_path, capsys):
    assert main(["score", "--out", str(tmp_path / "o")]) == 2
    assert "--data" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_missing_model_folder_exit_2(tmp_path, capsys):
    folder = _valid_folder(tmp_path)
    rc = main(["score", "--data", str(folder), "--as-of", "2024-10-01",
               "--model", str(tmp_path / "no-model"), "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "no-model" in err and "does not exist" in err
    assert not (tmp_path / "o").exists()


def test_pseudonymize_needs_key(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RISKMODEL_PSEUDONYM_KEY", raising=False)
    folder = tmp_path / "data"
    rm.write_tables(_valid_tables(), folder)
    assert main(["pseudonymize", "--data", str(folder), "--out", str(tmp_path / "p")]) == 2
    assert "RISKMODEL_PSEUDONYM_KEY" in capsys.readouterr().err
    monkeypatch.setenv("RISKMODEL_PSEUDONYM_KEY", "k" * 32)
    assert main(["pseudonymize", "--data", str(folder), "--out", str(tmp_path / "p")]) == 0
    out = rm.read_tables(tmp_path / "p")
    assert out.pupils["pupil_id"].tolist() == rm.pseudonymize(
        _valid_tables(), key="k" * 32).pupils["pupil_id"].tolist()
    for f in (tmp_path / "p").iterdir():
        assert b"k" * 32 not in f.read_bytes()


# ------------------------------------------------------------- atomic output
def test_atomic_output_success_and_replace(tmp_path):
    out = tmp_path / "out"
    with atomic_output_dir(out) as tmp:
        assert TMP_MARKER in tmp.name and tmp.parent == tmp_path
        (tmp / "a.txt").write_text("1")
        (tmp / MANIFEST).write_text("{}")
        assert not out.exists()
    assert (out / "a.txt").read_text() == "1"
    with atomic_output_dir(out) as tmp:
        (tmp / "b.txt").write_text("2")
        (tmp / MANIFEST).write_text("{}")
        assert (out / "a.txt").exists()  # old output intact while the new one is written
    assert sorted(p.name for p in out.iterdir()) == ["b.txt", MANIFEST]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_output_failure_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_output_dir(out) as tmp:
            (tmp / "a.txt").write_text("partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    # a failed rerun keeps the previous output untouched
    with atomic_output_dir(out) as tmp:
        (tmp / MANIFEST).write_text("{}")
    with pytest.raises(KeyboardInterrupt):
        with atomic_output_dir(out) as tmp:
            (tmp / "x.txt").write_text("partial")
            raise KeyboardInterrupt
    assert [p.name for p in out.iterdir()] == [MANIFEST]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_output_signal_right_after_mkdir_leaves_nothing(tmp_path, monkeypatch):
    """A SIGTERM handled between creating the temp folder and the next line (CI caught it)."""
    real_mkdir = Path.mkdir

    def mkdir_then_signal(self, *args, **kwargs):
        real_mkdir(self, *args, **kwargs)
        if TMP_MARKER in self.name:
            raise KeyboardInterrupt  # what the CLI's handler raises, at the worst moment

    monkeypatch.setattr(Path, "mkdir", mkdir_then_signal)
    with pytest.raises(KeyboardInterrupt):
        with atomic_output_dir(tmp_path / "out"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_refuses_foreign_folder(tmp_path):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.docx").write_text("do not delete")
    with pytest.raises(rm.ConfigError, match="not a riskmodel output"):
        with atomic_output_dir(out):
            pass
    assert (out / "thesis.docx").exists()


_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from riskmodel.cli import main  # noqa: F401  (the CLI's SIGTERM handler is used below)
    import riskmodel.cli as cli, signal
    from riskmodel._atomic import atomic_output_dir
    signal.signal(signal.SIGTERM, cli._on_sigterm)
    try:
        with atomic_output_dir(sys.argv[1]) as tmp:
            (tmp / "scores.parquet").write_bytes(b"x" * 1000)
            print("WRITING", flush=True)
            time.sleep(60)
    except cli.Terminated:
        sys.exit(143)
""")


def _start_writer(out: Path):
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(out)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "WRITING"
    return proc


def test_sigterm_mid_write_leaves_no_output(tmp_path):
    out = tmp_path / "out"
    proc = _start_writer(out)
    assert [p for p in tmp_path.iterdir() if TMP_MARKER in p.name]
    proc.send_signal(signal.SIGTERM)
    with proc:
        assert proc.wait(timeout=30) == 143
    assert list(tmp_path.iterdir()) == []


def test_sigkill_leaves_only_a_marked_temp_folder_cleaned_next_run(tmp_path):
    out = tmp_path / "out"
    proc = _start_writer(out)
    proc.kill()
    with proc:
        proc.wait(timeout=30)
    left = list(tmp_path.iterdir())
    assert not out.exists()
    assert len(left) == 1 and left[0].name.startswith(f".out{TMP_MARKER}{proc.pid}-")
    with atomic_output_dir(out) as tmp:
        (tmp / MANIFEST).write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_temp_folder_of_a_live_run_is_not_removed(tmp_path):
    live = tmp_path / f".out{TMP_MARKER}{os.getpid()}-abcd1234"
    live.mkdir()
    with atomic_output_dir(tmp_path / "out") as tmp:
        (tmp / MANIFEST).write_text("{}")
    assert live.exists()


def test_generate_refuses_a_non_empty_folder(tmp_path, capsys):
    out = tmp_path / "data"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["generate", "--out", str(out), "--n-pupils", "100", "--n-years", "2"]) == 2
    assert "--n-pupils" in capsys.readouterr().err
    assert main(["generate", "--out", str(out), "--n-pupils", "200", "--n-years", "2"]) == 2
    # the one message of every writer: a folder that is not a riskmodel output is never replaced
    assert "is not a riskmodel output (no pupils.parquet)" in capsys.readouterr().err
    assert main(["generate", "--out", str(out), "--n-pupils", "200", "--n-years", "2",
                 "--overwrite"]) == 2
    assert "is not a riskmodel output" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


# ------------------------------------------------------------- one vocabulary
def test_random_state_option_and_its_old_name(tmp_path, capsys):
    assert main(["generate", "--out", str(tmp_path / "a"), "--n-pupils", "300", "--n-years", "2",
                 "--random-state", "3"]) == 0
    assert "random_state 3" in capsys.readouterr().out
    with pytest.warns(FutureWarning, match="'--seed' parameter of riskmodel generate was renamed"):
        assert main(["generate", "--out", str(tmp_path / "b"), "--n-pupils", "300",
                     "--n-years", "2", "--seed", "3"]) == 0
    a, b = rm.read_tables(tmp_path / "a"), rm.read_tables(tmp_path / "b")
    assert a.fingerprint() == b.fingerprint()


def test_old_seed_config_key_is_random_state_with_a_warning(tmp_path):
    from riskmodel.cli import _config, build_parser

    cfg_file = tmp_path / "train.yaml"
    cfg_file.write_text("synthetic:\n  seed: 4\n")
    args = build_parser().parse_args(["train", "--config", str(cfg_file)])
    with pytest.warns(FutureWarning, match="'seed' parameter of SyntheticConfig was renamed"):
        cfg = _config(TrainConfig, args, {})
    assert cfg.synthetic.random_state == 4
    with pytest.warns(FutureWarning, match="'seed' parameter of ResourcesConfig"):
        assert ScoreConfig(resources={"seed": 5}).resources.random_state == 5
    with pytest.raises(rm.ConfigError, match="'random_state' only"):
        _config(TrainConfig, build_parser().parse_args(
            ["train", "--set", "synthetic.seed=1", "--set", "synthetic.random_state=1"]), {})


def test_old_reasons_k_config_key_is_n_reasons_with_a_warning():
    with pytest.warns(FutureWarning, match="'reasons_k' parameter of ScoreConfig was renamed "
                                           "'n_reasons'"):
        assert ScoreConfig(reasons_k=2).n_reasons == 2
    shipped = Path(__file__).resolve().parents[1] / "configs" / "score.yaml"
    assert ScoreConfig.from_yaml(shipped).n_reasons == 3  # the new key, no warning
    with pytest.raises(rm.ConfigError, match="'n_reasons' only"):
        rm.config.load_config(ScoreConfig, {"reasons_k": 2, "n_reasons": 2})


def test_as_of_with_a_time_of_day_is_rejected_with_the_one_message(tmp_path, capsys):
    folder = _valid_folder(tmp_path)
    rc = main(["score", "--data", str(folder), "--as-of", "2024-10-01 13:00",
               "--model", str(tmp_path / "m"), "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err
    assert ("The 'as_of' parameter of ScoreConfig must be a date without a time of day "
            "(records are dated by day). Got 2024-10-01 13:00:00 instead.") in err
    assert not (tmp_path / "o").exists()
    with pytest.raises(rm.ConfigError, match="'as_of_dates' parameter of TrainConfig must be a "
                                             "date without a time of day"):
        rm.config.load_config(TrainConfig, {"as_of_dates": ["2024-10-01T08:00"]})
    assert str(ScoreConfig(as_of="2024-10-01").as_of) == "2024-10-01"


def test_every_run_refuses_a_foreign_output_folder_before_any_work(tmp_path, capsys):
    from riskmodel.pipeline import AllocateConfig, allocate_run, evaluate_run, score_run

    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.docx").write_text("do not delete")
    messages = set()
    for run, cfg in [(score_run, {"out": str(out)}),
                     (allocate_run, {"scores": str(tmp_path / "none.parquet"), "out": str(out)}),
                     (evaluate_run, {"out": str(out), "data": str(tmp_path / "nowhere")})]:
        with pytest.raises(rm.ConfigError, match="not a riskmodel output") as exc:
            run(cfg)
        messages.add(str(exc.value))
    assert len(messages) == 1
    assert [p.name for p in out.iterdir()] == ["thesis.docx"]
    assert AllocateConfig(scores="s.parquet").out.name == "allocate"

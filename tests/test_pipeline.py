"""End to end on a small synthetic system: generate -> train (register) -> score from the
registry -> check outputs; the registered pyfunc in a fresh process; a killed scoring run.

One module-scoped run (about 3,000 pupils x 3 years) is shared by the tests below; MLflow
writes to a temporary sqlite database and artifact folder (MLFLOW_TRACKING_URI and the
working directory point there), never to the repository.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import riskmodel as rm
from riskmodel.cli import main
from riskmodel._atomic import MANIFEST, TMP_MARKER, atomic_output_dir
from riskmodel.pipeline import SCORE_FILES

pytestmark = [
    # sqlalchemy 2.1 deprecates a loader strategy that MLflow's sqlite store still
    # configures when it is imported; nothing riskmodel can change.
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning"),
    # MLflow's input-example handling compares DataFrame columns with a range(), which
    # pandas 3 deprecates (mlflow/models/utils.py); raised inside MLflow.
    pytest.mark.filterwarnings("ignore:Operation with range is deprecated:DeprecationWarning"),
    # `import mlflow.pyfunc` infers a schema for its own agent types at import time
    # (mlflow/types/responses.py) and warns about an Any hint there (message starts with an
    # ANSI colour code); not about riskmodel's model.
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]

N_PUPILS, N_YEARS = 3000, 3
FAST = ["--set", "n_boot=20", "--set", "audit.n_boot=20",
        "--set", "model_params.validation=0.2"]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Generate, train and register, then score twice from models:/riskmodel@champion."""
    root = tmp_path_factory.mktemp("e2e")
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
           "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        mp.chdir(root)  # MLflow's sqlite store puts artifacts in ./mlruns
        data = root / "data"
        assert main(["generate", "--out", str(data), "--n-pupils", str(N_PUPILS),
                     "--n-years", str(N_YEARS), "--random-state", "1"]) == 0
        assert main(["train", "--data", str(data), "--save-model", str(root / "model"),
                     *FAST]) == 0
        tables = rm.read_tables(data)
        as_of = "2025-03-01"
        outs = []
        for name in ("out1", "out2"):
            assert main(["score", "--data", str(data), "--as-of", as_of,
                         "--model", "models:/riskmodel@champion",
                         "--out", str(root / name), "--set", "rules=null"]) == 0
            outs.append(root / name)
        yield {"root": root, "data": data, "tables": tables, "as_of": as_of, "outs": outs,
               "env": {**os.environ, **env}}


def test_score_outputs(run):
    out = run["outs"][0]
    assert sorted(p.name for p in out.iterdir()) == sorted([*SCORE_FILES, MANIFEST])
    assert not [p for p in run["root"].iterdir() if TMP_MARKER in p.name]

    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["model"]["uri"] == "models:/riskmodel@champion"
    assert manifest["model"]["version"] == "1" and manifest["model"]["name"] == "riskmodel"
    assert manifest["data_fingerprint"] == run["tables"].fingerprint()
    assert manifest["as_of"] == run["as_of"]
    for name, digest in manifest["files_sha256"].items():
        assert _sha(out / name) == digest

    X = pd.read_parquet(out / "features.parquet")
    scores = pd.read_parquet(out / "scores.parquet")
    expected_X = rm.build_features(run["tables"], run["as_of"])
    assert X.index.name == "pupil_id" and X.index.is_monotonic_increasing
    pd.testing.assert_frame_equal(X, expected_X.sort_index(), check_dtype=False)
    assert scores.index.equals(X.index)
    assert manifest["n_pupils"] == len(X) > 1000
    cols = ["school_id", "municipality_id", "risk", "rank_national", "rank_school", "tier",
            *[f"reason_{i}_{lang}" for lang in ("lv", "en") for i in (1, 2, 3)]]
    assert list(scores.columns[:len(cols)]) == cols
    shares = scores.filter(like="share_")
    assert set(shares.columns) == {f"share_{d}" for d in rm.vocab.DOMAINS}

    # risks are the library's, ranks are a permutation ordered by risk
    model = rm.RiskModel.load(run["root"] / "model")
    # with the monitor's update (update_intercept / recalibrate) when it made one
    from riskmodel._run_monitor import MonitorRun

    update = manifest["monitor"]["update"]
    expected = MonitorRun("checked", update=update).apply(pd.Series(model.predict_proba(X)[:, 1]))
    np.testing.assert_allclose(scores["risk"], expected, rtol=0, atol=1e-12)
    assert sorted(scores["rank_national"]) == list(range(1, len(scores) + 1))
    by_rank = scores.sort_values("rank_national")["risk"].to_numpy()
    assert (np.diff(by_rank) <= 0).all()
    first_in_school = scores[scores["rank_school"] == 1]
    assert first_in_school["school_id"].is_unique
    top = first_in_school.set_index("school_id")["risk"].sort_index()
    pd.testing.assert_series_equal(top, scores.groupby("school_id")["risk"].max().sort_index(),
                                   check_names=False)
    assert (scores.loc[scores["tier"] == "high", "risk"].min()
            >= scores.loc[scores["tier"] == "low", "risk"].max())
    n_high = int((scores["tier"] == "high").sum())
    assert n_high == int(np.ceil(0.05 * len(scores)))
    assert scores["reason_1_lv"].notna().mean() > 0.9
    assert scores["reason_1_en"].notna().mean() > 0.9
    s = shares.sum(axis=1)
    assert np.allclose(s[s > 0], 1.0)

    # explanations: contributions + base value give the model's log-odds
    ex = pd.read_parquet(out / "explanations.parquet")
    raw = ex.drop(columns="base_value").sum(axis=1) + ex["base_value"]
    np.testing.assert_allclose(raw, model.decision_function(X), atol=1e-6)

    # allocation: assigned pupils exist, never twice the same kind; the waitlist is the rest
    alloc = pd.read_parquet(out / "allocation.parquet")
    wait = pd.read_parquet(out / "waitlist.parquet")
    assert len(alloc) > 0 and set(alloc["pupil_id"]) <= set(scores.index)
    assert not alloc.duplicated(["pupil_id", "kind"]).any()
    both = alloc.merge(wait, on=["pupil_id", "kind"])
    assert both.empty
    # new mentors need the risk group; a continuing one (the data's ongoing support keeps
    # its mentor from the data's roster) leaves it only below exit_risk (min_risk / 2)
    rules = rm.ProgrammeRules()
    mentors = alloc[alloc["kind"] == "mentor"]
    new = mentors["change"] == "new"
    assert (mentors.loc[new, "risk"] >= rules.min_risk).all()
    assert (mentors.loc[~new, "risk"] >= rules.min_risk / 2).all()
    assert (mentors["change"] == "continuing").any()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["resources"]["source"] == "data"

    html = (out / "report.html").read_text()
    for heading in ("Risk distribution", "Reasons by domain", "Allocation and shortfall"):
        assert heading in html
    assert html.count("data:image/png;base64,") >= 3


def test_rerun_gives_identical_files(run):
    a, b = run["outs"]
    for name in [*SCORE_FILES, MANIFEST]:
        assert _sha(a / name) == _sha(b / name), name


def test_mlflow_run_holds_aggregates_only(run):
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(run["env"]["MLFLOW_TRACKING_URI"])
    client = MlflowClient(tracking_uri=run["env"]["MLFLOW_TRACKING_URI"])
    mv = client.get_model_version_by_alias("riskmodel", "champion")
    r = client.get_run(mv.run_id)
    assert r.data.tags["data_fingerprint"] == run["tables"].fingerprint()
    assert any(k.startswith("backtest/riskmodel/precision_at_k") for k in r.data.metrics)
    assert "backtest/rule/roc_auc" in r.data.metrics
    local = Path(mlflow.artifacts.download_artifacts(run_id=mv.run_id,
                                                     dst_path=str(run["root"] / "art")))
    names = {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()}
    assert {"config.json", "backtest.csv", "audit.csv", "feature_registry.csv",
            "model_card.html", "model_card.md", "data/summary.csv"} <= names
    assert any(n.startswith("figures/") and n.endswith(".png") for n in names)
    audit = pd.read_csv(local / "audit.csv")
    shown = audit["n"].dropna()
    assert (shown >= 10).all()
    # no pupil id anywhere in the run's artifacts or the logged model's
    ids = run["tables"].pupils["pupil_id"].tolist()
    model_dir = Path(mlflow.artifacts.download_artifacts(
        f"models:/riskmodel/{mv.version}", dst_path=str(run["root"] / "mdl")))
    texts = [p.read_text(errors="ignore") for d in (local, model_dir) for p in d.rglob("*")
             if p.is_file() and p.suffix in (".csv", ".json", ".md", ".html", ".txt", "")]
    blob = "\n".join(texts)
    assert not any(pid in blob for pid in ids[:200])
    example = json.loads((model_dir / "input_example.json").read_text())
    assert len(example["data"]) == 1


_PYFUNC = textwrap.dedent("""
    import sys, mlflow, pandas as pd, numpy as np
    from riskmodel.pyfunc import as_signature_frame
    from riskmodel.model import RiskModel
    scorer = mlflow.pyfunc.load_model("models:/riskmodel@champion")
    X = pd.read_parquet(sys.argv[1])
    model = RiskModel.load(sys.argv[2])
    out = scorer.predict(as_signature_frame(model, X))
    out.index = X.index
    out.to_parquet(sys.argv[3])
""")


def test_registered_pyfunc_in_fresh_process_matches_library(run):
    out = run["outs"][0]
    result = run["root"] / "pyfunc.parquet"
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _PYFUNC, str(out / "features.parquet"),
         str(run["root"] / "model"), str(result)],
        cwd=run["root"], env=run["env"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = pd.read_parquet(result)
    scores = pd.read_parquet(out / "scores.parquet")
    # the score run applies the monitor's update (if any) on top of the model's risk
    from riskmodel._run_monitor import MonitorRun

    update = json.loads((out / "manifest.json").read_text())["monitor"]["update"]
    risk = MonitorRun("checked", update=update).apply(got["risk"]).to_numpy()
    assert np.max(np.abs(risk - scores["risk"].to_numpy())) <= 1e-9
    for col in ("reason_1_lv", "reason_2_lv", "reason_3_en"):
        assert got[col].fillna("").tolist() == scores[col].fillna("").tolist()


def test_missing_alias_exit_2(run, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", run["env"]["MLFLOW_TRACKING_URI"])
    monkeypatch.chdir(run["root"])
    rc = main(["score", "--data", str(run["data"]), "--model", "models:/riskmodel@nope",
               "--out", str(run["root"] / "never")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "alias 'nope'" in err and "riskmodel train" in err
    assert not (run["root"] / "never").exists()


def _score_and_signal(run, sig) -> tuple[subprocess.Popen, Path]:
    """Start `riskmodel score` (local model folder) and send ``sig`` once it writes."""
    out = run["root"] / f"killed_{sig}"
    cmd = [sys.executable, "-m", "riskmodel", "score", "--data", str(run["data"]),
           "--as-of", run["as_of"], "--model", str(run["root"] / "model"), "--out", str(out),
           "--set", "rules=null"]
    proc = subprocess.Popen(cmd, cwd=run["root"], env=run["env"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    prefix = f".{out.name}{TMP_MARKER}"
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.name.startswith(prefix) for p in run["root"].iterdir()):
            proc.send_signal(sig)
            break
        time.sleep(0.005)
    _, proc.stderr_text = proc.communicate(timeout=120)
    return proc, out


def test_sigterm_during_scoring_leaves_no_output(run):
    proc, out = _score_and_signal(run, signal.SIGTERM)
    assert proc.returncode == 143, proc.stderr_text[-2000:]
    assert not out.exists()
    assert not [p for p in run["root"].iterdir() if p.name.startswith(f".{out.name}")]


def test_sigkill_during_scoring_leaves_only_a_marked_temp_folder(run):
    proc, out = _score_and_signal(run, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    left = [p for p in run["root"].iterdir() if p.name.startswith(f".{out.name}")]
    assert len(left) == 1 and left[0].name.startswith(f".{out.name}{TMP_MARKER}{proc.pid}-")
    with atomic_output_dir(out) as tmp:  # the next run removes it
        (tmp / MANIFEST).write_text("{}")
    assert not [p for p in run["root"].iterdir() if TMP_MARKER in p.name]


def test_allocate_from_scores_reproduces_the_scoring_plan(run, capsys):
    out = run["outs"][0]
    plan = run["root"] / "plan"
    assert main(["allocate", "--data", str(run["data"]), "--scores", str(out / "scores.parquet"),
                 "--out", str(plan), "--set", "rules=null"]) == 0
    assert str(plan) in capsys.readouterr().out
    a = pd.read_parquet(out / "allocation.parquet")
    b = pd.read_parquet(plan / "allocation.parquet")
    key = ["pupil_id", "kind", "resource_id"]
    pd.testing.assert_frame_equal(a.sort_values(key).reset_index(drop=True)[key],
                                  b.sort_values(key).reset_index(drop=True)[key])
    manifest = json.loads((plan / MANIFEST).read_text())
    assert manifest["as_of"] == run["as_of"]
    assert manifest["scores_sha256"] == _sha(out / "scores.parquet")


def test_evaluate_writes_backtest_and_audit(run, capsys):
    out = run["root"] / "eval"
    assert main(["evaluate", "--data", str(run["data"]), "--out", str(out), "--no-tracking",
                 "--set", "baselines=[rule]", *FAST]) == 0
    assert "precision_at_k" in capsys.readouterr().out
    bt = pd.read_csv(out / "backtest.csv")
    assert set(bt["model"]) == {"riskmodel", "rule"}
    assert bt["roc_auc"].between(0.5, 1).all()
    audit = pd.read_csv(out / "audit.csv")
    assert {"sex", "municipality_id"} <= set(audit["attribute"])
    assert (audit["n"].dropna() >= 10).all()


# -------------------------------------------------------- one capacity everywhere
_SMALL = {"n_boot": 10, "audit": {"n_boot": 10}, "baselines": ["rule"],
          "model_params": {"validation": 0.2}}


@pytest.fixture(scope="module")
def world_1009():
    """A synthetic system whose last training cohort (2023-10-01) has exactly 1,009 pupils."""
    from riskmodel.pipeline import SyntheticConfig, load_tables

    tables, _ = load_tables(synthetic=SyntheticConfig(n_pupils=1030, n_years=3, random_state=0))
    return tables


def test_backtest_audit_model_card_and_score_report_name_the_same_k(world_1009, tmp_path,
                                                                   monkeypatch):
    """n = 1,009 at 5 %: ceil gives 51 (floor and rounding to nearest would give 50)."""
    from riskmodel import tracking
    from riskmodel.pipeline import score_run, train_run
    from riskmodel.report import build_model_card

    received = {}

    def log_training_run(cfg, **kw):  # what tracking gets to write the model card with
        received.update(kw)
        return tracking.LoggedRun(run_id="r", experiment_id="0", tracking_uri="memory")

    monkeypatch.setattr(tracking, "log_training_run", log_training_run)
    res = train_run({**_SMALL, "top_fraction": 0.05}, tables=world_1009)
    bt = res.backtest
    last = bt[bt["test_date"] == bt["test_date"].max()]
    assert last["n"].unique().tolist() == [1009]
    assert last["k"].unique().tolist() == [51] and res.k == 51
    wide = rm.fairness.by_group(res.audit)
    overall = wide[wide["attribute"] == "overall"].iloc[0]
    assert overall["n"] == 1009 and overall["selection_rate"] * 1009 == pytest.approx(51)
    assert received["k"] == 51
    markdown, _ = build_model_card(model=received["model"], backtest=received["backtest"],
                                   audit=received["audit"], tables=world_1009,
                                   train_dates=received["train_dates"], k=received["k"])
    assert "The top 51 pupils by score" in markdown

    out = tmp_path / "scores"
    score = score_run({"as_of": "2023-10-01", "out": str(out), "allocate": False,
                       "tiers": {"high_fraction": 0.05}}, tables=world_1009, model=res.model)
    scores = pd.read_parquet(out / "scores.parquet")
    assert len(scores) == 1009 and int((scores["tier"] == "high").sum()) == 51
    assert score.manifest["high_tier"] == {"top_fraction": 0.05, "k": 51}
    html = (out / "report.html").read_text()
    assert re.search(r"<td[^>]*>high</td><td[^>]*>51</td>", html)  # the tier table's row


def test_top_fraction_one_is_everyone(world_1009):
    from riskmodel.pipeline import train_run

    res = train_run({**_SMALL, "top_fraction": 1.0, "tracking": {"enabled": False}},
                    tables=world_1009)
    last = res.backtest[res.backtest["test_date"] == res.backtest["test_date"].max()]
    assert res.k == 1009 and (last["k"] == 1009).all() and (last["recall_at_k"] == 1.0).all()
    wide = rm.fairness.by_group(res.audit)
    assert wide.loc[wide["attribute"] == "overall", "selection_rate"].tolist() == [1.0]


def test_dates_are_datetime64_and_labels_are_the_backtests(world_1009):
    from riskmodel.pipeline import train_run

    res = train_run({**_SMALL, "tracking": {"enabled": False}}, tables=world_1009)
    assert res.backtest["test_date"].dtype == "datetime64[ns]"
    assert res.audit["test_date"].dtype == "datetime64[ns]"
    assert all(d == d.normalize() for d in res.train_dates)
    assert set(res.backtest["model"]) == {"riskmodel", "rule"}
    plain = rm.backtest(world_1009, res.train_dates, models={"rule": rm.RuleBaseline()}, n_boot=10)
    assert set(plain["model"]) <= set(res.backtest["model"])
    assert "precision_at_k_minus_rule" in res.backtest.columns

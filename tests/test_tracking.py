"""Tests of riskmodel.tracking on a temporary sqlite store: the tracking URI, training and
evaluation runs (aggregates only, small groups blanked), registry aliases, and resolving a
model from the registry, a run's model folder or a saved folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import riskmodel as rm
from riskmodel import tracking
from riskmodel._suppression import MIN_CELL, blank_small
from riskmodel.errors import ConfigError
from riskmodel.pipeline import EvaluateConfig, TrainConfig

pytestmark = [
    # sqlalchemy 2.1 deprecates a loader strategy that MLflow's sqlite store still configures
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning"),
    # MLflow's input-example handling compares columns with a range() (pandas 3 deprecation)
    pytest.mark.filterwarnings("ignore:Operation with range is deprecated:DeprecationWarning"),
    # `import mlflow.pyfunc` infers a schema for its own agent types at import time
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]


def _backtest():
    return pd.DataFrame({
        "model": ["riskmodel", "riskmodel", "rule", "rule"],
        "test_date": pd.to_datetime(["2023-10-01", "2024-10-01"] * 2),
        "n": [300, 310, 300, 310], "k": [15, 16, 15, 16],
        "precision_at_k": [0.4, 0.6, 0.2, 0.3],
        "precision_at_k_low": [0.1, 0.2, 0.0, 0.1], "precision_at_k_high": [0.7, 0.9, 0.5, 0.6],
        "roc_auc": [0.8, 0.9, 0.6, 0.7],
    })


def _audit():
    rng = np.random.default_rng(0)
    n = 400
    groups = pd.DataFrame({"sex": rng.choice(["F", "M"], n),
                           "home_language": rng.choice(["lv", "ru", "other"], n,
                                                       p=[0.6, 0.385, 0.015])})
    y = rng.random(n) < 0.2
    return rm.fairness.audit(y, 0.3 * y + rng.random(n), groups, top_k=40, n_boot=0)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A tiny system, a model and one registered training run in a temporary sqlite store."""
    import mlflow

    root = tmp_path_factory.mktemp("tracking")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    world = rm.datasets.make_school_system(n_pupils=300, n_years=3, random_state=0)
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"attendance_rate_28d": rng.random(500)},
                     index=pd.Index([f"X{i}" for i in range(500)], name="pupil_id"))
    y = pd.Series((rng.random(500) < 0.3).astype(int), index=X.index)
    model = rm.RiskModel(random_state=0).fit(X, y)
    cfg = TrainConfig(tracking={"tracking_uri": uri, "experiment": "t"})
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # the sqlite store puts artifacts in ./mlruns
        logged = tracking.log_training_run(
            cfg, model=model, X=X, y=y, backtest=_backtest(), audit=_audit(),
            tables=world.tables, train_dates=[pd.Timestamp("2023-10-01")], k=15,
            fingerprint="fp-test", synthetic=True)
        yield {"root": root, "uri": uri, "model": model, "X": X, "y": y, "cfg": cfg,
               "world": world, "logged": logged}
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


def test_tracking_uri_precedence(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.tracking_uri() == tracking.DEFAULT_TRACKING_URI == "sqlite:///mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///env.db")
    assert tracking.tracking_uri() == "sqlite:///env.db"
    assert tracking.tracking_uri("sqlite:///cfg.db") == "sqlite:///cfg.db"


def test_configure_points_tracking_and_registry(tmp_path):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'x.db'}"
    try:
        assert tracking.configure(uri) == uri
        assert mlflow.get_tracking_uri() == uri and mlflow.get_registry_uri() == uri
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)


def test_training_run_logs_aggregates_card_and_registered_model(store):
    import mlflow
    from mlflow import MlflowClient

    logged = store["logged"]
    assert isinstance(logged, tracking.LoggedRun)
    assert logged.tracking_uri == store["uri"] and logged.model_version == "1"
    assert logged.registered_model_uri == "models:/riskmodel/1"
    client = MlflowClient(tracking_uri=store["uri"])
    run = client.get_run(logged.run_id)
    assert run.data.tags["riskmodel.kind"] == "train"
    assert run.data.tags["data_fingerprint"] == "fp-test"
    assert run.data.params["k"] == "15" and run.data.params["n_train_rows"] == "500"
    assert run.data.metrics["backtest/riskmodel/precision_at_k"] == pytest.approx(0.5)
    assert run.data.metrics["backtest/rule/roc_auc"] == pytest.approx(0.65)
    assert not any(k.endswith(("_low", "_high")) for k in run.data.metrics)
    assert run.data.metrics["train_base_rate"] == pytest.approx(store["y"].mean())
    assert str(client.get_model_version_by_alias("riskmodel", "champion").version) == "1"
    local = Path(mlflow.artifacts.download_artifacts(run_id=logged.run_id,
                                                     dst_path=str(store["root"] / "art")))
    names = {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()}
    assert {"config.json", "backtest.csv", "audit.csv", "feature_registry.csv",
            "model_card.md", "model_card.html", "data/summary.csv"} <= names
    assert json.loads((local / "config.json").read_text())["tracking"]["experiment"] == "t"
    audit = pd.read_csv(local / "audit.csv")
    assert (audit["n"].dropna() >= MIN_CELL).all()
    small = audit[(audit["attribute"] == "home_language") & (audit["group"] == "other")]
    # the tidy audit table: one row per (group, metric); a small group shows no number at all
    assert len(small) > 0 and small["n"].isna().all() and small["value"].isna().all()
    assert set(small["metric"]) >= {"recall", "false_positive_rate"}
    card = (local / "model_card.md").read_text()
    assert card.startswith("# Model card: riskmodel 1\n") and "**Trained on synthetic data.**" in card
    assert "fp-test" in card and "The top 40 pupils by score" not in card  # k named by the run
    assert "The top 15 pupils by score" in card
    # no pupil-level values: the birth dates of the summary are blanked
    summary = pd.read_csv(local / "data/summary.csv")
    assert summary.loc[summary["table"] == "pupils", ["first_date", "last_date"]].isna().to_numpy().all()


def test_set_alias_and_resolve_model(store, monkeypatch):
    monkeypatch.chdir(store["root"])
    cfg = store["cfg"].model_copy(update={"tracking": store["cfg"].tracking.model_copy(
        update={"set_alias": False})})
    second = tracking.log_training_run(
        cfg, model=store["model"], X=store["X"], y=store["y"], backtest=None, audit=None,
        tables=store["world"].tables, train_dates=[pd.Timestamp("2023-10-01")], k=15,
        fingerprint="fp-2")
    assert second.model_version == "2"
    assert tracking.resolve_model("models:/riskmodel@champion",
                                  tracking_uri=store["uri"]).info["version"] == "1"
    tracking.set_alias("riskmodel", "champion", 2)
    resolved = tracking.resolve_model("models:/riskmodel@champion", tracking_uri=store["uri"])
    assert isinstance(resolved, tracking.ResolvedModel)
    assert resolved.info == {"uri": "models:/riskmodel@champion", "tracking_uri": store["uri"],
                             "name": "riskmodel", "version": "2", "run_id": second.run_id,
                             "source": "mlflow"}
    X = store["X"].head(50)
    np.testing.assert_array_equal(resolved.model.predict_proba(X),
                                  store["model"].predict_proba(X))
    by_version = tracking.resolve_model("models:/riskmodel/1", tracking_uri=store["uri"])
    assert by_version.info["run_id"] == store["logged"].run_id


def test_resolve_model_folders_and_errors(store, tmp_path, monkeypatch):
    import mlflow

    monkeypatch.chdir(store["root"])
    saved = store["model"].save(tmp_path / "saved")
    r = tracking.resolve_model(str(saved))
    assert r.info["source"] == "riskmodel folder" and r.info["uri"] == str(saved.resolve())
    mlflow.set_tracking_uri(store["uri"])
    folder = mlflow.artifacts.download_artifacts("models:/riskmodel/1",
                                                 dst_path=str(tmp_path / "mlflow-model"))
    assert tracking.resolve_model(folder).info["source"] == "mlflow model folder"
    X = store["X"].head(5)
    np.testing.assert_array_equal(tracking.resolve_model(folder).model.predict_proba(X),
                                  store["model"].predict_proba(X))
    with pytest.raises(ConfigError, match="alias 'nope'.*riskmodel train"):
        tracking.resolve_model("models:/riskmodel@nope", tracking_uri=store["uri"])
    with pytest.raises(ConfigError, match="version 99"):
        tracking.resolve_model("models:/riskmodel/99", tracking_uri=store["uri"])
    with pytest.raises(ConfigError, match="does not exist"):
        tracking.resolve_model(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="holds neither a saved RiskModel"):
        tracking.resolve_model(str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="registry URI or a folder"):
        tracking.resolve_model("")


def test_evaluation_run_has_no_model(store, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.chdir(store["root"])
    cfg = EvaluateConfig(tracking={"tracking_uri": store["uri"], "experiment": "t-eval"})
    logged = tracking.log_evaluation_run(cfg, backtest=_backtest(), audit=None,
                                         tables=store["world"].tables,
                                         train_dates=[pd.Timestamp("2023-10-01")], k=15,
                                         fingerprint="fp-eval")
    assert logged.model_uri is None and logged.model_version is None
    client = MlflowClient(tracking_uri=store["uri"])
    run = client.get_run(logged.run_id)
    assert run.data.tags["riskmodel.kind"] == "evaluate"
    assert run.data.metrics["backtest/rule/precision_at_k"] == pytest.approx(0.25)
    assert not client.search_logged_models(experiment_ids=[logged.experiment_id])


def test_old_suppression_names_are_the_shared_ones():
    t = pd.DataFrame({"group": ["a", "b"], "n": [MIN_CELL - 1, MIN_CELL], "rate": [0.5, 0.2]})
    assert tracking.MIN_CELL == MIN_CELL
    pd.testing.assert_frame_equal(tracking.suppress_small_groups(t), blank_small(t))
    assert tracking.suppress_small_groups(t)["rate"].isna().tolist() == [True, False]

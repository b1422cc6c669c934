"""Tests of riskmodel.pyfunc: the row-local scorer, its signature, example and requirements,
and the pyfunc model from code logged to (and loaded from) a temporary MLflow store."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import riskmodel as rm
from riskmodel import pyfunc
from riskmodel._util import RESULT_PACKAGES

pytestmark = [
    # sqlalchemy 2.1 deprecates a loader strategy that MLflow's sqlite store still configures
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning"),
    # MLflow's input-example handling compares columns with a range() (pandas 3 deprecation)
    pytest.mark.filterwarnings("ignore:Operation with range is deprecated:DeprecationWarning"),
    # `import mlflow.pyfunc` infers a schema for its own agent types at import time
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    n = 600
    X = pd.DataFrame({
        "attendance_rate_28d": rng.random(n),
        "unexcused_lessons_90d": rng.integers(0, 20, n),
        "school_type": pd.Categorical(rng.choice(["city", "rural", "town"], n)),
    }, index=pd.Index([f"P{i:04d}" for i in range(n)], name="pupil_id"))
    logit = -1.5 - 2 * X["attendance_rate_28d"] + 0.1 * X["unexcused_lessons_90d"]
    y = pd.Series((rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int), index=X.index)
    return rm.RiskModel(random_state=0).fit(X, y), X


def test_output_columns():
    assert pyfunc.output_columns(2) == ["risk", "reason_1_lv", "reason_2_lv", "reason_1_en",
                                        "reason_2_en"]
    assert pyfunc.output_columns()[-1] == "reason_3_en"


def test_predict_rows_is_row_local_and_matches_the_library(fitted):
    model, X = fitted
    out = pyfunc.predict_rows(model, X, n_reasons=2)
    assert out.columns.tolist() == pyfunc.output_columns(2)
    assert isinstance(out.index, pd.RangeIndex) and len(out) == len(X)
    np.testing.assert_allclose(out["risk"], model.predict_proba(X)[:, 1], rtol=0, atol=1e-12)
    reasons = model.explain(X).reasons(k=2, lang="en")
    first = reasons[reasons["rank"] == 1].set_index("pupil_id")["text"].reindex(X.index)
    assert out["reason_1_en"].tolist() == first.where(first.notna(), None).tolist()
    # row-local: any subset, in any order, with extra columns, gives the same rows
    idx = [17, 3, 250]
    part = pyfunc.predict_rows(model, X.iloc[idx].assign(extra="ignored"), n_reasons=2)
    pd.testing.assert_frame_equal(part, out.iloc[idx].reset_index(drop=True))


def test_predict_rows_errors(fitted):
    model, X = fitted
    with pytest.raises(TypeError, match="'frame' parameter of predict_rows must be a pandas"):
        pyfunc.predict_rows(model, X.to_numpy())
    with pytest.raises(ValueError, match="lacks 1 feature column"):
        pyfunc.predict_rows(model, X.drop(columns="school_type"))


def test_schema_signature_and_signature_frame(fitted):
    model, X = fitted
    types = {c.name: c.type.name for c in pyfunc.input_schema(model).inputs}
    assert types == {"attendance_rate_28d": "double", "unexcused_lessons_90d": "double",
                     "school_type": "string"}
    sig = pyfunc.signature(model, n_reasons=1)
    assert sig.outputs.input_names() == pyfunc.output_columns(1)
    frame = pyfunc.as_signature_frame(model, X.head(5))
    assert frame.index.equals(X.index[:5])
    assert frame["unexcused_lessons_90d"].dtype == "float64"
    assert frame["school_type"].tolist() == X["school_type"].head(5).astype(str).tolist()
    # what a caller sends gives back the library's risks
    np.testing.assert_allclose(pyfunc.predict_rows(model, frame)["risk"],
                               model.predict_proba(X.head(5))[:, 1], atol=1e-12)


def test_input_example_is_synthetic(fitted):
    model, X = fitted
    reg = pd.DataFrame({"unit": ["share of school days", "lessons"]},
                       index=["attendance_rate_28d", "unexcused_lessons_90d"])
    ex = pyfunc.input_example(model, reg)
    assert ex.to_dict("records") == [{"attendance_rate_28d": 0.9, "unexcused_lessons_90d": 2.0,
                                      "school_type": "city"}]
    # not in the registry: 0
    assert pyfunc.input_example(model, pd.DataFrame())["attendance_rate_28d"].item() == 0.0


def test_pip_requirements_pin_the_installed_versions():
    reqs = pyfunc.pip_requirements()
    pinned = dict(r.split("==") for r in reqs)
    for dist in ("riskmodel", "mlflow", "pydantic", "pyyaml", *RESULT_PACKAGES):
        assert pinned[dist] == importlib.metadata.version(dist), dist
    assert len(reqs) == len(set(reqs)) == 4 + len(RESULT_PACKAGES)


def test_log_model_from_code_round_trip(fitted, tmp_path, monkeypatch):
    import mlflow

    model, X = fitted
    monkeypatch.chdir(tmp_path)
    from riskmodel.tracking import configure

    configure(f"sqlite:///{tmp_path / 'mlflow.db'}")  # runs and registry
    mlflow.set_experiment("pyfunc-test")  # not the active experiment of an earlier store
    try:
        with mlflow.start_run():
            info = pyfunc.log_model(model, registered_model_name="rm-test", n_reasons=2)
        assert str(info.registered_model_version) == "1"
        assert info.metadata["row_local"] is True
        local = Path(mlflow.artifacts.download_artifacts(info.model_uri,
                                                         dst_path=str(tmp_path / "m")))
        files = {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()}
        assert not any(f.endswith((".pkl", ".pickle", ".cloudpickle")) for f in files)
        assert any(f.endswith(pyfunc.MODEL_CODE.name) for f in files)
        assert any(f.startswith(f"artifacts/{pyfunc.ARTIFACT_KEY}/") for f in files)
        reqs = (local / "requirements.txt").read_text().split()
        assert reqs == pyfunc.pip_requirements()
        scorer = mlflow.pyfunc.load_model("models:/rm-test/1")
        got = scorer.predict(pyfunc.as_signature_frame(model, X.head(20)))
        pd.testing.assert_frame_equal(got, pyfunc.predict_rows(model, X.head(20), n_reasons=2))
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)

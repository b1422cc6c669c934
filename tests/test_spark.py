"""riskmodel.spark on a local SparkSession: the same features, scores and explanations as
the library (issue 20). ``make test`` installs the spark extra and Java: nothing here is
skipped."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import riskmodel as rm
from riskmodel import pyfunc
from riskmodel import spark as rs
from riskmodel.features import FeatureConfig

pytestmark = [
    # sqlalchemy 2.1 deprecates a loader strategy that MLflow's sqlite store still configures
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    # MLflow's spark_udf warns that the model's requirements are not checked with
    # env_manager="local" (the documented choice, docs/spark.md)
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

SCHOOL_DAY, SUMMER_DAY = "2023-03-01", "2023-08-15"


@pytest.fixture(scope="session")
def spark():
    s = rs.session("local[2]", app_name="riskmodel-tests", driver_memory="1g",
                   conf={"spark.sql.shuffle.partitions": "2"})
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


def test_local_workers_run_the_drivers_python(spark):
    """Local workers import the riskmodel the driver imports: they run this interpreter,
    not the first python3 on PATH (in a virtual environment that is not activated, as
    under make test, that one has no riskmodel)."""
    got = spark.sparkContext.parallelize([0], 1).map(lambda _: __import__("sys").executable)
    assert got.collect() == [sys.executable]


@pytest.fixture(scope="module")
def world():
    # four schools in two municipalities: the context step has something to sum
    return rm.datasets.make_school_system(n_pupils=1200, n_years=2, random_state=3)


@pytest.fixture(scope="module")
def data_dir(world, tmp_path_factory):
    from riskmodel.spark._tables import write_plain

    return write_plain(world.tables, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def frames(spark, data_dir):
    return rs.read_tables(spark, data_dir)


def _assert_same(library: pd.DataFrame, got: pd.DataFrame):
    """Column by column to 1e-9, the same pupils, NaN where the library has NaN."""
    assert got.index.is_unique
    assert set(got.index) == set(library.index)
    got = got.reindex(library.index)
    for c in library.columns:
        if isinstance(library[c].dtype, pd.CategoricalDtype):
            a = library[c].astype(object).where(library[c].notna(), None).tolist()
            assert a == got[c].where(got[c].notna(), None).tolist(), c
            continue
        a, b = library[c].to_numpy(dtype=float), got[c].to_numpy(dtype=float)
        assert np.array_equal(np.isnan(a), np.isnan(b)), c
        ok = ~np.isnan(a)
        assert np.abs(a[ok] - b[ok]).max(initial=0.0) <= 1e-9, c


def test_import_riskmodel_does_not_import_pyspark():
    code = ("import sys, riskmodel, riskmodel.spark; import riskmodel.spark._features; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_features_equal_the_library_school_year_and_summer(world, frames, caplog):
    cfg = FeatureConfig(include_sensitive=True)  # home_language: a string column
    with caplog.at_level("WARNING", logger="riskmodel"):
        panel = rs.build_feature_panel(frames, [SCHOOL_DAY, SUMMER_DAY, "2010-01-04"], cfg,
                                       pupils_per_partition=300).toPandas()
    # a date without pupils is left out with a warning, as in the library
    assert "2010-01-04" in caplog.text and "left out of the panel" in caplog.text
    assert sorted(set(panel["as_of"])) == [pd.Timestamp(SCHOOL_DAY).date(),
                                           pd.Timestamp(SUMMER_DAY).date()]
    assert panel.columns[:4].tolist() == ["as_of", "pupil_id", "school_id", "municipality_id"]
    for day in (SCHOOL_DAY, SUMMER_DAY):
        lib = rm.build_features(world.tables, day, cfg)
        block = panel[panel["as_of"] == pd.Timestamp(day).date()].set_index("pupil_id")
        assert block.columns[3:].tolist() == lib.columns.tolist()
        _assert_same(lib, block[lib.columns])
        # the school context is the whole system's, not a partition's: several
        # partitions share each school
        assert block["school_enrolled_pupils"].max() > 300
    # the summer date's cohort is the pupils waiting to continue, decided system-wide
    assert len(panel[panel["as_of"] == pd.Timestamp(SUMMER_DAY).date()]) > 0


def test_build_features_single_date_and_errors(world, frames):
    got = rs.build_features(frames, "2023-11-06").toPandas().set_index("pupil_id")
    lib = rm.build_features(world.tables, "2023-11-06")
    assert got.columns.tolist() == ["school_id", "municipality_id", *lib.columns]
    _assert_same(lib, got[lib.columns])
    info = rm.features.pupil_frame(world.tables, "2023-11-06")
    assert (got["school_id"].reindex(info.index) == info["school_id"].astype(str)).all()
    with pytest.raises(ValueError, match="No pupil is enrolled on as_of=2010-01-04"):
        rs.build_features(frames, "2010-01-04")
    with pytest.raises(ValueError, match="must hold Spark DataFrames"):
        rs.build_features(world.tables.to_dict(), SCHOOL_DAY)
    with pytest.raises(ValueError, match="must have a 'enrolments' table"):
        rs.build_features({"pupils": frames["pupils"]}, SCHOOL_DAY)
    with pytest.raises(ValueError, match="must not repeat a date"):
        rs.build_feature_panel(frames, [SCHOOL_DAY, SCHOOL_DAY])


def test_point_in_time_on_spark(world, spark, tmp_path):
    """The library's property test on Spark: features at random dates are the same when
    every record from as_of on is removed (and equal the library's)."""
    rng = np.random.default_rng(0)
    days = pd.date_range("2022-10-01", "2024-05-20")
    dates = [pd.Timestamp(d) for d in rng.choice(days, 2, replace=False)]
    full = rs.to_spark(spark, world.tables, tmp_path / "full")
    panel = rs.build_feature_panel(full, dates, pupils_per_partition=400).toPandas()
    for i, d in enumerate(dates):
        known = rs.to_spark(spark, world.tables.as_known_at(d), tmp_path / f"known{i}")
        past = rs.build_features(known, d).toPandas().set_index("pupil_id")
        block = panel[panel["as_of"] == d.date()].set_index("pupil_id")
        lib = rm.build_features(world.tables, d)
        _assert_same(lib, past[lib.columns])
        _assert_same(past[lib.columns], block[lib.columns])


@pytest.fixture(scope="module")
def registered(world, tmp_path_factory):
    """A small RiskModel registered as the riskmodel pyfunc in a sqlite registry."""
    import mlflow

    from riskmodel.tracking import configure

    X = rm.build_features(world.tables, "2023-01-09")
    y = rm.make_labels(world.tables, "2023-01-09", horizon_days=365).reindex(X.index).fillna(0)
    model = rm.RiskModel(n_estimators=30, random_state=0).fit(X, y)
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    configure(uri)
    mlflow.set_experiment("spark-test")
    with mlflow.start_run():
        pyfunc.log_model(model, registered_model_name="rm-spark")
    yield model, uri
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


def test_score_equals_the_library_and_the_pyfunc(world, frames, registered):
    import mlflow

    model, _ = registered
    X = rm.build_features(world.tables, SCHOOL_DAY)
    feats = rs.build_features(frames, SCHOOL_DAY)
    got = rs.score(feats, "models:/rm-spark/1").toPandas().set_index("pupil_id")
    assert got.columns.tolist() == ["school_id", "municipality_id",
                                    *rs.result_type().fieldNames()]
    got = got.reindex(X.index)
    assert np.abs(got["risk"].to_numpy() - model.predict_proba(X)[:, 1]).max() <= 1e-9
    rows = pyfunc.predict_rows(model, X, n_reasons=3, domain_contributions=True)
    rows.index = X.index
    for c in rows.columns:
        if c.startswith("reason_"):
            assert got[c].where(got[c].notna(), None).tolist() == rows[c].tolist(), c
        else:
            assert np.abs(got[c].to_numpy() - rows[c].to_numpy()).max() <= 1e-9, c
    by = model.explain(X).by_domain().reindex(X.index)
    for d in by.columns:
        assert np.abs(got[f"contribution_{d}"] - by[d]).max() <= 1e-9
    # the registered pyfunc, loaded as any MLflow client would
    served = mlflow.pyfunc.load_model("models:/rm-spark/1").predict(
        pyfunc.as_signature_frame(model, X))
    assert np.abs(got["risk"].to_numpy() - served["risk"].to_numpy()).max() <= 1e-9
    assert got["reason_1_en"].tolist() == served["reason_1_en"].tolist()


def test_cli_score_engine_spark_equals_the_local_run(world, data_dir, registered, tmp_path,
                                                     spark, monkeypatch):
    from riskmodel.cli import main
    from riskmodel.pipeline import score_run

    model, uri = registered
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    out = tmp_path / "spark-run"
    code = main(["score", "--engine", "spark", "--spark-master", "local[2]",
                 "--data", str(data_dir), "--model", "models:/rm-spark/1", "--as-of",
                 SCHOOL_DAY, "--monitor", "off", "--out", str(out)])
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["engine"] == "spark" and manifest["model"]["version"] == "1"
    assert not list(tmp_path.glob(".spark-run*"))  # the temporary folder is gone
    parts = sorted(p.name for p in (out / "scores.parquet").iterdir()
                   if p.name.startswith("municipality_id="))
    assert len(parts) == world.tables.schools["municipality_id"].nunique()
    for rel, sha in manifest["files_sha256"].items():
        from riskmodel._util import file_sha256

        assert file_sha256(out / rel) == sha
    got = pd.read_parquet(out / "scores.parquet").set_index("pupil_id")
    local = score_run({"as_of": SCHOOL_DAY, "out": str(tmp_path / "local"), "monitor": "off"},
                      tables=world.tables, model=model)
    ref = pd.read_parquet(local.paths["scores"])
    assert len(got) == manifest["n_pupils"] == len(ref)
    got = got.reindex(ref.index)
    assert np.abs(got["risk"] - ref["risk"]).max() <= 1e-9
    for c in ("rank_national", "rank_school"):
        assert (got[c].to_numpy() == ref[c].to_numpy()).all(), c
    assert (got["tier"].astype(str) == ref["tier"].astype(str)).all()
    assert (got["municipality_id"].astype(str) == ref["municipality_id"]).all()
    for c in [c for c in ref.columns if c.startswith(("reason_", "share_"))]:
        if c.startswith("reason_"):
            assert got[c].where(got[c].notna(), None).tolist() == \
                ref[c].where(ref[c].notna(), None).tolist(), c
        else:
            assert np.abs(got[c] - ref[c]).max() <= 1e-9, c
    feats = pd.read_parquet(out / "features.parquet").set_index("pupil_id")
    lib = pd.read_parquet(local.paths["features"])
    _assert_same(lib, feats[lib.columns])
    # the allocation: the local run's plan, from the candidates collected to the driver
    assert manifest["resources"] == local.manifest["resources"]
    assert manifest["allocation"].pop("n_candidates") < len(ref)
    value = manifest["allocation"].pop("objective_value")
    assert value == pytest.approx(local.manifest["allocation"].pop("objective_value"), abs=1e-9)
    assert manifest["allocation"] == local.manifest["allocation"]
    for name in ("allocation", "ended", "waitlist"):
        _assert_same_plan(pd.read_parquet(local.paths[name]),
                          pd.read_parquet(out / f"{name}.parquet"), name)
    # literacy reaches pupils below min_risk, mentors continue down to exit_level
    plan = pd.read_parquet(local.paths["allocation"])
    assert (plan["risk"] < 0.10).any() and len(plan) > 0


def _assert_same_plan(local: pd.DataFrame, got: pd.DataFrame, name: str):
    """The same rows (by pupil and kind), every column equal (floats to 1e-9)."""
    assert len(got) == len(local), name
    assert sorted(got.columns) == sorted(local.columns), name
    key = ["pupil_id", "kind"]
    local = local.sort_values(key).reset_index(drop=True)
    got = got[local.columns].sort_values(key).reset_index(drop=True)
    for c in local.columns:
        a, b = local[c], got[c]
        if a.dtype.kind == "f":
            assert np.allclose(a.to_numpy(), b.to_numpy(), atol=1e-9, equal_nan=True), (name, c)
        else:
            assert a.astype(object).where(a.notna(), None).astype(str).tolist() == \
                b.astype(object).where(b.notna(), None).astype(str).tolist(), (name, c)


def test_spark_failures_are_typed_errors(spark, data_dir, registered, tmp_path, monkeypatch,
                                         capsys):
    from riskmodel.cli import main

    _, uri = registered
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(rs.SparkError, match="read_tables on Spark failed"):
        from riskmodel.spark._session import spark_errors

        with spark_errors("read_tables"):
            spark.read.parquet(str(tmp_path / "missing.parquet")).count()
    # what the Spark run does not do yet is refused, not skipped (exit 2, nothing written)
    code = main(["score", "--engine", "spark", "--data", str(data_dir), "--model",
                 "models:/rm-spark/1", "--out", str(tmp_path / "o")])
    assert code == 2 and "--monitor off" in capsys.readouterr().err
    code = main(["score", "--engine", "spark", "--data", str(data_dir), "--model",
                 "models:/rm-spark/1", "--monitor", "off", "--objective", "benefit",
                 "--out", str(tmp_path / "o")])
    assert code == 2 and "'benefit'" in capsys.readouterr().err
    # a model folder is not a pyfunc model
    code = main(["score", "--engine", "spark", "--data", str(data_dir), "--no-allocate",
                 "--monitor", "off", "--model", str(tmp_path), "--out", str(tmp_path / "o")])
    assert code == 2 and "registered MLflow pyfunc" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    # a bad master URL: exit 2 with one line, no Java or Py4J stack trace
    run = subprocess.run([sys.executable, "-m", "riskmodel", "score", "--engine", "spark",
                          "--spark-master", "bogus://nowhere", "--data", str(data_dir),
                          "--no-allocate", "--monitor", "off", "--model", "models:/rm-spark/1",
                          "--out",
                          str(tmp_path / "o")], capture_output=True, text=True)
    assert run.returncode == 2, run.stderr
    assert "is not a Spark master URL" in run.stderr
    assert "Traceback" not in run.stderr and "Exception" not in run.stderr
    assert not (tmp_path / "o").exists()
    # no Java: a typed error before Spark is touched
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(rs.SparkError, match="needs Java"):
        rs.session("local[1]")


def test_library_hooks_default_to_the_library(world):
    """The hooks the Spark path uses leave the library's results unchanged by default,
    and do what they say when given."""
    from riskmodel._columns import ts_day
    from riskmodel._enrolments import Enrolments, cohort_at
    from riskmodel.features._build import _Prepared, _check_config

    enr = Enrolments.from_tables(world.tables)
    day = ts_day(pd.Timestamp(SUMMER_DAY))
    auto = cohort_at(enr, day)
    assert auto.summer and auto.n_waiting > 0
    forced = cohort_at(enr, day, summer=False)  # the whole system says: not a summer date
    assert not forced.summer and len(forced.rows) == auto.n_enrolled
    cfg = _check_config(None)
    d = pd.Timestamp("2023-11-06")  # the records reach a year back: arrivals are known
    plain = _Prepared(world.tables, cfg, [d])
    first = int(enr.start.min())
    att_first = int(world.tables.attendance["date"].min().to_datetime64().astype(
        "datetime64[D]").astype(np.int64))
    given = _Prepared(world.tables, cfg, [d], whole={"summer": {d: False},
                                                     "data_start": {d: first},
                                                     "attendance_first_day": att_first})
    a, b = plain.features_at(d), given.features_at(d)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    # a later data start makes new arrivals unknowable (NaN), as with shorter records
    late = _Prepared(world.tables, cfg, [d], whole={"summer": {d: False},
                                                    "data_start": {d: ts_day(d) - 100},
                                                    "attendance_first_day": att_first})
    assert late.features_at(d)["new_arrival_365d"].isna().all()
    assert a["new_arrival_365d"].notna().all()


def test_predict_rows_domain_contributions(registered, world):
    model, _ = registered
    X = rm.build_features(world.tables, SCHOOL_DAY).head(50)
    rows = pyfunc.predict_rows(model, X, n_reasons=2, domain_contributions=True)
    assert rows.columns[:5].tolist() == pyfunc.output_columns(2)
    contrib = rows[[f"contribution_{d}" for d in rm.vocab.DOMAINS]].to_numpy()
    ex = model.explain(X)
    raw = contrib.sum(axis=1) + ex.base_value
    assert np.allclose(raw, ex.values.sum(axis=1).to_numpy() + ex.base_value, atol=1e-9)
    plain = pyfunc.predict_rows(model, X, n_reasons=2)
    assert plain.columns.tolist() == pyfunc.output_columns(2)

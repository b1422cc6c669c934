"""riskmodel as one MLflow pyfunc model, logged from code.

:func:`log_model` logs ``_pyfunc_model.py`` (a file that calls
``mlflow.models.set_model``) with the fitted :class:`~riskmodel.RiskModel`
saved as LightGBM text plus JSON as its only artifact — nothing is
cloudpickled — with an explicit signature (integer-like and boolean columns
declared as doubles, categorical columns as strings), an input example built
from the feature registry (a synthetic row, never a pupil's) and explicit
pip requirements.

The pyfunc is row-local: :func:`predict_rows` turns each row of pupil features
into its risk and top reasons, independently of the other rows, so that
``mlflow.pyfunc.spark_udf`` can score it on a cluster. Ranking, tiers and the
allocation happen after scoring.

Examples
--------
>>> import tempfile
>>> import mlflow
>>> import numpy as np, pandas as pd, riskmodel as rm
>>> from riskmodel import pyfunc
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"attendance_rate_28d": rng.random(400)})
>>> y = pd.Series((rng.random(400) < 0.3).astype(int))
>>> model = rm.RiskModel(random_state=0).fit(X, y)
>>> from riskmodel.tracking import configure
>>> _ = configure("sqlite:///" + tempfile.mkdtemp() + "/mlflow.db")  # runs and registry
>>> _ = mlflow.set_experiment("riskmodel-example")
>>> with mlflow.start_run():
...     info = pyfunc.log_model(model)
>>> scorer = mlflow.pyfunc.load_model(info.model_uri)
>>> out = scorer.predict(pyfunc.as_signature_frame(model, X.head(3)))
>>> np.allclose(out["risk"], model.predict_proba(X.head(3))[:, 1])
True
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pandas as pd

from ._checks import UNSET, renamed_param
from ._util import RESULT_PACKAGES, library_versions, riskmodel_version

__all__ = [
    "MODEL_CODE",
    "ARTIFACT_KEY",
    "output_columns",
    "predict_rows",
    "input_schema",
    "signature",
    "input_example",
    "as_signature_frame",
    "pip_requirements",
    "log_model",
]

logger = logging.getLogger(__name__)

#: the model-from-code file logged with every riskmodel pyfunc
MODEL_CODE = Path(__file__).with_name("_pyfunc_model.py")
#: key of the RiskModel folder among the pyfunc's artifacts
ARTIFACT_KEY = "riskmodel"

#: what the serving environment needs besides riskmodel: the packages that shape the
#: results, plus MLflow itself and what riskmodel imports to load a model (one list)
_SERVING_PACKAGES = ("mlflow", *RESULT_PACKAGES, "pydantic", "pyyaml")


def output_columns(n_reasons: int = 3) -> list[str]:
    """Columns of the pyfunc's output: ``risk``, ``reason_1_lv`` … ``reason_k_en``.

    Parameters
    ----------
    n_reasons : int, default 3
        Number of reasons per pupil.

    Returns
    -------
    list of str

    Examples
    --------
    >>> output_columns(1)
    ['risk', 'reason_1_lv', 'reason_1_en']
    """
    return ["risk"] + [f"reason_{i}_{lang}" for lang in ("lv", "en") for i in range(1, n_reasons + 1)]


def _feature_names(model) -> list[str]:
    names = getattr(model, "feature_names_in_", None)
    return [str(n) for n in (names if names is not None else model.feature_names_)]


def predict_rows(model, frame: pd.DataFrame, n_reasons: int = 3, *, k=UNSET,
                 domain_contributions: bool = False) -> pd.DataFrame:
    """Risk and top ``n_reasons`` reasons (lv, en) of each row of ``frame``; row ``i`` → row ``i``.

    Parameters
    ----------
    model : RiskModel
        Fitted model.
    frame : DataFrame
        One row per pupil with (at least) the model's feature columns; other
        columns are ignored. Integer-like and boolean features may come as doubles.
    n_reasons : int, default 3
    domain_contributions : bool, default False
        Also the contributions summed by domain (log-odds): ``contribution_<domain>``
        for each of :data:`riskmodel.vocab.DOMAINS` (0.0 for a domain without a
        feature in the model). Set through the pyfunc's model config
        ``{"domain_contributions": true}`` (:func:`riskmodel.spark.score` does).

    Returns
    -------
    DataFrame
        Columns :func:`output_columns` (and the contributions), a RangeIndex in the
        order of ``frame``.

    Examples
    --------
    >>> import numpy as np, pandas as pd, riskmodel as rm
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"attendance_rate_28d": rng.random(400),
    ...                   "school_type": pd.Categorical(rng.choice(["city", "rural"], 400))})
    >>> y = pd.Series((rng.random(400) < 0.3).astype(int))
    >>> model = rm.RiskModel(random_state=0).fit(X, y)
    >>> out = predict_rows(model, X.head(2), n_reasons=1)
    >>> out.columns.tolist()
    ['risk', 'reason_1_lv', 'reason_1_en']
    >>> bool(np.allclose(out["risk"], model.predict_proba(X.head(2))[:, 1]))
    True
    """
    n_reasons = renamed_param(k, n_reasons, old="k", new="n_reasons", func="predict_rows")
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"The 'frame' parameter of predict_rows must be a pandas DataFrame. "
                        f"Got {type(frame).__name__} instead.")
    names = _feature_names(model)
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ValueError(f"The input lacks {len(missing)} feature column(s) of the model, "
                         f"e.g. {missing[:5]}.")
    X = frame[names].reset_index(drop=True)
    X.index = pd.RangeIndex(len(X), name="pupil_id")
    out = pd.DataFrame({"risk": model.predict_proba(X)[:, 1]}, index=X.index)
    ex = model.explain(X)
    for lang in ("lv", "en"):
        r = ex.reasons(n_reasons=n_reasons, lang=lang)
        wide = r.pivot(index="pupil_id", columns="rank", values="text").reindex(
            index=X.index, columns=range(1, n_reasons + 1))
        for i in range(1, n_reasons + 1):
            col = wide[i].astype(object)
            out[f"reason_{i}_{lang}"] = col.where(col.notna(), None).to_numpy()
    cols = output_columns(n_reasons)
    if domain_contributions:
        from .vocab import DOMAINS

        by = ex.by_domain()
        for d in (*DOMAINS, *[c for c in by.columns if c not in DOMAINS]):
            out[f"contribution_{d}"] = (by[d].to_numpy(dtype="float64") if d in by.columns
                                        else 0.0)
            cols.append(f"contribution_{d}")
    out = out[cols].reset_index(drop=True)
    return out


def _is_categorical(model, name: str) -> bool:
    """``name`` is a categorical feature of ``model`` (one with levels in ``categories_``)."""
    return name in (getattr(model, "categories_", None) or {})


def input_schema(model):
    """MLflow input schema: numeric and boolean features as doubles, categorical as strings.

    Parameters
    ----------
    model : RiskModel
        Fitted model.

    Returns
    -------
    mlflow.types.Schema

    Examples
    --------
    >>> import numpy as np, pandas as pd, riskmodel as rm
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"attendance_rate_28d": rng.random(400),
    ...                   "school_type": pd.Categorical(rng.choice(["city", "rural"], 400))})
    >>> y = pd.Series((rng.random(400) < 0.3).astype(int))
    >>> model = rm.RiskModel(random_state=0).fit(X, y)
    >>> [(c.name, c.type.name) for c in input_schema(model).inputs]
    [('attendance_rate_28d', 'double'), ('school_type', 'string')]
    """
    from mlflow.types import ColSpec, Schema

    cols = []
    for name in _feature_names(model):
        cols.append(ColSpec("string" if _is_categorical(model, name) else "double", name,
                            required=True))
    return Schema(cols)


def signature(model, n_reasons: int = 3, *, k=UNSET):
    """The pyfunc's :class:`mlflow.models.ModelSignature`.

    Parameters
    ----------
    model : RiskModel
        Fitted model (gives the inputs, see :func:`input_schema`).
    n_reasons : int, default 3
        Number of reasons per pupil (gives the outputs, see :func:`output_columns`).

    Returns
    -------
    mlflow.models.ModelSignature

    Examples
    --------
    >>> import numpy as np, pandas as pd, riskmodel as rm
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"attendance_rate_28d": rng.random(400),
    ...                   "school_type": pd.Categorical(rng.choice(["city", "rural"], 400))})
    >>> y = pd.Series((rng.random(400) < 0.3).astype(int))
    >>> model = rm.RiskModel(random_state=0).fit(X, y)
    >>> signature(model, n_reasons=1).outputs.input_names()
    ['risk', 'reason_1_lv', 'reason_1_en']
    """
    n_reasons = renamed_param(k, n_reasons, old="k", new="n_reasons", func="signature")
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    outputs = Schema([ColSpec("double", "risk")]
                     + [ColSpec("string", c, required=False) for c in output_columns(n_reasons)[1:]])
    from mlflow.types import ParamSchema, ParamSpec

    # inference parameters (riskmodel.spark.score sets them): the domain contributions
    # as extra columns, and LightGBM / numba threads (0: the library's default)
    params = ParamSchema([ParamSpec("domain_contributions", "boolean", False),
                          ParamSpec("num_threads", "long", 0)])
    return ModelSignature(inputs=input_schema(model), outputs=outputs, params=params)


def as_signature_frame(model, X: pd.DataFrame) -> pd.DataFrame:
    """``X`` with the model's columns in the signature's types (doubles and strings).

    What a caller of the served model sends; the risks it gets back equal the
    library's ``model.predict_proba(X)``.

    Parameters
    ----------
    model : RiskModel
        Fitted model.
    X : DataFrame
        Pupil features with (at least) the model's columns.

    Returns
    -------
    DataFrame
        The model's columns only, same index as ``X``.

    Examples
    --------
    >>> import numpy as np, pandas as pd, riskmodel as rm
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"attendance_rate_28d": rng.random(400),
    ...                   "school_type": pd.Categorical(rng.choice(["city", "rural"], 400))})
    >>> y = pd.Series((rng.random(400) < 0.3).astype(int))
    >>> model = rm.RiskModel(random_state=0).fit(X, y)
    >>> frame = as_signature_frame(model, X.head(2))
    >>> str(frame["attendance_rate_28d"].dtype), frame["school_type"].tolist()
    ('float64', ['rural', 'city'])
    """
    names = _feature_names(model)
    out = {}
    for name in names:
        col = X[name]
        if _is_categorical(model, name):
            values = col.astype(object)
            out[name] = values.where(values.notna(), None).map(
                lambda v: v if v is None else str(v))
        else:
            out[name] = col.astype("float64") if not isinstance(col.dtype, pd.CategoricalDtype) \
                else pd.to_numeric(col.astype(object)).astype("float64")
    return pd.DataFrame(out, index=X.index)


#: typical value of a feature by words of its registry unit (first match wins)
_UNIT_VALUES = (
    ("difference", 0.0), (" per ", 0.0), ("flag", 0.0), ("share", 0.9), ("rate", 0.9),
    ("grade points", 6.0), ("grade", 6.0), ("pupils", 300.0), ("teaching days", 30.0),
    ("days", 30.0), ("lessons", 2.0), ("years", 1.0),
)


def input_example(model, registry: pd.DataFrame | None = None) -> pd.DataFrame:
    """One synthetic row built from the feature registry — never a pupil's values.

    Numeric features get a typical value for their unit (a share 0.9, a grade
    6, a flag or a difference 0, a count 1, …; 0 when the feature is not in the
    registry); categorical features their first level learned at fit.

    Parameters
    ----------
    model : RiskModel
        Fitted model.
    registry : DataFrame, optional
        Feature registry with a ``unit`` column (default: ``features.registry()``).

    Returns
    -------
    DataFrame
        One row, the model's feature columns.

    Examples
    --------
    >>> import numpy as np, pandas as pd, riskmodel as rm
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"attendance_rate_28d": rng.random(400),
    ...                   "school_type": pd.Categorical(rng.choice(["city", "rural"], 400))})
    >>> y = pd.Series((rng.random(400) < 0.3).astype(int))
    >>> model = rm.RiskModel(random_state=0).fit(X, y)
    >>> input_example(model).to_dict("records")
    [{'attendance_rate_28d': 0.9, 'school_type': 'city'}]
    """
    if registry is None:
        try:
            from .features import registry as _registry

            registry = _registry()
        except Exception:  # pragma: no cover - registry unavailable
            registry = pd.DataFrame()
    units = registry["unit"] if "unit" in getattr(registry, "columns", ()) else pd.Series(dtype=str)
    row = {}
    for name in _feature_names(model):
        if _is_categorical(model, name):
            levels = getattr(model, "categories_", {}).get(name) or [""]
            row[name] = str(levels[0])
            continue
        unit = str(units.get(name, "")).lower()
        value = 1.0 if unit else 0.0  # a count of events, messages, subjects, ...
        for key, v in _UNIT_VALUES:
            if key in f" {unit} ":
                value = v
                break
        row[name] = float(value)
    return pd.DataFrame([row])


def pip_requirements() -> list[str]:
    """Pinned requirements of the serving environment (riskmodel and its runtime deps).

    The packages that shape riskmodel's results (``riskmodel._util.RESULT_PACKAGES``)
    plus MLflow, pydantic and PyYAML, each at its installed version.

    Returns
    -------
    list of str

    Examples
    --------
    >>> reqs = pip_requirements()
    >>> reqs[0].startswith("riskmodel=="), any(r.startswith("lightgbm==") for r in reqs)
    (True, True)
    """
    versions = library_versions(_SERVING_PACKAGES)
    return [f"{d}=={versions[d]}" if d in versions else d for d in ("riskmodel", *_SERVING_PACKAGES)]


def log_model(model, *, name: str = "model", registered_model_name: str | None = None,
              n_reasons: int = 3, registry: pd.DataFrame | None = None,
              reasons_k=UNSET):
    """Log ``model`` as a pyfunc model from code in the active MLflow run.

    Parameters
    ----------
    model : RiskModel
        Fitted model; saved as LightGBM text plus JSON into the model's artifacts.
    name : str, default "model"
        Name of the logged model inside the run.
    registered_model_name : str or None
        Register the logged model under this name (a new version).
    n_reasons : int, default 3
        Number of reasons the pyfunc returns per pupil (``reasons_k`` is its old
        name, kept until riskmodel 0.3 with a FutureWarning).
    registry : DataFrame, optional
        Feature registry for the input example (default: ``features.registry()``).

    Returns
    -------
    mlflow.models.model.ModelInfo

    Examples
    --------
    >>> import tempfile, mlflow
    >>> import numpy as np, pandas as pd, riskmodel as rm
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"attendance_rate_28d": rng.random(400),
    ...                   "school_type": pd.Categorical(rng.choice(["city", "rural"], 400))})
    >>> y = pd.Series((rng.random(400) < 0.3).astype(int))
    >>> model = rm.RiskModel(random_state=0).fit(X, y)
    >>> from riskmodel.tracking import configure
>>> _ = configure("sqlite:///" + tempfile.mkdtemp() + "/mlflow.db")  # runs and registry
    >>> _ = mlflow.set_experiment("riskmodel-example")
>>> _ = mlflow.set_experiment("riskmodel-example")
    >>> with mlflow.start_run():
    ...     info = log_model(model, registered_model_name="demo")
    >>> int(info.registered_model_version)
    1
    """
    n_reasons = renamed_param(reasons_k, n_reasons, old="reasons_k", new="n_reasons",
                              func="log_model")
    import mlflow

    with tempfile.TemporaryDirectory(prefix="riskmodel-pyfunc-") as tmp:
        folder = model.save(Path(tmp) / ARTIFACT_KEY)
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=str(MODEL_CODE),
            artifacts={ARTIFACT_KEY: str(folder)},
            signature=signature(model, n_reasons),
            input_example=input_example(model, registry),
            pip_requirements=pip_requirements(),
            model_config={"n_reasons": int(n_reasons)},
            registered_model_name=registered_model_name,
            metadata={"riskmodel_version": riskmodel_version(), "row_local": True},
        )
    logger.info("Logged pyfunc model %s (registered: %s)", info.model_uri,
                getattr(info, "registered_model_version", None))
    return info


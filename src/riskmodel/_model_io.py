"""RiskModel's file format: LightGBM's text model plus JSON metadata, never pickle (private).

A saved model is a folder with ``model.txt`` (``Booster.save_model``) and
``riskmodel.json``: the estimator's parameters, the fitted column schema
(names, kinds, levels, dtypes), calibration, linear start, monotone constraints,
domains, and the versions of the libraries that shaped it
(:func:`riskmodel._util.library_versions`). Format 1 files (before the linear
start) still load, as models without one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._linear import LinearScorecard
from ._util import jsonable, library_versions

__all__ = ["FORMAT_VERSION", "META_FILE", "MODEL_FILE", "load_model", "save_model"]

FORMAT_VERSION = 2  # 2: the linear start (format 1 files load as models without one)
MODEL_FILE = "model.txt"
META_FILE = "riskmodel.json"


def save_model(model, path):
    """Write a fitted RiskModel to the folder ``path`` (created if needed); return the Path.

    Examples
    --------
    >>> import json, tempfile, numpy as np
    >>> from riskmodel import RiskModel
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2)); y = (X[:, 0] + rng.normal(size=200) > 1).astype(int)
    >>> model = RiskModel(n_estimators=20, validation=3, linear=False, random_state=0).fit(X, y)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     meta = json.loads((save_model(model, folder) / META_FILE).read_text())
    >>> meta["format_version"], {"riskmodel", "lightgbm", "scikit-learn", "numpy", "pandas"} <= set(meta["versions"])
    (2, True)
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.booster_.save_model(str(path / MODEL_FILE))
    params = model.get_params()
    if not (params["random_state"] is None or isinstance(params["random_state"], (int, np.integer))):
        params["random_state"] = None  # a RandomState cannot be written; the fitted model needs none
    meta = {
        "format_version": FORMAT_VERSION,
        "estimator": type(model).__name__,
        "params": jsonable(params),
        "classes": jsonable(list(model.classes_)),
        "feature_names": list(model.feature_names_),
        "feature_names_in": (list(map(str, model.feature_names_in_))
                             if hasattr(model, "feature_names_in_") else None),
        "booster_feature_names": list(model._booster_feature_names),
        "kinds": model._kinds,
        "dtypes": model._dtypes,
        "categories": model.categories_,
        "feature_domains": model.feature_domains_,
        "monotone_constraints": model._monotone_list,
        "calibration": model.calibration_,
        "linear": None if model.linear_ is None else model.linear_.to_dict(),
        "best_iterations": [int(b) for b in model.best_iterations_],
        # keys riskmodel, lightgbm, scikit-learn, numpy, pandas as before, and the others
        "versions": library_versions(),
    }
    (path / META_FILE).write_text(json.dumps(meta, indent=1, ensure_ascii=False), encoding="utf-8")
    return path


def load_model(cls, path):
    """The model of class ``cls`` saved in the folder ``path`` (format 1 or 2).

    Examples
    --------
    >>> import tempfile
    >>> from riskmodel import RiskModel
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     load_model(RiskModel, folder)
    Traceback (most recent call last):
    ...
    FileNotFoundError: ... is not a saved RiskModel: expected files riskmodel.json and model.txt.
    """
    import lightgbm as lgb

    path = Path(path)
    meta_file, model_file = path / META_FILE, path / MODEL_FILE
    if not meta_file.is_file() or not model_file.is_file():
        raise FileNotFoundError(
            f"{path} is not a saved RiskModel: expected files {META_FILE} and {MODEL_FILE}."
        )
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    if meta.get("estimator") != cls.__name__ or meta.get("format_version") not in (1, FORMAT_VERSION):
        raise ValueError(
            f"{meta_file} holds estimator {meta.get('estimator')!r} format "
            f"{meta.get('format_version')!r}; expected {cls.__name__!r} format {FORMAT_VERSION}."
        )
    model = cls(**meta["params"])
    model.booster_ = lgb.Booster(model_file=str(model_file))
    model.classes_ = np.asarray(meta["classes"])
    model.feature_names_ = list(meta["feature_names"])
    if meta["feature_names_in"] is not None:
        model.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
    model.n_features_in_ = len(model.feature_names_)
    model._booster_feature_names = list(meta["booster_feature_names"])
    model._kinds = dict(meta["kinds"])
    model._dtypes = dict(meta["dtypes"])
    model.categories_ = {k: list(v) for k, v in meta["categories"].items()}
    model.feature_domains_ = dict(meta["feature_domains"])
    model._monotone_list = meta["monotone_constraints"]
    model.calibration_ = meta["calibration"]
    model.linear_ = None if meta.get("linear") is None else LinearScorecard.from_dict(meta["linear"])
    model.best_iterations_ = list(meta["best_iterations"])
    model.n_iter_ = int(model.booster_.current_iteration())
    return model

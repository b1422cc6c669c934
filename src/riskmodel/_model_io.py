"""RiskModel's file format: LightGBM's text model plus JSON metadata, never pickle (private).

A saved model is a folder with ``model.txt`` (``Booster.model_to_string``) and
``riskmodel.json``: the estimator's parameters, the fitted column schema
(names, kinds, levels, dtypes), calibration, linear start, monotone constraints,
domains, the versions of the libraries that shaped it
(:func:`riskmodel._util.library_versions`) and, since format 3, the sha256 of
every other file in the folder (``files_sha256``).

Loading checks the folder before anything reaches LightGBM, and every failure is
a :class:`~riskmodel.ModelFileError` naming the file: the folder and both files
exist; the JSON is UTF-8, parses, is an object with the expected keys; the format
is one this riskmodel reads (1 to :data:`FORMAT_VERSION`); each listed file has
the sha256 written at saving; and the LightGBM text is whole (:func:`check_model_text`),
because LightGBM aborts or crashes the process (SIGABRT, SIGSEGV) on some
truncated texts instead of raising. Format 1 files (before the linear start) load
as models without one; format 1 and 2 files carry no hashes and are checked by the
structure of ``model.txt`` alone.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

from ._linear import LinearScorecard
from ._util import jsonable, library_versions
from .errors import ModelFileError

__all__ = ["FORMAT_VERSION", "META_FILE", "MODEL_FILE", "check_model_text", "load_model",
           "save_model", "write_model_folder"]

# 1: the first format; 2: the linear start; 3: files_sha256, the sha256 of each file
# beside the JSON, checked at loading (format 1 and 2 files still load, without hashes)
FORMAT_VERSION = 3
MODEL_FILE = "model.txt"
META_FILE = "riskmodel.json"

#: keys every format holds (format 2 added ``linear``, format 3 ``files_sha256``)
_REQUIRED_KEYS = ("format_version", "estimator", "params", "classes", "feature_names",
                  "feature_names_in", "booster_feature_names", "kinds", "dtypes", "categories",
                  "feature_domains", "monotone_constraints", "calibration", "best_iterations")
_TRAILER = "pandas_categorical:"


class _MissingModelFile(ModelFileError, FileNotFoundError):
    """A missing folder or file: still a FileNotFoundError, as load raised before format 3."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
    (3, True)
    >>> sorted(meta["files_sha256"])
    ['model.txt']
    """
    # the bytes hashed are the bytes written (no newline translation, no second rendering)
    files = {MODEL_FILE: model.booster_.model_to_string().encode("utf-8")}
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
        "files_sha256": {name: _sha256(data) for name, data in files.items()},
        # the monitor's thresholds (riskmodel.monitor; absent in older files)
        "monitor_thresholds": _thresholds_dict(getattr(model, "monitor_thresholds_", None)),
    }
    return write_model_folder(path, files, META_FILE, meta)


def write_model_folder(path, files: dict, meta_file: str, meta: dict) -> Path:
    """Write ``files`` (name -> bytes) and the JSON ``meta`` as the folder ``path``, whole.

    The folder is written beside ``path`` and swapped in (``riskmodel._atomic``): a
    save cut short leaves an earlier model in ``path`` as it was.  ``path`` may be
    absent, empty, or an earlier save (it holds ``meta_file``); a folder holding
    anything else is a :class:`~riskmodel.ConfigError` and is left alone.
    """
    from ._atomic import atomic_output_dir

    path = Path(path)
    with atomic_output_dir(path, marker=meta_file) as tmp:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        (tmp / meta_file).write_text(json.dumps(meta, indent=1, ensure_ascii=False),
                                     encoding="utf-8")
    return path


def _thresholds_dict(th):
    """The monitor thresholds as a JSON dict (MonitorThresholds.to_dict), or None."""
    return th.to_dict() if hasattr(th, "to_dict") else (None if th is None else dict(th))


def check_model_text(text: str, file="model.txt") -> None:
    """Raise :class:`~riskmodel.ModelFileError` unless ``text`` is a whole LightGBM text model.

    A cheap structural check, run before the text reaches LightGBM (which aborts
    the process on some truncated texts): the header's ``tree_sizes`` (the byte
    size of each tree block) must tile the ``Tree=0``, ``Tree=1``, ... blocks
    exactly, followed by ``end of trees``, and the text must end with the
    ``end of parameters`` and ``pandas_categorical:`` trailer that LightGBM writes.

    Parameters
    ----------
    text : str
        The content of ``model.txt``.
    file : str or Path
        The file named in the message.

    Examples
    --------
    >>> import numpy as np, lightgbm as lgb
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 2)); y = (X[:, 0] > 0).astype(int)
    >>> text = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, y),
    ...                  num_boost_round=3).model_to_string()
    >>> check_model_text(text)
    >>> check_model_text(text[: len(text) // 2])
    Traceback (most recent call last):
    ...
    riskmodel.errors.ModelFileError: model.txt is not a whole LightGBM model (truncated or edited ...
    """
    def broken(what):
        return ModelFileError(
            f"{file} is not a whole LightGBM model (truncated or edited after saving): {what}. "
            "Save the model again, or restore the folder from a copy.", file)

    if not text.startswith("tree\n"):
        raise broken("it does not start with LightGBM's 'tree' header")
    lines = text.rstrip("\n").rsplit("\n", 1)
    if len(lines) < 2 or not lines[1].startswith(_TRAILER):
        raise broken(f"it does not end with the {_TRAILER!r} line")
    try:
        json.loads(lines[1][len(_TRAILER):])
    except ValueError:
        raise broken(f"the {_TRAILER!r} line is cut short") from None
    if "\nend of parameters\n" not in text:
        raise broken("the 'end of parameters' line is missing")
    sizes = re.search(r"^tree_sizes=([0-9 ]*)$", text, flags=re.MULTILINE)
    start = text.find("\nTree=0\n")
    if sizes is None or start < 0:
        raise broken("the 'tree_sizes' header or the first tree is missing")
    data = text.encode("utf-8")
    offset = len(text[: start + 1].encode("utf-8"))
    for i, size in enumerate(int(s) for s in sizes.group(1).split()):
        if not data.startswith(f"Tree={i}\n".encode(), offset):
            raise broken(f"tree {i} is not where the header's tree_sizes puts it")
        offset += size
    if not data.startswith(b"end of trees", offset):
        raise broken("the trees do not end where the header's tree_sizes says")


def _read_meta(path: Path, cls) -> dict:
    meta_file = path / META_FILE
    if not path.is_dir():
        raise _MissingModelFile(f"Model folder {path} does not exist (or is not a folder).", path)
    if not meta_file.is_file():
        model_there = (path / MODEL_FILE).is_file()
        raise _MissingModelFile(
            f"{meta_file} is missing: {path} is not a saved RiskModel "
            + ("(its model.txt is there, but the metadata beside it is lost)." if model_there
               else "(a folder written by RiskModel.save holds riskmodel.json and model.txt)."),
            meta_file)
    try:
        meta = json.loads(meta_file.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"{meta_file} is not UTF-8 text (byte {exc.start}); "
                             "it was not written by RiskModel.save or was damaged.",
                             meta_file) from None
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{meta_file} is not valid JSON ({exc.msg} at line {exc.lineno}, "
                             f"column {exc.colno}); it was truncated or edited.", meta_file) from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"{meta_file} holds a JSON {type(meta).__name__}, not the object "
                             "RiskModel.save writes.", meta_file)
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{meta_file} has no valid format_version (got {version!r}); it was "
                             "not written by RiskModel.save.", meta_file)
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{meta_file} was saved by a newer riskmodel (format {version}); this riskmodel reads "
            f"up to {FORMAT_VERSION}; upgrade riskmodel.", meta_file)
    if meta.get("estimator") != cls.__name__:
        raise ModelFileError(f"{meta_file} holds estimator {meta.get('estimator')!r}; expected "
                             f"{cls.__name__!r}.", meta_file)
    missing = [k for k in _REQUIRED_KEYS + (("files_sha256",) if version >= 3 else ())
               if k not in meta]
    if missing:
        raise ModelFileError(f"{meta_file} lacks the keys {', '.join(missing)} (format "
                             f"{version}); it was truncated or edited.", meta_file)
    hashes = meta.get("files_sha256")
    if version >= 3 and not (isinstance(hashes, dict) and MODEL_FILE in hashes and all(
            isinstance(n, str) and Path(n).name == n and n not in ("", ".", "..")
            and isinstance(h, str) for n, h in hashes.items())):
        raise ModelFileError(f"{meta_file}: files_sha256 must map plain file names, "
                             f"{MODEL_FILE} among them, to sha256 hex digests.", meta_file)
    return meta


def _read_files(path: Path, meta: dict) -> dict[str, bytes]:
    """The bytes of model.txt and every hashed file, each checked against its sha256."""
    hashes = dict(meta.get("files_sha256") or {}) if meta["format_version"] >= 3 else {}
    files = {}
    for name in dict.fromkeys([MODEL_FILE, *hashes]):
        file = path / name
        if not file.is_file():
            raise _MissingModelFile(f"{file} is missing: the model saved in {path} is incomplete "
                                 f"({META_FILE} is there).", file)
        data = file.read_bytes()
        if name in hashes and _sha256(data) != hashes[name].lower():
            raise ModelFileError(
                f"{file}: {name} was changed or truncated after saving: sha256 {_sha256(data)} "
                f"({len(data)} bytes), expected {hashes[name]} as written in {META_FILE}. "
                "Save the model again, or restore the folder from a copy.", file)
        files[name] = data
    return files


def load_model(cls, path):
    """The model of class ``cls`` saved in the folder ``path`` (formats 1 to 3).

    Raises :class:`~riskmodel.ModelFileError`, naming the file, when the folder
    is missing or broken; nothing reaches LightGBM before the checks pass.

    Examples
    --------
    >>> import tempfile
    >>> from riskmodel import RiskModel
    >>> from riskmodel import ModelFileError
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     try:
    ...         load_model(RiskModel, folder)
    ...     except ModelFileError as err:
    ...         print(err)
    /.../riskmodel.json is missing: ... is not a saved RiskModel (a folder written by RiskModel.save ...
    """
    import lightgbm as lgb

    path = Path(path)
    meta = _read_meta(path, cls)
    meta_file, model_file = path / META_FILE, path / MODEL_FILE
    data = _read_files(path, meta)[MODEL_FILE]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"{model_file} is not UTF-8 text (byte {exc.start}); it is not a "
                             "LightGBM text model or was damaged.", model_file) from None
    check_model_text(text, model_file)
    try:
        booster = lgb.Booster(model_str=text)
    except Exception as exc:  # noqa: BLE001 - LightGBM raises its own error types
        raise ModelFileError(f"{model_file}: LightGBM cannot read it ({type(exc).__name__}: "
                             f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else exc})",
                             model_file) from exc
    try:
        model = cls(**meta["params"])
    except TypeError as exc:
        raise ModelFileError(f"{meta_file}: its params do not fit this riskmodel's {cls.__name__} "
                             f"({exc}).", meta_file) from None
    try:
        _restore(model, booster, meta)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelFileError(f"{meta_file}: the fitted state cannot be restored "
                             f"({type(exc).__name__}: {exc}); it was edited or is damaged.",
                             meta_file) from None
    return model


def _restore(model, booster, meta) -> None:
    model.booster_ = booster
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
    model.monitor_thresholds_ = meta.get("monitor_thresholds")  # None in older files

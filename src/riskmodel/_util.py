"""Small shared helpers (private): JSON-safe values and the versions that shape results."""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import math

import numpy as np
import pandas as pd

__all__ = ["file_sha256", "jsonable", "library_versions", "riskmodel_version", "RESULT_PACKAGES"]

#: The distributions whose versions shape riskmodel's results: written into model
#: files, model cards, manifests and the pyfunc's pip requirements.
RESULT_PACKAGES = ("numpy", "pandas", "pyarrow", "scipy", "scikit-learn", "lightgbm", "numba")


def file_sha256(path) -> str:
    """Hex sha256 of a file's bytes (manifests record one per output file).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = p.write_bytes(b"abc")
    >>> file_sha256(p)[:12]
    'ba7816bf8f01'
    """
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def riskmodel_version() -> str:
    """The installed riskmodel version (from the package metadata, i.e. pyproject)."""
    try:
        return importlib.metadata.version("riskmodel")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - not installed
        return "0+unknown"


def library_versions(packages=RESULT_PACKAGES) -> dict[str, str]:
    """``{"riskmodel": ..., package: version}`` for the installed ``packages``.

    Examples
    --------
    >>> sorted(library_versions(("numpy",)))
    ['numpy', 'riskmodel']
    """
    out = {"riskmodel": riskmodel_version()}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover
            continue
    return out


def jsonable(obj):
    """``obj`` with numpy scalars, arrays, dates and paths made JSON-safe.

    Dict keys become strings; tuples and arrays become lists; numpy scalars become
    Python numbers; NaN and infinities become None (JSON has no NaN); dates and
    timestamps become ISO strings; anything else unknown becomes ``str(obj)``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> jsonable({"k": np.int64(3), "d": pd.Timestamp("2025-10-01"), "x": [np.float64("nan")]})
    {'k': 3, 'd': '2025-10-01', 'x': [None]}
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, int)):
        return obj
    if isinstance(obj, pd.Timestamp):
        if obj is pd.NaT:
            return None
        return obj.date().isoformat() if obj == obj.normalize() else obj.isoformat()
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    if obj is pd.NaT:
        return None
    return str(obj)

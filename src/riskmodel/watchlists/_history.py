"""Score history: hive-partitioned Parquet keyed by ``as_of`` and model (private)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pandas as pd

from .._atomic import atomic_output_dir

__all__ = ["append_history", "model_key", "read_history"]

PART = "part-0.parquet"


def model_key(info: dict | None = None, model=None) -> str:
    """The model part of a history partition: the registry version, else a content hash.

    Examples
    --------
    >>> model_key({"version": "3"})
    '3'
    >>> model_key({"version": None}, model=None)
    'unknown'
    """
    version = (info or {}).get("version")
    if version is not None:
        return re.sub(r"[^A-Za-z0-9._-]", "_", str(version))
    booster = getattr(model, "booster_", None)
    if booster is None:
        return "unknown"
    text = booster.model_to_string() + repr(getattr(model, "calibration_", None))
    return "sha-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _partition(history: Path, as_of, model: str) -> Path:
    day = pd.Timestamp(as_of).date().isoformat()
    return Path(history) / f"as_of={day}" / f"model={model}"


def append_history(history: str | os.PathLike, rows: pd.DataFrame, *, as_of, model: str) -> Path:
    """Write one run's pupil rows as the partition ``as_of=<day>/model=<model>``.

    The partition is written beside its place and swapped in whole
    (:func:`riskmodel._atomic.atomic_output_dir`), so readers see the old or the
    new partition, never half of one; rerunning the same ``as_of`` and model
    replaces it (no second copy).

    Parameters
    ----------
    history : path
        Root of the dataset.
    rows : DataFrame
        One row per pupil, indexed by ``pupil_id``.
    as_of : date-like
    model : str
        From :func:`model_key`.

    Returns
    -------
    pathlib.Path
        The partition folder.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> d = tempfile.mkdtemp()
    >>> rows = pd.DataFrame({"risk": [0.1, 0.2]}, index=pd.Index(["a", "b"], name="pupil_id"))
    >>> _ = append_history(d, rows, as_of="2024-01-01", model="1")
    >>> _ = append_history(d, rows, as_of="2024-01-01", model="1")
    >>> len(read_history(d))
    2
    """
    part = _partition(Path(history), as_of, model)
    df = rows.copy()
    df.index = df.index.astype(str)
    df.index.name = "pupil_id"
    with atomic_output_dir(part, marker=PART) as tmp:
        df.to_parquet(tmp / PART, index=True)
    return part


def read_history(history: str | os.PathLike) -> pd.DataFrame:
    """All partitions as one frame with ``as_of`` (Timestamp) and ``model`` (str) columns.

    Examples
    --------
    >>> import tempfile
    >>> read_history(tempfile.mkdtemp()).empty
    True
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    root = Path(history)
    if not root.is_dir() or not any(root.glob(f"as_of=*/model=*/{PART}")):
        return pd.DataFrame(columns=["pupil_id", "as_of", "model"])
    part = ds.partitioning(pa.schema([("as_of", pa.string()), ("model", pa.string())]),
                           flavor="hive")
    files = sorted(str(p) for p in root.glob(f"as_of=*/model=*/{PART}"))
    frames = []
    for f in files:  # one schema per model: read file by file, then concatenate
        t = ds.dataset(f, format="parquet", partitioning=part, partition_base_dir=str(root))
        df = t.to_table().to_pandas()
        frames.append(df.reset_index() if "pupil_id" in df.index.names else df)
    out = pd.concat(frames, ignore_index=True)
    out["as_of"] = pd.to_datetime(out["as_of"])
    return out.sort_values(["as_of", "model", "pupil_id"], kind="stable").reset_index(drop=True)

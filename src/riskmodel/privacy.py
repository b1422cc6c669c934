"""Pseudonymisation of pupil ids before data leave the school system.

:func:`pseudonymize` replaces every ``pupil_id`` with a keyed hash
(HMAC-SHA256), consistently across all tables, so that a data folder can be
handed to an analyst or a scoring job without names or national ids, while the
school system (which holds the key) can still map scores back to its pupils.

The key is read from an argument or an environment variable and is never
written anywhere (not to logs, files, MLflow or exceptions).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ._checks import InvalidParameterError

__all__ = ["pseudonymize", "pseudonymize_ids", "MIN_KEY_BYTES"]

logger = logging.getLogger(__name__)

#: shortest key accepted (bytes); 32 random bytes are recommended.
MIN_KEY_BYTES = 16
#: hex characters kept from each digest (128 bits: collisions are practically impossible).
_DIGEST_CHARS = 32


def _resolve_key(key: str | bytes | None, env_var: str) -> bytes:
    if key is None:
        value = os.environ.get(env_var)
        if not value:
            raise ValueError(
                f"pseudonymize needs a secret key: pass key=... or set the environment "
                f"variable {env_var}. Generate one with "
                "`python -c \"import secrets; print(secrets.token_hex(32))\"` and keep it "
                "inside the school system."
            )
        key, source = value, f"the environment variable {env_var}"
    else:
        source = "the 'key' parameter of pseudonymize"
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, (bytes, bytearray)):
        raise InvalidParameterError(
            f"The 'key' parameter of pseudonymize must be str, bytes or None. "
            f"Got {type(key).__name__} instead."
        )
    if len(key) < MIN_KEY_BYTES:
        raise InvalidParameterError(
            f"The key in {source} must be at least {MIN_KEY_BYTES} bytes "
            f"long. Got a key of {len(key)} bytes instead."
        )
    return bytes(key)


def pseudonymize_ids(ids, key: str | bytes | None = None, *,
                     env_var: str = "RISKMODEL_PSEUDONYM_KEY"):
    """Keyed hash (HMAC-SHA256, first 128 bits as hex) of each id.

    Parameters
    ----------
    ids : array-like of str
        Pupil ids; each is converted with ``str`` and hashed as UTF-8.
    key : str, bytes or None
        Secret key; when None it is read from ``env_var``.
    env_var : str
        Environment variable holding the key.

    Returns
    -------
    numpy.ndarray of str
        One pseudonym (32 hex characters) per id, same order.

    Examples
    --------
    >>> from riskmodel.privacy import pseudonymize_ids
    >>> pseudonymize_ids(["P1", "P2"], key="a-long-secret-key-0123")[0][:8]
    '91495351'
    """
    k = _resolve_key(key, env_var)
    values = [str(v) for v in ids]
    digests = [hmac.new(k, v.encode("utf-8"), hashlib.sha256).hexdigest() for v in values]
    out = np.array([d[:_DIGEST_CHARS] for d in digests], dtype=object)
    return out


def _pseudonymize_frame(df: pd.DataFrame, mapping: dict[str, str], table: str) -> pd.DataFrame:
    if df is None or "pupil_id" not in df.columns:
        return df
    col = df["pupil_id"]
    df = df.copy()
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = [str(c) for c in col.cat.categories]
        missing = [c for c in cats if c not in mapping]
        if missing:
            raise ValueError(
                f"Table {table!r} has {len(missing)} pupil_id categories that are not in the "
                f"pupils table, e.g. {missing[:3]}."
            )
        df["pupil_id"] = col.cat.rename_categories([mapping[c] for c in cats])
    else:
        text = col.astype("str")
        mapped = text.map(mapping)
        if mapped.isna().any():
            bad = text[mapped.isna()].unique()[:3].tolist()
            raise ValueError(
                f"Table {table!r} has {int(mapped.isna().sum())} rows whose pupil_id is not in "
                f"the pupils table, e.g. {bad}."
            )
        df["pupil_id"] = mapped.astype("str")
    return df


def pseudonymize(tables, key: str | bytes | None = None, env_var: str = "RISKMODEL_PSEUDONYM_KEY"):
    """Replace pupil ids consistently across all tables with a keyed hash.

    The pseudonym of a pupil is the first 128 bits (32 hex characters) of
    HMAC-SHA256(key, pupil_id). The same key always gives the same pseudonym, so
    scores computed on pseudonymised data can be joined back inside the school
    system by hashing its own ids with the same key. Without the key the ids
    cannot be recovered or confirmed by guessing.

    Parameters
    ----------
    tables : SchoolTables or mapping of str to DataFrame
        Validated tables, or raw tables (e.g. read from CSV before validation)
        with a ``pupil_id`` column. The ``pupils`` table is required: every id in
        the other tables must appear there.
    key : str, bytes or None, default None
        The secret key (at least 16 bytes). When None it is read from the
        environment variable ``env_var``. It is never written anywhere.
    env_var : str, default "RISKMODEL_PSEUDONYM_KEY"
        Environment variable read when ``key`` is None.

    Returns
    -------
    SchoolTables or dict of DataFrame
        Same type as ``tables``, with every ``pupil_id`` replaced. Row order,
        dtypes (categorical ids stay categorical, in the same category order)
        and all other columns are unchanged.

    Raises
    ------
    ValueError
        If no key is given or set, the key is too short, or a table refers to a
        pupil missing from ``pupils``.

    Examples
    --------
    >>> import pandas as pd, riskmodel as rm
    >>> raw = {"pupils": pd.DataFrame({"pupil_id": ["P1", "P2"]}),
    ...        "attendance": pd.DataFrame({"pupil_id": ["P2", "P2"],
    ...                                    "status": ["present", "late"]})}
    >>> out = rm.pseudonymize(raw, key="a-long-secret-key-0123")
    >>> out["attendance"]["pupil_id"].iloc[0] == out["pupils"]["pupil_id"].iloc[1]
    True
    """
    k = _resolve_key(key, env_var)
    is_mapping = isinstance(tables, Mapping)
    if is_mapping:
        frames = dict(tables)
    else:
        from .schema import SchoolTables
        from .vocab import TABLES

        if not isinstance(tables, SchoolTables):
            raise InvalidParameterError(
                "The 'tables' parameter of pseudonymize must be a SchoolTables or a mapping "
                f"of table name to DataFrame. Got {type(tables).__name__} instead."
            )
        frames = {name: getattr(tables, name) for name in TABLES}
    pupils = frames.get("pupils")
    if pupils is None or "pupil_id" not in pupils.columns:
        raise ValueError(
            "pseudonymize needs a 'pupils' table with a 'pupil_id' column; "
            f"got tables {sorted(k_ for k_, v in frames.items() if v is not None)}."
        )
    ids = pupils["pupil_id"].astype("str").to_numpy()
    if pd.Series(ids).duplicated().any():
        raise ValueError("pseudonymize: the pupils table has duplicate pupil_id values.")
    hashed = pseudonymize_ids(ids, k)
    if pd.Series(hashed).duplicated().any():  # pragma: no cover - 128-bit collision
        raise RuntimeError("Two pupil ids received the same pseudonym; use another key.")
    mapping = dict(zip(ids, hashed))
    out = {name: _pseudonymize_frame(df, mapping, name) for name, df in frames.items()}
    logger.info("Pseudonymised %d pupil ids across %d tables.", len(mapping),
                sum(df is not None for df in out.values()))
    if is_mapping:
        return out
    return _rebuild_tables(tables, out)


def _rebuild_tables(tables, frames: dict[str, pd.DataFrame]):
    """A new SchoolTables holding ``frames``.

    Renaming the categories of normalised tables keeps them normalised (same
    dtypes, same category order), so they are not validated a second time.
    """
    return type(tables)._from_normalised(frames)

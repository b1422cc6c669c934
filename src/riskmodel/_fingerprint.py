"""Content fingerprint of :class:`riskmodel.SchoolTables` (private).

A sha256 over the table names, row counts, columns and dtypes, and a row-order
independent digest of each table's values: every row is hashed with vectorised
64-bit mixing (category values through :func:`pandas.util.hash_array`) and the
row hashes are summed and xor-ed.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from . import vocab


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_NULL_HASH = np.uint64(0x6A09E667F3BCC908)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, in place on a uint64 array."""
    h ^= h >> np.uint64(30)
    h *= _M1
    h ^= h >> np.uint64(27)
    h *= _M2
    h ^= h >> np.uint64(31)
    return h


def _light_mix(h: np.ndarray) -> np.ndarray:
    """Multiply-xorshift, in place (enough for one column before the final mix)."""
    h *= _M1
    h ^= h >> np.uint64(29)
    return h


_CHUNK = 1 << 18  # rows per hashing step: temporaries stay in cache, no big allocations


def _column_hasher(s: pd.Series, cache: dict):
    """A function ``(start, stop) -> uint64 hashes`` of one column's rows.

    The hashes depend on the values only. Categoricals hash their categories
    once (:func:`pandas.util.hash_array`, a fixed key, so stable across
    processes) and take by code, so the same values under another category
    order hash the same; missing values hash to a constant. Numbers and dates
    are mixed from their 64-bit value.
    """
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        hit = cache.get(id(cats))
        if hit is None or hit[0] is not cats:
            ch = pd.util.hash_array(np.asarray(cats, dtype=object), categorize=False)
            hit = (cats, np.append(ch, _NULL_HASH).astype(np.uint64))
            cache[id(cats)] = hit
        lut, codes = hit[1], s.array.codes
        return lambda a, b: lut.take(codes[a:b])
    if dtype == object or pd.api.types.is_string_dtype(dtype):
        h = np.asarray(pd.util.hash_array(np.asarray(s, dtype=object), categorize=True),
                       dtype=np.uint64)
        return lambda a, b: h[a:b].copy()
    values = s.to_numpy()
    kind = values.dtype.kind
    if kind == "M":
        values = values.view("int64")
    elif kind == "f":
        values = values.astype("float64", copy=False).view("int64")
    elif kind == "b":
        values = values.view(np.uint8)

    def numeric(a, b):
        h = values[a:b].astype(np.uint64)
        if kind == "b":
            h += np.uint64(0x51ED27)
        return _light_mix(h)

    return numeric


def frame_digest(df: pd.DataFrame, cache: dict) -> bytes:
    """Row-order-independent digest of a frame: sum and xor of the mixed row hashes.

    A row's hash is a polynomial in its column hashes (so the column a value is in
    matters) passed through the splitmix64 finaliser (so that sums over rows do
    not decompose into sums over columns). Works in chunks of rows.
    """
    n = len(df)
    if n == 0:
        return b""
    hashers = [_column_hasher(df[c], cache) for c in df.columns]
    total = xor = 0  # Python ints: numpy scalar additions would warn on wrap-around
    for a in range(0, n, _CHUNK):
        b = min(a + _CHUNK, n)
        row = hashers[0](a, b)
        for hasher in hashers[1:]:
            row *= np.uint64(0x100000001B3)
            row += hasher(a, b)
        _mix(row)
        total = (total + int(np.add.reduce(row, dtype=np.uint64))) & 0xFFFFFFFFFFFFFFFF
        xor ^= int(np.bitwise_xor.reduce(row))
    return np.array([total, xor], dtype="<u8").tobytes()


def tables_fingerprint(tables) -> str:
    """The sha256 hex digest of :meth:`riskmodel.SchoolTables.fingerprint`."""
    h = hashlib.sha256(b"riskmodel.SchoolTables/1")
    cache: dict = {}  # category hashes, shared by the pupil_id columns
    for name in vocab.TABLES:
        df = getattr(tables, name)
        h.update(f"|{name}:".encode())
        if df is None:
            h.update(b"None")
            continue
        h.update(f"{len(df)}:{','.join(df.columns)}:".encode())
        h.update(",".join(str(df[c].dtype if not isinstance(df[c].dtype, pd.CategoricalDtype)
                              else "category") for c in df.columns).encode())
        h.update(frame_digest(df, cache))
    return h.hexdigest()

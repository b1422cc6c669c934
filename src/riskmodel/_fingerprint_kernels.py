"""numba kernels of :mod:`._fingerprint` (private; imported when a digest is taken).

Each kernel is one fused pass over a chunk of rows, doing what the earlier numpy
passes did (uint64 arithmetic, wrapping): the digest is the same bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_P = np.uint64(0x100000001B3)  # the polynomial's base: row = row * _P + column hash
BOOL_ADD = np.uint64(0x51ED27)


@njit(cache=True, nogil=True)
def fold_lut(row, lut, codes, first):
    """row = row * P + lut[code] (code -1: the last entry, the null hash)."""
    m = len(lut)
    for i in range(len(row)):
        c = np.int64(codes[i])
        if c < 0:
            c += m
        h = lut[c]
        row[i] = h if first else row[i] * _P + h


@njit(cache=True, nogil=True)
def fold_hash(row, hashes, first):
    """row = row * P + hashes (precomputed per-row hashes)."""
    for i in range(len(row)):
        row[i] = hashes[i] if first else row[i] * _P + hashes[i]


@njit(cache=True, nogil=True)
def fold_number(row, values, add, first):
    """row = row * P + light_mix(uint64(value) + add): two's complement of the value
    (signed integers sign-extended, as ``astype(np.uint64)`` does)."""
    for i in range(len(row)):
        h = np.uint64(np.int64(values[i])) + add
        h *= _M1
        h ^= h >> np.uint64(29)
        row[i] = h if first else row[i] * _P + h


@njit(cache=True, nogil=True)
def mix_sum_xor(row):
    """splitmix64 of every row hash, then (sum, xor) of them (wrapping)."""
    total = np.uint64(0)
    xor = np.uint64(0)
    for i in range(len(row)):
        h = row[i]
        h ^= h >> np.uint64(30)
        h *= _M1
        h ^= h >> np.uint64(27)
        h *= _M2
        h ^= h >> np.uint64(31)
        total += h
        xor ^= h
    return total, xor

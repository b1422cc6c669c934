"""numba kernels of the attendance duplicate check (private; see :mod:`._duplicates`).

Measured on 34 million rows in random order (bench_schema's national tables): a
counting sort by pupil followed by a per-pupil scan spent ~3 s in cache misses;
bucketing by *blocks* of pupils, sized so that a block's table of (pupil, day,
status) cells stays in cache, reads the rows three times sequentially instead.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_NAT = np.iinfo(np.int64).min
_CELLS = 1 << 16  # cells (int32) of one block's table: 256 KB, in L2


@njit(cache=True, nogil=True)
def _scan_sorted(pupil, ticks, status, per_day):
    """(sorted by (day, pupil, status) or (pupil, day, status), number of rows
    whose key equals the previous row's)."""
    a_ok = True
    b_ok = True
    eq = 0
    have = False
    pp = np.int64(0)
    pd_ = np.int64(0)
    ps = np.int64(0)
    for i in range(len(pupil)):
        p = np.int64(pupil[i])
        s = np.int64(status[i])
        t = ticks[i]
        if p < 0 or s < 0 or t == _NAT:
            continue
        d = t // per_day
        if have:
            if d < pd_ or (d == pd_ and (p < pp or (p == pp and s < ps))):
                a_ok = False
            if p < pp or (p == pp and (d < pd_ or (d == pd_ and s < ps))):
                b_ok = False
            if p == pp and d == pd_ and s == ps:
                eq += 1
            if not a_ok and not b_ok:
                return False, 0
        have = True
        pp, pd_, ps = p, d, s
    return True, eq


@njit(cache=True, nogil=True)
def _scan_buckets(pupil, ticks, status, per_day, n_pupils, out_row, out_first):
    """Number of rows whose (pupil, day, status) appeared in an earlier row.

    When ``out_row`` has room, the duplicate rows and an earlier row of their key
    are written to ``out_row``/``out_first``.
    """
    n = len(pupil)
    lo = np.iinfo(np.int64).max
    hi = np.iinfo(np.int64).min
    per = np.zeros(n_pupils + 1, dtype=np.int64)  # rows per pupil (one pass for both)
    for i in range(n):
        p = np.int64(pupil[i])
        if p < 0 or status[i] < 0 or ticks[i] == _NAT:
            continue
        d = ticks[i] // per_day
        lo = min(lo, d)
        hi = max(hi, d)
        per[p] += 1
    if hi < lo:
        return 0
    span = hi - lo + 1  # < 2**18 days for any datetime64[ns]
    per_pupil = span * 4
    shift = 0  # a block holds 2**shift <= 256 pupils and at most _CELLS cells
    while shift < 8 and (per_pupil << (shift + 1)) <= _CELLS:
        shift += 1
    n_blocks = (n_pupils >> shift) + 1
    counts = np.zeros(n_blocks + 1, dtype=np.int64)
    for p in range(n_pupils):
        counts[(p >> shift) + 1] += per[p]
    for b in range(n_blocks):
        counts[b + 1] += counts[b]
    want_rows = len(out_row) > 0
    packed = np.empty(counts[n_blocks], dtype=np.uint32)  # pupil in block | day | status
    rows = np.empty(counts[n_blocks] if want_rows else 0, dtype=np.int64)
    pos = counts[:-1].copy()
    mask = (np.int64(1) << shift) - 1
    for i in range(n):
        p = np.int64(pupil[i])
        if p < 0 or status[i] < 0 or ticks[i] == _NAT:
            continue
        b = p >> shift
        cell = ((ticks[i] // per_day - lo) << 2) | np.int64(status[i])
        packed[pos[b]] = np.uint32(((p & mask) << 24) | cell)
        if want_rows:
            rows[pos[b]] = i
        pos[b] += 1
    seen = np.full(per_pupil << shift, -1, dtype=np.int32)  # a cell's row in its block
    n_dup = 0
    for b in range(n_blocks):
        for j in range(counts[b], counts[b + 1]):
            x = np.int64(packed[j])
            k = (x >> 24) * per_pupil + (x & 0xFFFFFF)
            if seen[k] >= 0:
                if want_rows:
                    out_row[n_dup] = rows[j]
                    out_first[n_dup] = rows[counts[b] + seen[k]]
                n_dup += 1
            else:
                seen[k] = np.int32(j - counts[b])
        for j in range(counts[b], counts[b + 1]):
            x = np.int64(packed[j])
            seen[(x >> 24) * per_pupil + (x & 0xFFFFFF)] = -1
    return n_dup

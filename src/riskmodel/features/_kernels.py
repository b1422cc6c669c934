"""numba kernels: one pass over an event table serves every as_of date (private).

Every window boundary of every as_of (``as_of``, ``as_of - 28``, ``- 90``,
``- 365`` days, the school-year start) cuts the days into *bins*.  A kernel
reads the raw column arrays once (pupil codes, datetime ticks, vocabulary
codes, counts), skips rows outside ``[lo, hi)`` and adds each row to the one bin
of its day: per-row work does not grow with the number of dates.  A window sum
for a date is then a difference of cumulative sums over bins (numpy).

All accumulators are integers, so results are exact and independent of row
order; a row dated on or after an as_of lies in a bin after that as_of's
windows (point in time).  Rows are first partitioned into blocks of 256 pupils
so that accumulation stays in cache; the accumulators are bin-major, so that
the per-date window differences stream through memory.

Why numba: on this machine numpy's ``argsort`` of 34 million rows takes 15 s,
and a first implementation that sorted rows by (pupil, day) with ``np.sort`` on
packed keys plus cumulative sums spent ~2.5 s on 6.4 million rows; a binned
pass is bounded by reading the columns and scattering into the accumulators.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Rows are first partitioned by pupil block (2**_SHIFT pupils), packed into one
# int64 each, so that the accumulation touches one block's accumulators at a
# time (cache-resident) instead of jumping across arrays of hundreds of MB.
#
# Each pass repeats the same two loops (count the rows of each pupil block, then
# scatter them); they are kept inline in every kernel on purpose: the rows to
# skip differ (a missing status, grade or event), so a shared helper would need
# that test passed in as a mask array, one more pass and one more array over
# tens of millions of rows.
_SHIFT = 8
_MASK = (1 << _SHIFT) - 1


@njit(cache=True, nogil=True)
def _n_buckets(n):
    return (n >> _SHIFT) + 1


@njit(cache=True, nogil=True)
def _scatter_alloc(counts):
    """counts[b + 1] = rows of block b -> cumulative offsets (in place), buffer."""
    for b in range(len(counts) - 1):
        counts[b + 1] += counts[b]
    return np.empty(counts[len(counts) - 1], dtype=np.int64)

# attendance quantities per (pupil, bin)
A_TOT, A_ATT, A_LATE, A_EXC, A_UNX, A_ABSMF = range(6)
N_ATT = 6
# attendance day bitmap
B_REC, B_ATT, B_EXC, B_UNX = 1, 2, 4, 8


@njit(cache=True, nogil=True)
def attendance_pass(pupil, ticks, per_day, status, lessons, bin_of, lo, hi, n, n_bins):
    """Lesson sums *before* each bin (n_bins + 1, n, quantity) and a pupil x day
    bitmap (n, hi - lo).

    status codes: 0 present, 1 late, 2 absent_excused, 3 absent_unexcused.
    """
    span = hi - lo
    acc = np.zeros((n_bins + 1, n, N_ATT), dtype=np.int32)
    bitmap = np.zeros((n, span), dtype=np.uint8)
    m = len(pupil)
    counts = np.zeros(_n_buckets(n) + 1, dtype=np.int64)
    for i in range(m):
        p = pupil[i]
        if p < 0 or status[i] < 0:
            continue
        d = ticks[i] // per_day
        if lo <= d < hi:
            counts[(p >> _SHIFT) + 1] += 1
    packed = _scatter_alloc(counts)
    pos = counts[:-1].copy()
    for i in range(m):
        p = pupil[i]
        s = status[i]
        if p < 0 or s < 0:
            continue
        d = ticks[i] // per_day
        if lo <= d < hi:
            les = np.int64(lessons[i])
            if les < 0:
                les = 0
            b = p >> _SHIFT
            packed[pos[b]] = ((p & _MASK) << 40) | ((d - lo) << 20) | (s << 16) | les
            pos[b] += 1
    for bk in range(len(counts) - 1):
        base = bk << _SHIFT
        for j in range(counts[bk], counts[bk + 1]):
            x = packed[j]
            p = base + ((x >> 40) & _MASK)
            t = (x >> 20) & 0xFFFFF
            s = (x >> 16) & 15
            les = np.int32(x & 0xFFFF)
            b = bin_of[t] + 1
            acc[b, p, A_TOT] += les
            if s <= 1:
                acc[b, p, A_ATT] += les
                bitmap[p, t] |= B_REC | B_ATT
                if s == 1:
                    acc[b, p, A_LATE] += les
            else:
                if s == 2:
                    acc[b, p, A_EXC] += les
                    bitmap[p, t] |= B_REC | B_EXC
                else:
                    acc[b, p, A_UNX] += les
                    bitmap[p, t] |= B_REC | B_UNX
                wd = (t + lo + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
                if wd == 0 or wd == 4:
                    acc[b, p, A_ABSMF] += les
    _prefix(acc)
    return acc, bitmap


# day counts per (pupil, date, quantity)
D_REC28, D_REC90, D_RECYS, D_EXC28, D_EXC90, D_UNX28, D_UNX90, D_RUN = range(8)
N_DAYS = 8


@njit(cache=True, nogil=True)
def _at(arr, x, span):
    return arr[min(max(x, 0), span)]


@njit(cache=True, nogil=True)
def attendance_days(bitmap, a, ys):
    """Day counts in the windows of each date (``a``, ``ys`` relative to ``lo``)
    and the longest run of recorded days without an attended lesson inside
    ``[ys, a)`` (days without records do not break a run)."""
    n, span = bitmap.shape
    K = len(a)
    out = np.zeros((n, K, N_DAYS), dtype=np.int32)
    rec = np.zeros(span + 1, dtype=np.int32)
    exc = np.zeros(span + 1, dtype=np.int32)
    unx = np.zeros(span + 1, dtype=np.int32)
    best = np.zeros(span + 1, dtype=np.int32)
    for p in range(n):
        for t in range(span):
            b = bitmap[p, t]
            rec[t + 1] = rec[t] + (1 if b != 0 else 0)
            exc[t + 1] = exc[t] + (1 if b & B_EXC else 0)
            unx[t + 1] = unx[t] + (1 if b & B_UNX else 0)
        if rec[span] == 0:
            continue
        prev_ys = -(10**9)
        for k in range(K):
            ak, yk = a[k], ys[k]
            out[p, k, D_REC28] = _at(rec, ak, span) - _at(rec, ak - 28, span)
            out[p, k, D_REC90] = _at(rec, ak, span) - _at(rec, ak - 90, span)
            out[p, k, D_RECYS] = _at(rec, ak, span) - _at(rec, yk, span)
            out[p, k, D_EXC28] = _at(exc, ak, span) - _at(exc, ak - 28, span)
            out[p, k, D_EXC90] = _at(exc, ak, span) - _at(exc, ak - 90, span)
            out[p, k, D_UNX28] = _at(unx, ak, span) - _at(unx, ak - 28, span)
            out[p, k, D_UNX90] = _at(unx, ak, span) - _at(unx, ak - 90, span)
            if yk != prev_ys:  # best run so far, counted from this school-year start
                prev_ys = yk
                run = 0
                top = 0
                start = min(max(yk, 0), span)
                for t in range(start + 1):
                    best[t] = 0
                for t in range(start, span):
                    b = bitmap[p, t]
                    if b != 0:
                        if b & B_ATT:
                            run = 0
                        else:
                            run += 1
                            if run > top:
                                top = run
                    best[t + 1] = top
            out[p, k, D_RUN] = _at(best, ak, span)
    return out


# grade quantities per (pupil, bin): all of them over the school-year bins, only
# G_NUM and G_VAL (the first two) over the finer bins of the 90-day window
G_NUM, G_VAL, G_T, G_T2, G_TV, G_NV, G_LVL, G_SLVL, G_ANY = range(9)
N_GRD = 9
N_GRD90 = 2
S_NUM, S_VAL, S_LAST = range(3)
N_SUBJ_Q = 3
_CODE_BITS = 5  # grade code + 1 <= 17 < 2**5


@njit(cache=True, nogil=True)
def grades_pass(pupil, ticks, per_day, subject, grade, kind, bin_of, lo, hi, n, n_bins,
                n_slots, sbin_of, n_sbins):
    """Grade sums per bin.

    grade codes: 0..9 = "1".."10", 10..13 = S, T, A, P, 14 nv, 15 i, 16 ni.
    kind codes: 2 term, 3 year count as term grades.

    Returns
    -------
    acc90 : (n_bins + 1, n, N_GRD90) int32 — numeric grade count and sum before each
        bin of ``bin_of``
    acc : (n_sbins + 1, n, N_GRD) int64 — pupil-level sums before each bin of the
        coarser bins ``sbin_of`` (t = day - lo)
    low : (n, n_bins) int8 — lowest numeric grade (99 = none)
    subj : (n_sbins + 1, n, n_slots, 3) int32 — per subject, *before* bin i of
        the coarser bins ``sbin_of`` (school-year starts and as_of dates only)
        (index i): S_NUM, S_VAL (cumulative count and sum of numeric grades) and
        S_LAST (the latest term/year grade packed as
        ``(day - lo + 1) << 5 | (grade code + 1)``, 0 when none: the maximum key is
        the latest day, and on a tie the higher code)
    """
    acc90 = np.zeros((n_bins + 1, n, N_GRD90), dtype=np.int32)
    acc = np.zeros((n_sbins + 1, n, N_GRD), dtype=np.int64)
    low = np.full((n, n_bins), 99, dtype=np.int8)
    # zeros only (calloc'd lazily): the latest term grade is stored as a key of
    # day + 1 and code + 1, so that 0 means none
    subj = np.zeros((n_sbins + 1, n, n_slots, N_SUBJ_Q), dtype=np.int32)
    m = len(pupil)
    counts = np.zeros(_n_buckets(n) + 1, dtype=np.int64)
    for i in range(m):
        p = pupil[i]
        if p < 0 or grade[i] < 0:
            continue
        d = ticks[i] // per_day
        if lo <= d < hi:
            counts[(p >> _SHIFT) + 1] += 1
    packed = _scatter_alloc(counts)
    pos = counts[:-1].copy()
    for i in range(m):
        p = pupil[i]
        g = np.int64(grade[i])
        if p < 0 or g < 0:
            continue
        d = ticks[i] // per_day
        if lo <= d < hi:
            s = np.int64(subject[i])
            if s < 0:
                s = n_slots - 1
            b = p >> _SHIFT
            packed[pos[b]] = (((p & _MASK) << 52) | ((d - lo) << 32) | (s << 12) | (g << 4)
                              | (np.int64(kind[i]) & 15))
            pos[b] += 1
    for bk in range(len(counts) - 1):
        base = bk << _SHIFT
        for j in range(counts[bk], counts[bk + 1]):
            x = packed[j]
            p = base + ((x >> 52) & _MASK)
            t = (x >> 32) & 0xFFFFF
            s = (x >> 12) & 0xFFFFF
            g = (x >> 4) & 255
            k = x & 15
            b = bin_of[t]
            sb = sbin_of[t] + 1
            low_b = b
            b += 1
            acc[sb, p, G_ANY] += 1
            if g < 10:
                v = g + 1
                acc90[b, p, G_NUM] += 1
                acc90[b, p, G_VAL] += v
                acc[sb, p, G_NUM] += 1
                acc[sb, p, G_VAL] += v
                acc[sb, p, G_T] += t
                acc[sb, p, G_T2] += t * t
                acc[sb, p, G_TV] += t * v
                subj[sb, p, s, S_NUM] += 1
                subj[sb, p, s, S_VAL] += v
                if v < low[p, low_b]:
                    low[p, low_b] = v
            elif g == 14:
                acc[sb, p, G_NV] += 1
            elif g <= 13:
                acc[sb, p, G_LVL] += 1
                if g == 10:
                    acc[sb, p, G_SLVL] += 1
            if k == 2 or k == 3:
                key = np.int32(((t + 1) << _CODE_BITS) | (g + 1))
                if key > subj[sb, p, s, S_LAST]:
                    subj[sb, p, s, S_LAST] = key
    _prefix(acc90)
    _prefix(acc)
    # per-bin values -> "everything before bin i" (prefix sums, latest so far)
    for i in range(1, n_sbins + 1):
        for p in range(n):
            for s in range(n_slots):
                subj[i, p, s, S_NUM] += subj[i - 1, p, s, S_NUM]
                subj[i, p, s, S_VAL] += subj[i - 1, p, s, S_VAL]
                if subj[i, p, s, S_LAST] < subj[i - 1, p, s, S_LAST]:
                    subj[i, p, s, S_LAST] = subj[i - 1, p, s, S_LAST]
    return acc90, acc, low, subj


# engagement: counts of each event code (0..6) before each bin, and per bin
# 1 + (day - lo) of the latest contact, 0 if none
N_EVENTS = 7


@njit(cache=True, nogil=True)
def engagement_pass(pupil, ticks, per_day, event, bin_of, lo, hi, n, n_bins):
    """Event counts before each bin (n_bins + 1, n, 7) and the latest contact per
    bin (n, n_bins); contact = login, message read, meeting attended, consultation.

    event codes: 0 parent_login, 1 message_read, 2 message_unanswered,
    3 meeting_invited, 4 meeting_attended, 5 consultation, 6 contact_failed.
    """
    out = np.zeros((n_bins + 1, n, N_EVENTS), dtype=np.int32)
    last = np.zeros((n, n_bins), dtype=np.int32)
    m = len(pupil)
    counts = np.zeros(_n_buckets(n) + 1, dtype=np.int64)
    for i in range(m):
        p = pupil[i]
        e = event[i]
        if p < 0 or e < 0 or e > 6:
            continue
        d = ticks[i] // per_day
        if lo <= d < hi:
            counts[(p >> _SHIFT) + 1] += 1
    packed = _scatter_alloc(counts)
    pos = counts[:-1].copy()
    for i in range(m):
        p = pupil[i]
        e = np.int64(event[i])
        if p < 0 or e < 0 or e > 6:
            continue
        d = ticks[i] // per_day
        if lo <= d < hi:
            b = p >> _SHIFT
            packed[pos[b]] = ((p & _MASK) << 40) | ((d - lo) << 8) | e
            pos[b] += 1
    for bk in range(len(counts) - 1):
        base = bk << _SHIFT
        for j in range(counts[bk], counts[bk + 1]):
            x = packed[j]
            p = base + ((x >> 40) & _MASK)
            t = (x >> 8) & 0xFFFFFFFF
            e = x & 255
            b = bin_of[t]
            out[b + 1, p, e] += 1
            if e == 0 or e == 1 or e == 4 or e == 5:
                c = np.int32(t + 1)
                if c > last[p, b]:
                    last[p, b] = c
    _prefix(out)
    return out, last


@njit(cache=True, nogil=True)
def grades_subjects(subj, rows, i_ys, i_a, first_day, core, pass_mark, nv_code, ni_code):
    """Per-subject summaries for the pupils ``rows`` over the bins ``[i_ys, i_a)``
    (numeric grades) and the latest term/year grade before bin ``i_a`` dated on or
    after ``first_day`` (relative to lo).  The last subject slot (grades without
    a subject) counts only in the core-subject sums if it is one of ``core``.

    Returns ``(core_num, core_val, counts)``: numeric grade count and sum of each
    subject slot in ``core`` (-1 = absent) as (R, len(core)) int64, and per pupil
    (R, 4) int64: named subjects with a mean below ``pass_mark``, named subjects
    whose mean rounds below ``pass_mark`` (mean < pass_mark - 1/2), named subjects
    with a latest term grade, and of those the ones failing (below
    ``pass_mark``, nv or ni).
    """
    R = len(rows)
    S = subj.shape[2]
    C = len(core)
    core_num = np.zeros((R, C), dtype=np.int64)
    core_val = np.zeros((R, C), dtype=np.int64)
    counts = np.zeros((R, 4), dtype=np.int64)
    for j in range(R):
        p = rows[j]
        below = 0
        proj = 0
        has_term = 0
        fail = 0
        for s in range(S):
            num = np.int64(subj[i_a, p, s, S_NUM]) - np.int64(subj[i_ys, p, s, S_NUM])
            val = np.int64(subj[i_a, p, s, S_VAL]) - np.int64(subj[i_ys, p, s, S_VAL])
            for c in range(C):
                if core[c] == s:
                    core_num[j, c] = num
                    core_val[j, c] = val
            if s == S - 1:  # grades without a subject: not a named subject
                continue
            if num > 0:
                if val < pass_mark * num:
                    below += 1
                if 2 * val < (2 * pass_mark - 1) * num:
                    proj += 1
            key = np.int64(subj[i_a, p, s, S_LAST])
            day = (key >> _CODE_BITS) - 1  # -1: none
            if day >= 0 and day >= first_day:
                code = (key & ((1 << _CODE_BITS) - 1)) - 1
                has_term += 1
                if code < pass_mark - 1 or code == nv_code or code == ni_code:
                    fail += 1
        counts[j, 0] = below
        counts[j, 1] = proj
        counts[j, 2] = has_term
        counts[j, 3] = fail
    return core_num, core_val, counts


@njit(cache=True, nogil=True)
def _prefix(acc):
    """In place over axis 0: per-bin values (bin b at index b + 1) -> sums before
    each index."""
    B1, n, Q = acc.shape
    for i in range(1, B1):
        for p in range(n):
            for q in range(Q):
                acc[i, p, q] += acc[i - 1, p, q]


@njit(cache=True, nogil=True)
def window_sums(C, rows, starts, ends):
    """``C[end, p] - C[start, p]`` (prefix sums over bins, bin-major) for each
    pupil ``p`` in ``rows`` (ascending: the reads stream) and each window
    ``(starts[w], ends[w])``: (W, Q, len(rows)) int64, so that each feature is a
    contiguous row."""
    R = len(rows)
    W = len(starts)
    Q = C.shape[2]
    out = np.empty((W, Q, R), dtype=np.int64)
    for w in range(W):
        i0 = starts[w]
        i1 = ends[w]
        for j in range(R):
            p = rows[j]
            for q in range(Q):
                out[w, q, j] = np.int64(C[i1, p, q]) - np.int64(C[i0, p, q])
    return out


@njit(cache=True, nogil=True)
def window_extreme(values, rows, i0, i1, empty, take_max):
    """Minimum (or maximum) of ``values[p, i0:i1]`` per pupil; ``empty`` if none."""
    out = np.full(len(rows), empty, dtype=np.int64)
    for j in range(len(rows)):
        p = rows[j]
        for b in range(i0, i1):
            v = np.int64(values[p, b])
            if take_max:
                if v > out[j]:
                    out[j] = v
            elif v < out[j]:
                out[j] = v
    return out

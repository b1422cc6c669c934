"""The compiled TreeSHAP kernels (private; numba).

Every kernel takes the model as two NamedTuples of arrays, a
:class:`~riskmodel.explain._model_text.ParsedModel` (``tr``: the trees) and a
:class:`~riskmodel.explain._plan.Plan` (``pl``: how each leaf and tree is
evaluated); numba resolves their fields at compile time, so this costs nothing in
the hot loops. The algorithm is described in :mod:`riskmodel.explain._treeshap`.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["ZERO_THRESHOLD", "build_group_tables", "build_key_tables", "build_tables", "shap_kernel"]

# LightGBM's kZeroThreshold is the float 1e-35f, compared in double precision.
ZERO_THRESHOLD = float(np.float32(1e-35))
_ALL_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)
_HASH_MULT = np.uint64(0x9E3779B97F4A7C15)


@numba.njit(cache=True, nogil=True)
def _leaf_phi(z, z_off, o_bits, m, value, pw, out):  # pragma: no cover - numba
    """Contributions of one leaf to its ``m`` path features for pattern ``o_bits``.

    The extend / unwind recursion of LightGBM's ``Tree::TreeSHAP`` on the merged
    unique path (a dummy root element with zero = one = 1 first).
    """
    pw[0] = 1.0
    for d in range(1, m + 1):
        zf = z[z_off + d - 1]
        of = float((o_bits >> np.uint64(d - 1)) & np.uint64(1))
        pw[d] = 0.0
        for i in range(d - 1, -1, -1):
            pw[i + 1] += of * pw[i] * (i + 1) / (d + 1.0)
            pw[i] = zf * pw[i] * (d - i) / (d + 1.0)
    for e in range(1, m + 1):
        zf = z[z_off + e - 1]
        of = float((o_bits >> np.uint64(e - 1)) & np.uint64(1))
        next_one = pw[m]
        total = 0.0
        for i in range(m - 1, -1, -1):
            if of != 0.0:
                tmp = next_one * (m + 1) / ((i + 1) * of)
                total += tmp
                next_one = pw[i] - tmp * zf * ((m - i) / (m + 1.0))
            else:
                total += (pw[i] / zf) / ((m - i) / (m + 1.0))
        out[e - 1] = total * (of - zf) * value


@numba.njit(parallel=True, cache=True)
def build_tables(tr, leaf_ids, tab_off, tab):  # pragma: no cover - numba
    """Fill ``tab``: per leaf of ``leaf_ids``, its contributions for all ``2**m`` patterns."""
    max_m = max(tr.max_m, 1)
    for k in numba.prange(leaf_ids.shape[0]):
        leaf = leaf_ids[k]
        m = tr.leaf_m[leaf]
        pw = np.empty(max_m + 2)
        out = np.empty(max_m + 1)
        base = tab_off[leaf]
        for s in range(1 << m):
            _leaf_phi(tr.lf_z, tr.lf_off[leaf], np.uint64(s), m, tr.leaf_value[leaf], pw, out)
            for j in range(m):
                tab[base + s * m + j] = out[j]


@numba.njit(cache=True, nogil=True, inline="always")
def _go_left(tr, X, r, g):  # pragma: no cover - numba
    """LightGBM's ``Tree::Decision`` for sample ``r`` at internal node ``g``."""
    fval = X[r, tr.feat[g]]
    if tr.is_cat[g]:
        if np.isnan(fval):
            return False
        iv = np.int64(fval)
        if iv < 0:
            return False
        w = iv >> 5
        if w >= tr.cat_hi[g] - tr.cat_lo[g]:
            return False
        word = tr.cat_bits[tr.cat_lo[g] + w]
        return ((word >> np.uint32(iv & 31)) & np.uint32(1)) == np.uint32(1)
    mt = tr.missing_type[g]
    if mt != 2 and np.isnan(fval):
        fval = 0.0
    if (mt == 1 and fval >= -ZERO_THRESHOLD and fval <= ZERO_THRESHOLD) or (mt == 2 and np.isnan(fval)):
        return tr.default_left[g] == 1
    return fval <= tr.thr[g]


@numba.njit(cache=True, nogil=True, inline="always")
def _children(tr, g, s, goes_left):  # pragma: no cover - numba
    """Patterns of satisfied path features below node ``g`` (left, right), from its own ``s``.

    The side a sample takes keeps ``s``; the other side clears the bit of the node's
    feature (that feature's split is not satisfied on the way there).
    """
    cleared = s & (_ALL_ONES ^ tr.slot_bit[g])
    if goes_left:
        return s, cleared
    return cleared, s


@numba.njit(cache=True, nogil=True)
def _leaf_add(tr, pl, leaf, s, index, dst, pw, buf, fq):  # pragma: no cover - numba
    """Add leaf ``leaf``'s contributions for pattern ``s`` to ``dst[index[slot]]``."""
    m = tr.leaf_m[leaf]
    fo = tr.lf_off[leaf]
    mode = pl.leaf_mode[leaf]
    if mode == 0:
        base = pl.tab_off[leaf] + np.int64(s & ((_ONE << np.uint64(m)) - _ONE)) * m
        for j in range(m):
            dst[index[fo + j]] += pl.tab[base + j]
    elif mode == 1:
        v = tr.leaf_value[leaf]
        nq = pl.q_n[leaf]
        qo = pl.q_off[leaf]
        go = pl.g_off[leaf]
        for q in range(nq):
            fq[q] = pl.q_w[qo + q]
        for j in range(m):
            gb = go + j * nq
            if (s >> np.uint64(j)) & _ONE:
                for q in range(nq):
                    fq[q] *= pl.g1[gb + q]
            else:
                for q in range(nq):
                    fq[q] *= pl.g0[gb + q]
        for j in range(m):
            gb = go + j * nq
            acc = 0.0
            if (s >> np.uint64(j)) & _ONE:
                for q in range(nq):
                    acc += fq[q] * pl.ig1[gb + q]
                dst[index[fo + j]] += v * (1.0 - tr.lf_z[fo + j]) * acc
            else:
                for q in range(nq):
                    acc += fq[q] * pl.ig0[gb + q]
                dst[index[fo + j]] -= v * tr.lf_z[fo + j] * acc
    else:
        _leaf_phi(tr.lf_z, fo, s, m, tr.leaf_value[leaf], pw, buf)
        for j in range(m):
            dst[index[fo + j]] += buf[j]


@numba.njit(cache=True, nogil=True)
def _add_tree(tr, pl, t, goes_left, index, dst, s_loc, pw, buf, fq):  # pragma: no cover - numba
    """Add tree ``t``'s contributions for one vector of split decisions to ``dst[index[slot]]``.

    ``goes_left[k]`` is the decision at the tree's ``k``-th internal node.
    """
    g0_ = tr.node_off[t]
    l0 = tr.leaf_off[t]
    s_loc[0] = _ALL_ONES
    for k in range(tr.node_off[t + 1] - g0_):
        g = g0_ + k
        s_l, s_r = _children(tr, g, s_loc[k], goes_left[k])
        c = tr.left[g]
        if c >= 0:
            s_loc[c] = s_l
        else:
            _leaf_add(tr, pl, l0 - c - 1, s_l, index, dst, pw, buf, fq)
        c = tr.right[g]
        if c >= 0:
            s_loc[c] = s_r
        else:
            _leaf_add(tr, pl, l0 - c - 1, s_r, index, dst, pw, buf, fq)


@numba.njit(parallel=True, cache=True)
def build_key_tables(tr, pl, trees, kt_off, kt):  # pragma: no cover - numba
    """Fill ``kt``: tree contributions for every vector of split decisions of small trees.

    ``pl`` needs its leaf fields (``leaf_mode`` to ``lf_local``); its key-table and
    group fields are not read.
    """
    max_internal = max(tr.max_internal, 1)
    max_m = max(tr.max_m, 1)
    for i in numba.prange(trees.shape[0]):
        t = trees[i]
        n_int = tr.node_off[t + 1] - tr.node_off[t]
        ntf = pl.tf_off[t + 1] - pl.tf_off[t]
        s_loc = np.empty(max_internal + 1, dtype=np.uint64)
        goes_left = np.empty(max_internal, dtype=np.bool_)
        pw = np.empty(max_m + 2)
        buf = np.empty(max_m + 1)
        fq = np.empty(max_m + 2)
        for key in range(1 << n_int):
            row = kt[kt_off[t] + key * ntf : kt_off[t] + (key + 1) * ntf]
            row[:] = 0.0
            for k in range(n_int):
                goes_left[k] = (key >> k) & 1 == 1
            _add_tree(tr, pl, t, goes_left, pl.lf_local, row, s_loc, pw, buf, fq)


@numba.njit(parallel=True, cache=True)
def build_group_tables(tr, pl, groups, gr_tree, gt_off, gb_off, gb_pos, gt):  # pragma: no cover
    """Fill ``gt``: a group's contributions for every packed key of its ``gb_pos`` splits.

    ``pl`` needs its leaf and group fields (``gl_off`` to ``lf_glocal``); the splits
    outside a group's key do not change its leaves' patterns, so they are left 0.
    """
    max_internal = max(tr.max_internal, 1)
    max_m = max(tr.max_m, 1)
    for k in numba.prange(groups.shape[0]):
        gi = groups[k]
        t = gr_tree[gi]
        g0_ = tr.node_off[t]
        n_int = tr.node_off[t + 1] - g0_
        l0 = tr.leaf_off[t]
        nb = gb_off[gi + 1] - gb_off[gi]
        ngf = pl.gf_off[gi + 1] - pl.gf_off[gi]
        s_loc = np.empty(max_internal + 1, dtype=np.uint64)
        pat = np.empty(max_internal + 1, dtype=np.uint64)
        pw = np.empty(max_m + 2)
        buf = np.empty(max_m + 1)
        fq = np.empty(max_m + 2)
        for c in range(1 << nb):
            key = _ZERO
            for b in range(nb):
                if (c >> b) & 1:
                    key |= _ONE << np.uint64(gb_pos[gb_off[gi] + b])
            s_loc[0] = _ALL_ONES
            for kk in range(n_int):
                g = g0_ + kk
                s_l, s_r = _children(tr, g, s_loc[kk], (key >> np.uint64(kk)) & _ONE)
                ch = tr.left[g]
                if ch >= 0:
                    s_loc[ch] = s_l
                else:
                    pat[-ch - 1] = s_l
                ch = tr.right[g]
                if ch >= 0:
                    s_loc[ch] = s_r
                else:
                    pat[-ch - 1] = s_r
            row = gt[gt_off[gi] + c * ngf : gt_off[gi] + (c + 1) * ngf]
            row[:] = 0.0
            for li in range(pl.gl_off[gi], pl.gl_off[gi + 1]):
                ll = pl.gl_leaf[li]
                _leaf_add(tr, pl, l0 + ll, pat[ll], pl.lf_glocal, row, pw, buf, fq)


@numba.njit(parallel=True, cache=True)
def shap_kernel(tr, pl, X, XT, block, out):  # pragma: no cover - numba
    """Add every sample's contributions to ``out`` (blocks of ``block`` rows in parallel).

    Step 3 walks a tree's nodes once more instead of calling ``_add_tree``: there
    the leaves' patterns are collected for all distinct keys first and then added
    leaf by leaf (each leaf's table stays in cache), and the table lookup of mode-0
    leaves repeats the first branch of ``_leaf_add`` to keep the loop over distinct
    keys innermost. Merging either into the shared functions would branch inside the
    hot loop.
    """
    n = X.shape[0]
    n_feat = X.shape[1]
    n_trees = tr.node_off.shape[0] - 1
    n_blocks = (n + block - 1) // block
    max_internal = max(tr.max_internal, 1)
    max_leaves = max(tr.max_internal + 1, 1)
    max_m = max(tr.max_m, 1)
    max_tf = pl.max_tf
    cap_bits = 1
    while (1 << cap_bits) < 2 * block:
        cap_bits += 1
    cap = 1 << cap_bits
    shift = np.uint64(64 - cap_bits)
    for b in numba.prange(n_blocks):
        r0 = b * block
        r1 = min(n, r0 + block)
        nb = r1 - r0
        s_loc = np.empty(max_internal + 1, dtype=np.uint64)
        goes_left = np.empty(max_internal, dtype=np.bool_)
        pw = np.empty(max_m + 2)
        buf = np.empty(max_m + 1)
        fq = np.empty(max_m + 2)
        keys = np.empty(nb, dtype=np.uint64)
        uid = np.empty(nb, dtype=np.int64)
        uniq = np.empty(nb, dtype=np.uint64)
        ht_key = np.empty(cap, dtype=np.uint64)
        ht_val = np.empty(cap, dtype=np.int64)
        ht_stamp = np.zeros(cap, dtype=np.int64)
        phi_u = np.empty((nb, max_tf))
        pat = np.empty((max_leaves, nb), dtype=np.uint64)
        out_t = np.zeros((n_feat, nb))
        stamp = 0
        for t in range(n_trees):
            g0_ = tr.node_off[t]
            n_int = tr.node_off[t + 1] - g0_
            if n_int == 0:
                continue
            l0 = tr.leaf_off[t]
            t0 = pl.tf_off[t]
            ntf = pl.tf_off[t + 1] - t0
            if n_int > 64:
                # very large trees: no decision key, every sample on its own
                for r in range(r0, r1):
                    for k in range(n_int):
                        goes_left[k] = _go_left(tr, X, r, g0_ + k)
                    _add_tree(tr, pl, t, goes_left, tr.lf_feat, out[r], s_loc, pw, buf, fq)
                continue
            # 1. every sample's vector of split decisions as a 64-bit key, one split
            #    at a time over a contiguous column (vectorised by LLVM)
            for i in range(nb):
                keys[i] = _ZERO
            for k in range(n_int):
                g = g0_ + k
                bit = _ONE << np.uint64(k)
                if tr.is_cat[g]:
                    for i in range(nb):
                        if _go_left(tr, X, r0 + i, g):
                            keys[i] |= bit
                    continue
                col = XT[tr.feat[g]]
                th = tr.thr[g]
                nl = bit if tr.nan_left[g] else _ZERO
                if tr.missing_type[g] == 1:
                    dl = bit if tr.default_left[g] else _ZERO
                    for i in range(nb):
                        f = col[r0 + i]
                        if f != f:
                            keys[i] |= nl
                        elif f >= -ZERO_THRESHOLD and f <= ZERO_THRESHOLD:
                            keys[i] |= dl
                        elif f <= th:
                            keys[i] |= bit
                else:
                    for i in range(nb):
                        f = col[r0 + i]
                        keys[i] |= nl if f != f else (bit if f <= th else _ZERO)
            if pl.kt_off[t] >= 0:
                # 2a. small tree: contributions looked up by key
                kb = pl.kt_off[t]
                for j in range(ntf):
                    row = out_t[pl.tf_feat[t0 + j]]
                    for i in range(nb):
                        row[i] += pl.kt[kb + np.int64(keys[i]) * ntf + j]
                continue
            # 2b. larger tree, each group (a subtree and the splits above it) on its own:
            #     the leaves of a group depend only on its own and its ancestors'
            #     splits, so a group sees far fewer distinct keys than the whole tree
            for gi in range(pl.gr_off[t], pl.gr_off[t + 1]):
                gf0 = pl.gf_off[gi]
                ngf = pl.gf_off[gi + 1] - gf0
                if pl.gt_off[gi] >= 0:
                    # a small group: contributions looked up by its packed key
                    b0 = pl.gb_off[gi]
                    nbits = pl.gb_off[gi + 1] - b0
                    for i in range(nb):
                        uid[i] = 0
                    for q in range(nbits):
                        sh = np.uint64(pl.gb_pos[b0 + q])
                        for i in range(nb):
                            uid[i] |= np.int64((keys[i] >> sh) & _ONE) << q
                    gb = pl.gt_off[gi]
                    for j in range(ngf):
                        row = out_t[pl.gf_feat[gf0 + j]]
                        for i in range(nb):
                            row[i] += pl.gt[gb + uid[i] * ngf + j]
                    continue
                gmask = pl.gr_mask[gi]
                stamp += 1
                nu = 0
                for i in range(nb):
                    key = keys[i] & gmask
                    h = np.int64((key * _HASH_MULT) >> shift)
                    while True:
                        if ht_stamp[h] != stamp:
                            ht_stamp[h] = stamp
                            ht_key[h] = key
                            ht_val[h] = nu
                            uniq[nu] = key
                            uid[i] = nu
                            nu += 1
                            break
                        if ht_key[h] == key:
                            uid[i] = ht_val[h]
                            break
                        h = (h + 1) & (cap - 1)
                # 3. contributions once per distinct key: every leaf's pattern of
                #    satisfied path features, then leaf by leaf (its table stays cached)
                for u in range(nu):
                    key = uniq[u]
                    s_loc[0] = _ALL_ONES
                    for k in range(n_int):
                        g = g0_ + k
                        s_l, s_r = _children(tr, g, s_loc[k], (key >> np.uint64(k)) & _ONE)
                        c = tr.left[g]
                        if c >= 0:
                            s_loc[c] = s_l
                        else:
                            pat[-c - 1, u] = s_l
                        c = tr.right[g]
                        if c >= 0:
                            s_loc[c] = s_r
                        else:
                            pat[-c - 1, u] = s_r
                for u in range(nu):
                    for j in range(ngf):
                        phi_u[u, j] = 0.0
                for li in range(pl.gl_off[gi], pl.gl_off[gi + 1]):
                    ll = pl.gl_leaf[li]
                    leaf = l0 + ll
                    pat_l = pat[ll]
                    if pl.leaf_mode[leaf] == 0:
                        m = tr.leaf_m[leaf]
                        fo = tr.lf_off[leaf]
                        to = pl.tab_off[leaf]
                        mask = (_ONE << np.uint64(m)) - _ONE
                        for u in range(nu):
                            base = to + np.int64(pat_l[u] & mask) * m
                            for j in range(m):
                                phi_u[u, pl.lf_glocal[fo + j]] += pl.tab[base + j]
                    else:
                        for u in range(nu):
                            _leaf_add(tr, pl, leaf, pat_l[u], pl.lf_glocal, phi_u[u], pw, buf, fq)
                # 4. scatter to the samples
                for j in range(ngf):
                    row = out_t[pl.gf_feat[gf0 + j]]
                    for i in range(nb):
                        row[i] += phi_u[uid[i], j]
        for i in range(nb):
            orow = out[r0 + i]
            for f in range(n_feat):
                orow[f] += out_t[f, i]

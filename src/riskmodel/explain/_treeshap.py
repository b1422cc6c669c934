"""Fast exact path-dependent TreeSHAP for LightGBM boosters (numba).

The algorithm
-------------
Path-dependent TreeSHAP (Lundberg et al. 2020, the algorithm behind LightGBM's
``pred_contrib``) attributes each leaf ``l`` of a tree to the *unique* features on
its root-to-leaf path.  For such a feature ``i`` two numbers matter: its zero
fraction ``z_i`` (the product of the training-count ratios of the path's splits on
``i``, fixed per leaf) and its one fraction ``o_i`` (1 when the sample satisfies
every split on ``i`` along the path, else 0).  The leaf's contribution is a fixed
function of the bit pattern ``o`` — at most ``2**m`` patterns for ``m`` unique
path features.  So this module

1. parses the model once (from its text form, cached by a hash of it) into flat
   arrays, merging repeated features on each path (``z`` multiplied, slots
   assigned in order of first occurrence, as LightGBM's ``UnwindPath`` does);
2. precomputes, per leaf, the contributions for *every* pattern ``o`` (tables of
   ``2**m x m`` doubles, the idea of Fast TreeSHAP v2, Yang 2022) with the very
   same extend / unwind recursion as LightGBM, so that the numbers agree to
   rounding; leaves with more than ``_MAX_TABLE_M`` unique path features use an
   exact Gauss-Legendre form of the Shapley weights instead (see ``_plan``);
3. observes that a sample's contributions in a tree depend only on its vector of
   split decisions (one bit per internal node, evaluated exactly as LightGBM's
   ``Decision``: missing types None / Zero / NaN, ``default_left``, categorical
   bitsets).  The bits are computed one split at a time over a contiguous column
   (vectorised).  Trees with at most ``_MAX_KEY_BITS`` splits get a table over all
   decision vectors; larger trees are cut into the subtrees at depth
   ``_GROUP_DEPTH``, whose leaves depend only on their own and their ancestors'
   splits, and the distinct (masked) decision vectors of a block of samples are
   found with a hash table — because LightGBM bins features and each tree uses a
   few thresholds, a block of thousands of pupils has few distinct vectors — so
   the leaf work is done once per distinct vector and scattered to the samples;
4. runs over blocks of samples in parallel (``numba.prange``).

Everything is exact (no approximation): the tests compare with ``pred_contrib``
to 1e-9 on many model shapes.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numba
import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["tree_shap"]

# LightGBM's kZeroThreshold is the float 1e-35f, compared in double precision.
_ZERO_THRESHOLD = float(np.float32(1e-35))
_MAX_TABLE_M = 12  # largest number of unique path features that gets a table
_MAX_SLOTS = 63  # patterns are held in uint64 bit masks
_MAX_KEY_BITS = 10  # trees with at most this many splits get a decision-vector table
_GROUP_DEPTH = 2  # trees without a decision table are split into the subtrees at this depth
_BLOCK = 16384  # largest block of samples handled (and deduplicated) together
_CACHE_SIZE = 4


@dataclass(frozen=True)
class _ParsedModel:
    n_features: int
    base_value: float
    # internal nodes (global index), per tree offsets
    node_off: np.ndarray  # int64 (n_trees + 1)
    feat: np.ndarray  # int64
    thr: np.ndarray  # float64
    default_left: np.ndarray  # uint8
    missing_type: np.ndarray  # uint8: 0 None, 1 Zero, 2 NaN
    is_cat: np.ndarray  # uint8
    nan_left: np.ndarray  # uint8: where a NaN goes at a numerical split
    cat_lo: np.ndarray  # int64 start in cat_bits
    cat_hi: np.ndarray  # int64 end in cat_bits
    cat_bits: np.ndarray  # uint32
    left: np.ndarray  # int64, local child (>= 0 internal, < 0 leaf as ~leaf)
    right: np.ndarray  # int64
    slot_bit: np.ndarray  # uint64, 1 << slot of the node's feature on its path
    # leaves (global index)
    leaf_off: np.ndarray  # int64 (n_trees + 1)
    leaf_value: np.ndarray  # float64
    leaf_m: np.ndarray  # int64 number of unique path features
    lf_off: np.ndarray  # int64 (n_leaves + 1) offsets into lf_feat / lf_z
    lf_feat: np.ndarray  # int64 feature of each slot
    lf_z: np.ndarray  # float64 zero fraction of each slot
    max_internal: int
    max_m: int


class _Unsupported(Exception):
    """The model has a form the fast path does not handle (use pred_contrib)."""


_CACHE: OrderedDict = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _parse_model(model_str: str) -> _ParsedModel:
    """Parse LightGBM's model text into flat arrays (see the module docstring)."""
    header: dict[str, str] = {}
    trees: list[dict[str, str]] = []
    current = header
    for line in model_str.splitlines():
        if line.startswith("Tree="):
            current = {}
            trees.append(current)
            continue
        if line.startswith("end of trees"):
            break
        key, sep, value = line.partition("=")
        if sep:
            current[key] = value
    if int(header.get("num_tree_per_iteration", "1")) != 1:
        raise _Unsupported("multiclass models (num_tree_per_iteration > 1)")
    if "average_output" in header or "average_output" in model_str.split("Tree=", 1)[0]:
        raise _Unsupported("random-forest models (average_output)")
    n_features = int(header["max_feature_idx"]) + 1

    feat, thr, dleft, mtype, iscat, nanleft = [], [], [], [], [], []
    cat_lo, cat_hi, left, right, slot_bit = [], [], [], [], []
    cat_bits: list[np.ndarray] = []
    n_cat_words = 0
    node_off = [0]
    leaf_off = [0]
    leaf_value, leaf_m, lf_feat, lf_z = [], [], [], []
    lf_off = [0]
    base_value = 0.0
    max_internal = 0
    max_m = 0
    for tree in trees:
        if tree.get("is_linear", "0") != "0":
            raise _Unsupported("linear trees (linear_tree=True)")
        n_leaves = int(tree["num_leaves"])
        values = np.array(tree["leaf_value"].split(" "), dtype=np.float64)
        if n_leaves == 1:
            base_value += float(values[0])
            leaf_value.append(float(values[0]))
            leaf_m.append(0)
            lf_off.append(lf_off[-1])
            node_off.append(node_off[-1])
            leaf_off.append(leaf_off[-1] + 1)
            continue
        n_int = n_leaves - 1
        sf = np.array(tree["split_feature"].split(" "), dtype=np.int64)
        th = np.array(tree["threshold"].split(" "), dtype=np.float64)
        dt = np.array(tree["decision_type"].split(" "), dtype=np.int64)
        lc = np.array(tree["left_child"].split(" "), dtype=np.int64)
        rc = np.array(tree["right_child"].split(" "), dtype=np.int64)
        leaf_count = np.array(tree["leaf_count"].split(" "), dtype=np.float64)
        int_count = np.array(tree["internal_count"].split(" "), dtype=np.float64)
        # tree's expected value exactly as LightGBM's Tree::ExpectedValue
        total = int_count[0]
        exp_value = 0.0
        for i in range(n_leaves):
            exp_value += (leaf_count[i] / total) * values[i]
        base_value += exp_value
        # categorical bitsets
        tree_cat_lo = np.zeros(n_int, dtype=np.int64)
        tree_cat_hi = np.zeros(n_int, dtype=np.int64)
        is_cat_tree = (dt & 1).astype(bool)
        if is_cat_tree.any():
            bounds = np.array(tree["cat_boundaries"].split(" "), dtype=np.int64)
            words = np.array(tree["cat_threshold"].split(" "), dtype=np.uint64).astype(np.uint32)
            idx = th[is_cat_tree].astype(np.int64)
            tree_cat_lo[is_cat_tree] = n_cat_words + bounds[idx]
            tree_cat_hi[is_cat_tree] = n_cat_words + bounds[idx + 1]
            cat_bits.append(words)
            n_cat_words += len(words)
        # walk paths: slots by first occurrence, zero fractions merged per feature
        def count(child: int) -> float:
            return leaf_count[~child] if child < 0 else int_count[child]

        tree_slot_bit = np.zeros(n_int, dtype=np.uint64)
        tree_leaf_m = np.zeros(n_leaves, dtype=np.int64)
        tree_leaf_feats: list[list[int]] = [[] for _ in range(n_leaves)]
        tree_leaf_z: list[list[float]] = [[] for _ in range(n_leaves)]
        # stack of (node, features-on-path list, zero fractions list)
        stack: list[tuple[int, list[int], list[float]]] = [(0, [], [])]
        while stack:
            node, feats, zs = stack.pop()
            f = int(sf[node])
            if f in feats:
                slot = feats.index(f)
            else:
                slot = len(feats)
                feats = feats + [f]
                zs = zs + [1.0]
            if slot >= _MAX_SLOTS:
                raise _Unsupported(f"a path with more than {_MAX_SLOTS} unique features")
            tree_slot_bit[node] = np.uint64(1) << np.uint64(slot)
            w = int_count[node]
            for child in (int(lc[node]), int(rc[node])):
                z_child = list(zs)
                z_child[slot] = (count(child) / w) * zs[slot]
                if child < 0:
                    leaf = ~child
                    tree_leaf_m[leaf] = len(feats)
                    tree_leaf_feats[leaf] = feats
                    tree_leaf_z[leaf] = z_child
                else:
                    stack.append((child, feats, z_child))
        for leaf in range(n_leaves):
            leaf_value.append(float(values[leaf]))
            leaf_m.append(int(tree_leaf_m[leaf]))
            lf_feat.extend(tree_leaf_feats[leaf])
            lf_z.extend(tree_leaf_z[leaf])
            lf_off.append(lf_off[-1] + int(tree_leaf_m[leaf]))
        max_m = max(max_m, int(tree_leaf_m.max()))
        max_internal = max(max_internal, n_int)
        feat.append(sf)
        thr.append(th)
        dleft.append(((dt >> 1) & 1).astype(np.uint8))
        # NaN: to the default side for missing types Zero (NaN -> 0) and NaN,
        # compared as 0.0 for missing type None
        mt_tree = (dt >> 2) & 3
        nanleft.append(np.where(mt_tree == 0, 0.0 <= th, ((dt >> 1) & 1) == 1).astype(np.uint8))
        mtype.append(((dt >> 2) & 3).astype(np.uint8))
        iscat.append(is_cat_tree.astype(np.uint8))
        cat_lo.append(tree_cat_lo)
        cat_hi.append(tree_cat_hi)
        left.append(lc)
        right.append(rc)
        slot_bit.append(tree_slot_bit)
        node_off.append(node_off[-1] + n_int)
        leaf_off.append(leaf_off[-1] + n_leaves)

    def cat(parts, dtype):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    if feat and int(np.concatenate(feat).max()) >= n_features:
        raise _Unsupported("a split feature beyond max_feature_idx")
    return _ParsedModel(
        n_features=n_features,
        base_value=float(base_value),
        node_off=np.asarray(node_off, dtype=np.int64),
        feat=cat(feat, np.int64),
        thr=cat(thr, np.float64),
        default_left=cat(dleft, np.uint8),
        missing_type=cat(mtype, np.uint8),
        is_cat=cat(iscat, np.uint8),
        nan_left=cat(nanleft, np.uint8),
        cat_lo=cat(cat_lo, np.int64),
        cat_hi=cat(cat_hi, np.int64),
        cat_bits=cat(cat_bits, np.uint32),
        left=cat(left, np.int64),
        right=cat(right, np.int64),
        slot_bit=cat(slot_bit, np.uint64),
        leaf_off=np.asarray(leaf_off, dtype=np.int64),
        leaf_value=np.asarray(leaf_value, dtype=np.float64),
        leaf_m=np.asarray(leaf_m, dtype=np.int64),
        lf_off=np.asarray(lf_off, dtype=np.int64),
        lf_feat=np.asarray(lf_feat, dtype=np.int64),
        lf_z=np.asarray(lf_z, dtype=np.float64),
        max_internal=max_internal,
        max_m=max_m,
    )


# --------------------------------------------------------------------------- kernels


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
def _build_tables(leaf_ids, tab_off, leaf_m, lf_off, lf_z, leaf_value, tab, max_m):  # pragma: no cover
    for k in numba.prange(leaf_ids.shape[0]):
        leaf = leaf_ids[k]
        m = leaf_m[leaf]
        pw = np.empty(max_m + 2)
        out = np.empty(max_m + 1)
        base = tab_off[leaf]
        for s in range(1 << m):
            _leaf_phi(lf_z, lf_off[leaf], np.uint64(s), m, leaf_value[leaf], pw, out)
            for j in range(m):
                tab[base + s * m + j] = out[j]


@numba.njit(cache=True, nogil=True, inline="always")
def _go_left(
    X, r, g, feat, thr, default_left, missing_type, is_cat, cat_lo, cat_hi, cat_bits, zero_threshold
):  # pragma: no cover - numba
    """LightGBM's ``Tree::Decision`` for sample ``r`` at internal node ``g``."""
    fval = X[r, feat[g]]
    if is_cat[g]:
        if np.isnan(fval):
            return False
        iv = np.int64(fval)
        if iv < 0:
            return False
        w = iv >> 5
        if w >= cat_hi[g] - cat_lo[g]:
            return False
        word = cat_bits[cat_lo[g] + w]
        return ((word >> np.uint32(iv & 31)) & np.uint32(1)) == np.uint32(1)
    mt = missing_type[g]
    if mt != 2 and np.isnan(fval):
        fval = 0.0
    if (mt == 1 and fval >= -zero_threshold and fval <= zero_threshold) or (mt == 2 and np.isnan(fval)):
        return default_left[g] == 1
    return fval <= thr[g]


@numba.njit(cache=True, nogil=True)
def _leaf_add(
    leaf, s, leaf_m, lf_off, lf_z, leaf_value, leaf_mode, tab_off, tab,
    q_n, q_off, q_w, g_off, g0, g1, ig0, ig1, index, dst, pw, buf, fq,
):  # pragma: no cover - numba
    """Add leaf ``leaf``'s contributions for pattern ``s`` to ``dst[index[slot]]``."""
    one = np.uint64(1)
    m = leaf_m[leaf]
    fo = lf_off[leaf]
    mode = leaf_mode[leaf]
    if mode == 0:
        base = tab_off[leaf] + np.int64(s & ((one << np.uint64(m)) - one)) * m
        for j in range(m):
            dst[index[fo + j]] += tab[base + j]
    elif mode == 1:
        v = leaf_value[leaf]
        nq = q_n[leaf]
        qo = q_off[leaf]
        go = g_off[leaf]
        for q in range(nq):
            fq[q] = q_w[qo + q]
        for j in range(m):
            gb = go + j * nq
            if (s >> np.uint64(j)) & one:
                for q in range(nq):
                    fq[q] *= g1[gb + q]
            else:
                for q in range(nq):
                    fq[q] *= g0[gb + q]
        for j in range(m):
            gb = go + j * nq
            acc = 0.0
            if (s >> np.uint64(j)) & one:
                for q in range(nq):
                    acc += fq[q] * ig1[gb + q]
                dst[index[fo + j]] += v * (1.0 - lf_z[fo + j]) * acc
            else:
                for q in range(nq):
                    acc += fq[q] * ig0[gb + q]
                dst[index[fo + j]] -= v * lf_z[fo + j] * acc
    else:
        _leaf_phi(lf_z, fo, s, m, leaf_value[leaf], pw, buf)
        for j in range(m):
            dst[index[fo + j]] += buf[j]


@numba.njit(parallel=True, cache=True)
def _build_key_tables(
    trees, kt_off, node_off, left, right, slot_bit, leaf_off, leaf_value, leaf_m, lf_off, lf_z,
    leaf_mode, tab_off, tab, q_n, q_off, q_w, g_off, g0, g1, ig0, ig1, tf_off, lf_local,
    max_internal, max_m, kt,
):  # pragma: no cover - numba
    """Tree contributions for every vector of split decisions of small trees."""
    all_ones = np.uint64(0xFFFFFFFFFFFFFFFF)
    one = np.uint64(1)
    for i in numba.prange(trees.shape[0]):
        t = trees[i]
        g0_ = node_off[t]
        n_int = node_off[t + 1] - g0_
        l0 = leaf_off[t]
        ntf = tf_off[t + 1] - tf_off[t]
        s_loc = np.empty(max_internal + 1, dtype=np.uint64)
        pw = np.empty(max_m + 2)
        buf = np.empty(max_m + 1)
        fq = np.empty(max_m + 2)
        for key in range(1 << n_int):
            row = kt[kt_off[t] + key * ntf : kt_off[t] + (key + 1) * ntf]
            row[:] = 0.0
            ukey = np.uint64(key)
            s_loc[0] = all_ones
            for k in range(n_int):
                g = g0_ + k
                sk = s_loc[k]
                cleared = sk & (all_ones ^ slot_bit[g])
                if (ukey >> np.uint64(k)) & one:
                    s_l = sk
                    s_r = cleared
                else:
                    s_l = cleared
                    s_r = sk
                c = left[g]
                if c >= 0:
                    s_loc[c] = s_l
                else:
                    _leaf_add(l0 - c - 1, s_l, leaf_m, lf_off, lf_z, leaf_value, leaf_mode,
                              tab_off, tab, q_n, q_off, q_w, g_off, g0, g1, ig0, ig1,
                              lf_local, row, pw, buf, fq)
                c = right[g]
                if c >= 0:
                    s_loc[c] = s_r
                else:
                    _leaf_add(l0 - c - 1, s_r, leaf_m, lf_off, lf_z, leaf_value, leaf_mode,
                              tab_off, tab, q_n, q_off, q_w, g_off, g0, g1, ig0, ig1,
                              lf_local, row, pw, buf, fq)


@numba.njit(parallel=True, cache=True)
def _shap_kernel(
    X, XT, node_off, feat, thr, default_left, missing_type, is_cat, cat_lo, cat_hi, cat_bits,
    nan_left, left, right, slot_bit, leaf_off, leaf_value, leaf_m, lf_off, lf_feat, lf_z,
    leaf_mode, tab_off, tab, q_n, q_off, q_w, g_off, g0, g1, ig0, ig1, tf_off, tf_feat, lf_local,
    kt_off, kt, gr_off, gr_mask, gl_off, gl_leaf, gf_off, gf_feat, lf_glocal,
    max_internal, max_leaves, max_m, max_tf, zero_threshold, block, out,
):  # pragma: no cover - numba
    n = X.shape[0]
    n_feat = X.shape[1]
    n_trees = node_off.shape[0] - 1
    n_blocks = (n + block - 1) // block
    all_ones = np.uint64(0xFFFFFFFFFFFFFFFF)
    one = np.uint64(1)
    zero = np.uint64(0)
    mult = np.uint64(0x9E3779B97F4A7C15)
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
            g0_ = node_off[t]
            n_int = node_off[t + 1] - g0_
            if n_int == 0:
                continue
            l0 = leaf_off[t]
            t0 = tf_off[t]
            ntf = tf_off[t + 1] - t0
            if n_int > 64:
                # very large trees: no decision key, every sample on its own
                for r in range(r0, r1):
                    orow = out[r]
                    s_loc[0] = all_ones
                    for k in range(n_int):
                        g = g0_ + k
                        sk = s_loc[k]
                        cleared = sk & (all_ones ^ slot_bit[g])
                        if _go_left(X, r, g, feat, thr, default_left, missing_type,
                                    is_cat, cat_lo, cat_hi, cat_bits, zero_threshold):
                            s_l = sk
                            s_r = cleared
                        else:
                            s_l = cleared
                            s_r = sk
                        c = left[g]
                        if c >= 0:
                            s_loc[c] = s_l
                        else:
                            _leaf_add(l0 - c - 1, s_l, leaf_m, lf_off, lf_z, leaf_value, leaf_mode,
                                      tab_off, tab, q_n, q_off, q_w, g_off, g0, g1, ig0, ig1,
                                      lf_feat, orow, pw, buf, fq)
                        c = right[g]
                        if c >= 0:
                            s_loc[c] = s_r
                        else:
                            _leaf_add(l0 - c - 1, s_r, leaf_m, lf_off, lf_z, leaf_value, leaf_mode,
                                      tab_off, tab, q_n, q_off, q_w, g_off, g0, g1, ig0, ig1,
                                      lf_feat, orow, pw, buf, fq)
                continue
            # 1. every sample's vector of split decisions as a 64-bit key, one split
            #    at a time over a contiguous column (vectorised by LLVM)
            for i in range(nb):
                keys[i] = zero
            for k in range(n_int):
                g = g0_ + k
                bit = one << np.uint64(k)
                if is_cat[g]:
                    for i in range(nb):
                        if _go_left(X, r0 + i, g, feat, thr, default_left, missing_type,
                                    is_cat, cat_lo, cat_hi, cat_bits, zero_threshold):
                            keys[i] |= bit
                    continue
                col = XT[feat[g]]
                th = thr[g]
                nl = bit if nan_left[g] else zero
                if missing_type[g] == 1:
                    dl = bit if default_left[g] else zero
                    for i in range(nb):
                        f = col[r0 + i]
                        if f != f:
                            keys[i] |= nl
                        elif f >= -zero_threshold and f <= zero_threshold:
                            keys[i] |= dl
                        elif f <= th:
                            keys[i] |= bit
                else:
                    for i in range(nb):
                        f = col[r0 + i]
                        keys[i] |= nl if f != f else (bit if f <= th else zero)
            if kt_off[t] >= 0:
                # 2a. small tree: contributions looked up by key
                kb = kt_off[t]
                for j in range(ntf):
                    row = out_t[tf_feat[t0 + j]]
                    for i in range(nb):
                        row[i] += kt[kb + np.int64(keys[i]) * ntf + j]
                continue
            # 2b. larger tree, each half (the root's two subtrees) on its own: the
            #     leaves of a half depend only on the root's and the half's splits,
            #     so a half sees far fewer distinct keys than the whole tree
            for gi in range(gr_off[t], gr_off[t + 1]):
                gmask = gr_mask[gi]
                stamp += 1
                nu = 0
                for i in range(nb):
                    key = keys[i] & gmask
                    h = np.int64((key * mult) >> shift)
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
                    s_loc[0] = all_ones
                    for k in range(n_int):
                        g = g0_ + k
                        sk = s_loc[k]
                        cleared = sk & (all_ones ^ slot_bit[g])
                        if (key >> np.uint64(k)) & one:
                            s_l = sk
                            s_r = cleared
                        else:
                            s_l = cleared
                            s_r = sk
                        c = left[g]
                        if c >= 0:
                            s_loc[c] = s_l
                        else:
                            pat[-c - 1, u] = s_l
                        c = right[g]
                        if c >= 0:
                            s_loc[c] = s_r
                        else:
                            pat[-c - 1, u] = s_r
                gf0 = gf_off[gi]
                ngf = gf_off[gi + 1] - gf0
                for u in range(nu):
                    for j in range(ngf):
                        phi_u[u, j] = 0.0
                for li in range(gl_off[gi], gl_off[gi + 1]):
                    ll = gl_leaf[li]
                    leaf = l0 + ll
                    pl = pat[ll]
                    if leaf_mode[leaf] == 0:
                        m = leaf_m[leaf]
                        fo = lf_off[leaf]
                        to = tab_off[leaf]
                        mask = (one << np.uint64(m)) - one
                        for u in range(nu):
                            base = to + np.int64(pl[u] & mask) * m
                            for j in range(m):
                                phi_u[u, lf_glocal[fo + j]] += tab[base + j]
                    else:
                        for u in range(nu):
                            _leaf_add(leaf, pl[u], leaf_m, lf_off, lf_z, leaf_value, leaf_mode,
                                      tab_off, tab, q_n, q_off, q_w, g_off, g0, g1, ig0, ig1,
                                      lf_glocal, phi_u[u], pw, buf, fq)
                # 4. scatter to the samples
                for j in range(ngf):
                    row = out_t[gf_feat[gf0 + j]]
                    for i in range(nb):
                        row[i] += phi_u[uid[i], j]
        for i in range(nb):
            orow = out[r0 + i]
            for f in range(n_feat):
                orow[f] += out_t[f, i]


# --------------------------------------------------------------------------- driver


def _model_key(model_str: str) -> str:
    return hashlib.blake2b(model_str.encode(), digest_size=16).hexdigest()


def _prepared(booster) -> tuple[_ParsedModel, dict]:
    """Parsed model and its table cache (keyed by the model text's hash)."""
    model_str = booster.model_to_string()
    key = _model_key(model_str)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    parsed = _parse_model(model_str)
    entry = (parsed, {})
    with _CACHE_LOCK:
        _CACHE[key] = entry
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return entry


def _plan(parsed: _ParsedModel, plans: dict) -> tuple:
    """How each leaf is evaluated, with its precomputed data (cached per model).

    Mode 0: a table over all ``2**m`` patterns (``m <= _MAX_TABLE_M``).
    Mode 1: Gauss-Legendre quadrature of the Shapley-weight integral.  The
    path-dependent SHAP value of slot ``i`` equals ``v (o_i - z_i) * \\int_0^1
    prod_{j != i} (z_j (1 - u) + o_j u) du`` (the Beta-function form of the
    Shapley weights, as in Linear TreeShap, Yu et al. 2022); the integrand is a
    polynomial of degree ``m - 1``, so ``m // 2 + 1`` nodes integrate it exactly.
    Mode 2: LightGBM's recursion on the fly (a zero fraction of 0, not seen in
    practice).
    """
    if "plan" in plans:
        return plans["plan"]
    m = parsed.leaf_m
    n_leaves = m.shape[0]
    z_pos = np.ones(n_leaves, dtype=bool)
    if parsed.lf_z.size:
        seg = np.repeat(np.arange(n_leaves), m)
        z_pos = np.bincount(seg, weights=(parsed.lf_z <= 0.0), minlength=n_leaves) == 0
    mode = np.where(m <= _MAX_TABLE_M, 0, np.where(z_pos, 1, 2)).astype(np.int64)
    use = (mode == 0) & (m >= 1)
    sizes = np.where(use, (np.int64(1) << np.minimum(m, 62)) * m, 0)
    tab_off = np.where(use, np.cumsum(sizes) - sizes, -1).astype(np.int64)
    tab = np.empty(int(sizes.sum()), dtype=np.float64)
    leaf_ids = np.flatnonzero(use).astype(np.int64)
    if leaf_ids.size:
        _build_tables(
            leaf_ids, tab_off, parsed.leaf_m, parsed.lf_off, parsed.lf_z,
            parsed.leaf_value, tab, max(parsed.max_m, 1),
        )
    # quadrature data for mode-1 leaves
    q_n = np.where(mode == 1, m // 2 + 1, 0).astype(np.int64)
    q_off = (np.cumsum(q_n) - q_n).astype(np.int64)
    g_len = q_n * m
    g_off = (np.cumsum(g_len) - g_len).astype(np.int64)
    q_w = np.zeros(int(q_n.sum()), dtype=np.float64)
    g0 = np.zeros(int(g_len.sum()), dtype=np.float64)
    g1 = np.zeros_like(g0)
    rules: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for leaf in np.flatnonzero(mode == 1):
        nq = int(q_n[leaf])
        if nq not in rules:
            x, w = np.polynomial.legendre.leggauss(nq)
            rules[nq] = ((x + 1.0) / 2.0, w / 2.0)
        u, w = rules[nq]
        q_w[q_off[leaf] : q_off[leaf] + nq] = w
        z = parsed.lf_z[parsed.lf_off[leaf] : parsed.lf_off[leaf + 1]]
        g0[g_off[leaf] : g_off[leaf] + g_len[leaf]] = (z[:, None] * (1.0 - u)[None, :]).ravel()
        g1[g_off[leaf] : g_off[leaf] + g_len[leaf]] = (
            z[:, None] * (1.0 - u)[None, :] + u[None, :]
        ).ravel()
    with np.errstate(divide="ignore"):
        ig0 = 1.0 / g0 if g0.size else g0.copy()
        ig1 = 1.0 / g1 if g1.size else g1.copy()
    # tree-local feature numbering (for the per-pattern rows)
    n_trees = parsed.node_off.shape[0] - 1
    tf_off = np.zeros(n_trees + 1, dtype=np.int64)
    tf_parts = []
    lf_local = np.zeros_like(parsed.lf_feat)
    for t in range(n_trees):
        a, b = parsed.lf_off[parsed.leaf_off[t]], parsed.lf_off[parsed.leaf_off[t + 1]]
        feats, local = np.unique(parsed.lf_feat[a:b], return_inverse=True)
        lf_local[a:b] = local
        tf_parts.append(feats)
        tf_off[t + 1] = tf_off[t] + feats.size
    tf_feat = np.concatenate(tf_parts).astype(np.int64) if tf_parts else np.zeros(0, np.int64)
    max_tf = int(np.diff(tf_off).max()) if n_trees else 1
    # decision-vector tables for small trees
    n_int = np.diff(parsed.node_off)
    ntf = np.diff(tf_off)
    small = (n_int >= 1) & (n_int <= _MAX_KEY_BITS)
    kt_size = np.where(small, (np.int64(1) << np.minimum(n_int, 62)) * ntf, 0)
    kt_off = np.where(small, np.cumsum(kt_size) - kt_size, -1).astype(np.int64)
    kt = np.zeros(int(kt_size.sum()), dtype=np.float64)
    trees = np.flatnonzero(small).astype(np.int64)
    if trees.size:
        _build_key_tables(
            trees, kt_off, parsed.node_off, parsed.left, parsed.right, parsed.slot_bit,
            parsed.leaf_off, parsed.leaf_value, parsed.leaf_m, parsed.lf_off, parsed.lf_z,
            mode, tab_off, tab, q_n, q_off, q_w, g_off, g0, g1, ig0, ig1, tf_off, lf_local,
            max(parsed.max_internal, 1), max(parsed.max_m, 1), kt,
        )
    # halves (the root's two subtrees) of the trees without a decision table
    gr_off = np.zeros(n_trees + 1, dtype=np.int64)
    gr_mask, gl_off, gl_leaf, gf_off, gf_feat = [], [0], [], [0], []
    lf_glocal = np.zeros_like(parsed.lf_feat)
    for t in range(n_trees):
        nt = int(n_int[t])
        if kt_off[t] >= 0 or nt < 1 or nt > 64:
            gr_off[t + 1] = gr_off[t]
            continue
        g0_ = parsed.node_off[t]
        lc = parsed.left[g0_ : g0_ + nt]
        rc = parsed.right[g0_ : g0_ + nt]
        # group roots: the subtrees hanging at depth _GROUP_DEPTH (or shallower leaves),
        # each with the bits of its ancestors
        roots = [(0, 0, 0)]  # (node, depth, ancestors' mask)
        heads = []
        while roots:
            c, d, anc = roots.pop()
            if c < 0 or d == _GROUP_DEPTH:
                heads.append((c, anc))
            else:
                roots.extend(((int(lc[c]), d + 1, anc | (1 << c)), (int(rc[c]), d + 1, anc | (1 << c))))
        for child, anc in heads:
            mask = anc
            leaves = []
            stack = [child]
            while stack:
                c = stack.pop()
                if c < 0:
                    leaves.append(~c)
                else:
                    mask |= 1 << c
                    stack.extend((int(lc[c]), int(rc[c])))
            leaves.sort()
            gr_mask.append(mask)
            gl_leaf.extend(leaves)
            gl_off.append(len(gl_leaf))
            glob = [parsed.leaf_off[t] + leaf for leaf in leaves]
            slots = np.concatenate(
                [np.arange(parsed.lf_off[g], parsed.lf_off[g + 1]) for g in glob]
            )
            feats, local = np.unique(parsed.lf_feat[slots], return_inverse=True)
            lf_glocal[slots] = local
            gf_feat.extend(feats.tolist())
            gf_off.append(len(gf_feat))
        gr_off[t + 1] = gr_off[t] + len(heads)
    plan = (
        mode, tab_off, tab, q_n, q_off, q_w, g_off, g0, g1, ig0, ig1, tf_off, tf_feat, lf_local,
        kt_off, kt, gr_off, np.asarray(gr_mask, dtype=np.uint64),
        np.asarray(gl_off, dtype=np.int64), np.asarray(gl_leaf, dtype=np.int64),
        np.asarray(gf_off, dtype=np.int64), np.asarray(gf_feat, dtype=np.int64), lf_glocal,
        max(max_tf, 1),
    )
    plans["plan"] = plan
    return plan


def _check_booster_and_X(booster, X) -> np.ndarray:
    import lightgbm

    if not isinstance(booster, lightgbm.Booster):
        raise TypeError(
            "The 'booster' parameter of tree_shap must be a lightgbm.Booster. "
            f"Got {type(booster).__name__} instead."
        )
    if not isinstance(X, np.ndarray):
        raise TypeError(
            "The 'X' parameter of tree_shap must be a numpy.ndarray of floats "
            f"(categorical features as integer codes). Got {type(X).__name__} instead."
        )
    if X.ndim != 2:
        raise ValueError(
            f"The 'X' parameter of tree_shap must be 2-dimensional. Got {X.ndim} dimension(s)."
        )
    n_features = booster.num_feature()
    if X.shape[1] != n_features:
        raise ValueError(
            f"The 'X' parameter of tree_shap must have {n_features} columns (the booster's "
            f"features). Got {X.shape[1]} instead."
        )
    try:
        return np.ascontiguousarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            "The 'X' parameter of tree_shap must hold numbers convertible to float64. "
            f"Got dtype {X.dtype} instead."
        ) from exc


def _fallback(booster, X: np.ndarray, reason: str, n_threads: int | None):
    logger.info("tree_shap: %s not handled by the fast path; using LightGBM pred_contrib.", reason)
    kwargs = {} if n_threads is None else {"num_threads": int(n_threads)}
    contrib = booster.predict(X, pred_contrib=True, **kwargs)
    if isinstance(contrib, list) or contrib.ndim != 2 or contrib.shape[1] != X.shape[1] + 1:
        # multiclass: LightGBM returns (n, n_classes * (n_features + 1))
        return np.asarray(contrib), float("nan")
    return np.ascontiguousarray(contrib[:, :-1]), float(contrib[0, -1]) if len(contrib) else float(
        np.nan
    )


def tree_shap(booster, X: np.ndarray, *, n_threads: int | None = None) -> tuple[np.ndarray, float]:
    """Exact path-dependent TreeSHAP values of a LightGBM booster, fast.

    Parameters
    ----------
    booster : lightgbm.Booster
        A fitted binary or regression booster (one tree per iteration).
    X : numpy.ndarray of shape (n_samples, n_features)
        Feature matrix as LightGBM receives it: float64, NaN for missing,
        categorical features as integer codes.
    n_threads : int, optional
        Threads to use (numba); default: numba's current setting (all cores).

    Returns
    -------
    values : numpy.ndarray of shape (n_samples, n_features)
        Contributions in raw score units (log-odds for a binary model), equal to
        ``booster.predict(X, pred_contrib=True)[:, :-1]`` up to rounding (< 1e-9).
    base_value : float
        The expected raw score, so that ``values.sum(1) + base_value`` equals
        ``booster.predict(X, raw_score=True)``.

    Notes
    -----
    The contributions are computed from per-leaf tables over the patterns of
    satisfied path features, once per distinct vector of split decisions (see the
    module docstring); on the synthetic school system this is 20-45 times the
    rows/s of ``pred_contrib`` at the same thread count
    (``benchmarks/bench_explain.py``). On trees fitted to noise on continuous
    features (few repeated decision vectors) the gain is smaller.
    Models the fast path does not handle — multiclass models (several trees per
    iteration), random-forest averaging (``boosting="rf"``) — fall back to
    LightGBM's own ``pred_contrib`` with a logged message; for a multiclass model
    the returned array is then LightGBM's ``(n, n_classes * (n_features + 1))``
    layout and ``base_value`` is NaN. Linear trees (``linear_tree=True``) raise a
    ``ValueError``: TreeSHAP is not defined for them and LightGBM's
    ``pred_contrib`` refuses them too.

    Examples
    --------
    >>> import numpy as np, lightgbm as lgb
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 4)); y = (X[:, 0] + rng.normal(size=500) > 0).astype(int)
    >>> booster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, y), 20)
    >>> values, base = tree_shap(booster, X)
    >>> bool(np.allclose(values.sum(1) + base, booster.predict(X, raw_score=True)))
    True
    """
    X = _check_booster_and_X(booster, X)
    if n_threads is not None and (not isinstance(n_threads, (int, np.integer)) or n_threads < 1):
        raise ValueError(
            f"The 'n_threads' parameter of tree_shap must be a positive int or None. Got {n_threads!r} instead."
        )
    try:
        parsed, plans = _prepared(booster)
    except _Unsupported as exc:
        if "linear" in str(exc):
            raise ValueError(
                "tree_shap cannot explain a booster with linear trees (linear_tree=True): "
                "path-dependent TreeSHAP is not defined for them, and LightGBM's "
                "pred_contrib does not implement them either."
            ) from exc
        return _fallback(booster, X, str(exc), n_threads)
    n = X.shape[0]
    out = np.zeros((n, parsed.n_features), dtype=np.float64)
    if n == 0:
        return out, parsed.base_value
    previous = numba.get_num_threads()
    if n_threads is not None:
        numba.set_num_threads(min(int(n_threads), numba.config.NUMBA_NUM_THREADS))
    try:
        plan = _plan(parsed, plans)
        threads = numba.get_num_threads()
        block = int(min(_BLOCK, max(256, -(-n // threads))))
        _shap_kernel(
            X, np.ascontiguousarray(X.T), parsed.node_off, parsed.feat, parsed.thr,
            parsed.default_left, parsed.missing_type, parsed.is_cat, parsed.cat_lo, parsed.cat_hi,
            parsed.cat_bits, parsed.nan_left, parsed.left, parsed.right, parsed.slot_bit,
            parsed.leaf_off, parsed.leaf_value, parsed.leaf_m, parsed.lf_off, parsed.lf_feat,
            parsed.lf_z, *plan[:-1], max(parsed.max_internal, 1), max(parsed.max_internal + 1, 1),
            max(parsed.max_m, 1), plan[-1], _ZERO_THRESHOLD, block, out,
        )
    finally:
        if n_threads is not None:
            numba.set_num_threads(previous)
    return out, parsed.base_value

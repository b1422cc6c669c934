"""How each leaf and each tree of a parsed model is evaluated (private).

:func:`build_plan` turns a :class:`~riskmodel.explain._model_text.ParsedModel` into a
:class:`Plan`, the kernels' second input: per leaf a mode and its precomputed data,
per small tree a table over all its decision vectors, per larger tree its groups
(subtrees with the splits above them, at most ``GROUP_BITS`` of them where the
depth allows; each such group with a table over its decision bits). The tables are filled by the compiled
kernels of :mod:`riskmodel.explain._kernels`.

Leaf modes:

- 0: a table over all ``2**m`` patterns (``m <= MAX_TABLE_M``).
- 1: Gauss-Legendre quadrature of the Shapley-weight integral. The
  path-dependent SHAP value of slot ``i`` equals ``v (o_i - z_i) * \\int_0^1
  prod_{j != i} (z_j (1 - u) + o_j u) du`` (the Beta-function form of the
  Shapley weights, as in Linear TreeShap, Yu et al. 2022); the integrand is a
  polynomial of degree ``m - 1``, so ``m // 2 + 1`` nodes integrate it exactly.
- 2: LightGBM's recursion on the fly (a zero fraction of 0, not seen in practice).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _kernels

__all__ = ["GROUP_BITS", "MAX_KEY_BITS", "MAX_TABLE_M", "Plan", "build_plan"]

# read by build_plan at call time (tests lower them to reach every mode)
MAX_TABLE_M = 12  # largest number of unique path features that gets a table
MAX_KEY_BITS = 10  # trees with at most this many splits get a decision-vector table
GROUP_BITS = 8  # trees without a decision table are cut into groups of at most this many key bits


class Plan(NamedTuple):
    """Per-leaf and per-tree evaluation data of one model (see the module docstring)."""

    # leaves
    leaf_mode: np.ndarray  # int64: 0 table, 1 quadrature, 2 recursion
    tab_off: np.ndarray  # int64 start of a mode-0 leaf's table in tab (-1: none)
    tab: np.ndarray  # float64 (2**m x m per mode-0 leaf)
    q_n: np.ndarray  # int64 quadrature nodes of a mode-1 leaf
    q_off: np.ndarray  # int64 start in q_w
    q_w: np.ndarray  # float64 quadrature weights
    g_off: np.ndarray  # int64 start in g0 / g1 (m x q_n per leaf)
    g0: np.ndarray  # float64 z (1 - u): factor of an unsatisfied slot
    g1: np.ndarray  # float64 z (1 - u) + u: factor of a satisfied slot
    ig0: np.ndarray  # float64 1 / g0
    ig1: np.ndarray  # float64 1 / g1
    # trees: tree-local feature numbering
    tf_off: np.ndarray  # int64 (n_trees + 1) offsets into tf_feat
    tf_feat: np.ndarray  # int64 features a tree uses
    lf_local: np.ndarray  # int64 tree-local number of each leaf slot's feature
    # small trees: a table over all decision vectors
    kt_off: np.ndarray  # int64 start in kt (-1: no table)
    kt: np.ndarray  # float64 (2**n_splits x n tree features per small tree)
    # larger trees: groups
    gr_off: np.ndarray  # int64 (n_trees + 1) offsets into gr_mask / gl_off / gf_off
    gr_mask: np.ndarray  # uint64 the splits a group's leaves depend on
    gl_off: np.ndarray  # int64 offsets into gl_leaf
    gl_leaf: np.ndarray  # int64 tree-local leaves of a group
    gf_off: np.ndarray  # int64 offsets into gf_feat
    gf_feat: np.ndarray  # int64 features of a group
    lf_glocal: np.ndarray  # int64 group-local number of each leaf slot's feature
    gt_off: np.ndarray  # int64 start of a group's decision table in gt (-1: hashed keys)
    gb_off: np.ndarray  # int64 offsets into gb_pos
    gb_pos: np.ndarray  # int64 the tree-local split numbers of a group's key bits, in order
    gt: np.ndarray  # float64 (2**bits x group features per tabled group)
    max_tf: int  # most features of one tree (at least 1)


def build_plan(parsed) -> Plan:
    """The :class:`Plan` of a parsed model (builds the tables; numba).

    Parameters
    ----------
    parsed : ParsedModel

    Returns
    -------
    Plan

    Examples
    --------
    >>> import numpy as np, lightgbm as lgb
    >>> from riskmodel.explain._model_text import parse_model
    >>> X = np.arange(40.0).reshape(20, 2); y = (X[:, 0] > 18).astype(int)
    >>> params = {"objective": "binary", "num_leaves": 2, "min_data_in_leaf": 5, "verbose": -1}
    >>> plan = build_plan(parse_model(lgb.train(params, lgb.Dataset(X, y), 1).model_to_string()))
    >>> plan.leaf_mode.tolist(), plan.kt_off.tolist()
    ([0, 0], [0])
    """
    leaves = _leaf_plan(parsed)
    tf_off, tf_feat, lf_local, max_tf = _tree_features(parsed)
    n_trees = parsed.node_off.shape[0] - 1
    empty_i, empty_u = np.zeros(0, np.int64), np.zeros(0, np.uint64)
    plan = Plan(
        *leaves, tf_off, tf_feat, lf_local,
        kt_off=np.full(n_trees, -1, np.int64), kt=np.zeros(0), gr_off=np.zeros(n_trees + 1, np.int64),
        gr_mask=empty_u, gl_off=empty_i, gl_leaf=empty_i, gf_off=empty_i, gf_feat=empty_i,
        lf_glocal=np.zeros_like(parsed.lf_feat), gt_off=empty_i, gb_off=np.zeros(1, np.int64),
        gb_pos=empty_i, gt=np.zeros(0), max_tf=max_tf,
    )
    plan = plan._replace(**_key_tables(parsed, plan))
    plan = plan._replace(**_groups(parsed, plan.kt_off))
    return plan._replace(**_group_tables(parsed, plan))


def _leaf_plan(parsed):
    """Leaf modes, mode-0 tables and mode-1 quadrature data (the first eleven Plan fields)."""
    m = parsed.leaf_m
    n_leaves = m.shape[0]
    z_pos = np.ones(n_leaves, dtype=bool)
    if parsed.lf_z.size:
        seg = np.repeat(np.arange(n_leaves), m)
        z_pos = np.bincount(seg, weights=(parsed.lf_z <= 0.0), minlength=n_leaves) == 0
    mode = np.where(m <= MAX_TABLE_M, 0, np.where(z_pos, 1, 2)).astype(np.int64)
    use = (mode == 0) & (m >= 1)
    sizes = np.where(use, (np.int64(1) << np.minimum(m, 62)) * m, 0)
    tab_off = np.where(use, np.cumsum(sizes) - sizes, -1).astype(np.int64)
    tab = np.empty(int(sizes.sum()), dtype=np.float64)
    leaf_ids = np.flatnonzero(use).astype(np.int64)
    if leaf_ids.size:
        _kernels.build_tables(parsed, leaf_ids, tab_off, tab)
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
    return mode, tab_off, tab, q_n, q_off, q_w, g_off, g0, g1, ig0, ig1


def _tree_features(parsed):
    """Tree-local feature numbering (for the per-pattern rows of small trees)."""
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
    return tf_off, tf_feat, lf_local, max(max_tf, 1)


def _key_tables(parsed, plan: Plan) -> dict:
    """Decision-vector tables of the trees with at most ``MAX_KEY_BITS`` splits."""
    n_int = np.diff(parsed.node_off)
    ntf = np.diff(plan.tf_off)
    small = (n_int >= 1) & (n_int <= MAX_KEY_BITS)
    kt_size = np.where(small, (np.int64(1) << np.minimum(n_int, 62)) * ntf, 0)
    kt_off = np.where(small, np.cumsum(kt_size) - kt_size, -1).astype(np.int64)
    kt = np.zeros(int(kt_size.sum()), dtype=np.float64)
    trees = np.flatnonzero(small).astype(np.int64)
    if trees.size:
        _kernels.build_key_tables(parsed, plan, trees, kt_off, kt)
    return {"kt_off": kt_off, "kt": kt}


def _group_heads(lc, rc, limit):
    """Cut a tree into groups of at most ``limit`` key bits: ``(root, ancestors' mask)``.

    A group is a subtree together with the splits above it (its leaves depend on
    nothing else). A subtree too large for ``limit`` is split at its root, which
    becomes an ancestor bit of both halves; a subtree whose ancestors alone reach the
    limit stays whole (its keys are then hashed).
    """
    n = lc.shape[0]
    sub = [0] * n  # mask of the splits in each node's subtree
    for c in range(n - 1, -1, -1):  # children are numbered after their parents
        m = 1 << c
        for ch in (int(lc[c]), int(rc[c])):
            if ch >= 0:
                m |= sub[ch]
        sub[c] = m
    heads, todo = [], [(0, 0)]
    while todo:
        c, anc = todo.pop()
        if c < 0 or (anc | sub[c]).bit_count() <= limit or anc.bit_count() + 1 >= limit:
            heads.append((c, anc))
        else:
            todo.extend(((int(rc[c]), anc | (1 << c)), (int(lc[c]), anc | (1 << c))))
    return heads


def _groups(parsed, kt_off) -> dict:
    """The groups of the trees without a decision table (at most ``GROUP_BITS`` key bits)."""
    n_trees = parsed.node_off.shape[0] - 1
    n_int = np.diff(parsed.node_off)
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
        heads = _group_heads(lc, rc, GROUP_BITS)
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
    return {
        "gr_off": gr_off,
        "gr_mask": np.asarray(gr_mask, dtype=np.uint64),
        "gl_off": np.asarray(gl_off, dtype=np.int64),
        "gl_leaf": np.asarray(gl_leaf, dtype=np.int64),
        "gf_off": np.asarray(gf_off, dtype=np.int64),
        "gf_feat": np.asarray(gf_feat, dtype=np.int64),
        "lf_glocal": lf_glocal,
    }


def _group_tables(parsed, plan: Plan) -> dict:
    """Decision tables of the groups with at most ``GROUP_BITS`` key bits.

    A group's key is its mask's bits of the tree's decision vector, packed in order
    (``gb_pos``); its table row holds the group's contributions for that key.
    """
    n_trees = parsed.node_off.shape[0] - 1
    n_groups = plan.gr_mask.shape[0]
    gr_tree = np.repeat(np.arange(n_trees, dtype=np.int64), np.diff(plan.gr_off))
    bits = [[k for k in range(64) if (int(m) >> k) & 1] for m in plan.gr_mask]
    nb = np.array([len(b) for b in bits], dtype=np.int64)
    gb_off = np.zeros(n_groups + 1, dtype=np.int64)
    gb_off[1:] = np.cumsum(nb)
    gb_pos = np.array([k for b in bits for k in b], dtype=np.int64)
    ngf = np.diff(plan.gf_off)
    tabled = nb <= GROUP_BITS
    size = np.where(tabled, (np.int64(1) << np.minimum(nb, 62)) * ngf, 0)
    gt_off = np.where(tabled, np.cumsum(size) - size, -1).astype(np.int64)
    gt = np.zeros(int(size.sum()), dtype=np.float64)
    groups = np.flatnonzero(tabled).astype(np.int64)
    if groups.size:
        _kernels.build_group_tables(parsed, plan, groups, gr_tree, gt_off, gb_off, gb_pos, gt)
    return {"gt_off": gt_off, "gb_off": gb_off, "gb_pos": gb_pos, "gt": gt}

"""LightGBM's model text as flat numpy arrays (private; plain numpy, no numba).

:func:`parse_model` reads the text form of a booster (``booster.model_to_string()``)
into a :class:`ParsedModel`: one set of arrays over the internal nodes of all trees,
one over their leaves and, per leaf, the unique features on its root-to-leaf path
with their zero fractions. Repeated features on a path are merged (zero fractions
multiplied, slots assigned in order of first occurrence, as LightGBM's
``UnwindPath`` does). Forms the TreeSHAP kernels do not handle raise
:class:`UnsupportedModel` (linear trees: :class:`LinearTreesError`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["LinearTreesError", "ParsedModel", "UnsupportedModel", "parse_model"]

MAX_SLOTS = 63  # patterns of satisfied path features are held in uint64 bit masks


class UnsupportedModel(Exception):
    """The model has a form the fast path does not handle (use ``pred_contrib``)."""


class LinearTreesError(UnsupportedModel):
    """The model has linear trees: TreeSHAP is not defined for them."""


class ParsedModel(NamedTuple):
    """A booster's trees as flat arrays (the kernels' first input).

    Internal nodes are numbered globally (tree ``t`` owns ``node_off[t]:node_off[t+1]``),
    children locally (``>= 0`` an internal node of the same tree, ``< 0`` the leaf
    ``~child``); leaves likewise (``leaf_off``), and the path features of leaf ``l``
    are ``lf_feat[lf_off[l]:lf_off[l+1]]`` with zero fractions ``lf_z``.
    """

    n_features: int
    base_value: float
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
    leaf_off: np.ndarray  # int64 (n_trees + 1)
    leaf_value: np.ndarray  # float64
    leaf_m: np.ndarray  # int64 number of unique path features
    lf_off: np.ndarray  # int64 (n_leaves + 1) offsets into lf_feat / lf_z
    lf_feat: np.ndarray  # int64 feature of each slot
    lf_z: np.ndarray  # float64 zero fraction of each slot
    max_internal: int
    max_m: int


def parse_model(model_str: str) -> ParsedModel:
    """Parse LightGBM's model text into flat arrays.

    Parameters
    ----------
    model_str : str
        ``booster.model_to_string()`` of a binary or regression booster.

    Returns
    -------
    ParsedModel

    Raises
    ------
    LinearTreesError
        For linear trees (``linear_tree=True``).
    UnsupportedModel
        For the other forms the fast path does not handle (multiclass,
        random forest, a path with more than 63 unique features).

    Examples
    --------
    >>> import numpy as np, lightgbm as lgb
    >>> X = np.arange(40.0).reshape(20, 2); y = (X[:, 0] > 18).astype(int)
    >>> params = {"objective": "binary", "num_leaves": 2, "min_data_in_leaf": 5, "verbose": -1}
    >>> parsed = parse_model(lgb.train(params, lgb.Dataset(X, y), 1).model_to_string())
    >>> parsed.n_features, parsed.feat.tolist(), parsed.leaf_m.tolist()
    (2, [0], [1, 1])
    """
    header, trees = _sections(model_str)
    if int(header.get("num_tree_per_iteration", "1")) != 1:
        raise UnsupportedModel("multiclass models (num_tree_per_iteration > 1)")
    if "average_output" in header or "average_output" in model_str.split("Tree=", 1)[0]:
        raise UnsupportedModel("random-forest models (average_output)")
    n_features = int(header["max_feature_idx"]) + 1
    parts: dict[str, list] = {name: [] for name in _NODE_FIELDS + _LEAF_FIELDS}
    node_off, leaf_off, lf_off = [0], [0], [0]
    base_value, n_cat_words = 0.0, 0
    for tree in trees:
        if tree.get("is_linear", "0") != "0":
            raise LinearTreesError("linear trees (linear_tree=True)")
        arrays, expected = _parse_tree(tree, n_cat_words)
        base_value += expected
        n_cat_words += len(arrays["cat_bits"])
        for name in _NODE_FIELDS + _LEAF_FIELDS:
            parts[name].append(arrays[name])
        node_off.append(node_off[-1] + len(arrays["feat"]))
        leaf_off.append(leaf_off[-1] + len(arrays["leaf_value"]))
        lf_off.extend((lf_off[-1] + np.cumsum(arrays["leaf_m"])).tolist())
    flat = {name: np.concatenate(parts[name]).astype(dtype) if parts[name] else np.zeros(0, dtype)
            for name, dtype in {**_NODE_FIELDS_DTYPES, **_LEAF_FIELDS_DTYPES}.items()}
    if flat["feat"].size and int(flat["feat"].max()) >= n_features:
        raise UnsupportedModel("a split feature beyond max_feature_idx")
    n_int = np.diff(node_off)
    return ParsedModel(
        n_features=n_features,
        base_value=float(base_value),
        node_off=np.asarray(node_off, dtype=np.int64),
        leaf_off=np.asarray(leaf_off, dtype=np.int64),
        lf_off=np.asarray(lf_off, dtype=np.int64),
        max_internal=int(n_int.max()) if n_int.size else 0,
        max_m=int(flat["leaf_m"].max()) if flat["leaf_m"].size else 0,
        **flat,
    )


_NODE_FIELDS_DTYPES = {
    "feat": np.int64, "thr": np.float64, "default_left": np.uint8, "missing_type": np.uint8,
    "is_cat": np.uint8, "nan_left": np.uint8, "cat_lo": np.int64, "cat_hi": np.int64,
    "cat_bits": np.uint32, "left": np.int64, "right": np.int64, "slot_bit": np.uint64,
}
_LEAF_FIELDS_DTYPES = {"leaf_value": np.float64, "leaf_m": np.int64, "lf_feat": np.int64, "lf_z": np.float64}
_NODE_FIELDS = tuple(_NODE_FIELDS_DTYPES)
_LEAF_FIELDS = tuple(_LEAF_FIELDS_DTYPES)


def _sections(model_str: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The header's and each tree's ``key=value`` lines."""
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
    return header, trees


def _numbers(tree: dict[str, str], key: str, dtype) -> np.ndarray:
    return np.array(tree[key].split(" "), dtype=dtype)


def _parse_tree(tree: dict[str, str], n_cat_words: int) -> tuple[dict[str, np.ndarray], float]:
    """One tree's node and leaf arrays, and its expected value (LightGBM's ``Tree::ExpectedValue``).

    ``n_cat_words`` is the number of categorical bitset words of the trees before it.
    """
    values = _numbers(tree, "leaf_value", np.float64)
    if int(tree["num_leaves"]) == 1:
        empty = {name: np.zeros(0, dtype) for name, dtype in _NODE_FIELDS_DTYPES.items()}
        leaves = {"leaf_value": values[:1], "leaf_m": np.zeros(1, np.int64),
                  "lf_feat": np.zeros(0, np.int64), "lf_z": np.zeros(0)}
        return {**empty, **leaves}, float(values[0])
    sf = _numbers(tree, "split_feature", np.int64)
    th = _numbers(tree, "threshold", np.float64)
    dt = _numbers(tree, "decision_type", np.int64)
    lc = _numbers(tree, "left_child", np.int64)
    rc = _numbers(tree, "right_child", np.int64)
    leaf_count = _numbers(tree, "leaf_count", np.float64)
    int_count = _numbers(tree, "internal_count", np.float64)
    expected = 0.0
    for i in range(len(values)):
        expected += (leaf_count[i] / int_count[0]) * values[i]
    # categorical bitsets
    cat_lo = np.zeros(len(sf), dtype=np.int64)
    cat_hi = np.zeros(len(sf), dtype=np.int64)
    is_cat = (dt & 1).astype(bool)
    words = np.zeros(0, dtype=np.uint32)
    if is_cat.any():
        bounds = _numbers(tree, "cat_boundaries", np.int64)
        words = _numbers(tree, "cat_threshold", np.uint64).astype(np.uint32)
        idx = th[is_cat].astype(np.int64)
        cat_lo[is_cat] = n_cat_words + bounds[idx]
        cat_hi[is_cat] = n_cat_words + bounds[idx + 1]
    missing_type = (dt >> 2) & 3
    default_left = (dt >> 1) & 1
    slot_bit, leaf_feats, leaf_z = _paths(sf, lc, rc, leaf_count, int_count)
    arrays = {
        "feat": sf, "thr": th, "default_left": default_left, "missing_type": missing_type,
        "is_cat": is_cat, "cat_lo": cat_lo, "cat_hi": cat_hi, "cat_bits": words,
        "left": lc, "right": rc, "slot_bit": slot_bit,
        # NaN: to the default side for missing types Zero (NaN -> 0) and NaN,
        # compared as 0.0 for missing type None
        "nan_left": np.where(missing_type == 0, 0.0 <= th, default_left == 1),
        "leaf_value": values,
        "leaf_m": np.array([len(f) for f in leaf_feats], dtype=np.int64),
        "lf_feat": np.array([f for feats in leaf_feats for f in feats], dtype=np.int64),
        "lf_z": np.array([z for zs in leaf_z for z in zs], dtype=np.float64),
    }
    return arrays, expected


def _paths(sf, lc, rc, leaf_count, int_count):
    """Walk the root-to-leaf paths: slots by first occurrence, zero fractions merged per feature.

    Returns each node's slot bit and, per leaf, its unique path features and their
    zero fractions.
    """
    n_leaves = len(leaf_count)

    def count(child: int) -> float:
        return leaf_count[~child] if child < 0 else int_count[child]

    slot_bit = np.zeros(len(sf), dtype=np.uint64)
    leaf_feats: list[list[int]] = [[] for _ in range(n_leaves)]
    leaf_z: list[list[float]] = [[] for _ in range(n_leaves)]
    stack: list[tuple[int, list[int], list[float]]] = [(0, [], [])]  # (node, features, zero fractions)
    while stack:
        node, feats, zs = stack.pop()
        f = int(sf[node])
        if f in feats:
            slot = feats.index(f)
        else:
            slot = len(feats)
            feats = feats + [f]
            zs = zs + [1.0]
        if slot >= MAX_SLOTS:
            raise UnsupportedModel(f"a path with more than {MAX_SLOTS} unique features")
        slot_bit[node] = np.uint64(1) << np.uint64(slot)
        w = int_count[node]
        for child in (int(lc[node]), int(rc[node])):
            z_child = list(zs)
            z_child[slot] = (count(child) / w) * zs[slot]
            if child < 0:
                leaf_feats[~child] = feats
                leaf_z[~child] = z_child
            else:
                stack.append((child, feats, z_child))
    return slot_bit, leaf_feats, leaf_z

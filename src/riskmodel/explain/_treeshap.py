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
   assigned in order of first occurrence, as LightGBM's ``UnwindPath`` does;
   :mod:`._model_text`, plain numpy);
2. precomputes, per leaf, the contributions for *every* pattern ``o`` (tables of
   ``2**m x m`` doubles, the idea of Fast TreeSHAP v2, Yang 2022) with the very
   same extend / unwind recursion as LightGBM, so that the numbers agree to
   rounding; leaves with more than ``MAX_TABLE_M`` unique path features use an
   exact Gauss-Legendre form of the Shapley weights instead (:mod:`._plan`);
3. observes that a sample's contributions in a tree depend only on its vector of
   split decisions (one bit per internal node, evaluated exactly as LightGBM's
   ``Decision``: missing types None / Zero / NaN, ``default_left``, categorical
   bitsets).  The bits are computed one split at a time over a contiguous column
   (vectorised).  Trees with at most ``MAX_KEY_BITS`` splits get a table over all
   decision vectors; larger trees are cut into groups — a subtree together with
   the splits above it, split further until it has at most ``GROUP_BITS`` such
   splits (:func:`._plan._group_heads`) — whose leaves depend only on those bits.
   A group within the limit gets its own table over all its packed decision bits;
   a deeper one (its ancestors alone reach the limit) finds the distinct (masked)
   decision vectors of a block of samples with a hash table — because LightGBM
   bins features and each tree uses a few thresholds, a block of thousands of
   pupils has few distinct vectors — so the leaf work is done once per distinct
   vector and scattered to the samples;
4. runs over blocks of samples in parallel (``numba.prange``; :mod:`._kernels`).

Everything is exact (no approximation): the tests compare with ``pred_contrib``
to 1e-9 on many model shapes.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict

import numba
import numpy as np

from .._checks import check_instance, check_int
from ._kernels import shap_kernel
from ._model_text import LinearTreesError, ParsedModel, UnsupportedModel, parse_model
from ._plan import Plan, build_plan

logger = logging.getLogger(__name__)

__all__ = ["tree_shap"]

_BLOCK = 16384  # largest block of samples handled (and deduplicated) together
_CACHE_SIZE = 4


class _Entry:
    """A cached model: parsed at once, its plan built on first use."""

    def __init__(self, parsed: ParsedModel):
        self.parsed = parsed
        self.plan: Plan | None = None


_CACHE: OrderedDict[str, _Entry] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _model_key(model_str: str) -> str:
    return hashlib.blake2b(model_str.encode(), digest_size=16).hexdigest()


def _prepared(booster) -> _Entry:
    """The parsed model and its plan slot, cached by a hash of the model text."""
    model_str = booster.model_to_string()
    key = _model_key(model_str)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    entry = _Entry(parse_model(model_str))
    with _CACHE_LOCK:
        _CACHE[key] = entry
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return entry


def _plan_of(entry: _Entry) -> Plan:
    if entry.plan is None:
        entry.plan = build_plan(entry.parsed)
    return entry.plan


def _check_booster_and_X(booster, X) -> np.ndarray:
    import lightgbm

    check_instance(booster, "booster", lightgbm.Booster, "tree_shap")
    # categorical features come as integer codes in the float matrix
    check_instance(X, "X", np.ndarray, "tree_shap")
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
    module docstring); on the synthetic school system this is about 45-50 times the
    rows/s of ``pred_contrib`` at the same thread count, on the default and on a
    300-tree, 31-leaf model
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
    n_threads = check_int(n_threads, "n_threads", "tree_shap", min_value=1, allow_none=True)
    try:
        entry = _prepared(booster)
    except LinearTreesError as exc:
        raise ValueError(
            "tree_shap cannot explain a booster with linear trees (linear_tree=True): "
            "path-dependent TreeSHAP is not defined for them, and LightGBM's "
            "pred_contrib does not implement them either."
        ) from exc
    except UnsupportedModel as exc:
        return _fallback(booster, X, str(exc), n_threads)
    parsed = entry.parsed
    out = np.zeros((X.shape[0], parsed.n_features), dtype=np.float64)
    if X.shape[0] == 0:
        return out, parsed.base_value
    previous = numba.get_num_threads()
    if n_threads is not None:
        numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
    try:
        plan = _plan_of(entry)
        block = int(min(_BLOCK, max(256, -(-X.shape[0] // numba.get_num_threads()))))
        shap_kernel(parsed, plan, X, np.ascontiguousarray(X.T), block, out)
    finally:
        if n_threads is not None:
            numba.set_num_threads(previous)
    return out, parsed.base_value

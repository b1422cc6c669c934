"""Group rates and their bootstrap (private; used by :mod:`riskmodel.fairness`).

Every audited rate is a ratio of additive totals per cell (pupils, leavers,
selected, true positives, score sums); :func:`rate_metrics` turns totals into
rates and :func:`bootstrap_totals` draws the totals of resampled cohorts.
"""

from __future__ import annotations

import math

import numpy as np

from ._fairness_groups import Attribute

#: rate metrics reported by :func:`riskmodel.fairness.audit`, in order
METRICS = (
    "base_rate",
    "selection_rate",
    "precision",
    "recall",
    "false_negative_rate",
    "false_positive_rate",
    "mean_predicted",
    "observed_rate",
)
# number of (draw, pupil) index pairs generated per bootstrap chunk (memory bound)
_CHUNK_CELLS = 5_000_000


def div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with NaN where den == 0."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def rate_metrics(n, pos, sel, tp, score_sum) -> dict[str, np.ndarray]:
    """The rate metrics from additive totals (arrays of any matching shape)."""
    return {
        "base_rate": div(pos, n),
        "selection_rate": div(sel, n),
        "precision": div(tp, sel),
        "recall": div(tp, pos),
        "false_negative_rate": div(pos - tp, pos),
        "false_positive_rate": div(sel - tp, n - pos),
        "mean_predicted": div(score_sum, n),
        "observed_rate": div(pos, n),
    }


def nan_percentiles(a: np.ndarray, qs: tuple[float, float]) -> list[np.ndarray]:
    """Column-wise percentiles (numpy's "linear" method) ignoring NaN; NaN if none."""
    s = np.sort(a, axis=0)  # NaN sort last
    cnt = np.sum(~np.isnan(a), axis=0)
    cols = np.arange(a.shape[1])
    out = []
    for q in qs:
        pos = q * np.maximum(cnt - 1, 0)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(cnt - 1, 0))
        frac = pos - lo
        v = s[lo, cols] + frac * (s[hi, cols] - s[lo, cols])
        out.append(np.where(cnt > 0, v, np.nan))
    return out


def _atoms(attrs: list[Attribute], y: np.ndarray, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pupils with equal codes on every attribute and equal (y, selected) form one atom.

    Returns the atom of every pupil and one representative pupil per atom.
    """
    singles = [a for a in attrs[1:] if a.parents is None]
    cols = [a.codes for a in singles] + [y.astype(np.int64), sel.astype(np.int64)]
    sizes = [a.n_groups for a in singles] + [2, 2]
    if math.prod(sizes) < 2**62:
        key = np.zeros(len(y), dtype=np.int64)
        for c, s in zip(cols, sizes):
            key = key * s + c
        _, first, atom = np.unique(key, return_index=True, return_inverse=True)
    else:  # pragma: no cover - needs attributes with ~2**60 combinations
        _, first, atom = np.unique(np.column_stack(cols), axis=0, return_index=True, return_inverse=True)
    return atom.reshape(-1), first


def bootstrap_totals(
    attrs: list[Attribute],
    y: np.ndarray,
    sel: np.ndarray,
    scores: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, ...]:
    """Additive totals (n, pos, sel, tp, score_sum) per cell for each bootstrap draw.

    Every draw resamples the cohort's pupils with replacement (one resample shared
    by all attributes). Pupils are first grouped into atoms (same group on every
    attribute and same outcome and selected flag); a draw's multiplicity of every
    pupil comes from one ``np.bincount`` over the drawn indices, and
    ``np.add.reduceat`` sums multiplicities (and multiplicity x score) per atom.
    Atom totals then map to cells with one sparse product.
    """
    import scipy.sparse as sp

    n = len(y)
    atom, first = _atoms(attrs, y, sel)
    J = len(first)
    order = np.argsort(atom, kind="stable")
    atom_sorted = atom[order]
    starts = np.flatnonzero(np.r_[True, atom_sorted[1:] != atom_sorted[:-1]])
    score_sorted = scores[order]
    n_cells = sum(a.n_groups for a in attrs)
    rows = np.tile(np.arange(J), len(attrs))
    cols = np.concatenate([a.offset + a.codes[first] for a in attrs])
    M = sp.csr_array((np.ones(len(rows)), (rows, cols)), shape=(J, n_cells))
    y_a = y[first].astype(np.float64)
    s_a = sel[first].astype(np.float64)
    out = np.empty((5, n_boot, n_cells))
    b = max(1, min(n_boot, _CHUNK_CELLS // max(n, 1)))
    for start in range(0, n_boot, b):
        m = min(b, n_boot - start)
        idx = rng.integers(0, n, size=(m, n), dtype=np.int32 if n < 2**31 else np.int64)
        w = np.empty((m, n), dtype=np.int64)
        for j in range(m):  # multiplicity of every pupil in draw j
            w[j] = np.bincount(idx[j], minlength=n)
        del idx
        wc = np.add.reduceat(w, starts, axis=1).astype(np.float64)
        ws = np.add.reduceat(w * score_sorted, starts, axis=1)
        del w
        stacked = np.vstack([wc, wc * y_a, wc * s_a, wc * (y_a * s_a), ws])
        res = (M.T @ stacked.T).T  # (5m, n_cells)
        out[:, start : start + m] = res.reshape(5, m, n_cells)
    return tuple(out)




#: columns of every audit table, after the key columns (see riskmodel.fairness)
VALUE_COLUMNS = ("n", "reference", "suppressed", "suppression_reason", "metric", "value",
                 "value_low", "value_high", "ratio", "ratio_low", "ratio_high")


def long_table(attrs: list[Attribute], n_cell, reason, ref_cell, metrics: dict, intervals=None,
               keys: dict | None = None):
    """The tidy long audit table: one row per (cell, metric), cells in order.

    ``metrics`` maps a metric name to its point value per cell; ``intervals``
    (optional) maps it to ``(low, high, ratio_low, ratio_high)`` per cell, from
    the bootstrap. Hidden cells (``reason != ""``) show no number; ratios need the
    cell and its reference (``ref_cell``) visible. ``keys`` are leading constant
    columns (``population``, ``kind`` of the allocation audit).
    """
    import pandas as pd

    names = list(metrics)
    n_cells, n_m = len(n_cell), len(names)
    hidden = np.asarray(reason) != ""
    ratio_ok = ~hidden & ~hidden[ref_cell]
    point = np.column_stack([np.asarray(metrics[m], dtype=np.float64) for m in names])
    ratio = div(point, point[ref_cell])
    nan = np.full((n_cells, n_m), np.nan)
    if intervals is None:
        lo = hi = rlo = rhi = nan
    else:
        lo, hi, rlo, rhi = (np.column_stack([intervals[m][i] for m in names]) for i in range(4))
    show, show_ratio = hidden[:, None], ~ratio_ok[:, None]
    is_ref = np.zeros(n_cells, dtype=bool)
    is_ref[np.unique(ref_cell)] = True
    rep = lambda a: np.repeat(np.asarray(a), n_m)  # noqa: E731
    data = {
        **{k: v for k, v in (keys or {}).items()},
        "attribute": rep([a.name for a in attrs for _ in a.labels]).astype(str),
        "group": rep([lab for a in attrs for lab in a.labels]).astype(str),
        "n": pd.array(rep(np.where(hidden, np.nan, n_cell)), dtype="Int64"),
        "reference": rep(is_ref),
        "suppressed": rep(hidden),
        "suppression_reason": rep(np.asarray(reason, dtype=str)),
        "metric": np.tile(np.asarray(names, dtype=object), n_cells).astype(str),
        "value": np.where(show, np.nan, point).ravel(),
        "value_low": np.where(show, np.nan, lo).ravel(),
        "value_high": np.where(show, np.nan, hi).ravel(),
        "ratio": np.where(show_ratio, np.nan, ratio).ravel(),
        "ratio_low": np.where(show_ratio, np.nan, rlo).ravel(),
        "ratio_high": np.where(show_ratio, np.nan, rhi).ravel(),
    }
    out = pd.DataFrame(data)
    for k in keys or {}:
        out[k] = out[k].astype(str)
    return out


def wide_view(table):
    """One row per (keys, attribute, group) and columns per metric (see ``fairness.by_group``)."""
    import pandas as pd

    info = [c for c in ("n", "reference", "suppressed", "suppression_reason") if c in table.columns]
    # every other column is a key (population, attribute, group, kind, or one a caller
    # added, such as the pipeline's test_date)
    keys = [c for c in table.columns if c not in VALUE_COLUMNS]
    names = list(pd.unique(table["metric"]))
    base = table.drop_duplicates(keys)[keys + info].reset_index(drop=True)
    where = pd.MultiIndex.from_frame(base[keys])
    parts = {}
    for m in names:
        sub = table[table["metric"] == m].set_index(keys)
        sub = sub.reindex(where)
        parts[m] = sub["value"].to_numpy()
        for src, dst in (("ratio", f"{m}_ratio"), ("value_low", f"{m}_low"), ("value_high", f"{m}_high"),
                         ("ratio_low", f"{m}_ratio_low"), ("ratio_high", f"{m}_ratio_high")):
            parts[dst] = sub[src].to_numpy()
    order = names + [f"{m}_ratio" for m in names] + [f"{m}_{b}" for m in names for b in ("low", "high")] \
        + [f"{m}_ratio_{b}" for m in names for b in ("low", "high")]
    wide = pd.concat([base, pd.DataFrame({c: parts[c] for c in order})], axis=1)
    wide.attrs = dict(table.attrs)
    return wide


def cell_totals(attrs: list[Attribute], y, sel, scores) -> tuple[np.ndarray, ...]:
    """Additive totals (n, pos, sel, tp, score_sum) of every cell of ``attrs``."""
    n_cells = sum(a.n_groups for a in attrs)
    out = np.empty((5, n_cells))
    weights = (None, y, sel, y & sel, scores)
    for a in attrs:
        sl = slice(a.offset, a.offset + a.n_groups)
        for i, w in enumerate(weights):
            out[i, sl] = np.bincount(a.codes, weights=w, minlength=a.n_groups)
    return tuple(out)


def bootstrap_intervals(attrs, y, sel, scores, ref_cell, n_boot, confidence, rng) -> dict:
    """Percentile intervals of every rate and of its ratio to the reference, per cell.

    Returns metric -> (low, high, ratio_low, ratio_high); draws in which a rate is
    undefined are left out of its interval.
    """
    alpha = (1.0 - float(confidence)) / 2.0
    draws = rate_metrics(*bootstrap_totals(attrs, y, sel, scores, n_boot, rng))
    out = {}
    for m in METRICS:
        lo, hi = nan_percentiles(draws[m], (alpha, 1.0 - alpha))
        rlo, rhi = nan_percentiles(div(draws[m], draws[m][:, ref_cell]), (alpha, 1.0 - alpha))
        out[m] = (lo, hi, rlo, rhi)
    return out

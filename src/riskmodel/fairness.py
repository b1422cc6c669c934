"""Fairness audits at capacity: of the ranking and of the support plan.

Two audits, one tidy long DataFrame shape:

- :func:`audit` audits a *score* at the operating point that capacity imposes:
  the top ``k`` pupils (or the top ``top_fraction``) of the whole cohort are
  "selected", and for every audit attribute (sex, home language, migrant
  background, special needs, municipality, urban/rural, and intersections of two
  of them on request) it reports group sizes, base rates, selection rates,
  precision, recall, false negative and false positive rates and calibration in
  the large, the ratio of each metric to a reference group, and percentile
  bootstrap intervals.
- :func:`audit_allocation` audits the *plan*: among pupils who later left and
  among pupils in the risk group, the share who got support (any kind and each
  kind), by group.

Small cells are suppressed (see :func:`audit`, "Suppression"): a group with fewer
than ``min_cell`` pupils shows no count and no rate, and complementary
suppression makes sure that no hidden value can be recovered exactly from the
overall totals, the other groups of the attribute or the margins of an
intersection.

The metric definitions agree with fairlearn's :class:`fairlearn.metrics.MetricFrame`
(``selection_rate``, ``true_positive_rate`` = recall, ``false_positive_rate``,
``false_negative_rate``, ``precision_score``, ``count``) applied to the selected
flag; the tests check this.
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import DataValidationError

__all__ = ["audit", "audit_allocation", "METRICS", "MISSING_GROUP", "INTERSECTION_SEP"]

logger = logging.getLogger(__name__)

#: rate metrics reported by :func:`audit`, in column order
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
#: group label given to pupils whose attribute value is missing
MISSING_GROUP = "(missing)"
#: separator of the two attribute names (and group labels) of an intersection
INTERSECTION_SEP = "×"
OVERALL = "overall"
OVERALL_GROUP = "all"

_PRIMARY = "small_cell"
_COMPLEMENTARY = "complementary"
# number of (draw, pupil) index pairs generated per bootstrap chunk (memory bound)
_CHUNK_CELLS = 5_000_000


# ----------------------------------------------------------------------------- partitions
@dataclass
class _Attribute:
    """One audit attribute: a partition of the cohort into observed groups."""

    name: str
    labels: list[str]
    codes: np.ndarray  # int64, one group code per pupil
    parents: tuple[str, str] | None = None  # intersections: the two attribute names
    parent_codes: tuple[np.ndarray, np.ndarray] | None = None  # per group: parent group codes
    offset: int = 0  # index of the first group in the table of cells

    @property
    def n_groups(self) -> int:
        return len(self.labels)


def _encode(s: pd.Series, name: str) -> tuple[np.ndarray, list[str]]:
    """Group codes (0..G-1, observed groups only) and str labels of one column."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        raw = np.asarray(s.cat.codes, dtype=np.int64)
        cats = s.cat.categories
        used = np.unique(raw[raw >= 0])
        lut = np.full(len(cats) + 1, -1, dtype=np.int64)
        lut[used] = np.arange(len(used))
        codes = np.where(raw >= 0, lut[raw], -1)
        labels = [str(cats[i]) for i in used]
    else:
        try:
            raw, uniques = pd.factorize(s, sort=True, use_na_sentinel=True)
        except TypeError:  # unorderable mixture of types
            raw, uniques = pd.factorize(s, sort=False, use_na_sentinel=True)
        codes = np.asarray(raw, dtype=np.int64)
        labels = [str(u) for u in uniques]
    missing = codes < 0
    if missing.any():
        codes = np.where(missing, len(labels), codes)
        labels.append(MISSING_GROUP)
    if len(set(labels)) != len(labels):
        dup = sorted({x for x in labels if labels.count(x) > 1})
        raise ValueError(
            f"The audit attribute {name!r} has distinct values that print the same "
            f"({dup[:5]}); convert the column to one type (e.g. str) first."
        )
    return codes, labels


def _build_attributes(
    groups: pd.DataFrame, intersections: list[tuple[str, str]]
) -> list[_Attribute]:
    n = len(groups)
    attrs = [_Attribute(OVERALL, [OVERALL_GROUP], np.zeros(n, dtype=np.int64))]
    by_name: dict[str, _Attribute] = {}
    for col in groups.columns:
        codes, labels = _encode(groups[col], col)
        a = _Attribute(str(col), labels, codes)
        attrs.append(a)
        by_name[a.name] = a
    for a_name, b_name in intersections:
        a, b = by_name[a_name], by_name[b_name]
        key = a.codes * b.n_groups + b.codes
        uniq, codes = np.unique(key, return_inverse=True)
        pa, pb = uniq // b.n_groups, uniq % b.n_groups
        labels = [f"{a.labels[i]}{INTERSECTION_SEP}{b.labels[j]}" for i, j in zip(pa, pb)]
        attrs.append(
            _Attribute(
                f"{a_name}{INTERSECTION_SEP}{b_name}",
                labels,
                codes.astype(np.int64),
                parents=(a_name, b_name),
                parent_codes=(pa, pb),
            )
        )
    offset = 0
    for a in attrs:
        a.offset = offset
        offset += a.n_groups
    return attrs


def _equations(attrs: list[_Attribute]) -> np.ndarray:
    """Linear relations between cells that hold for every additive quantity.

    Each row r says ``eq[r] @ cell_totals == 0``: the groups of an attribute sum to
    the overall total, and the cells of an intersection sum to the margins given by
    its two attributes.
    """
    n_cells = sum(a.n_groups for a in attrs)
    by_name = {a.name: a for a in attrs}
    rows = []
    for a in attrs[1:]:
        if a.parents is None:
            r = np.zeros(n_cells)
            r[a.offset : a.offset + a.n_groups] = 1.0
            r[0] = -1.0
            rows.append(r)
            continue
        # an intersection's grand total follows from its margins: no row of its own
        for parent, pcodes in zip(a.parents, a.parent_codes):
            p = by_name[parent]
            for g in range(p.n_groups):
                r = np.zeros(n_cells)
                r[a.offset + np.flatnonzero(pcodes == g)] = 1.0
                r[p.offset + g] = -1.0
                rows.append(r)
    if not rows:
        return np.zeros((0, n_cells))
    return np.vstack(rows)


def _cell_attribute(attrs: list[_Attribute]) -> np.ndarray:
    """Index of the attribute of every cell."""
    return np.concatenate([np.full(a.n_groups, i) for i, a in enumerate(attrs)]).astype(np.int64)


def _recoverable(eq: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """Indices of hidden cells whose value follows exactly from the visible ones.

    With the visible cells known, the hidden values ``x`` satisfy ``A x = b`` where
    ``A`` is ``eq`` restricted to the hidden columns. Cell ``i`` is determined
    exactly when every vector of the null space of ``A`` is zero at ``i``.
    """
    from scipy.linalg import null_space

    idx = np.flatnonzero(hidden)
    if idx.size == 0:
        return idx
    A = eq[:, idx]
    A = A[np.any(A != 0, axis=1)]
    if A.shape[0] == 0:
        return idx[:0]
    N = null_space(A)
    if N.shape[1] == 0:
        return idx
    return idx[np.linalg.norm(N, axis=1) < 1e-9]


def _suppress(n: np.ndarray, eq: np.ndarray, min_cell: int, cell_attr: np.ndarray) -> np.ndarray:
    """Suppression reason per cell: "" (shown), small_cell or complementary.

    Primary suppression hides cells with fewer than ``min_cell`` pupils.
    Complementary suppression then repeats: while some hidden cell can be
    recovered exactly (see :func:`_recoverable`), take a relation in which it is
    the only hidden term (else any relation it is in) and hide one visible cell
    of that relation: a cell of the same attribute first (an intersection is
    protected inside the intersection rather than by hiding its margins), then
    one that also protects another lone hidden cell (closes a cycle), then the
    smallest; the overall row only as a last resort. For a
    plain attribute this is the classic rule: when exactly one group is hidden,
    the next-smallest group of that attribute is hidden too.
    """
    primary = n < min_cell
    hidden = primary.copy()
    involved = eq != 0
    n_cells = len(n)

    def pick_for(c: int, use: np.ndarray) -> int | None:
        cand = involved[use].any(axis=0) & ~hidden
        cand[0] = False
        pool = np.flatnonzero(cand)
        if pool.size == 0:
            return None
        # relations of each candidate that hold exactly one hidden cell: hiding the
        # candidate protects that cell as well (it closes a cycle)
        one_hidden = involved[:, hidden].sum(axis=1) == 1
        closes = (involved[:, pool] & one_hidden[:, None] & ~use[:, None]).sum(axis=0)
        key = np.lexsort((pool, n[pool], -closes, cell_attr[pool] != cell_attr[c]))
        return int(pool[key[0]])

    while True:
        rec = _recoverable(eq, hidden)
        if rec.size == 0:
            break
        added = False
        for c in rec:  # first the cells that are the only hidden term of a relation
            alone = involved[:, c] & (involved[:, hidden].sum(axis=1) == 1)
            if not alone.any():
                continue
            pick = pick_for(c, alone)
            if pick is not None:
                hidden[pick] = True
                added = True
        if not added:  # recoverable only by combining relations
            for c in rec:
                pick = pick_for(c, involved[:, c])
                if pick is not None:
                    hidden[pick] = True
                    added = True
                    break
        if not added:
            # nothing but the overall row is left to hide next to a recoverable cell
            rel = involved[involved[:, hidden].any(axis=1)].any(axis=0) & ~hidden
            if not rel.any():
                break
            pool = np.flatnonzero(rel)
            hidden[pool[np.lexsort((pool, n[pool]))[0]]] = True
    reason = np.full(n_cells, "", dtype=object)
    reason[hidden & ~primary] = _COMPLEMENTARY
    reason[primary] = _PRIMARY
    return reason


# ----------------------------------------------------------------------------- metrics
def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with NaN where den == 0."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _metrics(n, pos, sel, tp, score_sum) -> dict[str, np.ndarray]:
    """The rate metrics from additive totals (arrays of any matching shape)."""
    return {
        "base_rate": _div(pos, n),
        "selection_rate": _div(sel, n),
        "precision": _div(tp, sel),
        "recall": _div(tp, pos),
        "false_negative_rate": _div(pos - tp, pos),
        "false_positive_rate": _div(sel - tp, n - pos),
        "mean_predicted": _div(score_sum, n),
        "observed_rate": _div(pos, n),
    }


def _nan_percentiles(a: np.ndarray, qs: tuple[float, float]) -> list[np.ndarray]:
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


def _atoms(attrs: list[_Attribute], y: np.ndarray, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _bootstrap_totals(
    attrs: list[_Attribute],
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


# ----------------------------------------------------------------------------- validation
def _check_int(value, name: str, lo: int, func: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo:
        raise ValueError(
            f"The {name!r} parameter of {func} must be an int >= {lo}. Got {value!r} instead."
        )
    return int(value)


def _as_1d(values, name: str, func: str) -> tuple[np.ndarray, pd.Index | None]:
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise ValueError(
                f"The {name!r} parameter of {func} must be 1-dimensional. "
                f"Got a DataFrame with {values.shape[1]} columns instead."
            )
        values = values.iloc[:, 0]
    if isinstance(values, pd.Series):
        return values.to_numpy(), values.index
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            f"The {name!r} parameter of {func} must be 1-dimensional. Got shape {arr.shape} instead."
        )
    return arr, None


def _check_y(y_true, func: str, name: str = "y_true") -> tuple[np.ndarray, pd.Index | None]:
    arr, index = _as_1d(y_true, name, func)
    if arr.dtype == object or isinstance(getattr(y_true, "dtype", None), pd.api.extensions.ExtensionDtype):
        arr = pd.to_numeric(pd.Series(arr), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    if arr.dtype.kind not in "biuf":
        raise ValueError(
            f"The {name!r} parameter of {func} must hold 0/1 outcomes. Got dtype {arr.dtype} instead."
        )
    arr = arr.astype(np.float64)
    if np.isnan(arr).any():
        raise ValueError(
            f"The {name!r} parameter of {func} must not contain NaN. "
            f"Got {int(np.isnan(arr).sum())} missing outcome(s)."
        )
    bad = ~np.isin(arr, (0.0, 1.0))
    if bad.any():
        raise ValueError(
            f"The {name!r} parameter of {func} must hold only 0 and 1. "
            f"Got other values, e.g. {np.unique(arr[bad])[:5].tolist()}."
        )
    return arr.astype(bool), index


def _align_index(
    values: np.ndarray, index: pd.Index | None, target: pd.Index | None, n: int, name: str, func: str
) -> np.ndarray:
    """Align a 1-d input to the cohort (by label when both carry an index)."""
    if len(values) != n:
        raise ValueError(
            f"The {name!r} parameter of {func} must have one value per pupil of y_true "
            f"({n}). Got {len(values)} instead."
        )
    if index is None or target is None or index.equals(target):
        return values
    if not index.is_unique:
        raise ValueError(f"The index of {name!r} in {func} has duplicate labels.")
    pos = index.get_indexer(target)
    if (pos < 0).any():
        missing = target[pos < 0][:5].tolist()
        raise ValueError(
            f"The index of {name!r} in {func} does not match the index of y_true; "
            f"{int((pos < 0).sum())} pupil(s) are missing, e.g. {missing}."
        )
    return values[pos]


def _align_groups(groups, target: pd.Index | None, n: int, func: str) -> pd.DataFrame:
    if not isinstance(groups, pd.DataFrame):
        raise TypeError(
            f"The 'groups' parameter of {func} must be a pandas DataFrame of audit "
            f"attributes (one column each). Got {type(groups).__name__} instead."
        )
    if target is None:
        if len(groups) != n:
            raise ValueError(
                f"The 'groups' parameter of {func} must have one row per pupil ({n}). "
                f"Got {len(groups)} instead."
            )
        return groups.reset_index(drop=True)
    if groups.index.equals(target):
        return groups.reset_index(drop=True)
    if not groups.index.is_unique:
        dup = groups.index[groups.index.duplicated()][:5].tolist()
        raise ValueError(f"The index of 'groups' in {func} has duplicate labels, e.g. {dup}.")
    pos = groups.index.get_indexer(target)
    if (pos < 0).any():
        missing = target[pos < 0][:5].tolist()
        raise ValueError(
            f"The 'groups' parameter of {func} must have a row for every pupil of y_true "
            f"(aligned by index). {int((pos < 0).sum())} pupil(s) are missing, e.g. {missing}."
        )
    return groups.iloc[pos].reset_index(drop=True)


def _check_intersections(intersections, groups: pd.DataFrame, func: str) -> list[tuple[str, str]]:
    if intersections is None:
        return []
    out = []
    cols = [str(c) for c in groups.columns]
    for item in intersections:
        if isinstance(item, str) or not hasattr(item, "__len__") or len(item) != 2:
            raise ValueError(
                f"The 'intersections' parameter of {func} must be a list of pairs of "
                f"column names of 'groups'. Got {item!r} instead."
            )
        a, b = str(item[0]), str(item[1])
        for c in (a, b):
            if c not in cols:
                raise ValueError(
                    f"The 'intersections' parameter of {func} names {c!r}, which is not a "
                    f"column of 'groups' (columns: {cols})."
                )
        if a == b:
            raise ValueError(
                f"The 'intersections' parameter of {func} must pair two different columns. "
                f"Got {item!r} instead."
            )
        if (a, b) in out or (b, a) in out:
            raise ValueError(f"The 'intersections' parameter of {func} lists {item!r} twice.")
        out.append((a, b))
    return out


def _check_groups_columns(groups: pd.DataFrame, func: str) -> pd.DataFrame:
    names = [str(c) for c in groups.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"The 'groups' parameter of {func} has duplicate column names: {names}.")
    if OVERALL in names or any(INTERSECTION_SEP in c for c in names):
        raise ValueError(
            f"The columns of 'groups' in {func} must not be named {OVERALL!r} or contain "
            f"{INTERSECTION_SEP!r}. Got {names}."
        )
    return groups.set_axis(names, axis=1)


def _reference_codes(attrs: list[_Attribute], n_cell: np.ndarray, reference, func: str) -> dict[str, int]:
    """Reference group (code) per attribute: the given one, else the largest."""
    by_name = {a.name: a for a in attrs}
    given: dict[str, int] = {}
    if reference is not None:
        if not isinstance(reference, dict):
            raise TypeError(
                f"The 'reference' parameter of {func} must be a dict mapping attribute -> "
                f"group. Got {type(reference).__name__} instead."
            )
        for key, value in reference.items():
            name = INTERSECTION_SEP.join(map(str, key)) if isinstance(key, tuple) else str(key)
            if name not in by_name or name == OVERALL:
                raise ValueError(
                    f"The 'reference' parameter of {func} names the attribute {key!r}, which "
                    f"is not audited (attributes: {[a.name for a in attrs[1:]]})."
                )
            label = INTERSECTION_SEP.join(map(str, value)) if isinstance(value, tuple) else str(value)
            a = by_name[name]
            if label not in a.labels:
                raise ValueError(
                    f"The 'reference' parameter of {func} names the group {value!r} of "
                    f"{name!r}, which has no pupils (groups: {a.labels[:20]})."
                )
            given[name] = a.labels.index(label)
    out = {}
    for a in attrs:
        if a.name in given:
            out[a.name] = given[a.name]
        else:
            sizes = n_cell[a.offset : a.offset + a.n_groups]
            out[a.name] = int(np.argmax(sizes))  # first of the largest
    return out


# ----------------------------------------------------------------------------- audit
def audit(
    y_true,
    scores,
    groups: pd.DataFrame,
    *,
    k: int | None = None,
    top_fraction: float | None = None,
    reference: dict | None = None,
    n_boot: int = 1000,
    min_cell: int = 10,
    intersections: list[tuple[str, str]] | None = None,
    random_state=0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Audit a risk ranking by group at the operating point set by capacity.

    The top ``k`` pupils of the whole cohort by score (or the top
    ``top_fraction``) are *selected*; ties are broken deterministically (stable
    sort by score, descending, then by position). For the cohort as a whole
    (attribute ``"overall"``, group ``"all"``), for every column of ``groups`` and
    for each requested intersection, the table reports per group:

    ``n``
        pupils in the group;
    ``base_rate`` and ``observed_rate``
        share of the group with ``y_true == 1`` (``observed_rate`` repeats it beside
        ``mean_predicted`` so that calibration in the large reads off one pair);
    ``selection_rate``
        share of the group selected;
    ``precision``
        share of the group's selected pupils with ``y_true == 1``;
    ``recall`` (true positive rate) and ``false_negative_rate``
        share of the group's leavers selected, and not selected;
    ``false_positive_rate``
        share of the group's non-leavers selected;
    ``mean_predicted``
        mean score of the group;
    ``<metric>_ratio``
        the metric divided by that of the attribute's reference group;
    ``<metric>_low``, ``<metric>_high`` (also for the ratios)
        percentile bootstrap interval at ``confidence``;
    ``suppressed``, ``suppression_reason`` and ``reference``.

    Parameters
    ----------
    y_true : array-like or Series of 0/1, shape (n_pupils,)
        Observed outcome (1 = left early). With a Series, ``scores`` (if a Series)
        and ``groups`` are aligned to its index.
    scores : array-like or Series, shape (n_pupils,)
        Risk scores; higher means selected first. Finite numbers.
    groups : DataFrame
        Audit attributes, one column each (sex, home_language,
        migrant_background, special_needs, municipality, urban, ...). Missing
        values form the group ``"(missing)"``. Rows are aligned to ``y_true`` by
        index when ``y_true`` is a Series, else by position.
    k : int, optional
        Number of pupils that can be served (absolute count, 1 <= k <= n).
    top_fraction : float, optional
        Share of the cohort that can be served, in (0, 1]; ``k = floor(top_fraction
        * n)`` (at least one pupil must be selected). Give exactly one of ``k`` and
        ``top_fraction``.
    reference : dict, optional
        Attribute -> reference group for the ratios (an intersection by its name
        ``"a×b"`` or a tuple of the two columns; its group as ``"x×y"`` or a tuple).
        Default: the largest group of each attribute.
    n_boot : int, default=1000
        Bootstrap draws; 0 skips the intervals (their columns are then NaN).
    min_cell : int, default=10
        Smallest group size that is shown.
    intersections : list of (str, str), optional
        Pairs of ``groups`` columns to audit jointly, e.g.
        ``[("sex", "home_language")]`` adds the attribute ``"sex×home_language"``.
    random_state : int, numpy Generator or None, default=0
        Seed of the bootstrap.
    confidence : float, default=0.95
        Coverage of the bootstrap intervals.

    Returns
    -------
    DataFrame
        One row per (attribute, group), the overall row first, then the columns
        of ``groups`` in order, then the intersections. ``n`` is a nullable
        integer column. ``df.attrs`` records ``k``, ``top_fraction``, ``n_pupils``,
        ``min_cell``, ``n_boot``, ``confidence`` and the reference groups.

    Notes
    -----
    **Bootstrap.** Each draw resamples pupils with replacement from the cohort
    (ordinary nonparametric bootstrap, one resample shared by all attributes of
    the draw). The selected flag stays attached to the pupil: membership of the
    top k is a property of the pupil given the cohort and the capacity, so the
    intervals describe sampling variation of the audited population at a fixed
    list, not the variation of re-ranking a different cohort. Draws in which a
    rate is undefined (e.g. precision of a group with nobody selected) are left
    out of that rate's interval.

    **Suppression.** Groups with fewer than ``min_cell`` pupils are hidden
    (``suppressed=True``, ``suppression_reason="small_cell"``): their ``n``, rates,
    ratios and intervals are missing. Then complementary suppression runs: all
    published quantities are additive over a partition (n, leavers = base_rate x
    n, selected, true positives, score sums), and the groups of every attribute
    sum to the overall row, the cells of an intersection sum to the groups of
    its two attributes. While any hidden group could be recovered exactly from
    these relations (checked with the null space of the relations restricted to
    hidden cells), the smallest visible group sharing a relation with it is
    hidden too (``suppression_reason="complementary"``); with one hidden group in
    a plain attribute this is the next-smallest group of that attribute. The
    overall row is hidden only when the whole cohort is smaller than
    ``min_cell``. Ratios of an attribute whose reference group is hidden are
    missing. Bounds (a hidden group has between 0 and the hidden total) are not
    protected beyond this.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import riskmodel as rm
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random(400) < 0.2
    >>> p = 0.3 * y + rng.random(400)
    >>> groups = pd.DataFrame({"sex": rng.choice(["F", "M"], 400)})
    >>> table = rm.fairness.audit(y, p, groups, k=40, n_boot=100)
    >>> table[["attribute", "group", "n"]].to_dict("list")["attribute"]
    ['overall', 'sex', 'sex']
    """
    func = "audit"
    y, y_index = _check_y(y_true, func)
    n = len(y)
    if n == 0:
        raise ValueError("The 'y_true' parameter of audit must contain at least one pupil. Got 0.")
    s_arr, s_index = _as_1d(scores, "scores", func)
    if s_arr.dtype.kind not in "biuf":
        try:
            s_arr = s_arr.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"The 'scores' parameter of audit must be numeric. Got dtype {s_arr.dtype} instead."
            ) from None
    s_arr = _align_index(s_arr.astype(np.float64), s_index, y_index, n, "scores", func)
    if not np.isfinite(s_arr).all():
        raise ValueError(
            "The 'scores' parameter of audit must be finite numbers. "
            f"Got {int((~np.isfinite(s_arr)).sum())} NaN or infinite value(s)."
        )
    g = _check_groups_columns(_align_groups(groups, y_index, n, func), func)
    inters = _check_intersections(intersections, g, func)
    if (k is None) == (top_fraction is None):
        raise ValueError(
            "Exactly one of the 'k' and 'top_fraction' parameters of audit must be given. "
            f"Got k={k!r} and top_fraction={top_fraction!r}."
        )
    if k is not None:
        k = _check_int(k, "k", 1, func)
        if k > n:
            raise ValueError(
                f"The 'k' parameter of audit must be at most the number of pupils ({n}). Got {k} instead."
            )
        k_eff = k
    else:
        if (
            isinstance(top_fraction, bool)
            or not isinstance(top_fraction, numbers.Real)
            or not 0 < top_fraction <= 1
        ):
            raise ValueError(
                "The 'top_fraction' parameter of audit must be a float in (0, 1]. "
                f"Got {top_fraction!r} instead."
            )
        k_eff = int(math.floor(float(top_fraction) * n + 1e-9))
        if k_eff < 1:
            raise ValueError(
                f"The 'top_fraction' parameter of audit selects no pupil of {n} "
                f"(floor({top_fraction} * {n}) = 0). Use a larger fraction or 'k'."
            )
    n_boot = _check_int(n_boot, "n_boot", 0, func)
    min_cell = _check_int(min_cell, "min_cell", 1, func)
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real) or not 0 < confidence < 1:
        raise ValueError(
            f"The 'confidence' parameter of audit must be a float in (0, 1). Got {confidence!r} instead."
        )
    rng = np.random.default_rng(random_state)

    order = np.argsort(-s_arr, kind="stable")
    sel = np.zeros(n, dtype=bool)
    sel[order[:k_eff]] = True

    attrs = _build_attributes(g, inters)
    n_cells = sum(a.n_groups for a in attrs)
    tot = {q: np.empty(n_cells) for q in ("n", "pos", "sel", "tp", "ss")}
    tp_flag = y & sel
    for a in attrs:
        sl = slice(a.offset, a.offset + a.n_groups)
        G = a.n_groups
        tot["n"][sl] = np.bincount(a.codes, minlength=G)
        tot["pos"][sl] = np.bincount(a.codes, weights=y, minlength=G)
        tot["sel"][sl] = np.bincount(a.codes, weights=sel, minlength=G)
        tot["tp"][sl] = np.bincount(a.codes, weights=tp_flag, minlength=G)
        tot["ss"][sl] = np.bincount(a.codes, weights=s_arr, minlength=G)
    point = _metrics(tot["n"], tot["pos"], tot["sel"], tot["tp"], tot["ss"])

    reason = _suppress(tot["n"], _equations(attrs), min_cell, _cell_attribute(attrs))
    hidden = reason != ""
    ref = _reference_codes(attrs, tot["n"], reference, func)
    ref_cell = np.empty(n_cells, dtype=np.int64)
    for a in attrs:
        ref_cell[a.offset : a.offset + a.n_groups] = a.offset + ref[a.name]
    ratio_ok = ~hidden & ~hidden[ref_cell]
    for a in attrs:
        if hidden[a.offset + ref[a.name]] and a.name != OVERALL:
            logger.warning(
                "audit: the reference group %r of %r is suppressed; its ratios are not shown.",
                a.labels[ref[a.name]],
                a.name,
            )

    cols: dict[str, np.ndarray] = {}
    for m in METRICS:
        cols[m] = np.where(hidden, np.nan, point[m])
    ratios = {m: np.where(ratio_ok, _div(point[m], point[m][ref_cell]), np.nan) for m in METRICS}

    alpha = (1.0 - float(confidence)) / 2.0
    intervals: dict[str, np.ndarray] = {}
    if n_boot > 0:
        bn, bpos, bsel, btp, bss = _bootstrap_totals(attrs, y, sel, s_arr, n_boot, rng)
        draws = _metrics(bn, bpos, bsel, btp, bss)
        del bn, bpos, bsel, btp, bss
        for m in METRICS:
            lo, hi = _nan_percentiles(draws[m], (alpha, 1.0 - alpha))
            intervals[f"{m}_low"] = np.where(hidden, np.nan, lo)
            intervals[f"{m}_high"] = np.where(hidden, np.nan, hi)
        for m in METRICS:
            r = _div(draws[m], draws[m][:, ref_cell])
            lo, hi = _nan_percentiles(r, (alpha, 1.0 - alpha))
            intervals[f"{m}_ratio_low"] = np.where(ratio_ok, lo, np.nan)
            intervals[f"{m}_ratio_high"] = np.where(ratio_ok, hi, np.nan)
    else:
        for m in [*METRICS, *(f"{x}_ratio" for x in METRICS)]:
            intervals[f"{m}_low"] = np.full(n_cells, np.nan)
            intervals[f"{m}_high"] = np.full(n_cells, np.nan)

    is_ref = np.zeros(n_cells, dtype=bool)
    is_ref[[a.offset + ref[a.name] for a in attrs]] = True
    data = {
        "attribute": [a.name for a in attrs for _ in a.labels],
        "group": [lab for a in attrs for lab in a.labels],
        "n": pd.array(np.where(hidden, np.nan, tot["n"]), dtype="Int64"),
        **cols,
        "suppressed": hidden,
        "suppression_reason": reason.astype(str),
        "reference": is_ref,
        **{f"{m}_ratio": ratios[m] for m in METRICS},
    }
    for m in [*METRICS, *(f"{x}_ratio" for x in METRICS)]:
        data[f"{m}_low"] = intervals[f"{m}_low"]
        data[f"{m}_high"] = intervals[f"{m}_high"]
    out = pd.DataFrame(data)
    out["attribute"] = out["attribute"].astype("str")
    out["group"] = out["group"].astype("str")
    out["suppression_reason"] = out["suppression_reason"].astype("str")
    out.attrs = {
        "k": k_eff,
        "top_fraction": None if top_fraction is None else float(top_fraction),
        "n_pupils": n,
        "min_cell": min_cell,
        "n_boot": n_boot,
        "confidence": float(confidence),
        "reference": {a.name: a.labels[ref[a.name]] for a in attrs[1:]},
    }
    logger.info(
        "audit: %d pupils, k=%d, %d attributes, %d groups (%d suppressed), %d bootstrap draws",
        n, k_eff, len(attrs) - 1, n_cells - 1, int(hidden.sum()), n_boot,
    )
    return out


# ----------------------------------------------------------------------------- allocation
def _pupil_ids(pupils: pd.DataFrame, func: str) -> pd.Index:
    if "pupil_id" in pupils.columns:
        ids = pupils["pupil_id"]
    elif pupils.index.name == "pupil_id" or not isinstance(pupils.index, pd.RangeIndex):
        ids = pupils.index.to_series()
    else:
        raise DataValidationError(
            f"{func}: table 'pupils' needs a 'pupil_id' column or index.",
            [{"table": "pupils", "column": "pupil_id", "n_rows": len(pupils), "examples": [],
              "message": "missing pupil_id"}],
        )
    idx = pd.Index(ids.astype(str).to_numpy(), name="pupil_id")
    if not idx.is_unique:
        dup = idx[idx.duplicated()][:5].tolist()
        raise DataValidationError(
            f"{func}: table 'pupils', column 'pupil_id': {int(idx.duplicated().sum())} duplicate "
            f"id(s), e.g. {dup}.",
            [{"table": "pupils", "column": "pupil_id", "n_rows": int(idx.duplicated().sum()),
              "examples": dup, "message": "duplicate pupil_id"}],
        )
    return idx


def audit_allocation(
    assignments: pd.DataFrame,
    pupils: pd.DataFrame,
    groups: pd.DataFrame,
    *,
    y_true=None,
    risk_threshold: float | None = None,
    min_cell: int = 10,
    intersections: list[tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """Audit a support plan: who got support, by group, among those who needed it.

    For each population — ``"risk_group"`` (pupils in the risk group) and, when
    ``y_true`` is given, ``"leavers"`` (pupils who later left, ``y_true == 1``) —
    and for each audit attribute and group, the share of the population's pupils
    in the group who got support of any kind (``kind="any"``) and of each kind
    present in ``assignments``.

    Parameters
    ----------
    assignments : DataFrame
        The plan (``Allocation.assignments``): columns ``pupil_id`` and ``kind``
        (others, e.g. ``resource_id`` and ``value``, are ignored). A pupil may
        have several rows.
    pupils : DataFrame
        The pupils the plan was made for, ``pupil_id`` as index or column; the
        risk group is the bool column ``in_risk_group`` or, when
        ``risk_threshold`` is given, ``risk >= risk_threshold``.
    groups : DataFrame
        Audit attributes, indexed by ``pupil_id`` (every pupil of ``pupils``
        needs a row) or in the order of ``pupils`` when the lengths match and
        the index is not the pupil id.
    y_true : Series or array-like of 0/1, optional
        Later outcome; a Series is aligned to the pupil ids by index, an array
        by position.
    risk_threshold : float, optional
        Defines the risk group as ``pupils["risk"] >= risk_threshold`` (the plan's
        ``ProgrammeRules.min_risk``).
    min_cell : int, default=10
        Smallest group size shown; suppression as in :func:`audit` (the small
        cell and complementary rules apply within each population).
    intersections : list of (str, str), optional
        Pairs of ``groups`` columns to audit jointly.

    Returns
    -------
    DataFrame
        Columns ``population, attribute, group, kind, n, supported_share,
        supported_share_ratio`` (to the largest group of the attribute),
        ``suppressed, suppression_reason``; ``n`` counts the population's pupils
        in the group.

    Examples
    --------
    >>> import pandas as pd
    >>> import riskmodel as rm
    >>> pupils = pd.DataFrame({"risk": [0.9] * 12 + [0.1] * 12},
    ...                       index=pd.Index([f"p{i}" for i in range(24)], name="pupil_id"))
    >>> groups = pd.DataFrame({"sex": ["F", "M"] * 12}, index=pupils.index)
    >>> plan = pd.DataFrame({"pupil_id": ["p0", "p1", "p2"], "resource_id": "r1",
    ...                      "kind": "mentor", "value": 1.0})
    >>> table = rm.fairness.audit_allocation(plan, pupils, groups, risk_threshold=0.5)
    >>> float(table.query("attribute == 'overall' and kind == 'any'")["supported_share"].iloc[0])
    0.25
    """
    func = "audit_allocation"
    if not isinstance(assignments, pd.DataFrame):
        raise TypeError(
            f"The 'assignments' parameter of {func} must be a DataFrame with columns pupil_id "
            f"and kind. Got {type(assignments).__name__} instead."
        )
    if not isinstance(pupils, pd.DataFrame):
        raise TypeError(
            f"The 'pupils' parameter of {func} must be a DataFrame. Got {type(pupils).__name__} instead."
        )
    missing = [c for c in ("pupil_id", "kind") if c not in assignments.columns]
    if missing:
        raise DataValidationError(
            f"{func}: table 'assignments' lacks the required column(s) {missing}.",
            [{"table": "assignments", "column": c, "n_rows": len(assignments), "examples": [],
              "message": "missing column"} for c in missing],
        )
    min_cell = _check_int(min_cell, "min_cell", 1, func)
    ids = _pupil_ids(pupils, func)
    n = len(ids)

    if risk_threshold is not None:
        if "risk" not in pupils.columns:
            raise DataValidationError(
                f"{func}: table 'pupils' needs a 'risk' column when risk_threshold is given.",
                [{"table": "pupils", "column": "risk", "n_rows": n, "examples": [],
                  "message": "missing column"}],
            )
        risk = pd.to_numeric(pupils["risk"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        in_risk = risk >= float(risk_threshold)
    elif "in_risk_group" in pupils.columns:
        col = pupils["in_risk_group"]
        if col.isna().any():
            raise DataValidationError(
                f"{func}: table 'pupils', column 'in_risk_group': {int(col.isna().sum())} missing value(s).",
                [{"table": "pupils", "column": "in_risk_group", "n_rows": int(col.isna().sum()),
                  "examples": [], "message": "missing values"}],
            )
        in_risk = col.astype(bool).to_numpy()
    else:
        raise ValueError(
            f"{func} needs the risk group: pass 'risk_threshold' (with a 'risk' column in "
            "'pupils') or give 'pupils' a bool column 'in_risk_group'."
        )

    populations: list[tuple[str, np.ndarray]] = [("risk_group", in_risk)]
    if y_true is not None:
        y, y_index = _check_y(y_true, func)
        if y_index is not None and not isinstance(y_index, pd.RangeIndex):
            y = _align_index(y, pd.Index(y_index.astype(str)), ids, n, "y_true", func)
        elif len(y) != n:
            raise ValueError(
                f"The 'y_true' parameter of {func} must have one value per pupil ({n}). Got {len(y)} instead."
            )
        populations.append(("leavers", y))

    if isinstance(groups, pd.DataFrame) and not isinstance(groups.index, pd.RangeIndex):
        g_aligned = groups.set_axis(pd.Index(groups.index.astype(str)), axis=0)
        g = _align_groups(g_aligned, ids, n, func)
    else:
        g = _align_groups(groups, None, n, func)
    g = _check_groups_columns(g, func)
    inters = _check_intersections(intersections, g, func)

    a_ids = pd.Index(assignments["pupil_id"].astype(str).to_numpy())
    pos = ids.get_indexer(a_ids)
    if (pos < 0).any():
        unknown = a_ids[pos < 0].unique()[:5].tolist()
        raise DataValidationError(
            f"{func}: table 'assignments', column 'pupil_id': {int((pos < 0).sum())} row(s) name "
            f"pupils that are not in 'pupils', e.g. {unknown}.",
            [{"table": "assignments", "column": "pupil_id", "n_rows": int((pos < 0).sum()),
              "examples": unknown, "message": "unknown pupil"}],
        )
    kind_col = assignments["kind"]
    if isinstance(kind_col.dtype, pd.CategoricalDtype):
        kinds = [str(c) for c in kind_col.cat.categories if (kind_col == c).any()]
    else:
        kinds = sorted(kind_col.dropna().astype(str).unique().tolist())
    kind_str = kind_col.astype(str).to_numpy()
    supported = {"any": np.zeros(n, dtype=bool)}
    supported["any"][pos] = True
    for kd in kinds:
        flag = np.zeros(n, dtype=bool)
        flag[pos[kind_str == kd]] = True
        supported[kd] = flag

    frames = []
    populations_done: list[str] = []
    for pop_name, mask in populations:
        sub = g.loc[mask].reset_index(drop=True)
        attrs = _build_attributes(sub, inters)
        n_cells = sum(a.n_groups for a in attrs)
        n_cell = np.empty(n_cells)
        for a in attrs:
            n_cell[a.offset : a.offset + a.n_groups] = np.bincount(a.codes, minlength=a.n_groups)
        reason = _suppress(n_cell, _equations(attrs), min_cell, _cell_attribute(attrs))
        hidden = reason != ""
        ref = _reference_codes(attrs, n_cell, None, func)
        ref_cell = np.concatenate([np.full(a.n_groups, a.offset + ref[a.name]) for a in attrs])
        ratio_ok = ~hidden & ~hidden[ref_cell]
        labels_attr = [a.name for a in attrs for _ in a.labels]
        labels_group = [lab for a in attrs for lab in a.labels]
        for kind_pos, kd in enumerate(["any", *kinds]):
            flag = supported[kd][mask]
            got = np.concatenate(
                [np.bincount(a.codes, weights=flag, minlength=a.n_groups) for a in attrs]
            ) if len(flag) else np.zeros(n_cells)
            share = _div(got, n_cell)
            frames.append(
                pd.DataFrame(
                    {
                        "population": pop_name,
                        "attribute": labels_attr,
                        "group": labels_group,
                        "kind": kd,
                        "n": pd.array(np.where(hidden, np.nan, n_cell), dtype="Int64"),
                        "supported_share": np.where(hidden, np.nan, share),
                        "supported_share_ratio": np.where(ratio_ok, _div(share, share[ref_cell]), np.nan),
                        "suppressed": hidden,
                        "suppression_reason": reason.astype(str),
                        "_pop": len(populations_done),
                        "_cell": np.arange(n_cells),
                        "_kind": kind_pos,
                    }
                )
            )
        populations_done.append(pop_name)
    # one block per population; inside it, group by group with "any" then each kind
    out = pd.concat(frames, ignore_index=True).sort_values(["_pop", "_cell", "_kind"], kind="stable")
    out = out.drop(columns=["_pop", "_cell", "_kind"]).reset_index(drop=True)
    for c in ("population", "attribute", "group", "kind", "suppression_reason"):
        out[c] = out[c].astype("str")
    out.attrs = {"min_cell": min_cell, "n_pupils": n, "kinds": kinds}
    return out

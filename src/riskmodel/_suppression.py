"""Small-cell suppression (private): the one constant and the one blanking rule.

Anything that leaves the pupil level (reports, model cards, MLflow) shows no
count or rate of a group smaller than :data:`MIN_CELL` pupils.
:func:`blank_small` is the blanking of a finished table; :func:`suppress_cells`
is the audits' small-cell plus complementary suppression over cells tied by
linear relations (groups summing to totals), so that no hidden cell can be
recovered exactly (see :func:`riskmodel.fairness.audit`, "Suppression").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["COMPLEMENTARY", "MIN_CELL", "SMALL_CELL", "blank_small", "recoverable", "suppress_cells"]

#: Groups with fewer pupils than this show no numbers anywhere outside the pupil level.
MIN_CELL = 10
#: suppression reasons of a cell: too few pupils, or hidden to protect a small cell
SMALL_CELL = "small_cell"
COMPLEMENTARY = "complementary"


def blank_small(table: pd.DataFrame | None, count_col: str = "n", min_cell: int = MIN_CELL):
    """Blank every number of the rows whose ``count_col`` is below ``min_cell``.

    Numeric columns (not booleans) of those rows become NaN, ``count_col`` included;
    other rows and columns are left as they are. A table without ``count_col`` (or
    None) is returned unchanged. The input is never modified.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"group": ["a", "b"], "n": [4, 25], "rate": [0.5, 0.2]})
    >>> blank_small(t)
      group     n  rate
    0     a   NaN   NaN
    1     b  25.0   0.2
    >>> blank_small(t.astype({"n": "Int64"})).loc[:, "n"].tolist()  # nullable counts too
    [nan, 25.0]
    """
    if table is None or count_col not in table.columns:
        return table
    table = table.copy()
    counts = pd.to_numeric(table[count_col], errors="coerce")
    # a missing count (NaN, or pd.NA of a nullable column) is not a small group: nothing to blank
    small = (counts < max(int(min_cell), 1)).fillna(False).to_numpy(dtype=bool)
    if small.any():
        for c in table.columns:
            if pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c]):
                table[c] = table[c].astype("float64")
                table.loc[small, c] = np.nan
    return table


def recoverable(eq: np.ndarray, hidden: np.ndarray) -> np.ndarray:
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


def suppress_cells(n: np.ndarray, eq: np.ndarray, min_cell: int, cell_attr: np.ndarray) -> np.ndarray:
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
        rec = recoverable(eq, hidden)
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
    reason[hidden & ~primary] = COMPLEMENTARY
    reason[primary] = SMALL_CELL
    return reason

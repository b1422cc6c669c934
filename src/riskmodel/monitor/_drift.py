"""Per-feature drift statistics, vectorised over pupils (private).

Every statistic compares a ``current`` column with the same ``reference`` column:

- ``psi``: population stability index over the reference's quantile bins plus one
  bin for missing values, ``sum((c - r) * ln(c / r))``. The bins are soft, at the
  resolution of the central range (:func:`bin_counts`: rates on a shifting lattice
  are no drift). Bin shares are smoothed by adding 0.5 to every bin count (so an
  empty bin gives a finite value).
- ``js_distance``: Jensen-Shannon distance (base 2, in [0, 1]) between the unsmoothed
  bin shares, as :func:`scipy.spatial.distance.jensenshannon`.
- ``missing_share_change``: current minus reference share of missing values.
- ``out_of_range_share``: share of the current non-missing values outside the
  reference's [min, max].

Each comes with a p-value of "no change" (see :func:`drift_statistics`).

Group-level features (:func:`group_level`: the registry's school- and
municipality-level context features, one value shared by every pupil of a school)
are tested with the school as the unit: the sample sizes of their tests are the
numbers of distinct values (about the schools), not the pupils, since pupils of one
school move together and a per-pupil test would overstate significance. With fewer
than :data:`MIN_GROUPS` distinct reference values their PSI is shown, not tested.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DataValidationError

__all__ = ["N_BINS", "bin_counts", "resolution", "drift_statistics", "group_level", "numeric_block", "psi",
           "psi_p_value", "js_distance"]


def group_level(names) -> set:
    """The names of group-level (school or municipality) features among ``names``.

    A registered feature is group-level when it is of the ``context`` domain and
    named ``school_...`` or ``municipality_...``; an unregistered name by its prefix.

    Examples
    --------
    >>> sorted(group_level(["school_leaving_rate_3y", "grade_level", "school_changes_2y",
    ...                     "municipality_x"]))
    ['municipality_x', 'school_leaving_rate_3y']
    """
    from ..features import registry

    reg = registry(include_sensitive=True)["domain"]
    out = set()
    for n in names:
        n = str(n)
        if n.startswith(("school_", "municipality_")) and reg.get(n, "context") == "context":
            out.add(n)
    return out


def units(col: np.ndarray) -> int:
    v = col[~np.isnan(col)]
    return max(int(len(np.unique(v))), 1) if len(v) else 1

#: quantile bins of the reference (plus one bin for missing values)
N_BINS = 10
#: distinct values (schools, municipalities) a group-level feature needs for its PSI
#: to be tested: two per bin. With fewer, every group moving its value from one year
#: to the next moves whole bins (a PSI of several units in a stable world of a few
#: schools), and the chi-square approximation on so few units does not hold.
MIN_GROUPS = 2 * N_BINS
_SMOOTH = 0.5


def numeric_block(frame: pd.DataFrame, columns, table: str) -> np.ndarray:
    """``frame[columns]`` as a float64 matrix; a non-numeric column is a DataValidationError."""
    bad = [c for c in columns if not (pd.api.types.is_numeric_dtype(frame[c])
                                      or pd.api.types.is_bool_dtype(frame[c]))]
    if bad:
        problems = [{"table": table, "column": c, "n_rows": int(len(frame)),
                     "examples": frame[c].dropna().astype(str).unique()[:3].tolist(),
                     "message": f"column {c!r} of {table} is {frame[c].dtype}, not numeric"}
                    for c in bad]
        raise DataValidationError(
            f"monitor.check compares numeric feature columns; {table} has non-numeric "
            f"column(s) {bad} (dtype {', '.join(str(frame[c].dtype) for c in bad)}). Drop them "
            "or encode them as numbers first.", problems)
    return frame[list(columns)].to_numpy(dtype="float64", na_value=np.nan)


def _cuts(ref_col: np.ndarray, n_bins: int) -> np.ndarray:
    """Inner cut points from the inner quantiles of the non-missing reference values.

    A quantile ``q`` becomes the midpoint between the largest distinct reference value
    below ``q`` and the smallest at or above it. The reference's own partition is the
    same as cutting at ``q``, but no cut sits on a value the reference takes. That
    matters for rates and counts on a lattice (``k / n`` over the school days of a
    window): when ``n`` differs between two dates, values such as 18/19 and 19/20 stay in
    one bin instead of falling on either side of a cut at 18/19.

    Examples
    --------
    >>> _cuts(np.array([0., 1, 2, 3]), 2).tolist()
    [1.5]
    >>> _cuts(np.array([17, 18, 18, 19, 19, 19]) / 19, 2).round(4).tolist()
    [0.9737]
    """
    return _cuts_of_sorted(_sorted_values(ref_col), n_bins)


def _sorted_values(col: np.ndarray) -> np.ndarray:
    """The non-missing values of ``col``, sorted."""
    return np.sort(col[~np.isnan(col)])


def _inner_quantiles(n_bins: int) -> np.ndarray:
    return np.linspace(0, 1, n_bins + 1)[1:-1]


def _cuts_of_sorted(v: np.ndarray, n_bins: int, q: np.ndarray | None = None) -> np.ndarray:
    """:func:`_cuts` of the sorted non-missing values ``v`` (``q``: their inner quantiles,
    when known)."""
    if len(v) == 0:
        return np.empty(0)
    u = v[np.r_[True, v[1:] != v[:-1]]]  # np.unique of sorted values
    if q is None:
        q = np.quantile(v, _inner_quantiles(n_bins))
    hi_i = np.searchsorted(u, q, side="left")
    hi = u[hi_i]
    lo = u[np.maximum(hi_i - 1, 0)]
    return np.unique(np.where(hi_i > 0, (lo + hi) / 2, hi))


def _merged(cuts: np.ndarray, width: float) -> np.ndarray:
    """``cuts`` with every cut closer than ``width`` to the last one kept dropped."""
    keep = []
    for c in cuts:
        if not keep or c - keep[-1] >= width:
            keep.append(c)
    return np.asarray(keep, dtype="float64")


def resolution(ref_col: np.ndarray, n_bins: int = N_BINS) -> float:
    """The smallest change the binned statistics resolve: ``(q90 - q10) / n_bins``.

    The width of one equal-width bin over the central 80 % of the non-missing
    reference values (0 when they are a single value there).

    Examples
    --------
    >>> resolution(np.arange(101.0))
    8.0
    """
    v = ref_col[~np.isnan(ref_col)]
    if len(v) == 0:
        return 0.0
    q10, q90 = np.quantile(v, [0.1, 0.9])
    return float(q90 - q10) / n_bins


def _cuts_and_width(v: np.ndarray, n_bins: int, soft: bool) -> tuple[np.ndarray, float]:
    """:func:`_cuts` and (with ``soft``) :func:`resolution` of the sorted non-missing
    reference values ``v``: the same numbers, from one call of ``np.quantile`` (issue 21:
    each quantile is interpolated between the same two order statistics either way)."""
    inner = _inner_quantiles(n_bins)
    if len(v) == 0:
        return np.empty(0), 0.0
    q = np.quantile(v, np.r_[inner, 0.1, 0.9] if soft else inner)
    cuts = _cuts_of_sorted(v, n_bins, q[:len(inner)])
    return cuts, (float(q[-1] - q[-2]) / n_bins if soft else 0.0)


def _soft_below(sorted_x: np.ndarray, csum: np.ndarray, cuts: np.ndarray, width: float):
    """Mass of the values below each cut, each value spread uniformly over
    ``[x - width / 2, x + width / 2]`` (plain counts of ``x < cut`` when ``width`` is 0)."""
    if width <= 0:
        return np.searchsorted(sorted_x, cuts, side="left").astype("float64")
    lo = np.searchsorted(sorted_x, cuts - width / 2, side="left")
    hi = np.searchsorted(sorted_x, cuts + width / 2, side="right")
    inside = hi - lo
    return lo + inside * (cuts / width + 0.5) - (csum[hi] - csum[lo]) / width


def bin_counts(ref_col: np.ndarray, cur_col: np.ndarray, n_bins: int = N_BINS, *,
               soft: bool = True):
    """Counts per bin (reference, current): ``len(cuts) + 1`` value bins, then missing.

    The cut points are :func:`_cuts` of the reference. With ``soft`` (the default
    for features), they are kept at least :func:`resolution` apart and each value
    counts as a uniform spread of that width around it, split between the bins it
    overlaps. Otherwise a value ``x`` is in bin ``i`` when exactly ``i`` cut points
    are <= ``x``.

    Why soft bins: rates on a lattice (``k / n`` lessons of a window, with ``n``
    changing with the calendar) put large atoms of mass a hair apart. Quantile cuts
    then fall between atoms closer than one lesson, and a one-lesson change in
    ``n`` between two years moves whole atoms across them: the demo's
    ``attendance_rate_28d`` had PSI 0.72 between two stable Mays with the same mean
    and quartiles. With soft bins a move of ``d`` shifts at most a share ``d /
    resolution`` of the mass across a cut, so changes far below the central range's
    tenth count for little, while a shift of the distribution still counts in full.
    Integer-valued features are unaffected (cuts lie midway between values, and the
    spread stays inside a bin when the resolution is at most 1).

    Examples
    --------
    >>> r, c = bin_counts(np.array([0., 1, 2, 3]), np.array([3., 3, np.nan]), n_bins=2,
    ...                   soft=False)
    >>> r.tolist(), c.tolist()
    ([2.0, 2.0, 0.0], [0.0, 2.0, 1.0])
    >>> r, c = bin_counts(np.array([0., 1, 2, 3]), np.array([1.8, 3]), n_bins=2)
    >>> r.round(6).tolist(), c.round(6).tolist()  # resolution 1.2: 1.8 over [1.2, 2.4]
    ([2.0, 2.0, 0.0], [0.25, 1.75, 0.0])
    """
    ref_sorted = _sorted_values(ref_col)  # sorted once for the cuts and the counts
    cuts, width = _cuts_and_width(ref_sorted, n_bins, soft)
    if soft:
        cuts = _merged(cuts, width)
    out = []
    for col, x in ((ref_col, ref_sorted), (cur_col, None)):
        miss = np.isnan(col)
        if x is None:
            x = np.sort(col[~miss])
        csum = np.concatenate([[0.0], np.cumsum(x)])
        below = np.concatenate([[0.0], _soft_below(x, csum, cuts, width), [float(len(x))]])
        out.append(np.append(np.diff(below), float(miss.sum())))
    return out[0], out[1]


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Population stability index of two count vectors (0.5 added to every count).

    Examples
    --------
    >>> round(psi(np.array([50, 50]), np.array([25, 75])), 4)
    0.2687
    """
    r = (ref_counts + _SMOOTH) / (ref_counts.sum() + _SMOOTH * len(ref_counts))
    c = (cur_counts + _SMOOTH) / (cur_counts.sum() + _SMOOTH * len(cur_counts))
    return float(np.sum((c - r) * np.log(c / r)))


def js_distance(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2) of two count vectors.

    Examples
    --------
    >>> from scipy.spatial.distance import jensenshannon
    >>> a, b = np.array([50, 50, 0]), np.array([25, 70, 5])
    >>> bool(np.isclose(js_distance(a, b), jensenshannon(a, b, base=2)))
    True
    """
    p = ref_counts / ref_counts.sum()
    q = cur_counts / cur_counts.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    return float(np.sqrt(max(0.5 * (kl_p + kl_q), 0.0)))


def psi_p_value(value: float, scale: float, df: int, inflation: float = 1.0,
                inflation_df: float | None = None) -> float:
    """p-value of "no change" of a PSI ``value`` (``scale = 1/n_ref + 1/n_cur``).

    ``T = value / scale`` is asymptotically chi-square with ``df`` degrees of freedom
    when only sampling separates the two cohorts. Stable years vary more than that
    (calendars, cohorts, schools moving together): under ``T ~ c * chi2(df)`` the
    history estimates ``c`` as ``inflation``, the mean of ``T_i / df_i`` over its k
    stable pairs, an estimate on ``inflation_df = sum(df_i)`` degrees of freedom.
    Without ``inflation_df`` (``c`` taken as known) the p-value is
    ``chi2.sf(T / c, df)``; with it, the prediction test of a new year against a
    scale estimated from k years, ``F.sf((T / df) / c, df, inflation_df)``, which
    carries the uncertainty of a short history (three stable pairs estimate ``c`` on
    some 30 degrees of freedom, and a chi-square with ``c`` taken as known would
    flag a stable year's largest group-level PSI far more often than at its level).
    As the history grows, the F test tends to the chi-square.

    Examples
    --------
    >>> t = 0.2; s = 2 / 300  # T = 30 on 9 df
    >>> round(psi_p_value(t, s, 9), 5), round(psi_p_value(t, s, 9, 1.0, 27), 4)
    (0.00044, 0.0073)
    >>> round(psi_p_value(t, s, 9, 1.0, 10**7), 5)
    0.00044
    """
    inflation = max(float(inflation), 1e-12)
    t = value / scale
    if inflation_df is None or not np.isfinite(inflation_df) or inflation_df <= 0:
        return float(stats.chi2.sf(t / inflation, df))
    return float(stats.f.sf(t / df / inflation, df, inflation_df))


def drift_statistics(ref: np.ndarray, cur: np.ndarray, names, *, n_bins: int = N_BINS,
                     psi_inflation=None, psi_inflation_df=None) -> pd.DataFrame:
    """One row per feature and statistic, with the p-value of "no change".

    p-values: PSI scaled by ``(1/n_ref + 1/n_cur)`` is asymptotically chi-square with
    (non-empty bins - 1) degrees of freedom when nothing changed; ``psi_inflation``
    (per feature, >= 1, from :func:`calibrate_thresholds`) widens that null to the
    year-to-year variation of the history, and with ``psi_inflation_df`` (per feature,
    the history's degrees of freedom behind the inflation) the test is the predictive
    F test of :func:`psi_p_value`. The missing share: a two-proportion
    z-test. Out of range: a binomial test against ``2 / (n_ref + 1)``, the chance that
    a value from the same distribution falls outside the reference's range.
    JS distance has no p-value of its own (it tests the same thing as PSI).

    Returns
    -------
    DataFrame
        Columns ``name``, ``statistic``, ``value``, ``p_value``, ``n``, ``df``.
    """
    rows = []
    miss_r = np.isnan(ref).mean(axis=0)
    miss_c = np.isnan(cur).mean(axis=0)
    groups = group_level(names)
    for j, name in enumerate(names):
        n_ref, n_cur = len(ref), len(cur)
        if name in groups:  # the school is the unit of its tests
            n_ref, n_cur = units(ref[:, j]) + 1, units(cur[:, j]) + 1
        rc, cc = bin_counts(ref[:, j], cur[:, j], n_bins)
        value_psi = psi(rc, cc)
        df = max(int(((rc + cc) > 0).sum()) - 1, 1)
        infl = 1.0 if psi_inflation is None else psi_inflation.get(name, 1.0)
        hist_df = None if psi_inflation_df is None else psi_inflation_df.get(name)
        n_pupils = len(cur)
        p_psi = psi_p_value(value_psi, 1 / n_ref + 1 / n_cur, df, infl, hist_df)
        if name in groups and n_ref - 1 < MIN_GROUPS:
            p_psi = np.nan  # too few schools for a distribution over deciles: not tested
        rows.append((name, "psi", value_psi, p_psi, n_pupils, df))
        rows.append((name, "js_distance", js_distance(rc, cc), np.nan, n_pupils, df))
        # missing share: two-proportion z-test
        pooled = (miss_r[j] * n_ref + miss_c[j] * n_cur) / (n_ref + n_cur)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n_ref + 1 / n_cur))
        change = miss_c[j] - miss_r[j]
        p_miss = 1.0 if se == 0 else float(2 * stats.norm.sf(abs(change) / se))
        rows.append((name, "missing_share_change", float(change), p_miss, n_pupils, 1))
        # values outside the reference's range
        r_ok = ref[~np.isnan(ref[:, j]), j]
        c_ok = cur[~np.isnan(cur[:, j]), j]
        if len(r_ok) and len(c_ok):
            out = (c_ok < r_ok.min()) | (c_ok > r_ok.max())
            k, n_r, n_c = int(out.sum()), len(r_ok), len(c_ok)
            if name in groups:  # distinct values (schools) out of range, of those present
                k, n_r, n_c = len(np.unique(c_ok[out])), units(r_ok), units(c_ok)
            p0 = min(2 / (n_r + 1), 1.0)
            rows.append((name, "out_of_range_share", out.mean(),
                         float(stats.binom.sf(k - 1, n_c, p0)), len(c_ok), 1))
        else:
            rows.append((name, "out_of_range_share", np.nan, np.nan, len(c_ok), 1))
    return pd.DataFrame(rows, columns=["name", "statistic", "value", "p_value", "n", "df"])

"""Fairness audits at capacity: of the ranking and of the support plan.

Two audits, one tidy long DataFrame shape (fairlearn's ``MetricFrame.by_group``
in long form), one row per (attribute, group, metric):

- :func:`audit` audits a *score* at the operating point that capacity imposes:
  the top ``top_k`` pupils (or the top ``top_fraction``) of the whole cohort are
  "selected", and for every audit attribute (sex, home language, migrant
  background, special needs, municipality, urban/rural, and intersections of two
  of them on request) it reports base rates, selection rates, precision,
  recall, false negative and false positive rates and calibration in the large
  (:data:`METRICS`), the ratio of each to a reference group, and percentile
  bootstrap intervals.
- :func:`audit_allocation` audits the *plan*: among pupils who later left and
  among pupils in the risk group, the share who got support (any kind and each
  kind), by group; the same columns, with the keys ``population`` and ``kind``
  in front.
- :func:`by_group` is the wide view of either table (one row per group, a
  column per metric), e.g. for a report.

Columns of both tables (after their key columns):

``n``
    pupils in the group (nullable int; missing when suppressed);
``reference``
    the group is its attribute's reference for the ratios;
``suppressed``, ``suppression_reason``
    ``""``, ``"small_cell"`` or ``"complementary"`` (see :func:`audit`,
    "Suppression");
``metric``, ``value``, ``value_low``, ``value_high``
    the metric's name, value and bootstrap interval at ``confidence``;
``ratio``, ``ratio_low``, ``ratio_high``
    the value divided by the reference group's, and its interval.

Small cells are suppressed: a group with fewer than ``min_cell``
(:data:`riskmodel._suppression.MIN_CELL`, 10) pupils shows no count and no
rate, and complementary suppression makes sure that no hidden value can be
recovered exactly from the overall totals, the other groups of the attribute or
the margins of an intersection.

The metric definitions agree with fairlearn's :class:`fairlearn.metrics.MetricFrame`
(``selection_rate``, ``true_positive_rate`` = recall, ``false_positive_rate``,
``false_negative_rate``, ``precision_score``, ``count``) applied to the selected
flag; the tests check this.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ._checks import (
    CONFIDENCE,
    N_BOOT,
    UNSET,
    check_instance,
    check_int,
    check_real,
    renamed_param,
    resolve_capacity,
)
from ._fairness_groups import (
    INTERSECTION_SEP,
    MISSING_GROUP,
    OVERALL,
    build_attributes,
    cell_attribute,
    check_groups_columns,
    check_intersections,
    equations,
    reference_codes,
)
from ._fairness_stats import (
    METRICS,
    VALUE_COLUMNS,
    bootstrap_intervals,
    cell_totals,
    div,
    long_table,
    rate_metrics,
    wide_view,
)
from ._metric_inputs import align_groups, align_index, check_binary, check_y_score
from ._suppression import MIN_CELL, suppress_cells
from .errors import DataValidationError

__all__ = ["audit", "audit_allocation", "by_group", "METRICS", "MISSING_GROUP", "INTERSECTION_SEP",
           "VALUE_COLUMNS"]

logger = logging.getLogger(__name__)


def _hidden_and_reference(attrs, n_cell, min_cell, reference, func):
    """Suppression reason per cell and the reference cell of every cell."""
    reason = suppress_cells(n_cell, equations(attrs), min_cell, cell_attribute(attrs))
    ref = reference_codes(attrs, n_cell, reference, func)
    ref_cell = np.concatenate([np.full(a.n_groups, a.offset + ref[a.name]) for a in attrs])
    return reason, ref, ref_cell


def audit(
    y_true,
    scores,
    groups: pd.DataFrame,
    *,
    top_k: int | None = None,
    top_fraction: float | None = None,
    reference: dict | None = None,
    n_boot: int = N_BOOT,
    min_cell: int = MIN_CELL,
    intersections: list[tuple[str, str]] | None = None,
    random_state=0,
    confidence: float = CONFIDENCE,
    k=UNSET,
) -> pd.DataFrame:
    """Audit a risk ranking by group at the operating point set by capacity.

    The top ``top_k`` pupils of the whole cohort by score (or the top
    ``top_fraction``) are *selected*; ties are broken deterministically (stable
    sort by score, descending, then by position). For the cohort as a whole
    (attribute ``"overall"``, group ``"all"``), for every column of ``groups`` and
    for each requested intersection, the table reports per group (one row per
    metric, see the module docstring for the columns):

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
    ``ratio``
        the metric divided by that of the attribute's reference group;
    ``value_low``, ``value_high``, ``ratio_low``, ``ratio_high``
        percentile bootstrap intervals at ``confidence``.

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
    top_k : int, optional
        Number of pupils that can be served (>= 1; capped at the cohort size).
    top_fraction : float, optional
        Share of the cohort that can be served, in (0, 1]: ``ceil(top_fraction *
        n)`` pupils, at least one (:func:`riskmodel.metrics.resolve_capacity`, the
        rule the backtest and the model card use too). Give exactly one of
        ``top_k`` and ``top_fraction``.
    reference : dict, optional
        Attribute -> reference group for the ratios (an intersection by its name
        ``"a×b"`` or a tuple of the two columns; its group as ``"x×y"`` or a tuple).
        Default: the largest group of each attribute.
    n_boot : int, default=1000
        Bootstrap draws; 0 skips the intervals (their columns are then NaN).
    min_cell : int, default=10
        Smallest group size that is shown (``MIN_CELL``).
    intersections : list of (str, str), optional
        Pairs of ``groups`` columns to audit jointly, e.g.
        ``[("sex", "home_language")]`` adds the attribute ``"sex×home_language"``.
    random_state : int, numpy Generator or None, default=0
        Seed of the bootstrap.
    confidence : float, default=0.95
        Coverage of the bootstrap intervals.
    k : int, optional
        Deprecated alias of ``top_k`` (removed in 0.3; a ``FutureWarning``).

    Returns
    -------
    DataFrame
        Tidy and long: one row per (attribute, group, metric), the overall row's
        metrics first, then the columns of ``groups`` in order, then the
        intersections; inside a group the metrics in the order of
        :data:`METRICS`. Columns ``attribute, group`` and :data:`VALUE_COLUMNS`.
        ``df.attrs`` records ``k`` (the pupils selected), ``top_fraction``,
        ``n_pupils``, ``min_cell``, ``n_boot``, ``confidence`` and the reference
        groups. :func:`by_group` gives the wide view.

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
    >>> table = rm.fairness.audit(y, p, groups, top_k=40, n_boot=100)
    >>> table.attrs["k"], len(table) == 3 * len(rm.fairness.METRICS)
    (40, True)
    >>> recall = table[table["metric"] == "recall"]
    >>> recall[["attribute", "group", "n"]].values.tolist()
    [['overall', 'all', 400], ['sex', 'F', 188], ['sex', 'M', 212]]
    """
    func = "audit"
    top_k = renamed_param(k, top_k, old="k", new="top_k", func=func)
    y, s_arr, y_index = check_y_score(y_true, scores, func, score_name="scores", align=True)
    y = y.astype(bool)
    n = len(y)
    g = check_groups_columns(align_groups(groups, y_index, n, func), func)
    inters = check_intersections(intersections, g, func)
    k_eff = resolve_capacity(n, top_k=top_k, top_fraction=top_fraction, func=func)
    n_boot = check_int(n_boot, "n_boot", func, min_value=0)
    min_cell = check_int(min_cell, "min_cell", func, min_value=1)
    confidence = check_real(confidence, "confidence", func, low=0, high=1, closed="neither")
    rng = np.random.default_rng(random_state)

    sel = np.zeros(n, dtype=bool)
    sel[np.argsort(-s_arr, kind="stable")[:k_eff]] = True
    attrs = build_attributes(g, inters)
    tot = cell_totals(attrs, y, sel, s_arr)
    reason, ref, ref_cell = _hidden_and_reference(attrs, tot[0], min_cell, reference, func)
    hidden = reason != ""
    for a in attrs:
        if hidden[a.offset + ref[a.name]] and a.name != OVERALL:
            logger.warning(
                "audit: the reference group %r of %r is suppressed; its ratios are not shown.",
                a.labels[ref[a.name]], a.name,
            )
    intervals = (bootstrap_intervals(attrs, y, sel, s_arr, ref_cell, n_boot, confidence, rng)
                 if n_boot > 0 else None)
    out = long_table(attrs, tot[0], reason, ref_cell, rate_metrics(*tot), intervals)
    out.attrs = {
        "k": k_eff,
        "top_fraction": None if top_fraction is None else float(top_fraction),
        "n_pupils": n,
        "min_cell": min_cell,
        "n_boot": n_boot,
        "confidence": confidence,
        "reference": {a.name: a.labels[ref[a.name]] for a in attrs[1:]},
    }
    logger.info(
        "audit: %d pupils, k=%d, %d attributes, %d groups (%d suppressed), %d bootstrap draws",
        n, k_eff, len(attrs) - 1, len(hidden) - 1, int(hidden.sum()), n_boot,
    )
    return out


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
    min_cell: int = MIN_CELL,
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
        Smallest group size shown (``MIN_CELL``); suppression as in
        :func:`audit` (the small cell and complementary rules apply within each
        population).
    intersections : list of (str, str), optional
        Pairs of ``groups`` columns to audit jointly.

    Returns
    -------
    DataFrame
        The shape of :func:`audit` with two more keys: columns ``population,
        attribute, group, kind`` and :data:`VALUE_COLUMNS`, one row per
        (population, attribute, group, kind) with ``metric ==
        "supported_share"``; ``ratio`` is to the largest group of the attribute
        (``reference``); ``n`` counts the population's pupils in the group. The
        plan is not a sample, so the interval columns are NaN. One block per
        population; inside it, group by group with ``"any"`` then each kind.

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
    >>> table.query("attribute == 'overall' and kind == 'any'")[["metric", "value"]].values.tolist()
    [['supported_share', 0.25]]
    """
    func = "audit_allocation"
    check_instance(assignments, "assignments", pd.DataFrame, func)
    check_instance(pupils, "pupils", pd.DataFrame, func)
    missing = [c for c in ("pupil_id", "kind") if c not in assignments.columns]
    if missing:
        raise DataValidationError(
            f"{func}: table 'assignments' lacks the required column(s) {missing}.",
            [{"table": "assignments", "column": c, "n_rows": len(assignments), "examples": [],
              "message": "missing column"} for c in missing],
        )
    min_cell = check_int(min_cell, "min_cell", func, min_value=1)
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
        in_risk = risk >= check_real(risk_threshold, "risk_threshold", func, low=0, high=1)
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
        y, y_index = check_binary(y_true, func)
        y = y.astype(bool)
        if y_index is not None and not isinstance(y_index, pd.RangeIndex):
            y = align_index(y, pd.Index(y_index.astype(str)), ids, n, "y_true", func)
        elif len(y) != n:
            raise ValueError(
                f"The 'y_true' parameter of {func} must have one value per pupil ({n}). Got {len(y)} instead."
            )
        populations.append(("leavers", y))

    if isinstance(groups, pd.DataFrame) and not isinstance(groups.index, pd.RangeIndex):
        g_aligned = groups.set_axis(pd.Index(groups.index.astype(str)), axis=0)
        g = align_groups(g_aligned, ids, n, func)
    else:
        g = align_groups(groups, None, n, func)
    g = check_groups_columns(g, func)
    inters = check_intersections(intersections, g, func)

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
    for pop_name, mask in populations:
        attrs = build_attributes(g.loc[mask].reset_index(drop=True), inters)
        n_cell = np.concatenate([np.bincount(a.codes, minlength=a.n_groups) for a in attrs])
        reason, _, ref_cell = _hidden_and_reference(attrs, n_cell, min_cell, None, func)
        for kd in ["any", *kinds]:
            flag = supported[kd][mask]
            got = np.concatenate([np.bincount(a.codes, weights=flag, minlength=a.n_groups)
                                  for a in attrs])
            frames.append(long_table(attrs, n_cell, reason, ref_cell,
                                     {"supported_share": div(got, n_cell)},
                                     keys={"population": pop_name, "kind": kd}))
    out = _allocation_order(frames)
    out.attrs = {"min_cell": min_cell, "n_pupils": n, "kinds": kinds}
    return out


def _allocation_order(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per (population, kind) blocks: population, then cell, then kind."""
    for i, f in enumerate(frames):
        f["_block"], f["_cell"] = i, np.arange(len(f))
    out = pd.concat(frames, ignore_index=True)
    pop = pd.factorize(out["population"])[0]
    out = out.iloc[np.lexsort((out["_block"].to_numpy(), out["_cell"].to_numpy(), pop))]
    cols = ["population", "attribute", "group", "kind", *VALUE_COLUMNS]
    return out[cols].reset_index(drop=True)


def by_group(table: pd.DataFrame) -> pd.DataFrame:
    """The wide view of an audit table: one row per group, a column per metric.

    For a report or a quick look (fairlearn's ``MetricFrame.by_group``): the key
    columns (``population``, ``attribute``, ``group``, ``kind`` as present, and
    any column a caller added, e.g. a ``test_date``),
    ``n, reference, suppressed, suppression_reason``, then for every metric
    ``<metric>``, ``<metric>_ratio``, ``<metric>_low``, ``<metric>_high``,
    ``<metric>_ratio_low`` and ``<metric>_ratio_high``. Rows keep the order of
    ``table`` and ``attrs`` are kept; suppression is as in ``table``.

    Parameters
    ----------
    table : DataFrame
        A table returned by :func:`audit` or :func:`audit_allocation` (or rows of it).

    Returns
    -------
    DataFrame

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import riskmodel as rm
    >>> y = np.arange(40) % 3 == 0
    >>> groups = pd.DataFrame({"sex": ["F", "M"] * 20})
    >>> table = rm.fairness.audit(y, np.linspace(1, 0, 40), groups, top_k=10, n_boot=0)
    >>> wide = rm.fairness.by_group(table)
    >>> wide[["attribute", "group", "n", "recall"]].round(3).values.tolist()
    [['overall', 'all', 40, 0.286], ['sex', 'F', 20, 0.286], ['sex', 'M', 20, 0.286]]
    """
    check_instance(table, "table", pd.DataFrame, "by_group")
    missing = [c for c in ("attribute", "group", "metric", "value") if c not in table.columns]
    if missing:
        raise ValueError(f"The 'table' parameter of by_group must be a table of audit or "
                         f"audit_allocation; it lacks the column(s) {missing}.")
    return wide_view(table)

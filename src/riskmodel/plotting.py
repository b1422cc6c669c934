"""Figures for evaluators, following scikit-learn's *Display* pattern.

Each display computes its numbers once (``from_*`` class methods or the
constructor), and ``plot(ax=None)`` draws them, returning the display with
``ax_`` and ``figure_`` set. matplotlib is imported only when plotting, and no
function here calls ``plt.show()``.

Examples
--------
>>> import numpy as np, riskmodel as rm
>>> y = np.array([0, 1, 0, 1, 0, 0, 1, 0])
>>> p = np.array([.1, .9, .2, .6, .3, .1, .4, .2])
>>> disp = rm.plotting.PrecisionRecallAtKDisplay.from_predictions(y, {"model": p})
>>> disp.table_.shape[1]
4
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from ._checks import InvalidParameterError
from ._display import Display as _Display
from ._display import axes as _axes
from .vocab import DOMAINS

__all__ = [
    "PrecisionRecallAtKDisplay",
    "CalibrationCurvesDisplay",
    "BacktestDisplay",
    "RiskDistributionDisplay",
    "DomainReasonsDisplay",
    "AuditDisplay",
    "ValueCurveDisplay",
    "ShortfallDisplay",
]


def _as_scores(scores) -> dict[str, np.ndarray]:
    if isinstance(scores, Mapping):
        items = scores.items()
    else:
        items = [("model", scores)]
    out = {str(k): np.asarray(v, dtype=float).ravel() for k, v in items}
    if not out:
        raise InvalidParameterError("The 'scores' parameter must hold at least one model's scores. "
                                    "Got none.")
    return out


@dataclass(repr=False)
class PrecisionRecallAtKDisplay(_Display):
    """Precision@k and recall@k against the number of pupils served, k.

    Build it with :meth:`from_predictions`.

    Parameters
    ----------
    table_ : DataFrame
        Tidy: ``model, k, precision_at_k, recall_at_k``.
    capacity_k : int, optional
        The programme's capacity (a number of pupils), marked by a vertical line.

    Examples
    --------
    >>> import numpy as np, riskmodel as rm
    >>> y = np.array([0, 1, 0, 1, 0, 0, 1, 0])
    >>> p = np.array([.1, .9, .2, .6, .3, .1, .4, .2])
    >>> disp = rm.plotting.PrecisionRecallAtKDisplay.from_predictions(y, p, ks=[2, 4], capacity_k=2)
    >>> disp.table_["precision_at_k"].tolist()
    [1.0, 0.75]
    >>> disp.plot().ax_.get_xlabel()
    'pupils served (k)'
    """

    table_: pd.DataFrame
    capacity_k: int | None = None

    @classmethod
    def from_predictions(cls, y_true, scores, *, ks=None, capacity_k=None):
        """Compute the curves for one or several models (``scores``: array or dict name → array).

        ``ks`` are the numbers of pupils served (default: up to 60 values from 1 to n).
        """
        from .metrics import precision_at_k, recall_at_k

        y = np.asarray(y_true).ravel()
        scores = _as_scores(scores)
        n = len(y)
        if ks is None:
            ks = np.unique(np.linspace(1, n, num=min(n, 60)).round().astype(int))
        rows = []
        for name, s in scores.items():
            if len(s) != n:
                raise ValueError(
                    f"Scores of model {name!r} have {len(s)} values; y_true has {n}."
                )
            for k in ks:
                rows.append(
                    (name, int(k), precision_at_k(y, s, k=int(k)), recall_at_k(y, s, k=int(k)))
                )
        table = pd.DataFrame(rows, columns=["model", "k", "precision_at_k", "recall_at_k"])
        return cls(table_=table, capacity_k=capacity_k)

    def plot(self, ax=None):
        """Draw on ``ax`` (a new figure when None); returns the display with ``ax_`` and ``figure_``."""
        ax, _ = _axes(ax)
        for name, g in self.table_.groupby("model", sort=False):
            (line,) = ax.plot(g["k"], g["precision_at_k"], label=f"{name} precision@k")
            ax.plot(g["k"], g["recall_at_k"], linestyle="--", color=line.get_color(),
                    label=f"{name} recall@k")
        if self.capacity_k is not None:
            ax.axvline(self.capacity_k, color="grey", linewidth=1)
            ax.annotate("capacity k", (self.capacity_k, 1.0), fontsize=8, ha="left", va="top")
        ax.set_xlabel("pupils served (k)")
        ax.set_ylabel("share")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=8)
        return self._set(ax)


@dataclass(repr=False)
class CalibrationCurvesDisplay(_Display):
    """Reliability curves (quantile bins) for one or several models.

    Build it with :meth:`from_predictions` (on
    :func:`sklearn.calibration.calibration_curve`).

    Parameters
    ----------
    table_ : DataFrame
        ``model, mean_predicted, observed_rate``, one row per bin.

    Examples
    --------
    >>> import numpy as np, riskmodel as rm
    >>> y = np.array([0, 0, 1, 0, 1, 1])
    >>> p = np.array([.1, .2, .3, .6, .7, .8])
    >>> disp = rm.plotting.CalibrationCurvesDisplay.from_predictions(y, p, n_bins=2)
    >>> disp.table_[["mean_predicted", "observed_rate"]].round(2).values.tolist()
    [[0.2, 0.33], [0.7, 0.67]]
    >>> disp.plot().figure_ is disp.ax_.figure
    True
    """

    table_: pd.DataFrame

    @classmethod
    def from_predictions(cls, y_true, scores, *, n_bins=10):
        """Reliability curves in ``n_bins`` quantile bins (``scores``: array or dict name → array)."""
        from sklearn.calibration import calibration_curve

        y = np.asarray(y_true).ravel()
        rows = []
        for name, s in _as_scores(scores).items():
            obs, pred = calibration_curve(y, s, n_bins=n_bins, strategy="quantile")
            rows.append(pd.DataFrame({"model": name, "mean_predicted": pred, "observed_rate": obs}))
        return cls(table_=pd.concat(rows, ignore_index=True))

    def plot(self, ax=None):
        """Draw on ``ax`` (a new figure when None); returns the display with ``ax_`` and ``figure_``."""
        ax, _ = _axes(ax)
        hi = float(max(self.table_["mean_predicted"].max(), self.table_["observed_rate"].max()))
        ax.plot([0, hi], [0, hi], color="grey", linewidth=1, linestyle=":", label="perfect")
        for name, g in self.table_.groupby("model", sort=False):
            ax.plot(g["mean_predicted"], g["observed_rate"], marker="o", label=name)
        ax.set_xlabel("mean predicted risk")
        ax.set_ylabel("observed early-leaving rate")
        ax.legend(fontsize=8)
        return self._set(ax)


@dataclass(repr=False)
class BacktestDisplay(_Display):
    """A backtest metric over test dates, one line per model, with its bootstrap interval.

    Build it with :meth:`from_backtest`.

    Parameters
    ----------
    table_ : DataFrame
        Rows of :func:`riskmodel.splits.backtest`: ``model, test_date``, the metric
        and, when present, ``<metric>_low`` and ``<metric>_high``.
    metric : str, default="precision_at_k"
        The metric drawn.

    Examples
    --------
    >>> import pandas as pd, riskmodel as rm
    >>> bt = pd.DataFrame({"model": ["RiskModel"] * 2, "test_date": ["2024-10-01", "2025-10-01"],
    ...                    "precision_at_k": [0.4, 0.5], "precision_at_k_low": [0.3, 0.4],
    ...                    "precision_at_k_high": [0.5, 0.6]})
    >>> disp = rm.plotting.BacktestDisplay.from_backtest(bt).plot()
    >>> len(disp.ax_.get_lines()), len(disp.ax_.collections)
    (1, 1)
    """

    table_: pd.DataFrame
    metric: str = "precision_at_k"

    @classmethod
    def from_backtest(cls, backtest: pd.DataFrame, *, metric: str = "precision_at_k"):
        """``backtest`` is the tidy frame returned by :func:`riskmodel.backtest`; ``metric`` one of its columns."""
        need = {"model", "test_date", metric}
        missing = need - set(backtest.columns)
        if missing:
            raise ValueError(
                f"The 'backtest' frame must have the columns {sorted(need)}; "
                f"missing {sorted(missing)}."
            )
        cols = ["model", "test_date", metric] + [
            c for c in (f"{metric}_low", f"{metric}_high") if c in backtest.columns
        ]
        return cls(table_=backtest[cols].sort_values(["model", "test_date"]), metric=metric)

    def plot(self, ax=None):
        """Draw on ``ax`` (a new figure when None); returns the display with ``ax_`` and ``figure_``."""
        ax, _ = _axes(ax)
        lo, hi = f"{self.metric}_low", f"{self.metric}_high"
        for name, g in self.table_.groupby("model", sort=False):
            x = pd.to_datetime(g["test_date"])
            (line,) = ax.plot(x, g[self.metric], marker="o", label=name)
            if lo in g and hi in g:
                ax.fill_between(x, g[lo], g[hi], color=line.get_color(), alpha=0.15)
        ax.set_xlabel("test as_of")
        ax.set_ylabel(self.metric.replace("_", " "))
        ax.legend(fontsize=8)
        return self._set(ax)


@dataclass(repr=False)
class RiskDistributionDisplay(_Display):
    """Histogram of risk, stacked by tier (e.g. high / elevated / low).

    Parameters
    ----------
    risk : ndarray of shape (n_pupils,)
        Predicted risk.
    tier : ndarray of shape (n_pupils,), optional
        Tier of each pupil; the bars of the tiers are stacked, in order of
        appearance. None: one plain histogram.
    bins : int, default=40
        Number of equal-width bins.

    Examples
    --------
    >>> import numpy as np, riskmodel as rm
    >>> risk = np.array([0.05, 0.1, 0.2, 0.6, 0.7])
    >>> disp = rm.plotting.RiskDistributionDisplay(risk, np.where(risk > 0.5, "high", "low"), bins=2)
    >>> [int(p.get_height()) for p in disp.plot().ax_.patches]
    [3, 0, 0, 2]
    """

    risk: np.ndarray
    tier: np.ndarray | None = None
    bins: int = 40

    def plot(self, ax=None):
        """Draw on ``ax`` (a new figure when None); returns the display with ``ax_`` and ``figure_``."""
        ax, _ = _axes(ax)
        risk = np.asarray(self.risk, dtype=float)
        edges = np.histogram_bin_edges(risk, bins=self.bins)
        if self.tier is None:
            ax.hist(risk, bins=edges)
        else:
            tier = pd.Series(np.asarray(self.tier))
            labels = [t for t in pd.unique(tier) if pd.notna(t)]
            ax.hist([risk[(tier == t).to_numpy()] for t in labels], bins=edges, stacked=True,
                    label=[str(t) for t in labels])
            ax.legend(title="tier", fontsize=8)
        ax.set_xlabel("predicted risk of early leaving (1 year)")
        ax.set_ylabel("pupils")
        return self._set(ax)


@dataclass(repr=False)
class DomainReasonsDisplay(_Display):
    """Which domain raises risk most, among a group of pupils (e.g. the top k).

    Build it with :meth:`from_explanation`.

    Parameters
    ----------
    table_ : DataFrame
        ``domain, pupils`` (how many pupils have it as their top risk-raising
        domain; ``"none"`` when no domain raises the risk) and ``share``.

    Examples
    --------
    >>> import pandas as pd, riskmodel as rm
    >>> by_domain = pd.DataFrame({"attendance": [0.9, 0.1], "grades": [0.2, 0.5]},
    ...                          index=pd.Index(["a", "b"], name="pupil_id"))
    >>> disp = rm.plotting.DomainReasonsDisplay.from_explanation(by_domain).plot()
    >>> disp.table_["pupils"].tolist()
    [1, 1]
    """

    table_: pd.DataFrame

    @classmethod
    def from_explanation(cls, by_domain: pd.DataFrame, *, pupils=None):
        """``by_domain`` is ``Explanation.by_domain()``; ``pupils`` optionally restricts rows."""
        frame = by_domain if pupils is None else by_domain.loc[list(pupils)]
        raising = frame.clip(lower=0)
        top = raising.idxmax(axis=1).where(raising.max(axis=1) > 0, "none")
        order = [d for d in (*DOMAINS, *frame.columns, "none") if d in set(top)]
        counts = top.value_counts().reindex(list(dict.fromkeys(order)), fill_value=0)
        table = pd.DataFrame({"domain": counts.index, "pupils": counts.to_numpy()})
        table["share"] = table["pupils"] / max(int(table["pupils"].sum()), 1)
        return cls(table_=table)

    def plot(self, ax=None):
        """Draw on ``ax`` (a new figure when None); returns the display with ``ax_`` and ``figure_``."""
        ax, _ = _axes(ax)
        ax.barh(self.table_["domain"], self.table_["share"])
        ax.invert_yaxis()
        ax.set_xlabel("share of pupils whose main risk-raising domain it is")
        return self._set(ax)


@dataclass(repr=False)
class AuditDisplay(_Display):
    """One audit metric by group, with bootstrap intervals (from :func:`riskmodel.fairness.audit`).

    Build it with :meth:`from_audit`. Suppressed cells (fewer pupils than
    ``min_cell``) are left out and counted in the title.

    Parameters
    ----------
    table_ : DataFrame
        One row per (attribute, group): ``attribute, group`` and the metric's
        ``value``, ``value_low``, ``value_high``.
    metric : str, default="recall"
        The metric's name (the axis label).

    Examples
    --------
    >>> import numpy as np, pandas as pd, riskmodel as rm
    >>> y = np.arange(40) % 3 == 0
    >>> groups = pd.DataFrame({"sex": ["F", "M"] * 20})
    >>> audit = rm.fairness.audit(y, np.linspace(1, 0, 40), groups, top_k=10, n_boot=20)
    >>> disp = rm.plotting.AuditDisplay.from_audit(audit, metric="recall").plot()
    >>> [t.get_text() for t in disp.ax_.get_yticklabels()]
    ['overall: all', 'sex: F', 'sex: M']
    """

    table_: pd.DataFrame
    metric: str = "recall"

    @classmethod
    def from_audit(cls, audit: pd.DataFrame, *, metric: str = "recall", attributes=None):
        """Take ``metric`` from an audit table (the tidy one, or its ``by_group`` view).

        ``attributes`` optionally keeps only some attributes.
        """
        if "metric" in audit.columns:  # the tidy long table
            known = list(pd.unique(audit["metric"]))
            table = audit[audit["metric"] == metric]
        else:  # the wide view, fairness.by_group
            known = [c for c in audit.columns if f"{c}_low" in audit.columns]
            table = audit.rename(columns={metric: "value", f"{metric}_low": "value_low",
                                          f"{metric}_high": "value_high"})
        if metric not in known and metric not in audit.columns:
            raise ValueError(
                f"The 'metric' parameter must be a metric of the audit table ({known}). "
                f"Got {metric!r}."
            )
        if attributes is not None:
            table = table[table["attribute"].isin(attributes)]
        cols = [c for c in ("attribute", "group", "value", "value_low", "value_high") if c in table]
        return cls(table_=table[cols].reset_index(drop=True), metric=metric)

    def plot(self, ax=None):
        """Draw on ``ax`` (a new figure when None); returns the display with ``ax_`` and ``figure_``."""
        ax, _ = _axes(ax)
        t = self.table_
        hidden = t[t["value"].isna()]
        t = t[t["value"].notna()]
        labels = (t["attribute"].astype(str) + ": " + t["group"].astype(str)).to_numpy()
        y = np.arange(len(t))
        value = t["value"].to_numpy(dtype=float)
        lo, hi = "value_low", "value_high"
        if lo in t and hi in t and t[lo].notna().any():
            err = np.vstack([value - t[lo].to_numpy(float), t[hi].to_numpy(float) - value])
            ax.errorbar(value, y, xerr=np.clip(err, 0, None), fmt="o", capsize=3)
        else:
            ax.plot(value, y, "o")
        ax.set_yticks(y, labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(self.metric.replace("_", " "))
        if len(hidden):
            ax.set_title(f"{len(hidden)} group(s) suppressed (too few pupils)", fontsize=9)
        return self._set(ax)


@dataclass(repr=False)
class ValueCurveDisplay(_Display):
    """Value added by each additional unit of capacity of one kind (from ``Allocation.value_curve``).

    Build it with :meth:`from_allocation`.

    Parameters
    ----------
    curve : DataFrame
        The curve, one row per unit of capacity.
    kind : str, default="mentor"
        The kind of support (the title).
    x, y : str
        The columns of ``curve`` drawn (units and value).

    Examples
    --------
    >>> import pandas as pd, riskmodel as rm
    >>> pupils = pd.DataFrame({"pupil_id": ["a", "b"], "municipality_id": "M1", "school_id": "S1",
    ...                        "age": [14, 15], "grade": [8, 9], "risk": [0.5, 0.3]})
    >>> roster = pd.DataFrame({"resource_id": ["m1"], "kind": ["mentor"],
    ...                        "municipality_id": ["M1"], "capacity": [1]})
    >>> plan = rm.allocate(pupils, roster, objective="risk")
    >>> disp = rm.plotting.ValueCurveDisplay.from_allocation(plan, "mentor", n_units=2).plot()
    >>> disp.curve["marginal_value"].tolist()
    [0.3, 0.0]
    """

    curve: pd.DataFrame
    kind: str = "mentor"
    x: str = field(default="")
    y: str = field(default="")

    @classmethod
    def from_allocation(cls, allocation, kind: str = "mentor", **kwargs):
        """The curve of ``allocation.value_curve(kind, **kwargs)``."""
        curve = allocation.value_curve(kind, **kwargs)
        curve = curve.to_frame() if isinstance(curve, pd.Series) else curve
        curve = curve.reset_index()
        numeric = [c for c in curve.columns if pd.api.types.is_numeric_dtype(curve[c])]
        if len(numeric) < 2:
            raise ValueError("value_curve must give at least two numeric columns (units, value).")
        return cls(curve=curve, kind=kind, x=numeric[0], y=numeric[-1])

    def plot(self, ax=None):
        """Draw on ``ax`` (a new figure when None); returns the display with ``ax_`` and ``figure_``."""
        ax, _ = _axes(ax)
        ax.plot(self.curve[self.x], self.curve[self.y], marker=".")
        ax.set_xlabel(self.x.replace("_", " "))
        ax.set_ylabel(self.y.replace("_", " "))
        ax.set_title(f"value of more {self.kind} capacity", fontsize=10)
        return self._set(ax)


@dataclass(repr=False)
class ShortfallDisplay(_Display):
    """Demand against capacity by municipality for one kind (from ``Allocation.shortfall``).

    Build it with :meth:`from_allocation`.

    Parameters
    ----------
    table_ : DataFrame
        Rows of ``Allocation.shortfall`` of one kind: ``municipality_id, demand,
        capacity, unmet, idle`` among others.
    kind : str, default="mentor"
        The kind of support.

    Examples
    --------
    >>> import pandas as pd, riskmodel as rm
    >>> pupils = pd.DataFrame({"pupil_id": list("abc"), "municipality_id": ["M1", "M1", "M2"],
    ...                        "school_id": ["S1", "S1", "S2"], "age": 14, "grade": 8,
    ...                        "risk": [0.5, 0.3, 0.4]})
    >>> mentors = pd.DataFrame({"resource_id": ["m1", "m2"], "kind": "mentor",
    ...                         "municipality_id": ["M1", "M2"], "capacity": [1, 3]})
    >>> plan = rm.allocate(pupils, mentors)
    >>> disp = rm.plotting.ShortfallDisplay.from_allocation(plan, "mentor").plot()
    >>> disp.table_[["municipality_id", "demand", "capacity", "unmet", "idle"]].values.tolist()
    [['M1', 2, 1, 1, 0], ['M2', 1, 3, 0, 2]]
    """

    table_: pd.DataFrame
    kind: str = "mentor"

    @classmethod
    def from_allocation(cls, allocation, kind: str = "mentor", top: int | None = 20):
        """The ``top`` municipalities by unmet demand for ``kind`` (all when None)."""
        sf = allocation.shortfall
        sf = sf[sf["kind"] == kind].sort_values("unmet", ascending=False)
        if top is not None:
            sf = sf.head(top)
        return cls(table_=sf.reset_index(drop=True), kind=kind)

    def plot(self, ax=None):
        """Draw on ``ax`` (a new figure when None); returns the display with ``ax_`` and ``figure_``."""
        ax, _ = _axes(ax)
        t = self.table_
        y = np.arange(len(t))
        ax.barh(y - 0.2, t["demand"], height=0.4, label="eligible pupils in the risk group")
        ax.barh(y + 0.2, t["capacity"], height=0.4, label="capacity")
        ax.set_yticks(y, t["municipality_id"].astype(str), fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("pupils")
        ax.set_title(f"{self.kind}: demand and capacity by municipality", fontsize=10)
        ax.legend(fontsize=8)
        return self._set(ax)

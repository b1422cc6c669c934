"""The result of :func:`riskmodel.monitor.check` (private)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .._suppression import MIN_CELL, blank_small
from .._util import jsonable

__all__ = ["FINDING_COLUMNS", "MonitorReport"]

#: columns of the findings table, in order
FINDING_COLUMNS = ["level", "name", "statistic", "value", "expected", "low", "high", "threshold",
                   "p_value", "p_adjusted", "flagged", "n", "note"]


@dataclass
class MonitorReport:
    """Findings of a monitoring check, the decision and its reasons.

    Attributes
    ----------
    findings : DataFrame
        One tidy row per (``level``, ``name``, ``statistic``): ``level`` is
        ``feature``, ``domain``, ``score`` or ``outcome``; ``value`` the statistic,
        ``expected`` what it would be without change (where defined), ``low`` /
        ``high`` an interval, ``threshold`` the calibrated threshold of its severity
        (NaN without calibration), ``p_value`` of "no change" and ``p_adjusted``
        (Benjamini-Hochberg across the names of one level and statistic), ``flagged``,
        ``n`` the pupils behind it, ``note``.
    decision : str
        ``keep``, ``update_intercept``, ``recalibrate``, ``refit`` or ``rules_only``.
    reasons : list of str
        The flagged findings that led to the decision, in words.
    calibrated : bool
        Whether thresholds from the data's own history were used.
    notes : list of str
        What the check could not do, and why.
    """

    findings: pd.DataFrame
    decision: str
    reasons: list = field(default_factory=list)
    calibrated: bool = False
    notes: list = field(default_factory=list)
    fdr: float = 0.05

    def flagged(self) -> pd.DataFrame:
        """The flagged rows of :attr:`findings`."""
        return self.findings[self.findings["flagged"]].reset_index(drop=True)

    def by_feature(self) -> pd.DataFrame:
        """Feature-level values, one row per feature (index ``name``), plus ``flagged``.

        Columns: one per statistic, and ``flagged`` (any of the feature's rows).
        """
        f = self.findings[self.findings["level"] == "feature"]
        wide = f.pivot(index="name", columns="statistic", values="value")
        wide["flagged"] = f.groupby("name")["flagged"].any()
        wide.columns.name = None
        return wide.sort_values(["flagged", "psi"] if "psi" in wide else ["flagged"],
                                ascending=False)

    def summary(self) -> pd.DataFrame:
        """Per level: rows checked and rows flagged; the decision in ``attrs``."""
        s = (self.findings.groupby("level", sort=False)["flagged"]
             .agg(n_checked="size", n_flagged="sum").reset_index())
        s.attrs["decision"] = self.decision
        return s

    def to_dict(self) -> dict:
        """A JSON-able dict of aggregates (for a manifest or an MLflow run).

        Rows computed on fewer than ``MIN_CELL`` pupils show no numbers.

        Examples
        --------
        >>> import json, numpy as np, pandas as pd
        >>> import riskmodel as rm
        >>> x = pd.DataFrame({"a": np.arange(50.0)})
        >>> d = rm.monitor.check(x, x).to_dict()
        >>> d["decision"], json.loads(json.dumps(d))["calibrated"]
        ('keep', False)
        """
        table = blank_small(self.findings, "n", MIN_CELL)
        records = jsonable(table.to_dict(orient="records"))
        return {"decision": self.decision, "reasons": list(self.reasons),
                "calibrated": bool(self.calibrated), "fdr": float(self.fdr),
                "notes": list(self.notes), "min_cell": MIN_CELL, "findings": records}

    def __repr__(self):
        n = int(self.findings["flagged"].sum())
        return (f"MonitorReport(decision={self.decision!r}, flagged={n} of "
                f"{len(self.findings)}, calibrated={self.calibrated})")

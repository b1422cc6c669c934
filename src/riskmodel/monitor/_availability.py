"""Availability of each domain (table) of records, from the feature frames (private).

The feature registry groups features into domains (attendance, grades,
engagement, transitions, context). Two statistics per domain present in both frames:

- ``all_missing_share_change``: change in the share of pupils with every feature of
  the domain missing. A domain that went empty moves it towards 1. One-sided
  two-proportion z-test (an increase).
- ``records_per_pupil_ratio``: mean per pupil of the domain's record counts (the
  features counted in lessons, logins, messages, attempts or marks; missing = 0),
  current over reference. A sudden drop of records per pupil (an e-journal outage
  whose table still exists) moves it below 1. One-sided Welch z-test (a drop).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["COUNT_UNITS", "availability_statistics", "domains_of"]

#: registry units whose features count records
COUNT_UNITS = ("lessons", "logins", "messages", "attempts", "marks")


def domains_of(columns) -> pd.DataFrame:
    """Registry rows (``domain``, ``is_count``) of the registered features among ``columns``."""
    from ..features import registry

    reg = registry(include_sensitive=True)
    reg = reg.loc[reg.index.intersection(list(columns))]
    return pd.DataFrame({"domain": reg["domain"], "is_count": reg["unit"].isin(COUNT_UNITS)})


def availability_statistics(ref: np.ndarray, cur: np.ndarray, names) -> pd.DataFrame:
    """One row per domain and statistic (columns as :func:`drift_statistics`, + ``expected``:
    the reference's all-missing share, or 1 for the ratio)."""
    names = list(names)
    dom = domains_of(names)
    pos = {n: i for i, n in enumerate(names)}
    n_ref, n_cur = len(ref), len(cur)
    rows = []
    for domain, sub in dom.groupby("domain", sort=True):
        idx = [pos[n] for n in sub.index]
        r_all = np.isnan(ref[:, idx]).all(axis=1).mean()
        c_all = np.isnan(cur[:, idx]).all(axis=1).mean()
        pooled = (r_all * n_ref + c_all * n_cur) / (n_ref + n_cur)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n_ref + 1 / n_cur))
        change = float(c_all - r_all)
        p = 1.0 if se == 0 else float(stats.norm.sf(change / se))
        if se == 0 and change > 0:  # e.g. nothing missing before, everything now
            p = 0.0
        rows.append((domain, "all_missing_share_change", change, p, n_cur, 1, float(r_all)))
        cidx = [pos[n] for n in sub.index[sub["is_count"].to_numpy()]]
        if cidx:
            r_sum = np.nan_to_num(ref[:, cidx]).sum(axis=1)
            c_sum = np.nan_to_num(cur[:, cidx]).sum(axis=1)
            mr, mc = r_sum.mean(), c_sum.mean()
            if mr > 0:
                se = np.sqrt(r_sum.var(ddof=1) / n_ref + c_sum.var(ddof=1) / n_cur) \
                    if min(n_ref, n_cur) > 1 else 0.0
                z = (mc - mr) / se if se > 0 else float(np.sign(mc - mr)) * np.inf
                rows.append((domain, "records_per_pupil_ratio", float(mc / mr),
                             float(stats.norm.cdf(z)), n_cur, 1, 1.0))
    return pd.DataFrame(rows, columns=["name", "statistic", "value", "p_value", "n", "df",
                                       "expected"])

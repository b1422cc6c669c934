"""What changed since the last run, per pupil (private).

History rows hold ``risk``, ``log_odds`` (the model's raw score, before
calibration), ``base_value``, ``contrib_<domain>`` (exact TreeSHAP contributions
summed by domain, so ``log_odds = base_value + sum(contrib_*)``), ``tier`` and
``has_plan``. Under the same model the change in log-odds splits exactly into
the differences of the domain contributions (the base value is the same). The
change in risk is split in the same proportions (it is a monotone map of the
log-odds; where the log-odds did not move, the risk split is zero).

When the model changed, pass ``rescored``: the earlier pupils' records scored
by the new model (``log_odds`` and ``contrib_*``). Then ``data_<domain>`` =
new model on new records minus new model on old records, and ``model_part`` =
new model minus old model on the old records; the two sum to the change.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..vocab import DOMAINS

__all__ = ["changes_since", "churn"]

LISTED = ("high", "elevated")


def _contrib_cols(df: pd.DataFrame) -> list[str]:
    return [f"contrib_{d}" for d in DOMAINS if f"contrib_{d}" in df.columns]


def changes_since(current: pd.DataFrame, previous: pd.DataFrame,
                  rescored: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-pupil changes between two runs (both indexed by ``pupil_id``).

    Returns
    -------
    DataFrame
        Indexed by every pupil of either run: ``status`` ("new", "still",
        "left", "off" = on neither list), ``left_reason`` ("left_school",
        "now_supported", "risk_fell" or None), ``d_risk``, ``d_log_odds``,
        ``d_<domain>`` (log-odds split), ``d_risk_<domain>`` and, with
        ``rescored``, ``model_part``.

    Examples
    --------
    >>> import pandas as pd
    >>> idx = pd.Index(["a", "b"], name="pupil_id")
    >>> prev = pd.DataFrame({"risk": [.2, .5], "log_odds": [-1., 0.], "base_value": [-1., -1.],
    ...     "contrib_grades": [0., 1.], "tier": ["low", "high"], "has_plan": [False, False]}, idx)
    >>> cur = prev.assign(log_odds=[0., -1.], contrib_grades=[1., 0.], risk=[.5, .2],
    ...                   tier=["high", "low"])
    >>> ch = changes_since(cur, prev)
    >>> ch[["status", "left_reason", "d_grades"]].values.tolist()
    [['new', None, 1.0], ['left', 'risk_fell', -1.0]]
    """
    cols = _contrib_cols(current)
    idx = current.index.union(previous.index)
    cur, prev = current.reindex(idx), previous.reindex(idx)
    out = pd.DataFrame(index=idx)
    on_now = cur["tier"].astype(object).isin(LISTED).to_numpy()
    on_before = prev["tier"].astype(object).isin(LISTED).to_numpy()
    present = cur["risk"].notna().to_numpy()
    status = np.select([on_now & ~on_before, on_now & on_before, ~on_now & on_before],
                       ["new", "still", "left"], "off").astype(object)
    plan = cur.get("has_plan", pd.Series(False, index=idx)).fillna(False).astype(bool).to_numpy()
    reason = np.where(status != "left", None,
                      np.where(~present, "left_school",
                               np.where(plan, "now_supported", "risk_fell"))).astype(object)
    out["status"] = status
    out["left_reason"] = pd.Series(list(reason), index=idx, dtype=object)
    out["d_risk"] = cur["risk"] - prev["risk"]
    out["d_log_odds"] = cur["log_odds"] - prev["log_odds"]
    ref = prev if rescored is None else rescored.reindex(idx)
    for c in cols:
        out["d_" + c[len("contrib_"):]] = cur[c] - ref[c]
    if rescored is not None:
        out["model_part"] = ref["log_odds"] - prev["log_odds"]
        data_total = cur["log_odds"] - ref["log_odds"]
    else:
        data_total = out["d_log_odds"]
    share = out["d_risk"] / out["d_log_odds"].where(out["d_log_odds"].abs() > 1e-12)
    for c in cols:
        d = c[len("contrib_"):]
        out["d_risk_" + d] = (out["d_" + d] * share).fillna(0.0).where(out["d_risk"].notna())
    out["d_log_odds_data"] = data_total
    return out


def churn(current_tier: pd.Series, previous_tier: pd.Series, tier: str = "high") -> dict:
    """Entered, left and stayed in ``tier`` between two runs; churn = (in + out) / size.

    Examples
    --------
    >>> import pandas as pd
    >>> churn(pd.Series(["high", "low"], ["a", "b"]), pd.Series(["low", "high"], ["a", "b"]))
    {'entered': 1, 'left': 1, 'stayed': 0, 'size': 1, 'churn': 2.0}
    """
    now = set(current_tier.index[current_tier.astype(object) == tier])
    before = set(previous_tier.index[previous_tier.astype(object) == tier])
    size = max(len(now), 1)
    entered, left = len(now - before), len(before - now)
    return {"entered": entered, "left": left, "stayed": len(now & before), "size": len(now),
            "churn": (entered + left) / size}

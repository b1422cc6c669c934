"""The score run's history step (private): hysteresis tiers, changes, append.

Called by :func:`riskmodel._run_score.score_run` when ``history`` is set. The
history keeps, per run, ``scores`` (risk, log-odds, base value, domain
contributions, ranks, tiers, plan) and ``features`` (the model inputs), both
hive-partitioned by ``as_of`` and ``model``. The features are kept so that when
the model changes, the previous run's records can be re-scored by the new model
to split a change into a data part and a model part, without re-reading the
previous data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..vocab import DOMAINS
from ._changes import changes_since, churn
from ._history import append_history, model_key, read_history
from ._tiers import (ELEVATED_EXIT_FACTOR, HIGH_EXIT_FACTOR, hysteresis_tiers,
                     smoothed_rank)

__all__ = ["HistoryStep"]

PLAN_COLUMNS = ("resource_id", "kind", "start_date", "review_date", "goal_domain")


def _contribs(model, X: pd.DataFrame) -> pd.DataFrame:
    ex = model.explain(X)
    by = ex.by_domain().reindex(X.index)
    out = pd.DataFrame({f"contrib_{d}": by[d] if d in by.columns else 0.0 for d in DOMAINS},
                       index=X.index)
    out.insert(0, "base_value", float(ex.base_value))
    out.insert(0, "log_odds", np.asarray(model.decision_function(X), dtype=float))
    return out


class HistoryStep:
    """State of one run's history step: previous run, model key, rows to append."""

    def __init__(self, history, model, model_info, as_of: pd.Timestamp):
        self.root = Path(history)
        self.model, self.key, self.as_of = model, model_key(model_info, model), as_of
        hist = read_history(self.root / "scores")
        earlier = hist[hist["as_of"] < as_of] if len(hist) else hist
        self.previous = None
        self.previous_key = None
        if len(earlier):
            last = earlier["as_of"].max()
            at = earlier[earlier["as_of"] == last]
            keys = sorted(set(at["model"]))
            self.previous_key = self.key if self.key in keys else keys[-1]
            self.previous = at[at["model"] == self.previous_key].set_index("pupil_id")
            self.previous_as_of = last
        self.past = hist[hist["as_of"] < as_of] if len(hist) else hist

    def tiers(self, scores: pd.DataFrame, tiers_cfg) -> pd.Series:
        """Hysteresis tiers against the previous run (plain cut-offs without one).

        Staying in a tier is decided by the better of this run's rank and the rank
        of the mean log-odds of this and the previous run's calibrated risk
        (:func:`riskmodel.watchlists._tiers.smoothed_rank`); the calibrated risk
        is comparable across models, the raw log-odds are not.
        """
        prev = None if self.previous is None else self.previous["tier"]
        prev_risk = None if self.previous is None else self.previous["risk"]
        hf, ef = tiers_cfg.high_fraction, tiers_cfg.elevated_fraction
        return hysteresis_tiers(
            scores["rank_national"], prev, high_fraction=hf, elevated_fraction=ef,
            high_exit_fraction=tiers_cfg.high_exit_fraction or min(1.0, hf * HIGH_EXIT_FACTOR),
            elevated_exit_fraction=(tiers_cfg.elevated_exit_fraction
                                    or min(1.0, ef * ELEVATED_EXIT_FACTOR)),
            smoothed=smoothed_rank(scores["risk"], prev_risk))

    def rows(self, scores: pd.DataFrame, X: pd.DataFrame, allocation) -> pd.DataFrame:
        rows = scores[["school_id", "municipality_id", "risk", "rank_national", "tier"]].copy()
        rows["tier"] = rows["tier"].astype(str)
        rows = rows.join(_contribs(self.model, X))
        plan = None if allocation is None else allocation.assignments
        rows["has_plan"] = False
        for c in PLAN_COLUMNS:
            rows["plan_" + c] = None
        if plan is not None and len(plan):
            p = pd.DataFrame(plan).drop_duplicates("pupil_id").set_index("pupil_id")
            rows.loc[rows.index.isin(p.index), "has_plan"] = True
            for c in PLAN_COLUMNS:
                if c in p.columns:
                    rows["plan_" + c] = p[c].reindex(rows.index).astype(object).where(
                        p[c].reindex(rows.index).notna(), None).map(
                        lambda v: None if v is None else str(v)[:10] if c.endswith("date")
                        else str(v))
        return rows

    def changes(self, rows: pd.DataFrame) -> tuple[pd.DataFrame | None, dict | None]:
        """Changes per pupil since the previous run, and churn of the high tier."""
        if self.previous is None:
            return None, None
        rescored = None
        if self.previous_key != self.key:
            feats = read_history(self.root / "features")
            feats = feats[(feats["as_of"] == self.previous_as_of)
                          & (feats["model"] == self.previous_key)].set_index("pupil_id")
            Xp = feats.drop(columns=["as_of", "model"])
            Xp = Xp.reindex(columns=list(self.model.feature_names_))
            rescored = _contribs(self.model, Xp)
        ch = changes_since(rows, self.previous, rescored)
        info = {"previous_as_of": str(self.previous_as_of.date()),
                "previous_model": self.previous_key, "model_changed": rescored is not None,
                "high": churn(rows["tier"], self.previous["tier"], "high")}
        return ch, info

    def append(self, rows: pd.DataFrame, X: pd.DataFrame) -> None:
        """Features first, then scores: a scores partition always has its features."""
        append_history(self.root / "features", X, as_of=self.as_of, model=self.key)
        append_history(self.root / "scores", rows, as_of=self.as_of, model=self.key)

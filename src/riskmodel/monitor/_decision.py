"""The ladder of responses (Davis et al., JAMIA 2019) from flagged findings (private).

In order, the first rung that applies:

1. ``rules_only`` — the inputs are broken: a domain the model uses went empty or
   its records per pupil collapsed. The score cannot be trusted; rank by rules.
   With calibrated thresholds, any flagged availability finding of such a domain
   (beyond the history's 99th percentile and significant); without them, only a
   domain that went empty outright (every current pupil without any of its
   features, or no records at all), since at scale a test flags small real changes.
2. ``refit`` — the associations changed: with outcomes, the AUC fell below what
   the model's own probabilities imply.
3. ``recalibrate`` — the closed test of the updates (Vergouwe et al., Stat Med
   2017) rejects the model as it is and the intercept update against the
   recalibration (the slope is needed), or the model is rejected while the case mix
   (features or score) shifted; without outcomes, a case-mix shift alone
   (calibration cannot be checked until outcomes are known). In a score run, where
   the outcomes are last year's, that ``recalibrate`` is a recommendation: last
   year's outcomes predate today's shift, so no update is fitted on them
   (:func:`riskmodel._run_monitor.run_monitor`); recalibration (Davis et al.) is
   fitted on outcomes of the population that shifted, where discrimination held.
4. ``update_intercept`` — the outcome rate moved: the closed test rejects the model
   as it is but not the intercept update, and the case mix did not shift. Features that are the outcome's own
   history (past leaving rates of the school or municipality, ``*leaving_rate*``)
   moving with it are the outcome rate seen in the inputs, not a case-mix shift.
5. ``keep`` — nothing flagged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["DECISIONS", "decide"]

DECISIONS = ("keep", "update_intercept", "recalibrate", "refit", "rules_only")


def _say(row) -> str:
    thr = "" if np.isnan(row.threshold) else f", threshold {row.threshold:.4g}"
    p = "" if np.isnan(row.p_adjusted) else f", adjusted p = {row.p_adjusted:.3g}"
    return f"{row.level} {row.name}: {row.statistic} = {row.value:.4g}{thr}{p}"


def _went_empty(dom: pd.DataFrame) -> np.ndarray:
    current = dom["value"] + dom["expected"]  # all-missing share now (change + reference)
    return (((dom["statistic"] == "all_missing_share_change") & (current >= 1)
             & (dom["expected"] < 1))
            | ((dom["statistic"] == "records_per_pupil_ratio") & (dom["value"] <= 0))).to_numpy()


def decide(findings: pd.DataFrame, *, model_domains=None, has_outcomes: bool,
           calibrated: bool = False, outcomes_of_current: bool = True):
    """``(decision, reasons)`` from the findings table.

    ``outcomes_of_current``: whether the outcome findings are of the cohort whose
    case mix was compared (``check`` with outcomes). In a score run they are of last
    year's cohort while the case mix is compared between last year and today: today's
    shift cannot explain last year's miss of calibration, so the closed test alone
    picks the update, and today's shift is listed with it.
    """
    f = findings[findings["flagged"]]
    dom = f[f["level"] == "domain"]
    if not calibrated:
        dom = dom[_went_empty(dom)]
    if model_domains is not None:
        dom = dom[dom["name"].isin(model_domains)]
    if len(dom):
        return "rules_only", [_say(r) for r in dom.itertuples()]
    out = f[f["level"] == "outcome"]
    stat = set(out["statistic"])
    case_mix = f[f["level"].isin(["feature", "domain"]) | ((f["level"] == "score")
                                               & (f["statistic"] == "score_psi"))]
    if "auc" in stat:
        return "refit", [_say(r) for r in out.itertuples()]
    calib = out[out["statistic"].isin(["recalibration_lr", "observed_expected",
                                       "calibration_intercept"])]
    slope = out[out["statistic"] == "calibration_slope"]
    if len(slope):
        return "recalibrate", [_say(r) for r in out.itertuples()]
    if len(calib):
        history = (case_mix["level"] == "feature") & case_mix["name"].astype(str).str.contains(
            "leaving_rate")
        echo = case_mix[history]
        case_mix = case_mix[~history]
        if len(case_mix) and not outcomes_of_current:
            return "update_intercept", [_say(r) for r in calib.itertuples()] + [
                "today's case mix also shifted (not checked against outcomes yet): "
                + _say(r) for r in case_mix.itertuples()]
        if len(case_mix):
            return "recalibrate", [_say(r) for r in calib.itertuples()] + [
                "case mix shifted: " + _say(r) for r in case_mix.itertuples()]
        return "update_intercept", [_say(r) for r in calib.itertuples()] + [
            "the outcome's own history moved with it: " + _say(r) for r in echo.itertuples()]
    if len(case_mix) and not has_outcomes and not outcomes_of_current \
            and (findings["level"] == "outcome").any():
        # the score run: last year's outcomes held; today's shift is not checkable on them
        return "recalibrate", ["today's case mix shifted; the latest outcomes predate it, so "
                               "today's calibration is checked once this cohort's outcomes "
                               "are known: " + _say(r) for r in case_mix.itertuples()]
    if len(case_mix) and not has_outcomes:
        return "recalibrate", ["case mix shifted and calibration cannot be checked without "
                               "outcomes: " + _say(r) for r in case_mix.itertuples()]
    if len(case_mix):
        return "keep", [f"case mix shifted ({case_mix['name'].nunique()} names flagged) but "
                        "calibration and discrimination held on the outcomes"]
    return "keep", []

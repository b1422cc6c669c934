"""``monitor.check``: validation, statistics, flags and the decision (private)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control

from .._checks import (CONFIDENCE, N_BOOT, check_instance, check_int, check_real,
                       resolve_capacity)
from ..errors import DataValidationError
from ._availability import availability_statistics, domains_of
from ._decision import decide
from ._drift import drift_statistics, numeric_block
from ._report import FINDING_COLUMNS, MonitorReport
from ._score import expected_precision, outcome_statistics, score_statistics
from ._thresholds import MonitorThresholds, severity

__all__ = ["check", "outcome_findings"]


def _validated_pair(reference, current, model, func):
    """The two frames (checked) and the columns to compare."""
    for frame, param in ((reference, "reference"), (current, "current")):
        check_instance(frame, param, pd.DataFrame, func)
        if len(frame) == 0:
            raise DataValidationError(
                f"The {param!r} feature frame of {func} has no rows.",
                [{"table": param, "column": None, "n_rows": 0, "examples": [],
                  "message": "no rows"}])
    if model is not None:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(model)
        columns = [str(c) for c in model.feature_names_]
        for frame, param in ((reference, "reference"), (current, "current")):
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise DataValidationError(
                    f"The {param!r} feature frame of {func} lacks {len(missing)} column(s) the "
                    f"model uses: {missing[:5]}.",
                    [{"table": param, "column": c, "n_rows": int(len(frame)), "examples": [],
                      "message": "column the model uses is missing"} for c in missing])
    else:
        columns = [c for c in reference.columns if c in set(current.columns)]
        if not columns:
            raise DataValidationError(
                f"The 'reference' and 'current' feature frames of {func} have no column in "
                f"common (reference: {list(reference.columns)[:5]}, current: "
                f"{list(current.columns)[:5]}).",
                [{"table": "current", "column": None, "n_rows": int(len(current)),
                  "examples": list(map(str, current.columns[:3])),
                  "message": "no column in common with reference"}])
    numeric_block(reference.iloc[:1], columns, "reference")
    numeric_block(current.iloc[:1], columns, "current")
    return reference, current, columns


def _risk(model, frame, columns):
    return np.asarray(model.predict_proba(frame[columns])[:, 1], dtype="float64")


def _given_risks(risks, reference, current, func):
    """``risks`` (the model's probabilities of both frames' rows) checked, as float64."""
    if not (isinstance(risks, (tuple, list)) and len(risks) == 2):
        raise ValueError(f"The 'risks' of {func} must be a pair (reference, current) of "
                         f"arrays; got {type(risks).__name__}.")
    out = []
    for r, frame, param in zip(risks, (reference, current), ("reference", "current")):
        r = np.asarray(r, dtype="float64")
        if r.shape != (len(frame),):
            raise ValueError(f"The {param} risks of {func} have shape {r.shape}; the "
                             f"{param!r} frame has {len(frame)} rows.")
        if not np.all((r >= 0) & (r <= 1)):
            raise ValueError(f"The {param} risks of {func} must be probabilities in [0, 1].")
        out.append(r)
    return tuple(out)


def _statistics(ref, cur, columns, risks, *, thresholds=None, high_fraction=0.05,
                elevated_fraction=0.15):
    """The statistics of two feature matrices (and the two cohorts' risks, or None)."""
    infl = thresholds.inflation("feature") if thresholds is not None else None
    infl_df = thresholds.inflation_df("feature") if thresholds is not None else None
    feat = drift_statistics(ref, cur, columns, psi_inflation=infl, psi_inflation_df=infl_df)
    feat.insert(0, "level", "feature")
    dom = availability_statistics(ref, cur, columns)
    dom.insert(0, "level", "domain")
    parts = [feat] + ([dom] if len(dom) else [])
    if risks is not None:
        s_infl = thresholds.inflation("score").get("score", 1.0) if thresholds is not None \
            else 1.0
        s_df = thresholds.inflation_df("score").get("score") if thresholds is not None \
            else None
        sc = score_statistics(risks[0], risks[1], high_fraction=high_fraction,
                              elevated_fraction=elevated_fraction, score_inflation=s_infl,
                              score_inflation_df=s_df)
        sc.insert(0, "level", "score")
        parts.append(sc)
    out = pd.concat(parts, ignore_index=True)
    for c in ("low", "high", "expected"):
        if c not in out:
            out[c] = np.nan
    out["note"] = out["note"].fillna("") if "note" in out else ""
    num = ["value", "p_value", "low", "high", "expected"]
    out[num] = out[num].astype("float64")
    out[["n", "df"]] = out[["n", "df"]].astype("int64")
    return out


def _outcomes(outcomes, current, func):
    if isinstance(outcomes, pd.Series):
        missing = current.index.difference(outcomes.index)
        if len(missing):
            raise DataValidationError(
                f"The 'outcomes' of {func} lack {len(missing)} pupil(s) of 'current', e.g. "
                f"{list(missing[:3])}.",
                [{"table": "outcomes", "column": outcomes.name, "n_rows": len(missing),
                  "examples": list(map(str, missing[:3])), "message": "pupil without outcome"}])
        y = outcomes.loc[current.index]
    else:
        y = pd.Series(np.asarray(outcomes))
        if len(y) != len(current):
            raise ValueError(f"The 'outcomes' of {func} have {len(y)} values for "
                             f"{len(current)} pupils of 'current'.")
    y = pd.to_numeric(y, errors="coerce").to_numpy(dtype="float64")
    bad = ~np.isin(y, [0.0, 1.0])
    if bad.any():
        raise DataValidationError(
            f"The 'outcomes' of {func} must be 0/1; {int(bad.sum())} value(s) are not.",
            [{"table": "outcomes", "column": None, "n_rows": int(bad.sum()),
              "examples": [str(v) for v in y[bad][:3]], "message": "outcome not 0/1"}])
    return y


#: significance level of the outcome tests (1 - the thresholds' quantile, 0.99)
OUTCOME_ALPHA = 0.01


def _flag_outcomes(f, alpha):
    """Flags of the outcome rows: the closed test of the updates, the AUC one-sided.

    ``recalibration_lr`` (recalibrated against the model as it is) opens the test; only
    when it is rejected are the intercept, O/E and the slope (recalibration against
    the intercept update) read, each at ``alpha``. The AUC is read on its own, only
    below its expectation. Two gates at ``alpha`` each: a stable year trips one with
    a chance of at most ``2 * alpha``.
    """
    out = (f["level"] == "outcome").to_numpy()
    if not out.any():
        return f
    sig = (f["p_value"] < alpha).to_numpy()
    opened = set(f.loc[out & sig & (f["statistic"] == "recalibration_lr").to_numpy(), "name"])
    gated = f["statistic"].isin(["observed_expected", "calibration_intercept",
                                 "calibration_slope"]).to_numpy()
    in_open = f["name"].isin(opened).to_numpy()
    flag = sig & (~gated | in_open)
    f.loc[out, "flagged"] = flag[out]
    f.loc[out, "p_adjusted"] = f.loc[out, "p_value"]
    return f


def _flag(findings, thresholds, fdr, outcome_alpha=OUTCOME_ALPHA):
    f = findings.copy()
    f["p_adjusted"] = np.nan
    has_p = f["p_value"].notna()
    for _, idx in f[has_p].groupby(["level", "statistic"]).groups.items():
        f.loc[idx, "p_adjusted"] = false_discovery_control(
            f.loc[idx, "p_value"].clip(0, 1).to_numpy(), method="bh")
    tested = (f["p_adjusted"] < fdr).to_numpy()
    sev = severity(f["statistic"], f["value"], f["expected"])
    if thresholds is not None:
        f["threshold"] = thresholds.lookup(f, "threshold")
        thr = f["threshold"].to_numpy()
        beyond = np.where(np.isnan(thr), True, sev > thr)
        # a row without a test (JS distance, mean risk) is shown against its threshold but
        # never flagged on its own: 99th percentiles over many features would flag ~1 %
        f["flagged"] = tested & beyond
    else:
        f["threshold"] = np.nan
        f["flagged"] = tested
    f = _flag_outcomes(f, outcome_alpha)
    # one-sided readings: an AUC above its expectation is no alarm
    auc = (f["statistic"] == "auc").to_numpy()
    f.loc[auc & (f["value"] >= f["expected"]).to_numpy(), "flagged"] = False
    f["flagged"] = f["flagged"].astype(bool)
    return f


def outcome_findings(y, p, *, k, thresholds=None, fdr=0.05, outcome_alpha=OUTCOME_ALPHA,
                     n_boot=N_BOOT, confidence=CONFIDENCE, random_state=0) -> pd.DataFrame:
    """The flagged ``outcome`` rows of :func:`check` for outcomes ``y`` and risks ``p``.

    The rows ``check(X, X, model=model, outcomes=y, ...)`` gives at level ``outcome``
    (``p`` the model's risks of ``X``, ``k`` the capacity among its rows), without
    the drift statistics of ``X`` against itself and without predicting it again:
    the outcome rows are flagged on their own (their tests are not pooled with the
    inputs'), so they are the same. The score run's outcome pass (last year's
    cohort against its outcomes) uses it.
    """
    y = np.asarray(y, dtype="float64")
    p = np.asarray(p, dtype="float64")
    out = outcome_statistics(y, p, k=k, n_boot=n_boot, confidence=confidence,
                             random_state=random_state)
    out.insert(0, "level", "outcome")
    out = _flag(out, thresholds, fdr, outcome_alpha)
    return out[FINDING_COLUMNS].reset_index(drop=True)


def check(reference, current, *, model=None, outcomes=None, thresholds=None, top_k=None,
          top_fraction=None, high_fraction=0.05, elevated_fraction=0.15, fdr=0.05,
          outcome_alpha=OUTCOME_ALPHA, n_boot=N_BOOT, confidence=CONFIDENCE, random_state=0,
          risks=None) -> MonitorReport:
    """Has the world changed under the model? Findings, a decision and its reasons.

    Parameters
    ----------
    reference, current : DataFrame
        Feature frames (one row per pupil, numeric columns), e.g. the training
        cohort and today's. With a model, its columns; else the common ones.
    model : RiskModel, optional
        Adds the score's statistics (and is needed for outcomes).
    outcomes : Series or array of 0/1, optional
        Outcomes of the ``current`` pupils (a Series is aligned on the index).
    thresholds : MonitorThresholds, optional
        From :func:`calibrate_thresholds`. Without them, a finding is flagged when
        its test of "no change" is significant after Benjamini-Hochberg at ``fdr``
        (at scale, even a small real change is); with them, it must also be beyond
        the history's 99th percentile. No folklore constants are used.
    top_k, top_fraction : optional
        The programme's capacity for precision@k (default ``top_fraction=high_fraction``).
    high_fraction, elevated_fraction : float, default=0.05, 0.15
        Tier shares (as ``TierConfig``); cut-offs come from the reference's scores.
    fdr : float, default=0.05
        False discovery rate of the input and score findings (Benjamini-Hochberg per
        level and statistic).
    outcome_alpha : float, default=0.01
        Level of the outcome tests: the closed test of the updates (Vergouwe et al.
        2017: the recalibrated model against the model first, then the slope against
        the intercept update) and the one-sided AUC test.
    n_boot : int, default=N_BOOT
    confidence : float, default=CONFIDENCE
    random_state : int, default=0
    risks : pair of arrays, optional
        The model's probabilities (``predict_proba(...)[:, 1]``) of the rows of
        ``reference`` and of ``current``, when the caller has them already (the
        score run predicts each cohort once); the model is then not called. Only
        with ``model``.

    Returns
    -------
    MonitorReport

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import riskmodel as rm
    >>> rng = np.random.default_rng(0)
    >>> ref = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500)})
    >>> cur = ref.assign(b=ref["b"] + 2)
    >>> report = rm.monitor.check(ref, cur)
    >>> report.decision, report.flagged()["name"].unique().tolist()
    ('recalibrate', ['b'])
    """
    func = "monitor.check"
    fdr = check_real(fdr, "fdr", func, low=0, high=1, closed="neither")
    outcome_alpha = check_real(outcome_alpha, "outcome_alpha", func, low=0, high=1,
                               closed="neither")
    confidence = check_real(confidence, "confidence", func, low=0, high=1, closed="neither")
    n_boot = check_int(n_boot, "n_boot", func, min_value=0)
    if thresholds is not None:
        check_instance(thresholds, "thresholds", MonitorThresholds, func)
    reference, current, columns = _validated_pair(reference, current, model, func)
    if risks is not None:
        if model is None:
            raise ValueError("monitor.check takes 'risks' only with the 'model' they are of.")
        risks = _given_risks(risks, reference, current, func)
    elif model is not None:
        risks = (_risk(model, reference, columns), _risk(model, current, columns))
    findings = _statistics(numeric_block(reference, columns, "reference"),
                           numeric_block(current, columns, "current"), columns, risks,
                           thresholds=thresholds, high_fraction=high_fraction,
                           elevated_fraction=elevated_fraction)
    notes = []
    if thresholds is not None and thresholds.floored():
        notes.append("The thresholds are mostly the documented minimum effect sizes "
                     f"(monitor.FLOORS): {thresholds.floored()}.")
    if thresholds is None:
        notes.append("No calibrated thresholds (calibrate_thresholds): findings are flagged "
                     "by their tests of 'no change' only (Benjamini-Hochberg at fdr); at large "
                     "cohorts small real changes are flagged too.")
    if model is not None:
        if top_k is None and top_fraction is None:
            top_fraction = high_fraction
        k = resolve_capacity(len(current), top_k=top_k, top_fraction=top_fraction, func=func)
        p_cur = risks[1]
        if outcomes is not None:
            y = _outcomes(outcomes, current, func)
            out = outcome_statistics(y, p_cur, k=k, n_boot=n_boot, confidence=confidence,
                                     random_state=random_state)
        else:
            out = expected_precision(p_cur, k=k, confidence=confidence)
            notes.append("No outcomes: calibration and discrimination are not checked; "
                         "expected_precision_at_k is an estimate valid only under covariate "
                         "shift.")
        out.insert(0, "level", "outcome")
        findings = pd.concat([findings, out], ignore_index=True)
    elif outcomes is not None:
        raise ValueError("monitor.check needs a 'model' to judge 'outcomes' (the outcome "
                         "statistics compare outcomes with the model's probabilities).")
    findings = _flag(findings, thresholds, fdr, outcome_alpha)
    model_domains = None
    if model is not None:
        model_domains = set(domains_of(columns)["domain"])
    decision, reasons = decide(findings, model_domains=model_domains,
                               has_outcomes=outcomes is not None,
                               calibrated=thresholds is not None)
    return MonitorReport(findings[FINDING_COLUMNS].reset_index(drop=True), decision, reasons,
                         calibrated=thresholds is not None, notes=notes, fdr=fdr)

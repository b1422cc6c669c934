"""Held-out evaluation of prioritisation rules by AIPW scores (private).

On a later cohort than the benefit model's, for each arm that was estimated:

1. target-trial rows of the evaluation dates (:func:`._trial.target_trial`);
2. nuisance models fitted *on the evaluation cohort*, cross-fitted with the
   model's ``nuisance_folds`` (:func:`._dr.aipw_scores`), give each row the doubly robust score
   ``gamma = -psi`` of its benefit, trimmed as in fitting (Crump);
3. each rule ranks the rows by its priority: ``benefit`` (the model's estimate),
   ``risk`` (the score passed in), ``school`` (the school's leaving rate of the
   last three years, a feature), ``random``;
4. the TOC curve ``TOC(q) = mean(gamma | top q) - mean(gamma)`` and the RATE
   (Yadlowsky et al. 2021): ``AUTOC`` (TOC averaged over q) and ``Qini``
   (q * TOC averaged over q), computed as weighted sums so that a bootstrap
   draw is a vector of school weights;
5. intervals by a bootstrap clustered by school (schools resampled with
   replacement; the priorities and scores are held fixed, as in grf's
   ``rank_average_treatment_effect``), and the decisive difference
   benefit - risk on the same draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._checks import CONFIDENCE, N_BOOT, check_int, check_real
from ._dr import aipw_scores, nuisance_fold_ids, overlap
from ._trial import target_trial

__all__ = ["BenefitEvaluation", "evaluate", "rate"]


def _rate_weighted(gamma_sorted, w):
    """AUTOC and Qini of scores sorted by priority, for weight vectors ``w`` (b, n)."""
    W = np.cumsum(w, axis=1)
    tot = W[:, -1:]
    cg = np.cumsum(w * gamma_sorted[None, :], axis=1)
    mean_all = cg[:, -1:] / tot
    toc = np.where(W > 0, cg / np.maximum(W, 1e-300), 0.0) - mean_all
    autoc = (w * toc).sum(axis=1) / tot[:, 0]
    qini = (w * (W / tot) * toc).sum(axis=1) / tot[:, 0]
    return autoc, qini


def rate(priority, gamma, clusters, *, n_boot=N_BOOT, confidence=CONFIDENCE, random_state=0):
    """RATE (AUTOC and Qini) of ranking by ``priority``, with school-clustered intervals.

    Parameters
    ----------
    priority : array (n,)
        Higher first. Ties are broken at random (seeded).
    gamma : array (n,)
        Unbiased per-row scores of the benefit (e.g. AIPW ``-psi``).
    clusters : array (n,)
        Bootstrap clusters (schools).

    Returns
    -------
    dict with ``autoc``, ``qini`` (point values), ``boot_autoc``, ``boot_qini``
    (arrays (n_boot,)) and the percentile bounds ``autoc_low``/``autoc_high``,
    ``qini_low``/``qini_high``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> tau = rng.normal(size=4000); gamma = tau + rng.normal(size=4000)
    >>> r = rate(tau, gamma, np.arange(4000) // 20, n_boot=200)
    >>> worst_first = rate(-tau, gamma, np.arange(4000) // 20, n_boot=50)
    >>> bool(r["autoc_low"] > 0), bool(worst_first["autoc"] < 0)
    (True, True)
    """
    return _rates({"rule": priority}, gamma, clusters, n_boot=n_boot, confidence=confidence,
                  random_state=random_state)["rule"]


def _rates(priorities, gamma, clusters, *, n_boot, confidence, random_state, chunk=50):
    rng = np.random.default_rng(random_state)
    gamma = np.asarray(gamma, dtype=np.float64)
    codes, inv = np.unique(np.asarray(clusters), return_inverse=True)
    g = len(codes)
    counts = np.stack([np.bincount(rng.integers(0, g, g), minlength=g) for _ in range(n_boot)])
    tie = rng.random(len(gamma))
    lo_q, hi_q = (1 - confidence) / 2, 1 - (1 - confidence) / 2
    out = {}
    for name, p in priorities.items():
        order = np.lexsort((tie, -np.asarray(p, dtype=np.float64)))
        gs = gamma[order]
        a0, q0 = _rate_weighted(gs, np.ones((1, len(gs))))
        ba, bq = [], []
        for s in range(0, n_boot, chunk):
            w = counts[s:s + chunk][:, inv[order]].astype(np.float64)
            a, q = _rate_weighted(gs, w)
            ba.append(a)
            bq.append(q)
        ba, bq = np.concatenate(ba), np.concatenate(bq)
        n = len(gs)
        cm = np.cumsum(gs) / np.arange(1, n + 1) - gs.mean()
        out[name] = {"autoc": float(a0[0]), "qini": float(q0[0]), "boot_autoc": ba,
                     "boot_qini": bq, "autoc_low": float(np.quantile(ba, lo_q)),
                     "autoc_high": float(np.quantile(ba, hi_q)),
                     "qini_low": float(np.quantile(bq, lo_q)),
                     "qini_high": float(np.quantile(bq, hi_q)),
                     "toc": pd.Series(cm, index=np.arange(1, n + 1) / n, name=name)}
    return out


@dataclass
class BenefitEvaluation:
    """Result of :func:`evaluate`.

    Attributes
    ----------
    table : DataFrame
        One row per (kind, rule, metric) with ``estimate``, ``low``, ``high``, the
        one-sided bootstrap ``p_value`` of "above zero" (``(1 + #{draw <= 0}) /
        (n_boot + 1)``, uncorrected; :func:`riskmodel.allocation.weak_arms`
        corrects it across arms), ``n_rows``, ``n_treated`` (after trimming) and
        ``n_treated_events`` (early leavings among those treated rows);
        the rule ``benefit-risk`` holds the decisive difference.
    toc : dict (kind, rule) -> Series
        TOC curve, index q (share treated, highest priority first).
    arms : dict kind -> dict
        Overlap summary of the evaluation cohort, and why an arm was not evaluated.
    scores : dict kind -> DataFrame
        Per evaluated row: ``gamma`` (AIPW benefit score) and each rule's priority.
    """

    table: pd.DataFrame
    toc: dict
    arms: dict
    scores: dict

    def benefit_beats_risk(self, kind, metric="autoc") -> bool:
        """True when the benefit - risk RATE interval of ``kind`` lies above zero."""
        t = self.table
        row = t[(t["kind"] == kind) & (t["rule"] == "benefit-risk") & (t["metric"] == metric)]
        return bool(len(row) and row["low"].iloc[0] > 0)


def _p_above_zero(boot) -> float:
    """One-sided bootstrap p-value of "the RATE is above zero": ``(1 + #{draw <= 0}) / (B + 1)``."""
    boot = np.asarray(boot, dtype=np.float64)
    return float((1 + np.count_nonzero(boot <= 0)) / (len(boot) + 1))


def _risk_priority(risk, X):
    if risk is None:
        return None
    if hasattr(risk, "predict_proba"):
        from ._untreated import as_if_no_new_support

        return np.asarray(risk.predict_proba(as_if_no_new_support(X, risk)))[:, 1]
    if isinstance(risk, pd.Series):
        if not risk.index.equals(X.index):
            risk = risk.reindex(X.index)
        v = risk.to_numpy(dtype=np.float64)
    else:
        v = np.asarray(risk, dtype=np.float64)
    if v.shape != (len(X),) or np.isnan(v).any():
        raise ValueError(f"'risk' must give one finite score per evaluation row ({len(X)} rows "
                         "indexed (as_of, pupil_id)); pass a fitted RiskModel or such a Series.")
    return v


def evaluate(model, tables, as_of_dates, *, risk=None, n_boot=N_BOOT, confidence=CONFIDENCE,
             random_state=0):
    """Evaluate prioritisation by estimated benefit against risk, school and random.

    Parameters
    ----------
    model : BenefitModel
        Fitted on earlier dates than ``as_of_dates``.
    tables : riskmodel.SchoolTables
    as_of_dates : sequence of dates
        The later cohort's decision dates (outcome windows observed).
    risk : RiskModel, Series or array, optional
        The risk score to compare with (a fitted model, or one score per row of
        the evaluation panel). Without it the ``risk`` rule and the difference
        are left out.
    n_boot, confidence, random_state
        School-clustered bootstrap.

    Returns
    -------
    BenefitEvaluation
    """
    f = "evaluate"
    n_boot = check_int(n_boot, "n_boot", f, min_value=10)
    confidence = check_real(confidence, "confidence", f, low=0, high=1, closed="neither")
    trial = target_trial(tables, as_of_dates, kinds=model.kinds_,
                         window_days=model.window_days, horizon_days=model.horizon_days)
    X = trial.X
    seed = int(random_state or 0)
    est = model.effect(X)
    risk_p = _risk_priority(risk, X)
    school_p = X["school_leaving_rate_3y"].to_numpy(dtype=np.float64)
    folds = nuisance_fold_ids(trial, model.nuisance_folds, model.n_folds, seed)
    rows_out, tocs, arms, scores = [], {}, {}, {}
    for k in model.kinds_:
        info = dict(model.arms_.get(k, {}))
        if not info.get("estimated", False):
            arms[k] = {"evaluated": False, "reason": f"not estimated: {info.get('reason')}"}
            continue
        rows = trial.in_arm[k].to_numpy()
        t = trial.treated[k].to_numpy(dtype=np.float64)[rows]
        others = trial.ongoing.drop(columns=[f"ongoing_{k}"]).to_numpy(dtype=np.float64)[rows]
        Xk = np.column_stack([X.to_numpy(dtype=np.float64)[rows], others])
        s = aipw_scores(Xk, t, trial.y[rows], folds[rows], seed=seed, n_jobs=model.n_jobs,
                        rounds=model.n_estimators)
        ov = overlap(s["e"], t, alpha=model.alpha, min_treated=model.min_treated,
                     min_ess=model.min_ess)
        keep = ov.pop("keep")
        arms[k] = {"evaluated": bool(ov["ok"]), **ov}
        if not ov["ok"]:
            arms[k]["reason"] = f"evaluation cohort: {ov['reason']}"
            continue
        gamma = -s["psi"][keep]
        idx = np.flatnonzero(rows)[keep]
        arms[k]["n_treated_events"] = int(trial.y[idx][t[keep] == 1].sum())
        pri = {"benefit": est[f"benefit_{k}"].to_numpy()[idx], "school": school_p[idx],
               "random": np.random.default_rng(seed + 7).random(len(idx))}
        if risk_p is not None:
            pri["risk"] = risk_p[idx]
        res = _rates(pri, gamma, trial.school[idx], n_boot=n_boot, confidence=confidence,
                     random_state=seed)
        scores[k] = pd.DataFrame({"gamma": gamma, **pri}, index=X.index[idx])
        for rule, r in res.items():
            tocs[(k, rule)] = r["toc"]
            for m in ("autoc", "qini"):
                rows_out.append({"kind": k, "rule": rule, "metric": m, "estimate": r[m],
                                 "low": r[f"{m}_low"], "high": r[f"{m}_high"],
                                 "p_value": _p_above_zero(r[f"boot_{m}"]),
                                 "n_rows": len(idx), "n_treated": ov["n_treated"],
                                 "n_treated_events": arms[k]["n_treated_events"]})
        if "risk" in res:
            lo_q, hi_q = (1 - confidence) / 2, 1 - (1 - confidence) / 2
            for m in ("autoc", "qini"):
                d = res["benefit"][f"boot_{m}"] - res["risk"][f"boot_{m}"]
                rows_out.append({"kind": k, "rule": "benefit-risk", "metric": m,
                                 "estimate": res["benefit"][m] - res["risk"][m],
                                 "low": float(np.quantile(d, lo_q)),
                                 "high": float(np.quantile(d, hi_q)),
                                 "p_value": _p_above_zero(d), "n_rows": len(idx),
                                 "n_treated": ov["n_treated"],
                                 "n_treated_events": arms[k]["n_treated_events"]})
    table = pd.DataFrame(rows_out, columns=["kind", "rule", "metric", "estimate", "low", "high",
                                            "p_value", "n_rows", "n_treated",
                                            "n_treated_events"])
    return BenefitEvaluation(table, tocs, arms, scores)

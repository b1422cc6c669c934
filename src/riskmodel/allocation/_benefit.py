"""The benefit objective: values from ``benefit_<kind>`` columns, fallback, the risk floor.

``objective="benefit"`` values serving pupil ``p`` with support of kind ``k`` at
``benefit_<k>[p]``, the expected reduction of P(early leaving) (a
:class:`riskmodel.BenefitModel`'s :meth:`~riskmodel.BenefitModel.effect`), so
the plan's objective is the expected number of early leavings prevented. With
``benefit_quantile=q`` the value is the normal ``q`` quantile of the estimate,
``benefit_<k> + z_q * benefit_<k>_se`` (a lower confidence bound for ``q <
0.5``). A kind whose evidence is weak is allocated by the ``"fit"`` value
instead (the *fallback*): named in ``fallback=`` (e.g. :func:`weak_arms`), or
automatically when its ``benefit_<k>`` is NaN for every pupil (an arm that
failed overlap is not estimated).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .._checks import check_real
from ..errors import DataValidationError
from ._rules import KINDS

__all__ = ["benefit_columns", "weak_arms"]

#: benefit is a difference of probabilities
MAX_ABS_BENEFIT = 1.0


@dataclasses.dataclass
class BenefitValues:
    value: np.ndarray | None  # (n, n_kinds) value of the benefit kinds, NaN elsewhere
    point: np.ndarray | None  # (n, n_kinds) benefit_<kind> point estimates, NaN: none
    basis: tuple  # per kind: "benefit", "fit" or "risk"
    fallback: dict | None  # benefit objective: kind -> why it is allocated by fit


def _numeric(pup: pd.DataFrame, col: str) -> np.ndarray:
    raw = pup[col]
    if pd.api.types.is_bool_dtype(raw.dtype):
        return np.full(len(raw), np.inf)  # booleans are not benefits: flagged as invalid
    return pd.to_numeric(raw.astype(object), errors="coerce").astype("float64").to_numpy()


def _bad(col, mask, ids, values, message) -> dict:
    mask = np.asarray(mask, dtype=bool)
    ex = [(str(i), v.item() if isinstance(v, np.generic) else v)
          for i, v in list(zip(np.asarray(ids)[mask], np.asarray(values, dtype=object)[mask]))[:3]]
    return {"table": "pupils", "column": col, "n_rows": int(mask.sum()), "examples": ex,
            "message": message}


def _raise(problems: list[dict]) -> None:
    if problems:
        lines = [f"table 'pupils', column {p['column']!r}: {p['message']} ({p['n_rows']} rows; "
                 f"examples: {p['examples']})" for p in problems]
        raise DataValidationError("Invalid allocation input:\n  " + "\n  ".join(lines), problems)


def check_fallback(fallback) -> dict:
    """``fallback`` as a dict kind -> reason (a list of kinds: reason "given")."""
    if fallback is None:
        return {}
    if isinstance(fallback, (list, tuple, set)):
        fallback = dict.fromkeys(fallback, "given by the caller")
    if not isinstance(fallback, dict):
        raise TypeError("allocate: 'fallback' must map kinds to the reason why their evidence "
                        f"is weak (e.g. weak_arms(model, evaluation)); got {type(fallback)!r}.")
    bad = [k for k in fallback if k not in KINDS]
    if bad:
        raise ValueError(f"allocate: unknown kinds in 'fallback': {bad} (allowed: {KINDS}).")
    return {k: str(v) for k, v in fallback.items()}


def benefit_values(pup: pd.DataFrame, objective: str, kinds_used, quantile,
                   fallback) -> BenefitValues:
    """Validate the ``benefit_<kind>`` columns and build the value matrices."""
    n, nk = len(pup), len(KINDS)
    ids = pup["pupil_id"].astype(str).to_numpy()
    problems = []
    point = None
    present = [j for j, k in enumerate(KINDS) if f"benefit_{k}" in pup.columns]
    if present:
        point = np.full((n, nk), np.nan)
        for j in present:
            col = f"benefit_{KINDS[j]}"
            b = _numeric(pup, col)
            bad = (pup[col].notna().to_numpy() & np.isnan(b)) | np.isinf(b) | (
                np.abs(np.nan_to_num(b)) > MAX_ABS_BENEFIT)
            if bad.any():
                problems.append(_bad(col, bad, ids, pup[col],
                                     "must be a number in [-1, 1] (a change of probability) "
                                     "or missing"))
            point[:, j] = np.where(bad, np.nan, b)
    if objective != "benefit":
        _raise(problems)
        return BenefitValues(None, point, (objective,) * nk, None)
    fallback = check_fallback(fallback)
    value = np.full((n, nk), np.nan)
    basis = []
    z = None
    if quantile is not None:
        from scipy.stats import norm

        z = float(norm.ppf(quantile))
    for j, kind in enumerate(KINDS):
        col = f"benefit_{kind}"
        if kind in fallback:
            basis.append("fit")
            continue
        if col not in pup.columns:
            if j in kinds_used:
                problems.append({"table": "pupils", "column": col, "n_rows": n, "examples": [],
                                 "message": f"required by objective='benefit' for the {kind!r} "
                                            "resources; add the column (BenefitModel.effect, "
                                            f"see benefit_columns) or pass fallback={{{kind!r}: "
                                            "reason}} to allocate the kind by 'fit'"})
            basis.append("fit")
            continue
        b = point[:, j]
        missing = np.isnan(b)
        if missing.all() and n:
            fallback[kind] = (f"not estimated: {col} is NaN for every pupil (the arm failed "
                              "overlap)")
            basis.append("fit")
            continue
        if missing.any() and not pup[col].isna().to_numpy().all():
            problems.append(_bad(col, pup[col].isna().to_numpy(), ids, pup[col],
                                 "missing for some pupils but not all; give every pupil an "
                                 "estimate, or none (the arm is then allocated by 'fit')"))
        v = b
        if z is not None:
            se_col = f"{col}_se"
            if se_col not in pup.columns:
                problems.append({"table": "pupils", "column": se_col, "n_rows": n,
                                 "examples": [], "message": "required by benefit_quantile (the "
                                 "standard error of the estimate; see benefit_columns)"})
            else:
                se = _numeric(pup, se_col)
                bad = ~np.isfinite(se) | (se < 0)
                if bad.any():
                    problems.append(_bad(se_col, bad, ids, pup[se_col],
                                         "standard error must be a finite number >= 0"))
                v = b + z * np.where(bad, 0.0, se)
        value[:, j] = v
        basis.append("benefit")
    _raise(problems)
    return BenefitValues(value, point, tuple(basis), fallback)


#: defaults of the evidence gate (:func:`weak_arms`)
GATE_LEVEL = 0.05
GATE_MIN_TREATED = 100
GATE_MIN_EVENTS = 10


def _holm(p: dict) -> dict:
    """Holm-adjusted p-values (step-down, monotone) of a dict name -> p."""
    names = sorted(p, key=lambda k: (p[k], k))
    m, out, run = len(names), {}, 0.0
    for i, k in enumerate(names):
        run = max(run, min(1.0, (m - i) * p[k]))
        out[k] = run
    return out


def weak_arms(model=None, evaluation=None, *, metric: str = "autoc", versus: str | None = "risk",
              level: float = GATE_LEVEL, correction: str = "holm",
              min_treated: int = GATE_MIN_TREATED, min_events: int = GATE_MIN_EVENTS) -> dict:
    """Kinds whose benefit evidence is too weak to allocate by, with the reason.

    An arm is weak when the :class:`~riskmodel.BenefitModel` did not estimate
    it (overlap failed), when the evaluation (:func:`riskmodel.benefit.evaluate`
    on a later cohort) could not evaluate it, when the evaluation cohort has
    fewer than ``min_treated`` treated rows in the arm (after trimming) or fewer
    than ``min_events`` early leavings among them (with a handful of events the
    AIPW scores are a few huge values and the bootstrap p-value is not to be
    trusted: literacy in a 3,000-pupil world passed with p = 0.01 on one or two
    leavings), or when the RATE test does not pass. The test of an arm is
    one-sided at the family-wise ``level`` across all evaluated arms (those held
    back by the minimums count in the family with p = 1; ``correction="holm"``: Holm's
    step-down, which controls the chance of *any* false pass over the arms;
    ``"bonferroni"``; ``None``: each arm at ``level`` on its own, which with four
    arms and three worlds gave a false pass, see docs/benefit.md). Its p-value is
    the evaluation's bootstrap ``p_value`` of the benefit ranking's RATE being
    above zero and, with ``versus="risk"`` when the evaluation has the rule
    ``benefit-risk``, of the benefit ranking beating the risk ranking: both must
    hold (an intersection-union test: the arm's p-value is the larger of the
    two), since a benefit ranking that does not beat risk should not replace
    the allocation by ``fit``. Pass the result as ``fallback=`` of
    :func:`riskmodel.allocate`: those kinds are then allocated by ``"fit"``.

    Parameters
    ----------
    model : BenefitModel, optional
    evaluation : BenefitEvaluation, optional
    metric : {"autoc", "qini"}, default "autoc"
    versus : {"risk", None}, default "risk"
        Also require the benefit ranking to beat the risk ranking (when the
        evaluation was given ``risk``).
    level : float, default 0.05
        Family-wise one-sided level.
    correction : {"holm", "bonferroni", None}, default "holm"
    min_treated : int, default 100
        Fewest treated rows of the arm in the evaluation cohort.
    min_events : int, default 10
        Fewest early leavings among those treated rows (when the evaluation
        table has ``n_treated_events``).

    Returns
    -------
    dict kind -> str

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> import pandas as pd
    >>> from riskmodel.allocation import weak_arms
    >>> model = SimpleNamespace(kinds_=["mentor", "literacy"], arms_={
    ...     "mentor": {"estimated": True}, "literacy": {"estimated": False, "reason": "ess 3"}})
    >>> weak_arms(model)
    {'literacy': 'overlap failed: ess 3'}
    >>> ev = SimpleNamespace(arms={"mentor": {"evaluated": True}, "support_staff": {
    ...     "evaluated": True}}, table=pd.DataFrame(
    ...     {"kind": ["mentor", "support_staff"], "rule": ["benefit", "benefit"],
    ...      "metric": ["autoc", "autoc"], "estimate": [0.004, 0.02], "low": [0.0005, 0.01],
    ...      "high": [0.009, 0.03], "p_value": [0.06, 0.001], "n_treated": [400, 300]}))
    >>> print(weak_arms(evaluation=ev)["mentor"])
    RATE (autoc) of the benefit ranking 0.0040 [0.0005, 0.0090]: p = 0.060, Holm-adjusted p = 0.060 > level 0.05
    >>> weak_arms(evaluation=ev, level=0.1)
    {}
    """
    if metric not in ("autoc", "qini"):
        raise ValueError(f"weak_arms: metric must be 'autoc' or 'qini'; got {metric!r}.")
    if versus not in ("risk", None):
        raise ValueError(f"weak_arms: versus must be 'risk' or None; got {versus!r}.")
    if correction not in ("holm", "bonferroni", None):
        raise ValueError("weak_arms: correction must be 'holm', 'bonferroni' or None; got "
                         f"{correction!r}.")
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ValueError(f"weak_arms: level must be a number in (0, 1); got {level!r}.")
    out = {}
    if model is not None:
        for k in model.kinds_:
            info = model.arms_.get(k, {})
            if not info.get("estimated", False):
                out[k] = f"overlap failed: {info.get('reason')}"
    if evaluation is None:
        return out
    t = evaluation.table
    if "p_value" not in t.columns:
        raise ValueError("weak_arms: the evaluation table has no 'p_value' column (an "
                         "evaluation of an older riskmodel); evaluate the benefit model again.")
    tested, texts, family = {}, {}, []
    for k, info in evaluation.arms.items():
        if k in out:
            continue
        if not info.get("evaluated", False):
            out[k] = f"not evaluated: {info.get('reason')}"
            continue
        rows = t[(t["kind"] == k) & (t["metric"] == metric)].set_index("rule")
        if "benefit" not in rows.index:
            out[k] = f"no RATE ({metric}) of the benefit ranking in the evaluation"
            continue
        r = rows.loc["benefit"]
        n_treated = r.get("n_treated", np.nan)
        n_events = r.get("n_treated_events", np.inf)
        if not n_treated >= min_treated:
            out[k] = (f"{n_treated:.0f} treated rows in the evaluation cohort, fewer than "
                      f"min_treated={min_treated}")
            family.append(k)
            continue
        if not n_events >= min_events:
            out[k] = (f"{n_events:.0f} early leavings among the arm's treated rows in the "
                      f"evaluation cohort, fewer than min_events={min_events}")
            family.append(k)
            continue
        p = float(r["p_value"])
        text = (f"RATE ({metric}) of the benefit ranking {r['estimate']:.4f} "
                f"[{r['low']:.4f}, {r['high']:.4f}]: p = {p:.3f}")
        if versus == "risk" and "benefit-risk" in rows.index:
            d = rows.loc["benefit-risk"]
            text += (f"; benefit - risk {d['estimate']:+.4f} [{d['low']:+.4f}, "
                     f"{d['high']:+.4f}]: p = {float(d['p_value']):.3f}")
            p = max(p, float(d["p_value"]))
        tested[k], texts[k] = p, text
    padded = {**{k: 1.0 for k in family}, **tested}  # held back: in the family with p = 1
    if correction == "holm":
        adj, name = _holm(padded), "Holm-adjusted"
    elif correction == "bonferroni":
        adj, name = {k: min(1.0, len(padded) * p) for k, p in tested.items()}, "Bonferroni-adjusted"
    else:
        adj, name = dict(tested), "uncorrected"
    for k in tested:
        if not adj[k] <= level:
            out[k] = f"{texts[k]}, {name} p = {adj[k]:.3f} > level {level:g}"
    return out


def benefit_columns(model, X: pd.DataFrame, *, alpha: float = 0.1) -> pd.DataFrame:
    """``benefit_<kind>`` and ``benefit_<kind>_se`` columns for :func:`riskmodel.allocate`.

    The point estimate is :meth:`BenefitModel.effect`; the standard error is
    read back from :meth:`BenefitModel.effect_interval` at ``alpha`` (half its
    width over ``z_{1 - alpha / 2}``), so ``benefit_quantile=alpha / 2`` of
    :func:`riskmodel.allocate` values each pupil at the interval's lower end.
    Arms that were not estimated are NaN (allocate falls back to ``"fit"``).

    Parameters
    ----------
    model : BenefitModel
        Fitted.
    X : DataFrame
        Features (``riskmodel.build_features``), indexed by ``pupil_id``.
    alpha : float, default 0.1

    Returns
    -------
    DataFrame indexed like ``X``.
    """
    from scipy.stats import norm

    alpha = check_real(alpha, "alpha", "benefit_columns", low=0, high=1, closed="neither")
    point = model.effect(X)
    lo, hi = model.effect_interval(X, alpha=alpha)
    z = float(norm.ppf(1 - alpha / 2))
    out = {}
    for col in point.columns:
        out[col] = point[col]
        out[f"{col}_se"] = (hi[col] - lo[col]) / (2 * z)
    return pd.DataFrame(out, index=X.index)


def apply_floor(pr, risk_floor: float):
    """The problem with pupils below ``risk_floor`` ineligible for new support."""
    eligible = pr.eligible & (pr.risk >= risk_floor)[:, None]
    return dataclasses.replace(pr, eligible=eligible)


def prevented(pr, p: np.ndarray, r: np.ndarray) -> float:
    """Expected leavings prevented by the pairs ``(p, r)`` (point estimates; NaN: none)."""
    if pr.benefit_point is None:
        return float("nan")
    b = pr.benefit_point[p, pr.r_kind[r]]
    return float(np.nansum(b))

"""Model cards: what a trained model is, what it is for, and what it is not for."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .. import vocab
from .._suppression import MIN_CELL
from .._util import library_versions
from ._format import MISSING, markdown_cell, markdown_table, render
from ._markdown import blocks

__all__ = ["ModelCardInfo", "model_card", "model_card_html", "build_model_card"]

logger = logging.getLogger(__name__)

DEFAULT_INTENDED_USE = (
    "This model ranks pupils by their risk of leaving school early so that the scarce support "
    "of programme 4.2.3.1 (mentors, pedagogues' consultations, support staff, family education "
    "events) reaches first the pupils who need it most."
)


def _to_date(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, np.datetime64):
        return pd.Timestamp(value).date()
    return value


DEFAULT_RISK_MEANING = (
    "The risk is the probability of early leaving within the horizon **if no new support "
    "starts** (support under way at the prediction date is part of the pupil's state). That is "
    "the risk that support is meant to lower, and the one to compare with a benefit. Outcomes in "
    "the training rows include the support that was given, so a model fitted on them learns the "
    "risk under the usual support; riskmodel fits it on those outcomes and measured, on the "
    "synthetic system where the truth is known, that adding an explicit treatment indicator per "
    "kind (support started within 30 days after the date, set to 0 at scoring: "
    "`riskmodel.benefit.new_support`, `as_if_no_new_support`) changes neither calibration nor "
    "ranking beyond refitting noise (benchmarks/bench_risk_under_support.py): new support in a "
    "30-day window prevents 0.07-0.6 % of the expected leavings there. Where support is common "
    "and effective, fit with the indicator: a model without it understates the risk of the "
    "pupils who are usually supported."
)


def benefit_summary(fitted) -> dict:
    """Aggregates of a train run's benefit model for the card and MLflow (no pupil rows).

    ``fitted``: the dict of :func:`riskmodel._run_benefit.fit_benefit` (``model``,
    ``evidence``, ``rate``, ``dates``, ``eval_dates``).
    """
    model = fitted["model"]
    rate = pd.DataFrame(fitted.get("rate") or [])
    arms = []
    for k in model.kinds_:
        a = model.arms_.get(k, {})
        row = {"kind": k, "estimated": bool(a.get("estimated")), "rows": a.get("n_rows"),
               "treated": a.get("n_treated"), "ate": a.get("ate_benefit"),
               "ate_se": a.get("ate_se")}
        for rule in ("benefit", "benefit-risk"):
            r = (rate[(rate["kind"] == k) & (rate["rule"] == rule) & (rate["metric"] == "autoc")]
                 if len(rate) else rate)
            row[rule] = (None if not len(r) else
                         {c: float(r.iloc[0][c]) for c in ("estimate", "low", "high", "p_value")
                          if c in r.columns})
        row["allocated_by"] = "fit" if k in fitted.get("evidence", {}) else "benefit"
        row["why"] = fitted.get("evidence", {}).get(k)
        arms.append(row)
    return {"fit_dates": list(fitted.get("dates", [])),
            "eval_dates": list(fitted.get("eval_dates", [])), "arms": arms}


def _num(v, fmt="{:.4f}") -> str:
    return MISSING if v is None or pd.isna(v) else fmt.format(float(v))


def _rate_cell(r) -> str:
    if not r:
        return MISSING
    text = f"{r['estimate']:+.4f} [{r['low']:+.4f}, {r['high']:+.4f}]"
    return text + (f", p = {r['p_value']:.3f}" if "p_value" in r else "")


def _benefit_section(b: dict | None) -> str:
    if not b:
        return ("No benefit model was fitted with this model (`riskmodel train --benefit`). "
                "Support is allocated by risk and fit; nothing here shows that it prevents a "
                "leaving.")
    table = pd.DataFrame([{
        "kind": a["kind"], "estimated": "yes" if a["estimated"] else "no",
        "rows": _num(a["rows"], "{:.0f}"), "treated": _num(a["treated"], "{:.0f}"),
        "AIPW average benefit (se)": (f"{_num(a['ate'])} ({_num(a['ate_se'])})"
                                      if a["estimated"] else MISSING),
        "held-out RATE of benefit": _rate_cell(a["benefit"]),
        "benefit - risk": _rate_cell(a["benefit-risk"]),
        "allocated by": a["allocated_by"],
    } for a in b["arms"]])
    fit_d = b["fit_dates"]
    ev_d = b["eval_dates"]
    intro = (f"A benefit model (`riskmodel.BenefitModel`, cross-fitted AIPW with a LightGBM effect "
             f"model per kind) was fitted on {len(fit_d)} decision date(s)"
             + (f" ({fit_d[0]} to {fit_d[-1]})" if fit_d else "")
             + (f" and evaluated on the held-out school year ({ev_d[0]} to {ev_d[-1]}): RATE "
                "(AUTOC) with held-out AIPW scores, 95 % intervals from a bootstrap over schools, "
                "one-sided p-values." if ev_d else "; it was not evaluated on a later cohort."))
    why = [f"- **{a['kind']}** is allocated by fit: {a['why']}." for a in b["arms"] if a["why"]]
    gate = ("An arm is allocated by benefit only when its RATE is above zero and the benefit "
            "ranking beats the risk ranking, one-sided at 5 % Holm-corrected across the arms, with "
            "at least 100 treated rows and 10 early leavings among them in the held-out cohort "
            "(`riskmodel.allocation.weak_arms`). Benefit is estimated from past support that was "
            "not randomised: it rests on the features seeing what referral saw.")
    return "\n\n".join([intro, markdown_table(table), gate] + (["\n".join(why)] if why else []))


class ModelCardInfo(BaseModel):
    """Everything a model card says about one trained model.

    Parameters
    ----------
    model_name, model_version : str
        Name and version (e.g. the MLflow registered model and its version).
    created : datetime
        When the model was trained (default: now, UTC).
    data_start, data_end : date
        First and last date of the records used.
    as_of_dates : list of date
        Prediction dates of the training (and backtest) panel.
    outcome : str
        Outcome definition in words.
    horizon_days : int
        How far after the prediction date an outcome counts.
    features : dict of str to str
        Feature name -> domain (``attendance``, ``grades``, ...). A Series
        (index feature, values domain) or a DataFrame with columns ``feature`` and
        ``domain`` is accepted too.
    sensitive_attributes_excluded : list of str
        Audit attributes not used as features (default: all of
        ``vocab.AUDIT_ATTRIBUTES`` not in ``sensitive_attributes_included``).
    sensitive_attributes_included : list of str
        Sensitive attributes used as features after an explicit opt-in; the card
        then says so at the top.
    backtest : DataFrame, optional
        Backtest results of the model and the baselines (one row per model, or
        per model and fold); rendered as it is.
    audit : DataFrame, optional
        The table returned by :func:`riskmodel.fairness.audit` at the programme's
        capacity.
    capacity_k : int, optional
        The programme's k used for the audit (default: ``audit.attrs["k"]``).
    data_fingerprint : str
        Fingerprint of the training data.
    library_versions : dict of str to str
        Default: the installed versions of riskmodel and its main dependencies.
    synthetic_data : bool, default=False
        True when trained on the synthetic school system; the card warns.
    description : str
        One line on the model type.
    intended_use : str
        Opening paragraph of "Intended use"; the allowed and forbidden uses are
        always listed after it.
    notes : list of str
        Further known limits.
    risk_meaning : str
        What the risk means (default: the risk without new support, and how the
        model estimates it; see :mod:`riskmodel.benefit._untreated`).
    new_support_share : float, optional
        Share of the training rows in which new support started within 30 days
        after ``as_of`` (how much support the training outcomes include).
    benefit : dict, optional
        The benefit model's aggregates (:func:`benefit_summary`): fit and
        evaluation dates, per arm whether it was estimated, its rows, treated
        rows, AIPW average benefit, held-out RATE and the gate's verdict.

    Examples
    --------
    >>> from riskmodel.report import ModelCardInfo
    >>> info = ModelCardInfo(model_name="riskmodel", model_version="1",
    ...     data_start="2021-09-01", data_end="2025-06-30", outcome="early leaving",
    ...     horizon_days=365, data_fingerprint="abc123")
    >>> info.data_end, info.horizon_days
    (datetime.date(2025, 6, 30), 365)
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    model_name: str
    model_version: str
    created: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    data_start: dt.date
    data_end: dt.date
    as_of_dates: list[dt.date] = Field(default_factory=list)
    outcome: str
    horizon_days: int = Field(gt=0)
    features: dict[str, str] = Field(default_factory=dict)
    sensitive_attributes_excluded: list[str] | None = None
    sensitive_attributes_included: list[str] = Field(default_factory=list)
    backtest: pd.DataFrame | None = None
    audit: pd.DataFrame | None = None
    capacity_k: int | None = Field(default=None, gt=0)
    data_fingerprint: str
    library_versions: dict[str, str] = Field(default_factory=library_versions)
    synthetic_data: bool = False
    description: str = "LightGBM gradient-boosted trees with calibrated probabilities"
    intended_use: str = DEFAULT_INTENDED_USE
    notes: list[str] = Field(default_factory=list)
    risk_meaning: str = DEFAULT_RISK_MEANING
    new_support_share: float | None = Field(default=None, ge=0, le=1)
    benefit: dict | None = None

    @field_validator("data_start", "data_end", mode="before")
    @classmethod
    def _date(cls, v):
        return _to_date(v)

    @field_validator("as_of_dates", mode="before")
    @classmethod
    def _dates(cls, v):
        if isinstance(v, (str, pd.Timestamp, dt.date)):
            v = [v]
        return [_to_date(x) for x in v]

    @field_validator("features", mode="before")
    @classmethod
    def _features(cls, v):
        if isinstance(v, pd.DataFrame):
            missing = {"feature", "domain"} - set(v.columns)
            if missing:
                raise ValueError(f"features DataFrame needs the columns feature and domain; lacks {sorted(missing)}")
            return dict(zip(v["feature"].astype(str), v["domain"].astype(str)))
        if isinstance(v, pd.Series):
            return {str(k): str(x) for k, x in v.items()}
        return v

    @field_validator("data_end")
    @classmethod
    def _period(cls, v, info):
        start = info.data.get("data_start")
        if start is not None and v < start:
            raise ValueError(f"data_end ({v}) is before data_start ({start})")
        return v


# ----------------------------------------------------------------------------- rendering
def _pct(v: float) -> str:
    return MISSING if pd.isna(v) else f"{100 * float(v):.1f} %"


def _ci(row: pd.Series, m: str) -> str:
    lo, hi = row.get(f"{m}_low", np.nan), row.get(f"{m}_high", np.nan)
    if pd.isna(lo) or pd.isna(hi):
        return _pct(row[m])
    return f"{_pct(row[m])} ({100 * lo:.1f}–{100 * hi:.1f})"


def _ratio(v: float) -> str:
    return MISSING if pd.isna(v) else f"{float(v):.2f}"


def _audit_table(audit: pd.DataFrame, min_cell: int) -> str:
    header = [
        "Attribute", "Group", "n", "Base rate", "Selected", "Precision", "Recall (CI)",
        "False positive rate (CI)", "False negative rate", "Recall ratio", "FPR ratio",
        "Mean predicted", "Observed",
    ]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    for _, r in audit.iterrows():
        attr, group = markdown_cell(r["attribute"]), markdown_cell(r["group"])
        if bool(r.get("suppressed", False)):
            shown = f"<{min_cell}" if r.get("suppression_reason") == "small_cell" else "hidden"
            cells = [attr, group, shown] + [MISSING] * (len(header) - 3)
        else:
            ref = " (reference)" if bool(r.get("reference", False)) and r["attribute"] != "overall" else ""
            cells = [
                attr, group + ref, str(int(r["n"])), _pct(r["base_rate"]), _pct(r["selection_rate"]),
                _pct(r["precision"]), _ci(r, "recall"), _ci(r, "false_positive_rate"),
                _pct(r["false_negative_rate"]), _ratio(r.get("recall_ratio")),
                _ratio(r.get("false_positive_rate_ratio")), _pct(r["mean_predicted"]),
                _pct(r["observed_rate"]),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


_BACKTEST_COLUMNS = (
    "test_date", "model", "n", "prevalence", "k", "precision_at_k", "recall_at_k",
    "lift_at_k", "roc_auc", "average_precision", "brier",
)


def _backtest_table(bt: pd.DataFrame) -> str:
    """The readable core of a backtest table (all columns when it is not
    :func:`riskmodel.backtest`'s shape); precision at k with its interval."""
    cols = [c for c in _BACKTEST_COLUMNS if c in bt.columns]
    if "model" not in cols or "precision_at_k" not in cols:
        return markdown_table(bt)
    view = bt[cols].copy()
    if {"precision_at_k_low", "precision_at_k_high"} <= set(bt.columns):
        view["precision_at_k"] = [
            f"{p:.3f} ({lo:.3f}–{hi:.3f})" if pd.notna(lo) else markdown_cell(p)
            for p, lo, hi in zip(bt["precision_at_k"], bt["precision_at_k_low"], bt["precision_at_k_high"])
        ]
    return markdown_table(view.reset_index(drop=True))


def _latest_audit(audit: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """Rows of the latest test date when the audit carries a ``test_date`` column."""
    if "test_date" not in audit.columns or audit.empty:
        return audit, None
    last = max(audit["test_date"].astype(str))
    return audit[audit["test_date"].astype(str) == last], last


def _small_groups_text(audit: pd.DataFrame | None, min_cell: int) -> str:
    if audit is None:
        return "No audit was supplied, so groups too small to audit are not known."
    small = audit.loc[audit["suppression_reason"] == "small_cell", ["attribute", "group"]]
    comp = audit.loc[audit["suppression_reason"] == "complementary", ["attribute", "group"]]
    name = lambda df: ", ".join(f"{a} = {g}" for a, g in df.to_numpy())  # noqa: E731
    if small.empty:
        text = f"Every audited group had at least {min_cell} pupils."
    else:
        text = (
            f"These groups had fewer than {min_cell} pupils and could not be audited: "
            f"{name(small)}. The model's behaviour for them is unknown."
        )
    if not comp.empty:
        text += f" Hidden so that the small groups cannot be worked out from totals: {name(comp)}."
    return text


def _context(info: ModelCardInfo) -> dict[str, Any]:
    included = list(info.sensitive_attributes_included)
    excluded = info.sensitive_attributes_excluded
    if excluded is None:
        excluded = [a for a in vocab.AUDIT_ATTRIBUTES if a not in included]
    domains = Counter(info.features.values())
    order = [d for d in vocab.DOMAINS if d in domains] + sorted(set(domains) - set(vocab.DOMAINS))
    features_table = (
        markdown_table(
            pd.DataFrame({"feature": list(info.features), "domain": list(info.features.values())})
            .assign(_o=lambda d: d["domain"].map({x: i for i, x in enumerate(order)}))
            .sort_values(["_o", "feature"], kind="stable")
            .drop(columns="_o")
            .reset_index(drop=True)
        )
        if info.features
        else "No feature list was supplied."
    )
    audit, audit_date = (None, None) if info.audit is None else _latest_audit(info.audit)
    if audit is not None and "metric" in audit.columns:  # the tidy table of fairness.audit
        from ..fairness import by_group

        audit = by_group(audit)
    min_cell = int(info.audit.attrs.get("min_cell", MIN_CELL)) if info.audit is not None else MIN_CELL
    audit_table = audit_intro = audit_note = ""
    if audit is not None:
        attrs = info.audit.attrs
        k = info.capacity_k or attrs.get("k")
        n = attrs.get("n_pupils")
        conf = attrs.get("confidence", 0.95)
        n_boot = attrs.get("n_boot", 0)
        audit_intro = (
            (f"Test date {audit_date}. " if audit_date else "")
            + (f"The top {k} pupils by score" if k else "The top pupils by score")
            + (f" of {n}" if n else "")
            + " are selected (the number the programme can serve). Rates are shares of each "
            "group; recall is the share of the group's leavers who were selected; ratios "
            "compare each group with the reference group of its attribute"
            + (f"; intervals are {100 * conf:.0f} % bootstrap intervals ({n_boot} draws)." if n_boot else ".")
        )
        audit_table = _audit_table(audit, min_cell)
        audit_note = (
            f"`<{min_cell}`: fewer than {min_cell} pupils, not shown. `hidden`: not shown so that "
            "a small group cannot be worked out from the totals. Mean predicted beside observed "
            "shows calibration in the large."
        )
    versions = pd.DataFrame(
        {"library": list(info.library_versions), "version": list(info.library_versions.values())}
    )
    return {
        "name": info.model_name,
        "version": info.model_version,
        "created": info.created.strftime("%Y-%m-%d %H:%M %Z").strip(),
        "description": info.description,
        "fingerprint": info.data_fingerprint,
        "intended_use": info.intended_use,
        "data_start": info.data_start.isoformat(),
        "data_end": info.data_end.isoformat(),
        "as_of": ", ".join(d.isoformat() for d in info.as_of_dates) or "not supplied",
        "outcome": info.outcome,
        "horizon_days": info.horizon_days,
        "n_features": len(info.features),
        "n_domains": len(domains),
        "domain_counts": ", ".join(f"{d}: {domains[d]}" for d in order) or "none",
        "features_table": features_table,
        "sensitive_included": included,
        "sensitive_excluded": excluded,
        "backtest_table": _backtest_table(info.backtest) if info.backtest is not None else "",
        "audit_table": audit_table,
        "audit_intro": audit_intro,
        "audit_note": audit_note,
        "small_groups": _small_groups_text(audit, min_cell),
        "synthetic": info.synthetic_data,
        "notes": info.notes,
        "risk_meaning": info.risk_meaning,
        "new_support_share": (None if info.new_support_share is None
                              else f"{100 * info.new_support_share:.2f} %"),
        "benefit_section": _benefit_section(info.benefit),
        "versions_table": markdown_table(versions) if len(versions) else "Not recorded.",
    }


def model_card(info: ModelCardInfo) -> str:
    """Render the model card as Markdown.

    Parameters
    ----------
    info : ModelCardInfo
        What to say about the model.

    Returns
    -------
    str
        Markdown with the sections Model details, Intended use, Data, Outcome,
        Features, Sensitive attributes, Backtest results, Fairness audit, Known
        limits and Versions. Suppressed audit cells show as ``<10`` (small
        groups) or ``hidden`` (complementary suppression).

    Examples
    --------
    >>> from riskmodel.report import ModelCardInfo, model_card
    >>> info = ModelCardInfo(model_name="riskmodel", model_version="1",
    ...     data_start="2021-09-01", data_end="2025-06-30", as_of_dates=["2024-10-01"],
    ...     outcome="early leaving", horizon_days=365,
    ...     features={"attendance_rate_28d": "attendance"}, data_fingerprint="abc123")
    >>> text = model_card(info)
    >>> "## Intended use" in text and "never" in text.lower()
    True
    """
    if not isinstance(info, ModelCardInfo):
        raise TypeError(
            f"The 'info' parameter of model_card must be a ModelCardInfo. Got {type(info).__name__} instead."
        )
    text = render("model_card.md.j2", **_context(info))
    return re.sub(r"\n{3,}", "\n\n", text)


# ----------------------------------------------------------------------------- from a run
EARLY_LEAVING_DEFINITION = (
    "early leaving: an enrolment ends within the horizon with reason left, expelled or other "
    "and the pupil is not enrolled again within 30 days, or the pupil finishes grade 9 with a "
    "liecība (school report instead of the certificate) and does not continue within 120 days; "
    "a transfer is never leaving"
)


def _data_period(tables) -> tuple[dt.date, dt.date]:
    lo, hi = [], []
    for name, cols in (
        ("enrolments", ("start_date", "end_date")),
        ("attendance", ("date",)),
        ("grades", ("date",)),
        ("engagement", ("date",)),
        ("support", ("start_date", "end_date")),
    ):
        table = getattr(tables, name, None)
        if table is None or len(table) == 0:
            continue
        for c in cols:
            if c in table.columns:
                v = pd.to_datetime(table[c])
                if v.notna().any():
                    lo.append(v.min())
                    hi.append(v.max())
    if not lo:
        raise ValueError("build_model_card: the tables hold no dated records, so the data period is unknown.")
    return min(lo).date(), max(hi).date()


def _features_of(model) -> tuple[dict[str, str], list[str]]:
    """Feature -> domain of ``model`` and its sensitive features.

    Domains are the model's own ``feature_domains_`` when it has them, else the
    feature registry's ("unknown" for a feature not in it). Sensitive are the
    registry's sensitive features and the audit attributes used as features.
    """
    names = [str(c) for c in getattr(model, "feature_names_in_", [])]
    from ..features import registry

    reg = registry()
    own = dict(getattr(model, "feature_domains_", None) or {})
    domains = {
        f: str(own[f]) if f in own else str(reg.loc[f, "domain"]) if f in reg.index else "unknown"
        for f in names
    }
    sensitive = [f for f in names if f in reg.index and bool(reg.loc[f, "sensitive"])]
    sensitive += [a for a in vocab.AUDIT_ATTRIBUTES if a in names and a not in sensitive]
    return domains, sensitive


def build_model_card(
    *,
    cfg=None,
    model=None,
    backtest: pd.DataFrame | None = None,
    audit: pd.DataFrame | None = None,
    tables=None,
    train_dates=(),
    k: int | None = None,
    fingerprint: str = "",
    version: str | None = None,
    synthetic: bool | None = None,
    benefit: dict | None = None,
    new_support_share: float | None = None,
) -> tuple[str, str]:
    """Model card (Markdown, HTML) of a training run, from what the run has at hand.

    Collects a :class:`ModelCardInfo` from the pipeline's objects: the model's
    features (``feature_names_in_``) with their domains (the model's
    ``feature_domains_``, else the feature registry's) and sensitivity from the
    feature registry, the data period from the tables' dated records, the
    outcome and horizon from the config, then renders both forms.

    Parameters
    ----------
    cfg : riskmodel.pipeline.TrainConfig, optional
        Gives the model name (``cfg.tracking.registered_model_name``) and the horizon.
    model : RiskModel, optional
    backtest, audit : DataFrame, optional
    tables : SchoolTables
    train_dates : sequence of dates
    k : int, optional
        The programme's capacity used for the audit.
    fingerprint : str
    version : str, optional
        Registered model version ("unregistered" when None).
    synthetic : bool, optional
        The data are the synthetic school system (the card warns). None: when
        ``cfg.data`` is None.
    benefit : dict, optional
        The train run's fitted benefit model (``TrainResult.benefit``); its
        aggregates fill the section "Benefit of support".
    new_support_share : float, optional
        Share of training rows with new support within 30 days.

    Returns
    -------
    (str, str)
        Markdown and HTML.

    Examples
    --------
    >>> import riskmodel as rm
    >>> world = rm.datasets.make_school_system(n_pupils=300, n_years=3, random_state=0)
    >>> md, page = build_model_card(tables=world.tables, train_dates=["2024-10-01"],
    ...                             fingerprint="abc", synthetic=True)
    >>> md.splitlines()[0], "**Trained on synthetic data.**" in md
    ('# Model card: riskmodel unregistered', True)
    """
    domains, sensitive = _features_of(model)
    start, end = _data_period(tables)
    if synthetic is None:
        synthetic = cfg is not None and getattr(cfg, "data", "") is None
    tracking = getattr(cfg, "tracking", None)
    info = ModelCardInfo(
        model_name=getattr(tracking, "registered_model_name", None) or "riskmodel",
        model_version=str(version) if version is not None else "unregistered",
        data_start=start,
        data_end=end,
        as_of_dates=list(train_dates),
        outcome=EARLY_LEAVING_DEFINITION,
        horizon_days=int(getattr(cfg, "horizon_days", 365)),
        features=domains,
        sensitive_attributes_included=sensitive,
        backtest=backtest,
        audit=audit,
        capacity_k=int(k) if k is not None else None,
        data_fingerprint=fingerprint or "not recorded",
        synthetic_data=bool(synthetic),
        new_support_share=new_support_share,
        benefit=None if benefit is None else benefit_summary(benefit),
    )
    return model_card(info), model_card_html(info)


# ----------------------------------------------------------------------------- HTML
def model_card_html(info: ModelCardInfo) -> str:
    """Render the model card as one standalone HTML page (no external files).

    The page is the Markdown of :func:`model_card` laid out by the
    ``model_card.html.j2`` template (with the reports' shared stylesheet), so
    both forms always say the same.

    Parameters
    ----------
    info : ModelCardInfo
        What to say about the model.

    Returns
    -------
    str
        The HTML page; every text from ``info`` is escaped.

    Examples
    --------
    >>> from riskmodel.report import ModelCardInfo, model_card_html
    >>> info = ModelCardInfo(model_name="riskmodel", model_version="1",
    ...     data_start="2021-09-01", data_end="2025-06-30", outcome="early leaving",
    ...     horizon_days=365, data_fingerprint="abc123")
    >>> model_card_html(info).startswith("<!DOCTYPE html>")
    True
    """
    return render("model_card.html.j2", title=f"Model card: {info.model_name} {info.model_version}",
                  blocks=blocks(model_card(info)))

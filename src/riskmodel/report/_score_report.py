"""The scoring run's ``report.html``: a readable summary for the people who plan support.

Sections: the run (model, data, as_of), the risk distribution by tier, the
domains that raise risk among the high tier (and the most common first
reasons), and the allocation and shortfall by municipality. Figures are
matplotlib PNGs embedded as base64, so the file stands alone. Only aggregates
are shown; any group of fewer than :data:`riskmodel._suppression.MIN_CELL`
pupils is suppressed. The page is rendered by the ``score_report.html.j2``
template (with the reports' shared stylesheet); the Python code here only
computes what it shows. The HTML is deterministic: the same inputs give the
same bytes.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from .._suppression import MIN_CELL, blank_small
from ._format import figure_png, render

__all__ = ["score_report_html", "MIN_CELL"]  # MIN_CELL: kept importable for one release


def _png(fig) -> str:
    return figure_png(fig, dpi=100)


def _img(fig, alt: str) -> dict:
    return {"alt": alt, "src": _png(fig)}


def _table(df: pd.DataFrame, left: tuple[str, ...] = ()) -> dict:
    """The cells of ``df`` for the template's ``table`` macro (formatted by its ``cell`` filter)."""
    columns = [{"name": str(c), "left": c in left} for c in df.columns]
    rows = [[row[c] for c in df.columns] for _, row in df.iterrows()]
    return {"columns": columns, "rows": rows}


def _figure(width=6.4, height=4.0):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig, fig.subplots()


def _risk_section(scores: pd.DataFrame) -> dict:
    from ..plotting import RiskDistributionDisplay

    fig, ax = _figure()
    ordered = scores[["risk", "tier"]].sort_values("tier", kind="stable")  # high, elevated, low
    RiskDistributionDisplay(ordered["risk"].to_numpy(), ordered["tier"].astype(str).to_numpy()
                            ).plot(ax=ax)
    ax.set_yscale("log")
    ax.set_ylabel("pupils (log scale)")
    ax.set_title("Predicted risk of early leaving, by tier", fontsize=10)
    fig.tight_layout()
    tiers = (scores.groupby("tier", observed=False)["risk"]
             .agg(pupils="size", mean_risk="mean", min_risk="min", max_risk="max")
             .reset_index())
    q = scores["risk"].quantile([0.5, 0.9, 0.99]).to_numpy()
    return {"n": len(scores), "median": q[0], "q90": q[1], "q99": q[2],
            "expected": scores["risk"].sum(), "image": _img(fig, "risk distribution"),
            "table": _table(blank_small(tiers, "pupils"), left=("tier",))}


def _descriptions() -> dict[str, str]:
    from ..features import registry

    reg = registry()
    return reg["description_en"].astype(str).to_dict() if "description_en" in reg else {}


def _reasons_section(scores: pd.DataFrame, by_domain: pd.DataFrame | None,
                     first_reason: pd.Series | None = None) -> dict:
    high = scores.index[scores["tier"].astype(str) == "high"]
    out = {"domains": None, "shares": None, "first_reasons": None}
    if by_domain is not None and len(high):
        from ..plotting import DomainReasonsDisplay

        disp = DomainReasonsDisplay.from_explanation(by_domain.reindex(high))
        fig, ax = _figure(6.4, 3.2)
        disp.plot(ax=ax)
        ax.set_title("High tier: main risk-raising domain", fontsize=10)
        fig.tight_layout()
        out["domains"] = {"image": _img(fig, "reasons by domain"),
                          "table": _table(blank_small(disp.table_, "pupils"), left=("domain",))}
    share_cols = [c for c in scores.columns if c.startswith("share_")]
    if share_cols:
        means = scores.groupby("tier", observed=False)[share_cols].mean()
        means.columns = [c.removeprefix("share_") for c in means.columns]
        n = scores.groupby("tier", observed=False).size()
        means.insert(0, "pupils", n)
        out["shares"] = _table(blank_small(means.reset_index(), "pupils"), left=("tier",))
    if first_reason is not None and len(high):
        top = (first_reason.reindex(high).dropna().value_counts().rename_axis("feature")
               .reset_index(name="pupils"))
        top = top[top["pupils"] >= MIN_CELL].head(10)
        if len(top):
            top.insert(1, "what it measures", top["feature"].map(_descriptions()).fillna(""))
            out["first_reasons"] = _table(top, left=("feature", "what it measures"))
    return out


def _allocation_section(scores: pd.DataFrame, allocation) -> dict | None:
    if allocation is None:
        return None
    summary = allocation.summary().reset_index()
    keep = [c for c in ("kind", "capacity", "assigned", "demand", "unmet", "idle",
                        "waitlist_capacity", "waitlist_locality", "waitlist_budget", "cost")
            if c in summary.columns]
    sf = allocation.shortfall
    by_muni = (sf.groupby("municipality_id")[["demand", "capacity", "assigned", "unmet"]].sum()
               .sort_values("unmet", ascending=False))
    pupils = scores.groupby("municipality_id").size()
    high = scores[scores["tier"].astype(str) == "high"].groupby("municipality_id").size()
    by_muni.insert(0, "pupils", pupils.reindex(by_muni.index).fillna(0).astype("int64"))
    by_muni.insert(1, "high_tier", high.reindex(by_muni.index).fillna(0).astype("int64"))
    top = by_muni.head(25)
    fig, ax = _figure(7.5, max(3.0, 0.28 * len(top) + 1.2))
    y = np.arange(len(top))
    ax.barh(y, top["assigned"], label="assigned (all kinds)")
    ax.barh(y, top["unmet"], left=top["assigned"], label="waiting (risk group, eligible)")
    ax.set_yticks(y, top.index.astype(str), fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("pupil-support pairs")
    ax.set_title("Allocation and shortfall by municipality (largest shortfall first)",
                 fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    images = [_img(fig, "allocation by municipality")]
    if "mentor" in set(sf["kind"]):
        from ..plotting import ShortfallDisplay

        fig2, ax2 = _figure(7.5, 5.0)
        ShortfallDisplay.from_allocation(allocation, kind="mentor", top=20).plot(ax=ax2)
        fig2.tight_layout()
        images.append(_img(fig2, "mentor demand and capacity"))
    return {"summary": _table(summary[keep], left=("kind",)), "images": images,
            "municipalities": _table(blank_small(by_muni.reset_index(), "pupils"),
                                     left=("municipality_id",))}


def _support_section(support_audit: pd.DataFrame | None) -> dict | None:
    if support_audit is None or len(support_audit) == 0:
        return None
    t = support_audit
    if "metric" in t.columns:  # the tidy table of fairness.audit_allocation
        from ..fairness import by_group

        t = by_group(t)
    cols = [c for c in ("attribute", "group", "n", "supported_share", "supported_share_ratio")
            if c in t.columns]
    shown = t[cols].copy()
    if "suppressed" in t.columns:
        hidden = t["suppressed"].fillna(False).astype(bool).to_numpy()
        for c in cols[2:]:
            shown[c] = shown[c].astype("float64")
            shown.loc[hidden, c] = np.nan
    return _table(blank_small(shown, "n"), left=("attribute", "group"))


def _run_line(manifest: dict) -> dict:
    model = manifest.get("model") or {}
    model_text = model.get("uri") or model.get("source") or "in-memory model"
    if model.get("version"):
        model_text += f" (version {model['version']})"
    return {"as_of": str(manifest.get("as_of", "")), "model": model_text,
            "fingerprint": str(manifest.get("data_fingerprint", ""))[:16],
            "riskmodel_version": str(manifest.get("riskmodel_version", "")),
            "cohort": _cohort_sentence(manifest)}


def _cohort_sentence(manifest: dict) -> str | None:
    """One sentence for a summer cohort (None for a date in a school year).

    Examples
    --------
    >>> _cohort_sentence({"as_of": "2025-08-15", "cohort": {
    ...     "rule": "summer_continuers", "n": 1200, "n_enrolled": 3, "n_continuing": 1197,
    ...     "school_year": 2025}})  # doctest: +NORMALIZE_WHITESPACE
    '2025-08-15 lies between two school years: the 1,197 pupils expected to continue
    are scored in the grade they will enter in 2025/26, at the school of their latest
    enrolment (and 3 pupils enrolled on the date); pupils new to the records, such as
    first-graders, are not among them.'
    >>> _cohort_sentence({"cohort": {"rule": "enrolled"}}) is None
    True
    """
    c = manifest.get("cohort") or {}
    if c.get("rule") != "summer_continuers":
        return None
    year = int(c.get("school_year", 0))
    text = (f"{manifest.get('as_of', 'as_of')} lies between two school years: the "
            f"{int(c.get('n_continuing', 0)):,} pupils expected to continue are scored in the "
            f"grade they will enter in {year}/{(year + 1) % 100:02d}, at the school of their "
            "latest enrolment")
    n_enrolled = int(c.get("n_enrolled", 0))
    if n_enrolled:
        text += f" (and {n_enrolled:,} pupil{'s' if n_enrolled != 1 else ''} enrolled on the date)"
    return text + "; pupils new to the records, such as first-graders, are not among them."


def _monitor_banner(manifest: dict) -> dict | None:
    """The bilingual banner of the monitor's decision (``reason_texts.yaml``, ``monitor``),
    or None when the run scored with the model unchanged on ``keep`` (or without a check).
    """
    mon = manifest.get("monitor") or {}
    decision = mon.get("decision")
    if decision not in ("update_intercept", "recalibrate", "refit"):
        return None
    from ..explain import reason_texts

    texts = reason_texts()["monitor"]
    if decision == "refit" or mon.get("update"):
        lv, en = texts[decision]["lv"], texts[decision]["en"]
    else:  # recommended, but no outcomes to fit the update on
        name = texts["update_name"][decision]
        key = "case_mix_today" if mon.get("update_withheld") == "case_mix_today" \
            else "not_applied"
        lv = texts[key]["lv"].format(decision=name["lv"])
        en = texts[key]["en"].format(decision=name["en"])
    return {"decision": decision, "lv": lv, "en": en,
            "findings_title": f"{texts['findings']['en']} / {texts['findings']['lv']}",
            "reasons": list(mon.get("reasons") or [])[:10]}


def score_report_html(*, scores: pd.DataFrame, by_domain: pd.DataFrame | None = None,
                      allocation=None, manifest: dict | None = None,
                      support_audit: pd.DataFrame | None = None,
                      first_reason: pd.Series | None = None) -> str:
    """Render the scoring report as one self-contained HTML page.

    Parameters
    ----------
    scores : DataFrame
        The ``scores.parquet`` frame (index pupil_id; risk, tier, municipality_id,
        reasons, domain shares).
    by_domain : DataFrame, optional
        ``Explanation.by_domain()`` (pupil × domain log-odds contributions).
    allocation : riskmodel.Allocation, optional
    manifest : dict, optional
        The run manifest (model, as_of, data fingerprint).
    support_audit : DataFrame, optional
        :func:`riskmodel.fairness.audit_allocation` rows of kind ``"any"`` for the
        risk group (suppressed cells are shown as –).
    first_reason : Series, optional
        Feature of each pupil's first reason (index pupil_id), for the table of the
        most common first reasons in the high tier.

    Returns
    -------
    str
        HTML; the same inputs give the same string. Every count or rate of a
        group of fewer than ``MIN_CELL`` pupils shows as –.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from riskmodel.report import score_report_html
    >>> risk = np.linspace(0.01, 0.6, 200)
    >>> tier = pd.Categorical(np.where(risk > 0.5, "high", np.where(risk > 0.3, "elevated", "low")),
    ...                       categories=["high", "elevated", "low"], ordered=True)
    >>> scores = pd.DataFrame({"risk": risk, "tier": tier, "municipality_id": "M1"})
    >>> page = score_report_html(scores=scores, manifest={"as_of": "2025-10-01"})
    >>> page.startswith("<!DOCTYPE html>"), "200 pupils scored" in page
    (True, True)
    >>> page == score_report_html(scores=scores, manifest={"as_of": "2025-10-01"})
    True

    A monitor decision other than ``keep`` shows as a bilingual banner:

    >>> mon = {"decision": "refit", "reasons": ["outcome cohort: auc = 0.61"]}
    >>> page = score_report_html(scores=scores, manifest={"as_of": "2025-10-01",
    ...                                                   "monitor": mon})
    >>> "Refit due" in page and "pārapmācība" in page and "auc = 0.61" in page
    True
    """
    return render(
        "score_report.html.j2",
        title=f"riskmodel scores as of {(manifest or {}).get('as_of', '')}",
        run=_run_line(manifest or {}),
        monitor=_monitor_banner(manifest or {}),
        risk=_risk_section(scores),
        reasons=_reasons_section(scores, by_domain, first_reason),
        allocation=_allocation_section(scores, allocation),
        support=_support_section(support_audit),
        min_cell=MIN_CELL,
    )

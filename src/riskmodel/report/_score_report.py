"""The scoring run's ``report.html``: a readable summary for the people who plan support.

Sections: the run (model, data, as_of), the risk distribution by tier, the
domains that raise risk among the high tier (and the most common first
reasons), and the allocation and shortfall by municipality. Figures are
matplotlib PNGs embedded as base64, so the file stands alone. Only aggregates
are shown; any group of fewer than 10 pupils is suppressed. The HTML is
deterministic: the same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np
import pandas as pd

__all__ = ["score_report_html", "MIN_CELL"]

#: smallest group shown in the report
MIN_CELL = 10

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}
.note{color:#666;font-size:.88em}img{max-width:100%;height:auto}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:1em}
"""


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _img(fig, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="{_png(fig)}">'


def _table(df: pd.DataFrame, left: tuple[str, ...] = ()) -> str:
    head = "".join(f'<th class="{"l" if c in left else ""}">{html.escape(str(c))}</th>'
                   for c in df.columns)
    rows = []
    for _, row in df.iterrows():
        cells = []
        for c in df.columns:
            v = row[c]
            if isinstance(v, (float, np.floating)):
                text = "–" if pd.isna(v) else (f"{v:.3f}" if abs(v) < 10 else f"{v:,.0f}")
            elif isinstance(v, (int, np.integer)):
                text = f"{int(v):,}"
            else:
                text = "–" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)
            cells.append(f'<td class="{"l" if c in left else ""}">{html.escape(text)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _figure(width=6.4, height=4.0):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig, fig.subplots()


def _risk_section(scores: pd.DataFrame) -> str:
    from ..plotting import RiskDistributionDisplay

    fig, ax = _figure()
    ordered = scores.sort_values("tier", kind="stable")  # high, elevated, low
    RiskDistributionDisplay(ordered["risk"].to_numpy(), ordered["tier"].astype(str).to_numpy()
                            ).plot(ax=ax)
    ax.set_yscale("log")
    ax.set_ylabel("pupils (log scale)")
    ax.set_title("Predicted risk of early leaving, by tier", fontsize=10)
    fig.tight_layout()
    tiers = (scores.groupby("tier", observed=False)["risk"]
             .agg(pupils="size", mean_risk="mean", min_risk="min", max_risk="max")
             .reset_index())
    tiers = _suppress(tiers, "pupils")
    q = scores["risk"].quantile([0.5, 0.9, 0.99]).to_numpy()
    return (
        "<h2>Risk distribution</h2>"
        f"<p>{len(scores):,} pupils scored. Median risk {q[0]:.3f}, 90th percentile {q[1]:.3f}, "
        f"99th percentile {q[2]:.3f}; expected number of early leavers within the horizon "
        f"{scores['risk'].sum():,.0f}. Tiers are national ranks.</p>"
        f"{_img(fig, 'risk distribution')}{_table(tiers, left=('tier',))}"
    )


def _suppress(df: pd.DataFrame, count_col: str) -> pd.DataFrame:
    """Blank every number of rows whose ``count_col`` is below :data:`MIN_CELL`."""
    df = df.copy()
    small = (pd.to_numeric(df[count_col], errors="coerce") < MIN_CELL).to_numpy()
    if small.any():
        for c in df.columns:
            if pd.api.types.is_numeric_dtype(df[c]):
                df[c] = df[c].astype("float64")
                df.loc[small, c] = np.nan
    return df


def _descriptions() -> dict[str, str]:
    try:
        from ..features import registry

        reg = registry()
        return reg["description_en"].astype(str).to_dict() if "description_en" in reg else {}
    except ImportError:  # pragma: no cover
        return {}


def _reasons_section(scores: pd.DataFrame, by_domain: pd.DataFrame | None,
                     first_reason: pd.Series | None = None) -> str:
    high = scores.index[scores["tier"].astype(str) == "high"]
    parts = ["<h2>Reasons by domain</h2>"]
    if by_domain is not None and len(high):
        from ..plotting import DomainReasonsDisplay

        disp = DomainReasonsDisplay.from_explanation(by_domain.reindex(high))
        fig, ax = _figure(6.4, 3.2)
        disp.plot(ax=ax)
        ax.set_title("High tier: main risk-raising domain", fontsize=10)
        fig.tight_layout()
        table = _suppress(disp.table_, "pupils")
        parts.append(f"{_img(fig, 'reasons by domain')}{_table(table, left=('domain',))}")
    share_cols = [c for c in scores.columns if c.startswith("share_")]
    if share_cols:
        means = scores.groupby("tier", observed=False)[share_cols].mean()
        means.columns = [c.removeprefix("share_") for c in means.columns]
        n = scores.groupby("tier", observed=False).size()
        means.insert(0, "pupils", n)
        parts.append("<p>Mean share of the risk-raising contributions by domain, per tier:</p>"
                     + _table(_suppress(means.reset_index(), "pupils"), left=("tier",)))
    if first_reason is not None and len(high):
        top = (first_reason.reindex(high).dropna().value_counts().rename_axis("feature")
               .reset_index(name="pupils"))
        top = top[top["pupils"] >= MIN_CELL].head(10)
        if len(top):
            top.insert(1, "what it measures", top["feature"].map(_descriptions()).fillna(""))
            parts.append("<p>Most common first reasons in the high tier "
                         f"(reasons given to fewer than {MIN_CELL} pupils are not listed):</p>"
                         + _table(top, left=("feature", "what it measures")))
    return "".join(parts)


def _allocation_section(scores: pd.DataFrame, allocation) -> str:
    if allocation is None:
        return "<h2>Allocation</h2><p>No allocation was run.</p>"
    parts = ["<h2>Allocation and shortfall by municipality</h2>"]
    summary = allocation.summary().reset_index()
    keep = [c for c in ("kind", "capacity", "assigned", "demand", "unmet", "idle",
                        "waitlist_capacity", "waitlist_locality", "waitlist_budget", "cost")
            if c in summary.columns]
    parts.append("<p>Per kind of support: places, pupils assigned, eligible pupils in the risk "
                 "group (demand) and those left waiting (unmet), with the reason they wait.</p>"
                 + _table(summary[keep], left=("kind",)))
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
    parts.append(_img(fig, "allocation by municipality"))
    if "mentor" in set(sf["kind"]):
        from ..plotting import ShortfallDisplay

        fig2, ax2 = _figure(7.5, 5.0)
        ShortfallDisplay.from_allocation(allocation, kind="mentor", top=20).plot(ax=ax2)
        fig2.tight_layout()
        parts.append(_img(fig2, "mentor demand and capacity"))
    table = _suppress(by_muni.reset_index(), "pupils")
    parts.append(f"<p>All municipalities (rows with fewer than {MIN_CELL} pupils are "
                 "suppressed):</p>" + _table(table, left=("municipality_id",)))
    return "".join(parts)


def _support_section(support_audit: pd.DataFrame | None) -> str:
    if support_audit is None or len(support_audit) == 0:
        return ""
    t = support_audit
    cols = [c for c in ("attribute", "group", "n", "supported_share", "supported_share_ratio")
            if c in t.columns]
    shown = t[cols].copy()
    if "suppressed" in t.columns:
        hidden = t["suppressed"].fillna(False).astype(bool).to_numpy()
        for c in cols[2:]:
            shown[c] = shown[c].astype("float64")
            shown.loc[hidden, c] = np.nan
    shown = _suppress(shown, "n") if "n" in shown.columns else shown
    return ("<h2>Support by group</h2><p>Among the pupils in the risk group: how many are in "
            "each group (n) and the share who got support of any kind, with its ratio to the "
            "largest group. Groups under "
            f"{MIN_CELL} pupils, and any group whose numbers could be worked out from them, are "
            "hidden (–).</p>" + _table(shown, left=("attribute", "group")))


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
    first_reason : Series, optional
        Feature of each pupil's first reason (index pupil_id), for the table of the
        most common first reasons in the high tier.
    support_audit : DataFrame, optional
        :func:`riskmodel.fairness.audit_allocation` rows of kind ``"any"`` for the
        risk group (suppressed cells are shown as –).

    Returns
    -------
    str
        HTML; the same inputs give the same string.

    Examples
    --------
    >>> from riskmodel.report._score_report import score_report_html
    >>> page = score_report_html(scores=scores, by_domain=ex.by_domain())  # doctest: +SKIP
    """
    m = manifest or {}
    model = m.get("model") or {}
    model_text = model.get("uri") or model.get("source") or "in-memory model"
    if model.get("version"):
        model_text += f" (version {model['version']})"
    head = (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>riskmodel scores as of {html.escape(str(m.get('as_of', '')))}</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>Early-leaving risk as of {html.escape(str(m.get('as_of', '')))}</h1>"
        f"<p class=\"note\">Model {html.escape(model_text)} · data fingerprint "
        f"{html.escape(str(m.get('data_fingerprint', ''))[:16])} · riskmodel "
        f"{html.escape(str(m.get('riskmodel_version', '')))}</p>"
        "<p>Risk is the model's calibrated probability that a pupil leaves school early within "
        "the horizon. It is a signal to offer support, never grounds for sanctions; reasons "
        "name the records that raised the risk most, for a teacher to check.</p>"
    )
    body = (_risk_section(scores) + _reasons_section(scores, by_domain, first_reason)
            + _allocation_section(scores, allocation) + _support_section(support_audit))
    return head + body + "</body></html>\n"

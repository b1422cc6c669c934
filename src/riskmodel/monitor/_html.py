"""The monitor's HTML pages (private): ``monitor.html`` and the rules-only score report.

Standalone files: figures are matplotlib PNGs embedded as base64, no script, no
CDN. Only aggregates are shown; a cell of fewer than ``MIN_CELL`` pupils is blanked.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from .._suppression import MIN_CELL, blank_small
from ..report._format import figure_png

__all__ = ["monitor_html", "rules_only_html"]

_STYLE = """body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;padding:2px 6px}
.banner{padding:1em;border:2px solid #b00;background:#fee;margin:1em 0}
.ok{border-color:#080;background:#efe}img{max-width:100%}"""

#: drifted features plotted at most
MAX_PLOTS = 8


def _png(fig) -> str:
    return figure_png(fig, dpi=90)


def _table(df: pd.DataFrame) -> str:
    def cell(v):
        if isinstance(v, float):
            return "" if np.isnan(v) else f"{v:.4g}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>"
                   for r in df.itertuples(index=False))
    return f"<table><tr>{head}</tr>{rows}</table>"


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
            f"{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>{body}</body></html>\n")


def _drift_figure(name: str, ref: pd.Series, cur: pd.Series) -> str:
    from matplotlib.figure import Figure

    a = pd.to_numeric(ref, errors="coerce").to_numpy(dtype="float64")
    b = pd.to_numeric(cur, errors="coerce").to_numpy(dtype="float64")
    fig = Figure(figsize=(5.2, 2.8), dpi=90)
    ax = fig.subplots()
    both = np.concatenate([a[np.isfinite(a)], b[np.isfinite(b)]])
    if len(both):
        lo, hi = np.quantile(both, [0.005, 0.995])
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 31)
        for x, label in ((a, "reference"), (b, "current")):
            x = x[np.isfinite(x)]
            if len(x) >= MIN_CELL:
                ax.hist(np.clip(x, bins[0], bins[-1]), bins=bins, density=True,
                        histtype="step", linewidth=1.5, label=label)
    ax.set_title(f"{name}  (missing: reference {np.isnan(a).mean():.1%}, current "
                 f"{np.isnan(b).mean():.1%})", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return f"<img alt=\"{html.escape(name)}\" src=\"{_png(fig)}\">"


def _banner(decision: str, reasons) -> str:
    cls = "banner ok" if decision == "keep" else "banner"
    items = "".join(f"<li>{html.escape(r)}</li>" for r in reasons[:20])
    return (f"<div class=\"{cls}\"><b>Monitor decision: {html.escape(decision)}</b>"
            f"{'<ul>' + items + '</ul>' if items else ''}</div>")


def _shown(findings: pd.DataFrame) -> pd.DataFrame:
    cols = ["level", "name", "statistic", "value", "expected", "threshold", "p_adjusted", "n"]
    return blank_small(findings[cols], "n", MIN_CELL)


def monitor_html(report, reference: pd.DataFrame, current: pd.DataFrame, doc: dict) -> str:
    """``monitor.html``: the decision and its reasons, the flagged findings, plots of the
    drifted features (reference against current), and the summary."""
    body = [f"<p>as of {html.escape(str(doc.get('as_of')))}; reference cohort "
            f"{html.escape(str(doc.get('reference_date')))}; model "
            f"{html.escape(str((doc.get('model') or {}).get('uri')))}</p>",
            _banner(report.decision, report.reasons)]
    if doc.get("update"):
        u = doc["update"]
        body.append(f"<p>Update fitted on the {html.escape(u['fitted_on'])}: logit p' = "
                    f"{u['intercept']:.4f} + {u['slope']:.4f} logit p.</p>")
    for note in report.notes:
        body.append(f"<p><i>{html.escape(note)}</i></p>")
    body.append("<h2>Summary</h2>" + _table(report.summary()))
    flagged = report.flagged()
    body.append(f"<h2>Flagged findings ({len(flagged)})</h2>"
                + (_table(_shown(flagged)) if len(flagged) else "<p>None.</p>"))
    feat = report.findings[(report.findings["level"] == "feature")
                           & (report.findings["statistic"] == "psi")]
    drifted = feat[feat["name"].isin(flagged.loc[flagged["level"] == "feature", "name"])]
    drifted = drifted.sort_values("value", ascending=False)["name"].head(MAX_PLOTS)
    if len(drifted):
        body.append("<h2>Drifted features: reference against current</h2>")
        body.extend(_drift_figure(n, reference[n], current[n]) for n in drifted
                    if n in reference and n in current)
    dom = report.findings[report.findings["level"].isin(["domain", "score", "outcome"])]
    body.append("<h2>Domains, score and outcomes</h2>" + _table(_shown(dom)))
    return _page(f"riskmodel monitor as of {doc.get('as_of', '')}", "".join(body))


def rules_only_html(rules: pd.DataFrame, manifest: dict, report) -> str:
    """The score report on ``rules_only``: a banner, the rule indicators' counts."""
    flags = [c for c in rules.columns if c.startswith("rule_") and rules[c].dtype == bool]
    counts = pd.DataFrame({"indicator": flags,
                           "pupils": [int(rules[c].sum()) for c in flags]})
    by_count = rules.groupby("rule_count").size().rename("pupils").reset_index()
    reasons = report.reasons if report is not None else []
    banner = ("<div class=\"banner\"><b>No risk scores in this run: the monitor found the "
              "model's inputs broken (decision rules_only).</b> The pupils are ranked by the "
              "transparent early-warning rules (attendance below 90 %, a failing core "
              "subject, over-age for the grade, a liecība) instead. Bez riska novērtējuma: "
              "modeļa ievaddati ir bojāti; skolēni sarindoti pēc brīdinājuma kritērijiem."
              "<ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in reasons[:20])
              + "</ul></div>")
    body = [f"<p>as of {html.escape(str(manifest.get('as_of')))}; "
            f"{len(rules):,} pupils</p>", banner,
            "<h2>Rule indicators</h2>", _table(blank_small(counts, "pupils", MIN_CELL)),
            "<h2>Pupils by number of conditions</h2>",
            _table(blank_small(by_count, "pupils", MIN_CELL))]
    return _page(f"riskmodel scores as of {manifest.get('as_of', '')} (rules only)",
                 "".join(body))

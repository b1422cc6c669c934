"""Watch lists per school, per mentor, and an index per municipality (private).

Reads a score run's folder (``scores.parquet``, ``explanations.parquet``,
``features.parquet``, ``allocation.parquet`` and ``changes.parquet`` where
present, ``manifest.json``) and the score history named in the manifest, and
writes standalone HTML from the Jinja2 templates beside this module. Texts come
from the ``watchlists`` section of ``riskmodel/explain/reason_texts.yaml``. The
pages carry no script, font or link to the network, and never a sensitive
attribute: only the columns named here are read into a row.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .._atomic import atomic_output_dir
from .._checks import check_option
from ..errors import ConfigError
from ..vocab import RECORD_DOMAINS

__all__ = ["write_watchlists"]

LISTED = ("high", "elevated")


def _env():
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("riskmodel.watchlists", "templates"),
                              autoescape=True, keep_trailing_newline=True)


def _texts(lang: str) -> dict:
    from ..explain._reasons import reason_texts

    rt = reason_texts()
    t = {k: v[lang] for k, v in rt["watchlists"].items()}
    t["domain_names"] = {d: v[lang] for d, v in rt["domains"].items()}
    t["support_kinds"] = {k: v[lang] for k, v in rt["support_kinds"].items()}
    # the banner of a rules_only run is shown in both languages, the page's first
    other = "en" if lang == "lv" else "lv"
    wl = rt["watchlists"]
    t["rules_banner_both"] = [
        {"lang": code, "title": wl["rules_banner_title"][code], "text": wl["rules_banner"][code]}
        for code in (lang, other)]
    return t


def _code(t: dict, table: str, code) -> str:
    """A code's text from ``t[table]``; a missing code shows as "not set", an unknown one as is."""
    if code is None or (isinstance(code, float) and np.isnan(code)) or str(code) in ("", "None"):
        return t["no_goal"]
    return t[table].get(str(code), str(code))


def _svg(points: list[float]) -> str:
    """A small inline SVG line of risk over runs (black, no script)."""
    if len(points) < 2:
        return ""
    w, h = 60, 18
    top = max(max(points), 1e-9)
    xs = np.linspace(1, w - 1, len(points))
    ys = [h - 1 - (h - 2) * p / top for p in points]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
    label = " → ".join(f"{100 * p:.0f}%" for p in points)
    return (f'<svg class="trend" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
            f'aria-label="{label}">'
            f'<polyline fill="none" stroke="#000" stroke-width="1.2" points="{path}"/>'
            f'<circle cx="{xs[-1]:.1f}" cy="{ys[-1]:.1f}" r="1.6" fill="#000"/></svg>'
            f'<div class="trend-values">{label}</div>')


def _read(run: Path, name: str) -> pd.DataFrame | None:
    p = run / name
    return pd.read_parquet(p) if p.is_file() else None


def _meaning(risk: float, t: dict, horizon_days: int) -> str:
    """The pupil's calibrated risk in words: "about n in 10 pupils with a risk like this"."""
    horizon = (t["horizon_year"] if horizon_days == 365
               else t["horizon_days"].format(days=horizon_days))
    n = 10 * float(risk)
    return t["meaning"].format(n="<1" if n < 0.5 else f"{n:.0f}", horizon=horizon)


def _quality(features: pd.DataFrame | None, t: dict) -> pd.Series:
    from ..features import registry

    if features is None:
        return pd.Series(dtype=object)
    dom = registry()["domain"]
    cols = [c for c in features.columns if c in dom.index and dom[c] in RECORD_DOMAINS]
    miss = features[cols].isna()
    by = miss.T.groupby(dom.loc[cols].to_numpy()).all().T  # a domain with no data at all
    names = t["domain_names"]
    return by.apply(lambda row: t["quality_missing"].format(
        domains=", ".join(names.get(d, d) for d in RECORD_DOMAINS if d in row and row[d]))
        if row.any() else t["quality_ok"], axis=1)


def _trend(history_dir, scores: pd.DataFrame, as_of) -> dict:
    from ._history import read_history

    if not history_dir:
        return {}
    h = read_history(Path(history_dir) / "scores")
    if h.empty:
        return {}
    h = h[h["as_of"] < pd.Timestamp(as_of)].drop_duplicates(["as_of", "pupil_id"], keep="last")
    h = h[h["pupil_id"].isin(scores.index)].sort_values("as_of")
    out = {pid: list(g["risk"].tail(5)) for pid, g in h.groupby("pupil_id", sort=False)}
    return out


def write_watchlists(run: str | os.PathLike, out: str | os.PathLike, *, lang: str = "lv",
                     horizon_days: int = 365, pdf: bool = False) -> dict:
    """Write the watch lists of a score run's folder ``run`` into ``out`` (atomically).

    ``<municipality>/<school_id>.html`` lists the school's pupils in the high
    and elevated tiers and every pupil with a plan; ``mentors/<resource_id>.html``
    is a resource's caseload; ``<municipality>/index.html`` links them. With
    ``pdf=True`` every school and mentor page also gets a ``.pdf`` beside it
    (headless Chromium, :func:`riskmodel.watchlists._pdf.print_pdf`).

    Returns
    -------
    dict
        ``{"n_schools": ..., "n_mentors": ..., "n_rows": ...}``.
    """
    check_option(lang, "lang", ("lv", "en"), "write_watchlists")
    run = Path(run)
    if not (run / "scores.parquet").is_file():
        raise ConfigError(f"{str(run)!r} is not a score run folder (no scores.parquet); "
                          "pass the --out folder of `riskmodel score` as --run.")
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    t = _texts(lang)
    scores = pd.read_parquet(run / "scores.parquet")
    if manifest.get("output") == "rules_only" or \
            (manifest.get("monitor") or {}).get("decision") == "rules_only":
        return _write_rules_only(run, out, manifest, scores, t, lang, pdf)
    alloc = _read(run, "allocation.parquet")
    changes = _read(run, "changes.parquet")
    expl = _read(run, "explanations.parquet")
    from .._run_allocate import _by_domain_from_file

    by_domain = (_by_domain_from_file(run / "explanations.parquet") if expl is not None
                 else pd.DataFrame(index=scores.index))
    quality = _quality(_read(run, "features.parquet"), t)
    trend = _trend(manifest.get("history_dir"), scores, manifest["as_of"])
    plans = (alloc.drop_duplicates("pupil_id").set_index("pupil_id")
             if alloc is not None and len(alloc) else pd.DataFrame())
    listed = scores["tier"].astype(str).isin(LISTED) | scores.index.isin(plans.index)
    rows = {}
    scale = max(float(by_domain.abs().max().max()) if len(by_domain) else 0.0, 1e-9)
    sel = scores[listed]
    dom = by_domain.reindex(index=sel.index, columns=list(RECORD_DOMAINS)).fillna(0.0)
    dom_vals = dict(zip(sel.index, dom.to_numpy().tolist()))
    ch = ({} if changes is None else
          changes.reindex(sel.index)[["status", "left_reason", "d_risk"]].to_dict("index"))
    plan_of = plans.reindex(plans.index.intersection(sel.index)).to_dict("index") \
        if len(plans) else {}
    quality = quality.to_dict() if len(quality) else {}
    reason_cols = [f"reason_{i}_{lang}" for i in range(1, 11) if f"reason_{i}_{lang}" in sel]
    names = [t["domain_names"][d] for d in RECORD_DOMAINS]
    for pid, s in zip(sel.index, sel.to_dict("records")):
        tier = str(s["tier"])
        reasons = [s[c] for c in reason_cols if isinstance(s[c], str)]
        bars = [{"name": nm, "width": f"{100 * abs(v) / scale:.0f}", "neg": v < 0}
                for nm, v in zip(names, dom_vals[pid])]
        change = t["status_first"]
        c = ch.get(pid)
        if c is not None and isinstance(c["status"], str):
            change = t["status_" + c["status"]]
            if c["status"] == "left" and isinstance(c.get("left_reason"), str):
                change += " (" + t["left_" + c["left_reason"]] + ")"
            if pd.notna(c["d_risk"]):
                change += "; " + t["risk_change"].format(delta=f"{100 * c['d_risk']:+.1f}")
        plan = t["no_plan"]
        p = plan_of.get(pid)
        if p is not None:
            plan = t["plan_line"].format(
                kind=_code(t, "support_kinds", p.get("kind")),
                resource=p.get("resource_id", ""),
                start=str(p.get("start_date", ""))[:10], review=str(p.get("review_date", ""))[:10],
                goal=_code(t, "domain_names", p.get("goal_domain")))
        rows[pid] = {"pupil_id": pid, "school_id": s["school_id"], "tier": tier,
                     "tier_text": t["tier_" + tier], "meaning": _meaning(s["risk"], t, horizon_days),
                     "reasons": reasons, "bars": bars,
                     "trend": _svg(trend.get(pid, []) + [float(s["risk"])]), "change": change,
                     "plan": plan, "quality": quality.get(pid, "")}
    left = {}
    if changes is not None:
        gone = changes[changes["status"] == "left"]
        for pid, c in gone.iterrows():
            left[pid] = {"pupil_id": pid, "reason": t["left_" + c["left_reason"]]}
    env = _env()
    page = env.get_template("watchlist.html.j2")
    index = env.get_template("index.html.j2")
    as_of = manifest["as_of"]
    order = scores.sort_values(["school_id", "rank_national"], kind="stable")
    n_rows = 0
    with atomic_output_dir(out) as tmp:
        mun_schools: dict[str, list] = {}
        mun_mentors: dict[str, dict] = {}
        for (mun, school), g in order.groupby(["municipality_id", "school_id"], sort=True):
            ids = [p for p in g.index if p in rows]
            left_ids = [left[p] for p in g.index if p in left]
            folder = tmp / str(mun)
            folder.mkdir(exist_ok=True)
            html = page.render(lang=lang, t=t, as_of=as_of, rows=[rows[p] for p in ids],
                               left=left_ids, title=t["title_school"].format(school=school))
            (folder / f"{school}.html").write_text(html, encoding="utf-8")
            mun_schools.setdefault(str(mun), []).append(
                {"school_id": school, "href": f"{school}.html", "n": len(ids)})
            n_rows += len(ids)
        (tmp / "mentors").mkdir()
        if len(plans):
            for res, g in alloc.groupby("resource_id", sort=True):
                ids = [p for p in g["pupil_id"] if p in rows]
                html = page.render(lang=lang, t=t, as_of=as_of, rows=[rows[p] for p in ids],
                                   left=[], title=t["title_mentor"].format(resource=res))
                (tmp / "mentors" / f"{res}.html").write_text(html, encoding="utf-8")
                for mun in sorted(set(g["municipality_id"].astype(str))):
                    mun_mentors.setdefault(mun, {})[res] = len(ids)
        for mun, schools in mun_schools.items():
            mentors = [{"resource_id": r, "href": f"../mentors/{r}.html", "n": n}
                       for r, n in sorted(mun_mentors.get(mun, {}).items())]
            html = index.render(lang=lang, t=t, as_of=as_of, schools=schools, mentors=mentors,
                                title=t["title_index"].format(municipality=mun))
            (tmp / mun / "index.html").write_text(html, encoding="utf-8")
        summary = {"kind": "watchlists", "run": str(run), "as_of": as_of, "lang": lang,
                   "n_schools": int(sum(len(v) for v in mun_schools.values())),
                   "n_mentors": int(alloc["resource_id"].nunique()) if len(plans) else 0,
                   "n_rows": n_rows}
        if pdf:
            _print_all(tmp)
        (tmp / "manifest.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def _print_all(folder: Path) -> None:
    from ._pdf import print_pdf

    for page_path in sorted(folder.glob("*/*.html")):
        if page_path.name != "index.html":
            print_pdf(page_path, page_path.with_suffix(".pdf"))


def _write_rules_only(run: Path, out, manifest: dict, scores: pd.DataFrame, t: dict, lang: str,
                      pdf: bool) -> dict:
    """The lists of a ``rules_only`` run (issue 19): a bilingual banner saying why there are
    no risk tiers, and per school the pupils that meet at least one early-warning rule, in
    the rule baseline's order. No mentor pages: such a run plans no support."""
    rule_cols = [c for c in scores.columns if c.startswith("rule_") and scores[c].dtype == bool]
    findings = [str(r) for r in (manifest.get("monitor") or {}).get("reasons") or []][:20]
    quality = _quality(_read(run, "features.parquet"), t)
    quality = quality.to_dict() if len(quality) else {}
    hit = scores[scores[rule_cols].any(axis=1)] if rule_cols else scores.iloc[:0]
    rows = {pid: {"pupil_id": pid, "school_id": s["school_id"],
                  "conditions": [t[c] if c in t else c for c in rule_cols if s[c]],
                  "count": int(s["rule_count"]) if "rule_count" in s else
                  sum(bool(s[c]) for c in rule_cols),
                  "quality": quality.get(pid, "")}
            for pid, s in zip(hit.index, hit.to_dict("records"))}
    env = _env()
    page, index = env.get_template("rules_only.html.j2"), env.get_template("index.html.j2")
    as_of = manifest["as_of"]
    order = scores.sort_values(["school_id", "rank_national"], kind="stable")
    n_rows = 0
    with atomic_output_dir(out) as tmp:
        mun_schools: dict[str, list] = {}
        for (mun, school), g in order.groupby(["municipality_id", "school_id"], sort=True):
            ids = [p for p in g.index if p in rows]
            folder = tmp / str(mun)
            folder.mkdir(exist_ok=True)
            html = page.render(lang=lang, t=t, as_of=as_of, rows=[rows[p] for p in ids],
                               findings=findings,
                               title=t["rules_title_school"].format(school=school))
            (folder / f"{school}.html").write_text(html, encoding="utf-8")
            mun_schools.setdefault(str(mun), []).append(
                {"school_id": school, "href": f"{school}.html", "n": len(ids)})
            n_rows += len(ids)
        (tmp / "mentors").mkdir()
        for mun, schools in mun_schools.items():
            html = index.render(lang=lang, t=t, as_of=as_of, schools=schools, mentors=[],
                                rules_only=True, findings=findings,
                                title=t["title_index"].format(municipality=mun))
            (tmp / mun / "index.html").write_text(html, encoding="utf-8")
        summary = {"kind": "watchlists", "run": str(run), "as_of": as_of, "lang": lang,
                   "output": "rules_only",
                   "n_schools": int(sum(len(v) for v in mun_schools.values())),
                   "n_mentors": 0, "n_rows": n_rows}
        if pdf:
            _print_all(tmp)
        (tmp / "manifest.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary

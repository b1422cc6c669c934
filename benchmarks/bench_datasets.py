"""Benchmark: the synthetic school system at national scale.

Target (issue 2): ``make_school_system(n_pupils=200_000, n_years=1)`` in at most
120 s and 8 GB peak memory on a 2-core machine (validation of the tables by
``SchoolTables`` included).

Figures printed:

- wall time of ``make_school_system`` against the 120 s target;
- peak RSS of the process (``resource.getrusage``) against the 8 GB target, and the
  size of the resulting tables;
- baseline in the same run: re-validating the generated tables
  (``SchoolTables(**tables.to_dict())``), i.e. the share of the total that is
  validation rather than simulation;
- row counts (about 34 M attendance, 20 M grade and 10 M engagement rows per year
  at 200,000 pupils) and the key marginals: attendance, grades, liecība share,
  early-leaving rates by grade band, shares of home language, migrant background,
  special needs, schools and municipalities;
- the truth: mean ``p_leave`` against the observed early leaving within the
  first year (September ``as_of``), oracle ROC AUC, and driver-domain shares among
  the top 10 %;
- the support history (issue 16): share of pupils supported per school year
  (PuMPuRS-like: about 10 %), the mix of kinds, mean duration per kind, places in
  the roster, and the mean truth effect ``effect_<kind>`` (eligible pupil-dates),
  also by driver domain for mentors.

Run ``python benchmarks/bench_datasets.py`` (national) or ``--small``.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

TARGET_S = 120.0
TARGET_GB = 8.0
SCALES = {"national": dict(n_pupils=200_000, n_years=1), "small": dict(n_pupils=20_000, n_years=1)}


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def _marginals(world) -> None:
    from sklearn.metrics import roc_auc_score

    t = world.tables
    en = t.enrolments
    a = t.attendance
    present = a["status"].isin(["present", "late"]).to_numpy()
    rate = pd.Series(present).groupby(a["pupil_id"].cat.codes.to_numpy()).mean()
    status = a["status"].value_counts(normalize=True)
    print(f"attendance: mean rate {rate.mean():.4f} (target 0.93-0.95), "
          f"pupils < 80 % {(rate < 0.8).mean():.3%}, < 90 % {(rate < 0.9).mean():.3%}; "
          + ", ".join(f"{k} {v:.2%}" for k, v in status.items()))
    values = t.grades["grade"].astype(str)
    num = pd.to_numeric(values, errors="coerce")
    print(f"grades: numeric mean {num.mean():.2f}, below 4 {(num < 4).mean():.2%}, "
          f"nv {(values == 'nv').mean():.2%}; levels "
          + ", ".join(f"{k} {v:.1%}" for k, v in values[values.isin(list('STAP'))]
                      .value_counts(normalize=True).items()))
    fin = en["end_reason"].isin(["completed_certificate", "completed_liecība"])
    print(f"grade 9: liecība share {(en.loc[fin, 'end_reason'] == 'completed_liecība').mean():.2%}")
    band = pd.cut(en["grade"], [0, 6, 9, 12], labels=["1-6", "7-9", "10-12"])
    left = en["end_reason"].isin(["left", "expelled", "other"])
    n_band = en.groupby(band, observed=True)["pupil_id"].nunique()
    print("early leaving per year: " + ", ".join(
        f"grades {b} {left.groupby(band, observed=True).sum()[b] / n_band[b]:.2%}"
        for b in n_band.index) + " (target 7-12: 2-5 %)")
    print("end reasons: " + ", ".join(f"{k} {v:,}" for k, v in en["end_reason"].value_counts().items()))
    p = t.pupils
    print(f"pupils: male {(p['sex'] == 'M').mean():.1%}, home language "
          + ", ".join(f"{k} {v:.1%}" for k, v in p["home_language"].value_counts(normalize=True).items())
          + f", migrant {p['migrant_background'].mean():.1%}, special needs {p['special_needs'].mean():.1%}")
    size = en[en["school_year"] == en["school_year"].min()].groupby("school_id", observed=True)[
        "pupil_id"].nunique()
    print(f"schools: {len(t.schools)} in {t.schools['municipality_id'].nunique()} municipalities, "
          f"pupils per school min {size.min()}, median {size.median():.0f}, max {size.max()}")
    tr = world.truth
    d = world.as_of_dates[0]
    sub = tr[tr["as_of"] == d]
    horizon = (en["end_date"] >= d) & (en["end_date"] < d + pd.Timedelta(days=365))
    leavers = set(en.loc[horizon & left, "pupil_id"].astype(str))
    y = sub["pupil_id"].astype(str).isin(leavers).to_numpy()
    liec = int((horizon & (en["end_reason"] == "completed_liecība")).sum())
    print(f"truth at {d.date()}: {len(sub):,} pupils, expected early leavers "
          f"{sub['p_leave'].sum():,.0f} vs observed {y.sum():,} left/expelled/other + up to "
          f"{liec:,} liecība; oracle ROC AUC {roc_auc_score(y, sub['p_leave']):.3f}")
    top = tr[tr["p_leave"] >= tr["p_leave"].quantile(0.9)]
    print("driver domain, top 10 % of p_leave: " + ", ".join(
        f"{k} {v:.1%}" for k, v in top["driver_domain"].value_counts(normalize=True).items()))


def _support(world) -> None:
    s, en, tr = world.tables.support, world.tables.enrolments, world.truth
    year = s["start_date"].dt.year - (s["start_date"].dt.month < 9).astype(int)
    share = {y: s.loc[year == y, "pupil_id"].nunique()
             / en.loc[en["school_year"] == y, "pupil_id"].nunique() for y in sorted(set(year))}
    print("support: pupils supported per school year "
          + ", ".join(f"{y}/{(y + 1) % 100:02d} {v:.1%}" for y, v in share.items())
          + " (target about 10 %); kinds " + ", ".join(
              f"{k} {v:.1%}" for k, v in s["kind"].value_counts(normalize=True).items() if v > 0))
    days = (s["end_date"] - s["start_date"]).dt.days
    print("support: mean duration " + ", ".join(
        f"{k} {v:.0f} days" for k, v in days.groupby(s["kind"], observed=True).mean().items())
        + "; places " + ", ".join(
            f"{k} {v:,}" for k, v in world.resources.groupby("kind")["capacity"].sum().items()))
    eff = [c for c in tr.columns if c.startswith("effect_")]
    print("truth effects (mean reduction of p_leave, eligible pupil-dates): " + ", ".join(
        f"{c[7:]} {tr[c].mean():.5f} (n {tr[c].notna().sum():,})" for c in eff)
        + f"; mean p_leave {tr['p_leave'].mean():.4f}")
    print("mentor effect by driver domain: " + ", ".join(
        f"{k} {v:.5f}" for k, v in tr.groupby("driver_domain", observed=True)["effect_mentor"]
        .mean().items()))


def main(scale: str = "national") -> None:
    import riskmodel as rm

    kw = SCALES[scale]
    rm.datasets.make_school_system(n_pupils=500, n_years=1, random_state=1)  # warm imports
    base_gb = _peak_rss_gb()
    start = time.perf_counter()
    world = rm.datasets.make_school_system(random_state=0, **kw)
    elapsed = time.perf_counter() - start
    peak = _peak_rss_gb()
    t = world.tables
    size_gb = sum(df.memory_usage(deep=False).sum() for df in t.to_dict().values()) / 2**30
    print(f"make_school_system({kw}): {elapsed:.1f} s (target {TARGET_S:.0f} s at national "
          f"scale, ratio {elapsed / TARGET_S:.2f}); peak RSS {peak:.2f} GB (before {base_gb:.2f} GB; "
          f"target {TARGET_GB:.0f} GB, ratio {peak / TARGET_GB:.2f}); tables {size_gb:.2f} GB")
    start = time.perf_counter()
    rm.SchoolTables(**t.to_dict())
    validate = time.perf_counter() - start
    print(f"baseline: re-validating the tables takes {validate:.1f} s "
          f"({validate / elapsed:.0%} of the generator's time)")
    print("rows: " + ", ".join(f"{k} {len(v):,}" for k, v in t.to_dict().items())
          + f", truth {len(world.truth):,}")
    _marginals(world)
    _support(world)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="20,000 pupils instead of 200,000")
    main("small" if parser.parse_args().small else "national")

"""Benchmark: validating national-scale school tables with ``SchoolTables``.

Target (issue 2): validating the tables of 200,000 pupils — about 34 million
attendance rows, 20 million grade rows and 10 million engagement rows, already in
the normalised dtypes that the synthetic generator produces — in at most 20 s.

The tables are built directly with numpy (independent of the synthetic
generator). Figures printed:

- construction time of ``SchoolTables`` (fast path: normalised dtypes) against the
  20 s target;
- baseline in the same run: a deep copy of the same tables (``DataFrame.copy``),
  i.e. the cost of touching every byte once;
- extra peak memory of validation over the input tables (RSS), against the size of
  the input tables (a needless full copy would show up as ~1x);
- the slow path: the same kind of tables given as strings (as from CSV) on a
  smaller slice, in rows per second;
- ``fingerprint()`` time.

Run ``python benchmarks/bench_schema.py`` (national) or ``--small``.
"""

from __future__ import annotations

import argparse
import gc
import os
import time

import numpy as np
import pandas as pd

TARGET_S = 20.0
SCALES = {
    "national": dict(n_pupils=200_000, attendance=34_000_000, grades=20_000_000,
                     engagement=10_000_000, string_rows=2_000_000),
    "small": dict(n_pupils=20_000, attendance=3_400_000, grades=2_000_000,
                  engagement=1_000_000, string_rows=300_000),
}


def _rss_mb() -> float:
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss / 2**20


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def build_tables(n_pupils, attendance, grades, engagement, random_state=0) -> dict[str, pd.DataFrame]:
    """National-sized tables in normalised dtypes, built with numpy."""
    from riskmodel import vocab

    rng = np.random.default_rng(random_state)
    ids = pd.Index([f"P{i:07d}" for i in range(n_pupils)], dtype="str")
    pdt = pd.CategoricalDtype(ids)
    birth = (np.datetime64("2007-01-01") + rng.integers(0, 12 * 365, n_pupils)
             ).astype("datetime64[ns]")
    pupils = pd.DataFrame({
        "pupil_id": pd.array(ids, dtype="str"),
        "birth_date": birth,
        "sex": pd.Categorical.from_codes(rng.integers(0, 2, n_pupils).astype(np.int8),
                                         dtype=pd.CategoricalDtype(list(vocab.SEXES))),
        "migrant_background": rng.random(n_pupils) < 0.05,
        "special_needs": rng.random(n_pupils) < 0.08,
    })
    n_schools = 600
    school = rng.integers(0, n_schools, n_pupils)
    schools_cat = pd.Index([f"S{i:04d}" for i in range(n_schools)], dtype="str")
    munis = pd.Index([f"M{i:02d}" for i in range(43)], dtype="str")
    muni_of_school = rng.integers(0, 43, n_schools)
    enrolments = pd.DataFrame({
        "pupil_id": pd.Categorical.from_codes(np.arange(n_pupils, dtype=np.int32), dtype=pdt),
        "school_id": pd.Categorical.from_codes(school.astype(np.int16),
                                               dtype=pd.CategoricalDtype(schools_cat)),
        "municipality_id": pd.Categorical.from_codes(
            muni_of_school[school].astype(np.int8), dtype=pd.CategoricalDtype(munis)),
        "school_year": np.full(n_pupils, 2025, np.int16),
        "grade": rng.integers(1, 13, n_pupils).astype(np.int8),
        "start_date": np.full(n_pupils, np.datetime64("2025-09-01", "ns")),
        "end_date": np.full(n_pupils, np.datetime64("NaT", "ns")),
        "end_reason": pd.Categorical.from_codes(np.full(n_pupils, -1, np.int8),
                                                dtype=pd.CategoricalDtype(list(vocab.END_REASONS))),
    })
    days = (np.datetime64("2025-09-01") + np.arange(0, 270)).astype("datetime64[ns]")

    def events(n, col, values, p=None):
        codes = rng.choice(len(values), size=n, p=p).astype(np.int8)
        return {
            "pupil_id": pd.Categorical.from_codes(
                rng.integers(0, n_pupils, n).astype(np.int32), dtype=pdt),
            "date": days[rng.integers(0, len(days), n)],
            col: pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(list(values))),
        }

    att = events(attendance, "status", vocab.ATTENDANCE_STATUSES, p=[0.93, 0.02, 0.035, 0.015])
    # one row per pupil and day (the contract: a (pupil, date, status) twice is a conflict
    # or a duplicate), in random order (the duplicate check's slow case)
    cell = rng.permutation(n_pupils * len(days))[:attendance]
    att["pupil_id"] = pd.Categorical.from_codes((cell // len(days)).astype(np.int32), dtype=pdt)
    att["date"] = days[cell % len(days)]
    att["lessons"] = rng.integers(1, 9, attendance).astype(np.int16)
    subjects = pd.Index(sorted(["arts", "biology", "chemistry", "english", "history", "latvian",
                                "mathematics", "physics", "russian", "science", "sports"]),
                        dtype="str")
    gr = events(grades, "grade", vocab.GRADE_VALUES)
    gr["subject"] = pd.Categorical.from_codes(
        rng.integers(0, len(subjects), grades).astype(np.int8), dtype=pd.CategoricalDtype(subjects))
    gr["kind"] = pd.Categorical.from_codes(rng.integers(0, 5, grades).astype(np.int8),
                                           dtype=pd.CategoricalDtype(list(vocab.GRADE_KINDS)))
    gr = {k: gr[k] for k in ("pupil_id", "date", "subject", "grade", "kind")}
    eng = events(engagement, "event", vocab.ENGAGEMENT_EVENTS)
    return {
        "pupils": pupils,
        "enrolments": enrolments,
        "attendance": pd.DataFrame(att, copy=False),
        "grades": pd.DataFrame(gr, copy=False),
        "engagement": pd.DataFrame(eng, copy=False),
    }


def _nbytes(tables) -> float:
    return sum(int(df.memory_usage(index=False, deep=False).sum()) for df in tables.values()) / 2**20


def main(scale: str = "national") -> dict:
    import riskmodel as rm

    cfg = SCALES[scale]
    t0 = time.perf_counter()
    raw = build_tables(cfg["n_pupils"], cfg["attendance"], cfg["grades"], cfg["engagement"])
    build_s = time.perf_counter() - t0
    gc.collect()
    in_mb = _nbytes(raw)
    rss0 = _rss_mb()
    peak0 = _peak_rss_mb()
    print(f"riskmodel SchoolTables benchmark ({scale}): {cfg['n_pupils']:,} pupils, "
          f"{cfg['attendance']:,} attendance, {cfg['grades']:,} grades, "
          f"{cfg['engagement']:,} engagement rows; input {in_mb:,.0f} MB "
          f"(built in {build_s:.1f} s)")

    t0, c0 = time.perf_counter(), time.process_time()
    tables = rm.SchoolTables(**raw)
    validate_s, validate_cpu = time.perf_counter() - t0, time.process_time() - c0
    rss1 = _rss_mb()
    peak1 = _peak_rss_mb()
    out_mb = _nbytes(tables.to_dict())
    print(f"SchoolTables(...) validation, normalised input: {validate_s:6.2f} s wall "
          f"({validate_cpu:.2f} s CPU)   target {TARGET_S:.0f} s   "
          f"ratio {validate_s / TARGET_S:.2f} of target")
    print(f"  memory: input {in_mb:,.0f} MB; RSS after {rss1 - rss0:+,.0f} MB; "
          f"peak RSS {peak1:,.0f} MB (before: {peak0:,.0f} MB, extra peak "
          f"{max(peak1 - peak0, 0):,.0f} MB = {max(peak1 - peak0, 0) / in_mb:.2f}x input); "
          f"output tables {out_mb:,.0f} MB")
    shared = sum(
        np.shares_memory(np.asarray(raw[n]["date"].to_numpy()), tables[n]["date"].to_numpy())
        for n in ("attendance", "grades", "engagement"))
    print(f"  event date columns shared with the input (not copied): {shared}/3")
    del tables
    gc.collect()

    t0 = time.perf_counter()
    copies = {k: v.copy(deep=True) for k, v in raw.items()}
    copy_s = time.perf_counter() - t0
    del copies
    gc.collect()
    print(f"baseline: deep copy of the same tables: {copy_s:6.2f} s   "
          f"(validation = {validate_s / copy_s:.1f}x a deep copy)")

    try:  # the duplicate check alone (riskmodel >= issue 15), random and sorted row order
        from riskmodel._duplicates import attendance_duplicates
        from riskmodel._validation import Problems

        tables = rm.SchoolTables(**raw)
        att = tables.attendance
        t0 = time.perf_counter()
        attendance_duplicates(att, Problems())
        dup_s = time.perf_counter() - t0
        att_sorted = att.sort_values(["date", "pupil_id"], ignore_index=True)
        t0 = time.perf_counter()
        attendance_duplicates(att_sorted, Problems())
        dup_sorted_s = time.perf_counter() - t0
        del att_sorted, att, tables
        print(f"  of which the attendance duplicate check: {dup_s:6.2f} s (rows in random "
              f"order), {dup_sorted_s:6.2f} s (rows sorted by date and pupil)")
    except ImportError:
        print("  (no attendance duplicate check in this riskmodel)")
    gc.collect()

    tables = rm.SchoolTables(**raw)
    t0, c0 = time.perf_counter(), time.process_time()
    fp = tables.fingerprint()
    fp_s, fp_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"fingerprint(): {fp_s:6.2f} s wall ({fp_cpu:.2f} s CPU) ({fp[:12]}...)")
    t0, c0 = time.perf_counter(), time.process_time()
    past = tables.as_known_at("2026-01-01")
    cut_s, cut_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"as_known_at('2026-01-01'): {cut_s:6.2f} s wall ({cut_cpu:.2f} s CPU), keeps "
          f"{len(past.attendance):,} of {len(tables.attendance):,} attendance rows")
    del past
    del tables
    gc.collect()

    # slow path: string columns as read from CSV, on a slice of attendance
    n = cfg["string_rows"]
    att = raw["attendance"].iloc[:n]
    s_att = pd.DataFrame({
        "pupil_id": att["pupil_id"].astype("str"),
        "date": att["date"].dt.strftime("%Y-%m-%d"),
        "status": att["status"].astype("str"),
        "lessons": att["lessons"].astype("int64"),
    })
    s_pupils = raw["pupils"].assign(birth_date=raw["pupils"]["birth_date"].dt.strftime("%Y-%m-%d"))
    t0, c0 = time.perf_counter(), time.process_time()
    rm.SchoolTables(s_pupils, raw["enrolments"], s_att)
    str_s, str_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"slow path: {n:,} attendance rows given as strings (as read from CSV): "
          f"{str_s:6.2f} s wall ({str_cpu:.2f} s CPU; {n / str_cpu / 1e6:.1f} M rows per CPU-s; "
          f"34 M rows would take ~{34e6 / (n / str_cpu):.0f} CPU-s)")
    return {"validate_s": validate_s, "validate_cpu_s": validate_cpu, "copy_s": copy_s, "fingerprint_s": fp_s,
            "string_rows_per_s": n / str_s, "peak_rss_mb": peak1, "input_mb": in_mb}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="a tenth of national scale")
    args = ap.parse_args()
    main("small" if args.small else "national")

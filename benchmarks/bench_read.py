"""Benchmark: reading real exports — Excel-Latvian CSV against the UTF-8 ISO CSV we write.

Target (issue 15): reading the national synthetic system (200,000 pupils) from
CSV saved the way Excel saves it on a Latvian Windows machine — ``;`` separator,
decimal comma, ``dd.mm.yyyy`` dates, Windows-1257 — with
``read_tables(validate=True)`` takes at most 2.0x the time of reading the same
tables from the UTF-8, comma-separated, ISO-dated CSV that
``write_tables(format="csv")`` writes (the baseline, measured in the same run).

Figures printed, for both folders:

- the raw file read (``read_table_file`` on every file: dialect detection,
  decoding, all cells as strings; no validation);
- ``read_tables(validate=True)`` (raw read + parsing and checking every column);
- the ratio latvian / iso of each, against the 2.0 target.

The tables read back must equal the generated ones (checked by fingerprint), so
the timing is of a correct read. Run ``python benchmarks/bench_read.py``
(national) or ``--small`` (20,000 pupils).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 2.0
SCALES = {"national": dict(n_pupils=200_000, n_years=2), "small": dict(n_pupils=20_000, n_years=2)}


def write_latvian(tables, folder: Path) -> None:
    """The tables as Excel on a Latvian machine saves CSV: ';', ',', dd.mm.yyyy, cp1257."""
    folder.mkdir(parents=True)
    for name in tables.names:
        getattr(tables, name).to_csv(folder / f"{name}.csv", sep=";", decimal=",",
                                     date_format="%d.%m.%Y", encoding="cp1257", index=False)


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.iterdir()) / 2**20


def time_raw(folder: Path, encoding) -> float:
    from riskmodel._read_files import read_table_file

    start = time.perf_counter()
    for p in sorted(folder.iterdir()):
        read_table_file(p, p.stem, encoding=encoding)
    return time.perf_counter() - start


def time_validated(folder: Path, encoding, want: str) -> float:
    import riskmodel as rm

    start = time.perf_counter()
    tables = rm.read_tables(folder, encoding=encoding, validate=True)
    elapsed = time.perf_counter() - start
    if tables.fingerprint() != want:
        raise SystemExit(f"{folder.name}: the tables read back differ from those written")
    return elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="20,000 pupils")
    parser.add_argument("--repeat", type=int, default=None,
                        help="timed repetitions, best taken (default: 1 national, 2 small)")
    args = parser.parse_args(argv)
    import riskmodel as rm

    scale = SCALES["small" if args.small else "national"]
    repeat = args.repeat or (2 if args.small else 1)
    start = time.perf_counter()
    world = rm.datasets.make_school_system(**scale, random_state=0)
    tables = world.tables
    want = tables.fingerprint()
    rows = {n: len(getattr(tables, n)) for n in tables.names}
    print(f"system: {scale['n_pupils']:,} pupils, {scale['n_years']} years, "
          f"{sum(rows.values()):,} rows ({', '.join(f'{n} {r:,}' for n, r in rows.items())}); "
          f"generated in {time.perf_counter() - start:.1f} s")
    tmp = Path(tempfile.mkdtemp(prefix="bench_read_"))
    try:
        start = time.perf_counter()
        iso = rm.write_tables(tables, tmp / "iso", format="csv")
        t_iso_write = time.perf_counter() - start
        start = time.perf_counter()
        lv = tmp / "latvian"
        write_latvian(tables, lv)
        t_lv_write = time.perf_counter() - start
        print(f"written: iso {_size_mb(iso):.0f} MB in {t_iso_write:.1f} s, "
              f"latvian {_size_mb(lv):.0f} MB in {t_lv_write:.1f} s")
        del world
        res = {}
        for label, folder, enc in (("iso", iso, None), ("latvian", lv, "cp1257")):
            raw = min(time_raw(folder, enc) for _ in range(repeat))
            val = min(time_validated(folder, enc, want) for _ in range(repeat))
            res[label] = (raw, val)
            print(f"{label:8s} raw read {raw:7.2f} s   read_tables(validate=True) {val:7.2f} s",
                  flush=True)
        r_raw = res["latvian"][0] / res["iso"][0]
        r_val = res["latvian"][1] / res["iso"][1]
        ok = r_val <= TARGET_RATIO
        print(f"ratio latvian/iso: raw read {r_raw:.2f}x, read_tables(validate=True) "
              f"{r_val:.2f}x (target <= {TARGET_RATIO:.1f}x) -> {'OK' if ok else 'MISSED'}")
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())

"""Scale-out on Spark (issue 20): larger than memory, and the overhead at national scale.

1. Larger than memory: a synthetic system of ``--pupils`` pupils (default 1,000,000)
   x 2 school years, generated in chunks of ``--chunk`` pupils (independent systems
   with their own pupil and school ids, sharing the municipalities) written straight
   to Parquet dataset folders (one file per chunk); ``riskmodel score --engine spark --no-allocate``
   (features and scoring) on ``local[2]`` with the driver's JVM capped so that JVM
   plus Python workers stay within ``--memory-gb`` (default 8). Prints the time and
   the peak memory (RSS of the whole process tree, sampled every 0.2 s).
2. Single machine: ``riskmodel score --no-allocate`` (engine local) at
   ``--national`` pupils (default 200,000): time and peak memory, and both
   extrapolated linearly to ``--pupils``.
3. Overhead: ``--engine spark`` on the same ``--national`` data as a ratio to the
   local run (aim: at most 3x).

Every run is a separate process (``--child``), so each peak is its own.
``--part national`` or ``--part large`` runs one half (shorter holds of the lock);
``--large DIR`` uses the system written by ``--generate DIR`` (its size is read
from ``DIR/GENERATED``).

Run (heavy: under the shared lock)::

    flock /work/notes/heavy.lock python benchmarks/bench_spark.py
    flock /work/notes/heavy.lock python benchmarks/bench_spark.py --pupils 200000 --national 50000
    flock /work/notes/heavy.lock python benchmarks/bench_spark.py --generate /data/spark1m
    flock /work/notes/heavy.lock python benchmarks/bench_spark.py --part large --large /data/spark1m
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

AS_OF = "2023-03-01"


def _tree_rss(proc: psutil.Process) -> tuple[int, int, int]:
    """RSS of the whole process tree, of its JVM, and of its largest Python worker."""
    total = jvm = worker = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            rss = p.memory_info().rss
            name = p.name()
        except psutil.Error:
            continue
        total += rss
        if p.pid == proc.pid:
            continue
        if "java" in name:
            jvm += rss
        elif "python" in name:
            worker = max(worker, rss)
    return total, jvm, worker


def run_measured(cmd: list[str], env=None) -> dict:
    """Run ``cmd``; its JSON result plus wall time and the peak RSS of its process tree
    (and the peaks of its JVM and of its largest Python worker)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    ps = psutil.Process(proc.pid)
    peak = [0, 0, 0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            try:
                peak[:] = [max(a, b) for a, b in zip(peak, _tree_rss(ps))]
            except psutil.Error:
                pass
            done.wait(0.2)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, err = proc.communicate()
    done.set()
    t.join()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(err[-4000:])
        raise SystemExit(f"{cmd[2:5]} failed with exit code {proc.returncode}")
    result = json.loads(out.strip().splitlines()[-1])
    stages = dict(re.findall(r"INFO riskmodel\._run_io: (\w+): ([\d.]+) s", err))
    return {**result, "stages": {k: float(v) for k, v in stages.items()}, "wall_s": wall,
            "peak_gb": peak[0] / 1e9, "jvm_gb": peak[1] / 1e9, "worker_gb": peak[2] / 1e9}


# ----------------------------------------------------------------------------- data
def _arrow_plain(df, prefix: str | None):
    """A generated table as Arrow with the data contract's plain types (codes and ids
    dictionary-encoded strings, dates date32, small ints int64); ``pupil_id`` and
    ``school_id`` prefixed with ``prefix`` (the chunk's own ids)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = pa.Table.from_pandas(df, preserve_index=False)
    cols = []
    for name, col in zip(table.column_names, table.columns):
        col = col.combine_chunks()
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.date32())
        elif pa.types.is_integer(col.type):
            col = col.cast(pa.int64())
        elif pa.types.is_dictionary(col.type):
            col = col.cast(pa.dictionary(pa.int32(), pa.string()))
        elif pa.types.is_large_string(col.type) or pa.types.is_string(col.type):
            col = col.cast(pa.string())
        if prefix and name in ("pupil_id", "school_id"):
            if pa.types.is_dictionary(col.type):  # prefix the dictionary only: cheap
                col = pa.DictionaryArray.from_arrays(
                    col.indices, pc.binary_join_element_wise(prefix, col.dictionary, ""))
            else:
                col = pc.binary_join_element_wise(prefix, col, "")
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def write_chunks(folder: Path, n_pupils: int, chunk: int, seed: int = 0) -> None:
    """``n_pupils`` pupils as one system generated in chunks, each table a Parquet
    dataset folder with one file per chunk.

    Each chunk is ``make_school_system(n_pupils=chunk)`` with its own seed and its
    own schools and pupils (ids prefixed ``c<i>-``); the chunks share the generator's
    municipalities (Latvia's), so a municipality holds the schools of every chunk and
    its leaving rates and the national ranks are the whole system's. Only one chunk
    is in memory at a time. The ``support`` table is left out (the runs do not
    allocate).
    """
    import riskmodel as rm

    import pyarrow.parquet as pq

    n_chunks = max(1, -(-n_pupils // chunk))
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_chunks):
        size = min(chunk, n_pupils - i * chunk)
        world = rm.datasets.make_school_system(n_pupils=size, n_years=2, random_state=seed + i)
        for name in world.tables.names:
            if name == "support":
                continue
            table = _arrow_plain(getattr(world.tables, name), f"c{i}-" if n_chunks > 1 else None)
            target = folder / f"{name}.parquet"
            if n_chunks == 1:  # one file per table: what the local engine reads too
                pq.write_table(table, target)
                continue
            target.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, target / f"part-{i:04d}.parquet")
        del world
        print(f"  chunk {i + 1}/{n_chunks} written", file=sys.stderr, flush=True)


def register_model(root: Path) -> str:
    """A small RiskModel registered as the riskmodel pyfunc; its tracking URI."""
    import mlflow

    import riskmodel as rm
    from riskmodel import pyfunc
    from riskmodel.tracking import configure

    world = rm.datasets.make_school_system(n_pupils=5_000, n_years=2, random_state=99)
    X = rm.build_features(world.tables, "2023-01-09")
    y = rm.make_labels(world.tables, "2023-01-09", horizon_days=365).reindex(X.index).fillna(0)
    model = rm.RiskModel(n_estimators=200, random_state=0).fit(X, y)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    configure(uri)
    mlflow.set_experiment("bench-spark")
    with mlflow.start_run():
        pyfunc.log_model(model, registered_model_name="rm-bench")
    return uri


# ----------------------------------------------------------------------------- child
def child(engine: str, data: str, out: str, memory_gb: float) -> None:
    import warnings

    warnings.simplefilter("ignore")
    from riskmodel.cli import main

    argv = ["score", "--data", data, "--model", "models:/rm-bench/1", "--as-of", AS_OF,
            "--no-allocate", "--monitor", "off", "--out", out, "-v"]  # -v: stage times
    if engine == "spark":
        from riskmodel import spark as rs

        # local mode: one JVM (driver = executor) plus one Python worker per core;
        # the JVM gets 55 % of the budget, the workers and the driver's Python the rest
        jvm = max(1, int(memory_gb * 0.55))
        rs.session("local[2]", driver_memory=f"{jvm}g",
                   conf={"spark.sql.shuffle.partitions": "8"}).sparkContext.setLogLevel("ERROR")
        argv += ["--engine", "spark", "--spark-master", "local[2]"]
    start = time.perf_counter()
    code = main(argv)
    elapsed = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"riskmodel score ({engine}) exited with {code}")
    manifest = json.loads((Path(out) / "manifest.json").read_text())
    print(json.dumps({"code": code, "run_s": elapsed, "n": manifest["n_pupils"]}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pupils", type=int, default=1_000_000)
    ap.add_argument("--national", type=int, default=200_000)
    ap.add_argument("--chunk", type=int, default=100_000)
    ap.add_argument("--memory-gb", type=float, default=8.0)
    ap.add_argument("--small", action="store_true",
                    help="quick run: 100,000 pupils in chunks of 50,000; national 20,000")
    ap.add_argument("--generate", metavar="DIR",
                    help="only generate the larger-than-memory system into DIR and stop")
    ap.add_argument("--large", metavar="DIR",
                    help="use the system generated by --generate in DIR (else: generate it)")
    ap.add_argument("--part", choices=["all", "national", "large"], default="all",
                    help="national: the local and Spark runs at --national pupils and their "
                         "ratio; large: the Spark run on the large system; all: both")
    ap.add_argument("--child", nargs=4, metavar=("ENGINE", "DATA", "OUT", "MEM"))
    args = ap.parse_args()
    if args.small:
        args.pupils, args.national, args.chunk = 100_000, 20_000, 50_000
    if args.child:
        engine, data, out, mem = args.child
        child(engine, data, out, float(mem))
        return
    if args.generate:
        t0 = time.perf_counter()
        write_chunks(Path(args.generate), args.pupils, chunk=args.chunk, seed=10)
        (Path(args.generate) / "GENERATED").write_text(f"{args.pupils} {args.chunk}\n")
        print(f"{args.pupils:,} pupils x 2 years generated in chunks of {args.chunk:,} in "
              f"{time.perf_counter() - t0:.0f} s into {args.generate}")
        return
    if args.large and not (Path(args.large) / "GENERATED").is_file():
        raise SystemExit(f"--large {args.large}: no system generated there (run --generate)")
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "MLFLOW_TRACKING_URI": register_model(tmp)}
        large_dir = Path(args.large) if args.large else tmp / "large"
        if args.large:
            args.pupils = int((large_dir / "GENERATED").read_text().split()[0])
        t0 = time.perf_counter()
        if args.part in ("all", "national"):
            write_chunks(tmp / "national", args.national, chunk=args.national, seed=0)
        if args.part in ("all", "large") and not args.large:
            write_chunks(large_dir, args.pupils, chunk=args.chunk, seed=10)
        print(f"data generated in {time.perf_counter() - t0:.0f} s "
              f"(national {args.national:,}; large {args.pupils:,} "
              f"{'from ' + str(large_dir) if args.large else f'in chunks of {args.chunk:,}'})",
              flush=True)

        def go(engine, data, name):
            cmd = [sys.executable, __file__, "--child", engine, str(data),
                   str(tmp / name), str(args.memory_gb)]
            res = run_measured(cmd, env=env)
            print(f"  {engine} on {Path(data).name}: {res['n']:,} pupils, {res['wall_s']:.0f} s "
                  f"(run {res['run_s']:.0f} s), peak {res['peak_gb']:.2f} GB"
                  + (f" (JVM {res['jvm_gb']:.2f} GB, largest Python worker "
                     f"{res['worker_gb']:.2f} GB)" if engine == "spark" else ""), flush=True)
            print("    stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in res["stages"].items()),
                  flush=True)
            return res

        if args.part in ("all", "national"):
            local = go("local", tmp / "national", "out-local")
            spark_nat = go("spark", tmp / "national", "out-spark-nat")
        if args.part in ("all", "large"):
            large = go("spark", large_dir, "out-spark-large")

    if args.part in ("all", "large"):
        print(f"\nLarger than memory: --engine spark, {large['n']:,} pupils scored "
              f"({args.pupils:,} generated x 2 years), local[2], memory cap {args.memory_gb:g} GB")
        print(f"  time {large['wall_s']:.0f} s (run {large['run_s']:.0f} s), "
              f"peak memory {large['peak_gb']:.2f} GB")
    if args.part in ("all", "national"):
        f = args.pupils / args.national
        print(f"Single machine (engine local) at {args.national:,} pupils ({local['n']:,} scored):")
        print(f"  time {local['wall_s']:.0f} s, peak memory {local['peak_gb']:.2f} GB; "
              f"extrapolated x{f:g} to {args.pupils:,}: {local['wall_s'] * f:.0f} s, "
              f"{local['peak_gb'] * f:.1f} GB")
        print(f"Overhead at {args.national:,} pupils: spark {spark_nat['wall_s']:.0f} s "
              f"(peak {spark_nat['peak_gb']:.2f} GB) vs local {local['wall_s']:.0f} s: "
              f"ratio {spark_nat['wall_s'] / local['wall_s']:.2f}x (aim <= 3x)")

if __name__ == "__main__":
    main()

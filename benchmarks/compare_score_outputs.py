"""Compare two ``score`` output folders: the same files, the same content.

Used to check that a faster scoring run writes what the previous code wrote
(issue 21): run ``riskmodel score`` (or ``score_run``) with the old and the new
code on the same data, model and as_of, then::

    python benchmarks/compare_score_outputs.py OLD_OUT NEW_OUT

Per file it prints ``same bytes``, or for Parquet files whose bytes differ
whether the tables are equal (values and Arrow schema) and, if not, which
columns differ and how (dtype or values). ``manifest.json`` is compared without
the sha256 of the files (they follow from the files themselves). Exit status 0
when every file is the same in content, 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _compare_parquet(a: Path, b: Path) -> list[str]:
    import pyarrow.parquet as pq

    ta, tb = pq.read_table(a), pq.read_table(b)
    if ta.equals(tb, check_metadata=False):
        return []
    out = []
    if ta.column_names != tb.column_names:
        out.append(f"columns {ta.column_names} != {tb.column_names}")
    for name in ta.column_names:
        if name not in tb.column_names:
            continue
        ca, cb = ta[name], tb[name]
        if ca.type != cb.type:
            out.append(f"{name}: type {ca.type} -> {cb.type}"
                       + ("" if ca.to_pylist() == cb.to_pylist() else " AND values differ"))
        elif not ca.equals(cb):
            out.append(f"{name}: values differ")
    return out or ["schema metadata differs"]


def compare(old: Path, new: Path) -> bool:
    names = sorted({p.name for p in old.iterdir()} | {p.name for p in new.iterdir()})
    ok = True
    for name in names:
        a, b = old / name, new / name
        if not a.exists() or not b.exists():
            print(f"{name}: only in {'new' if b.exists() else 'old'}")
            ok = False
            continue
        if _sha(a) == _sha(b):
            print(f"{name}: same bytes")
            continue
        if name.endswith(".parquet"):
            diffs = _compare_parquet(a, b)
            print(f"{name}: bytes differ; " + ("tables equal" if not diffs else "; ".join(diffs)))
            ok = ok and not diffs
        elif name == "manifest.json":
            ma, mb = (json.loads(p.read_text(encoding="utf-8")) for p in (a, b))
            ma.pop("files_sha256", None)
            mb.pop("files_sha256", None)
            same = ma == mb
            print(f"manifest.json: {'same apart from the files sha256' if same else 'differs'}")
            if not same:
                print("  keys differing:", sorted(k for k in set(ma) | set(mb)
                                                  if ma.get(k) != mb.get(k)))
            ok = ok and same
        else:
            print(f"{name}: differs")
            ok = False
    return ok


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args()
    sys.exit(0 if compare(args.old, args.new) else 1)

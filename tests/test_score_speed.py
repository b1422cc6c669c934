"""The faster scoring paths of issue 21 give what the earlier code gave."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import riskmodel as rm
from riskmodel._parallel_write import ParallelWrites
from riskmodel._school_tables import _date_range, _n_distinct_codes
from riskmodel.explain._reasons import reason_sentences
from riskmodel.features import registry


@pytest.fixture(scope="module")
def explanation():
    world = rm.datasets.make_school_system(n_pupils=1000, n_years=2, random_state=0)
    X = rm.build_features(world.tables, "2023-03-01")
    y = rm.make_labels(world.tables, "2023-03-01", horizon_days=365).reindex(X.index).fillna(0)
    model = rm.RiskModel(n_estimators=20, random_state=0).fit(X, y)
    return model.explain(X)


def _pivot_reference(ex, n_reasons):
    """The score run's reason columns as built before issue 21 (reasons() + pivot)."""
    parts, first = [], None
    for lang in ("lv", "en"):
        r = ex.reasons(n_reasons=n_reasons, lang=lang)
        if first is None:
            top = r[r["rank"] == 1]
            first = pd.Series(top["feature"].to_numpy(), index=pd.Index(
                top["pupil_id"].to_numpy(), name="pupil_id"), name="first_reason")
        wide = r.pivot(index="pupil_id", columns="rank", values="text")
        wide = wide.reindex(columns=range(1, n_reasons + 1))
        wide.columns = [f"reason_{i}_{lang}" for i in wide.columns]
        parts.append(wide)
    out = pd.concat(parts, axis=1)
    cols = [f"reason_{i}_{lang}" for lang in ("lv", "en") for i in range(1, n_reasons + 1)]
    return out[cols].astype("str").where(out[cols].notna(), None), first


@pytest.mark.parametrize("n_reasons", [1, 3])
def test_reasons_wide_equals_the_pivot_of_reasons(explanation, n_reasons):
    ref, ref_first = _pivot_reference(explanation, n_reasons)
    wide, first = explanation._reasons_wide(n_reasons)
    idx = explanation.values.index
    pd.testing.assert_frame_equal(wide, ref.reindex(idx))
    pd.testing.assert_series_equal(first, ref_first)
    assert wide.notna().to_numpy().sum() > len(idx)  # real sentences, not all missing


def test_sentences_of_distinct_values_equal_one_by_one():
    # 0.0 and -0.0 format differently ("0" / "-0"), NaN reads "no data"
    vals = np.array([0.0, -0.0, 2.5, np.nan, 2.5, 0.0, 14.0, -0.0])
    data = pd.DataFrame({"mine": vals, "unexcused_lessons_28d": vals * 2,
                         "grade_trend_ytd": vals / 10, "attendance_trend_28d": -vals / 100})
    rows = np.repeat(np.arange(len(vals)), 4)
    cols = np.tile(np.arange(4), len(vals))
    contrib = np.where(np.arange(len(rows)) % 2 == 0, 0.4, -0.3)
    for lang in ("lv", "en"):
        _, batch = reason_sentences(data, rows, cols, contrib, lang, registry())
        single = [reason_sentences(data, rows[i:i + 1], cols[i:i + 1], contrib[i:i + 1],
                                   lang, registry())[1][0] for i in range(len(rows))]
        assert batch.tolist() == single
    assert "mine: -0 — raises risk" in batch.tolist()
    assert "mine: 0 — raises risk" in batch.tolist()
    assert any("than usual" in t for t in batch.tolist())  # the qualifier, vectorised


def test_date_range_ignores_nat():
    d = np.array(["2024-01-05", "NaT", "2023-09-01", "2024-05-31"], dtype="datetime64[ns]")
    lo, hi = _date_range(d)
    assert (pd.Timestamp(lo), pd.Timestamp(hi)) == (pd.Timestamp("2023-09-01"),
                                                   pd.Timestamp("2024-05-31"))
    assert _date_range(np.array(["NaT", "NaT"], dtype="datetime64[ns]")) is None
    assert _date_range(np.array([], dtype="datetime64[ns]")) is None
    assert _n_distinct_codes(np.array([3, -1, 3, 0], dtype=np.int32), 5) == 2
    assert _n_distinct_codes(np.array([1, 1], dtype=np.int8), 4) == 1


def test_parallel_writes_wait_and_raise(tmp_path):
    with ParallelWrites() as writes:
        for i in range(4):
            writes.submit((tmp_path / f"{i}.txt").write_text, str(i))
    assert sorted(p.read_text() for p in tmp_path.iterdir()) == ["0", "1", "2", "3"]
    with pytest.raises(ZeroDivisionError):
        with ParallelWrites() as writes:
            writes.submit(lambda: 1 / 0)


def test_joined_reasons_equals_joining_row_by_row():
    from riskmodel._run_io import joined_reasons

    df = pd.DataFrame({"reason_1_lv": ["a", None, "", "x", None],
                       "reason_2_lv": ["b", "c", "d", None, None],
                       "reason_3_lv": [None, "e", "", "y", None]}).astype("str")
    rows = df.astype(object).where(df.notna(), None).to_numpy()
    ref = pd.Series(["; ".join(v for v in row if v) for row in rows], dtype="str")
    pd.testing.assert_series_equal(joined_reasons(df, 3), ref)
    assert joined_reasons(df, 3).tolist() == ["a; b", "c; e", "d", "x; y", ""]
    # joined in Arrow: the same texts from object, categorical and all-missing columns
    # (Spark's frames), and from an index that is not a range
    for cast in (object, "category"):
        other = df.astype(cast).set_axis(list("vwxyz"))
        other["reason_3_lv"] = None
        got = joined_reasons(other, 3)
        assert got.dtype == ref.dtype and got.index.tolist() == list("vwxyz")
        assert got.tolist() == ["a; b", "c", "d", "x", ""]
    assert joined_reasons(df.iloc[:0], 3).tolist() == []
    assert joined_reasons(df[[]], 3).tolist() == [""] * 5


# ------------------------------------------------------- Parquet reading (issue 21)
def _assert_same_frame(new, old):
    """Equal values, dtypes, category order and code dtypes, index and columns."""
    pd.testing.assert_frame_equal(new, old, check_exact=True, check_categorical=True)
    assert list(new.dtypes.astype(str)) == list(old.dtypes.astype(str))
    for c in old.columns:
        if isinstance(old[c].dtype, pd.CategoricalDtype):
            assert new[c].cat.categories.tolist() == old[c].cat.categories.tolist()
            assert new[c].cat.categories.dtype == old[c].cat.categories.dtype
            assert new[c].array.codes.dtype == old[c].array.codes.dtype
    assert type(new.index) is type(old.index) and new.attrs == old.attrs


def _ids(n, rng, n_ids):
    return np.array([f"P{i:07d}" for i in rng.integers(0, n_ids, n)], dtype=object)


def _read_both(path):
    from riskmodel._read_files import read_table_file

    return read_table_file(path, "t"), pd.read_parquet(path)


def _dictionary_chunks(rng, n_ids, sizes):
    """Arrow dictionary chunks over ids, each with its own dictionary: in a random order,
    a prefix of the one before, an extension of it, the same one again, or with nulls."""
    import pyarrow as pa

    chunks, last = [], None
    for k, size in enumerate(sizes):
        if k % 4 == 1 and last is not None:  # a prefix of the last dictionary
            values = last[: max(1, len(last) // 2)]
        elif k % 4 == 2 and last is not None:  # the last one extended
            values = np.concatenate([last, [f"Q{k}_{i}" for i in range(3)]])
        elif k % 4 == 3 and last is not None:  # the same values again
            values = last
        else:
            values = rng.permutation(np.array([f"P{i:07d}" for i in range(n_ids)]))[
                : max(1, n_ids - k)]
        idx = rng.integers(0, len(values), size).astype(np.int32)
        mask = rng.random(size) < 0.02  # missing ids
        chunks.append(pa.DictionaryArray.from_arrays(
            pa.array(idx, mask=mask), pa.array(values.tolist(), pa.string())))
        last = values
    return chunks


@pytest.mark.parametrize("n_ids", [5, 300, 40_000])  # int8, int16 and int32 codes
def test_parquet_dictionaries_of_row_groups_read_as_pandas_does(tmp_path, n_ids):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(n_ids)
    sizes = [3000] * 9
    n = sum(sizes)
    table = pa.table({
        "pupil_id": pa.chunked_array(_dictionary_chunks(rng, n_ids, sizes)),
        "n": np.arange(n),
        "code": pa.chunked_array(_dictionary_chunks(rng, 3, sizes)),
        "plain": pa.array(rng.choice(["x", "y"], n)),
        "date": pa.array(np.datetime64("2024-01-01", "ns")
                         + rng.integers(0, 300, n).astype("timedelta64[D]"))})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=3000)
    arrow = pq.read_table(path)
    dicts = {tuple(c.dictionary.to_pylist()) for c in arrow.column("pupil_id").chunks}
    assert len(dicts) > 2  # the re-mapping path, not only shared dictionaries
    new, old = _read_both(path)
    _assert_same_frame(new, old)
    assert isinstance(new["pupil_id"].dtype, pd.CategoricalDtype)
    assert new["pupil_id"].isna().sum() == table.column("pupil_id").null_count > 0


def test_parquet_fast_read_edge_cases(tmp_path):
    # one row group (one chunk): the plain conversion
    df = pd.DataFrame({"a": pd.Categorical(["x", "y", "x"]), "b": [1, 2, 3]})
    df.to_parquet(tmp_path / "one.parquet", index=False)
    _assert_same_frame(*_read_both(tmp_path / "one.parquet"))
    # empty table with categorical columns
    df.iloc[:0].to_parquet(tmp_path / "empty.parquet", index=False)
    _assert_same_frame(*_read_both(tmp_path / "empty.parquet"))
    # a stored (non-range) index and attrs: the plain conversion keeps them
    big = pd.DataFrame({"a": pd.Categorical(np.tile(["x", "y", "z"], 3000)),
                        "b": np.arange(9000)}, index=pd.Index(np.arange(9000) * 2, name="k"))
    big.attrs = {"source": "test"}
    big.to_parquet(tmp_path / "indexed.parquet", row_group_size=1000)
    new, old = _read_both(tmp_path / "indexed.parquet")
    _assert_same_frame(new, old)
    assert new.index.name == "k" and new.attrs == {"source": "test"}
    big.reset_index().to_parquet(tmp_path / "attrs.parquet", index=False, row_group_size=1000)
    new, old = _read_both(tmp_path / "attrs.parquet")
    _assert_same_frame(new, old)
    assert new.attrs == {"source": "test"}
    # an ordered categorical and integer categories: the plain conversion
    odd = pd.DataFrame({"o": pd.Categorical(np.tile(["lo", "hi"], 5000), ["lo", "hi"],
                                            ordered=True),
                        "i": pd.Categorical(np.tile([3, 1, 2], 3334)[:10000])})
    odd.to_parquet(tmp_path / "odd.parquet", index=False, row_group_size=1000)
    _assert_same_frame(*_read_both(tmp_path / "odd.parquet"))


def test_parquet_numbers_copied_batch_by_batch_read_as_pandas_does(tmp_path, monkeypatch):
    """The columns of numbers and dates copied batch by batch (issue 21) give the frame
    of pd.read_parquet, and columns with missing values, pandas dtypes of their own or
    no statistics are converted by Arrow as before."""
    import pyarrow.parquet as pq

    import riskmodel._read_files as RF

    monkeypatch.setattr(RF, "PARQUET_BATCH_ROWS", 700)  # batches across row groups
    rng = np.random.default_rng(5)
    n = 5000
    df = pd.DataFrame({
        "id": pd.Categorical(rng.choice(["a", "b", "c"], n)),
        "i8": rng.integers(-100, 100, n).astype("int8"),
        "u64": rng.integers(0, 2**63, n, dtype=np.uint64),
        "f32": rng.random(n).astype("float32"),
        "date": np.datetime64("2024-01-01", "ns") + rng.integers(0, 300, n).astype(
            "timedelta64[D]"),
        "with_nan": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)),
        "nat": pd.Series(pd.to_datetime("2024-02-01") + pd.to_timedelta(
            rng.integers(0, 9, n), "D")).where(rng.random(n) > 0.1),
        "nullable": pd.array(rng.integers(0, 5, n), dtype="Int64"),
    })
    df.to_parquet(tmp_path / "t.parquet", index=False, row_group_size=1200)
    with pq.ParquetFile(tmp_path / "t.parquet") as pf:
        assert sorted(pf.schema_arrow.names[i] for i in RF._plain_numbers(pf)) == \
            ["date", "f32", "i8", "u64"]
    _assert_same_frame(*_read_both(tmp_path / "t.parquet"))
    # no statistics: every column through Arrow
    pq.write_table(pq.read_table(tmp_path / "t.parquet"), tmp_path / "nostats.parquet",
                   write_statistics=False, row_group_size=1200)
    with pq.ParquetFile(tmp_path / "nostats.parquet") as pf:
        assert RF._plain_numbers(pf) == {}
    _assert_same_frame(*_read_both(tmp_path / "nostats.parquet"))
    # numbers only, with a named range index that does not start at 0
    nums = df[["i8", "f32", "date"]].set_axis(pd.RangeIndex(10, 10 + n, name="r"))
    nums.to_parquet(tmp_path / "nums.parquet", row_group_size=1200)
    new, old = _read_both(tmp_path / "nums.parquet")
    _assert_same_frame(new, old)
    assert new.index.equals(pd.RangeIndex(10, 10 + n, name="r")) and new.index.name == "r"


def test_parquet_layout_reads_the_same_tables(tmp_path):
    """write_tables' layout (large row groups, whole dictionaries) changes no value,
    and the fast reader gives the tables the default layout gives."""
    import pyarrow.parquet as pq

    world = rm.datasets.make_school_system(n_pupils=400, n_years=2, random_state=3)
    folder = rm.write_tables(world.tables, tmp_path / "new")
    plain = tmp_path / "plain"
    plain.mkdir()
    for name, df in world.tables.to_dict().items():
        df.to_parquet(plain / f"{name}.parquet", index=False, row_group_size=5_000)
    assert pq.ParquetFile(folder / "attendance.parquet").metadata.num_row_groups == 1
    assert pq.ParquetFile(plain / "attendance.parquet").metadata.num_row_groups > 1
    a, b = rm.read_tables(folder), rm.read_tables(plain)
    assert a.equals(world.tables) and b.equals(world.tables)
    assert a.fingerprint() == b.fingerprint() == world.tables.fingerprint()
    for name in world.tables.names:
        _assert_same_frame(*_read_both(plain / f"{name}.parquet"))


# ------------------------------------------------------------ fingerprint (issue 21)
def _reference_digest(df, cache):
    """frame_digest as it was before the numba kernels (numpy passes per chunk)."""
    m1, m2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)

    def light(h):
        h *= m1
        h ^= h >> np.uint64(29)
        return h

    def hasher(s):
        if isinstance(s.dtype, pd.CategoricalDtype):
            cats = s.dtype.categories
            ch = pd.util.hash_array(np.asarray(cats, dtype=object), categorize=False)
            lut = np.append(ch, np.uint64(0x6A09E667F3BCC908)).astype(np.uint64)
            return lambda a, b: lut.take(s.array.codes[a:b])
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            h = np.asarray(pd.util.hash_array(np.asarray(s, dtype=object), categorize=True),
                           dtype=np.uint64)
            return lambda a, b: h[a:b].copy()
        values = s.to_numpy()
        kind = values.dtype.kind
        if kind == "M":
            values = values.view("int64")
        elif kind == "f":
            values = values.astype("float64", copy=False).view("int64")
        elif kind == "b":
            values = values.view(np.uint8)

        def numeric(a, b):
            h = values[a:b].astype(np.uint64)
            if kind == "b":
                h += np.uint64(0x51ED27)
            return light(h)
        return numeric

    n = len(df)
    if n == 0:
        return b""
    hashers = [hasher(df[c]) for c in df.columns]
    total = xor = 0
    step = 1 << 18
    with np.errstate(over="ignore"):
        for a in range(0, n, step):
            b = min(a + step, n)
            row = hashers[0](a, b)
            for h in hashers[1:]:
                row *= np.uint64(0x100000001B3)
                row += h(a, b)
            row ^= row >> np.uint64(30)
            row *= m1
            row ^= row >> np.uint64(27)
            row *= m2
            row ^= row >> np.uint64(31)
            total = (total + int(np.add.reduce(row, dtype=np.uint64))) & 0xFFFFFFFFFFFFFFFF
            xor ^= int(np.bitwise_xor.reduce(row))
    return np.array([total, xor], dtype="<u8").tobytes()


@pytest.mark.parametrize("n", [0, 1, 7, (1 << 18) + 5])  # empty, tiny, two chunks
def test_fingerprint_kernels_equal_the_numpy_passes(n):
    from riskmodel._fingerprint import frame_digest

    rng = np.random.default_rng(n)
    df = pd.DataFrame({
        "cat": pd.Categorical(rng.choice(["a", "b", None], n)),
        "s": pd.array(rng.choice(["x", "yy", None], n), dtype="str"),
        "obj": pd.Series(rng.choice(["u", "v"], n), dtype=object),
        "i8": rng.integers(-128, 127, n).astype(np.int8),
        "i16": rng.integers(-3000, 3000, n).astype(np.int16),
        "i64": rng.integers(-2**62, 2**62, n),
        "u64": rng.integers(0, 2**63, n).astype(np.uint64) * np.uint64(2),
        "f": np.where(rng.random(n) < 0.1, np.nan, np.where(rng.random(n) < 0.1, -0.0,
                                                              rng.normal(size=n))),
        "f32": rng.normal(size=n).astype(np.float32),
        "b": rng.random(n) < 0.5,
        "d": np.where(rng.random(n) < 0.1, np.datetime64("NaT"),
                      np.datetime64("2024-01-01", "ns")
                      + rng.integers(-400, 400, n).astype("timedelta64[D]")),
    })
    assert frame_digest(df, {}) == _reference_digest(df, {})
    if n > 1:
        # row order does not matter; a changed value does
        assert frame_digest(df.iloc[::-1].reset_index(drop=True), {}) == frame_digest(df, {})
        changed = df.copy()
        changed.loc[0, "i16"] = changed.loc[0, "i16"] + 1
        assert frame_digest(changed, {}) != frame_digest(df, {})


def test_fingerprint_of_tables_equals_the_numpy_passes(monkeypatch):
    from riskmodel import _fingerprint

    tables = rm.datasets.make_school_system(n_pupils=300, n_years=2, random_state=5).tables
    fast = tables.fingerprint()
    monkeypatch.setattr(_fingerprint, "frame_digest", _reference_digest)
    assert tables.fingerprint() == fast
    assert tables.as_known_at("2023-03-01").fingerprint() != fast

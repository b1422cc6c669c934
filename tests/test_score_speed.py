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

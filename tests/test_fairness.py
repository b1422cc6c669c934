"""Tests of riskmodel.fairness: hand-counted rates, suppression, fairlearn agreement, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import riskmodel as rm
from sklearn.utils._param_validation import InvalidParameterError

from riskmodel.errors import DataValidationError

by_group = rm.fairness.by_group


def audit(*args, **kwargs):
    """The wide view (by_group) of rm.fairness.audit, which most hand counts read."""
    return by_group(rm.fairness.audit(*args, **kwargs))


def audit_allocation(*args, **kwargs):
    return by_group(rm.fairness.audit_allocation(*args, **kwargs))


# ----------------------------------------------------------------------------- hand counts
def _hand_table():
    """20 pupils; scores 20..1 so the top k are the first k rows."""
    y = np.array([1, 1, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0])
    scores = np.arange(20, 0, -1) / 20.0
    sex = np.array(list("FMFMFMFMFMFFFFFFMMMM"))
    # F: rows 0,2,4,6,8,10,11,12,13,14,15 (11 pupils); M: 1,3,5,7,9,16,17,18,19 (9 pupils)
    return y, scores, pd.DataFrame({"sex": sex})


def test_rates_by_hand():
    y, scores, groups = _hand_table()
    t = audit(y, scores, groups, top_k=5, min_cell=1, n_boot=0).set_index(["attribute", "group"])
    # selected = rows 0..4: y = 1,1,0,1,0 -> TP 3, FP 2; positives overall 6
    o = t.loc[("overall", "all")]
    assert o["n"] == 20
    assert o["base_rate"] == pytest.approx(6 / 20)
    assert o["selection_rate"] == pytest.approx(5 / 20)
    assert o["precision"] == pytest.approx(3 / 5)
    assert o["recall"] == pytest.approx(3 / 6)
    assert o["false_negative_rate"] == pytest.approx(3 / 6)
    assert o["false_positive_rate"] == pytest.approx(2 / 14)
    assert o["mean_predicted"] == pytest.approx(np.mean(scores))
    assert o["observed_rate"] == pytest.approx(6 / 20)
    # F: rows 0,2,4 selected (y 1,0,0); F positives: rows 0,10,15 -> 3
    f = t.loc[("sex", "F")]
    assert f["n"] == 11
    assert f["base_rate"] == pytest.approx(3 / 11)
    assert f["selection_rate"] == pytest.approx(3 / 11)
    assert f["precision"] == pytest.approx(1 / 3)
    assert f["recall"] == pytest.approx(1 / 3)
    assert f["false_positive_rate"] == pytest.approx(2 / 8)
    # M: rows 1,3 selected (y 1,1); M positives: rows 1,3,7 -> 3
    m = t.loc[("sex", "M")]
    assert m["n"] == 9
    assert m["selection_rate"] == pytest.approx(2 / 9)
    assert m["precision"] == pytest.approx(2 / 2)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["false_negative_rate"] == pytest.approx(1 / 3)
    assert m["false_positive_rate"] == pytest.approx(0 / 6)
    # reference defaults to the largest group (F, 11 pupils)
    assert bool(f["reference"]) and not bool(m["reference"])
    assert m["recall_ratio"] == pytest.approx((2 / 3) / (1 / 3))
    assert m["selection_rate_ratio"] == pytest.approx((2 / 9) / (3 / 11))
    assert f["recall_ratio"] == pytest.approx(1.0)
    # explicit reference
    t2 = audit(y, scores, groups, top_k=5, min_cell=1, n_boot=0, reference={"sex": "M"})
    t2 = t2.set_index(["attribute", "group"])
    assert t2.loc[("sex", "F"), "recall_ratio"] == pytest.approx(0.5)
    assert t2.attrs["reference"] == {"sex": "M"}


def test_top_fraction_and_ties_are_deterministic():
    y, _, groups = _hand_table()
    scores = np.zeros(20)  # all tied: stable order -> first rows selected
    a = audit(y, scores, groups, top_k=4, min_cell=1, n_boot=0)
    b = audit(y, scores, groups, top_fraction=0.2, min_cell=1, n_boot=0)
    assert a.attrs["k"] == b.attrs["k"] == 4
    cols = ["n", "selection_rate", "precision", "recall"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    f = a.set_index(["attribute", "group"]).loc[("sex", "F")]
    # rows 0..3 selected: F rows 0,2 (y 1,0) -> precision 1/2
    assert f["precision"] == pytest.approx(0.5)
    # top_fraction follows the one capacity rule, the ceiling: 0.26 * 20 = 5.2 -> 6 pupils
    assert audit(y, scores, groups, top_fraction=0.26, n_boot=0).attrs["k"] == 6
    assert audit(y, scores, groups, top_fraction=1.0, n_boot=0).attrs["k"] == 20
    # at least one pupil; a count above the cohort is capped at it
    assert audit(y, scores, groups, top_fraction=0.01, n_boot=0).attrs["k"] == 1
    assert audit(y, scores, groups, top_k=21, n_boot=0).attrs["k"] == 20


def test_old_k_name_still_works_with_a_future_warning():
    y, scores, groups = _hand_table()
    with pytest.warns(FutureWarning, match="'k' parameter of audit was renamed 'top_k'"):
        old = rm.fairness.audit(y, scores, groups, k=5, min_cell=1, n_boot=0)
    new = rm.fairness.audit(y, scores, groups, top_k=5, min_cell=1, n_boot=0)
    pd.testing.assert_frame_equal(old, new)


def test_audit_is_tidy_and_long():
    y, scores, groups = _hand_table()
    t = rm.fairness.audit(y, scores, groups, top_k=5, min_cell=1, n_boot=0)
    assert list(t.columns) == ["attribute", "group", *rm.fairness.VALUE_COLUMNS]
    metrics = list(rm.fairness.METRICS)
    assert len(t) == 3 * len(metrics)  # overall, F, M
    assert t["metric"].tolist() == metrics * 3
    assert t["attribute"].tolist() == ["overall"] * 8 + ["sex"] * 16
    m_recall = t[(t["group"] == "M") & (t["metric"] == "recall")].iloc[0]
    assert m_recall["value"] == pytest.approx(2 / 3) and m_recall["n"] == 9
    assert m_recall["ratio"] == pytest.approx((2 / 3) / (1 / 3))
    # the wide view holds the same numbers, one row per group
    w = by_group(t).set_index(["attribute", "group"])
    assert len(w) == 3 and w.attrs == t.attrs
    # a column a caller adds (the pipeline's test_date) is kept as a key
    dated = by_group(t.assign(test_date="2025-10-01"))
    assert list(dated.columns[:3]) == ["attribute", "group", "test_date"] and len(dated) == 3
    for row in t.itertuples(index=False):
        got = w.loc[(row.attribute, row.group)]
        assert got[row.metric] == pytest.approx(row.value, nan_ok=True)
        assert got[f"{row.metric}_ratio"] == pytest.approx(row.ratio, nan_ok=True)


def test_both_audits_have_the_same_columns():
    plan, pupils, groups, y = _plan_fixture()
    a = rm.fairness.audit_allocation(plan, pupils, groups, y_true=y, risk_threshold=0.45)
    r = rm.fairness.audit(y, pupils["risk"], groups, top_k=10, n_boot=0)
    assert list(a.columns) == ["population", "attribute", "group", "kind", *r.columns[2:]]
    assert list(r.columns[2:]) == list(rm.fairness.VALUE_COLUMNS)
    assert set(a["metric"]) == {"supported_share"}
    assert a["value_low"].isna().all() and a["ratio_high"].isna().all()
    # the reference of an attribute is its largest group, in both tables
    ref = a[a["reference"] & (a["attribute"] == "sex")]
    assert set(ref["group"]) == {"F"}


def test_series_alignment_by_index():
    y, scores, groups = _hand_table()
    ids = pd.Index([f"p{i:02d}" for i in range(20)], name="pupil_id")
    ys = pd.Series(y, index=ids)
    ss = pd.Series(scores, index=ids).iloc[::-1]  # other order, same labels
    gs = groups.set_axis(ids).iloc[np.r_[10:20, 0:10]]
    a = audit(ys, ss, gs, top_k=5, min_cell=1, n_boot=0)
    b = audit(y, scores, groups, top_k=5, min_cell=1, n_boot=0)
    pd.testing.assert_frame_equal(a, b)


def test_missing_values_form_their_own_group():
    y, scores, groups = _hand_table()
    groups = groups.assign(lang=["lv"] * 8 + [None] * 4 + ["ru"] * 8)
    t = audit(y, scores, groups, top_k=5, min_cell=1, n_boot=0)
    lang = t[t["attribute"] == "lang"].set_index("group")
    assert list(lang.index) == ["lv", "ru", rm.fairness.MISSING_GROUP]
    assert lang["n"].tolist() == [8, 8, 4]


# ----------------------------------------------------------------------------- bootstrap
def test_bootstrap_intervals_cover_point_and_are_reproducible():
    rng = np.random.default_rng(1)
    n = 3000
    y = rng.random(n) < 0.15
    scores = 0.4 * y + rng.random(n)
    groups = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "sn": rng.random(n) < 0.2})
    a = audit(y, scores, groups, top_k=300, n_boot=300, random_state=3)
    b = audit(y, scores, groups, top_k=300, n_boot=300, random_state=3)
    pd.testing.assert_frame_equal(a, b)
    for m in rm.fairness.METRICS:
        assert (a[f"{m}_low"] <= a[m] + 1e-12).all()
        assert (a[f"{m}_high"] >= a[m] - 1e-12).all()
        assert (a[f"{m}_high"] > a[f"{m}_low"]).all()
    # pupils are resampled with their selected flag, so the overall selection rate
    # varies like a binomial share: half-width about 1.96 * sqrt(p * q / n)
    o = a.iloc[0]
    half = (o["selection_rate_high"] - o["selection_rate_low"]) / 2
    assert half == pytest.approx(1.96 * np.sqrt(0.1 * 0.9 / n), rel=0.2)
    # a group's recall interval matches a plain loop bootstrap of that group
    sel = np.zeros(n, bool)
    sel[np.argsort(-scores, kind="stable")[:300]] = True
    draws = []
    r = np.random.default_rng(7)
    is_f = groups["sex"].to_numpy() == "F"
    for _ in range(400):
        i = r.integers(0, n, n)
        f = is_f[i]
        draws.append((y[i] & sel[i] & f).sum() / (y[i] & f).sum())
    lo, hi = np.quantile(draws, [0.025, 0.975])
    row = a[(a["attribute"] == "sex") & (a["group"] == "F")].iloc[0]
    assert row["recall_low"] == pytest.approx(lo, abs=0.02)
    assert row["recall_high"] == pytest.approx(hi, abs=0.02)
    # the reference group's ratio interval is exactly [1, 1]
    ref = a[(a["attribute"] == "sex") & a["reference"]].iloc[0]
    assert ref["recall_ratio_low"] == ref["recall_ratio_high"] == 1.0


def test_no_bootstrap_keeps_the_columns():
    y, scores, groups = _hand_table()
    t = audit(y, scores, groups, top_k=5, min_cell=1, n_boot=0)
    assert "recall_low" in t and "recall_ratio_high" in t
    assert t["recall_low"].isna().all()


# ----------------------------------------------------------------------------- fairlearn
def test_agrees_with_fairlearn_metricframe():
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import precision_score

    rng = np.random.default_rng(5)
    n = 1500
    groups = pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], n),
            "lang": rng.choice(["lv", "ru", "uk"], n, p=[0.6, 0.3, 0.1]),
        }
    )
    y = rng.random(n) < 0.1 + 0.1 * (groups["lang"] == "ru").to_numpy()
    scores = 0.3 * y + rng.random(n)
    k = 200
    t = audit(y, scores, groups, top_k=k, n_boot=0, intersections=[("sex", "lang")])
    sel = np.zeros(n, dtype=int)
    sel[np.argsort(-scores, kind="stable")[:k]] = 1
    metrics = {
        "n": count,
        "selection_rate": selection_rate,
        "recall": true_positive_rate,
        "false_positive_rate": false_positive_rate,
        "false_negative_rate": false_negative_rate,
        "precision": precision_score,
    }
    checks = [("sex", groups["sex"]), ("lang", groups["lang"]), ("sex×lang", groups[["sex", "lang"]])]
    n_compared = 0
    for attr, sf in checks:
        mf = MetricFrame(metrics=metrics, y_true=y.astype(int), y_pred=sel, sensitive_features=sf)
        by = mf.by_group
        mine = t[t["attribute"] == attr].set_index("group")
        for key, row in by.iterrows():
            label = "×".join(key) if isinstance(key, tuple) else str(key)
            got = mine.loc[label]
            assert not got["suppressed"]
            for m in metrics:
                assert float(got[m]) == pytest.approx(float(row[m]), abs=1e-12), (attr, label, m)
            n_compared += 1
        overall = t.iloc[0]
        for m in metrics:
            assert float(overall[m]) == pytest.approx(float(mf.overall[m]), abs=1e-12)
    assert n_compared == 2 + 3 + 6


# ----------------------------------------------------------------------------- suppression
def _determined(eq_rows: list[dict], hidden: list[str]) -> set[str]:
    """Hidden cells whose value is fixed by the relations (independent check:
    e_i lies in the row space of A iff adding it does not raise the rank)."""
    if not hidden:
        return set()
    A = np.array([[r.get(h, 0.0) for h in hidden] for r in eq_rows])
    rank = np.linalg.matrix_rank(A) if len(A) else 0
    out = set()
    for i, h in enumerate(hidden):
        e = np.zeros(len(hidden))
        e[i] = 1
        if np.linalg.matrix_rank(np.vstack([A, e]) if len(A) else e[None]) == rank:
            out.add(h)
    return out


def _relations(table: pd.DataFrame, pairs) -> list[dict]:
    """Published relations: groups of an attribute sum to the overall row; cells of
    an intersection sum to each group of its two attributes."""
    key = lambda a, g: f"{a}={g}"  # noqa: E731
    rows = []
    for attr, sub in table.groupby("attribute", sort=False):
        if attr == "overall" or "×" in attr:
            continue
        r = {key(attr, g): 1.0 for g in sub["group"]}
        r[key("overall", "all")] = -1.0
        rows.append(r)
    for a, b in pairs:
        name = f"{a}×{b}"
        sub = table[table["attribute"] == name]
        parts = sub["group"].str.split("×", expand=True)
        for pos, parent in ((0, a), (1, b)):
            for value, cells in sub.groupby(parts[pos]):
                r = {key(name, g): 1.0 for g in cells["group"]}
                r[key(parent, value)] = -1.0
                rows.append(r)
    return rows


def _assert_nothing_recoverable(table, pairs=()):
    hidden = [f"{a}={g}" for a, g in table.loc[table["suppressed"], ["attribute", "group"]].to_numpy()]
    assert _determined(_relations(table, pairs), hidden) == set()


def test_one_tiny_group_is_hidden_with_the_next_smallest():
    rng = np.random.default_rng(2)
    lang = np.array(["lv"] * 120 + ["ru"] * 50 + ["uk"] * 25 + ["other"] * 4)
    n = len(lang)
    y = rng.random(n) < 0.2
    scores = rng.random(n)
    t = audit(y, scores, pd.DataFrame({"lang": lang}), top_k=30, n_boot=50)
    g = t[t["attribute"] == "lang"].set_index("group")
    assert g.loc["other", "suppressed"] and g.loc["other", "suppression_reason"] == "small_cell"
    assert g.loc["uk", "suppressed"] and g.loc["uk", "suppression_reason"] == "complementary"
    assert not g.loc["lv", "suppressed"] and not g.loc["ru", "suppressed"]
    for col in ["n", *rm.fairness.METRICS, "recall_ratio", "recall_low", "recall_ratio_high"]:
        assert g.loc[["other", "uk"], col].isna().all(), col
    # the difference of totals only gives the two hidden groups together
    overall_n = int(t.iloc[0]["n"])
    visible_n = int(g.loc[["lv", "ru"], "n"].sum())
    assert overall_n - visible_n == 29 and 29 != 4
    leavers_overall = t.iloc[0]["base_rate"] * overall_n
    leavers_visible = (g.loc[["lv", "ru"], "base_rate"] * g.loc[["lv", "ru"], "n"]).sum()
    assert leavers_overall - leavers_visible == pytest.approx(y[120 + 50 :].sum())
    _assert_nothing_recoverable(t)


def test_two_tiny_groups_need_no_complement():
    lang = np.array(["lv"] * 100 + ["ru"] * 60 + ["uk"] * 5 + ["other"] * 4)
    n = len(lang)
    t = audit(np.arange(n) % 5 == 0, np.arange(n, dtype=float), pd.DataFrame({"lang": lang}), top_k=20, n_boot=0)
    g = t[t["attribute"] == "lang"].set_index("group")
    assert g["suppression_reason"].to_dict() == {"lv": "", "other": "small_cell", "ru": "", "uk": "small_cell"}
    _assert_nothing_recoverable(t)


def test_intersection_suppression_protects_margins():
    rng = np.random.default_rng(0)
    n = 2000
    groups = pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], n),
            "lang": rng.choice(["lv", "ru", "uk", "other"], n, p=[0.6, 0.33, 0.062, 0.008]),
            "sn": rng.random(n) < 0.1,
        }
    )
    y = rng.random(n) < 0.1
    scores = rng.random(n)
    pairs = [("sex", "lang"), ("lang", "sn")]
    t = audit(y, scores, groups, top_k=200, n_boot=0, intersections=pairs)
    small = t[t["suppression_reason"] == "small_cell"]
    assert len(small) >= 2 and (small["attribute"].str.contains("×")).all()
    assert (t.loc[t["suppressed"], "n"].isna()).all()
    assert not t.loc[t["attribute"].isin(["overall", "sex", "lang", "sn"]), "suppressed"].any()
    _assert_nothing_recoverable(t, pairs)
    # the checker does catch a leak: un-hide one complementary cell
    leaky = t.copy()
    i = leaky.index[leaky["suppression_reason"] == "complementary"][0]
    leaky.loc[i, "suppressed"] = False
    hidden = [f"{a}={g}" for a, g in leaky.loc[leaky["suppressed"], ["attribute", "group"]].to_numpy()]
    assert _determined(_relations(leaky, pairs), hidden)


def test_random_tables_never_leak():
    rng = np.random.default_rng(11)
    for trial in range(6):
        n = int(rng.integers(60, 400))
        groups = pd.DataFrame(
            {
                "a": rng.choice(list("pqrst"), n, p=[0.5, 0.3, 0.1, 0.07, 0.03]),
                "b": rng.choice(list("xyz"), n, p=[0.7, 0.25, 0.05]),
            }
        )
        t = audit(rng.random(n) < 0.3, rng.random(n), groups, top_k=10, n_boot=0, intersections=[("a", "b")])
        assert t.loc[t["n"].notna(), "n"].min() >= 10
        _assert_nothing_recoverable(t, [("a", "b")])


def test_whole_cohort_below_min_cell_is_hidden():
    t = audit([0, 1, 0, 1, 1], [0.1, 0.9, 0.2, 0.8, 0.5], pd.DataFrame({"sex": list("FMFMF")}), top_k=2, n_boot=10)
    assert t["suppressed"].all() and t["n"].isna().all()


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"top_k": None}, "needs exactly one of 'top_k' .* or 'top_fraction'"),
        ({"top_k": 5, "top_fraction": 0.1}, "needs exactly one of 'top_k' .* or 'top_fraction'"),
        ({"top_k": 0}, "The 'top_k' parameter of audit must be an int >= 1. Got 0 instead"),
        ({"top_k": 2.5}, "The 'top_k' parameter of audit must be an int >= 1. Got 2.5"),
        ({"top_k": None, "top_fraction": 1.5},
         "The 'top_fraction' parameter of audit must be a float in the range \\(0, 1\\]"),
        ({"reference": {"sex": "X"}}, "names the group 'X' of 'sex'"),
        ({"reference": {"age": "F"}}, "names the attribute 'age'"),
        ({"n_boot": -1}, "The 'n_boot' parameter of audit must be an int >= 0. Got -1"),
        ({"n_boot": 10.0}, "The 'n_boot' parameter of audit must be an int >= 0. Got 10.0"),
        ({"min_cell": 0}, "The 'min_cell' parameter of audit must be an int >= 1. Got 0"),
        ({"confidence": 1.0}, "The 'confidence' parameter of audit must be a float in the range \\(0, 1\\)"),
        ({"intersections": [("sex", "age")]}, "names 'age', which is not a column"),
        ({"intersections": [("sex", "sex")]}, "must pair two different columns"),
    ],
)
def test_parameter_errors(kwargs, match):
    y, scores, groups = _hand_table()
    params = {"top_k": 5, **kwargs}
    with pytest.raises(ValueError, match=match):
        audit(y, scores, groups, **params)


def test_input_errors():
    y, scores, groups = _hand_table()
    with pytest.raises(ValueError, match="'scores' parameter of audit must have one value per pupil of y_true \\(20\\). Got 19"):
        audit(y, scores[:19], groups, top_k=5)
    with pytest.raises(ValueError, match="'groups' parameter of audit must have one row per pupil \\(20\\). Got 19"):
        audit(y, scores, groups.iloc[:19], top_k=5)
    y_nan = y.astype(float)
    y_nan[3] = np.nan
    with pytest.raises(ValueError, match="'y_true' parameter of audit must not contain NaN. Got 1 missing"):
        audit(y_nan, scores, groups, top_k=5)
    with pytest.raises(ValueError, match="'y_true' parameter of audit must hold 0/1 outcomes. "
                                         "Got other values, e.g. \\[2.0\\]"):
        audit(y * 2, scores, groups, top_k=5)
    s_nan = scores.copy()
    s_nan[0] = np.nan
    with pytest.raises(ValueError, match="'scores' parameter of audit must be finite"):
        audit(y, s_nan, groups, top_k=5)
    # a wrong type is an InvalidParameterError (both TypeError and ValueError), one wording
    with pytest.raises(TypeError, match="'groups' parameter of audit must be an instance of "
                                        "'pandas.DataFrame'. Got a Series instead"):
        audit(y, scores, groups["sex"], top_k=5)
    ids = pd.Index([f"p{i}" for i in range(20)])
    with pytest.raises(ValueError, match="1 pupil\\(s\\) are missing, e.g. \\['p19'\\]"):
        audit(pd.Series(y, index=ids), scores, groups.set_axis(ids).iloc[:19], top_k=5)
    with pytest.raises(TypeError, match="'reference' parameter of audit must be an instance of "
                                        "'dict'. Got 'F' of type 'str' instead"):
        audit(y, scores, groups, top_k=5, reference="F")


# ----------------------------------------------------------------------------- allocation audit
def _plan_fixture():
    ids = pd.Index([f"p{i:02d}" for i in range(40)], name="pupil_id")
    risk = np.r_[np.linspace(0.9, 0.5, 24), np.linspace(0.4, 0.0, 16)]
    pupils = pd.DataFrame({"risk": risk}, index=ids)
    sex = np.array(["F", "M"] * 20)
    groups = pd.DataFrame({"sex": sex}, index=ids)
    # risk group = p00..p23 (12 F: even, 12 M: odd); support: mentor p00,p02,p04,p01;
    # literacy p06 and p01 (p01 twice: mentor + literacy); p30 (not at risk) mentor
    plan = pd.DataFrame(
        {
            "pupil_id": ["p00", "p02", "p04", "p01", "p06", "p01", "p30"],
            "resource_id": ["r1"] * 7,
            "kind": ["mentor", "mentor", "mentor", "mentor", "literacy", "literacy", "mentor"],
            "value": 1.0,
        }
    )
    # leavers: p00..p09 (5 F, 5 M) and p30..p39 (5 F, 5 M) -> 20 leavers
    y = pd.Series(np.isin(np.arange(40), np.r_[0:10, 30:40]).astype(int), index=ids)
    return plan, pupils, groups, y


def test_audit_allocation_shares_by_hand():
    plan, pupils, groups, y = _plan_fixture()
    t = audit_allocation(plan, pupils, groups, y_true=y, risk_threshold=0.45)
    t = t.set_index(["population", "attribute", "group", "kind"])
    # risk group: 24 pupils; any support: p00,p02,p04,p06 (F) and p01 (M) -> 5
    assert t.loc[("risk_group", "overall", "all", "any"), "n"] == 24
    assert t.loc[("risk_group", "overall", "all", "any"), "supported_share"] == pytest.approx(5 / 24)
    assert t.loc[("risk_group", "sex", "F", "any"), "supported_share"] == pytest.approx(4 / 12)
    assert t.loc[("risk_group", "sex", "M", "any"), "supported_share"] == pytest.approx(1 / 12)
    assert t.loc[("risk_group", "sex", "F", "mentor"), "supported_share"] == pytest.approx(3 / 12)
    assert t.loc[("risk_group", "sex", "M", "literacy"), "supported_share"] == pytest.approx(1 / 12)
    # largest group is F (12 = 12, first); ratio M/F
    assert t.loc[("risk_group", "sex", "M", "any"), "supported_share_ratio"] == pytest.approx(0.25)
    # leavers: 20; supported: p00,p02,p04,p06,p01 (p30 mentor) -> 6
    assert t.loc[("leavers", "overall", "all", "any"), "supported_share"] == pytest.approx(6 / 20)
    assert t.loc[("leavers", "sex", "F", "mentor"), "supported_share"] == pytest.approx(4 / 10)
    assert t.loc[("leavers", "sex", "M", "mentor"), "supported_share"] == pytest.approx(1 / 10)
    # in_risk_group column instead of a threshold gives the same table
    t2 = audit_allocation(plan, pupils.assign(in_risk_group=pupils["risk"] >= 0.45), groups, y_true=y)
    pd.testing.assert_frame_equal(t2.set_index(t.index.names), t)


def test_audit_allocation_suppresses_small_groups():
    plan, pupils, groups, y = _plan_fixture()
    groups = groups.assign(lang=["lv"] * 30 + ["ru"] * 6 + ["uk"] * 4)
    t = audit_allocation(plan, pupils, groups, y_true=y, risk_threshold=0.45)
    lang = t[(t["population"] == "leavers") & (t["attribute"] == "lang") & (t["kind"] == "any")]
    lang = lang.set_index("group")
    # leavers: p00..p09 lv, p30..p35 ru (6), p36..p39 uk (4): ru and uk both < 10
    assert lang.loc["ru", "suppression_reason"] == "small_cell"
    assert lang.loc["uk", "suppression_reason"] == "small_cell"
    assert lang.loc[["ru", "uk"], "supported_share"].isna().all()
    assert lang.loc["lv", "n"] == 10
    # risk group: 24 lv only -> nothing hidden
    risk = t[(t["population"] == "risk_group") & (t["attribute"] == "lang")]
    assert not risk["suppressed"].any() and set(risk["group"]) == {"lv"}


def test_audit_allocation_with_an_empty_risk_group():
    # a threshold above every risk (a tiny or cautious model) once crashed in argmax
    plan, pupils, groups, y = _plan_fixture()
    assert (pupils["risk"] < 0.99).all()
    t = audit_allocation(plan, pupils, groups, y_true=y, risk_threshold=0.99)
    risk = t[t["population"] == "risk_group"]
    assert set(risk["attribute"]) == {"overall"} and risk["suppressed"].all()
    assert risk["supported_share"].isna().all()
    leavers = t.set_index(["population", "attribute", "group", "kind"])
    assert leavers.loc[("leavers", "overall", "all", "any"), "supported_share"] == pytest.approx(6 / 20)


def test_audit_allocation_errors():
    plan, pupils, groups, y = _plan_fixture()
    with pytest.raises(ValueError, match="needs the risk group"):
        audit_allocation(plan, pupils, groups)
    with pytest.raises(DataValidationError, match="'assignments', column 'pupil_id': 1 row\\(s\\) name pupils"):
        audit_allocation(
            pd.concat([plan, pd.DataFrame({"pupil_id": ["zz"], "kind": ["mentor"]})]),
            pupils, groups, risk_threshold=0.5,
        )
    with pytest.raises(DataValidationError, match="lacks the required column"):
        audit_allocation(plan.drop(columns="kind"), pupils, groups, risk_threshold=0.5)
    with pytest.raises(ValueError, match="'y_true' parameter of audit_allocation must have one value"):
        audit_allocation(plan, pupils, groups, risk_threshold=0.5, y_true=np.zeros(3))


def test_suppressed_reference_hides_the_ratios(caplog):
    lang = np.array(["lv"] * 100 + ["ru"] * 60 + ["uk"] * 5)
    n = len(lang)
    with caplog.at_level("WARNING", logger="riskmodel.fairness"):
        t = audit(np.arange(n) % 4 == 0, -np.arange(n, dtype=float), pd.DataFrame({"lang": lang}),
                  top_k=20, n_boot=20, reference={"lang": "uk"})
    g = t[t["attribute"] == "lang"].set_index("group")
    assert g.loc["uk", "reference"] and g.loc["uk", "suppressed"]
    # a visible ratio to a hidden reference would reveal the reference's rate
    assert g[[c for c in t.columns if "_ratio" in c]].isna().all().all()
    # top 20 = rows 0..19, 5 of lv's 25 leavers
    assert g.loc["lv", "recall"] == pytest.approx(5 / 25)
    assert "reference group 'uk' of 'lang' is suppressed" in caplog.text


def test_the_same_wrong_input_gives_the_same_error_in_both_audits():
    plan, pupils, groups, y = _plan_fixture()
    with pytest.raises(InvalidParameterError, match="'min_cell' parameter of audit must be an int >= 1. Got 0"):
        rm.fairness.audit(y, pupils["risk"], groups, top_k=5, min_cell=0)
    with pytest.raises(InvalidParameterError,
                       match="'min_cell' parameter of audit_allocation must be an int >= 1. Got 0"):
        rm.fairness.audit_allocation(plan, pupils, groups, risk_threshold=0.5, min_cell=0)
    with pytest.raises(InvalidParameterError, match="'groups' parameter of audit_allocation must be an "
                                                    "instance of 'pandas.DataFrame'"):
        rm.fairness.audit_allocation(plan, pupils, groups["sex"], risk_threshold=0.5)
    with pytest.raises(InvalidParameterError, match="'assignments' parameter of audit_allocation must be "
                                                    "an instance of 'pandas.DataFrame'. Got \\[\\] of type 'list'"):
        rm.fairness.audit_allocation([], pupils, groups, risk_threshold=0.5)

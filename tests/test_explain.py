"""Tests of riskmodel.explain: exact fast TreeSHAP, domains, reasons, plots."""

from __future__ import annotations

import logging

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from riskmodel._checks import InvalidParameterError
from riskmodel.explain import (
    RECORD_DOMAINS,
    BeeswarmDisplay,
    Explanation,
    ImportanceDisplay,
    WaterfallDisplay,
    reason_texts,
    tree_shap,
)
from riskmodel.explain import _plan
from riskmodel.explain import _treeshap as ts
from riskmodel.explain._model_text import LinearTreesError, UnsupportedModel, parse_model

TOL = 1e-9


def _data(n=2500, p=8, seed=0, nan_share=0.1, n_cat=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    X[:, 1] = rng.poisson(2.0, size=n)  # counts with many zeros
    X[:, 2] = np.round(rng.uniform(0, 1, size=n), 2)
    for j in range(n_cat):
        X[:, p - 1 - j] = rng.integers(0, 12, size=n)
    logit = X[:, 0] + 0.5 * (X[:, 1] > 2) - 1.5 * X[:, 2] + 0.3 * X[:, 3] * X[:, 4]
    if n_cat:
        logit += np.isin(X[:, p - 1], [1, 4, 7, 9])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    mask = rng.random(X.shape) < nan_share
    X[mask] = np.nan
    return X, y


def _train(X, y, rounds=30, **params):
    base = {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": 0}
    base.update(params)
    cat = base.pop("categorical_feature", "auto")
    return lgb.train(base, lgb.Dataset(X, y, categorical_feature=cat), rounds)


def _check(booster, X):
    values, base = tree_shap(booster, X)
    ref = booster.predict(X, pred_contrib=True)
    assert values.shape == (X.shape[0], X.shape[1])
    assert np.max(np.abs(values - ref[:, :-1])) <= TOL
    assert abs(base - ref[0, -1]) <= TOL
    raw = booster.predict(X, raw_score=True)
    assert np.max(np.abs(values.sum(1) + base - raw)) <= TOL
    return values, base


def _test_rows(X, seed=1):
    """Training rows plus edge values: NaN, exact zeros, tiny values, negatives."""
    rng = np.random.default_rng(seed)
    extra = X[rng.integers(0, len(X), 400)].copy()
    extra[:50] = np.nan
    extra[50:100] = 0.0
    extra[100:150] = 1e-40
    extra[150:200] = -extra[150:200]
    return np.vstack([X, extra])


@pytest.fixture(autouse=True)
def _fresh_cache():
    ts._CACHE.clear()
    yield
    ts._CACHE.clear()


# Two splits: a on the root (leaf 0 to the left), then b (leaves 1 and 2) or a again.
_MODEL_TEXT = """tree
version=v4
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=1
objective=binary sigmoid:1

Tree=0
num_leaves=3
num_cat=0
split_feature=0 {second}
threshold=0.5 2.5
decision_type=2 10
left_child=-1 -2
right_child=1 -3
leaf_value=0.1 0.2 -0.3
leaf_count=50 30 20
internal_count=100 50
is_linear=0
shrinkage=1


end of trees
"""


def test_model_text_parser_known_answer():
    parsed = parse_model(_MODEL_TEXT.format(second=1))
    assert parsed.n_features == 2
    assert parsed.base_value == pytest.approx(0.5 * 0.1 + 0.3 * 0.2 + 0.2 * -0.3, abs=1e-15)
    assert parsed.node_off.tolist() == [0, 2] and parsed.leaf_off.tolist() == [0, 3]
    # decision_type 2: default left, missing type None; 10: default left, missing type NaN
    assert parsed.default_left.tolist() == [1, 1] and parsed.missing_type.tolist() == [0, 2]
    assert parsed.nan_left.tolist() == [1, 1]  # None: NaN compared as 0.0 <= 0.5; NaN: default side
    assert parsed.slot_bit.tolist() == [1, 2]
    # leaf 0: path (a) with zero fraction 50/100; leaves 1, 2: (a, b) with 50/100 and 30/50, 20/50
    assert parsed.leaf_m.tolist() == [1, 2, 2] and parsed.lf_off.tolist() == [0, 1, 3, 5]
    assert parsed.lf_feat.tolist() == [0, 0, 1, 0, 1]
    np.testing.assert_allclose(parsed.lf_z, [0.5, 0.5, 0.6, 0.5, 0.4])
    assert (parsed.max_internal, parsed.max_m) == (2, 2)
    # a repeated feature on a path is one slot, its zero fractions multiplied
    merged = parse_model(_MODEL_TEXT.format(second=0))
    assert merged.leaf_m.tolist() == [1, 1, 1] and merged.lf_feat.tolist() == [0, 0, 0]
    np.testing.assert_allclose(merged.lf_z, [0.5, 0.3, 0.2])
    assert merged.slot_bit.tolist() == [1, 1]


def test_model_text_parser_needs_no_numba(tmp_path):
    """The parser is plain numpy: it loads and parses with numba made unimportable."""
    import json
    import subprocess
    import sys

    from riskmodel.explain import _model_text

    (tmp_path / "model.txt").write_text(_MODEL_TEXT.format(second=1))
    code = f"""
import importlib.util, json, sys
sys.modules["numba"] = None  # any 'import numba' now fails
spec = importlib.util.spec_from_file_location("model_text", {_model_text.__file__!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
parsed = module.parse_model(open({str(tmp_path / "model.txt")!r}).read())
print(json.dumps({{"lf_z": parsed.lf_z.tolist(), "numba": "numba" in sys.modules and sys.modules["numba"] is not None}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result == {"lf_z": [0.5, 0.5, 0.6, 0.5, 0.4], "numba": False}


def test_depth_limited_with_nan_missing():
    X, y = _data(seed=0)
    booster = _train(X, y, num_leaves=15, max_depth=4)
    _check(booster, _test_rows(X))


def _plan_of(booster) -> _plan.Plan:
    return _plan.build_plan(parse_model(booster.model_to_string()))


def test_small_trees_use_decision_tables_and_equal_pred_contrib():
    X, y = _data(seed=2)
    booster = _train(X, y, num_leaves=7)
    _check(booster, _test_rows(X))
    plan = _plan_of(booster)
    assert (plan.kt_off >= 0).all()  # every tree took the decision-table path
    assert plan.gr_off[-1] == 0  # so none is cut into groups


def test_leaf_wise_deep_63_leaves_all_leaf_modes(monkeypatch):
    X, y = _data(n=4000, p=10, seed=3)
    booster = _train(X, y, rounds=15, num_leaves=63, max_depth=-1, min_data_in_leaf=5)
    rows = _test_rows(X)
    _check(booster, rows)  # tables for every leaf, hashed distinct keys per block
    assert (_plan_of(booster).leaf_mode == 0).all()
    # force quadrature leaves (m > 2) and no decision tables
    ts._CACHE.clear()
    monkeypatch.setattr(_plan, "MAX_TABLE_M", 2)
    monkeypatch.setattr(_plan, "MAX_KEY_BITS", 0)
    _check(booster, rows)
    plan = _plan_of(booster)
    parsed = parse_model(booster.model_to_string())
    np.testing.assert_array_equal(plan.leaf_mode == 1, parsed.leaf_m > 2)
    assert (plan.kt_off == -1).all() and plan.gr_off[-1] > 0


@pytest.mark.parametrize("group_bits", [3, 5, 8])
def test_groups_tabled_and_hashed_with_categories_nan_and_zero_missing(monkeypatch, group_bits):
    # leaf-wise trees cut into groups of at most group_bits key bits: the small ones
    # looked up in their decision tables, the deep ones (too many ancestors) hashed
    X, y = _data(n=3000, p=8, seed=11, n_cat=1)
    X[:, 1][np.isnan(X[:, 1])] = 0.0
    booster = _train(X, y, rounds=12, num_leaves=31, categorical_feature=[7],
                     min_data_per_group=5, cat_smooth=1.0, zero_as_missing=True,
                     min_data_in_leaf=5)
    monkeypatch.setattr(_plan, "MAX_KEY_BITS", 0)
    monkeypatch.setattr(_plan, "GROUP_BITS", group_bits)
    rows = _test_rows(X)
    rows[200:220, 7] = -1.0
    rows[220:240, 7] = 40.0
    _check(booster, rows)
    parsed = parse_model(booster.model_to_string())
    assert (parsed.missing_type == 1).any() and parsed.is_cat.any()
    plan = _plan_of(booster)
    n_bits = np.diff(plan.gb_off)
    tabled = plan.gt_off >= 0
    assert tabled.any() and (n_bits[tabled] <= group_bits).all()
    assert (~tabled).any() == (n_bits > group_bits).any()
    # every leaf of every tree in exactly one group
    for t in range(parsed.node_off.shape[0] - 1):
        a, b = plan.gr_off[t], plan.gr_off[t + 1]
        leaves = np.sort(plan.gl_leaf[plan.gl_off[a] : plan.gl_off[b]])
        n_leaves = parsed.leaf_off[t + 1] - parsed.leaf_off[t]
        np.testing.assert_array_equal(leaves, np.arange(n_leaves))


def test_group_heads_respect_the_bit_limit():
    # a chain of 5 splits to the left, each with a leaf on its right
    lc = np.array([1, 2, 3, 4, -1]); rc = np.array([-2, -3, -4, -5, -6])
    heads = _plan._group_heads(lc, rc, 3)
    masks = [anc | (0 if c < 0 else sum(1 << k for k in range(c, 5))) for c, anc in heads]
    assert sorted(heads) == [(-3, 0b11), (-2, 0b1), (2, 0b11)]
    assert [bin(m).count("1") for m in masks] == [5, 2, 1]  # the deepest group stays whole
    assert _plan._group_heads(lc, rc, 8) == [(0, 0)]


def test_trees_larger_than_64_splits_per_sample_path():
    X, y = _data(n=4000, p=10, seed=4)
    booster = _train(X, y, rounds=5, num_leaves=90, min_data_in_leaf=3)
    assert parse_model(booster.model_to_string()).max_internal > 64
    _check(booster, _test_rows(X))


def test_categorical_splits_with_nan_negative_and_unseen_codes():
    X, y = _data(n=3000, p=8, seed=5, n_cat=2)
    booster = _train(X, y, num_leaves=31, categorical_feature=[6, 7], min_data_per_group=5,
                     cat_smooth=1.0)
    assert "cat_threshold" in booster.model_to_string()
    rows = _test_rows(X)
    rows[200:220, 7] = -1.0
    rows[220:240, 7] = 40.0  # beyond every bitset
    rows[240:260, 6] = 3.7  # truncated like LightGBM does
    _check(booster, rows)


def test_zero_as_missing_and_missing_type_none():
    X, y = _data(seed=6)
    X[:, 1][np.isnan(X[:, 1])] = 0.0
    for params in ({"zero_as_missing": True}, {"use_missing": False}):
        booster = _train(X, y, num_leaves=15, **params)
        mtypes = parse_model(booster.model_to_string()).missing_type
        assert (mtypes == (1 if "zero_as_missing" in params else 0)).any()
        _check(booster, _test_rows(X))


def test_single_leaf_trees_only_move_the_base_value():
    X, y = _data(n=500, seed=7)
    booster = _train(X, y, rounds=3, min_data_in_leaf=400)
    values, base = _check(booster, X)
    assert np.all(values == 0.0)
    assert base == pytest.approx(booster.predict(X[:1], raw_score=True)[0], abs=TOL)


def test_threads_agree_and_model_is_parsed_once():
    X, y = _data(n=3000, seed=8)
    booster = _train(X, y, num_leaves=31)
    v1, b1 = tree_shap(booster, X, n_threads=1)
    v2, b2 = tree_shap(booster, X, n_threads=2)
    assert np.max(np.abs(v1 - v2)) <= 1e-12 and b1 == b2
    assert len(ts._CACHE) == 1


def test_regression_objective_and_empty_input():
    X, y = _data(seed=9)
    booster = _train(X, X[:, 0] * 2.0 + y, objective="regression", num_leaves=15)
    _check(booster, X)
    values, base = tree_shap(booster, X[:0])
    assert values.shape == (0, X.shape[1])
    assert base == pytest.approx(booster.predict(X[:1], pred_contrib=True)[0, -1], abs=TOL)


def test_linear_trees_are_refused_multiclass_falls_back_with_a_log(caplog):
    X, y = _data(n=800, seed=10, nan_share=0.0)
    booster = _train(X, y, rounds=5, linear_tree=True, num_leaves=7)
    with pytest.raises(LinearTreesError):
        parse_model(booster.model_to_string())
    with pytest.raises(ValueError, match="linear trees"):
        tree_shap(booster, X)
    y3 = (X[:, 0] > 0).astype(int) + (X[:, 1] > 2).astype(int)
    multi = _train(X, y3, rounds=3, num_leaves=7, objective="multiclass", num_class=3)
    with pytest.raises(UnsupportedModel, match="multiclass") as info:
        parse_model(multi.model_to_string())
    assert not isinstance(info.value, LinearTreesError)
    with caplog.at_level(logging.INFO, logger="riskmodel.explain._treeshap"):
        values, base = tree_shap(multi, X)
    assert "multiclass" in caplog.text
    np.testing.assert_array_equal(values, multi.predict(X, pred_contrib=True))
    assert np.isnan(base)


def test_bad_input_is_named():
    X, y = _data(n=300, seed=11)
    booster = _train(X, y, rounds=2, num_leaves=4)
    with pytest.raises(TypeError, match="'booster'"):
        tree_shap("model", X)
    with pytest.raises(ValueError, match="must have 8 columns"):
        tree_shap(booster, X[:, :3])
    with pytest.raises(TypeError, match="numpy.ndarray"):
        tree_shap(booster, pd.DataFrame(X))
    with pytest.raises(ValueError, match="'n_threads'"):
        tree_shap(booster, X, n_threads=0)


# ---------------------------------------------------------------- Explanation


def _explanation():
    idx = pd.Index(["P1", "P2", "P3"], name="pupil_id")
    values = pd.DataFrame(
        {
            "unexcused_lessons_28d": [0.9, -0.2, 0.05],
            "attendance_rate_28d": [0.4, 0.1, -0.3],
            "grade_mean_ytd": [-0.1, 0.6, 0.2],
            "sex_female": [2.0, 2.0, 2.0],
            "my_custom_score": [0.3, 0.0, 0.7],
        },
        index=idx,
    )
    data = pd.DataFrame(
        {
            "unexcused_lessons_28d": [14.0, 0.0, np.nan],
            "attendance_rate_28d": [0.8, 0.95, 1.0],
            "grade_mean_ytd": [7.2, 3.5, 5.0],
            "sex_female": [1.0, 0.0, 1.0],
            "my_custom_score": [2.5, 1.0, 3.0],
        },
        index=idx,
    )
    domains = {
        "unexcused_lessons_28d": "attendance",
        "attendance_rate_28d": "attendance",
        "grade_mean_ytd": "grades",
    }
    return Explanation(values, -2.5, data, domains)


def test_by_domain_sums_in_domain_order():
    ex = _explanation()
    bd = ex.by_domain()
    assert list(bd.columns) == ["attendance", "grades", "other"]
    assert bd.loc["P1", "attendance"] == pytest.approx(1.3)
    np.testing.assert_allclose(bd.sum(axis=1), ex.values.sum(axis=1), atol=1e-12)
    assert ex.top_domain().tolist() == ["other", "other", "other"]


def test_reasons_latvian_registry_text_sensitive_never_offered():
    ex = _explanation()
    r = ex.reasons(n_reasons=3, lang="lv")
    assert list(r.columns) == ["pupil_id", "rank", "feature", "domain", "value", "contribution", "text"]
    assert "sex_female" not in set(r["feature"])  # largest contribution, but sensitive
    p1 = r[r["pupil_id"] == "P1"].set_index("rank")
    assert p1.loc[1, "text"] == "Neattaisnoti kavējumi pēdējās 4 nedēļās: 14 stundas — paaugstina risku"
    assert p1.loc[1, "value"] == 14.0
    assert p1.loc[2, "feature"] == "attendance_rate_28d" and p1.loc[2, "value"] == pytest.approx(80.0)
    assert p1.loc[2, "text"].startswith("Stundu apmeklējums pēdējās 4 nedēļās: 80%")
    assert p1.loc[3, "text"] == "my custom score: 2.50 — paaugstina risku"  # fallback template
    assert (r["contribution"] > 0).all()
    # P2 has only two raising non-sensitive features
    assert r[r["pupil_id"] == "P2"]["rank"].tolist() == [1, 2]
    # P3's largest non-sensitive raising feature has no value: skipped by default ...
    p3 = r[r["pupil_id"] == "P3"]
    assert p3["feature"].tolist() == ["my_custom_score", "grade_mean_ytd"]  # not unexcused (0.05)
    # ... and offered, with the "no data" text, on request
    rm_ = ex.reasons(n_reasons=3, lang="lv", include_missing=True)
    p3m = rm_[rm_["pupil_id"] == "P3"]
    assert p3m["feature"].tolist() == ["my_custom_score", "grade_mean_ytd", "unexcused_lessons_28d"]
    assert p3m["text"].iloc[2] == "Neattaisnoti kavējumi pēdējās 4 nedēļās: nav datu — paaugstina risku"
    assert np.isnan(p3m["value"].iloc[2])
    # rows of P1/P2 (no missing values) are unchanged
    pd.testing.assert_frame_equal(r[r["pupil_id"] != "P3"].reset_index(drop=True),
                                  rm_[rm_["pupil_id"] != "P3"].reset_index(drop=True))


def test_reasons_k_is_a_silent_alias_of_n_reasons():
    import warnings

    ex = _explanation()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        by_alias = ex.reasons(k=2, lang="en")
    pd.testing.assert_frame_equal(by_alias, ex.reasons(n_reasons=2, lang="en"))
    pd.testing.assert_frame_equal(ex.reasons(2, "en"), by_alias)  # positional, as before
    assert by_alias.groupby("pupil_id").size().max() == 2
    pd.testing.assert_frame_equal(ex.reasons(n_reasons=2, k=2, lang="en"), by_alias)


def test_record_domains_are_the_vocabulary_without_context():
    from riskmodel.vocab import DOMAINS

    assert RECORD_DOMAINS == ("attendance", "grades", "engagement", "transitions")
    assert set(RECORD_DOMAINS) | {"context"} == set(DOMAINS)


def test_reasons_english_and_not_only_raising():
    ex = _explanation()
    r = ex.reasons(n_reasons=1, lang="en", only_raising=False)
    p3 = r[r["pupil_id"] == "P3"].iloc[0]
    assert p3["feature"] == "my_custom_score"
    r2 = ex.reasons(n_reasons=5, lang="en", only_raising=False)
    lowered = r2[(r2["pupil_id"] == "P3") & (r2["feature"] == "attendance_rate_28d")]["text"].iloc[0]
    assert lowered.endswith(" — lowers risk")
    assert reason_texts()["domains"]["engagement"]["lv"] == "Ģimenes iesaiste"


def test_reasons_qualify_a_good_change_that_still_raises_risk():
    """A rise in grades smaller than the typical pupil's raises risk: say so, not a contradiction."""
    idx = pd.Index(["up", "down", "flat", "up_lowers", "down_lowers", "gap"], name="pupil_id")
    values = pd.DataFrame({"grade_trend_ytd": [0.4, 0.6, 0.2, -0.3, -0.1, 0.5],
                           "attendance_trend_28d": [0.0] * 5 + [0.3]}, index=idx)
    data = pd.DataFrame({"grade_trend_ytd": [0.17, -0.4, 0.0, 0.5, -0.05, np.nan],
                         "attendance_trend_28d": [0.0] * 5 + [0.02]}, index=idx)
    ex = Explanation(values, -3.0, data, {"grade_trend_ytd": "grades",
                                          "attendance_trend_28d": "attendance"})
    en = ex.reasons(n_reasons=1, lang="en", only_raising=False).set_index("pupil_id")["text"]
    assert en["up"] == ("Change in grades this school year: +0.17 points per month, "
                        "a smaller rise than usual — raises risk")
    assert en["down"] == "Change in grades this school year: -0.40 points per month — raises risk"
    assert en["flat"] == "Change in grades this school year: +0.00 points per month — raises risk"
    assert en["up_lowers"] == "Change in grades this school year: +0.50 points per month — lowers risk"
    assert en["down_lowers"] == ("Change in grades this school year: -0.05 points per month, "
                                 "a smaller fall than usual — lowers risk")
    assert en["gap"] == ("Change in attendance in the last 4 weeks: +2%, "
                         "a smaller rise than usual — raises risk")
    lv = ex.reasons(n_reasons=1, lang="lv").set_index("pupil_id")["text"]
    assert lv["up"].endswith(", mazāks kāpums nekā parasti — paaugstina risku")
    assert "parasti" not in lv["down"]


def _context_explanation():
    """Three pupils; for each the largest contribution is a context feature or a NaN value."""
    idx = pd.Index(["A", "B", "C"], name="pupil_id")
    cols = ["grade_level", "unexcused_lessons_28d", "grade_mean_ytd", "parent_logins_90d", "mine"]
    values = pd.DataFrame(
        [[1.5, 0.9, 0.4, 0.2, 0.1],     # context largest, then attendance
         [0.2, 1.1, -0.3, 0.5, -0.1],   # attendance largest but its value is NaN
         [2.0, -0.5, -0.2, -0.1, 0.05]],  # only context and the user's own feature raise
        index=idx, columns=cols,
    )
    data = pd.DataFrame(
        {"grade_level": [9, 7, 8], "unexcused_lessons_28d": [14.0, np.nan, 0.0],
         "grade_mean_ytd": [4.1, 6.0, 7.5], "parent_logins_90d": [1.0, 0.0, np.nan],
         "mine": [0.5, 0.2, 3.0]},
        index=idx,
    )
    domains = {"grade_level": "context", "unexcused_lessons_28d": "attendance",
               "grade_mean_ytd": "grades", "parent_logins_90d": "engagement"}
    return Explanation(values, -2.0, data, domains)  # "mine" has no domain: "other"


def test_reasons_skip_context_by_default_and_offer_it_on_request():
    ex = _context_explanation()
    r = ex.reasons(n_reasons=3, lang="en")
    assert "context" not in set(r["domain"])
    got = r.groupby("pupil_id")["feature"].agg(list).to_dict()
    assert got == {"A": ["unexcused_lessons_28d", "grade_mean_ytd", "parent_logins_90d"],
                   "B": ["parent_logins_90d"],  # NaN attendance skipped, the rest lower risk
                   "C": ["mine"]}  # features outside the registry stay eligible by default
    assert r.loc[r["pupil_id"] == "C", "domain"].tolist() == ["other"]
    assert r["rank"].tolist() == [1, 2, 3, 1, 1]  # k > eligible features: fewer rows
    # context allowed explicitly
    rc = ex.reasons(n_reasons=3, lang="en", domains=["context", "attendance", "grades", "engagement"])
    a = rc[rc["pupil_id"] == "A"]
    assert a["feature"].tolist() == ["grade_level", "unexcused_lessons_28d", "grade_mean_ytd"]
    assert a["contribution"].tolist() == [1.5, 0.9, 0.4]
    assert a["domain"].iloc[0] == "context" and a["value"].iloc[0] == 9.0
    assert a["text"].iloc[0].endswith(" — raises risk")
    assert rc[rc["pupil_id"] == "C"]["feature"].tolist() == ["grade_level"]  # "other" not named
    # only one domain
    rg = ex.reasons(n_reasons=5, lang="lv", domains=("grades",))
    assert rg["feature"].tolist() == ["grade_mean_ytd"] and rg["pupil_id"].tolist() == ["A"]
    # both switches: every raising non-sensitive feature, NaN ones included
    ra = ex.reasons(n_reasons=5, lang="en", include_missing=True,
                    domains=["attendance", "grades", "engagement", "transitions", "context", "other"])
    assert ra.groupby("pupil_id")["feature"].agg(list).to_dict()["B"] == [
        "unexcused_lessons_28d", "parent_logins_90d", "grade_level"]
    assert ra.groupby("pupil_id").size().to_dict() == {"A": 5, "B": 3, "C": 2}
    # the unit after {value} ("lessons") is dropped when there is no value
    assert ra.loc[(ra["pupil_id"] == "B") & (ra["rank"] == 1), "text"].iloc[0] == (
        "Unexcused absences in the last 4 weeks: no data — raises risk")
    # not only raising: the absolute ranking also skips NaN values and context by default
    rn = ex.reasons(n_reasons=2, lang="en", only_raising=False)
    assert rn[rn["pupil_id"] == "C"]["feature"].tolist() == ["unexcused_lessons_28d", "grade_mean_ytd"]
    assert rn[rn["pupil_id"] == "C"]["text"].iloc[0].endswith(": 0 lessons — lowers risk")
    assert rn[rn["pupil_id"] == "B"]["feature"].tolist() == ["parent_logins_90d", "grade_mean_ytd"]


def test_reasons_of_a_trained_model_match_a_per_pupil_reference():
    """A small LightGBM model whose strongest features are a context one and a NaN-rich one."""
    rng = np.random.default_rng(5)
    n = 800
    grade_level = rng.integers(1, 13, n).astype(float)
    unexcused = rng.poisson(3.0, n).astype(float)
    unexcused[rng.random(n) < 0.3] = np.nan  # missing for 30 %: missingness raises risk
    gmean = np.round(rng.uniform(3, 9, n), 1)
    logit = (0.5 * (grade_level - 6) + 0.4 * np.nan_to_num(unexcused, nan=8.0) - 0.3 * (gmean - 6) - 2)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    cols = ["grade_level", "unexcused_lessons_28d", "grade_mean_ytd"]
    X = np.column_stack([grade_level, unexcused, gmean])
    booster = _train(X, y, rounds=40, num_leaves=7)
    values, base = tree_shap(booster, X)
    idx = pd.Index([f"P{i:03d}" for i in range(n)], name="pupil_id")
    ex = Explanation(pd.DataFrame(values, index=idx, columns=cols), base,
                     pd.DataFrame(X, index=idx, columns=cols),
                     {"grade_level": "context", "unexcused_lessons_28d": "attendance",
                      "grade_mean_ytd": "grades"})
    v = values
    # the situation the defaults are for: context or NaN features lead many pupils' reasons
    lead = np.argmax(v, axis=1)
    assert (lead == 0).sum() > 50
    assert ((lead == 1) & np.isnan(unexcused)).sum() > 20
    for include_missing, domains in [(False, None), (True, None),
                                     (False, ["context", "grades"]),
                                     (True, ["attendance", "grades", "context"])]:
        r = ex.reasons(n_reasons=2, lang="en", include_missing=include_missing, domains=domains)
        allowed = {"attendance", "grades"} if domains is None else set(domains)
        expected = []
        for i in range(n):  # per-pupil reference, the slow obvious way
            cand = [(v[i, j], j) for j in range(3)
                    if v[i, j] > 0 and ex._domains()[j] in allowed
                    and (include_missing or not np.isnan(X[i, j]))]
            cand.sort(key=lambda t: -t[0])
            expected += [(idx[i], rank + 1, cols[j]) for rank, (_, j) in enumerate(cand[:2])]
        assert list(zip(r["pupil_id"], r["rank"], r["feature"])) == expected
        if not include_missing:
            assert not r["value"].isna().any()
            assert not r["text"].str.contains("no data").any()
        if domains is None:
            assert "grade_level" not in set(r["feature"])


def test_reasons_validate_parameters():
    ex = _explanation()
    with pytest.raises(InvalidParameterError, match="The 'n_reasons' parameter of reasons must be an int >= 1"):
        ex.reasons(n_reasons=0)
    with pytest.raises(InvalidParameterError, match="The 'k' parameter of reasons must be an int >= 1"):
        ex.reasons(k=0)
    with pytest.raises(InvalidParameterError, match="alias of 'n_reasons'"):
        ex.reasons(n_reasons=2, k=4)
    with pytest.raises(InvalidParameterError, match="'only_raising'"):
        ex.reasons(only_raising="no")
    with pytest.raises(ValueError, match="'lang'"):
        ex.reasons(lang="de")
    with pytest.raises(ValueError, match=r"'domains'.*'attendance', 'grades', 'engagement', "
                                         r"'transitions', 'context', 'other'.*'school'"):
        ex.reasons(domains=["grades", "school"])
    with pytest.raises(ValueError, match="'domains'"):
        ex.reasons(domains=[])
    with pytest.raises(TypeError, match="'domains'"):
        ex.reasons(domains="grades")  # a bare string is not a list of domains
    with pytest.raises(TypeError, match="'domains'"):
        ex.reasons(domains=[1])
    with pytest.raises(TypeError, match="'include_missing'"):
        ex.reasons(include_missing="yes")
    with pytest.raises(ValueError, match="same index"):
        Explanation(ex.values, 0.0, ex.data.iloc[:2], {})


def test_explanation_from_tree_shap_shap_and_plots():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, y = _data(n=600, p=5, seed=12)
    booster = _train(X, y, rounds=10, num_leaves=7)
    values, base = tree_shap(booster, X)
    cols = ["unexcused_lessons_28d", "grade_mean_ytd", "attendance_rate_28d", "a", "b"]
    idx = pd.Index([f"P{i}" for i in range(len(X))], name="pupil_id")
    ex = Explanation(pd.DataFrame(values, index=idx, columns=cols), base,
                     pd.DataFrame(X, index=idx, columns=cols),
                     {"unexcused_lessons_28d": "attendance", "grade_mean_ytd": "grades"})
    np.testing.assert_allclose(ex.by_domain().sum(axis=1) + ex.base_value,
                               booster.predict(X, raw_score=True), atol=TOL)
    sx = ex.to_shap()
    assert sx.values.shape == values.shape and sx.base_values[0] == base
    np.testing.assert_array_equal(sx.values, values)
    # importance by domain: bar widths are the mean |domain sum|, the largest on top
    expected = ex.by_domain().abs().mean(axis=0).sort_values()
    disp = ex.plot_importance(by="domain")
    assert isinstance(disp, ImportanceDisplay) and disp.figure_ is disp.ax_.figure
    assert [t.get_text() for t in disp.ax_.get_yticklabels()] == list(expected.index)
    np.testing.assert_allclose([p.get_width() for p in disp.ax_.patches], expected.to_numpy())
    # drawing on given axes returns the same display shape, on those axes
    fig, given = plt.subplots()
    assert ex.plot_importance(by="feature", ax=given, max_display=2).ax_ is given
    top2 = ex.values.abs().mean(axis=0).sort_values(ascending=False).index[:2]
    assert [t.get_text() for t in given.get_yticklabels()] == list(top2[::-1])
    # beeswarm, 3 rows: the 2 most important features (by mean |value|) and one row summing the rest
    bees = ex.plot_beeswarm(max_display=3)
    assert isinstance(bees, BeeswarmDisplay)
    order = ex.values.abs().mean(axis=0).sort_values(ascending=False).index
    labels = [t.get_text() for t in bees.ax_.get_yticklabels()]
    assert labels == ["Sum of 3 other features", order[1], order[0]]
    # waterfall: pupil P3's own contributions, every feature named on the axis
    fall = ex.plot_waterfall("P3")
    assert isinstance(fall, WaterfallDisplay) and fall.figure_ is fall.ax_.figure
    np.testing.assert_array_equal(fall.shap_values_.values, ex.values.loc["P3"].to_numpy())
    shown = {t.get_text().split(" = ")[-1].strip() for t in fall.figure_.axes[0].get_yticklabels()}
    assert set(cols) <= shown
    with pytest.raises(ValueError, match="'by'"):
        ex.plot_importance(by="school")
    with pytest.raises(ValueError, match="'pupil_id'.*'P9999'"):
        ex.plot_waterfall("P9999")
    plt.close("all")

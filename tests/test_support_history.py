"""The synthetic system's support history, roster and true support effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import riskmodel as rm
from riskmodel._checks import InvalidParameterError
from riskmodel.datasets import _synthetic
from riskmodel.datasets._params import Params
from riskmodel.datasets._support import SIM_KINDS, response

KW = dict(n_pupils=2_000, n_years=2, random_state=7)


@pytest.fixture(scope="module")
def world():
    return rm.datasets.make_school_system(**KW)


@pytest.fixture(scope="module")
def at_start(world):
    """Each support row with the enrolment open on its start date."""
    s = world.tables.support.reset_index(drop=True)
    en = world.tables.enrolments
    m = s.reset_index().merge(en, on="pupil_id", suffixes=("", "_en"))
    m = m[(m["start_date_en"] <= m["start_date"]) & (m["end_date_en"] >= m["start_date"])]
    m = m.sort_values("start_date_en").drop_duplicates("index", keep="last")
    assert len(m) == len(s)  # every support starts during an enrolment
    return m.set_index("index").sort_index()


def test_table_and_roster_structure(world):
    s, r = world.tables.support, world.resources
    assert list(s.columns) == ["pupil_id", "start_date", "end_date", "kind", "resource_id"]
    assert list(r.columns) == ["resource_id", "kind", "municipality_id", "school_id",
                               "capacity", "specialty", "cost_per_pupil", "available_from",
                               "available_to"]
    assert r["resource_id"].is_unique
    assert set(s["resource_id"].astype(str)) <= set(r["resource_id"])
    kind_of = r.set_index("resource_id")["kind"]
    assert (kind_of.loc[s["resource_id"].astype(str)].to_numpy() == s["kind"].astype(str)).all()
    assert set(s["kind"].astype(str)) == set(SIM_KINDS)
    assert (s["start_date"] <= s["end_date"]).all()
    # every support starts on the first school day of a month (the referral meeting)
    assert set(s["start_date"]) <= set(world.as_of_dates)
    # more mentors in the second year, none removed
    assert (r.loc[r["kind"] == "mentor", "available_from"].dt.year == 2023).sum() > 0
    assert r["available_to"].isna().all()


def test_programme_rules_hold(world, at_start):
    s = world.tables.support
    pupils = world.tables.pupils.set_index("pupil_id")
    birth = pupils.loc[s["pupil_id"].astype(str), "birth_date"].to_numpy()
    kind = s["kind"].astype(str).to_numpy()
    mentor = kind == "mentor"
    thirteen = pd.DatetimeIndex(birth[mentor]) + pd.DateOffset(years=13)
    assert (thirteen <= pd.DatetimeIndex(s["start_date"].to_numpy()[mentor])).all()
    grade = at_start["grade"].to_numpy()
    assert np.isin(grade[kind == "literacy"], [1, 2, 3]).all()
    # subject: the pupil finished grade 9 with a liecība before the start
    en = world.tables.enrolments
    liec = en[en["end_reason"] == "completed_liecība"].groupby("pupil_id", observed=True)[
        "end_date"].min()
    sub = s[kind == "subject"]
    assert len(sub) > 0
    first_liec = liec.reindex(sub["pupil_id"].astype(str)).to_numpy()
    assert (first_liec < sub["start_date"].to_numpy()).all()
    # local: same municipality; support staff at the pupil's school
    r = world.resources.set_index("resource_id")
    res = r.loc[s["resource_id"].astype(str)]
    assert (res["municipality_id"].to_numpy() == at_start["municipality_id"].astype(str)).all()
    staff = kind == "support_staff"
    assert (res["school_id"].to_numpy()[staff] == at_start["school_id"].astype(str)
            .to_numpy()[staff]).all()
    # support ends no later than the enrolment it started in
    assert (s["end_date"].to_numpy() <= at_start["end_date_en"].to_numpy()).all()


def test_capacity_is_never_exceeded(world):
    s, r = world.tables.support, world.resources.set_index("resource_id")
    for d in world.as_of_dates:
        on = s[(s["start_date"] <= d) & (s["end_date"] >= d)]
        load = on.groupby(on["resource_id"].astype(str)).size()
        assert (load <= r.loc[load.index, "capacity"]).all(), d


def test_pumpurs_like_scale_durations_and_several_kinds(world):
    s, en = world.tables.support, world.tables.enrolments
    year = s["start_date"].dt.year - (s["start_date"].dt.month < 9)
    for y in (2022, 2023):
        share = s.loc[year == y, "pupil_id"].nunique() / en.loc[
            en["school_year"] == y, "pupil_id"].nunique()
        assert 0.06 <= share <= 0.16, (y, share)
    days = (s["end_date"] - s["start_date"]).dt.days
    mean = days.groupby(s["kind"].astype(str)).mean()
    assert mean["mentor"] > mean["literacy"] > mean["subject"]
    assert 60 <= mean["mentor"] <= 190 and 20 <= mean["subject"] <= 62
    assert days.max() <= 6 * 31
    per_pupil_year = s.groupby([s["pupil_id"].astype(str), year])["kind"].nunique()
    assert (per_pupil_year >= 2).sum() > 0  # a pupil may have several kinds


def test_same_seed_same_history_bit_for_bit():
    kw = dict(n_pupils=400, n_years=2)
    a = rm.datasets.make_school_system(random_state=3, **kw)
    b = rm.datasets.make_school_system(random_state=3, **kw)
    c = rm.datasets.make_school_system(random_state=4, **kw)
    pd.testing.assert_frame_equal(a.tables.support, b.tables.support)
    pd.testing.assert_frame_equal(a.resources, b.resources)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert not a.tables.support.equals(c.tables.support)


def test_bad_support_effects_is_a_typed_error():
    with pytest.raises(InvalidParameterError, match="support_effects"):
        rm.datasets.make_school_system(n_pupils=300, n_years=1, support_effects="some")


# ----------------------------------------------------------------- effects
def _capture_latent(monkeypatch, mode, **kw):
    """Run the generator and keep the first year's latent state X (month, pupil, process)."""
    seen = []
    real = _synthetic._attendance

    def spy(rng, P, pop, span, X, cal, out):
        if not seen:
            seen.append(X.copy())
        return real(rng, P, pop, span, X, cal, out)

    monkeypatch.setattr(_synthetic, "_attendance", spy)
    world = rm.datasets.make_school_system(support_effects=mode, **kw)
    return world, seen[0]


def test_latent_shift_is_what_the_parameters_say(monkeypatch):
    """September is simulated from the same draws in every world (the support has its
    own stream), so the latent difference there is exactly the support's shift."""
    kw = dict(n_pupils=1_500, n_years=1, random_state=5)
    _, x_none = _capture_latent(monkeypatch, "none", **kw)
    w_uni, x_uni = _capture_latent(monkeypatch, "uniform", **kw)
    w_het, x_het = _capture_latent(monkeypatch, "heterogeneous", **kw)
    P = Params()
    s = w_uni.tables.support
    sept = s[s["start_date"] == w_uni.as_of_dates[0]]
    pd.testing.assert_frame_equal(sept.reset_index(drop=True), w_het.tables.support[
        w_het.tables.support["start_date"] == w_het.as_of_dates[0]].reset_index(drop=True))
    code = sept["pupil_id"].cat.codes.to_numpy()
    kind = sept["kind"].astype(str).to_numpy()
    d_uni = (x_none[0] - x_uni[0]).astype(np.float64)
    d_het = (x_none[0] - x_het[0]).astype(np.float64)
    untouched = np.setdiff1d(np.arange(x_none.shape[1]), code)
    assert np.abs(d_uni[untouched, :3]).max() == 0.0
    assert np.abs(d_het[untouched, :3]).max() == 0.0
    total = np.zeros((len(code), 3))  # a pupil may start several kinds at once
    for k, name in enumerate(SIM_KINDS):
        total[kind == name] += np.asarray(P.effect_max[k]) * P.uniform_response[k]
    per_pupil = pd.DataFrame(total).groupby(code).sum().to_numpy()
    uniq = np.unique(code)
    np.testing.assert_allclose(d_uni[uniq, :3], per_pupil, atol=1e-5)  # X is float32
    # heterogeneous: a mentor lowers attendance disengagement most where it is a
    # moderate difficulty, not at all where there is none
    mentor = uniq[np.isin(uniq, code[kind == "mentor"])
                  & ~np.isin(uniq, code[kind == "support_staff"])]
    assert len(mentor) >= 10
    dA = d_het[mentor, 0]
    assert (dA >= -1e-6).all() and dA.max() <= P.effect_max[0][0] + 1e-5
    assert dA.min() < 0.01 * P.effect_max[0][0] < 0.2 * P.effect_max[0][0] < dA.max()
    assert (dA < 0.01 * P.effect_max[0][0]).mean() > 0.2


def test_response_rises_then_falls():
    P = Params()
    m = np.array([0.0, 0.3, P.response_peak, 3 * P.response_peak, 5 * P.response_peak])
    r = response(P, m)
    assert r[0] == 0.0 and r[2] == pytest.approx(1.0)
    assert r[1] < 0.1 and r[3] < 0.1 and r[4] < 0.001


def test_truth_effects_none_world_zero_and_eligibility():
    w = rm.datasets.make_school_system(n_pupils=1_000, n_years=2, random_state=2,
                                       support_effects="none")
    tr = w.truth
    cols = [f"effect_{k}" for k in SIM_KINDS]
    vals = tr[cols].to_numpy()
    assert (vals[~np.isnan(vals)] == 0.0).all()
    # eligibility: mentors from age 13, literacy only in grades 1-3, subject after a liecība
    birth = w.tables.pupils.set_index("pupil_id").loc[tr["pupil_id"].astype(str), "birth_date"]
    age13 = (pd.DatetimeIndex(birth.to_numpy()) + pd.DateOffset(years=13)) <= pd.DatetimeIndex(
        tr["as_of"].to_numpy())
    assert not tr.loc[~age13, "effect_mentor"].notna().any()
    assert tr.loc[age13, "effect_mentor"].notna().mean() > 0.9  # the rest: mentored already
    assert tr["effect_support_staff"].notna().mean() > 0.95
    first_year = tr["as_of"] < pd.Timestamp("2023-09-01")
    assert tr.loc[first_year, "effect_subject"].isna().all()  # no liecība history yet
    assert tr.loc[~first_year, "effect_subject"].notna().sum() > 0


def test_truth_effects_heterogeneous_as_the_mechanism_says(world):
    tr = world.truth
    cols = [f"effect_{k}" for k in SIM_KINDS]
    vals = tr[cols].to_numpy()
    ok = ~np.isnan(vals)
    assert (vals[ok] >= -1e-12).all()
    assert (vals <= tr[["p_leave"]].to_numpy() + 1e-12)[ok].all()
    m = tr.dropna(subset=["effect_mentor"])
    by = m.groupby("driver_domain", observed=True)
    mean = by["effect_mentor"].mean()
    rel = (m["effect_mentor"] / m["p_leave"]).groupby(m["driver_domain"], observed=True).mean()
    # a mentor helps attendance-driven pupils more than grades-driven ones
    assert mean["attendance"] > 1.5 * mean["grades"]
    assert rel["attendance"] > 2 * rel["grades"]
    # near zero for many, and risk is not benefit: the very highest-risk pupils gain
    # less (relative and absolute) than those just below them
    assert (m["effect_mentor"] < 1e-4).mean() > 0.3
    q = m["p_leave"].rank(pct=True)
    high, top = (q > 0.9) & (q <= 0.98), q > 0.995
    assert (m.loc[top, "effect_mentor"] / m.loc[top, "p_leave"]).mean() < 0.5 * (
        m.loc[high, "effect_mentor"] / m.loc[high, "p_leave"]).mean()
    # literacy moves academic difficulty only: grades-driven pupils gain most
    lit = tr.dropna(subset=["effect_literacy"]).groupby("driver_domain", observed=True)[
        "effect_literacy"].mean()
    assert lit["grades"] > 2 * lit["attendance"]
    # a subject consultation raises the chance that a liecība pupil continues
    assert tr["effect_subject"].mean() > 5 * tr["effect_mentor"].mean()


def test_uniform_world_same_shift_for_everyone():
    """Under "uniform", pupils without any attendance or family difficulty gain from
    a mentor as well (the same latent shift), unlike the heterogeneous world."""
    kw = dict(n_pupils=1_000, n_years=1, random_state=2)
    uni = rm.datasets.make_school_system(support_effects="uniform", **kw).truth
    het = rm.datasets.make_school_system(support_effects="heterogeneous", **kw).truth
    first = uni["as_of"] == uni["as_of"].min()
    u = uni.loc[first, "effect_mentor"].dropna()
    h = het.loc[first].set_index("pupil_id")["effect_mentor"].reindex(u.index.map(
        uni.loc[first, "pupil_id"]))
    rel_u = u.to_numpy() / uni.loc[u.index, "p_leave"].to_numpy()
    assert (rel_u > 0).all()
    assert (h.to_numpy() < 1e-6).mean() > 0.2  # heterogeneous: no difficulty, no effect
    assert np.std(rel_u) < 0.5 * np.mean(rel_u)

"""Support history of the synthetic school system (private).

Schools refer pupils month by month, the roster's places limit who is served,
and support lowers the latent processes (see :class:`._params.Params`, section
"support", for every coefficient). This module holds

- the roster (:func:`_build_roster`, :func:`_add_mentors`): the first year's is
  :func:`riskmodel.allocation.make_resources` on the pupils of the first
  September (risk = the generator's ``p_leave``), without family education, which
  the generator does not simulate; later years add mentors;
- the state of ongoing support (:class:`_Support`): per kind, the last active
  school month, the shift of the latent processes, the resource, and the
  residual effect of support that has ended (it decays by ``support_carry`` a
  month);
- the referral of one month (:meth:`_Support.refer`), drawn from its own random
  stream so that the main stream of the simulation is untouched;
- the offsets of the latent mean path that the oracle needs (:func:`_path`).

Support starts on the first school day of a month (the month's referral meeting)
and is active for whole school months, cut at the end of May and ended early on
the day the pupil's enrolment ends (leaving or transfer).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from ..allocation._resources import CASELOAD, COST_EUR, DEFAULT_COVERAGE, _apportion, make_resources
from ..vocab import DOMAINS
from ._params import Params
from ._population import G

__all__ = ["SIM_KINDS", "SUPPORT_EFFECTS", "_Support", "response", "shift_of", "boost_of"]

#: the kinds the generator simulates (family education is not simulated)
SIM_KINDS = ("mentor", "literacy", "subject", "support_staff")
MENTOR, LITERACY, SUBJECT, STAFF = range(4)
SUPPORT_EFFECTS = ("heterogeneous", "uniform", "none")
_MENTOR_CASELOAD = 25


def response(P: Params, m: np.ndarray) -> np.ndarray:
    """Response to support of a latent excess ``m >= 0``: 0 at 0, 1 at the peak, then falling."""
    r = np.maximum(m, 0.0) / P.response_peak
    return (r * np.exp(1.0 - r)) ** P.response_power


def shift_of(P: Params, mode: str, k: int, mu: np.ndarray) -> np.ndarray:
    """Reduction of the latent A, G, F processes (n, 3) while support of kind ``k`` is active."""
    eff = np.asarray(P.effect_max[k], dtype=np.float64)
    if mode == "none":
        return np.zeros((len(mu), 3))
    if mode == "uniform":
        return np.tile(eff * P.uniform_response[k], (len(mu), 1))
    return eff * response(P, mu)


def boost_of(P: Params, mode: str, mu_g: np.ndarray) -> np.ndarray:
    """Logit boost of continuing after grade 9 from a subject consultation this year."""
    if mode == "none":
        return np.zeros(len(mu_g))
    if mode == "uniform":
        return np.full(len(mu_g), P.subject_continue * P.uniform_response[SUBJECT])
    return P.subject_continue * response(P, mu_g)


def boosted(p: np.ndarray, boost: np.ndarray) -> np.ndarray:
    """``p`` with ``boost`` added on the logit scale (``p`` strictly inside (0, 1))."""
    return np.where(boost > 0, expit(logit(np.clip(p, 1e-12, 1 - 1e-12)) + boost), p)


def _path(P: Params, mi: int, shift: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Offsets (n, 12, 3) of the next 12 calendar months of support active to month ``end``.

    Month ``j`` is calendar month ``mi + j`` counted from September; the support is
    active (full shift) up to ``end`` and decays by ``support_carry`` a month after.
    """
    cm = mi + np.arange(12)
    lag = cm[None, :] - np.asarray(end)[:, None]
    factor = np.where(lag <= 0, 1.0, P.support_carry ** np.maximum(lag, 0))
    return factor[:, :, None] * shift[:, None, :]


def _age_at_least(birth: np.ndarray, day: int, years: int) -> np.ndarray:
    """Pupils (birth in days since 1970) who have turned ``years`` by ``day``."""
    b = birth.astype("datetime64[D]")
    by = b.astype("datetime64[Y]").astype(np.int64) + 1970
    bm = b.astype("datetime64[M]").astype(np.int64) % 12
    bd = (b - b.astype("datetime64[M]")).astype(np.int64)
    d = np.datetime64(int(day), "D")
    dy = int(d.astype("datetime64[Y]").astype(np.int64)) + 1970
    dm = int(d.astype("datetime64[M]").astype(np.int64)) % 12
    dd = int((d - d.astype("datetime64[M]")).astype(np.int64))
    before = (dm < bm) | ((dm == bm) & (dd < bd))  # birthday not yet reached this year
    return dy - by - before >= years


def _build_roster(P, n_pupils, geo, pop, idx, p_leave, liec, day, rng) -> pd.DataFrame:
    """The first year's roster: make_resources on the enrolled pupils (risk = p_leave)."""
    age = (day - pop.birth[idx]) / 365.25
    pupils = pd.DataFrame({
        "pupil_id": idx.astype(str),
        "municipality_id": geo.mun_name[geo.school_mun[pop.school[idx]]],
        "school_id": geo.school_id[pop.school[idx]], "age": age, "grade": pop.grade[idx],
        "risk": p_leave, "liecība": liec,
    })
    n_mun = int(pd.unique(pupils["municipality_id"]).size)
    want = int(round(P.mentors_national * n_pupils / 200_000))
    n_mentors = max(want, n_mun)
    # small systems: one mentor per municipality (the programme's rule) with the
    # caseload that keeps the national share of mentor places
    caseload = _MENTOR_CASELOAD if want >= n_mun else max(
        2, int(round(_MENTOR_CASELOAD * want / n_mun)))
    roster = make_resources(pupils, n_mentors=n_mentors, mentor_caseload=caseload,
                            random_state=int(rng.integers(2**31)))
    roster = roster[roster["kind"] != "family"].reset_index(drop=True)
    roster["available_from"] = pd.Timestamp(np.datetime64(int(day), "D"))
    return roster


def _add_resources(P, roster, kind, n_new, demand, geo, pop, idx, day, rng) -> pd.DataFrame:
    """``n_new`` resources of ``kind`` placed by municipality in proportion to ``demand``
    (a bool over the pupils ``idx``), with make_resources' specialties and costs."""
    if n_new <= 0 or not demand.any():
        return roster
    mun = geo.school_mun[pop.school[idx]]
    per = _apportion(n_new, np.bincount(mun[demand], minlength=len(geo.mun_name)), 0)
    place = np.repeat(np.arange(len(geo.mun_name)), per)
    spec = np.where(rng.random(len(place)) < 0.6,
                    rng.choice(np.asarray(DOMAINS, dtype=object), len(place)), None)
    first = len(roster)
    same = roster["kind"] == kind
    caseload = int(roster.loc[same, "capacity"].iloc[0]) if same.any() else CASELOAD[kind]
    new = pd.DataFrame({
        "resource_id": [f"{kind}-{first + i:05d}" for i in range(len(place))],
        "kind": kind, "municipality_id": geo.mun_name[place], "school_id": None,
        "capacity": caseload, "specialty": spec,
        "cost_per_pupil": np.round(COST_EUR[kind] * rng.uniform(0.8, 1.2, len(place)), 2),
        "available_from": pd.Timestamp(np.datetime64(int(day), "D")),
    })
    return pd.concat([roster, new], ignore_index=True)


def _grow_roster(P, roster, y, n_mentors0, geo, pop, idx, p_leave, liec, day, rng):
    """Year ``y``'s additions: mentors up to ``n_mentors0 * mentor_growth**y`` (placed by
    risk-group pupils aged 13+), and subject consultants for half of the pupils with a
    liecība (the first year has none: the history starts with the simulation)."""
    have = int((roster["kind"] == "mentor").sum())
    age13 = ((day - pop.birth[idx]) / 365.25) >= 13
    roster = _add_resources(P, roster, "mentor", int(round(n_mentors0 * P.mentor_growth**y)) - have,
                            (p_leave >= 0.10) & age13, geo, pop, idx, day, rng)
    places = int(roster.loc[roster["kind"] == "subject", "capacity"].sum())
    short = DEFAULT_COVERAGE["subject"] * liec.sum() - places
    n_sub = int(np.ceil(short / CASELOAD["subject"])) if short > 0 else 0
    return _add_resources(P, roster, "subject", n_sub, liec, geo, pop, idx, day, rng)


class _Support:
    """Ongoing support of every pupil, the roster's load and the rows of the history."""

    def __init__(self, P: Params, mode: str, geo, rng):
        self.P, self.mode, self.rng = P, mode, rng
        self.n = 0
        self.end = np.empty((4, 0), dtype=np.int64)  # last active school month, -1 none
        self.shift = np.empty((4, 0, 3))
        self.res = np.empty((4, 0), dtype=np.int64)
        self.row = np.empty((4, 0), dtype=np.int64)
        self.resid = np.empty((0, 3))
        self.boost = np.empty(0)
        self.had_liec = np.empty(0, dtype=bool)
        self.re_school = rng.normal(0.0, P.referral_school_sd, geo.n_schools)
        self.re_mun = rng.normal(0.0, P.referral_mun_sd, len(geo.mun_name))
        self.roster = None
        self.r_kind = self.r_place = self.r_cap = self.load = None
        self.rows = {"pupil": [], "start": [], "kind": [], "res": []}
        self.row_end: list[int] = []

    def grow(self, n: int) -> None:
        add = n - self.n
        if add <= 0:
            return
        self.end = np.concatenate([self.end, np.full((4, add), -1)], axis=1)
        self.shift = np.concatenate([self.shift, np.zeros((4, add, 3))], axis=1)
        self.res = np.concatenate([self.res, np.full((4, add), -1)], axis=1)
        self.row = np.concatenate([self.row, np.full((4, add), -1)], axis=1)
        self.resid = np.concatenate([self.resid, np.zeros((add, 3))])
        self.boost = np.concatenate([self.boost, np.zeros(add)])
        self.had_liec = np.concatenate([self.had_liec, np.zeros(add, dtype=bool)])
        self.n = n

    def set_roster(self, roster: pd.DataFrame, geo) -> None:
        self.roster = roster
        kind = roster["kind"].to_numpy(dtype=object)
        self.r_kind = np.array([SIM_KINDS.index(k) for k in kind], dtype=np.int64)
        lookup = {name: i for i, name in enumerate(geo.mun_name)}
        mun = np.array([lookup[m] for m in roster["municipality_id"]], dtype=np.int64)
        s_lookup = {name: i for i, name in enumerate(geo.school_id)}
        school = np.array([s_lookup.get(s, -1) if isinstance(s, str) else -1
                           for s in roster["school_id"]], dtype=np.int64)
        # place: municipality for municipal resources, school (offset) for school staff
        self.r_place = np.where(school >= 0, len(geo.mun_name) + school, mun)
        self.r_cap = roster["capacity"].to_numpy(dtype=np.int64)
        old = self.load if self.load is not None else np.zeros(0, dtype=np.int64)
        self.load = np.concatenate([old, np.zeros(len(roster) - len(old), dtype=np.int64)])

    # ------------------------------------------------------------------ state
    def active(self, mi: int) -> np.ndarray:
        """(4, n) bool: support of each kind active in school month ``mi``."""
        return self.end >= mi

    def offset(self, mi: int) -> np.ndarray:
        """Reduction (n, 3) of the latent processes in school month ``mi``."""
        act = self.active(mi)
        return self.resid + (act[:, :, None] * self.shift).sum(axis=0)

    def base_path(self, mi: int, idx: np.ndarray) -> np.ndarray:
        """Offsets (len(idx), 12, 3) of the ongoing support of ``idx`` over the next 12 months."""
        out = np.zeros((len(idx), 12, 3))
        carry = self.P.support_carry ** np.arange(12)
        had = np.flatnonzero(self.resid[idx].any(axis=1))
        out[had] = self.resid[idx[had]][:, None, :] * carry[None, :, None]
        for k in range(4):
            end = self.end[k, idx]
            on = np.flatnonzero(end >= mi)
            if len(on):
                out[on] += _path(self.P, mi, self.shift[k, idx[on]], end[on])
        return out

    # --------------------------------------------------------------- referral
    def refer(self, mi: int, day: int, pop, geo, idx: np.ndarray, seen: np.ndarray) -> None:
        """Referrals of school month ``mi`` among the enrolled pupils ``idx``.

        ``seen`` (len(idx), 3): last month's latent A, G, F, what the records show.
        """
        P, rng = self.P, self.rng
        obs = seen + P.referral_noise_sd * rng.standard_normal(seen.shape)
        signal = (np.maximum(obs[:, 0], obs[:, 2]), obs[:, 1], obs[:, 1], obs.max(axis=1))
        school = pop.school[idx]
        re = self.re_school[school] + self.re_mun[geo.school_mun[school]]
        grade = pop.grade[idx]
        eligible = (
            _age_at_least(pop.birth[idx], day, 13), (grade >= 1) & (grade <= 3),
            self.had_liec[idx], np.ones(len(idx), dtype=bool),
        )
        mu = pop.mean_latent(idx)
        u_draw = rng.random((4, len(idx)))
        key_draw = rng.random((4, len(idx)))
        for k in range(4):
            p = expit(P.referral_intercept[k] + P.referral_slope[k] * signal[k] + re)
            ok = eligible[k] & (self.end[k, idx] < 0) & (u_draw[k] < p)
            cand = np.flatnonzero(ok)
            res_k = np.flatnonzero((self.r_kind == k) & (self.load < self.r_cap))
            if len(cand) == 0 or len(res_k) == 0:
                continue
            pid = idx[cand]
            place = np.where(k == STAFF, len(geo.mun_name) + school[cand],
                             geo.school_mun[school[cand]])
            free = self.r_cap[res_k] - self.load[res_k]
            slot_res = np.repeat(res_k, free)
            slot_place = self.r_place[slot_res]
            # match referred pupils and free places of the same place in random order
            s_ord = np.lexsort((rng.random(len(slot_res)), slot_place))
            slot_res, slot_place = slot_res[s_ord], slot_place[s_ord]
            c_ord = np.lexsort((key_draw[k, cand], place))
            pid, place, cand = pid[c_ord], place[c_ord], cand[c_ord]
            c_rank = _rank_within(place)
            s_first = np.searchsorted(slot_place, place, side="left")
            s_last = np.searchsorted(slot_place, place, side="right")
            got = s_first + c_rank < s_last
            if not got.any():
                continue
            pid, cand = pid[got], cand[got]
            res = slot_res[(s_first + c_rank)[got]]
            lo, hi = P.duration_months[k]
            months = rng.integers(lo, hi + 1, len(pid))
            self.end[k, pid] = np.minimum(mi + months - 1, 8)
            self.shift[k, pid] = shift_of(P, self.mode, k, mu[cand])
            self.res[k, pid] = res
            np.add.at(self.load, res, 1)
            if k == SUBJECT:
                self.boost[pid] = np.maximum(self.boost[pid],
                                             boost_of(P, self.mode, mu[cand, G]))
            self.row[k, pid] = len(self.row_end) + np.arange(len(pid))
            self.row_end.extend([-1] * len(pid))
            self.rows["pupil"].append(pid.astype(np.int32))
            self.rows["start"].append(np.full(len(pid), day, dtype=np.int64))
            self.rows["kind"].append(np.full(len(pid), k, dtype=np.int8))
            self.rows["res"].append(res)

    # ----------------------------------------------------------------- ending
    def stop(self, pids: np.ndarray, mi: int, end_days: np.ndarray) -> None:
        """Support of pupils whose enrolment ends in month ``mi`` ends that day."""
        for k in range(4):
            on = self.end[k, pids] >= mi
            for p, d in zip(pids[on], end_days[on], strict=True):
                self.row_end[self.row[k, p]] = int(d)
            self.end[k, pids[on]] = mi

    def month_end(self, mi: int, last_day: int) -> None:
        """Support whose last month is ``mi`` ends; its effect joins the decaying residual."""
        ended = self.end == mi
        for k in range(4):
            pids = np.flatnonzero(ended[k])
            if len(pids) == 0:
                continue
            self.resid[pids] += self.shift[k, pids]
            np.subtract.at(self.load, self.res[k, pids], 1)
            rows = self.row[k, pids]
            for r in rows:
                if self.row_end[r] < 0:
                    self.row_end[r] = last_day
            self.end[k, pids] = -1
            self.shift[k, pids] = 0.0
            self.res[k, pids] = -1
            self.row[k, pids] = -1
        self.resid *= self.P.support_carry

    def table_arrays(self):
        """pupil, start day, end day, kind code, resource index of every support row."""
        if not self.rows["pupil"]:
            z = np.zeros(0, dtype=np.int64)
            return z.astype(np.int32), z, z, z.astype(np.int8), z
        return (np.concatenate(self.rows["pupil"]), np.concatenate(self.rows["start"]),
                np.asarray(self.row_end, dtype=np.int64), np.concatenate(self.rows["kind"]),
                np.concatenate(self.rows["res"]))


def _rank_within(keys: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within runs of equal (sorted) ``keys``."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    start = np.r_[0, np.flatnonzero(keys[1:] != keys[:-1]) + 1]
    first = np.repeat(start, np.diff(np.r_[start, n]))
    return np.arange(n) - first

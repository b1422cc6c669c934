"""A plausible synthetic resources table for programme 4.2.3.1."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._checks import UNSET, check_int, check_real, renamed_param
from ..vocab import DOMAINS
from ._data import validate_pupils
from ._rules import KINDS, ProgrammeRules

#: typical yearly cost per pupil served (EUR) and caseload of each kind; rough
#: orders of magnitude for a synthetic plan, not programme figures
COST_EUR = {"mentor": 720.0, "literacy": 160.0, "subject": 200.0, "support_staff": 300.0,
            "family": 45.0}
CASELOAD = {"literacy": 20, "subject": 15, "support_staff": 20, "family": 30}
#: share of the eligible pupils the default numbers of other resources could serve
DEFAULT_COVERAGE = {"literacy": 0.15, "subject": 0.5, "support_staff": 0.3, "family": 0.3}


def _apportion(total: int, weights: np.ndarray, minimum: int) -> np.ndarray:
    """``minimum`` each, the rest proportional to ``weights`` (largest remainder)."""
    n = len(weights)
    base = np.full(n, minimum, dtype=np.int64)
    rest = total - base.sum()
    if rest <= 0 or n == 0:
        return base
    w = np.asarray(weights, dtype=float)
    w = w / w.sum() if w.sum() > 0 else np.full(n, 1.0 / n)
    quota = rest * w
    extra = np.floor(quota).astype(np.int64)
    short = rest - extra.sum()
    extra[np.argsort(-(quota - extra), kind="stable")[:short]] += 1
    return base + extra


def make_resources(pupils: pd.DataFrame, n_mentors: int = 117, mentor_caseload: int = 25,
                   random_state=0, *, n_literacy: int | None = None,
                   n_subject: int | None = None, n_support_staff: int | None = None,
                   n_family: int | None = None, specialist_share: float = 0.6,
                   rules: ProgrammeRules | None = None, seed=UNSET) -> pd.DataFrame:
    """Build a plausible resources table for the programme from a pupils table.

    - **mentors**: ``n_mentors`` with ``mentor_caseload`` places each, at least one
      per municipality (the programme's rule), the rest proportional to the
      municipality's mentor demand (risk-group pupils aged 13+);
    - **literacy** consultants (caseload 20), proportional to grade 1-3 pupils;
    - **subject** consultants (caseload 15), proportional to liecība pupils;
    - **support staff** (psychologist, social pedagogue, teacher's assistant;
      caseload 20), each tied to a school, schools drawn in proportion to their
      risk-group pupils;
    - **family** education events (30 families each), per municipality,
      proportional to risk-group pupils.

    Municipalities with no demand for a kind still get none of it, except
    mentors. About ``specialist_share`` of the resources have a specialty (a
    domain, drawn at random); the rest have none. ``cost_per_pupil`` is a
    typical yearly cost per pupil (mentor 720 EUR, literacy 160, subject 200,
    support staff 300, family 45) with +-20 % noise. When a count is None it is
    set so that the kind could serve about a fixed share of its eligible pupils
    (literacy 15 %, subject 50 %, support staff and family 30 % of risk-group
    demand).

    Parameters
    ----------
    pupils : DataFrame
        The pupils table of :func:`allocate`.
    n_mentors : int, default 117
        Number of mentors (117 in 2025; 300-400 planned by 2029).
    mentor_caseload : int, default 25
    random_state : int, numpy Generator or None, default 0
        Seed of the draws (placements, specialties, costs).
    n_literacy, n_subject, n_support_staff, n_family : int, optional
    specialist_share : float in [0, 1], default 0.6
    rules : ProgrammeRules, optional
        For the risk threshold and eligibility (defaults: programme 4.2.3.1).
    seed : int, optional
        Deprecated alias of ``random_state`` (removed in 0.3; a ``FutureWarning``).

    Returns
    -------
    DataFrame
        ``resource_id, kind, municipality_id, school_id, capacity, specialty,
        cost_per_pupil``.

    Examples
    --------
    >>> import pandas as pd
    >>> from riskmodel.allocation import make_resources
    >>> pupils = pd.DataFrame({"pupil_id": ["a", "b"], "municipality_id": ["M1", "M1"],
    ...                        "school_id": ["S1", "S1"], "age": [14, 8], "grade": [8, 2],
    ...                        "risk": [0.4, 0.2]})
    >>> make_resources(pupils, n_mentors=1)["kind"].tolist()
    ['mentor', 'literacy', 'support_staff', 'family']
    """
    func = "make_resources"
    random_state = renamed_param(seed, random_state, old="seed", new="random_state", func=func)
    rules = rules if rules is not None else ProgrammeRules()
    pup = validate_pupils(pupils, rules)
    munis = np.unique(pup["municipality_id"].to_numpy(dtype=object).astype(str))
    # the programme has at least one mentor per municipality
    check_int(n_mentors, "n_mentors", func, min_value=len(munis))
    check_int(mentor_caseload, "mentor_caseload", func, min_value=1)
    check_real(specialist_share, "specialist_share", func, low=0, high=1)
    rng = np.random.default_rng(random_state)
    m_code = np.searchsorted(munis, pup["municipality_id"].to_numpy(dtype=object).astype(str))
    risk_group = pup["risk"].to_numpy() >= rules.min_risk
    age, grade = pup["age"].to_numpy(), pup["grade"].to_numpy()
    lie = pup["liecība"].to_numpy(dtype=bool)

    def eligible(kind):
        rule = rules.kind_rule(kind)
        ok = np.ones(len(pup), dtype=bool)
        if rule.min_age is not None:
            ok &= age >= rule.min_age
        if rule.grades is not None:
            ok &= np.isin(grade, rule.grades)
        if rule.requires_liecība:
            ok &= lie
        if rule.requires_risk_group:
            ok &= risk_group
        return ok

    def need(kind):
        ok = eligible(kind)
        if kind in ("literacy", "subject"):  # demand counted over eligible pupils
            return ok
        return ok & risk_group

    counts = {"mentor": n_mentors, "literacy": n_literacy, "subject": n_subject,
              "support_staff": n_support_staff, "family": n_family}
    rows = []
    for kind in KINDS:
        demand_pupils = need(kind)
        n = counts[kind]
        if n is None:
            n = int(np.ceil(demand_pupils.sum() * DEFAULT_COVERAGE[kind] / CASELOAD[kind]))
        else:
            check_int(n, f"n_{kind}", func, min_value=0)
        if n == 0:
            continue
        caseload = mentor_caseload if kind == "mentor" else CASELOAD[kind]
        if kind == "support_staff":
            school = pup["school_id"].to_numpy(dtype=object).astype(str)
            key = pd.Series(demand_pupils).groupby([m_code, school]).sum()
            if key.sum() == 0:
                continue
            w = key.to_numpy(dtype=float)
            pick = rng.choice(len(key), size=n, p=w / w.sum())
            place_m = np.array([key.index[i][0] for i in pick])
            place_s = np.array([key.index[i][1] for i in pick], dtype=object)
        else:
            weights = np.bincount(m_code[demand_pupils], minlength=len(munis))
            if kind == "mentor":
                per = _apportion(n, weights, 1)
            else:
                if weights.sum() == 0:
                    continue
                per = _apportion(n, weights, 0)
            place_m = np.repeat(np.arange(len(munis)), per)
            place_s = np.full(len(place_m), None, dtype=object)
        specialist = rng.random(len(place_m)) < specialist_share
        spec = np.where(specialist, rng.choice(np.asarray(DOMAINS, dtype=object),
                                               len(place_m)), None)
        cost = np.round(COST_EUR[kind] * rng.uniform(0.8, 1.2, len(place_m)), 2)
        for i in range(len(place_m)):
            rows.append((f"{kind}-{len(rows):05d}", kind, munis[place_m[i]], place_s[i],
                         caseload, spec[i], cost[i]))
    return pd.DataFrame(rows, columns=["resource_id", "kind", "municipality_id", "school_id",
                                       "capacity", "specialty", "cost_per_pupil"])

"""Validation of the pupils and resources tables and their array form."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._checks import check_instance, check_option
from ..errors import DataValidationError
from ..vocab import DOMAINS
from ._rules import KINDS, ProgrammeRules

logger = logging.getLogger(__name__)

PUPIL_COLUMNS = ("pupil_id", "municipality_id", "school_id", "age", "grade", "risk")
RESOURCE_COLUMNS = ("resource_id", "kind", "municipality_id", "capacity")
#: index of the "no specialty" column of the share matrix
NEUTRAL = len(DOMAINS)


@dataclass
class Problem:
    """Validated allocation input as arrays (row i of every pupil array is pupil i)."""

    pupils: pd.DataFrame  # validated copy, RangeIndex, pupil_id column
    resources: pd.DataFrame  # validated copy, RangeIndex
    rules: ProgrammeRules
    objective: str
    munis: np.ndarray  # municipality labels; codes index into it
    schools: np.ndarray  # school labels
    p_muni: np.ndarray  # int64
    p_school: np.ndarray  # int64
    risk: np.ndarray  # float64
    eligible: np.ndarray  # bool (n_pupils, n_kinds)
    risk_group: np.ndarray  # bool
    share: np.ndarray  # float64 (n_pupils, len(DOMAINS) + 1), last column neutral
    r_kind: np.ndarray  # int64 index into KINDS
    r_muni: np.ndarray  # int64
    r_school: np.ndarray  # int64, -1 = any school of the municipality
    r_cap: np.ndarray  # int64
    r_spec: np.ndarray  # int64 index into DOMAINS, NEUTRAL = none
    r_cost: np.ndarray  # float64
    #: places of each (school, kind) already used by fixed (continuing) assignments
    school_used: np.ndarray | None = None
    #: benefit objective: value of each (pupil, kind) (the point estimate or the
    #: ``benefit_quantile`` bound); None otherwise (see :mod:`._benefit`)
    benefit: np.ndarray | None = None
    #: point estimates ``benefit_<kind>`` when the pupils table has them (NaN: none)
    benefit_point: np.ndarray | None = None
    #: per kind, what its values are: "benefit", "fit" or "risk"
    basis: tuple = ()
    #: kinds of the benefit objective allocated by "fit" instead: kind -> reason
    fallback: dict | None = None

    def values(self, p: np.ndarray, spec: np.ndarray, kind=None) -> np.ndarray:
        """Value of serving pupils ``p`` with resources of specialty ``spec`` (of ``kind``,
        an index into KINDS or an array of them; needed by the benefit objective)."""
        risk = self.risk[p]
        if self.objective == "risk":
            return risk.copy()
        w = self.rules.fit_weight
        fit = risk * (1.0 - w + w * self.share[p, spec])
        if self.benefit is None:
            return fit
        kind = np.broadcast_to(np.asarray(kind, dtype=np.int64), np.shape(p))
        by_benefit = np.array([b == "benefit" for b in self.basis], dtype=bool)[kind]
        return np.where(by_benefit, self.benefit[p, kind], fit)


def _examples(ids, values, n=3) -> list:
    return [(str(i), v if not isinstance(v, np.generic) else v.item()) for i, v in
            list(zip(ids, values))[:n]]


def _problem(table, column, mask, ids, values, message) -> dict:
    mask = np.asarray(mask, dtype=bool)
    return {
        "table": table,
        "column": column,
        "n_rows": int(mask.sum()),
        "examples": _examples(np.asarray(ids)[mask], np.asarray(values, dtype=object)[mask]),
        "message": message,
    }


def _raise(problems: list[dict]) -> None:
    if not problems:
        return
    lines = []
    for pr in problems:
        lines.append(
            f"table {pr['table']!r}, column {pr['column']!r}: {pr['message']} "
            f"({pr['n_rows']} rows; examples: {pr['examples']})"
        )
    raise DataValidationError("Invalid allocation input:\n  " + "\n  ".join(lines), problems)


def _is_empty(values: pd.Series) -> np.ndarray:
    """Missing or blank ids (vectorised; no per-row Python)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype("str")
    elif not pd.api.types.is_string_dtype(values.dtype) or values.dtype == object:
        values = values.astype("str").where(values.notna())
    return (values.isna() | (values.str.strip() == "")).to_numpy(dtype=bool)


def _to_float(raw: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(raw.dtype) or pd.api.types.is_numeric_dtype(raw.dtype):
        return raw.to_numpy(dtype="float64", na_value=np.nan)
    return pd.to_numeric(raw.astype(object), errors="coerce").astype("float64").to_numpy()


def _as_frame(obj, name: str) -> pd.DataFrame:
    return check_instance(obj, name, pd.DataFrame, "allocate")


def validate_pupils(pupils: pd.DataFrame, rules: ProgrammeRules) -> pd.DataFrame:
    """Check the pupils table; return a copy with a RangeIndex and clean dtypes."""
    pupils = _as_frame(pupils, "pupils")
    if "pupil_id" not in pupils.columns and pupils.index.name == "pupil_id":
        pupils = pupils.reset_index()
    missing = [c for c in PUPIL_COLUMNS if c not in pupils.columns]
    if missing:
        _raise([{"table": "pupils", "column": c, "n_rows": len(pupils), "examples": [],
                 "message": "required column is missing"} for c in missing])
    df = pupils.reset_index(drop=True).copy()
    ids_s = df["pupil_id"].astype("str")
    ids = ids_s.array
    problems = []
    dup = ids_s.duplicated(keep=False).to_numpy()
    if dup.any():
        problems.append(_problem("pupils", "pupil_id", dup, ids, ids, "duplicate pupil_id"))
    for col in ("municipality_id", "school_id"):
        empty = _is_empty(df[col])
        if empty.any():
            problems.append(_problem("pupils", col, empty, ids, df[col], "empty id"))
    for col, lo, hi in (("risk", 0.0, 1.0), ("age", 0.0, 120.0), ("grade", 1, 12)):
        raw = df[col]
        num = _to_float(raw)
        bad = ~np.isfinite(num) | (num < lo) | (num > hi)
        if col == "grade":
            bad |= np.isfinite(num) & (num != np.round(num))
        if bad.any():
            problems.append(_problem(
                "pupils", col, bad, ids, raw,
                f"must be a number in [{lo}, {hi}]" + (" (an integer)" if col == "grade" else "")
                + " and not missing"))
        df[col] = num
    if "liecība" in df.columns:
        lie = df["liecība"]
        ok = lie.isna() | lie.isin([True, False, 0, 1])
        if not ok.all():
            problems.append(_problem("pupils", "liecība", ~ok.to_numpy(), ids, lie,
                                     "must be boolean"))
        else:
            df["liecība"] = lie.fillna(False).astype(bool)
    else:
        df["liecība"] = False
        if rules.eligibility.subject.requires_liecība:
            logger.info("pupils has no 'liecība' column: no pupil is eligible for subject "
                        "consultations")
    for dom in DOMAINS:
        if dom in df.columns:
            num = pd.to_numeric(df[dom].astype(object), errors="coerce").astype("float64")
            bad = (df[dom].notna() & num.isna()).to_numpy() | np.isinf(num.to_numpy())
            if bad.any():
                problems.append(_problem("pupils", dom, bad, ids, df[dom],
                                         "domain contribution must be numeric"))
            df[dom] = num.fillna(0.0)
    _raise(problems)
    df["pupil_id"] = ids_s
    df["municipality_id"] = df["municipality_id"].astype("str")
    df["school_id"] = df["school_id"].astype("str")
    df["grade"] = df["grade"].astype("int64")
    return df


def validate_resources(resources: pd.DataFrame) -> pd.DataFrame:
    """Check the resources table; return a copy with a RangeIndex and clean dtypes."""
    resources = _as_frame(resources, "resources")
    missing = [c for c in RESOURCE_COLUMNS if c not in resources.columns]
    if missing:
        _raise([{"table": "resources", "column": c, "n_rows": len(resources), "examples": [],
                 "message": "required column is missing"} for c in missing])
    df = resources.reset_index(drop=True).copy()
    ids = df["resource_id"].astype(str).to_numpy()
    problems = []
    dup = pd.Series(ids).duplicated(keep=False).to_numpy()
    if dup.any():
        problems.append(_problem("resources", "resource_id", dup, ids, ids,
                                 "duplicate resource_id"))
    kind = df["kind"].astype(object)
    bad = ~kind.isin(KINDS).to_numpy()
    if bad.any():
        problems.append(_problem("resources", "kind", bad, ids, kind,
                                 f"unknown kind (allowed: {', '.join(KINDS)})"))
    empty = _is_empty(df["municipality_id"])
    if empty.any():
        problems.append(_problem("resources", "municipality_id", empty, ids,
                                 df["municipality_id"], "empty id"))
    cap = pd.to_numeric(df["capacity"].astype(object), errors="coerce").astype("float64")
    cap_np = cap.to_numpy()
    bad = ~np.isfinite(cap_np) | (cap_np < 0) | (cap_np != np.round(cap_np))
    if bad.any():
        problems.append(_problem("resources", "capacity", bad, ids, df["capacity"],
                                 "capacity must be a non-negative integer"))
    if "cost_per_pupil" in df.columns:
        cost = pd.to_numeric(df["cost_per_pupil"].astype(object), errors="coerce")
        cost = cost.astype("float64").to_numpy()
        bad = ~np.isfinite(cost) | (cost < 0)
        if bad.any():
            problems.append(_problem("resources", "cost_per_pupil", bad, ids,
                                     df["cost_per_pupil"],
                                     "cost_per_pupil must be a non-negative number"))
    else:
        cost = np.zeros(len(df))
    if "specialty" in df.columns:
        spec = df["specialty"].astype(object)
        spec_empty = _is_empty(spec)
        bad = ~spec_empty & ~spec.isin(DOMAINS).to_numpy()
        if bad.any():
            problems.append(_problem("resources", "specialty", bad, ids, spec,
                                     f"unknown specialty (allowed: {', '.join(DOMAINS)} or empty)"))
        spec = pd.Series([None if e else str(v) for v, e in zip(spec, spec_empty)],
                         dtype=object)
    else:
        spec = pd.Series([None] * len(df), dtype=object)
    if "school_id" in df.columns:
        school = df["school_id"].astype(object)
        school = pd.Series([None if e else str(v) for v, e in zip(school, _is_empty(school))],
                           dtype=object)
    else:
        school = pd.Series([None] * len(df), dtype=object)
    _raise(problems)
    out = pd.DataFrame({
        "resource_id": ids,
        "kind": kind.astype(str).to_numpy(),
        "municipality_id": df["municipality_id"].astype(str).to_numpy(),
        "school_id": school.to_numpy(dtype=object),
        "capacity": cap_np.astype("int64"),
        "specialty": spec.to_numpy(dtype=object),
        "cost_per_pupil": np.asarray(cost, dtype="float64"),
    })
    return out


def build_problem(pupils, resources, rules: ProgrammeRules | None, objective: str,
                  benefit_quantile=None, fallback=None) -> Problem:
    """Validate everything and turn it into a :class:`Problem`."""
    from ..config import load_config
    from ._benefit import benefit_values

    check_option(objective, "objective", ("fit", "risk", "benefit"), "allocate")
    if rules is not None and not isinstance(rules, ProgrammeRules):
        rules = load_config(ProgrammeRules, rules)
    rules = rules if rules is not None else ProgrammeRules()
    pup = validate_pupils(pupils, rules)
    res = validate_resources(resources)

    res_school = res["school_id"]
    tied = res_school.notna().to_numpy()
    munis = np.union1d(pup["municipality_id"].unique(), res["municipality_id"].unique())
    schools = np.union1d(pup["school_id"].unique(),
                         res_school[tied].astype("str").unique()).astype(str)
    munis = munis.astype(str)
    p_muni = pd.Categorical(pup["municipality_id"], categories=munis).codes
    p_school = pd.Categorical(pup["school_id"], categories=schools).codes
    r_muni = pd.Categorical(res["municipality_id"], categories=munis).codes
    r_school = np.full(len(res), -1, dtype=np.int64)
    if tied.any():
        r_school[tied] = pd.Categorical(res_school[tied].astype("str"),
                                        categories=schools).codes

    risk = pup["risk"].to_numpy(dtype="float64")
    risk_group = risk >= rules.min_risk
    age = pup["age"].to_numpy()
    grade = pup["grade"].to_numpy()
    lie = pup["liecība"].to_numpy(dtype=bool)
    eligible = np.ones((len(pup), len(KINDS)), dtype=bool)
    for j, kind in enumerate(KINDS):
        rule = rules.kind_rule(kind)
        if rule.min_age is not None:
            eligible[:, j] &= age >= rule.min_age
        if rule.grades is not None:
            eligible[:, j] &= np.isin(grade, rule.grades)
        if rule.requires_liecība:
            eligible[:, j] &= lie
        if rule.requires_risk_group:
            eligible[:, j] &= risk_group

    share = np.full((len(pup), len(DOMAINS) + 1), 1.0 / len(DOMAINS))
    present = [d for d in DOMAINS if d in pup.columns]
    if present:
        pos = np.zeros((len(pup), len(DOMAINS)))
        for j, d in enumerate(DOMAINS):
            if d in pup.columns:
                pos[:, j] = np.clip(pup[d].to_numpy(dtype="float64"), 0.0, None)
        total = pos.sum(axis=1)
        has = total > 0
        share[has, : len(DOMAINS)] = pos[has] / total[has, None]

    spec = res["specialty"].to_numpy(dtype=object)
    r_spec = np.array([NEUTRAL if pd.isna(s) else DOMAINS.index(s) for s in spec], dtype=np.int64)
    r_kind = np.array([KINDS.index(k) for k in res["kind"]], dtype=np.int64)
    kinds_used = sorted(set(r_kind[res["capacity"].to_numpy() > 0].tolist()))
    ben = benefit_values(pup, objective, kinds_used, benefit_quantile, fallback)
    return Problem(
        pupils=pup, resources=res, rules=rules, objective=objective,
        munis=munis, schools=schools,
        p_muni=p_muni.astype(np.int64), p_school=p_school.astype(np.int64),
        risk=risk, eligible=eligible, risk_group=risk_group, share=share,
        r_kind=r_kind, r_muni=r_muni.astype(np.int64), r_school=r_school,
        r_cap=res["capacity"].to_numpy(dtype=np.int64), r_spec=r_spec,
        r_cost=res["cost_per_pupil"].to_numpy(dtype="float64"),
        benefit=ben.value, benefit_point=ben.point, basis=ben.basis, fallback=ben.fallback,
    )

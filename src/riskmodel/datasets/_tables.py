"""The simulated state as validated tables (private).

:class:`_EnrolmentLog` collects the enrolments as they end; :func:`_build_tables`
turns the population, the log and the record collectors into
:class:`riskmodel.SchoolTables`. Every date column is ``datetime64[ns]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import vocab
from ._geography import Geography
from ._params import SUBJECTS
from ._population import _Pop

LANGUAGES = ("lv", "ru", "uk", "other")


class _EnrolmentLog:
    def __init__(self):
        self.parts: list[tuple] = []

    def close(self, pop: _Pop, geo: Geography, idx, year: int, end_day, reason) -> None:
        if len(idx) == 0:
            return
        n = len(idx)
        school = pop.school[idx]
        self.parts.append((
            idx.astype(np.int32), school, geo.school_mun[school], np.full(n, year, np.int16),
            pop.grade[idx].copy(), pop.enr_start[idx].copy(),
            np.broadcast_to(np.asarray(end_day, dtype=np.int64), (n,)).copy(),
            np.broadcast_to(np.asarray(reason, dtype=np.int8), (n,)).copy(),
        ))

    def arrays(self):
        cols = list(zip(*self.parts, strict=True))
        return [np.concatenate(c) for c in cols]


def _dates(days) -> np.ndarray:
    return np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[ns]")


def _build_tables(geo, pop, log, att, grd, eng, sup_arrays, resource_ids):
    from ..schema import SchoolTables

    ids = pd.Index(np.char.add("P", np.char.zfill(np.arange(1, pop.n + 1).astype(str), 7)),
                   dtype="str", name="pupil_id")

    def pupil_cat(codes):
        return pd.Categorical.from_codes(codes, categories=ids, validate=False)

    pupils = pd.DataFrame({
        "pupil_id": pd.Series(ids, dtype="str"),
        "birth_date": _dates(pop.birth),
        "sex": pd.Categorical.from_codes(pop.male.astype(np.int8), categories=list(vocab.SEXES)),
        "home_language": pd.Categorical.from_codes(pop.lang, categories=list(LANGUAGES)),
        "migrant_background": pop.migrant.astype(bool),
        "special_needs": pop.sen.astype(bool),
    })
    school_cat = pd.Index(geo.school_id, dtype="str")
    mun_cat = pd.Index(geo.mun_name, dtype="str")
    schools = pd.DataFrame({
        "school_id": pd.Categorical.from_codes(np.arange(geo.n_schools), categories=school_cat),
        "municipality_id": pd.Categorical.from_codes(geo.school_mun, categories=mun_cat),
        "urban": geo.school_urban.astype(bool),
        "language": pd.Categorical.from_codes(geo.school_ru.astype(np.int8),
                                              categories=["lv", "ru"]),
    })
    pid, sch, mun, year, grade, start, end, reason = log.arrays()
    order = np.lexsort((start, pid))
    enrolments = pd.DataFrame({
        "pupil_id": pupil_cat(pid[order]),
        "school_id": pd.Categorical.from_codes(sch[order], categories=school_cat),
        "municipality_id": pd.Categorical.from_codes(mun[order], categories=mun_cat),
        "school_year": year[order].astype(np.int16),
        "grade": grade[order].astype(np.int8),
        "start_date": _dates(start[order]),
        "end_date": _dates(end[order]),
        "end_reason": pd.Categorical.from_codes(reason[order], categories=list(vocab.END_REASONS)),
    })
    attendance = pd.DataFrame({
        "pupil_id": pupil_cat(np.concatenate(att["pupil"])),
        "date": _dates(np.concatenate(att["date"])),
        "status": pd.Categorical.from_codes(np.concatenate(att["status"]),
                                            categories=list(vocab.ATTENDANCE_STATUSES)),
        "lessons": np.concatenate(att["lessons"]).astype(np.int16),
    })
    att.clear()
    grades = pd.DataFrame({
        "pupil_id": pupil_cat(np.concatenate(grd["pupil"])),
        "date": _dates(np.concatenate(grd["date"])),
        "subject": pd.Categorical.from_codes(np.concatenate(grd["subject"]),
                                             categories=list(SUBJECTS)),
        "grade": pd.Categorical.from_codes(np.concatenate(grd["grade"]),
                                           categories=list(vocab.GRADE_VALUES)),
        "kind": pd.Categorical.from_codes(np.concatenate(grd["kind"]),
                                          categories=list(vocab.GRADE_KINDS)),
    })
    grd.clear()
    engagement = pd.DataFrame({
        "pupil_id": pupil_cat(np.concatenate(eng["pupil"])),
        "date": _dates(np.concatenate(eng["date"])),
        "event": pd.Categorical.from_codes(np.concatenate(eng["event"]),
                                           categories=list(vocab.ENGAGEMENT_EVENTS)),
    })
    eng.clear()
    s_pid, s_start, s_end, s_kind, s_res = sup_arrays
    order = np.lexsort((s_kind, s_start, s_pid))
    support = pd.DataFrame({
        "pupil_id": pupil_cat(s_pid[order]),
        "start_date": _dates(s_start[order]),
        "end_date": _dates(s_end[order]),
        "kind": pd.Categorical.from_codes(s_kind[order], categories=list(vocab.SUPPORT_KINDS)),
        "resource_id": pd.Categorical.from_codes(
            s_res[order], categories=pd.Index(resource_ids, dtype="str")),
    })
    return SchoolTables(
        pupils=pupils, enrolments=enrolments, attendance=attendance, grades=grades,
        engagement=engagement, support=support, schools=schools,
    ), ids

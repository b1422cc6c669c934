"""Municipalities and schools of the synthetic school system (private).

Latvia has 43 local governments since the 2021 reform: 7 state cities and 36
municipalities (*novadi*). Each gets an approximate population (thousands,
about 2023; pupils are allotted in proportion), a deprivation index in [0, 1]
(Latgale high, the Riga suburbs low) and the share of Russian-speaking homes
among its pupils. These are rough public figures used only to give the
synthetic system a realistic shape; they are not statistics.

Schools are drawn per municipality with realistic types and sizes: primary
schools (grades 1-6), basic schools (1-9), secondary schools (1-12) and
gymnasiums (7-12), from a few dozen to about 1,200 pupils; about 600 schools at
200,000 pupils. When ``n_pupils`` is small, municipalities that would get fewer
than ``_MIN_MUNICIPALITY_PUPILS`` pupils are left out, so school sizes stay
realistic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MUNICIPALITIES", "Geography", "build_geography"]

# name, population (thousands), deprivation (0-1), share of Russian-speaking homes, state city
MUNICIPALITIES: tuple[tuple[str, float, float, float, bool], ...] = (
    ("Rīga", 605, 0.25, 0.34, True),
    ("Daugavpils", 79, 0.65, 0.72, True),
    ("Liepāja", 67, 0.40, 0.25, True),
    ("Jelgava", 55, 0.35, 0.25, True),
    ("Jūrmala", 50, 0.25, 0.32, True),
    ("Ventspils", 33, 0.30, 0.30, True),
    ("Rēzekne", 27, 0.65, 0.45, True),
    ("Aizkraukles novads", 30, 0.50, 0.06, False),
    ("Alūksnes novads", 13, 0.60, 0.05, False),
    ("Augšdaugavas novads", 24, 0.80, 0.40, False),
    ("Ādažu novads", 14, 0.05, 0.08, False),
    ("Balvu novads", 19, 0.80, 0.12, False),
    ("Bauskas novads", 42, 0.45, 0.08, False),
    ("Cēsu novads", 40, 0.35, 0.04, False),
    ("Dienvidkurzemes novads", 33, 0.55, 0.05, False),
    ("Dobeles novads", 27, 0.50, 0.06, False),
    ("Gulbenes novads", 20, 0.55, 0.05, False),
    ("Jelgavas novads", 33, 0.45, 0.10, False),
    ("Jēkabpils novads", 43, 0.60, 0.15, False),
    ("Krāslavas novads", 21, 0.85, 0.30, False),
    ("Kuldīgas novads", 31, 0.50, 0.04, False),
    ("Ķekavas novads", 30, 0.10, 0.20, False),
    ("Limbažu novads", 30, 0.45, 0.05, False),
    ("Līvānu novads", 10, 0.70, 0.18, False),
    ("Ludzas novads", 22, 0.90, 0.30, False),
    ("Madonas novads", 31, 0.55, 0.05, False),
    ("Mārupes novads", 36, 0.00, 0.15, False),
    ("Ogres novads", 56, 0.30, 0.15, False),
    ("Olaines novads", 19, 0.30, 0.35, False),
    ("Preiļu novads", 16, 0.70, 0.15, False),
    ("Rēzeknes novads", 27, 0.85, 0.25, False),
    ("Ropažu novads", 31, 0.15, 0.15, False),
    ("Salaspils novads", 23, 0.25, 0.35, False),
    ("Saldus novads", 28, 0.50, 0.05, False),
    ("Saulkrastu novads", 6, 0.25, 0.10, False),
    ("Siguldas novads", 31, 0.15, 0.06, False),
    ("Smiltenes novads", 19, 0.45, 0.04, False),
    ("Talsu novads", 37, 0.50, 0.05, False),
    ("Tukuma novads", 42, 0.45, 0.07, False),
    ("Valkas novads", 8, 0.55, 0.08, False),
    ("Valmieras novads", 53, 0.35, 0.05, False),
    ("Varakļānu novads", 3, 0.70, 0.05, False),
    ("Ventspils novads", 11, 0.50, 0.08, False),
)

_MIN_MUNICIPALITY_PUPILS = 40
# school types: (lowest grade, highest grade)
SCHOOL_TYPES = {"primary": (1, 6), "basic": (1, 9), "secondary": (1, 12), "gymnasium": (7, 12)}
_TYPE_NAMES = tuple(SCHOOL_TYPES)
# relative pupils per grade in each school type (grades 1..12)
_UPPER_WEIGHT = {"secondary": 0.75, "gymnasium": 1.6}


@dataclass(frozen=True)
class Geography:
    """Municipalities and schools (arrays indexed by municipality / school number)."""

    mun_name: np.ndarray  # str, included municipalities in fixed order
    mun_deprivation: np.ndarray  # float, standardised (mean 0, sd 1 over pupils)
    mun_ru_share: np.ndarray
    mun_state_city: np.ndarray  # bool
    mun_pupils: np.ndarray  # int, expected pupils
    school_id: np.ndarray  # str
    school_mun: np.ndarray  # int32
    school_type: np.ndarray  # int8 index into _TYPE_NAMES
    school_lo: np.ndarray  # int8 lowest grade
    school_hi: np.ndarray  # int8 highest grade
    school_size: np.ndarray  # int target size
    school_urban: np.ndarray  # bool
    school_ru: np.ndarray  # bool: minority (Russian) language programme school
    school_grade_weight: np.ndarray  # float (n_schools, 13): relative pupils per grade

    @property
    def n_schools(self) -> int:
        return len(self.school_id)


def _type_mix(state_city: bool, name: str) -> np.ndarray:
    """Probabilities of primary, basic, secondary, gymnasium schools."""
    if name == "Rīga":
        return np.array([0.08, 0.27, 0.50, 0.15])
    if state_city:
        return np.array([0.05, 0.30, 0.50, 0.15])
    return np.array([0.10, 0.50, 0.35, 0.05])


def build_geography(n_pupils: int, rng: np.random.Generator) -> Geography:
    """Draw municipalities and schools for ``n_pupils`` pupils."""
    names = np.array([m[0] for m in MUNICIPALITIES])
    pop = np.array([m[1] for m in MUNICIPALITIES], dtype=float)
    dep = np.array([m[2] for m in MUNICIPALITIES], dtype=float)
    ru = np.array([m[3] for m in MUNICIPALITIES], dtype=float)
    city = np.array([m[4] for m in MUNICIPALITIES], dtype=bool)

    share = pop / pop.sum()
    # deprivation standardised over the whole country (mean 0, sd 1 over pupils)
    dep_mean = np.average(dep, weights=share)
    dep = (dep - dep_mean) / np.sqrt(np.average((dep - dep_mean) ** 2, weights=share))
    keep = share * n_pupils >= _MIN_MUNICIPALITY_PUPILS
    keep[0] = True  # Riga always
    names, pop, dep, ru, city = names[keep], pop[keep], dep[keep], ru[keep], city[keep]
    share = pop / pop.sum()
    mun_pupils = np.maximum(np.round(share * n_pupils).astype(np.int64), 1)

    school_mun, school_type, school_size, school_urban, school_ru = [], [], [], [], []
    for m in range(len(names)):
        mean_size = 640.0 if names[m] == "Rīga" else (480.0 if city[m] else 210.0)
        n_s = max(1, int(round(mun_pupils[m] / mean_size)))
        types = rng.choice(4, size=n_s, p=_type_mix(bool(city[m]), str(names[m])))
        # relative sizes: secondary and gymnasium schools are larger
        rel = np.exp(rng.normal(0.0, 0.45, size=n_s)) * np.array([0.35, 0.7, 1.5, 1.2])[types]
        # the largest school of every municipality is a secondary school, so grade 10
        # can always be continued locally
        big = int(np.argmax(rel))
        types[big] = 2
        rel[big] = max(rel[big], 1.5)
        sizes = rel / rel.sum() * mun_pupils[m]
        sizes = np.clip(np.round(sizes), 25, 1250).astype(np.int64)
        urban = np.full(n_s, True) if city[m] else rng.random(n_s) < np.where(types >= 2, 0.7, 0.15)
        # minority programme schools: more of them where more Russian-speaking homes
        ru_school = rng.random(n_s) < np.clip(ru[m] * 0.75, 0.0, 0.9)
        ru_school[big] = ru_school[big] and ru[m] > 0.5
        school_mun.append(np.full(n_s, m))
        school_type.append(types)
        school_size.append(sizes)
        school_urban.append(urban)
        school_ru.append(ru_school)

    school_mun = np.concatenate(school_mun).astype(np.int32)
    school_type = np.concatenate(school_type).astype(np.int8)
    school_size = np.concatenate(school_size)
    lo = np.array([SCHOOL_TYPES[t][0] for t in _TYPE_NAMES], dtype=np.int8)[school_type]
    hi = np.array([SCHOOL_TYPES[t][1] for t in _TYPE_NAMES], dtype=np.int8)[school_type]
    n_schools = len(school_mun)
    gw = np.zeros((n_schools, 13))
    grades = np.arange(13)
    for k in range(n_schools):
        w = ((grades >= lo[k]) & (grades <= hi[k])).astype(float)
        tname = _TYPE_NAMES[school_type[k]]
        if tname in _UPPER_WEIGHT:
            w[10:13] *= _UPPER_WEIGHT[tname]
        gw[k] = w / w.sum()
    school_id = np.array([f"S{k + 1:04d}" for k in range(n_schools)])
    return Geography(
        mun_name=names,
        mun_deprivation=dep,
        mun_ru_share=ru,
        mun_state_city=city,
        mun_pupils=mun_pupils,
        school_id=school_id,
        school_mun=school_mun,
        school_type=school_type,
        school_lo=lo,
        school_hi=hi,
        school_size=school_size,
        school_urban=np.concatenate(school_urban),
        school_ru=np.concatenate(school_ru),
        school_grade_weight=gw,
    )

"""Audit attributes as partitions of the cohort (private; used by :mod:`riskmodel.fairness`).

An attribute (a column of ``groups``, or an intersection of two) is a partition
of the cohort into observed groups; :func:`build_attributes` encodes them,
:func:`equations` writes the linear relations between their cells that hold for
every additive quantity (what complementary suppression must protect), and
:func:`reference_codes` picks each attribute's reference group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._checks import check_instance

#: group label given to pupils whose attribute value is missing
MISSING_GROUP = "(missing)"
#: separator of the two attribute names (and group labels) of an intersection
INTERSECTION_SEP = "×"
OVERALL = "overall"
OVERALL_GROUP = "all"


@dataclass
class Attribute:
    """One audit attribute: a partition of the cohort into observed groups."""

    name: str
    labels: list[str]
    codes: np.ndarray  # int64, one group code per pupil
    parents: tuple[str, str] | None = None  # intersections: the two attribute names
    parent_codes: tuple[np.ndarray, np.ndarray] | None = None  # per group: parent group codes
    offset: int = 0  # index of the first group in the table of cells

    @property
    def n_groups(self) -> int:
        return len(self.labels)


def encode(s: pd.Series, name: str) -> tuple[np.ndarray, list[str]]:
    """Group codes (0..G-1, observed groups only) and str labels of one column."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        raw = np.asarray(s.cat.codes, dtype=np.int64)
        cats = s.cat.categories
        used = np.unique(raw[raw >= 0])
        lut = np.full(len(cats) + 1, -1, dtype=np.int64)
        lut[used] = np.arange(len(used))
        codes = np.where(raw >= 0, lut[raw], -1)
        labels = [str(cats[i]) for i in used]
    else:
        try:
            raw, uniques = pd.factorize(s, sort=True, use_na_sentinel=True)
        except TypeError:  # unorderable mixture of types
            raw, uniques = pd.factorize(s, sort=False, use_na_sentinel=True)
        codes = np.asarray(raw, dtype=np.int64)
        labels = [str(u) for u in uniques]
    missing = codes < 0
    if missing.any():
        codes = np.where(missing, len(labels), codes)
        labels.append(MISSING_GROUP)
    if len(set(labels)) != len(labels):
        dup = sorted({x for x in labels if labels.count(x) > 1})
        raise ValueError(
            f"The audit attribute {name!r} has distinct values that print the same "
            f"({dup[:5]}); convert the column to one type (e.g. str) first."
        )
    return codes, labels


def build_attributes(
    groups: pd.DataFrame, intersections: list[tuple[str, str]]
) -> list[Attribute]:
    n = len(groups)
    attrs = [Attribute(OVERALL, [OVERALL_GROUP], np.zeros(n, dtype=np.int64))]
    by_name: dict[str, Attribute] = {}
    for col in groups.columns:
        codes, labels = encode(groups[col], col)
        a = Attribute(str(col), labels, codes)
        attrs.append(a)
        by_name[a.name] = a
    for a_name, b_name in intersections:
        a, b = by_name[a_name], by_name[b_name]
        key = a.codes * b.n_groups + b.codes
        uniq, codes = np.unique(key, return_inverse=True)
        pa, pb = uniq // b.n_groups, uniq % b.n_groups
        labels = [f"{a.labels[i]}{INTERSECTION_SEP}{b.labels[j]}" for i, j in zip(pa, pb)]
        attrs.append(
            Attribute(
                f"{a_name}{INTERSECTION_SEP}{b_name}",
                labels,
                codes.astype(np.int64),
                parents=(a_name, b_name),
                parent_codes=(pa, pb),
            )
        )
    offset = 0
    for a in attrs:
        a.offset = offset
        offset += a.n_groups
    return attrs


def equations(attrs: list[Attribute]) -> np.ndarray:
    """Linear relations between cells that hold for every additive quantity.

    Each row r says ``eq[r] @ cell_totals == 0``: the groups of an attribute sum to
    the overall total, and the cells of an intersection sum to the margins given by
    its two attributes.
    """
    n_cells = sum(a.n_groups for a in attrs)
    by_name = {a.name: a for a in attrs}
    rows = []
    for a in attrs[1:]:
        if a.parents is None:
            r = np.zeros(n_cells)
            r[a.offset : a.offset + a.n_groups] = 1.0
            r[0] = -1.0
            rows.append(r)
            continue
        # an intersection's grand total follows from its margins: no row of its own
        for parent, pcodes in zip(a.parents, a.parent_codes):
            p = by_name[parent]
            for g in range(p.n_groups):
                r = np.zeros(n_cells)
                r[a.offset + np.flatnonzero(pcodes == g)] = 1.0
                r[p.offset + g] = -1.0
                rows.append(r)
    if not rows:
        return np.zeros((0, n_cells))
    return np.vstack(rows)


def cell_attribute(attrs: list[Attribute]) -> np.ndarray:
    """Index of the attribute of every cell."""
    return np.concatenate([np.full(a.n_groups, i) for i, a in enumerate(attrs)]).astype(np.int64)


def check_intersections(intersections, groups: pd.DataFrame, func: str) -> list[tuple[str, str]]:
    if intersections is None:
        return []
    out = []
    cols = [str(c) for c in groups.columns]
    for item in intersections:
        if isinstance(item, str) or not hasattr(item, "__len__") or len(item) != 2:
            raise ValueError(
                f"The 'intersections' parameter of {func} must be a list of pairs of "
                f"column names of 'groups'. Got {item!r} instead."
            )
        a, b = str(item[0]), str(item[1])
        for c in (a, b):
            if c not in cols:
                raise ValueError(
                    f"The 'intersections' parameter of {func} names {c!r}, which is not a "
                    f"column of 'groups' (columns: {cols})."
                )
        if a == b:
            raise ValueError(
                f"The 'intersections' parameter of {func} must pair two different columns. "
                f"Got {item!r} instead."
            )
        if (a, b) in out or (b, a) in out:
            raise ValueError(f"The 'intersections' parameter of {func} lists {item!r} twice.")
        out.append((a, b))
    return out


def check_groups_columns(groups: pd.DataFrame, func: str) -> pd.DataFrame:
    names = [str(c) for c in groups.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"The 'groups' parameter of {func} has duplicate column names: {names}.")
    if OVERALL in names or any(INTERSECTION_SEP in c for c in names):
        raise ValueError(
            f"The columns of 'groups' in {func} must not be named {OVERALL!r} or contain "
            f"{INTERSECTION_SEP!r}. Got {names}."
        )
    return groups.set_axis(names, axis=1)


def reference_codes(attrs: list[Attribute], n_cell: np.ndarray, reference, func: str) -> dict[str, int]:
    """Reference group (code) per attribute: the given one, else the largest."""
    by_name = {a.name: a for a in attrs}
    given: dict[str, int] = {}
    if reference is not None:
        check_instance(reference, "reference", dict, func)
        for key, value in reference.items():
            name = INTERSECTION_SEP.join(map(str, key)) if isinstance(key, tuple) else str(key)
            if name not in by_name or name == OVERALL:
                raise ValueError(
                    f"The 'reference' parameter of {func} names the attribute {key!r}, which "
                    f"is not audited (attributes: {[a.name for a in attrs[1:]]})."
                )
            label = INTERSECTION_SEP.join(map(str, value)) if isinstance(value, tuple) else str(value)
            a = by_name[name]
            if label not in a.labels:
                raise ValueError(
                    f"The 'reference' parameter of {func} names the group {value!r} of "
                    f"{name!r}, which has no pupils (groups: {a.labels[:20]})."
                )
            given[name] = a.labels.index(label)
    out = {}
    for a in attrs:
        if a.name in given:
            out[a.name] = given[a.name]
        else:
            sizes = n_cell[a.offset : a.offset + a.n_groups]
            # first of the largest (0 for an attribute of an empty population)
            out[a.name] = int(np.argmax(sizes)) if len(sizes) else 0
    return out



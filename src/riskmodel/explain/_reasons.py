"""Reasons per pupil: which contributions to name, and the sentences that name them (private).

:func:`top_reasons` picks each pupil's ``n_reasons`` largest eligible
contributions; :func:`reason_sentences` puts them into the teacher-facing words of
``reason_texts.yaml`` and the feature registry. :meth:`Explanation.reasons
<riskmodel.explain.Explanation.reasons>` checks its parameters and joins the two.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["reason_sentences", "reason_texts", "top_reasons"]


@functools.lru_cache(maxsize=1)
def reason_texts() -> dict[str, Any]:
    """The reason phrases of ``reason_texts.yaml`` (versioned data file).

    Returns
    -------
    dict
        Keys ``version``, ``separator``, ``direction``,
        ``smaller_change_than_usual``, ``missing_value``, ``fallback``, ``domains``
        and ``sensitive_features``.

    Examples
    --------
    >>> from riskmodel.explain import reason_texts
    >>> reason_texts()["direction"]["raises"]["lv"]
    'paaugstina risku'
    """
    import yaml

    text = resources.files(__package__).joinpath("reason_texts.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def is_sensitive(name: str, registry: pd.DataFrame, names: list[str]) -> bool:
    """A sensitive attribute: marked so in the registry, or named (or prefixed) in ``names``."""
    if name in registry.index and bool(registry.at[name, "sensitive"]):
        return True
    return any(name == s or name.startswith(s + "_") for s in names)


def top_reasons(values: np.ndarray, eligible: np.ndarray, *, n_reasons: int, only_raising: bool,
                missing: np.ndarray | None = None):
    """Each row's ``n_reasons`` largest eligible contributions, largest first.

    Parameters
    ----------
    values : ndarray of shape (n, p)
        Contributions.
    eligible : ndarray of bool, shape (p,)
        Columns that may be named.
    n_reasons : int
    only_raising : bool
        Rank positive contributions only (else by absolute value).
    missing : ndarray of bool, shape (n, p), optional
        Cells that may not be named (missing values).

    Returns
    -------
    rows, ranks, columns : ndarray of int
        One entry per reason (rank 1 = largest); rows with fewer qualifying
        columns get fewer reasons.

    Examples
    --------
    >>> import numpy as np
    >>> v = np.array([[0.5, -0.2, 0.9], [0.1, 0.3, -1.0]])
    >>> rows, ranks, cols = top_reasons(v, np.array([True, True, True]), n_reasons=2,
    ...                                 only_raising=True)
    >>> rows.tolist(), ranks.tolist(), cols.tolist()
    ([0, 0, 1, 1], [1, 2, 1, 2], [2, 0, 1, 0])
    """
    n, p = values.shape
    score = np.where(eligible[None, :], values if only_raising else np.abs(values), -np.inf)
    if only_raising:
        score = np.where(values > 0, score, -np.inf)
    if missing is not None:
        score = np.where(missing, -np.inf, score)
    kk = min(int(n_reasons), int(eligible.sum()))
    if n == 0 or kk == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    # top kk per row: argpartition then sort the kk (vectorised over pupils)
    if kk < p:
        part = np.argpartition(-score, kk - 1, axis=1)[:, :kk]
    else:
        part = np.tile(np.arange(p), (n, 1))
    part_scores = np.take_along_axis(score, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    top = np.take_along_axis(part, order, axis=1)
    keep = np.isfinite(np.take_along_axis(part_scores, order, axis=1))
    rows = np.repeat(np.arange(n), kk).reshape(n, kk)[keep]
    ranks = np.tile(np.arange(1, kk + 1), (n, 1))[keep]
    return rows, ranks.astype(np.int64), top[keep]


def reason_sentences(data: pd.DataFrame, rows, columns, contributions, lang: str,
                     registry: pd.DataFrame):
    """Values in the unit users read, and one sentence per reason.

    Parameters
    ----------
    data : DataFrame
        The pupils' feature values.
    rows, columns : ndarray of int
        Position of each reason in ``data``.
    contributions : ndarray of float
        Each reason's contribution (its sign picks "raises" / "lowers").
    lang : {"lv", "en"}
    registry : DataFrame
        The feature registry (templates, value formats, directions).

    Returns
    -------
    values : ndarray of float
    texts : ndarray of object

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from riskmodel.features import registry
    >>> data = pd.DataFrame({"unexcused_lessons_28d": [14.0], "mine": [2.5]})
    >>> _, texts = reason_sentences(data, np.array([0, 0]), np.array([0, 1]),
    ...                             np.array([0.8, -0.1]), "en", registry())
    >>> texts.tolist()
    ['Unexcused absences in the last 4 weeks: 14 lessons — raises risk', 'mine: 2.50 — lowers risk']
    """
    texts = reason_texts()
    value_out = np.full(len(rows), np.nan)
    text_out = np.empty(len(rows), dtype=object)
    missing = texts["missing_value"][lang]
    names = list(data.columns)
    for j in np.unique(columns):
        name = names[j]
        sel = np.flatnonzero(columns == j)
        raw = data.iloc[rows[sel], j]
        if isinstance(raw.dtype, pd.CategoricalDtype) or raw.dtype == object or raw.dtype.kind not in "fiub":
            vals = raw.astype(object).to_numpy()
        else:
            vals = raw.to_numpy()
        spec, template, direction = None, None, 0
        if name in registry.index:
            spec = registry.at[name, "value_format"] or None
            template = registry.at[name, f"reason_{lang}"]
            direction = int(registry.at[name, "direction"])
        if template is None or not isinstance(template, str):
            template = texts["fallback"][lang].replace("{feature}", name.replace("_", " "))
        value_out[sel] = _user_unit(vals, spec)
        # a missing value reads "<label>: nav datu", without the unit after {value}
        no_data = template.split("{value}")[0] + missing if "{value}" in template else None
        text_out[sel] = _sentences(vals, spec, template, no_data, missing)
        if spec and spec.startswith("+") and direction != 0:
            text_out[sel] = _smaller_change_than_usual(
                text_out[sel], vals, contributions[sel], direction, texts, lang)
    sep = texts["separator"]
    suffix = np.where(contributions > 0, sep + texts["direction"]["raises"][lang],
                      sep + texts["direction"]["lowers"][lang])
    return value_out, (text_out + suffix.astype(object)).astype(object)


def _sentences(vals: np.ndarray, spec: str | None, template: str, no_data: str | None,
               missing: str) -> np.ndarray:
    """One feature's sentences (without the direction), each distinct value formatted once.

    A feature takes few distinct values over a school system (counts, shares of a
    few lessons), so the sentences are made for the distinct values and spread by
    the inverse index. Floats are told apart by their bits, so 0.0 and -0.0 keep
    their own text, as when every value was formatted on its own.
    """
    if vals.dtype.kind in "fiub":
        key = vals.view(f"i{vals.itemsize}") if vals.dtype.kind == "f" else vals
        uniq_key, first, inv = np.unique(key, return_index=True, return_inverse=True)
        uniq = vals[first]
    else:
        uniq, inv = vals, np.arange(len(vals))
    na = pd.isna(uniq) if no_data is not None else np.zeros(len(uniq), dtype=bool)
    text_u = np.array([no_data if m else template.format(value=f)
                       for f, m in zip(_format_values(uniq, spec, missing), na.tolist())],
                      dtype=object)
    return text_u[inv.reshape(-1)] if len(vals) else np.empty(0, dtype=object)


def _format_values(values: np.ndarray, spec: str | None, missing: str) -> list[str]:
    """Format one feature's values for reading: ``spec`` from the registry or a default."""
    out = []
    if values.dtype.kind in "fc":
        nan = np.isnan(values)
        if spec:
            for v, na in zip(values.tolist(), nan.tolist()):
                out.append(missing if na else format(v, spec))
        else:
            integral = np.isclose(values, np.round(values)) & ~nan
            for v, na, it in zip(values.tolist(), nan.tolist(), integral.tolist()):
                out.append(missing if na else (f"{v:.0f}" if it else f"{v:.2f}"))
        return out
    if values.dtype.kind in "iub":
        if values.dtype.kind == "b":
            return [str(bool(v)) for v in values.tolist()]
        return [format(v, spec) if spec else str(v) for v in values.tolist()]
    return [missing if (v is None or v is pd.NA or (isinstance(v, float) and v != v)) else str(v)
            for v in values.tolist()]


def _user_unit(values: np.ndarray, spec: str | None) -> np.ndarray:
    """Values in the unit users read: shares as percent, everything else unchanged."""
    if values.dtype.kind not in "fiub":
        return np.full(values.shape[0], np.nan)
    v = values.astype(np.float64)
    if spec and spec.endswith("%"):
        v = v * 100.0
    return v


def _smaller_change_than_usual(texts_in, values, contrib, direction, texts, lang):
    """Qualify a change that moved the good way yet raises risk (or the bad way yet lowers it).

    Contributions compare a pupil with the typical pupil, so a small rise in grades
    raises risk when most pupils rose more; without the qualifier "+0.17 points per
    month — raises risk" reads as a contradiction.
    """
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        against = np.sign(contrib) * np.sign(direction * v) < 0
    if not against.any():
        return texts_in
    words = texts["smaller_change_than_usual"]
    out = texts_in.copy()
    idx = np.flatnonzero(against)
    tail = np.where(v[idx] > 0, ", " + words["rise"][lang], ", " + words["fall"][lang])
    out[idx] = out[idx] + tail.astype(object)
    return out

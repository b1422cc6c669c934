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

__all__ = ["reason_codes", "reason_sentences", "reason_texts", "top_reasons"]


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
    values, codes, sentences = reason_codes(data, rows, columns, contributions, registry,
                                            langs=(lang,))
    return values, np.asarray(sentences[lang], dtype=object)[codes]


def reason_codes(data: pd.DataFrame, rows, columns, contributions, registry: pd.DataFrame,
                 langs=("lv", "en")):
    """Each reason's sentence as a code into a short list of distinct sentences per language.

    A reason's sentence depends only on its feature, the pupil's value and the
    sign of the contribution, and a feature takes few distinct values over a
    school system. So each distinct (feature, value, sign) is put into words
    once, per language, and every reason gets the position of its sentence:
    ``sentences[lang][codes[i]]`` is the sentence :func:`reason_sentences` gives
    for reason ``i``. Floats are told apart by their bits, so 0.0 and -0.0 keep
    their own text; non-numeric values are worded one by one.

    Parameters
    ----------
    data, rows, columns, contributions, registry
        As in :func:`reason_sentences`.
    langs : sequence of {"lv", "en"}

    Returns
    -------
    values : ndarray of float
        Each reason's value in the unit users read.
    codes : ndarray of int64
    sentences : dict lang -> list of str

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from riskmodel.features import registry
    >>> data = pd.DataFrame({"mine": [2.5, 2.5, 1.0]})
    >>> _, codes, sentences = reason_codes(data, np.array([0, 1, 2]), np.array([0, 0, 0]),
    ...                                    np.array([0.8, 0.3, 0.1]), registry(), ("en",))
    >>> codes.tolist(), sentences["en"]
    ([1, 1, 0], ['mine: 1 — raises risk', 'mine: 2.50 — raises risk'])
    """
    texts = reason_texts()
    rows = np.asarray(rows, dtype=np.int64)
    columns = np.asarray(columns, dtype=np.int64)
    contributions = np.asarray(contributions, dtype=np.float64)
    value_out = np.full(len(rows), np.nan)
    codes = np.zeros(len(rows), dtype=np.int64)
    sentences: dict[str, list[str]] = {lang: [] for lang in langs}
    # the sign of each contribution: 0 lowers, 1 zero (or NaN), 2 raises
    sign_class = np.where(contributions > 0, 2, np.where(contributions < 0, 0, 1))
    names = list(data.columns)
    order = np.argsort(columns, kind="stable")
    feats, starts = np.unique(columns[order], return_index=True)
    bounds = np.r_[starts, len(order)]
    offset = 0
    for j, a, b in zip(feats.tolist(), bounds[:-1].tolist(), bounds[1:].tolist()):
        name = names[j]
        sel = order[a:b]
        raw = data.iloc[rows[sel], j]
        if isinstance(raw.dtype, pd.CategoricalDtype) or raw.dtype == object or raw.dtype.kind not in "fiub":
            vals = raw.astype(object).to_numpy()
        else:
            vals = raw.to_numpy()
        spec, direction = None, 0
        if name in registry.index:
            spec = registry.at[name, "value_format"] or None
            direction = int(registry.at[name, "direction"])
        value_out[sel] = _user_unit(vals, spec)
        uniq, inv = _distinct(vals)
        combo = inv * 3 + sign_class[sel]
        used, codes_j = np.unique(combo, return_inverse=True)
        value_of, sign_of = used // 3, used % 3
        for lang in langs:
            template = registry.at[name, f"reason_{lang}"] if name in registry.index else None
            if template is None or not isinstance(template, str):
                template = texts["fallback"][lang].replace("{feature}", name.replace("_", " "))
            missing = texts["missing_value"][lang]
            # a missing value reads "<label>: nav datu", without the unit after {value}
            no_data = template.split("{value}")[0] + missing if "{value}" in template else None
            words = _sentences(uniq, spec, template, no_data, missing)[value_of]
            if spec and spec.startswith("+") and direction != 0:
                words = _smaller_change_than_usual(words, uniq[value_of], sign_of - 1.0,
                                                   direction, texts, lang)
            suffix = np.where(sign_of == 2, texts["separator"] + texts["direction"]["raises"][lang],
                              texts["separator"] + texts["direction"]["lowers"][lang])
            sentences[lang].extend((words + suffix.astype(object)).tolist())
        codes[sel] = offset + codes_j.reshape(-1)
        offset += len(used)
    return value_out, codes, sentences


def _distinct(vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of one feature's reasons and each reason's position among them.

    Numbers are told apart by their bits (0.0 and -0.0 are two values); anything
    else is kept one by one.
    """
    if vals.dtype.kind in "fiub":
        key = vals.view(f"i{vals.itemsize}") if vals.dtype.kind == "f" else vals
        _, first, inv = np.unique(key, return_index=True, return_inverse=True)
        return vals[first], inv.reshape(-1).astype(np.int64)
    return vals, np.arange(len(vals), dtype=np.int64)


def _sentences(uniq: np.ndarray, spec: str | None, template: str, no_data: str | None,
               missing: str) -> np.ndarray:
    """One feature's sentences (without the direction), one per value of ``uniq``."""
    na = pd.isna(uniq) if no_data is not None else np.zeros(len(uniq), dtype=bool)
    return np.array([no_data if m else template.format(value=f)
                     for f, m in zip(_format_values(uniq, spec, missing), na.tolist())],
                    dtype=object)


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

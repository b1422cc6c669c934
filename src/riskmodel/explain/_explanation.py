"""The :class:`Explanation` result object: contributions, domains and reasons."""

from __future__ import annotations

import functools
import logging
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

__all__ = ["Explanation", "DOMAIN_ORDER", "RECORD_DOMAINS", "reason_texts"]

DOMAIN_ORDER = ("attendance", "grades", "engagement", "transitions", "context")
#: Domains of what the pupil's own records show (a teacher can act on them); the
#: fifth registry domain, ``context``, describes where the pupil is.
RECORD_DOMAINS = ("attendance", "grades", "engagement", "transitions")
_LANGS = ("lv", "en")


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


def _registry() -> pd.DataFrame | None:
    """The feature registry, or None when it cannot be loaded."""
    try:
        from ..features import registry
    except ImportError:  # pragma: no cover - the registry ships with the package
        return None
    try:
        return registry()
    except Exception as exc:  # pragma: no cover - a broken registry must not block reasons
        logger.warning("Feature registry unavailable (%s); using fallback reason texts.", exc)
        return None


def _is_sensitive(name: str, registry: pd.DataFrame | None, names: list[str]) -> bool:
    if registry is not None and name in registry.index and bool(registry.at[name, "sensitive"]):
        return True
    return any(name == s or name.startswith(s + "_") for s in names)


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
    for i in np.flatnonzero(against):
        out[i] = f"{out[i]}, {words['rise' if v[i] > 0 else 'fall'][lang]}"
    return out


class Explanation:
    """Exact per-pupil contributions of a tree model, grouped and put into words.

    Parameters
    ----------
    values : pandas.DataFrame
        Pupil x feature contributions in log-odds (rows indexed by pupil id).
    base_value : float
        Expected raw score; ``values.sum(axis=1) + base_value`` is the model's
        raw log-odds.
    data : pandas.DataFrame
        The feature values the contributions explain, same index and (at least)
        the same columns as ``values``.
    feature_domains : dict of str to str
        Feature -> domain (attendance, grades, engagement, transitions, context or
        any other name). Features not listed are in domain ``"other"``.

    Attributes
    ----------
    values, base_value, data, feature_domains

    Examples
    --------
    >>> import pandas as pd
    >>> v = pd.DataFrame({"unexcused_lessons_28d": [0.8, -0.1], "grade_mean_ytd": [0.1, 0.3]},
    ...                  index=pd.Index(["P1", "P2"], name="pupil_id"))
    >>> d = pd.DataFrame({"unexcused_lessons_28d": [14.0, 0.0], "grade_mean_ytd": [6.1, 4.2]},
    ...                  index=v.index)
    >>> ex = Explanation(v, -3.0, d, {"unexcused_lessons_28d": "attendance",
    ...                               "grade_mean_ytd": "grades"})
    >>> float(ex.by_domain().loc["P1", "attendance"])
    0.8
    >>> ex.reasons(k=1, lang="lv")["text"].iloc[0]
    'Neattaisnoti kavējumi pēdējās 4 nedēļās: 14 stundas — paaugstina risku'
    """

    def __init__(
        self,
        values: pd.DataFrame,
        base_value: float,
        data: pd.DataFrame,
        feature_domains: dict[str, str],
    ):
        if not isinstance(values, pd.DataFrame):
            raise TypeError(
                "The 'values' parameter of Explanation must be a pandas DataFrame "
                f"(pupil x feature). Got {type(values).__name__} instead."
            )
        if not isinstance(data, pd.DataFrame):
            raise TypeError(
                "The 'data' parameter of Explanation must be a pandas DataFrame. "
                f"Got {type(data).__name__} instead."
            )
        if not isinstance(feature_domains, dict):
            raise TypeError(
                "The 'feature_domains' parameter of Explanation must be a dict feature -> "
                f"domain. Got {type(feature_domains).__name__} instead."
            )
        missing = [c for c in values.columns if c not in data.columns]
        if missing:
            raise ValueError(
                "The 'data' parameter of Explanation must hold every column of 'values'. "
                f"Missing: {missing[:5]}."
            )
        if len(data) != len(values) or not data.index.equals(values.index):
            raise ValueError(
                "The 'data' parameter of Explanation must have the same index as 'values' "
                f"({len(values)} rows). Got {len(data)} rows with a different index."
            )
        try:
            base = float(base_value)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"The 'base_value' parameter of Explanation must be a float. Got {base_value!r}."
            ) from exc
        self.values = values
        self.base_value = base
        self.data = data[list(values.columns)]
        self.feature_domains = {str(k): str(v) for k, v in feature_domains.items()}

    def __repr__(self) -> str:
        n, p = self.values.shape
        return f"Explanation({n} pupils x {p} features, base_value={self.base_value:.4f})"

    # ------------------------------------------------------------------ domains
    def _domains(self) -> list[str]:
        return [self.feature_domains.get(c, "other") for c in self.values.columns]

    def domain_order(self) -> list[str]:
        """Domains present, in the order attendance, grades, engagement, transitions, context, others."""
        present = set(self._domains())
        known = [d for d in DOMAIN_ORDER if d in present]
        return known + sorted(present - set(DOMAIN_ORDER))

    def by_domain(self) -> pd.DataFrame:
        """Contributions summed by domain: pupil x domain (log-odds).

        Returns
        -------
        pandas.DataFrame
            Same index as :attr:`values`; columns in the order attendance, grades,
            engagement, transitions, context, then other domains alphabetically.
            Rows sum (with :attr:`base_value`) to the model's raw log-odds.
        """
        domains = np.asarray(self._domains(), dtype=object)
        order = self.domain_order()
        v = self.values.to_numpy(dtype=np.float64)
        out = np.empty((v.shape[0], len(order)), dtype=np.float64)
        for j, d in enumerate(order):
            out[:, j] = v[:, domains == d].sum(axis=1)
        return pd.DataFrame(out, index=self.values.index, columns=pd.Index(order, name="domain"))

    def top_domain(self, domains=None) -> pd.Series:
        """Per pupil, the domain with the largest summed contribution.

        Parameters
        ----------
        domains : sequence of str, optional
            Compare only these domains (for example the four record domains
            attendance, grades, engagement and transitions, leaving out the school
            context a teacher cannot change). Default: all domains.
        """
        bd = self.by_domain()
        if domains is not None:
            domains = list(domains)
            unknown = [d for d in domains if d not in bd.columns]
            if unknown or not domains:
                raise ValueError(
                    "The 'domains' parameter of top_domain must name domains of this "
                    f"explanation {list(bd.columns)}. Got {domains!r} instead."
                )
            bd = bd[domains]
        return pd.Series(
            np.asarray(bd.columns, dtype=object)[np.argmax(bd.to_numpy(), axis=1)],
            index=bd.index,
            name="top_domain",
        )

    # ------------------------------------------------------------------ reasons
    def reasons(
        self,
        k: int = 3,
        lang: str = "lv",
        only_raising: bool = True,
        *,
        include_missing: bool = False,
        domains=None,
    ) -> pd.DataFrame:
        """The top ``k`` reasons per pupil, in plain words a teacher can act on.

        Parameters
        ----------
        k : int, default 3
            Reasons per pupil (fewer when fewer features qualify; a pupil with no
            qualifying feature gets no row).
        lang : {"lv", "en"}, default "lv"
        only_raising : bool, default True
            Offer only features that raise the pupil's risk (positive contribution).
            With False the features with the largest absolute contribution are used.
        include_missing : bool, default False
            Also offer features whose value is missing (NaN) for that pupil, for
            example the learning-level share above grade 3 or a 28-day window with
            no records; their sentence then reads "…: nav datu" / "…: no data".
            By default they are skipped: a teacher cannot act on "no data".
        domains : iterable of str or None, default None
            Domains whose features may be offered. None means the record domains
            attendance, grades, engagement and transitions (:data:`RECORD_DOMAINS`)
            plus features outside the registry (domain ``"other"`` or a domain the
            user named in ``feature_domains``): every domain except ``"context"``
            (grade level, the school's past early-leaving rate, school-level
            attendance), which describes where the pupil is, not what the pupil's
            records show. Otherwise the names of the domains to offer, from
            attendance, grades, engagement, transitions, context, other and this
            explanation's own domains; e.g. ``["attendance", "grades",
            "engagement", "transitions", "context"]`` allows context features too.

        Returns
        -------
        pandas.DataFrame
            Tidy table with columns ``pupil_id``, ``rank`` (1 = largest), ``feature``,
            ``domain``, ``value`` (the pupil's value in the unit users read: shares in
            percent, counts as counts; NaN when missing or not numeric),
            ``contribution`` (log-odds) and ``text`` (a sentence such as
            "Neattaisnoti kavējumi pēdējās 4 nedēļās: 14 stundas — paaugstina
            risku"). A change that moved the good way yet raises risk (grades
            rose less than the typical pupil's) says so: "…: +0.17 points per
            month, a smaller rise than usual — raises risk". Sensitive
            attributes (sex, home language, migrant background, special needs,
            and any registry feature marked sensitive) are never offered,
            whatever ``domains`` says.

        Raises
        ------
        ValueError
            If ``k`` is not a positive int, ``lang`` is unknown, or ``domains`` is
            empty or names an unknown domain.
        TypeError
            If ``domains`` is not None or an iterable of str.

        Examples
        --------
        >>> import numpy as np
        >>> import pandas as pd
        >>> idx = pd.Index(["P1"], name="pupil_id")
        >>> v = pd.DataFrame({"unexcused_lessons_28d": [0.9], "grade_level": [0.7],
        ...                   "grade_mean_ytd": [0.2]}, index=idx)
        >>> d = pd.DataFrame({"unexcused_lessons_28d": [np.nan], "grade_level": [9],
        ...                   "grade_mean_ytd": [3.4]}, index=idx)
        >>> ex = Explanation(v, -3.0, d, {"unexcused_lessons_28d": "attendance",
        ...                               "grade_level": "context", "grade_mean_ytd": "grades"})
        >>> ex.reasons(lang="en")["feature"].tolist()
        ['grade_mean_ytd']
        >>> ex.reasons(lang="en", include_missing=True,
        ...            domains=["attendance", "grades", "context"])["feature"].tolist()
        ['unexcused_lessons_28d', 'grade_level', 'grade_mean_ytd']
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"The 'k' parameter of reasons must be a positive int. Got {k!r} instead.")
        if lang not in _LANGS:
            raise ValueError(f"The 'lang' parameter of reasons must be one of {_LANGS}. Got {lang!r} instead.")
        if not isinstance(include_missing, (bool, np.bool_)):
            raise TypeError(
                "The 'include_missing' parameter of reasons must be a bool. "
                f"Got {include_missing!r} instead."
            )
        feature_domains = self._domains()
        allowed = self._reason_domains(domains, feature_domains)
        texts = reason_texts()
        reg = _registry()
        columns = list(self.values.columns)
        n, p = self.values.shape
        eligible = np.array(
            [
                d in allowed and not _is_sensitive(c, reg, texts["sensitive_features"])
                for c, d in zip(columns, feature_domains)
            ],
            dtype=bool,
        )
        v = self.values.to_numpy(dtype=np.float64)
        score = np.where(eligible[None, :], v if only_raising else np.abs(v), -np.inf)
        if only_raising:
            score = np.where(v > 0, score, -np.inf)
        if not include_missing and eligible.any():
            cols = np.flatnonzero(eligible)
            missing_value = self.data.iloc[:, cols].isna().to_numpy(dtype=bool)
            score[:, cols] = np.where(missing_value, -np.inf, score[:, cols])
        kk = min(int(k), int(eligible.sum()))
        empty = pd.DataFrame(
            {
                "pupil_id": pd.Series([], dtype=self.values.index.dtype),
                "rank": pd.Series([], dtype="int64"),
                "feature": pd.Series([], dtype="str"),
                "domain": pd.Series([], dtype="str"),
                "value": pd.Series([], dtype="float64"),
                "contribution": pd.Series([], dtype="float64"),
                "text": pd.Series([], dtype="str"),
            }
        )
        if n == 0 or kk == 0:
            return empty
        # top kk per row: argpartition then sort the kk (vectorised over pupils)
        if kk < p:
            part = np.argpartition(-score, kk - 1, axis=1)[:, :kk]
        else:
            part = np.tile(np.arange(p), (n, 1))
        part_scores = np.take_along_axis(score, part, axis=1)
        order = np.argsort(-part_scores, axis=1, kind="stable")
        top = np.take_along_axis(part, order, axis=1)
        top_score = np.take_along_axis(part_scores, order, axis=1)
        keep = np.isfinite(top_score)
        rows = np.repeat(np.arange(n), kk).reshape(n, kk)[keep]
        ranks = np.tile(np.arange(1, kk + 1), (n, 1))[keep]
        feats = top[keep]
        contrib = v[rows, feats]
        # values and texts, feature by feature
        value_out = np.full(rows.shape[0], np.nan)
        text_out = np.empty(rows.shape[0], dtype=object)
        sep = texts["separator"]
        raises = texts["direction"]["raises"][lang]
        lowers = texts["direction"]["lowers"][lang]
        missing = texts["missing_value"][lang]
        fallback = texts["fallback"][lang]
        suffix = np.where(contrib > 0, sep + raises, sep + lowers)
        for j in np.unique(feats):
            name = columns[j]
            sel = np.flatnonzero(feats == j)
            raw = self.data.iloc[rows[sel], j]
            if isinstance(raw.dtype, pd.CategoricalDtype) or raw.dtype == object or raw.dtype.kind not in "fiub":
                vals = raw.astype(object).to_numpy()
            else:
                vals = raw.to_numpy()
            spec = None
            template = None
            direction = 0
            if reg is not None and name in reg.index:
                spec = reg.at[name, "value_format"] or None
                template = reg.at[name, f"reason_{lang}"]
                direction = int(reg.at[name, "direction"])
            formatted = _format_values(vals, spec, missing)
            if template is None or not isinstance(template, str):
                label = name.replace("_", " ")
                template = fallback.replace("{feature}", label)
            value_out[sel] = _user_unit(vals, spec)
            # a missing value reads "<label>: nav datu", without the unit after {value}
            no_data = template.split("{value}")[0] + missing if "{value}" in template else None
            na = pd.isna(vals) if no_data is not None else np.zeros(len(vals), dtype=bool)
            text_out[sel] = [no_data if m else template.format(value=f)
                             for f, m in zip(formatted, na.tolist())]
            if spec and spec.startswith("+") and direction != 0:
                text_out[sel] = _smaller_change_than_usual(
                    text_out[sel], vals, contrib[sel], direction, texts, lang)
        text_out = text_out + suffix.astype(object)
        domains_out = np.asarray(feature_domains, dtype=object)
        return pd.DataFrame(
            {
                "pupil_id": self.values.index.to_numpy()[rows],
                "rank": ranks.astype(np.int64),
                "feature": np.asarray(columns, dtype=object)[feats],
                "domain": domains_out[feats],
                "value": value_out,
                "contribution": contrib,
                "text": text_out.astype(object),
            }
        )

    def _reason_domains(self, domains, feature_domains: list[str]) -> set[str]:
        """The set of domains whose features ``reasons`` may offer (validated)."""
        if domains is None:
            return {d for d in feature_domains if d != "context"}
        known = list(DOMAIN_ORDER) + ["other"]
        known += sorted({d for d in feature_domains if d not in known})
        if isinstance(domains, str) or not hasattr(domains, "__iter__"):
            raise TypeError(
                "The 'domains' parameter of reasons must be None or an iterable of domain "
                f"names from {known}, e.g. ['attendance', 'grades']. Got {domains!r} instead."
            )
        domains = list(domains)
        bad = [d for d in domains if not isinstance(d, str)]
        if bad:
            raise TypeError(
                "The 'domains' parameter of reasons must hold domain names (str) from "
                f"{known}. Got {bad[:5]!r} instead."
            )
        unknown = [d for d in domains if d not in known]
        if unknown or not domains:
            raise ValueError(
                f"The 'domains' parameter of reasons must name one or more domains from {known}. "
                f"Got {domains!r} instead."
            )
        return set(domains)

    # ------------------------------------------------------------------ shap / plots
    def to_shap(self):
        """The stored values as a ``shap.Explanation`` (no recomputation).

        Numeric data are kept; categorical columns become their category codes
        (NaN when missing) so that shap can colour them.
        """
        import shap

        data = np.empty(self.data.shape, dtype=np.float64)
        for j, c in enumerate(self.data.columns):
            col = self.data[c]
            if isinstance(col.dtype, pd.CategoricalDtype):
                codes = col.cat.codes.to_numpy().astype(np.float64)
                codes[codes < 0] = np.nan
                data[:, j] = codes
            else:
                data[:, j] = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return shap.Explanation(
            values=self.values.to_numpy(dtype=np.float64),
            base_values=np.full(len(self.values), self.base_value),
            data=data,
            feature_names=[str(c) for c in self.values.columns],
        )

    def plot_importance(self, by: str = "feature", ax=None, max_display: int = 20):
        """Bar chart of mean |contribution| by feature or by domain; returns the axes."""
        from ._plots import plot_importance

        return plot_importance(self, by=by, ax=ax, max_display=max_display)

    def plot_beeswarm(self, max_display: int = 20, **kwargs):
        """shap's beeswarm of the stored values; returns the matplotlib axes."""
        from ._plots import plot_beeswarm

        return plot_beeswarm(self, max_display=max_display, **kwargs)

    def plot_waterfall(self, pupil_id, max_display: int = 12, **kwargs):
        """shap's waterfall for one pupil (by pupil id); returns the matplotlib figure."""
        from ._plots import plot_waterfall

        return plot_waterfall(self, pupil_id, max_display=max_display, **kwargs)

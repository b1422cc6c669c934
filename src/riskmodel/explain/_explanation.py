"""The :class:`Explanation` result object: contributions, domains and reasons."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .._checks import InvalidParameterError, check_bool, check_int, check_option
from ..vocab import DOMAINS
from ._reasons import is_sensitive, reason_codes, reason_sentences, reason_texts, top_reasons

logger = logging.getLogger(__name__)

__all__ = ["Explanation", "DOMAIN_ORDER", "RECORD_DOMAINS", "reason_texts"]

#: The registry's domains in reading order (:data:`riskmodel.vocab.DOMAINS`).
DOMAIN_ORDER = DOMAINS
#: Domains of what the pupil's own records show (a teacher can act on them): every
#: domain but ``context``, which describes where the pupil is.
RECORD_DOMAINS = tuple(d for d in DOMAINS if d != "context")
_LANGS = ("lv", "en")


def _registry() -> pd.DataFrame:
    from ..features import registry

    return registry()


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
    >>> ex.reasons(n_reasons=1, lang="lv")["text"].iloc[0]
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
            raise InvalidParameterError(
                "The 'values' parameter of Explanation must be a pandas DataFrame "
                f"(pupil x feature). Got {type(values).__name__} instead."
            )
        if not isinstance(data, pd.DataFrame):
            raise InvalidParameterError(
                "The 'data' parameter of Explanation must be a pandas DataFrame. "
                f"Got {type(data).__name__} instead."
            )
        if not isinstance(feature_domains, dict):
            raise InvalidParameterError(
                "The 'feature_domains' parameter of Explanation must be a dict feature -> "
                f"domain. Got {type(feature_domains).__name__} instead."
            )
        missing = [c for c in values.columns if c not in data.columns]
        if missing:
            raise InvalidParameterError(
                "The 'data' parameter of Explanation must hold every column of 'values'. "
                f"Missing: {missing[:5]}."
            )
        if len(data) != len(values) or not data.index.equals(values.index):
            raise InvalidParameterError(
                "The 'data' parameter of Explanation must have the same index as 'values' "
                f"({len(values)} rows). Got {len(data)} rows with a different index."
            )
        try:
            base = float(base_value)
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(
                f"The 'base_value' parameter of Explanation must be a float. Got {base_value!r} instead."
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
        """Domains present, in the order of :data:`riskmodel.vocab.DOMAINS`, then others alphabetically.

        Returns
        -------
        list of str

        Examples
        --------
        >>> import pandas as pd
        >>> v = pd.DataFrame({"mine": [0.1], "a": [0.2], "g": [0.3]})
        >>> Explanation(v, 0.0, v, {"a": "attendance", "g": "grades"}).domain_order()
        ['attendance', 'grades', 'other']
        """
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

        Examples
        --------
        >>> import pandas as pd
        >>> v = pd.DataFrame({"a1": [0.5, 0.0], "a2": [0.25, -1.0], "g": [0.125, 2.0]})
        >>> ex = Explanation(v, -1.0, v, {"a1": "attendance", "a2": "attendance", "g": "grades"})
        >>> ex.by_domain().to_dict("list")
        {'attendance': [0.75, -1.0], 'grades': [0.125, 2.0]}
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
            :data:`RECORD_DOMAINS`, leaving out the school context a teacher
            cannot change). Default: all domains.

        Returns
        -------
        pandas.Series
            Named ``top_domain``, same index as :attr:`values`.

        Examples
        --------
        >>> import pandas as pd
        >>> v = pd.DataFrame({"a": [0.5, 0.1], "g": [0.2, 0.3], "s": [0.9, 0.9]})
        >>> ex = Explanation(v, -1.0, v, {"a": "attendance", "g": "grades", "s": "context"})
        >>> ex.top_domain().tolist(), ex.top_domain(domains=["attendance", "grades"]).tolist()
        (['context', 'context'], ['attendance', 'grades'])
        """
        bd = self.by_domain()
        if domains is not None:
            domains = list(domains)
            unknown = [d for d in domains if d not in bd.columns]
            if unknown or not domains:
                raise InvalidParameterError(
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
        n_reasons: int = 3,
        lang: str = "lv",
        only_raising: bool = True,
        *,
        include_missing: bool = False,
        domains=None,
        k: int | None = None,
    ) -> pd.DataFrame:
        """The top ``n_reasons`` reasons per pupil, in plain words a teacher can act on.

        Parameters
        ----------
        n_reasons : int, default 3
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
        k : int, optional
            Alias of ``n_reasons`` (the name of earlier releases, kept because
            users call it; no warning). When given it is used, and ``n_reasons``
            must be left at its default or equal it.

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            (both a ``ValueError`` and a ``TypeError``) if ``n_reasons`` is not a
            positive int, ``lang`` is unknown, a switch is not a bool, or
            ``domains`` is not None or a non-empty iterable of known domain names.

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
        >>> ex.reasons(k=1, lang="en", domains=["context"])["text"].tolist()  # k: alias
        ['Grade: 9 — raises risk']
        """
        n_reasons = self._n_reasons(n_reasons, k)
        check_option(lang, "lang", _LANGS, "reasons")
        check_bool(only_raising, "only_raising", "reasons")
        check_bool(include_missing, "include_missing", "reasons")
        feature_domains = self._domains()
        columns = list(self.values.columns)
        rows, ranks, feats, contrib = self._top_reasons(
            n_reasons, only_raising=only_raising, include_missing=include_missing,
            domains=domains)
        if len(rows) == 0:
            return pd.DataFrame(
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
        value_out, text_out = reason_sentences(self.data, rows, feats, contrib, lang, _registry())
        return pd.DataFrame(
            {
                "pupil_id": self.values.index.to_numpy()[rows],
                "rank": ranks,
                "feature": np.asarray(columns, dtype=object)[feats],
                "domain": np.asarray(feature_domains, dtype=object)[feats],
                "value": value_out,
                "contribution": contrib,
                "text": text_out,
            }
        )

    def _top_reasons(self, n_reasons: int, *, only_raising: bool = True,
                     include_missing: bool = False, domains=None):
        """Positions of the reasons (rows, ranks, feature columns) and their contributions.

        The parameters are those of :meth:`reasons`, already checked.
        """
        feature_domains = self._domains()
        allowed = self._reason_domains(domains, feature_domains)
        sensitive = reason_texts()["sensitive_features"]
        reg = _registry()
        columns = list(self.values.columns)
        eligible = np.array(
            [d in allowed and not is_sensitive(c, reg, sensitive) for c, d in zip(columns, feature_domains)],
            dtype=bool,
        )
        v = self.values.to_numpy(dtype=np.float64)
        rows, ranks, feats = top_reasons(
            v, eligible, n_reasons=n_reasons, only_raising=bool(only_raising),
            missing=None if include_missing else self.data.isna().to_numpy(dtype=bool),
        )
        return rows, ranks, feats, v[rows, feats]

    def _reasons_wide(self, n_reasons: int, langs=("lv", "en")):
        """The reasons as one column per rank and language, for the score files.

        Returns ``(wide, first)``: ``wide`` is indexed like :attr:`values` with
        columns ``reason_<rank>_<lang>`` (all ranks of ``langs[0]``, then of the
        next language; dtype ``str``, missing where a pupil has fewer reasons), the
        same sentences :meth:`reasons` gives with ``only_raising=True``;
        ``first`` is the feature of each pupil's first reason (indexed by the
        pupils that have one, in row order). The top reasons are chosen once and
        the sentences are placed by position (no pivot).

        Examples
        --------
        >>> import pandas as pd
        >>> idx = pd.Index(["P1", "P2"], name="pupil_id")
        >>> v = pd.DataFrame({"unexcused_lessons_28d": [0.9, -0.1],
        ...                   "grade_mean_ytd": [0.2, -0.3]}, index=idx)
        >>> ex = Explanation(v, -3.0, v * 0 + [14, 6.5], {"unexcused_lessons_28d": "attendance",
        ...                                               "grade_mean_ytd": "grades"})
        >>> wide, first = ex._reasons_wide(2, langs=("en",))
        >>> wide.loc["P1"].tolist()
        ['Unexcused absences in the last 4 weeks: 14 lessons — raises risk', 'Average grade this school year: 6.5 — raises risk']
        >>> bool(wide.loc["P2"].isna().all()), first.tolist()
        (True, ['unexcused_lessons_28d'])
        """
        n = len(self.values)
        rows, ranks, feats, contrib = self._top_reasons(n_reasons)
        columns = np.asarray(list(self.values.columns), dtype=object)
        top = ranks == 1
        first = pd.Series(columns[feats[top]], index=pd.Index(
            self.values.index.to_numpy()[rows[top]], name=self.values.index.name),
            name="first_reason")
        import pyarrow as pa

        _, codes, sentences = reason_codes(self.data, rows, feats, contrib, _registry(), langs)
        out = {}
        for lang in langs:
            # each distinct sentence is one Python string; the columns are Arrow strings
            # taken from them by code (no string object per pupil)
            dictionary = pa.array(sentences[lang], type=pa.large_string())
            for r in range(1, n_reasons + 1):
                col = np.full(n, -1, dtype=np.int64)
                sel = ranks == r
                col[rows[sel]] = codes[sel]
                text = dictionary.take(pa.array(col, mask=col < 0))
                out[f"reason_{r}_{lang}"] = pd.Series(pd.array(text, dtype="str"),
                                                      index=self.values.index)
        return pd.DataFrame(out, index=self.values.index), first

    @staticmethod
    def _n_reasons(n_reasons, k):
        """``n_reasons``, or its alias ``k`` when given (checked under the name used)."""
        if k is None:
            return check_int(n_reasons, "n_reasons", "reasons", min_value=1)
        k = check_int(k, "k", "reasons", min_value=1)
        if n_reasons != 3 and n_reasons != k:
            raise InvalidParameterError(
                "The 'k' parameter of reasons is an alias of 'n_reasons'; give one of them. "
                f"Got n_reasons={n_reasons!r} and k={k!r}."
            )
        return k

    def _reason_domains(self, domains, feature_domains: list[str]) -> set[str]:
        """The set of domains whose features ``reasons`` may offer (validated)."""
        if domains is None:
            return {d for d in feature_domains if d != "context"}
        known = list(DOMAIN_ORDER) + ["other"]
        known += sorted({d for d in feature_domains if d not in known})
        if isinstance(domains, str) or not hasattr(domains, "__iter__"):
            raise InvalidParameterError(
                "The 'domains' parameter of reasons must be None or an iterable of domain "
                f"names from {known}, e.g. ['attendance', 'grades']. Got {domains!r} instead."
            )
        domains = list(domains)
        bad = [d for d in domains if not isinstance(d, str)]
        if bad:
            raise InvalidParameterError(
                "The 'domains' parameter of reasons must hold domain names (str) from "
                f"{known}. Got {bad[:5]!r} instead."
            )
        unknown = [d for d in domains if d not in known]
        if unknown or not domains:
            raise InvalidParameterError(
                f"The 'domains' parameter of reasons must name one or more domains from {known}. "
                f"Got {domains!r} instead."
            )
        return set(domains)

    # ------------------------------------------------------------------ shap / plots
    def to_shap(self):
        """The stored values as a ``shap.Explanation`` (no recomputation).

        Numeric data are kept; categorical columns become their category codes
        (NaN when missing) so that shap can colour them.

        Returns
        -------
        shap.Explanation

        Examples
        --------
        >>> import pandas as pd
        >>> v = pd.DataFrame({"a": [0.5, -0.25]})
        >>> d = pd.DataFrame({"a": pd.Categorical(["x", None])})
        >>> sx = Explanation(v, -1.0, d, {}).to_shap()
        >>> sx.values.tolist(), sx.data.tolist(), sx.base_values.tolist()
        ([[0.5], [-0.25]], [[0.0], [nan]], [-1.0, -1.0])
        """
        from ._plots import import_shap

        shap = import_shap()
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
        """Bar chart of mean |contribution| by feature or by domain.

        Parameters
        ----------
        by : {"feature", "domain"}, default="feature"
        ax : matplotlib Axes, optional
        max_display : int, default=20
            Largest number of bars (the most important ones).

        Returns
        -------
        ImportanceDisplay
            With ``importance_``, ``ax_`` and ``figure_``.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import pandas as pd
        >>> v = pd.DataFrame({"a": [0.4, -0.2], "b": [0.1, 0.1]})
        >>> disp = Explanation(v, -2.0, v, {}).plot_importance()
        >>> [t.get_text() for t in disp.ax_.get_yticklabels()]
        ['b', 'a']
        """
        from ._plots import ImportanceDisplay

        return ImportanceDisplay.from_explanation(self, by=by, max_display=max_display).plot(ax=ax)

    def plot_beeswarm(self, max_display: int = 20, *, ax=None, **kwargs):
        """shap's beeswarm of the stored values.

        Parameters
        ----------
        max_display : int, default=20
        ax : matplotlib Axes, optional
        **kwargs
            Passed to ``shap.plots.beeswarm``.

        Returns
        -------
        BeeswarmDisplay
            With ``shap_values_``, ``ax_`` and ``figure_``.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import pandas as pd
        >>> v = pd.DataFrame({"a": [0.4, -0.2, 0.3], "b": [0.1, 0.0, -0.1]})
        >>> disp = Explanation(v, -2.0, v, {}).plot_beeswarm(max_display=5)
        >>> [t.get_text() for t in disp.ax_.get_yticklabels()]
        ['b', 'a']
        """
        from ._plots import BeeswarmDisplay

        return BeeswarmDisplay.from_explanation(self, max_display=max_display).plot(ax=ax, **kwargs)

    def plot_waterfall(self, pupil_id, max_display: int = 12, *, ax=None, **kwargs):
        """shap's waterfall for one pupil (by pupil id).

        Parameters
        ----------
        pupil_id : object
            A label of :attr:`values`' index.
        max_display : int, default=12
        ax : matplotlib Axes, optional
        **kwargs
            Passed to ``shap.plots.waterfall``.

        Returns
        -------
        WaterfallDisplay
            With ``shap_values_``, ``ax_`` and ``figure_``.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import pandas as pd
        >>> v = pd.DataFrame({"a": [0.4, -0.2], "b": [0.1, 0.3]}, index=["P1", "P2"])
        >>> Explanation(v, -2.0, v, {}).plot_waterfall("P1").shap_values_.values.tolist()
        [0.4, 0.1]
        """
        from ._plots import WaterfallDisplay

        return WaterfallDisplay.from_explanation(self, pupil_id, max_display=max_display).plot(ax=ax, **kwargs)

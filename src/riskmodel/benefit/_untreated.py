"""The risk model under support: risk *without new support* (issue 17, item 5).

Outcomes in the records are changed by the support that earlier scores (or
teachers) triggered: a pupil who got a mentor in October and stayed looks, to a
model fitted on realised outcomes, like a pupil at lower risk. What the default
risk means therefore has to be decided. riskmodel's answer: **the risk of early
leaving within the horizon if no new support starts**, the quantity the
synthetic truth's ``p_leave`` is (ongoing support is part of the state, new
support is not anticipated), and the one an allocation needs, because it is the
risk that the support is meant to lower.

The estimator of it here: the support in the training rows, scored as if none
started. Each training row ``(as_of, pupil)`` carries an explicit treatment
indicator per kind, ``new_support_<kind>`` = 1 when support of that kind started
within ``window_days`` after ``as_of`` (from the support history table). These
columns are the *treatment*, not features: they look after ``as_of`` on purpose,
only in training, and are set to 0 at scoring (:func:`as_if_no_new_support`),
so no feature sees a later record.

Measured against the truth (``benchmarks/bench_risk_under_support.py``,
docs/benefit.md): on the synthetic system the 30-day indicator model, the
whole-horizon indicator (biased by immortal time) and the naive model agree
within refitting noise, because new support in the window prevents 0.07-0.6 %
of the expected leavings. The default risk model is therefore the naive fit (no
treatment columns in the deployed model's inputs); these functions fit and
score the indicator model where support is common and effective enough to
matter (the model card prints the share of training rows with new support).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._trial import SIM_KINDS

__all__ = ["PREFIX", "as_if_no_new_support", "new_support", "treatment_columns"]

#: prefix of the treatment indicator columns
PREFIX = "new_support_"


def new_support(tables, index: pd.MultiIndex, *, kinds=SIM_KINDS, window_days: int = 30,
                ) -> pd.DataFrame:
    """Treatment indicators of stacked cohort rows: support of kind ``k`` started in the window.

    Parameters
    ----------
    tables : SchoolTables
        Its ``support`` table (``pupil_id, start_date, kind``) is read; an
        empty or missing table gives zeros.
    index : MultiIndex ``(as_of, pupil_id)``
        The training rows (e.g. the stacked cohorts of a training run).
    kinds : sequence of str
    window_days : int, default 30
        ``new_support_<kind>`` is 1 when ``as_of <= start_date < as_of + window_days``.

    Returns
    -------
    DataFrame
        ``new_support_<kind>`` (float 0/1), indexed like ``index``.

    Examples
    --------
    >>> import pandas as pd, riskmodel as rm
    >>> from riskmodel.benefit import new_support
    >>> world = rm.datasets.make_school_system(n_pupils=300, n_years=2, random_state=0)
    >>> X = rm.build_features(world.tables, "2022-10-03")
    >>> idx = pd.MultiIndex.from_product([[pd.Timestamp("2022-10-03")], X.index],
    ...                                  names=["as_of", "pupil_id"])
    >>> t = new_support(world.tables, idx)
    >>> list(t.columns)
    ['new_support_mentor', 'new_support_literacy', 'new_support_subject', 'new_support_support_staff']
    >>> sup = world.tables.support
    >>> started = sup[(sup.start_date >= "2022-10-03") & (sup.start_date < "2022-11-02")]
    >>> int(t.to_numpy().sum()) == len(started.drop_duplicates(["pupil_id", "kind"]))
    True
    """
    if not isinstance(index, pd.MultiIndex) or index.nlevels != 2:
        raise ValueError("new_support needs the rows' MultiIndex (as_of, pupil_id); got "
                         f"{type(index).__name__} with {getattr(index, 'nlevels', 1)} level(s).")
    window = np.timedelta64(int(window_days), "D")
    as_of = pd.to_datetime(index.get_level_values(0)).to_numpy(dtype="datetime64[ns]")
    pupil = index.get_level_values(1).astype(str).to_numpy()
    out = {f"{PREFIX}{k}": np.zeros(len(index)) for k in kinds}
    sup = getattr(tables, "support", None)
    if sup is None or len(sup) == 0:
        return pd.DataFrame(out, index=index)
    start = pd.to_datetime(sup["start_date"]).to_numpy(dtype="datetime64[ns]")
    kind = sup["kind"].astype(str).to_numpy()
    sp = sup["pupil_id"].astype(str).to_numpy()
    for d in np.unique(as_of):
        rows = as_of == d
        for k in kinds:
            hit = (kind == k) & (start >= d) & (start < d + window)
            if hit.any():
                out[f"{PREFIX}{k}"][rows] = np.isin(pupil[rows], sp[hit]).astype(np.float64)
    return pd.DataFrame(out, index=index)


def treatment_columns(model) -> list[str]:
    """The fitted model's treatment indicator columns (``new_support_*``), in its order."""
    names = getattr(model, "feature_names_", None)
    if names is None:
        names = getattr(model, "feature_names_in_", [])
    return [str(c) for c in names if str(c).startswith(PREFIX)]


def as_if_no_new_support(X: pd.DataFrame, model) -> pd.DataFrame:
    """``X`` with the model's treatment columns set to 0: scoring as if no new support starts.

    A model fitted without treatment columns gets ``X`` back unchanged; any
    ``new_support_*`` column of ``X`` that the model knows is overwritten with 0.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from riskmodel.benefit import as_if_no_new_support
    >>> class M:
    ...     feature_names_ = ["absences", "new_support_mentor"]
    >>> X = pd.DataFrame({"absences": [1.0, 7.0]})
    >>> as_if_no_new_support(X, M())["new_support_mentor"].tolist()
    [0.0, 0.0]
    """
    cols = treatment_columns(model)
    if not cols:
        return X
    X = X.copy()
    for c in cols:
        X[c] = 0.0
    order = [str(c) for c in model.feature_names_] if hasattr(model, "feature_names_") else None
    return X[order] if order is not None and set(order) <= set(map(str, X.columns)) else X

"""Exact, fast explanations of riskmodel's tree models, in a teacher's words.

- :func:`tree_shap` — exact path-dependent TreeSHAP of a ``lightgbm.Booster``
  (equal to ``pred_contrib``), much faster than LightGBM's own.
- :class:`Explanation` — the per-pupil contributions with ``by_domain()``,
  ``reasons(n_reasons, lang)`` (Latvian and English sentences from
  ``reason_texts.yaml`` and the feature registry), ``to_shap()`` and plots.
- :class:`ImportanceDisplay`, :class:`BeeswarmDisplay`, :class:`WaterfallDisplay` —
  the plots, in scikit-learn's Display pattern (``plot(ax=None)`` returns the
  display with ``ax_`` and ``figure_``).
- :func:`reason_texts` — the versioned reason phrases.

Inside: ``_model_text`` (LightGBM's model text as numpy arrays, no numba),
``_plan`` (per-leaf and per-tree evaluation data), ``_kernels`` (the numba
kernels), ``_treeshap`` (the driver and its cache), ``_reasons`` and ``_plots``.

Examples
--------
>>> import numpy as np, pandas as pd, lightgbm as lgb
>>> from riskmodel.explain import Explanation, tree_shap
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(300, 2)); y = (X[:, 0] + rng.normal(size=300) > 0).astype(int)
>>> booster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, y), 5)
>>> values, base = tree_shap(booster, X)
>>> frame = pd.DataFrame(X, columns=["unexcused_lessons_28d", "grade_mean_ytd"])
>>> ex = Explanation(pd.DataFrame(values, columns=frame.columns), base, frame,
...                  {"unexcused_lessons_28d": "attendance", "grade_mean_ytd": "grades"})
>>> bool(np.allclose(ex.by_domain().sum(axis=1) + ex.base_value, booster.predict(X, raw_score=True)))
True
"""

from ._explanation import DOMAIN_ORDER, RECORD_DOMAINS, Explanation, reason_texts
from ._plots import BeeswarmDisplay, ImportanceDisplay, WaterfallDisplay
from ._treeshap import tree_shap

__all__ = [
    "Explanation",
    "tree_shap",
    "reason_texts",
    "DOMAIN_ORDER",
    "RECORD_DOMAINS",
    "ImportanceDisplay",
    "BeeswarmDisplay",
    "WaterfallDisplay",
]

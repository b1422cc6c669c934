"""Exact, fast explanations of riskmodel's tree models, in a teacher's words.

- :func:`tree_shap` — exact path-dependent TreeSHAP of a ``lightgbm.Booster``
  (equal to ``pred_contrib``), much faster than LightGBM's own.
- :class:`Explanation` — the per-pupil contributions with ``by_domain()``,
  ``reasons(k, lang)`` (Latvian and English sentences from ``reason_texts.yaml``
  and the feature registry), ``to_shap()`` and plots.
- :func:`reason_texts` — the versioned reason phrases.
"""

from ._explanation import DOMAIN_ORDER, Explanation, reason_texts
from ._treeshap import tree_shap

__all__ = ["Explanation", "tree_shap", "reason_texts", "DOMAIN_ORDER"]

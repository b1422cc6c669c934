"""Who benefits from which support: :class:`BenefitModel` and :func:`evaluate`.

The benefit model emulates a target trial at each decision date (see
:mod:`riskmodel.benefit._trial`): rows are the point-in-time cohort, treatment
of kind ``k`` is support of that kind starting within ``window_days``, the
outcome is early leaving within the horizon, pupils already in support of that
kind are out of its arm, and so are pupils the programme rules make ineligible.
A cross-fitted AIPW learner (:mod:`riskmodel.benefit._dr`) with folds grouped by
school gives pseudo-outcomes; a LightGBM effect model per arm learns the benefit
``benefit_<kind>`` (positive: fewer leavings). :func:`evaluate` measures on a
later cohort, with held-out AIPW scores, whether prioritising by the estimated
benefit beats prioritising by risk (TOC curves and RATE, clustered bootstrap).
:func:`new_support` and :func:`as_if_no_new_support` fit the risk *without new
support* (:mod:`riskmodel.benefit._untreated`).
"""

from ._evaluate import BenefitEvaluation, evaluate, rate
from ._model import BenefitModel
from ._plot import QiniDisplay
from ._untreated import as_if_no_new_support, new_support

__all__ = ["BenefitEvaluation", "BenefitModel", "QiniDisplay", "as_if_no_new_support", "evaluate", "new_support",
           "rate"]

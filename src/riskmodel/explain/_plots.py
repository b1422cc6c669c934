"""Displays of an :class:`~riskmodel.explain.Explanation` (matplotlib / shap, imported lazily).

Each display follows scikit-learn's Display pattern: ``from_explanation`` takes
the stored contributions (no recomputation), ``plot(ax=None)`` draws them and
returns the display with ``ax_`` and ``figure_``; nothing calls ``plt.show()``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._checks import InvalidParameterError, check_int, check_option
from .._display import Display, axes

__all__ = ["BeeswarmDisplay", "ImportanceDisplay", "WaterfallDisplay", "import_shap"]


def import_shap():
    """``import shap``, without the PendingDeprecationWarning its import raises.

    shap's colour maps call matplotlib's ``Colormap.set_bad`` / ``set_over`` /
    ``set_under``, which matplotlib marks as pending deprecation; riskmodel's users
    can do nothing about it.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="The set_.* function will be deprecated", category=PendingDeprecationWarning
        )
        import shap
    return shap


class ImportanceDisplay(Display):
    """Mean absolute contribution by feature or by domain, as horizontal bars.

    Parameters
    ----------
    importance : pandas.Series
        Mean |contribution| (log-odds), largest first.
    by : {"feature", "domain"}, default="feature"
        What the bars are (names the title).

    Attributes
    ----------
    importance_ : pandas.Series
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from riskmodel.explain import Explanation, ImportanceDisplay
    >>> v = pd.DataFrame({"a": [0.4, -0.2], "b": [0.1, 0.1]})
    >>> ex = Explanation(v, -2.0, v, {"a": "attendance", "b": "grades"})
    >>> disp = ImportanceDisplay.from_explanation(ex, by="domain").plot()
    >>> disp.importance_.round(2).to_dict()
    {'attendance': 0.3, 'grades': 0.1}
    >>> [t.get_text() for t in disp.ax_.get_yticklabels()]
    ['grades', 'attendance']
    """

    def __init__(self, importance: pd.Series, *, by: str = "feature"):
        self.importance_ = importance
        self.by = by

    @classmethod
    def from_explanation(cls, explanation, *, by: str = "feature", max_display: int = 20):
        """Mean |contribution| per feature (``values``) or domain (``by_domain()``).

        Parameters
        ----------
        explanation : Explanation
        by : {"feature", "domain"}, default="feature"
        max_display : int, default=20
            Largest number of bars (the most important ones).

        Returns
        -------
        ImportanceDisplay
        """
        check_option(by, "by", ("feature", "domain"), "plot_importance")
        max_display = check_int(max_display, "max_display", "plot_importance", min_value=1)
        frame = explanation.values if by == "feature" else explanation.by_domain()
        importance = frame.abs().mean(axis=0).sort_values(ascending=False).head(max_display)
        return cls(importance, by=by)

    def plot(self, ax=None):
        """Draw the bars, the most important on top.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw on; new ones (sized to the bars) by default.

        Returns
        -------
        ImportanceDisplay
        """
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6.0, 0.35 * len(self.importance_) + 1.2))
        labels = [str(i) for i in self.importance_.index[::-1]]
        ax.barh(labels, self.importance_.to_numpy()[::-1], color="#1f77b4")
        ax.set_xlabel("mean |contribution| (log-odds)")
        ax.set_title(f"Importance by {self.by}")
        return self._set(ax)


class BeeswarmDisplay(Display):
    """shap's beeswarm of the stored contributions (one dot per pupil and feature).

    Parameters
    ----------
    shap_values : shap.Explanation
        From :meth:`Explanation.to_shap`.
    max_display : int, default=20
        Features shown; the rest are summed into one row.

    Attributes
    ----------
    shap_values_ : shap.Explanation
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from riskmodel.explain import BeeswarmDisplay, Explanation
    >>> v = pd.DataFrame({"a": [0.4, -0.2, 0.3], "b": [0.1, 0.0, -0.1]})
    >>> disp = BeeswarmDisplay.from_explanation(Explanation(v, -2.0, v, {})).plot()
    >>> [t.get_text() for t in disp.ax_.get_yticklabels()]
    ['b', 'a']
    """

    def __init__(self, shap_values, *, max_display: int = 20):
        self.shap_values_ = shap_values
        self.max_display = max_display

    @classmethod
    def from_explanation(cls, explanation, *, max_display: int = 20):
        """The explanation's values as shap reads them.

        Parameters
        ----------
        explanation : Explanation
        max_display : int, default=20

        Returns
        -------
        BeeswarmDisplay
        """
        max_display = check_int(max_display, "max_display", "plot_beeswarm", min_value=1)
        return cls(explanation.to_shap(), max_display=max_display)

    def plot(self, ax=None, **kwargs):
        """Draw the beeswarm.

        Parameters
        ----------
        ax : matplotlib Axes, optional
        **kwargs
            Passed to ``shap.plots.beeswarm``.

        Returns
        -------
        BeeswarmDisplay
        """
        shap = import_shap()

        if ax is None:
            import matplotlib.pyplot as plt

            n_rows = min(self.max_display, self.shap_values_.values.shape[1])
            _, ax = plt.subplots(figsize=(7.0, 0.4 * n_rows + 1.5))
        drawn = shap.plots.beeswarm(
            self.shap_values_, max_display=self.max_display, show=False, ax=ax, plot_size=None, **kwargs
        )
        return self._set(drawn if drawn is not None else ax)


class WaterfallDisplay(Display):
    """shap's waterfall for one pupil: from the base value to the pupil's log-odds.

    Parameters
    ----------
    shap_values : shap.Explanation
        One pupil's row of :meth:`Explanation.to_shap`.
    pupil_id : object
    max_display : int, default=12

    Attributes
    ----------
    shap_values_ : shap.Explanation
    pupil_id : object
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from riskmodel.explain import Explanation, WaterfallDisplay
    >>> v = pd.DataFrame({"a": [0.4, -0.2], "b": [0.1, 0.3]}, index=["P1", "P2"])
    >>> disp = WaterfallDisplay.from_explanation(Explanation(v, -2.0, v, {}), "P2").plot()
    >>> disp.shap_values_.values.tolist(), disp.figure_ is disp.ax_.figure
    ([-0.2, 0.3], True)
    """

    def __init__(self, shap_values, pupil_id, *, max_display: int = 12):
        self.shap_values_ = shap_values
        self.pupil_id = pupil_id
        self.max_display = max_display

    @classmethod
    def from_explanation(cls, explanation, pupil_id, *, max_display: int = 12):
        """One pupil's row of the explanation, by pupil id.

        Parameters
        ----------
        explanation : Explanation
        pupil_id : object
            A label of ``explanation.values.index`` (appearing once).
        max_display : int, default=12

        Returns
        -------
        WaterfallDisplay
        """
        max_display = check_int(max_display, "max_display", "plot_waterfall", min_value=1)
        index = explanation.values.index
        if pupil_id not in index:
            raise InvalidParameterError(
                "The 'pupil_id' parameter of plot_waterfall must be in the explanation's index. "
                f"Got {pupil_id!r} instead."
            )
        pos = index.get_loc(pupil_id)
        if not isinstance(pos, (int, np.integer)):
            raise InvalidParameterError(
                "The 'pupil_id' parameter of plot_waterfall must appear once in the explanation's "
                f"index. Got {pupil_id!r}, which appears more than once."
            )
        return cls(explanation.to_shap()[int(pos)], pupil_id, max_display=max_display)

    def plot(self, ax=None, **kwargs):
        """Draw the waterfall (shap draws on the current figure: ``ax``'s, or a new one).

        Parameters
        ----------
        ax : matplotlib Axes, optional
        **kwargs
            Passed to ``shap.plots.waterfall``.

        Returns
        -------
        WaterfallDisplay
        """
        import matplotlib.pyplot as plt

        shap = import_shap()

        ax, _ = axes(ax)
        plt.sca(ax)
        drawn = shap.plots.waterfall(self.shap_values_, max_display=self.max_display, show=False, **kwargs)
        return self._set(drawn if drawn is not None else plt.gca())

"""Plots of an :class:`~riskmodel.explain.Explanation` (matplotlib / shap, imported lazily).

Every function draws the stored contributions (no recomputation) and returns the
matplotlib axes or figure; none calls ``plt.show()``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_importance", "plot_beeswarm", "plot_waterfall"]


def plot_importance(explanation, by: str = "feature", ax=None, max_display: int = 20):
    """Horizontal bars of the mean absolute contribution, by feature or by domain.

    Parameters
    ----------
    explanation : Explanation
    by : {"feature", "domain"}, default "feature"
    ax : matplotlib Axes, optional
    max_display : int, default 20
        Largest number of bars (the most important ones).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if by not in ("feature", "domain"):
        raise ValueError(f"The 'by' parameter of plot_importance must be 'feature' or 'domain'. Got {by!r} instead.")
    if isinstance(max_display, bool) or not isinstance(max_display, (int, np.integer)) or max_display < 1:
        raise ValueError(f"The 'max_display' parameter must be a positive int. Got {max_display!r} instead.")
    import matplotlib.pyplot as plt

    frame = explanation.values if by == "feature" else explanation.by_domain()
    importance = frame.abs().mean(axis=0).sort_values(ascending=False).head(int(max_display))
    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 0.35 * len(importance) + 1.2))
    labels = [str(i) for i in importance.index[::-1]]
    ax.barh(labels, importance.to_numpy()[::-1], color="#1f77b4")
    ax.set_xlabel("mean |contribution| (log-odds)")
    ax.set_title(f"Importance by {by}")
    return ax


def plot_beeswarm(explanation, max_display: int = 20, **kwargs):
    """shap's beeswarm plot of the stored values; returns the axes."""
    import matplotlib.pyplot as plt
    import shap

    ax = kwargs.pop("ax", None)
    if ax is None:
        _, ax = plt.subplots(figsize=(7.0, 0.4 * min(max_display, explanation.values.shape[1]) + 1.5))
    result = shap.plots.beeswarm(
        explanation.to_shap(), max_display=max_display, show=False, ax=ax, plot_size=None, **kwargs
    )
    return result if result is not None else ax


def plot_waterfall(explanation, pupil_id, max_display: int = 12, **kwargs):
    """shap's waterfall plot for one pupil; returns the matplotlib figure."""
    import matplotlib.pyplot as plt
    import shap

    index = explanation.values.index
    if pupil_id not in index:
        raise ValueError(f"The 'pupil_id' parameter of plot_waterfall must be in the explanation's index. Got {pupil_id!r}.")
    pos = index.get_loc(pupil_id)
    if not isinstance(pos, (int, np.integer)):
        raise ValueError(f"The 'pupil_id' {pupil_id!r} appears more than once in the explanation's index.")
    fig = plt.figure()
    shap.plots.waterfall(explanation.to_shap()[int(pos)], max_display=max_display, show=False, **kwargs)
    return fig

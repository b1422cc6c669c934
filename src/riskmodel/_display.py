"""The base of every *Display* class (private; scikit-learn's Display pattern).

A display computes its numbers once (a ``from_*`` class method or the
constructor); ``plot(ax=None)`` draws them and returns the display with ``ax_``
and ``figure_`` set. matplotlib is imported only when plotting, and nothing calls
``plt.show()``. Used by :mod:`riskmodel.explain`; :mod:`riskmodel.plotting` has the
same two helpers and can import them from here.
"""

from __future__ import annotations

__all__ = ["Display", "axes"]


def axes(ax):
    """``(ax, figure)``: the given axes, or new ones on a new figure when ``ax`` is None.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> ax, fig = axes(None)
    >>> ax.figure is fig
    True
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots()
    return ax, ax.figure


class Display:
    """Base of the displays: ``ax_`` and ``figure_`` (None until :meth:`plot` ran).

    Examples
    --------
    >>> Display()
    <Display>
    """

    ax_ = None
    figure_ = None

    def __repr__(self):
        return f"<{type(self).__name__}>"

    def _set(self, ax):
        self.ax_, self.figure_ = ax, ax.figure
        return self

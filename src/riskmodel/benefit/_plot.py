"""Qini and TOC curves of prioritisation rules (scikit-learn's Display pattern).

The numbers are computed once (``from_predictions``, ``from_evaluation``,
``from_estimator``); ``plot(ax=None)`` draws them and returns the display with
``ax_`` and ``figure_``. matplotlib is imported only when plotting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._display import Display, axes

__all__ = ["QiniDisplay"]


def _curves(gamma, priorities, n_points, seed):
    """Tidy ``rule, q, toc, qini`` of each priority (ties broken at random, seeded)."""
    gamma = np.asarray(gamma, dtype=np.float64).ravel()
    n = len(gamma)
    if n == 0:
        raise ValueError("QiniDisplay needs at least one scored row; got none.")
    tie = np.random.default_rng(seed).random(n)
    grid = np.unique(np.linspace(1, n, num=min(n, n_points)).round().astype(int))
    rows = []
    for name, p in priorities.items():
        p = np.asarray(p, dtype=np.float64).ravel()
        if len(p) != n:
            raise ValueError(f"The priority of rule {name!r} has {len(p)} values; the scores "
                             f"have {n}.")
        if np.isnan(p).any():
            raise ValueError(f"The priority of rule {name!r} has {int(np.isnan(p).sum())} "
                             "missing values.")
        g = gamma[np.lexsort((tie, -p))]
        toc = np.cumsum(g)[grid - 1] / grid - g.mean()
        q = grid / n
        rows.append(pd.DataFrame({"rule": name, "q": q, "toc": toc, "qini": q * toc}))
    return pd.concat(rows, ignore_index=True)


@dataclass(repr=False)
class QiniDisplay(Display):
    """Qini (or TOC) curves: the benefit gained by serving the top ``q`` of each ranking.

    With unbiased per-row benefit scores ``gamma`` (held-out AIPW scores of
    :func:`riskmodel.benefit.evaluate`), ``TOC(q) = mean(gamma | top q) -
    mean(gamma)``, the extra benefit per pupil served over serving at random,
    and ``Qini(q) = q * TOC(q)``, the extra benefit per pupil of the cohort.
    The area under them is the RATE (AUTOC, Qini) of the evaluation's table.

    Parameters
    ----------
    curves_ : DataFrame
        Tidy: ``rule, q, toc, qini``.
    kind : str or None
        The support kind (for the title).
    metric : {"qini", "toc"}
        Which curve :meth:`plot` draws.

    Examples
    --------
    >>> import numpy as np
    >>> from riskmodel.benefit import QiniDisplay
    >>> rng = np.random.default_rng(0)
    >>> tau = rng.gamma(2, 0.02, 3000); gamma = tau + rng.normal(0, 0.1, 3000)
    >>> disp = QiniDisplay.from_predictions(gamma, {"true effect": tau,
    ...                                             "random": rng.random(3000)})
    >>> c = disp.curves_.groupby("rule").qini.mean()
    >>> bool(c["true effect"] > 0.003 > abs(c["random"]))
    True
    >>> disp.plot().ax_.get_xlabel()
    'share of pupils served (q)'
    """

    curves_: pd.DataFrame
    kind: str | None = None
    metric: str = "qini"

    @classmethod
    def from_predictions(cls, gamma, priorities, *, kind=None, metric="qini", n_points=200,
                         random_state=0):
        """Curves of the rules in ``priorities`` (dict name -> array, higher first)."""
        if metric not in ("qini", "toc"):
            raise ValueError(f"QiniDisplay: metric must be 'qini' or 'toc'; got {metric!r}.")
        if not isinstance(priorities, dict) or not priorities:
            raise ValueError("QiniDisplay: 'priorities' must be a non-empty dict of rule name "
                             "-> priority array.")
        return cls(curves_=_curves(gamma, priorities, n_points, random_state), kind=kind,
                   metric=metric)

    @classmethod
    def from_evaluation(cls, evaluation, kind="mentor", *, rules=None, metric="qini",
                        n_points=200):
        """Curves of an evaluation's held-out AIPW scores of ``kind`` (all its rules by default)."""
        if kind not in evaluation.scores:
            why = evaluation.arms.get(kind, {}).get("reason", "not in the evaluation")
            raise ValueError(f"QiniDisplay: kind {kind!r} was not evaluated ({why}); evaluated: "
                             f"{sorted(evaluation.scores)}.")
        s = evaluation.scores[kind]
        names = [c for c in s.columns if c != "gamma"] if rules is None else list(rules)
        missing = sorted(set(names) - set(s.columns))
        if missing:
            raise ValueError(f"QiniDisplay: rules {missing} are not in the evaluation of "
                             f"{kind!r} (has {[c for c in s.columns if c != 'gamma']}).")
        return cls.from_predictions(s["gamma"].to_numpy(), {r: s[r].to_numpy() for r in names},
                                    kind=kind, metric=metric, n_points=n_points)

    @classmethod
    def from_estimator(cls, model, tables, as_of_dates, kind="mentor", *, risk=None,
                       metric="qini", n_points=200, random_state=0):
        """Evaluate ``model`` on the later cohort ``as_of_dates`` and draw ``kind``'s curves.

        Runs :func:`riskmodel.benefit.evaluate` (with few bootstrap draws: the
        curves do not need them); use :meth:`from_evaluation` to reuse one.
        """
        from ._evaluate import evaluate

        ev = evaluate(model, tables, as_of_dates, risk=risk, n_boot=10,
                      random_state=random_state)
        return cls.from_evaluation(ev, kind, metric=metric, n_points=n_points)

    def plot(self, ax=None):
        """Draw on ``ax`` (a new figure when None); returns the display with ``ax_`` and ``figure_``."""
        ax, _ = axes(ax)
        for name, g in self.curves_.groupby("rule", sort=False):
            ax.plot(g["q"], g[self.metric], label=str(name))
        ax.axhline(0.0, color="grey", linewidth=1)
        ax.set_xlabel("share of pupils served (q)")
        ax.set_ylabel("Qini: extra benefit per pupil of the cohort" if self.metric == "qini"
                      else "TOC: extra benefit per pupil served")
        if self.kind is not None:
            ax.set_title(f"{self.kind}")
        ax.legend(fontsize=8)
        return self._set(ax)

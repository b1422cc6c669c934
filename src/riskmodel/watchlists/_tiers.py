"""List tiers with hysteresis (private).

A pupil enters a tier by this run's national rank, and a pupil who was in it
stays while either this run's rank or the rank of a smoothed risk (the mean of
this and the previous run's log-odds of the calibrated risk) is within the
tier's exit cut-off. Leaving therefore needs the evidence of two runs, while
entering never waits: every pupil in the top ``high_fraction`` now is "high" now.
The defaults (exit at 1.3 x the entry share) were chosen on three synthetic
worlds and checked on five others (``benchmarks/bench_watchlists.py``,
``docs/watchlists.md``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._checks import resolve_capacity
from .._ranking import national_rank

__all__ = ["hysteresis_tiers", "national_rank", "smoothed_rank"]

#: exit cut-off = this x the entry share, where TierConfig leaves it unset
HIGH_EXIT_FACTOR = 1.3
ELEVATED_EXIT_FACTOR = 1.3


def smoothed_rank(risk: pd.Series, previous_risk: pd.Series | None) -> pd.Series | None:
    """National rank of the mean of this and the previous run's ``logit(risk)``.

    A pupil not scored in the previous run keeps this run's log-odds. ``None``
    without a previous run.

    Examples
    --------
    >>> import pandas as pd
    >>> now = pd.Series([0.5, 0.4, 0.1], index=list("abc"))
    >>> before = pd.Series([0.05, 0.5], index=list("ab"))
    >>> smoothed_rank(now, before).tolist()
    [2, 1, 3]
    """
    if previous_risk is None:
        return None
    from scipy.special import logit

    def lo(r):
        return pd.Series(logit(np.clip(r.to_numpy(dtype=float), 1e-9, 1 - 1e-9)), index=r.index)

    cur = lo(risk)
    prev = lo(previous_risk.dropna()).reindex(risk.index)
    return national_rank(((cur + prev) / 2).where(prev.notna(), cur))


def hysteresis_tiers(rank: pd.Series, previous: pd.Series | None, *, high_fraction: float,
                     elevated_fraction: float, high_exit_fraction: float,
                     elevated_exit_fraction: float,
                     smoothed: pd.Series | None = None) -> pd.Series:
    """Tiers by national rank (1 = highest risk) with a lower exit cut-off.

    A pupil enters "high" at rank <= ``ceil(high_fraction * n)`` and, once high,
    stays high while rank <= ``ceil(high_exit_fraction * n)`` or, with
    ``smoothed`` (:func:`smoothed_rank`), while the smoothed rank is within it;
    likewise for "elevated" (a previous "high" counts as at least "elevated").
    Without a previous run these are the plain rank cut-offs.

    Examples
    --------
    >>> import pandas as pd
    >>> rank = pd.Series([1, 2, 3, 4], index=list("abcd"))
    >>> prev = pd.Series(["low", "low", "high", "high"], index=list("abcd"))
    >>> kw = dict(high_fraction=0.25, elevated_fraction=0.5, high_exit_fraction=0.75,
    ...           elevated_exit_fraction=0.75)
    >>> hysteresis_tiers(rank, prev, **kw).tolist()
    ['high', 'elevated', 'high', 'low']
    >>> hysteresis_tiers(rank, prev, **kw, smoothed=pd.Series([1, 4, 3, 2], list("abcd"))).tolist()
    ['high', 'elevated', 'high', 'high']
    """
    n = len(rank)
    cap = lambda f: resolve_capacity(n, top_fraction=f, func="hysteresis_tiers")  # noqa: E731
    high, elev = cap(high_fraction), max(cap(high_fraction), cap(elevated_fraction))
    high_x = max(high, cap(high_exit_fraction))
    elev_x = max(elev, cap(elevated_exit_fraction))
    r = rank.to_numpy()
    # the better of the two ranks decides staying; entering is by this run's rank only
    stay_r = r if smoothed is None else np.minimum(
        r, smoothed.reindex(rank.index).fillna(n + 1).to_numpy())
    prev = (previous.reindex(rank.index).astype(object).fillna("low").to_numpy()
            if previous is not None else np.full(n, "low", dtype=object))
    was_high = prev == "high"
    was_listed = was_high | (prev == "elevated")
    is_high = (r <= high) | (was_high & (stay_r <= high_x))
    is_elev = ~is_high & ((r <= elev) | (was_listed & (stay_r <= elev_x)))
    labels = np.where(is_high, "high", np.where(is_elev, "elevated", "low"))
    return pd.Series(pd.Categorical(labels, categories=["high", "elevated", "low"], ordered=True),
                     index=rank.index, name="tier")

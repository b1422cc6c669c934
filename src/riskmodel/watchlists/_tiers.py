"""List tiers with hysteresis (private)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._checks import resolve_capacity

__all__ = ["hysteresis_tiers"]


def hysteresis_tiers(rank: pd.Series, previous: pd.Series | None, *, high_fraction: float,
                     elevated_fraction: float, high_exit_fraction: float,
                     elevated_exit_fraction: float) -> pd.Series:
    """Tiers by national rank (1 = highest risk) with a lower exit cut-off.

    A pupil enters "high" at rank <= ``ceil(high_fraction * n)`` and, once high,
    stays high while rank <= ``ceil(high_exit_fraction * n)``; likewise for
    "elevated" (a previous "high" counts as at least "elevated"). Without a
    previous run these are the plain rank cut-offs.

    Examples
    --------
    >>> import pandas as pd
    >>> rank = pd.Series([1, 2, 3, 4], index=list("abcd"))
    >>> prev = pd.Series(["low", "low", "high", "low"], index=list("abcd"))
    >>> kw = dict(high_fraction=0.25, elevated_fraction=0.5, high_exit_fraction=0.75,
    ...           elevated_exit_fraction=0.75)
    >>> hysteresis_tiers(rank, prev, **kw).tolist()
    ['high', 'elevated', 'high', 'low']
    """
    n = len(rank)
    cap = lambda f: resolve_capacity(n, top_fraction=f, func="hysteresis_tiers")  # noqa: E731
    high, elev = cap(high_fraction), max(cap(high_fraction), cap(elevated_fraction))
    high_x = max(high, cap(high_exit_fraction))
    elev_x = max(elev, cap(elevated_exit_fraction))
    r = rank.to_numpy()
    prev = (previous.reindex(rank.index).astype(object).fillna("low").to_numpy()
            if previous is not None else np.full(n, "low", dtype=object))
    was_high = prev == "high"
    was_listed = was_high | (prev == "elevated")
    is_high = (r <= high) | (was_high & (r <= high_x))
    is_elev = ~is_high & ((r <= elev) | (was_listed & (r <= elev_x)))
    labels = np.where(is_high, "high", np.where(is_elev, "elevated", "low"))
    return pd.Series(pd.Categorical(labels, categories=["high", "elevated", "low"], ordered=True),
                     index=rank.index, name="tier")

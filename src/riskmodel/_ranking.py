"""National and school ranks (private): one ordering for every output that ranks pupils."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["national_rank", "school_rank"]


def national_rank(score: pd.Series) -> pd.Series:
    """Rank 1 = highest ``score``; ties broken by the index as strings.

    The one national ordering of riskmodel's outputs (``rank_national`` of the
    scores, the rules-only output and the watch lists).

    Examples
    --------
    >>> import pandas as pd
    >>> national_rank(pd.Series([0.2, 0.5, 0.2], index=["b", "a", "c"])).tolist()
    [2, 1, 3]
    """
    order = np.lexsort((score.index.to_numpy().astype(str), -score.to_numpy(dtype=float)))
    rank = np.empty(len(score), dtype=np.int64)
    rank[order] = np.arange(1, len(score) + 1)
    return pd.Series(rank, index=score.index, name="rank")


def school_rank(rank_national: pd.Series, school_id) -> pd.Series:
    """Rank within each school, in the order of ``rank_national`` (1 = highest risk).

    Examples
    --------
    >>> import pandas as pd
    >>> school_rank(pd.Series([3, 1, 2]), ["s1", "s2", "s1"]).tolist()
    [2, 1, 1]
    """
    key = pd.Series(np.asarray(school_id), index=rank_national.index)
    return (rank_national.groupby(key, observed=True, sort=False).rank(method="first")
            .astype("int64").rename("rank_school"))

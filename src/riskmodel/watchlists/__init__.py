"""Score history, what changed between runs, and list tiers with hysteresis (issue 18, part 1-2).

- :func:`append_history` — add one run's pupil rows to a hive-partitioned Parquet
  dataset (``as_of=YYYY-MM-DD/model=KEY/part-0.parquet``), atomically; rerunning the
  same ``as_of`` and model replaces that partition.
- :func:`read_history` — the dataset as one frame (pyarrow dataset; hidden temporary
  folders are ignored).
- :func:`changes_since` — per pupil, the change in log-odds and risk since an earlier
  run, split exactly by domain (same model), and the list status (new, still, left
  with a reason).
- :func:`hysteresis_tiers` — tiers by national rank where a pupil who was "high"
  stays "high" until both their rank and the rank of their smoothed risk
  (:func:`smoothed_rank`, the mean log-odds of this and the last run) fall below a
  lower cut-off.
"""

from ._changes import changes_since, churn
from ._history import append_history, model_key, read_history
from ._render import write_watchlists
from ._tiers import hysteresis_tiers, national_rank, smoothed_rank

__all__ = ["append_history", "changes_since", "churn", "hysteresis_tiers", "model_key",
           "national_rank", "read_history", "smoothed_rank", "write_watchlists"]

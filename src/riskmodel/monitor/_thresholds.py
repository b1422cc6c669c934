"""Thresholds from the data's own history (private).

:func:`calibrate_thresholds` runs the monitor's statistics between consecutive
years that are taken to be stable (a backtest's years, say), and between
bootstrap resamples of each such pair (the sampling noise on top of the
year-to-year variation), and keeps the ``quantile`` (0.99) of each statistic's
severity per feature, domain or score. PSI also gets an ``inflation`` factor:
how much more it varied between the stable years than sampling alone explains,
which widens the null distribution of its p-value, and the degrees of freedom
that estimate rests on: a new year is tested against k stable pairs by the
predictive F test (:func:`._drift.psi_p_value`), not by a chi-square that takes
the year-to-year scale of three pairs as known.

Every threshold is at least the documented minimum effect size of :data:`FLOORS`.
A 99th percentile over k stable year pairs is, for k below about a hundred, the
largest of them (the bootstrap resamples add only sampling noise, not the
calendar-to-calendar variation of real years), and a new stable year exceeds the
largest of k earlier ones with chance 1 / (k + 1) per statistic: over some fifty
features, nearly every year would raise an alarm. The floors are the smallest
changes the monitor acts on; the history raises a threshold above its floor where
a statistic varies more from year to year. :meth:`MonitorThresholds.floored` says
when the history's own quantiles carry little weight: fewer than :data:`MIN_PAIRS`
stable pairs, or calibration at another time of year than the date of use.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._checks import check_int, check_real

__all__ = ["FLOORS", "MIN_PAIRS", "MonitorThresholds", "severity"]

#: stable year pairs a history needs before its own quantiles are trusted alone
MIN_PAIRS = 3

#: documented minimum thresholds (on the severity scale), the smallest changes acted
#: on: PSI 0.1 and JS distance 0.1 (a tenth of the mass moved between bins, about);
#: a change of 5 percentage points in a missing share; 1 % of values beyond the
#: reference's range; a drop of a fifth of the records per pupil; tier shares off by
#: 2 (high, 5 % of pupils) and 4 (elevated, 15 %) percentage points.
FLOORS = {"psi": 0.1, "score_psi": 0.1, "js_distance": 0.1, "missing_share_change": 0.05,
          "all_missing_share_change": 0.05, "out_of_range_share": 0.01,
          "records_per_pupil_ratio": 0.2, "high_tier_share": 0.02,
          "elevated_tier_share": 0.04}

#: days between a date and the thresholds' dates that still count as its time of year
SEASON_DAYS = 45


def _day_gap(a: pd.Timestamp, b: pd.Timestamp) -> int:
    d = abs(int(a.day_of_year) - int(b.day_of_year))
    return min(d, 365 - d)

_SEVERITY_ABS = {"missing_share_change", "all_missing_share_change"}


def severity(statistic: pd.Series, value: pd.Series, expected: pd.Series | None = None):
    """How far a value is from "no change", on the scale its threshold is kept on.

    Absolute change for changes and tier shares, the drop ``1 - ratio`` for records
    per pupil, the value itself for PSI, JS distance and out-of-range shares;
    NaN for the rest (they are tested, not thresholded).
    """
    statistic = pd.Series(statistic).reset_index(drop=True)
    value = pd.Series(value, dtype="float64").reset_index(drop=True)
    expected = (pd.Series(np.nan, index=value.index) if expected is None
                else pd.Series(expected, dtype="float64").reset_index(drop=True))
    out = pd.Series(np.nan, index=value.index)
    plain = statistic.isin(["psi", "js_distance", "out_of_range_share", "score_psi"])
    out[plain] = value[plain]
    ab = statistic.isin(_SEVERITY_ABS)
    out[ab] = value[ab].abs()
    tier = statistic.str.endswith("_tier_share")
    out[tier] = (value[tier] - expected[tier]).abs()
    rec = statistic == "records_per_pupil_ratio"
    out[rec] = 1 - value[rec]
    return out.to_numpy()


class MonitorThresholds:
    """Calibrated thresholds of the monitor (JSON-able; stored with a model).

    Parameters
    ----------
    table : DataFrame
        Columns ``level``, ``name``, ``statistic``, ``threshold`` (on the severity
        scale), ``inflation`` (PSI only; NaN otherwise), ``inflation_df`` (PSI only:
        the degrees of freedom of the history behind the inflation, for the
        predictive F test of :func:`._drift.psi_p_value`; NaN in thresholds stored
        before it, which are then tested by the chi-square) and ``n_values`` (history
        values behind the threshold).
    quantile : float
    n_pairs : int
        Stable year pairs of the history.
    n_resamples : int
        Bootstrap resamples per pair.
    dates : list of str, optional
        The dates of the yearly frames (their time of year is where the thresholds
        hold).
    """

    def __init__(self, table: pd.DataFrame, *, quantile: float, n_pairs: int, n_resamples: int,
                 dates=None):
        self.table = table.reset_index(drop=True)
        if "inflation_df" not in self.table:
            self.table.insert(self.table.columns.get_loc("inflation") + 1, "inflation_df",
                              np.nan)
        self.quantile = float(quantile)
        self.n_pairs = int(n_pairs)
        self.n_resamples = int(n_resamples)
        self.dates = [str(pd.Timestamp(d).date()) for d in dates] if dates else []
        #: set by :meth:`at`: the date the thresholds are used at
        self.used_at = None

    def in_season(self, as_of) -> bool | None:
        """Whether ``as_of`` lies within :data:`SEASON_DAYS` of a calibration date's
        time of year (None when the dates are unknown)."""
        if not self.dates:
            return None
        as_of = pd.Timestamp(as_of)
        return min(_day_gap(as_of, pd.Timestamp(d)) for d in self.dates) <= SEASON_DAYS

    def at(self, as_of) -> MonitorThresholds:
        """A copy to be used at ``as_of`` (:meth:`floored` looks at its time of year)."""
        out = MonitorThresholds(self.table, quantile=self.quantile, n_pairs=self.n_pairs,
                                n_resamples=self.n_resamples, dates=self.dates)
        out.used_at = str(pd.Timestamp(as_of).date())
        return out

    def floored(self) -> str | None:
        """Why the history's own quantiles carry little weight, so that the thresholds are
        mostly the :data:`FLOORS` (None when the history is long enough and in season)."""
        why = []
        if self.n_pairs < MIN_PAIRS:
            why.append(f"they rest on {self.n_pairs} stable year pair(s), fewer than "
                       f"{MIN_PAIRS}")
        if self.used_at is not None and self.in_season(self.used_at) is False:
            why.append(f"they were calibrated at {', '.join(self.dates)}, another time of "
                       f"year than {self.used_at}")
        return "; ".join(why) or None

    def lookup(self, findings: pd.DataFrame, column: str) -> np.ndarray:
        """``column`` of :attr:`table` aligned with the rows of ``findings`` (NaN if absent).

        ``threshold`` is at least the statistic's :data:`FLOORS` entry.
        """
        keys = ["level", "name", "statistic"]
        merged = findings[keys].merge(self.table[keys + [column]], on=keys, how="left")
        out = merged[column].to_numpy(dtype="float64")
        if column == "threshold":
            floor = merged["statistic"].map(FLOORS).to_numpy(dtype="float64")
            out = np.where(np.isnan(floor), out, np.fmax(out, floor))
        return out

    def inflation(self, level: str) -> dict:
        """PSI inflation per name of one level."""
        t = self.table[(self.table["level"] == level)
                       & self.table["statistic"].isin(["psi", "score_psi"])]
        return dict(zip(t["name"], t["inflation"].fillna(1.0)))

    def inflation_df(self, level: str) -> dict:
        """Degrees of freedom of the history behind each PSI inflation of one level
        (names without them are left out: their test takes the inflation as known)."""
        t = self.table[(self.table["level"] == level)
                       & self.table["statistic"].isin(["psi", "score_psi"])
                       & self.table["inflation_df"].notna()]
        return dict(zip(t["name"], t["inflation_df"].astype("float64")))

    def to_dict(self) -> dict:
        """A JSON-able dict; :meth:`from_dict` reads it back.

        Examples
        --------
        >>> import pandas as pd
        >>> t = pd.DataFrame({"level": ["feature"], "name": ["a"], "statistic": ["psi"],
        ...                   "threshold": [0.01], "inflation": [1.5], "n_values": [42]})
        >>> th = MonitorThresholds(t, quantile=0.99, n_pairs=2, n_resamples=20)
        >>> MonitorThresholds.from_dict(th.to_dict()).table.equals(th.table)
        True
        """
        t = self.table.astype({"threshold": "float64", "inflation": "float64",
                               "inflation_df": "float64"})
        rows = [{"level": r.level, "name": str(r.name), "statistic": r.statistic,
                 "threshold": None if np.isnan(r.threshold) else float(r.threshold),
                 "inflation": None if np.isnan(r.inflation) else float(r.inflation),
                 "inflation_df": None if np.isnan(r.inflation_df) else float(r.inflation_df),
                 "n_values": int(r.n_values)} for r in t.itertuples(index=False)]
        return {"format": 1, "quantile": self.quantile, "n_pairs": self.n_pairs,
                "n_resamples": self.n_resamples, "dates": list(self.dates),
                "min_pairs": MIN_PAIRS, "used_at": self.used_at, "floored": self.floored(),
                "floors": dict(FLOORS), "thresholds": rows}

    @classmethod
    def from_dict(cls, d: dict) -> MonitorThresholds:
        """Thresholds from :meth:`to_dict`'s dict; a malformed dict is a ValueError."""
        try:
            rows = d["thresholds"]
            table = pd.DataFrame(rows, columns=["level", "name", "statistic", "threshold",
                                                "inflation", "inflation_df", "n_values"])
            table = table.astype({"threshold": "float64", "inflation": "float64",
                                  "inflation_df": "float64", "n_values": "int64"})
            return cls(table, quantile=float(d["quantile"]), n_pairs=int(d["n_pairs"]),
                       n_resamples=int(d["n_resamples"]), dates=d.get("dates") or None)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"Not a monitor thresholds dict (from MonitorThresholds.to_dict): "
                             f"{exc!r}") from exc

    def __repr__(self):
        return (f"MonitorThresholds({len(self.table)} thresholds, quantile={self.quantile}, "
                f"n_pairs={self.n_pairs}, n_resamples={self.n_resamples})")


def _frame_dates(frames):
    if isinstance(frames, pd.DataFrame) and isinstance(frames.index, pd.MultiIndex):
        try:
            return [pd.Timestamp(d) for d in
                    pd.unique(frames.index.get_level_values(0).sort_values())]
        except (TypeError, ValueError):
            return None
    return None


def _split_frames(frames) -> list[pd.DataFrame]:
    if isinstance(frames, pd.DataFrame):
        if not isinstance(frames.index, pd.MultiIndex):
            raise ValueError("calibrate_thresholds needs several yearly feature frames: a list "
                             "of DataFrames, or a panel indexed (as_of, pupil_id) as from "
                             "build_feature_panel. Got a DataFrame with a flat index.")
        level = frames.index.names[0]
        return [g.droplevel(0) for _, g in frames.groupby(level=level, sort=True)]
    return list(frames)


def calibrate_thresholds(frames, *, model=None, quantile=0.99, n_resamples=20,
                         random_state=0, dates=None) -> MonitorThresholds:
    """Thresholds of every monitor statistic from stable consecutive years.

    Parameters
    ----------
    frames : list of DataFrame or DataFrame
        Yearly feature frames in time order (the same month of consecutive years),
        or a panel indexed ``(as_of, pupil_id)`` (sorted by ``as_of``). Every
        consecutive pair is taken to be stable.
    model : RiskModel, optional
        Also the score's statistics.
    quantile : float, default=0.99
        Quantile of each statistic's severity over the history.
    n_resamples : int, default=20
        Bootstrap resamples per pair, on top of the pair itself.
    random_state : int, default=0
    dates : list of dates, optional
        The frames' dates (taken from a panel's index when not given); stored, so
        that thresholds used at another time of year fall back to :data:`FLOORS`.

    Returns
    -------
    MonitorThresholds
        With fewer than :data:`MIN_PAIRS` pairs, its thresholds are floored
        (:meth:`MonitorThresholds.floored`).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import riskmodel as rm
    >>> rng = np.random.default_rng(0)
    >>> years = [pd.DataFrame({"a": rng.normal(size=300)}) for _ in range(3)]
    >>> th = rm.monitor.calibrate_thresholds(years, n_resamples=5)
    >>> th.n_pairs, bool(np.isfinite(th.table["threshold"]).any())
    (2, True)
    """
    from ._check import _risk, _statistics, _validated_pair
    from ._drift import group_level, numeric_block, units

    func = "calibrate_thresholds"
    quantile = check_real(quantile, "quantile", func, low=0, high=1, closed="neither")
    n_resamples = check_int(n_resamples, "n_resamples", func, min_value=0)
    if dates is None:
        dates = _frame_dates(frames)
    frames = _split_frames(frames)
    if dates is not None and len(dates) != len(frames):
        raise ValueError(f"calibrate_thresholds got {len(dates)} dates for {len(frames)} "
                         "frames.")
    if len(frames) < 2:
        raise ValueError(f"calibrate_thresholds needs at least 2 yearly feature frames; got "
                         f"{len(frames)}.")
    rng = np.random.default_rng(random_state)
    parts, ratios = [], []
    for a, b in zip(frames[:-1], frames[1:]):
        a, b, columns = _validated_pair(a, b, model, func)
        ref, cur = numeric_block(a, columns, "reference"), numeric_block(b, columns, "current")
        risks = ((_risk(model, a, columns), _risk(model, b, columns))
                 if model is not None else None)
        for r in range(n_resamples + 1):
            ia = np.arange(len(ref)) if r == 0 else rng.integers(0, len(ref), len(ref))
            ib = np.arange(len(cur)) if r == 0 else rng.integers(0, len(cur), len(cur))
            ra, cb = ref[ia], cur[ib]
            f = _statistics(ra, cb, columns,
                            None if risks is None else (risks[0][ia], risks[1][ib]))
            f["severity"] = severity(f["statistic"], f["value"], f["expected"])
            parts.append(f)
            if r == 0:  # inflation from the pairs themselves, not from the resamples
                is_psi = f["statistic"].isin(["psi", "score_psi"]).to_numpy()
                scale = (1 / len(ra) + 1 / len(cb)) * f["df"].to_numpy()
                groups = group_level(columns)
                for j, name in enumerate(columns):  # group-level: schools are the unit
                    if name in groups:
                        at = ((f["name"] == name) & (f["level"] == "feature")).to_numpy()
                        scale[at] = (1 / (units(ra[:, j]) + 1) + 1 / (units(cb[:, j]) + 1)) \
                            * f["df"].to_numpy()[at]
                g = f.loc[is_psi, ["level", "name", "statistic"]].copy()
                g["ratio"] = f["value"].to_numpy()[is_psi] / scale[is_psi]
                g["df"] = f["df"].to_numpy()[is_psi]
                ratios.append(g)
    hist = pd.concat(parts, ignore_index=True)
    hist = hist[np.isfinite(hist["severity"])]
    keys = ["level", "name", "statistic"]
    table = (hist.groupby(keys, sort=False)["severity"]
             .agg(threshold=lambda s: float(np.quantile(s, quantile)), n_values="size")
             .reset_index())
    by = pd.concat(ratios).groupby(keys)
    infl = pd.DataFrame({"inflation": by["ratio"].mean().clip(lower=1.0),
                         "inflation_df": by["df"].sum().astype("float64")}).reset_index()
    table = table.merge(infl, on=keys, how="left")
    table = table[["level", "name", "statistic", "threshold", "inflation", "inflation_df",
                   "n_values"]]
    return MonitorThresholds(table, quantile=quantile, n_pairs=len(frames) - 1,
                             n_resamples=n_resamples, dates=dates)

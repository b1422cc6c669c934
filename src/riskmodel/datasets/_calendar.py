"""Latvian school calendar for the synthetic school system (private).

A school year runs from the first weekday on or after 1 September to the last
weekday of May. School days are weekdays minus

- the autumn holiday (the week starting the Monday between 19 and 25 October),
- the Christmas holiday (23 December to 2 January),
- the spring holiday (the week starting the Monday between 16 and 22 March),
- public holidays on school days: 18 November (moved to Monday when it falls on a
  weekend), Good Friday, Easter Monday, 1 May and 4 May (moved to Monday when on a
  weekend).

Grades 1-6 also have a winter holiday (the week starting the Monday between 16
and 22 February); ``lower_holiday`` marks those days, on which only grades 7-12
have lessons. The dates follow the pattern of the Cabinet of Ministers'
regulations on the school year (e.g. 2024/25: autumn 21-25 Oct, spring 17-21 Mar).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from dateutil.easter import easter

__all__ = ["SchoolYearCalendar", "school_year_calendar"]


@dataclass(frozen=True)
class SchoolYearCalendar:
    """School days of one school year.

    Attributes
    ----------
    year : int
        Start year of the school year (2024 for 2024/25).
    days : numpy.ndarray of datetime64[D]
        Every school day of grades 7-12, in order.
    lower_holiday : numpy.ndarray of bool
        True on days that are a holiday for grades 1-6 (their winter week).
    month : numpy.ndarray of int8
        School month of each day, 0 = September ... 8 = May.
    month_first : numpy.ndarray of int
        Index into ``days`` of the first school day of each month (length 9).
    month_last : numpy.ndarray of int
        Index into ``days`` of the last school day of each month (length 9).
    term_end : int
        Index of the last school day before the Christmas holiday (end of term 1).
    """

    year: int
    days: np.ndarray
    lower_holiday: np.ndarray
    month: np.ndarray
    month_first: np.ndarray
    month_last: np.ndarray
    term_end: int

    @property
    def n_days(self) -> int:
        return len(self.days)


def _monday_between(year: int, month: int, first_day: int) -> date:
    d = date(year, month, first_day)
    return d + timedelta(days=(7 - d.weekday()) % 7)


def _week(monday: date) -> set[date]:
    return {monday + timedelta(days=i) for i in range(5)}


def _observed(d: date) -> date:
    """A public holiday on a weekend moves to the next Monday (Latvian law)."""
    if d.weekday() >= 5:
        return d + timedelta(days=7 - d.weekday())
    return d


def school_year_calendar(year: int) -> SchoolYearCalendar:
    """School days of the school year starting in ``year``."""
    start = date(year, 9, 1)
    end = date(year + 1, 5, 31)
    off: set[date] = set()
    off |= _week(_monday_between(year, 10, 19))  # autumn
    d = date(year, 12, 23)
    while d <= date(year + 1, 1, 2):  # Christmas
        off.add(d)
        d += timedelta(days=1)
    off |= _week(_monday_between(year + 1, 3, 16))  # spring
    e = easter(year + 1)
    off |= {
        _observed(date(year, 11, 18)),
        e - timedelta(days=2),
        e + timedelta(days=1),
        date(year + 1, 5, 1),
        _observed(date(year + 1, 5, 4)),
    }
    winter = _week(_monday_between(year + 1, 2, 16))

    days, lower, month = [], [], []
    d = start
    while d <= end:
        if d.weekday() < 5 and d not in off:
            days.append(d)
            lower.append(d in winter)
            month.append((d.month - 9) % 12)
        d += timedelta(days=1)
    month_arr = np.asarray(month, dtype=np.int8)
    first = np.searchsorted(month_arr, np.arange(9), side="left")
    last = np.searchsorted(month_arr, np.arange(9), side="right") - 1
    days_arr = np.asarray(days, dtype="datetime64[D]")
    term_end = int(np.searchsorted(days_arr, np.datetime64(date(year, 12, 23)), side="left") - 1)
    return SchoolYearCalendar(
        year=year,
        days=days_arr,
        lower_holiday=np.asarray(lower, dtype=bool),
        month=month_arr,
        month_first=first.astype(np.int64),
        month_last=last.astype(np.int64),
        term_end=term_end,
    )

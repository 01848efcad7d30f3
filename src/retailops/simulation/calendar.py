"""The retail calendar: weekday rhythm, seasons, holidays and the days stores are closed."""

from __future__ import annotations

import math
from datetime import date, timedelta
from functools import lru_cache

import numpy as np

# Share of a week's shoppers by weekday (Monday first); Saturday is the busiest day.
WEEKDAY_PATTERN = np.array([0.86, 0.82, 0.88, 0.96, 1.14, 1.32, 1.02])
WEEKDAY_PATTERN = WEEKDAY_PATTERN / WEEKDAY_PATTERN.mean()

# Stores trade from 08:00 to 22:00; shoppers cluster at lunch and after work.
OPENING_HOUR = 8
CLOSING_HOUR = 22
HOURLY_TRAFFIC = np.array([2, 4, 6, 7, 10, 9, 7, 7, 9, 12, 13, 9, 5, 3], dtype=float)
HOURLY_TRAFFIC = HOURLY_TRAFFIC / HOURLY_TRAFFIC.sum()


def easter_sunday(year: int) -> date:
    """Gregorian Easter (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 - the algorithm's own name
    m = (a + 11 * h + 22 * l) // 451
    month = (h + l - 7 * m + 114) // 31
    day = (h + l - 7 * m + 114) % 31 + 1
    return date(year, month, day)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


@lru_cache(maxsize=8)
def holidays(year: int) -> dict[date, tuple[str, float]]:
    """Holidays of a year with their effect on footfall (0 = stores closed)."""
    thanksgiving = _nth_weekday(year, 11, 3, 4)
    easter = easter_sunday(year)
    days = {
        date(year, 1, 1): ("New Year's Day", 0.55),
        date(year, 2, 14): ("Valentine's Day", 1.12),
        easter - timedelta(days=1): ("Easter Saturday", 1.30),
        easter: ("Easter Sunday", 0.60),
        _last_weekday(year, 5, 0): ("Memorial Day", 1.15),
        date(year, 7, 3): ("Independence Day Eve", 1.35),
        date(year, 7, 4): ("Independence Day", 0.80),
        _nth_weekday(year, 9, 0, 1): ("Labor Day", 1.10),
        thanksgiving - timedelta(days=1): ("Thanksgiving Eve", 1.55),
        thanksgiving: ("Thanksgiving", 0.45),
        thanksgiving + timedelta(days=1): ("Black Friday", 1.70),
        date(year, 12, 24): ("Christmas Eve", 1.45),
        date(year, 12, 25): ("Christmas Day", 0.0),
        date(year, 12, 31): ("New Year's Eve", 1.30),
    }
    # The last shopping week before Christmas builds up day by day.
    for offset in range(1, 8):
        day = date(year, 12, 24) - timedelta(days=offset)
        days.setdefault(day, ("Christmas week", 1.0 + 0.05 * (8 - offset)))
    return days


def holiday_effect(day: date) -> tuple[str | None, float]:
    """The holiday on ``day`` (if any) and its footfall multiplier."""
    name, effect = holidays(day.year).get(day, (None, 1.0))
    return name, effect


def is_closed(day: date) -> bool:
    """Stores are closed on Christmas Day."""
    return holiday_effect(day)[1] == 0.0


# December trades above any other month in grocery chains: holiday meals and parties build up
# through the month, on top of the winter swing (which alone nearly cancels the categories'
# summer swings, leaving monthly means within +-5%).
DECEMBER_PEAK = 0.15


def seasonal_effect(day: date, summer_peak: np.ndarray) -> np.ndarray:
    """Annual seasonality per category: a winter-holiday peak plus each category's summer swing,
    and a December build-up (from +5% on Dec 1 to +15% by Christmas)."""
    day_of_year = day.timetuple().tm_yday
    winter = 0.10 * math.cos(2 * math.pi * (day_of_year - 355) / 365.25)
    summer = summer_peak * math.cos(2 * math.pi * (day_of_year - 196) / 365.25)
    december = DECEMBER_PEAK * min(1.0, (day.day + 8) / 32) if day.month == 12 else 0.0
    return 1.0 + winter + summer + december

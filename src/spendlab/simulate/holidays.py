"""Retail events with known effects on the baseline (relative to the baseline level)."""

from __future__ import annotations

import datetime as dt

import numpy as np

#: name -> (relative effect on the event day(s), length in days, ramp-up days before)
EVENTS: dict[str, tuple[float, int, int]] = {
    "new_year": (-0.25, 1, 0),
    "valentines_day": (0.10, 1, 3),
    "easter": (-0.10, 1, 0),
    "mothers_day": (0.15, 1, 5),
    "prime_day": (0.30, 2, 0),
    "back_to_school": (0.08, 14, 0),
    "black_friday": (0.90, 1, 3),
    "cyber_monday": (0.55, 1, 0),
    "christmas_shopping": (0.30, 10, 0),
    "christmas_day": (-0.45, 1, 0),
    "boxing_day": (0.25, 1, 0),
}


def _easter(year: int) -> dt.date:
    """Western Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month = (h + m - 7 * n + 114) // 31
    day = (h + m - 7 * n + 114) % 31 + 1
    return dt.date(year, month, day)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    return first + dt.timedelta(days=offset + 7 * (n - 1))


def event_date(name: str, year: int) -> dt.date:
    """First day of an event in a year."""
    thanksgiving = _nth_weekday(year, 11, 3, 4)
    return {
        "new_year": dt.date(year, 1, 1),
        "valentines_day": dt.date(year, 2, 14),
        "easter": _easter(year),
        "mothers_day": _nth_weekday(year, 5, 6, 2),
        "prime_day": _nth_weekday(year, 7, 1, 2),
        "back_to_school": dt.date(year, 8, 15),
        "black_friday": thanksgiving + dt.timedelta(days=1),
        "cyber_monday": thanksgiving + dt.timedelta(days=4),
        "christmas_shopping": dt.date(year, 12, 14),
        "christmas_day": dt.date(year, 12, 25),
        "boxing_day": dt.date(year, 12, 26),
    }[name]


def holiday_effects(start: dt.date, days: int) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Relative effect per day, an event-day indicator, and the list of events in the period.

    A ramp of ``r`` days before an event rises linearly to the event's effect.
    """
    effect = np.zeros(days)
    indicator = np.zeros(days)
    events = []
    end = start + dt.timedelta(days=days - 1)
    for year in range(start.year, end.year + 1):
        for name, (size, length, ramp) in EVENTS.items():
            d0 = (event_date(name, year) - start).days
            idx = np.arange(d0 - ramp, d0 + length)
            w = np.concatenate([np.arange(1, ramp + 1) / (ramp + 1), np.ones(length)])
            keep = (idx >= 0) & (idx < days)
            if not keep.any():
                continue
            effect[idx[keep]] += size * w[keep]
            on = idx[keep & (idx >= d0)]
            indicator[on] = 1.0
            events.append(
                {
                    "name": name,
                    "date": (start + dt.timedelta(days=int(d0))).isoformat(),
                    "days": length,
                    "ramp_days": ramp,
                    "relative_effect": size,
                }
            )
    return effect, indicator, events

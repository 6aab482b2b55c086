"""Date ranges, with the previous period used for comparisons."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class DateRange:
    """An inclusive range of calendar days."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(
                f"date range ends ({self.end}) before it starts ({self.start}); swap the two dates"
            )

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> DateRange:
        """The range of the same length that ends the day before this one starts."""
        end = self.start - dt.timedelta(days=1)
        return DateRange(end - dt.timedelta(days=self.days - 1), end)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.start <= day <= self.end

    @classmethod
    def last_n_days(cls, n: int, today: dt.date) -> DateRange:
        """The ``n`` days before ``today``, excluding today (platform convention)."""
        if n < 1:
            raise ValueError(f"last_n_days needs n >= 1, got {n}")
        end = today - dt.timedelta(days=1)
        return cls(end - dt.timedelta(days=n - 1), end)

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

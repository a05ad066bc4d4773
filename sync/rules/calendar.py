"""Business-hours arithmetic for the hand-off SLA: working days, opening hours, a time zone and public holidays.

"24 business hours" means 24 hours during which the sales team is at work: a
prospect that qualifies on Friday evening before a Monday holiday is due on
Wednesday, not on Saturday. Holidays come from the `holidays` library (kept up
to date by its maintainers, per country and subdivision), never from a list
typed into the rules; `closed_dates` adds company closures on top.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any

import holidays as holidays_lib

from sync.rules.schema import WEEKDAYS, BusinessCalendar

_MAX_DAYS = 3 * 366  # a calendar that cannot fit the hours in three years is misconfigured, not slow


def supported_countries() -> dict[str, list[str]]:
    """Country code -> its subdivision codes, as the installed holidays library knows them."""
    return {code: list(subdivisions) for code, subdivisions in holidays_lib.list_supported_countries().items()}


class Calendar:
    """A business calendar compiled from the rules: answers "when are N business hours up after T"."""

    def __init__(self, spec: BusinessCalendar) -> None:
        self.zone = zoneinfo.ZoneInfo(spec.timezone)
        self.working = frozenset(WEEKDAYS.index(day) for day in spec.working_days)
        self.day_start = time.fromisoformat(spec.day_start)
        self.day_end = time.fromisoformat(spec.day_end)
        self.closed = frozenset(spec.closed_dates)
        # Any, not HolidayBase: compiled with mypyc, `in` on a known dict subclass would skip its __contains__
        # (which loads each year's holidays on first use) and miss every public holiday
        self._holidays: Any = (holidays_lib.country_holidays(spec.holidays.country, subdiv=spec.holidays.subdivision)
                          if spec.holidays is not None else None)
        # bound per instance so two calendars never share answers
        self.is_working_day = lru_cache(maxsize=4096)(self._is_working_day)

    def _is_working_day(self, day: date) -> bool:
        if day.weekday() not in self.working or day in self.closed:
            return False
        return self._holidays is None or day not in self._holidays

    def holiday_name(self, day: date) -> str | None:
        if self._holidays is None:
            return None
        name = self._holidays.get(day)
        return str(name) if name is not None else None

    def add_business_hours(self, start: datetime, hours: float) -> datetime:
        """`start` plus `hours` of working time, as an aware UTC datetime. A start outside working hours
        counts from the next opening; a start inside counts from itself."""
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        remaining = timedelta(hours=hours)
        local = start.astimezone(self.zone)
        day = local.date()
        for _ in range(_MAX_DAYS):
            if self.is_working_day(day):
                opens = datetime.combine(day, self.day_start, self.zone)
                closes = datetime.combine(day, self.day_end, self.zone)
                begin = max(local, opens)
                if begin < closes:
                    # wall-clock arithmetic within one working day; DST changes happen at night
                    available = closes - begin
                    if remaining <= available:
                        return (begin + remaining).astimezone(timezone.utc)
                    remaining -= available
            day += timedelta(days=1)
            local = datetime.combine(day, time(0, 0), self.zone)
        raise ValueError(f"cannot fit {hours} business hours in {_MAX_DAYS} days of this calendar")

    def business_hours_between(self, start: datetime, end: datetime) -> float:
        """Working hours elapsed from `start` to `end` (0 when end is not after start): how late a touch was."""
        if end <= start:
            return 0.0
        total = timedelta()
        local, stop = start.astimezone(self.zone), end.astimezone(self.zone)
        day = local.date()
        while day <= stop.date():
            if self.is_working_day(day):
                opens = max(local, datetime.combine(day, self.day_start, self.zone))
                closes = min(stop, datetime.combine(day, self.day_end, self.zone))
                if opens < closes:
                    total += closes - opens
            day += timedelta(days=1)
        return total.total_seconds() / 3600


__all__ = ["Calendar", "supported_countries"]

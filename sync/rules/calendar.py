"""Business-hours arithmetic for the hand-off SLA: working days, opening hours, a time zone and public holidays.

"24 business hours" means 24 hours during which the sales team is at work: a
prospect that qualifies on Friday evening before a Monday holiday is due on
Wednesday, not on Saturday. Holidays come from the `holidays` library (kept up
to date by its maintainers, per country and subdivision), never from a list
typed into the rules; `closed_dates` adds company closures on top.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import zoneinfo
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache

import holidays as holidays_lib
from holidays import HolidayBase
from holidays.registry import IMPORT_LOCK, EntityLoader

from sync.rules.schema import WEEKDAYS, BusinessCalendar

_MAX_DAYS = 3 * 366  # a calendar that cannot fit the hours in three years is misconfigured, not slow
_DAY_US = 86_400_000_000
_MICROSECOND = timedelta(microseconds=1)
_UTC = timezone.utc


def _time_us(moment: time) -> int:
    return ((moment.hour * 60 + moment.minute) * 60 + moment.second) * 1_000_000 + moment.microsecond


def _wall(moment: datetime) -> int:
    """A datetime's wall-clock reading in microseconds since 0001-01-01 (its offset ignored)."""
    return moment.toordinal() * _DAY_US + _time_us(moment.time())


_COUNTRIES_PACKAGE = "holidays.countries"


@lru_cache(maxsize=None)
def _country_class(country: str) -> type[HolidayBase] | None:
    """The holidays class of `country` (a code or alias such as FR, DEU, UK), or None when the library has
    no country by that name. Imports that country's module (and what it imports) and no other.

    The library's lazy loader imports `holidays.countries`, whose `__init__` imports all of its ~250
    country modules (60 to 100 ms, paid on every `rules check` and every daemon start). So the one module
    is imported while the package stands in `sys.modules` as a bare package (its `__path__`, not its
    `__init__`), then the bare package is taken out again: a later `import holidays.countries` runs the real
    one, which finds the module already loaded. The library's own import lock is held throughout, as its
    loader holds it for every lazy import."""
    entity = getattr(holidays_lib, country, None)
    if not isinstance(entity, EntityLoader) or not entity.module_name.startswith(_COUNTRIES_PACKAGE + "."):
        return None  # financial markets and the library's other names are not countries
    with IMPORT_LOCK:
        if entity.entity is not None or _COUNTRIES_PACKAGE in sys.modules:
            return entity.get_entity()  # type: ignore[return-value]
        spec = importlib.util.find_spec(_COUNTRIES_PACKAGE)
        if spec is None:  # a layout this does not know: let the library load it its own way
            return entity.get_entity()  # type: ignore[return-value]
        sys.modules[_COUNTRIES_PACKAGE] = importlib.util.module_from_spec(spec)
        try:
            module = importlib.import_module(entity.module_name)
        finally:
            del sys.modules[_COUNTRIES_PACKAGE]
    return getattr(module, entity.entity_name)  # type: ignore[no-any-return]


def country_subdivisions(country: str) -> list[str] | None:
    """The subdivision codes of `country`, or None when the holidays library does not know it."""
    holiday_class = _country_class(country)
    return None if holiday_class is None else list(holiday_class.subdivisions)


class Calendar:
    """A business calendar compiled from the rules: answers "when are N business hours up after T"."""

    def __init__(self, spec: BusinessCalendar) -> None:
        self.zone = zoneinfo.ZoneInfo(spec.timezone)
        self.working = frozenset(WEEKDAYS.index(day) for day in spec.working_days)
        self.day_start = time.fromisoformat(spec.day_start)
        self.day_end = time.fromisoformat(spec.day_end)
        self.closed = frozenset(spec.closed_dates)
        # HolidayBase loads each year's holidays on first use, in its __contains__ and get
        self._holidays: HolidayBase | None = None
        if spec.holidays is not None:
            holiday_class = _country_class(spec.holidays.country)
            if holiday_class is None:  # validated rules never get here: `rules check` reports the country first
                raise ValueError(f"no public holidays known for country {spec.holidays.country!r}")
            self._holidays = holiday_class(subdiv=spec.holidays.subdivision)
        # bound per instance so two calendars never share answers
        self.is_working_day = lru_cache(maxsize=4096)(self._is_working_day)
        self.working_hours = lru_cache(maxsize=4096)(self._working_hours)
        self._micros: dict[float, int] = {}  # business hours -> microseconds, as timedelta rounds them

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
        counts from the next opening; a start inside counts from itself.

        Counted on the local wall clock (DST changes happen at night, outside working hours), in integer
        microseconds: the same answer as stepping aware datetimes day by day, at a fraction of the cost
        (every prospect's SLA is timed on every evaluation)."""
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        remaining = self._micros.get(hours)
        if remaining is None:
            remaining = self._micros[hours] = timedelta(hours=hours) // _MICROSECOND
        local = start.astimezone(self.zone)
        day = local.toordinal()
        at = _wall(local)
        for _ in range(_MAX_DAYS):
            hours_of_day = self.working_hours(day)
            if hours_of_day is not None:
                opens, closes = hours_of_day
                begin = at if at > opens else opens
                if begin < closes:
                    available = closes - begin
                    if remaining <= available:
                        return self._utc(begin + remaining)
                    remaining -= available
            day += 1
            at = day * _DAY_US
        raise ValueError(f"cannot fit {hours} business hours in {_MAX_DAYS} days of this calendar")

    def _working_hours(self, ordinal: int) -> tuple[int, int] | None:
        """Opening and closing of a day on the wall clock (microseconds since 0001-01-01), None when closed."""
        if not self.is_working_day(date.fromordinal(ordinal)):
            return None
        base = ordinal * _DAY_US
        return base + _time_us(self.day_start), base + _time_us(self.day_end)

    def _utc(self, wall: int) -> datetime:
        """The UTC moment of a wall-clock reading here (fold 0, as aware-datetime arithmetic gives)."""
        days, micros = divmod(wall, _DAY_US)
        seconds, micro = divmod(micros, 1_000_000)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        day = date.fromordinal(days)
        # positional arguments: the keyword forms (replace(tzinfo=), timedelta(microseconds=)) cost 4x more
        return datetime(day.year, day.month, day.day, hour, minute, second, micro, self.zone).astimezone(_UTC)

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


__all__ = ["Calendar", "country_subdivisions"]

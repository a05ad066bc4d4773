"""Business-hours arithmetic: working days, opening hours, time zone, public holidays, DST."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import date, datetime, time, timedelta, timezone

import pytest

from sync.rules.calendar import Calendar
from sync.rules.schema import BusinessCalendar, Holidays


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def paris() -> Calendar:
    return Calendar(BusinessCalendar())  # Europe/Paris, Mon-Fri 09:00-18:00, French holidays


def test_within_one_day(paris: Calendar) -> None:
    # Monday 10:00 Paris (UTC+1) + 3h -> 13:00 Paris
    assert paris.add_business_hours(utc("2026-11-02T09:00"), 3) == utc("2026-11-02T12:00")


def test_weekend_is_skipped(paris: Calendar) -> None:
    # Friday 17:00 Paris + 2h: 1h on Friday, 1h on Monday from 09:00
    assert paris.add_business_hours(utc("2026-11-06T16:00"), 2) == utc("2026-11-09T09:00")


def test_public_holiday_is_skipped(paris: Calendar) -> None:
    # Tuesday 10 Nov 17:00 + 2h: Wednesday 11 Nov is Armistice Day -> Thursday 10:00 Paris
    assert paris.is_working_day(date(2026, 11, 11)) is False
    assert paris.holiday_name(date(2026, 11, 11))
    assert paris.add_business_hours(utc("2026-11-10T16:00"), 2) == utc("2026-11-12T09:00")


def test_start_outside_hours_counts_from_next_opening(paris: Calendar) -> None:
    # Saturday night -> Monday 09:00 + 1h
    assert paris.add_business_hours(utc("2026-11-07T22:00"), 1) == utc("2026-11-09T09:00")
    # Monday 07:00 Paris (before opening) -> 09:00 + 1h = 10:00 Paris
    assert paris.add_business_hours(utc("2026-11-09T06:00"), 1) == utc("2026-11-09T09:00")


def test_daylight_saving_change_is_respected(paris: Calendar) -> None:
    # Friday 23 Oct 2026 17:00 Paris is 15:00 UTC (UTC+2); DST ends on Sunday 25 Oct; Monday 10:00 Paris is 09:00 UTC
    assert paris.add_business_hours(utc("2026-10-23T15:00"), 2) == utc("2026-10-26T09:00")


def test_other_countries_and_custom_closures() -> None:
    us = Calendar(BusinessCalendar(timezone="America/New_York", holidays=Holidays(country="US"),
                                   closed_dates=[date(2026, 11, 27)]))
    # Wednesday 25 Nov 17:00 New York + 2h: Thanksgiving Thursday and the closure Friday -> Monday 10:00
    assert us.add_business_hours(utc("2026-11-25T22:00"), 2) == utc("2026-11-30T15:00")


def test_business_hours_between(paris: Calendar) -> None:
    assert paris.business_hours_between(utc("2026-11-06T16:00"), utc("2026-11-09T09:00")) == pytest.approx(2.0)
    assert paris.business_hours_between(utc("2026-11-09T09:00"), utc("2026-11-06T16:00")) == 0.0


def test_sla_due_at_uses_maturity(rules) -> None:
    from sync.model import Maturity
    start = utc("2026-11-02T09:00")
    assert rules.sla_due_at(start, Maturity.HOT) == utc("2026-11-02T17:00")  # 8h: 10:00 -> 18:00 Paris
    assert rules.sla_due_at(start, None) == rules.sla_due_at(start, Maturity.COLD)
    # 24h from Monday 10:00 Paris: 8 + 9 + 7 -> Wednesday 16:00 Paris
    assert rules.sla_due_at(start, Maturity.WARM) == utc("2026-11-04T15:00")


def _stepping_aware_datetimes(calendar: Calendar, start: datetime, hours: float) -> datetime:
    """The definition add_business_hours computes on integers: day by day, aware datetimes, wall clock."""
    start = start if start.tzinfo is not None else start.replace(tzinfo=timezone.utc)
    remaining, local = timedelta(hours=hours), start.astimezone(calendar.zone)
    day = local.date()
    while True:
        if calendar.is_working_day(day):
            opens = datetime.combine(day, calendar.day_start, calendar.zone)
            begin, closes = max(local, opens), datetime.combine(day, calendar.day_end, calendar.zone)
            if begin < closes:
                if remaining <= closes - begin:
                    return (begin + remaining).astimezone(timezone.utc)
                remaining -= closes - begin
        day += timedelta(days=1)
        local = datetime.combine(day, time(0, 0), calendar.zone)


@pytest.mark.parametrize("spec", [
    BusinessCalendar(),
    BusinessCalendar(timezone="America/New_York", working_days=["mon", "tue", "wed", "thu", "fri", "sat"],
                     day_start="00:00", day_end="23:30", holidays=Holidays(country="US")),
    BusinessCalendar(timezone="Australia/Lord_Howe", working_days=["sun", "mon"], day_start="01:00",
                     day_end="03:30", holidays=None),
], ids=["paris", "new-york-dst-inside-hours", "half-hour-dst"])
def test_integer_wall_clock_arithmetic_matches_stepping_aware_datetimes(spec: BusinessCalendar) -> None:
    calendar, rng = Calendar(spec), random.Random(11)
    for _ in range(1500):
        start = datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(
            seconds=rng.randint(0, 3 * 365 * 86400), microseconds=rng.randint(0, 999_999))
        if rng.random() < 0.2:
            start = start.replace(tzinfo=None)  # naive: UTC
        hours = rng.choice([0, 0.5, 1 / 3, 8, 24, 24.7, 72])
        assert calendar.add_business_hours(start, hours) == _stepping_aware_datetimes(calendar, start, hours)


COUNTRY_PROBE = """
import json, sys
from sync.rules.calendar import Calendar, country_subdivisions
from sync.rules.schema import BusinessCalendar, Holidays
calendar = Calendar(BusinessCalendar(timezone="Europe/Berlin", holidays=Holidays(country="DE", subdivision="BY")))
loaded = sorted(m for m in sys.modules if m.startswith("holidays.countries."))
package_was_loaded = "holidays.countries" in sys.modules
import holidays.countries  # the real package, every country, once someone asks for it
print(json.dumps({"loaded": loaded, "package_was_loaded": package_was_loaded,
                  "epiphany": calendar.holiday_name(__import__("datetime").date(2026, 1, 6)),
                  "full_package": hasattr(holidays.countries, "France") and hasattr(holidays.countries, "Germany"),
                  "aliases": [country_subdivisions("DEU") == country_subdivisions("DE"), country_subdivisions("XNYS")]}))
"""


def test_a_calendar_imports_its_own_country_and_no_other() -> None:
    """The holidays library's lazy loader would import all of its ~250 countries for one calendar."""
    result = subprocess.run([sys.executable, "-I", "-c", COUNTRY_PROBE], capture_output=True, text=True, timeout=60,
                            check=True)
    report = json.loads(result.stdout)
    assert report["loaded"] == ["holidays.countries.germany"]
    assert report["package_was_loaded"] is False
    assert report["epiphany"]  # Bavaria keeps Epiphany: the subdivision reached the library
    assert report["full_package"] is True
    assert report["aliases"] == [True, None]  # alpha-3 codes work; a stock exchange is not a country

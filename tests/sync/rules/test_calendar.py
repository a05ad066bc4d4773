"""Business-hours arithmetic: working days, opening hours, time zone, public holidays, DST."""

from __future__ import annotations

from datetime import date, datetime, timezone

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

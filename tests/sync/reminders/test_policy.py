"""When a reminder is due: a share of the SLA's business hours, on the SLA's calendar."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from sync.reminders.policy import ReminderPolicy, marker
from sync.rules.calendar import Calendar
from sync.rules.schema import BusinessCalendar
from sync.state import AccountRef

UTC = timezone.utc
CALENDAR = Calendar(BusinessCalendar())  # Paris, Monday to Friday 09:00-18:00, French holidays


def policy(share: float = 0.75) -> ReminderPolicy:
    return ReminderPolicy(enabled=True, share=share, on_touch="complete", calendar=CALENDAR)


def test_three_quarters_of_24_business_hours_from_a_friday_afternoon_is_on_tuesday_morning():
    started = datetime(2026, 11, 13, 15, 0, tzinfo=UTC)  # Friday 16:00 in Paris
    due = CALENDAR.add_business_hours(started, 24)
    remind = policy().remind_at(started, due)
    assert remind == CALENDAR.add_business_hours(started, 18)
    assert remind.astimezone(CALENDAR.zone).strftime("%a %H:%M") == "Tue 16:00"
    assert due.astimezone(CALENDAR.zone).strftime("%a %H:%M") == "Wed 13:00"


@given(start_hours=st.integers(0, 24 * 60), hours=st.sampled_from([1, 8, 24, 40]),
       share=st.floats(0.05, 0.95))
def test_a_reminder_is_never_before_the_hand_off_nor_after_the_due_time(start_hours, hours, share):
    started = datetime(2026, 11, 2, tzinfo=UTC) + timedelta(hours=start_hours)
    due = CALENDAR.add_business_hours(started, hours)
    remind = policy(share).remind_at(started, due)
    assert started <= remind <= due
    assert abs(CALENDAR.business_hours_between(started, remind) - share * hours) < 1e-3


def test_a_marker_names_one_clock_and_kind():
    ref, start = AccountRef("hubspot", "eu"), datetime(2026, 11, 2, 9, tzinfo=UTC)
    assert marker(ref, "1", start, "reminder") == marker(ref, "1", start, "reminder")
    assert len({marker(ref, "1", start, "reminder"), marker(ref, "1", start, "escalation"),
                marker(ref, "2", start, "reminder"), marker(ref, "1", start + timedelta(days=1), "reminder")}) == 4

"""Bad contacts give a Decision or a clear per-contact error, never a crash of the batch."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from sync.model import Activity, ActivityKind, Contact, Deal, EngagementEvent, decode_contact
from sync.rules import ContactError, Decision

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def test_missing_and_null_everything(rules) -> None:
    bare = Contact(crm="x", id="1")
    nulls = Contact(crm="x", id="2")
    nulls.fields = None  # type: ignore[assignment]
    nulls.events = None  # type: ignore[assignment]
    nulls.activities = None  # type: ignore[assignment]
    nulls.deals = None  # type: ignore[assignment]
    for person in (bare, nulls):
        decision = rules.evaluate(person, NOW)
        assert decision.stage == "lead" and decision.score == 0


def test_wrong_types_in_values_are_not_signals(rules) -> None:
    person = Contact(crm="x", id="1", company_size="big", industry=5, job_title=["CISO"],  # type: ignore[arg-type]
                     fields={"need": {"nested": True}, "budget": 3.5, "competitor": "maybe", "timing": None})
    decision = rules.evaluate(person, NOW)
    assert isinstance(decision, Decision)
    assert "mid_market_size" not in {f.name for f in decision.fired}


def test_huge_and_non_ascii_strings(rules) -> None:
    huge = "Ω≈ç√ " * 2_000_000  # 10 MB
    person = Contact(crm="x", id="é-漢字-🙂", job_title=huge, company=huge, email=huge + "@x.example",
                     fields={"need": huge, "timing": "d'ici 6 mois " + huge})
    started = time.perf_counter()
    decision = rules.evaluate(person, NOW)
    assert time.perf_counter() - started < 1.0
    assert decision.contact_id == "é-漢字-🙂"


def test_future_timestamps_are_ignored_until_they_happen(rules) -> None:
    future = [EngagementEvent(type="demo_request", at=NOW + timedelta(days=3))]
    person = Contact(crm="x", id="1", events=future,
                     activities=[Activity(kind=ActivityKind.CALL, at=NOW + timedelta(days=1), by="u")])
    assert rules.evaluate(person, NOW).intent == 0
    assert rules.evaluate(person, NOW + timedelta(days=4)).intent > 0


def test_thousands_of_events(rules) -> None:
    events = [EngagementEvent(type=t, at=NOW - timedelta(minutes=i))
              for i in range(10_000) for t in ("visit",)]
    person = Contact(crm="x", id="1", industry="software", events=events,
                     activities=[Activity(kind=ActivityKind.CALL, at=NOW - timedelta(hours=i), by="u")
                                 for i in range(2_000)])
    started = time.perf_counter()
    decision = rules.evaluate(person, NOW)
    assert time.perf_counter() - started < 2.0
    assert [f.points for f in decision.fired if f.name == "site_visits"] == [6.0]  # capped by max_points


def test_naive_timestamps_are_read_as_utc(rules) -> None:
    aware = Contact(crm="x", id="1", events=[EngagementEvent(type="download", at=NOW - timedelta(days=1))])
    naive = Contact(crm="x", id="1", events=[EngagementEvent(type="download",
                                                             at=(NOW - timedelta(days=1)).replace(tzinfo=None))])
    assert rules.evaluate(aware, NOW) == rules.evaluate(naive, NOW)


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda c: setattr(c, "events", [EngagementEvent(type="download", at="2026-01-01")]),  # type: ignore[arg-type]
     "events[0].at: expected a datetime, got str"),
    (lambda c: setattr(c, "events", [EngagementEvent(type="download", at=None)]),  # type: ignore[arg-type]
     "events[0].at: missing timestamp"),
    (lambda c: setattr(c, "activities", [Activity(kind=ActivityKind.CALL, at=12)]),  # type: ignore[arg-type]
     "activities[0].at: expected a datetime, got int"),
    (lambda c: setattr(c, "override_stage", "vip"), "override_stage: expected one of"),
    (lambda c: setattr(c, "events", "download"), "events: expected a list, got str"),
    (lambda c: setattr(c, "events", [EngagementEvent(type=["download"], at=NOW)]),  # type: ignore[arg-type]
     "events[0].type: expected text, got list"),
])
def test_broken_contacts_give_a_located_error(rules, mutate, message) -> None:
    person = Contact(crm="x", id="bad-1")
    mutate(person)
    results = rules.evaluate_many([person, Contact(crm="x", id="ok")], NOW)
    error = results[0]
    assert isinstance(error, ContactError), error
    assert error.contact_id == "bad-1" and error.crm == "x"
    assert error.message.startswith(message)
    assert isinstance(results[1], Decision)


def test_deal_values_of_the_wrong_type(rules) -> None:
    person = Contact(crm="x", id="1", deals=[Deal(id="d", status="won", contract_months="12",  # type: ignore[arg-type]
                                                  amount="lots")])  # type: ignore[arg-type]
    decision = rules.evaluate(person, NOW)
    assert decision.stage == "client" and decision.client_kind == "one_off"


def test_decoded_json_contacts_evaluate(rules) -> None:
    raw = ('{"crm": "hubspot", "id": "42", "fields": {"need": "SIEM"}, "events": '
           '[{"type": "webinar", "at": "2026-10-30T10:00:00Z"}, {"type": "download", "at": "2026-10-30T10:00:00"}]}')
    assert isinstance(rules.evaluate(decode_contact(raw), NOW), Decision)

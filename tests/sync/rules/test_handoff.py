"""The SLA hand-off the engine works out from a contact's history (the shipped rules)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sync.model import Activity, ActivityKind, Contact, EngagementEvent, Stage
from sync.rules import ContactMemory, SlaStatus, default_rules_path, rules_from_text

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)  # a Monday, 10:00 in Paris
OWNER = "owner-1"


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def director(**changes) -> Contact:
    """An IT director at a mid-sized software company in France, a buying window stated."""
    base = {"crm": "t", "id": "c", "owner_id": OWNER, "company": "Nordazur SAS", "industry": "software",
            "company_size": 250, "job_title": "IT Director", "country": "FR", "fields": {"timing": "dans 3 mois"}}
    return Contact(**{**base, **changes})


def meeting(accepted_days_ago: float, held_in_days: float = 3.0, outcome: str | None = None,
            by: str = OWNER) -> Activity:
    return Activity(kind=ActivityKind.MEETING, at=NOW + timedelta(days=held_in_days), done=False, by=by,
                    accepted_at=ago(accepted_days_ago), outcome=outcome)


def test_a_meeting_the_contact_accepted_qualifies_from_acceptance_and_is_a_touch(rules) -> None:
    decision = rules.evaluate(director(events=[EngagementEvent(type="download", at=ago(6))],
                                       activities=[meeting(accepted_days_ago=2)]), NOW)
    assert decision.stage is Stage.PROSPECT and "need" in decision.criteria_met
    # sales' invitation, accepted: that is sales taking it in charge. The download came first, and before any
    # sales touch: marketing's hand-off, six days ago; the touch (the acceptance) came 4 days later: late
    assert decision.sla.handoff == "marketing" and decision.sla.started_at == ago(6)
    assert decision.sla.status is SlaStatus.LATE and decision.sla.touched_at == ago(2)


def test_a_canceled_or_declined_meeting_is_not_accepted(rules) -> None:
    for outcome in ("canceled", "declined"):
        decision = rules.evaluate(director(activities=[meeting(accepted_days_ago=2, outcome=outcome)]), NOW)
        assert decision.stage is Stage.LEAD, outcome
        assert "need" not in decision.criteria_met


def test_a_touch_before_marketing_hands_off_does_not_stop_the_clock(rules) -> None:
    person = director(events=[EngagementEvent(type="demo_request", at=ago(3))],
                      activities=[Activity(kind=ActivityKind.CALL, at=ago(10), by=OWNER)])
    decision = rules.evaluate(person, NOW)
    assert decision.sla.handoff == "marketing" and decision.sla.started_at == ago(3)
    assert decision.sla.status is SlaStatus.BREACHED and decision.sla.touched_at is None


def test_the_contacts_side_of_a_sales_conversation_never_starts_the_clock(rules) -> None:
    """Replies to the rep and LinkedIn messages score, but they are sales' doing: with no marketing signal
    before the rep's first touch, sales found the prospect itself."""
    person = director(events=[EngagementEvent(type="email_reply", at=ago(5)),
                              EngagementEvent(type="social_message", at=ago(5), source="linkedin")],
                      activities=[Activity(kind=ActivityKind.EMAIL, at=ago(6), by=OWNER),
                                  meeting(accepted_days_ago=4)])
    decision = rules.evaluate(person, NOW)
    assert decision.stage is Stage.PROSPECT
    assert decision.sla.handoff == "sales" and decision.sla.status is SlaStatus.MET
    assert decision.sla.started_at == ago(4) and decision.sla.touched_by == OWNER


def test_recent_touch_days_is_the_rules_choice(rules) -> None:
    person = director(fields={"need": "SIEM", "timing": "dans 3 mois"},
                      activities=[Activity(kind=ActivityKind.MEETING, at=ago(10), by=OWNER)])
    assert rules.evaluate(person, NOW).sla.status is SlaStatus.MET
    text = default_rules_path().read_text(encoding="utf-8").replace("recent_touch_days: 14", "recent_touch_days: 7")
    stricter = rules_from_text(text)
    decision = stricter.evaluate(person, NOW)
    assert decision.sla.handoff == "first_seen" and decision.sla.status is SlaStatus.RUNNING


def test_first_seen_is_remembered_and_the_clock_runs_from_it(rules) -> None:
    person = director(fields={"need": "SIEM", "timing": "dans 3 mois"})
    first = rules.evaluate(person, NOW)
    assert first.sla.handoff == "first_seen" and first.sla.started_at == NOW
    later = rules.evaluate(person, NOW + timedelta(days=3), first.memory)
    assert later.sla.started_at == NOW and later.sla.status is SlaStatus.BREACHED


def test_a_remembered_hand_off_before_a_long_silence_gives_way_to_a_new_one(rules) -> None:
    """The daemon did not see it go to nurture (it was not running): the old hand-off is not the new clock."""
    memory = ContactMemory(qualified_at=ago(200), stage=Stage.PROSPECT, was_prospect=True, handoff="marketing")
    person = director(events=[EngagementEvent(type="demo_request", at=ago(200)),
                              EngagementEvent(type="demo_request", at=ago(20))])
    decision = rules.evaluate(person, NOW, memory)
    assert decision.sla.started_at == ago(20) and decision.sla.status is SlaStatus.BREACHED
    assert decision.memory.qualified_at == ago(20)
    kept = rules.evaluate(person, NOW, decision.memory)
    assert kept.sla.started_at == ago(20)


def test_a_prospect_kept_while_active_keeps_its_hand_off(rules) -> None:
    memory = ContactMemory(qualified_at=ago(12), stage=Stage.PROSPECT, was_prospect=True, handoff="first_seen")
    decision = rules.evaluate(director(fields={}, events=[EngagementEvent(type="visit", at=ago(2))],
                                       activities=[Activity(kind=ActivityKind.CALL, at=ago(11), by=OWNER)]),
                              NOW, memory)
    assert decision.stage is Stage.PROSPECT and decision.sla.started_at == ago(12)
    assert decision.sla.status is SlaStatus.MET


# ------------------------------------------------------------------------ the response time, fixed at hand-off

def test_the_response_time_is_the_one_of_the_maturity_at_hand_off(rules) -> None:
    """A demo request makes a hot prospect (8 business hours). When the request has aged past the hot window the
    prospect is no longer hot, but its SLA was due 8 business hours after the hand-off: late stays late."""
    person = director(events=[EngagementEvent(type="demo_request", at=ago(6))],
                      activities=[Activity(kind=ActivityKind.CALL, at=ago(5), by=OWNER)])
    now = rules.evaluate(person, NOW)
    later = rules.evaluate(person, NOW + timedelta(days=40), now.memory)
    assert now.maturity == "hot" and later.maturity != "hot"
    assert now.sla.status is SlaStatus.LATE and later.sla.status is SlaStatus.LATE
    assert later.sla.due_at == now.sla.due_at == ago(6) + timedelta(hours=8)  # Tuesday 10:00 -> 18:00 Paris


# ------------------------------------------------------------------------ qualified from undated fields

ANSWERS = {"need": "SIEM", "timing": "dans 3 mois"}


def test_undated_answers_after_a_marketing_signal_and_a_sales_touch_date_from_the_signal(rules) -> None:
    """The seed's discovery call: a download, the rep's follow-up, then the fields the call revealed. The
    hand-off is the download that led to the follow-up; a follow-up five days later is late."""
    person = director(fields=ANSWERS, events=[EngagementEvent(type="download", at=ago(10), source="linkedin")],
                      activities=[Activity(kind=ActivityKind.EMAIL, at=ago(5), by=OWNER),
                                  Activity(kind=ActivityKind.CALL, at=ago(3), by=OWNER)])
    for memory in (None, ContactMemory(stage=Stage.LEAD)):  # first sync, or seen as a lead before the call
        decision = rules.evaluate(person, NOW, memory)
        assert decision.sla.handoff == "marketing" and decision.sla.started_at == ago(10)
        assert decision.sla.status is SlaStatus.LATE and decision.sla.touched_at == ago(5)


def test_undated_answers_untouched_on_a_first_sync_date_from_the_latest_form(rules) -> None:
    person = director(fields=ANSWERS, events=[EngagementEvent(type="form", at=ago(40)),
                                              EngagementEvent(type="form", at=ago(9)),
                                              EngagementEvent(type="visit", at=ago(1))])
    decision = rules.evaluate(person, NOW)
    assert decision.sla.handoff == "marketing" and decision.sla.started_at == ago(9)
    assert decision.sla.status is SlaStatus.BREACHED


def test_undated_answers_are_first_seen_when_nothing_dates_them(rules) -> None:
    forms = [EngagementEvent(type="form", at=ago(9))]
    cases = {
        # crmsync saw it as a lead before: the fields changed since, at no known time
        "seen before": (director(fields=ANSWERS, events=forms), ContactMemory(stage=Stage.LEAD)),
        # a download or a webinar registration is interest, not the form that stated the need
        "no form": (director(fields=ANSWERS, events=[EngagementEvent(type="download", at=ago(9))]), None),
        # sales touched it before marketing did
        "sales first": (director(fields=ANSWERS, events=forms,
                                 activities=[Activity(kind=ActivityKind.CALL, at=ago(30), by=OWNER)]), None),
    }
    for name, (person, memory) in cases.items():
        decision = rules.evaluate(person, NOW, memory)
        assert decision.sla.handoff == "first_seen" and decision.sla.started_at == NOW, name

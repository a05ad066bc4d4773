"""Seed synthetic contacts into the sandbox, pull them through the connector, compare with the originals.

Compared: every field Pipedrive can hold. What it cannot hold, and so is not compared:
- engagement events other than the latest `email_reply` (`last_incoming_mail_time`) and the latest event
  of each type that has a configured date field; those keep only their day, and no event keeps its source;
- activity `direction` (Pipedrive has none) and the neutral ids of activities and deals (native ids instead);
- sub-second precision of any time (Pipedrive stores seconds);
- empty-string field values (Pipedrive stores them as no value: the key is absent after the pull).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timezone

from connectors.pipedrive.settings import DEFAULT_EVENT_DATE_FIELDS
from sync.model import PROFILE_ATTRIBUTES
from sync.synthetic import synthetic_contacts

PROFILE = tuple(name for name in PROFILE_ATTRIBUTES if name != "created_at")


def seconds(moment: datetime | None) -> datetime | None:
    return moment.replace(microsecond=0) if moment else None


def expected_events(contact):
    latest: dict[str, datetime] = {}
    for event in contact.events:
        if event.type == "email_reply" or event.type in DEFAULT_EVENT_DATE_FIELDS:
            latest[event.type] = max(latest.get(event.type, event.at), event.at)
    return {
        (kind, seconds(at) if kind == "email_reply" else datetime.combine(at.date(), time(0), timezone.utc))
        for kind, at in latest.items()
    }


def activity_view(activity):
    return (
        activity.kind,
        seconds(activity.at),
        activity.by,
        activity.done,
        activity.automated,
        activity.subject,
    )


def deal_view(deal):
    return (
        deal.status,
        deal.stage,
        deal.amount,
        deal.currency,
        deal.close_date,
        deal.recurring,
        deal.contract_months,
        seconds(deal.created_at),
        seconds(deal.updated_at),
    )


def test_seeded_contacts_come_back_field_for_field(sandbox, make_connector):
    originals = list(synthetic_contacts(80))
    native = sandbox.seed(originals)
    pulled = {c.id: c for page in make_connector().pull(None) for c in page.contacts}
    assert len(pulled) == len(originals)
    compared_events = 0
    for original in originals:
        back = pulled[native[original.id]]
        for attribute in PROFILE:
            assert getattr(back, attribute) == getattr(original, attribute), attribute
        assert back.created_at == seconds(original.created_at)
        assert back.updated_at == seconds(original.updated_at)
        for key, value in original.fields.items():
            assert back.fields.get(key, "") == value, key
        assert {(e.type, e.at) for e in back.events} == expected_events(original)
        compared_events += len(back.events)
        assert Counter(map(activity_view, back.activities)) == Counter(
            map(activity_view, original.activities)
        )
        assert Counter(map(deal_view, back.deals)) == Counter(map(deal_view, original.deals))
        assert back.override_stage is None
    assert compared_events > 50  # the comparison is not vacuous
    assert sum(len(c.deals) for c in originals) > 20 and sum(len(c.activities) for c in originals) > 100

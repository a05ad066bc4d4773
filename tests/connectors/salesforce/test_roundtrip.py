"""Seed synthetic people, pull them back through the connector, and compare field by field.

What Salesforce cannot represent, and so is compared loosely or not at all:
* system times (CreatedDate, SystemModstamp) are kept to the millisecond, times a person enters to the
  second (compared truncated);
* an activity's performer when there is none (every task has an owner: the integration user stands in),
  and the performer of automated work (owned by the automation user, flagged `automated`);
* a note (stored as a task: comes back as kind `task`);
* direction of anything but a call; `done` of a meeting (events have no status: past ones are done);
* the time of day of an open task (only its due date exists);
* an engagement event's `source` (the campaign's name comes back instead); deal and activity ids (native ids);
* an empty text (Salesforce keeps none: it is null);
* the neutral contact id (the native id is the identity; `seed()` returns the map);
* company data of a person without a company: a Contact keeps industry, size, website and revenue on its
  Account, and a Contact without an Account has none (a Lead requires a company, so such people are Contacts).
"""

from __future__ import annotations

from sync.model import ActivityKind
from sync.synthetic import synthetic_contacts

from sync.model import PROFILE_ATTRIBUTES

# the profile attributes that come back as they were seeded; the owner (a User id now) and the creation
# time (milliseconds) are compared on their own
PROFILE = tuple(sorted(set(PROFILE_ATTRIBUTES) - {"owner_id", "created_at"}))


ACCOUNT_PROFILE = ("industry", "company_size")
ACCOUNT_FIELDS = ("website", "annual_revenue")


def expected_profile(original):
    profile = {f: getattr(original, f) for f in PROFILE}
    fields = {name: None if value == "" else value for name, value in original.fields.items()}  # no "" in SF
    if original.company is None:
        profile.update(dict.fromkeys(ACCOUNT_PROFILE))
        fields.update(dict.fromkeys(ACCOUNT_FIELDS))
    return profile, fields


def second(value):
    return value.replace(microsecond=0) if value else value


def millisecond(value):
    return value.replace(microsecond=value.microsecond // 1000 * 1000) if value else value


def activity_key(activity, owners, automation_user):
    kind = ActivityKind.TASK if activity.kind is ActivityKind.NOTE else activity.kind
    is_task = kind is not ActivityKind.MEETING
    at = second(activity.at) if (activity.done or not is_task) else activity.at.date()
    by = automation_user if activity.automated else owners.get(activity.by) if activity.by else None
    return (
        kind.value,
        str(at),
        activity.done if is_task else None,
        activity.automated,
        by,
        activity.direction if kind is ActivityKind.CALL else None,
        activity.subject,
    )


def pulled_key(activity, owners_by_native, automation_user):
    is_task = activity.kind is not ActivityKind.MEETING
    at = second(activity.at) if (activity.done or not is_task) else activity.at.date()
    by = activity.by if (activity.automated or activity.by in owners_by_native) else None
    return (
        activity.kind.value,
        str(at),
        activity.done if is_task else None,
        activity.automated,
        by,
        activity.direction,
        activity.subject,
    )


def deal_key(deal):
    return (
        deal.status,
        deal.stage,
        deal.amount,
        deal.close_date,
        deal.recurring,
        deal.contract_months,
        second(deal.created_at),
        second(deal.updated_at),
        deal.currency,
    )


def test_seeded_contacts_come_back_as_they_were(sandbox, clock, connector):
    originals = list(synthetic_contacts(120, seed=21, now=clock.now()))
    ids = sandbox.seed(originals)
    pulled = {c.id: c for page in connector.pull(None) for c in page.contacts}
    assert set(pulled) == set(ids.values())
    owners = sandbox.owner_ids
    owners_by_native = set(owners.values())
    automation = sandbox.seeder.automation_user
    for original in originals:
        got = pulled[ids[original.id]]
        profile, fields = expected_profile(original)
        assert {f: getattr(got, f) for f in PROFILE} == profile
        assert got.owner_id == owners[original.owner_id]
        assert got.created_at == millisecond(original.created_at)
        assert got.updated_at == millisecond(original.updated_at)
        assert got.fields == fields
        assert sorted((e.type, e.at) for e in got.events) == sorted(
            (e.type, second(e.at)) for e in original.events
        )
        assert sorted(pulled_key(a, owners_by_native, automation) for a in got.activities) == sorted(
            activity_key(a, owners, automation) for a in original.activities
        )
        assert sorted(map(deal_key, got.deals), key=repr) == sorted(
            (deal_key(d)[:-1] + ("EUR",) for d in original.deals), key=repr
        )

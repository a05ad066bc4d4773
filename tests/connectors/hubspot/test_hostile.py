"""Records shaped like the world, mixed into a page: text in a number, a date that is not one, an id that
is not a HubSpot id, a 100 KB name, NUL bytes, a deal amount typed as a range. The good records sync, the
bad value is unknown, the problem is reported per record (never the value), the cursor moves on, and a
record that becomes readable is pulled normally."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from connectors.sandbox.hubspot_store import Record, iso
from sync.model import Contact, Deal, DealStatus

LONG_NAME = "Ada" * 35_000  # 105,000 characters


def spoil(sandbox: Any, natives: list[str]) -> str:
    """Leave what imports and integrations leave in five of the contacts; returns the id of a record
    whose id is not a HubSpot id."""
    store = sandbox.store
    store.touch("contacts", natives[0], {"annualrevenue": "lots", "numemployees": "50-100 maybe"})
    store.touch("contacts", natives[1], {"hs_email_last_open_date": "31/12/2025", "createdate": "next tuesday"})
    store.touch("contacts", natives[2], {"firstname": LONG_NAME, "lastname": "Mar\x00tin\x07"})
    deal = sandbox.store.linked("contacts", natives[3], "deals")[0]
    store.touch("deals", deal, {"amount": "50-100", "closedate": "soon"})
    with store.lock:
        now = store.now()
        store.objects["contacts"]["12ab!"] = Record("12ab!", {"email": "odd@example.com", "hs_object_id": "12ab!",
                                                               "lastmodifieddate": iso(now)}, now, now)
    return "12ab!"


def by_record(problems: list[Any]) -> dict[tuple[str, str | None], str]:
    return {(p.record_id, p.field): p.object_type for p in problems}


def check(pages: list[Any], natives: list[str], deal_id: str, odd: str) -> dict[str, Contact]:
    contacts = {c.id: c for p in pages for c in p.contacts}
    problems = [problem for p in pages for problem in p.problems]
    assert set(natives) <= set(contacts) and odd not in contacts
    spoiled = contacts[natives[0]]
    assert spoiled.fields["annual_revenue"] is None and spoiled.company_size_range is None
    assert spoiled.email == "p0@example.com" and spoiled.owner_id == "1001"  # the rest of the record is read
    assert contacts[natives[1]].created_at is not None  # HubSpot's own createdAt stands in
    assert not any(e.type == "email_open" and e.at.year == 2025 for e in contacts[natives[1]].events)
    assert len(contacts[natives[2]].first_name or "") == 2_000 and contacts[natives[2]].last_name == "Martin"
    deal = next(d for d in contacts[natives[3]].deals if d.status is DealStatus.WON)
    assert deal.amount is None and deal.close_date is None
    found = by_record(problems)
    assert {(natives[0], "annualrevenue"), (natives[0], "numemployees"), (natives[1], "hs_email_last_open_date"),
            (natives[1], "createdate"), (natives[2], "firstname"), (deal_id, "amount"), (deal_id, "closedate"),
            (odd, "id")} <= set(found)
    assert found[(deal_id, "amount")] == "deal" and found[(odd, "id")] == "contact"
    texts = " ".join(p.reason for p in problems)
    assert "lots" not in texts and "50-100" not in texts and "next tuesday" not in texts and "Ada" not in texts
    return contacts


def seed(sandbox: Any) -> tuple[list[str], str]:
    """Six contacts, the fourth with a won deal; their ids and the deal's."""
    people = [Contact(crm="seed", id=str(n), email=f"p{n}@example.com", owner_id="1001",
                      deals=[Deal(id=f"d{n}", status=DealStatus.WON, amount=100.0)] if n == 3 else [])
              for n in range(6)]
    natives = list(sandbox.seed(people).values())
    return natives, sandbox.store.linked("contacts", natives[3], "deals")[0]


def test_a_full_pull_keeps_the_good_records_and_reports_the_bad_values(sandbox, make_connector):
    natives, deal = seed(sandbox)
    odd = spoil(sandbox, natives)
    check(list(make_connector().pull(None)), natives, deal, odd)


def test_an_incremental_pull_moves_on_past_bad_values_and_picks_them_up_once_readable(sandbox, make_connector,
                                                                                     clock):
    natives, deal = seed(sandbox)
    connector = make_connector()
    cursor = list(connector.pull(None))[-1].cursor
    clock.advance(timedelta(minutes=5))
    odd = spoil(sandbox, natives)
    clock.advance(timedelta(minutes=1))
    pages = list(connector.pull(cursor))
    check(pages, natives[:4], deal, odd)
    cursor = pages[-1].cursor
    clock.advance(timedelta(minutes=5))
    assert [c for p in connector.pull(cursor) for c in p.contacts] == []  # the cursor moved past them
    sandbox.edit(natives[0], {"annualrevenue": "1200000", "numemployees": "50-100"})
    clock.advance(timedelta(minutes=1))
    pages = list(connector.pull(cursor))
    (fixed,) = [c for p in pages for c in p.contacts]
    assert (fixed.id, fixed.fields["annual_revenue"], fixed.company_size_range) == (natives[0], 1_200_000, (50, 100))
    assert not [p for page in pages for p in page.problems if p.record_id == natives[0]]

"""A contact only crmsync's own write changed is not read back by the next pull; anything else still is."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from connectors.hubspot import HubSpotConnector
from connectors.sandbox.hubspot import HubSpotSandbox
from sync.contract import FieldUpdate
from sync.model import Contact, Deal, DealStatus

ENRICHING = ("/crm/v4/associations/", "/crm/v3/objects/contacts/batch/read", "/crm/v3/objects/calls/batch/read")


def pulled(connector: HubSpotConnector, cursor: str | None) -> tuple[list[Contact], str]:
    pages = list(connector.pull(cursor))
    return [c for page in pages for c in page.contacts], pages[-1].cursor


def scored(contacts: list[Contact], score: int, **extra: Any) -> list[FieldUpdate]:
    """What the engine hands over after a page: the page's contacts, with the native values read."""
    return [FieldUpdate(c.id, {"score": score, **extra}, previous={}, crm_values=dict(c.crm_values))
            for c in contacts]


def enriching_calls(sandbox: HubSpotSandbox) -> int:
    return sum(sandbox.requests.count("POST", path) for path in ENRICHING)


def first_cycle(sandbox: HubSpotSandbox, make_connector: Any, clock: Any, count: int = 6, *,
                ownership: dict[str, str] | None = None,
                **extra: Any) -> tuple[HubSpotConnector, dict[str, str], str]:
    ids = sandbox.seed(Contact(crm="seed", id=str(n), email=f"p{n}@example.com") for n in range(count))
    for native in ids.values():
        sandbox.edit(native, {"lifecyclestage": "lead"})
    connector = make_connector(ownership=ownership or {})
    connector.ensure_fields()
    contacts, cursor = pulled(connector, None)
    assert all(result.ok for result in connector.push(scored(contacts, 42, **extra)))
    clock.advance(timedelta(minutes=5))
    sandbox.requests.clear()
    return connector, ids, cursor


def test_contacts_only_crmsync_wrote_are_not_read_back(sandbox, make_connector, clock):
    connector, _, cursor = first_cycle(sandbox, make_connector, clock)
    changed, _ = pulled(connector, cursor)
    assert changed == []
    assert enriching_calls(sandbox) == 0  # the search found them; nothing more was read


def test_a_lifecycle_stage_crmsync_wrote_is_its_own_write_too(sandbox, make_connector, clock):
    connector, ids, cursor = first_cycle(sandbox, make_connector, clock, stage="prospect",
                                         ownership={"lifecyclestage": "always"})
    assert sandbox.native(ids["0"])["lifecyclestage"] == "salesqualifiedlead"  # the default map of prospect
    changed, _ = pulled(connector, cursor)
    assert changed == []


def test_a_persons_edit_after_the_write_is_read(sandbox, make_connector, clock):
    connector, ids, cursor = first_cycle(sandbox, make_connector, clock)
    sandbox.set_field(ids["2"], "job_title", "Head of Revenue")
    clock.advance(timedelta(minutes=1))
    changed, _ = pulled(connector, cursor)
    assert [(c.id, c.job_title) for c in changed] == [(ids["2"], "Head of Revenue")]


def test_a_persons_edit_between_the_pull_and_the_write_is_read(sandbox, make_connector, clock):
    """The write moves the modification time past the edit: only the values tell them apart."""
    ids = sandbox.seed(Contact(crm="seed", id=str(n), email=f"p{n}@example.com") for n in range(3))
    connector = make_connector()
    connector.ensure_fields()
    contacts, cursor = pulled(connector, None)
    clock.advance(timedelta(seconds=30))
    sandbox.edit(ids["1"], {"lifecyclestage": "marketingqualifiedlead"})
    clock.advance(timedelta(seconds=30))
    assert all(result.ok for result in connector.push(scored(contacts, 42)))
    clock.advance(timedelta(minutes=5))
    changed, _ = pulled(connector, cursor)
    assert [(c.id, c.crm_values["lifecyclestage"]) for c in changed] == [(ids["1"], "marketingqualifiedlead")]


def test_a_deal_won_after_the_write_is_read_with_its_contact(sandbox, make_connector, clock):
    connector, ids, cursor = first_cycle(sandbox, make_connector, clock)
    sandbox.upsert_deal(ids["4"], Deal(id="d-4", status=DealStatus.WON, amount=1200.0, close_date=clock.now().date(),
                                       created_at=clock.now(), updated_at=clock.now()))
    clock.advance(timedelta(minutes=1))
    changed, _ = pulled(connector, cursor)
    assert [c.id for c in changed] == [ids["4"]]
    assert [d.status for d in changed[0].deals] == [DealStatus.WON]


def test_a_write_crmsync_made_is_forgotten_once_read_and_by_a_new_process(sandbox, make_connector, clock):
    connector, ids, cursor = first_cycle(sandbox, make_connector, clock)
    restarted = make_connector()  # another replica, or the daemon restarted: it knows no write
    changed, _ = pulled(restarted, cursor)
    assert sorted(c.id for c in changed) == sorted(ids.values())
    assert enriching_calls(sandbox) > 0

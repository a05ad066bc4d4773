"""The same person, the same decision, in every CRM.

The people of `parity_people` (leads, prospects at each maturity and each SLA status, one-off and recurring
clients, nurture, disqualified; French titles, head counts on and off HubSpot's band edges, a seniority as
typed, meetings booked and meetings held, a LinkedIn exchange) are seeded into a HubSpot, a Salesforce and a
Pipedrive sandbox through each sandbox's own seeding, which writes what that CRM's API holds: HubSpot contacts
with their summaries, companies, deals and engagements and their associations; Salesforce Leads and Contacts
with Accounts, CampaignMembers, Tasks, Events, Opportunities and OpportunityContactRoles; Pipedrive persons,
organizations, deals and activities. One full cycle of each connector with the shipped rules, on the same
instant, then: score, stage, maturity, client kind and SLA status, as written back to each CRM, are the same
for each person in every CRM that can hold that person.

What some CRM cannot hold, and so the people who are checked in fewer CRMs (each says so in `crms`): Pipedrive
keeps no marketing email opens, no LinkedIn or other social message (no communications object, no date
field for them by default) and no contract length apart from its recurring revenue fields; Salesforce's
`NumberOfEmployees` and Pipedrive's number field hold head counts where HubSpot's `numemployees` holds
bands, which is what the shipped size thresholds (on the band edges) are for.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.hubspot import HubSpotConnector
from connectors.pipedrive import PipedriveConnector
from connectors.salesforce import SalesforceConnector
from connectors.sandbox.hubspot import HubSpotSandbox
from connectors.sandbox.pipedrive import PipedriveSandbox
from connectors.sandbox.salesforce import SalesforceSandbox
from sync import registry
from sync.clock import FrozenClock
from sync.daemon.accounts import AccountRunner
from sync.daemon.engine import RunOptions
from sync.model import Activity, ActivityKind, Contact, Deal, DealStatus, EngagementEvent, PipelineStage
from sync.state import StateStore
from sync.synthetic import OWNERS

# -- the people ------------------------------------------------------------------------------------------
# Each is built from one profile (an IT director at a 200-person software company in France, a buying window
# stated, no need shown) and changed in one respect, so that what differs from a CRM to another can only be
# how that CRM holds that respect. Times are chosen so that every CRM holds them exactly: events at midnight
# UTC (Pipedrive keeps an event as the date of the latest of its type), activities on the minute.

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Paris (the shipped SLA calendar)
MIDNIGHT = NOW.replace(hour=0)
OWNER = OWNERS[0].id
ALL_CRMS = ("hubspot", "salesforce", "pipedrive")
NO_PIPEDRIVE = ("hubspot", "salesforce")


@dataclass(frozen=True)
class Person:
    """A neutral contact, what the shipped rules are expected to decide for it, and the CRMs that hold it."""

    contact: Contact
    expect: dict[str, Any]
    crms: tuple[str, ...] = ALL_CRMS
    why: str = ""


def days_ago(days: float, *, hour: int = 0, minute: int = 0) -> datetime:
    return MIDNIGHT - timedelta(days=days) + timedelta(hours=hour, minutes=minute)


def event(kind: str, days: float) -> EngagementEvent:
    return EngagementEvent(type=kind, at=days_ago(days))


def call(key: str, days: float, *, hour: int = 10, by: str | None = OWNER, done: bool = True) -> Activity:
    return Activity(kind=ActivityKind.CALL, at=days_ago(days, hour=hour), by=by, direction="outbound", done=done,
                    id=f"{key}-call-{days}", subject="Discovery call")


def contact(number: int, **changes: Any) -> Contact:
    base: dict[str, Any] = {
        "crm": "seed", "id": str(800_000 + number), "email": f"dsi{number}@nordazur{number}.example",
        "owner_id": OWNER, "first_name": "Léa", "last_name": f"Martin{number}", "company": f"Nordazur{number} SAS",
        "industry": "software", "company_size": 200, "job_title": "IT Director", "seniority": "director",
        "country": "FR", "source": "website_form", "created_at": NOW - timedelta(days=40),
        "updated_at": NOW - timedelta(days=40), "fields": {"timing": "within 3 months"}}
    base.update(changes)
    return Contact(**base)


def won(key: str, days: float, *, recurring: bool | None, months: int | None = None,
        amount: float = 24_000.0) -> Deal:
    closed = days_ago(days)
    return Deal(id=f"{key}-deal-{days}", status=DealStatus.WON, stage=PipelineStage.CLOSING, amount=amount,
                currency="EUR", close_date=closed.date(), recurring=recurring, contract_months=months,
                created_at=closed - timedelta(days=20), updated_at=closed)


BANT = {"need": "Remplacer notre SIEM", "timing": "within 3 months", "decision_role": "decision_maker"}


def people() -> list[Person]:
    """Every person of the parity set, each with what the shipped rules decide for it."""
    return [
        # -- leads ----------------------------------------------------------------------------------------
        Person(contact(1), {"stage": "lead"}, why="fits, states a buying window, no need shown"),
        Person(contact(2, job_title="Office Manager", seniority=None, company_size=3, industry="retail"),
               {"stage": "lead"}, why="a very small company (HubSpot band 1-5)"),
        Person(contact(3, company_size=50), {"stage": "lead"}, why="at the edge of a band: HubSpot's 50-100"),
        Person(contact(4, company_size=25), {"stage": "lead"}, why="HubSpot's 25-50: not mid-market"),
        Person(contact(5, company_size=1000), {"stage": "lead"}, why="HubSpot's 1000+: enterprise"),
        Person(contact(6, company_size=8000), {"stage": "lead"}, why="HubSpot's 1000+ again, far above its edge"),
        Person(contact(7, job_title="Responsable informatique", seniority=None,
                       fields={"need": "Pas de besoin, simple veille", "timing": "dans 3 mois"}),
               {"stage": "lead"}, why="a French title, a need field that says there is none"),
        Person(contact(8, job_title="Directrice des systèmes d'information", seniority=None, company_size=1500),
               {"stage": "lead"}, why="a French C-level title and no seniority: read from the title"),
        Person(contact(9, seniority="VP", job_title="VP Operations", industry="banking"), {"stage": "lead"},
               why="a seniority as people type it (VP), not a neutral level"),
        Person(contact(10, events=[event("download", 12), event("webinar", 9)]), {"stage": "lead"},
               why="two conversions (HubSpot keeps the first and the latest)"),
        Person(contact(11, activities=[Activity(kind=ActivityKind.MEETING, at=days_ago(-3, hour=14), by=OWNER,
                                                done=False, id="m11", subject="Intro meeting")]),
               {"stage": "lead"}, why="a meeting sales scheduled for next week: not one the contact booked"),
        # -- prospects at each maturity, and each SLA status ----------------------------------------------
        Person(contact(12, events=[event("demo_request", 4)], activities=[call("p12", 4, hour=13)]),
               {"stage": "prospect", "maturity": "hot", "sla_status": "met"},
               why="asked for a demo overnight, called that afternoon"),
        Person(contact(13, events=[event("demo_request", 7)], activities=[call("p13", 5)]),
               {"stage": "prospect", "maturity": "hot", "sla_status": "late"},
               why="asked for a demo, called two days later"),
        Person(contact(14, events=[event("demo_request", 7)]),
               {"stage": "prospect", "maturity": "hot", "sla_status": "breached"},
               why="asked for a demo a week ago, nobody called"),
        Person(contact(15, events=[event("demo_request", 1)]),
               {"stage": "prospect", "maturity": "hot", "sla_status": "running"},
               why="asked for a demo yesterday (a Sunday)"),
        Person(contact(16, events=[event("meeting_booked", 5)], activities=[call("p16", 4)]),
               {"stage": "prospect", "maturity": "warm", "sla_status": "met"},
               why="booked a meeting through a link, an IT director: interest and role"),
        Person(contact(17, events=[event("meeting_booked", 10)],
                       activities=[Activity(kind=ActivityKind.MEETING, at=days_ago(6, hour=14), by=OWNER,
                                            accepted_at=days_ago(10), id="m17", subject="Discovery")]),
               {"stage": "prospect", "maturity": "warm", "sla_status": "met"},
               why="booked a meeting, held six days ago"),
        Person(contact(18, fields=dict(BANT), created_at=NOW - timedelta(days=60),
                       updated_at=NOW - timedelta(days=60)),
               {"stage": "prospect", "maturity": "cold"}, why="BANT met from the fields alone, nothing recent"),
        Person(contact(19, fields=dict(BANT), deals=[Deal(
                   id="p19-open", status=DealStatus.OPEN, stage=PipelineStage.PROPOSAL, amount=30_000.0,
                   currency="EUR", created_at=days_ago(15), updated_at=days_ago(15))],
                       activities=[call("p19", 14)]),
               {"stage": "prospect", "maturity": "hot"}, why="an open deal at the proposal stage"),
        Person(contact(20, fields=dict(BANT), events=[event("email_reply", 3)], activities=[call("p20", 5)]),
               {"stage": "prospect", "maturity": "warm"}, why="replied to an email this week"),
        Person(contact(21, fields=dict(BANT), activities=[call("p21", 10)]),
               {"stage": "prospect", "maturity": "warm"}, why="called ten days ago"),
        Person(contact(31, activities=[Activity(kind=ActivityKind.MEETING, at=days_ago(6, hour=14), by=OWNER,
                                                id="m31", subject="Intro meeting")]),
               {"stage": "prospect", "maturity": "warm", "sla_status": "met"},
               why="a meeting sales logged and held: the contact came, so accepted it (never booked it)"),
        # -- clients --------------------------------------------------------------------------------------
        Person(contact(22, deals=[won("c22", 5, recurring=False)]), {"stage": "client", "client_kind": "one_off"},
               why="one project won"),
        Person(contact(23, deals=[won("c23", 5, recurring=True, months=12)]),
               {"stage": "client", "client_kind": "recurring"}, why="a subscription won"),
        Person(contact(24, deals=[won("c24a", 200, recurring=None), won("c24b", 5, recurring=None)]),
               {"stage": "client", "client_kind": "recurring"}, why="two purchases, nothing says recurring"),
        Person(contact(25, deals=[won("c25", 5, recurring=None, months=24)]),
               {"stage": "client", "client_kind": "recurring"}, crms=NO_PIPEDRIVE,
               why="a two-year contract; Pipedrive holds a contract length only through recurring revenue"),
        # -- nurture, disqualified ------------------------------------------------------------------------
        Person(contact(26, fields=dict(BANT), created_at=NOW - timedelta(days=300),
                       updated_at=NOW - timedelta(days=120), activities=[call("n26", 120)]),
               {"stage": "nurture"}, why="qualified, then nothing for 120 days"),
        Person(contact(27, job_title="Étudiante en alternance", seniority=None,
                       events=[event("demo_request", 3)]),
               {"stage": "disqualified"}, why="a student (French title) who asked for a demo"),
        Person(contact(28, fields={"competitor": True, "timing": "within 3 months"}),
               {"stage": "disqualified"}, why="a competitor"),
        # -- what not every CRM holds ---------------------------------------------------------------------
        Person(contact(29, events=[event("social_message", 4), event("meeting_booked", 3)]),
               {"stage": "prospect", "maturity": "warm"}, crms=NO_PIPEDRIVE,
               why="a LinkedIn exchange, then a meeting booked (Pipedrive records no social message)"),
        Person(contact(30, events=[event("email_open", 6), event("email_open", 20), event("visit", 2)]),
               {"stage": "lead"}, crms=NO_PIPEDRIVE, why="marketing email opens (Pipedrive records none)"),
    ]


# -- the checks ---------------------------------------------------------------------------------------

DECIDED = ("score", "stage", "maturity", "client_kind", "sla_status")
KINDS = {"hubspot": (HubSpotSandbox, HubSpotConnector), "salesforce": (SalesforceSandbox, SalesforceConnector),
         "pipedrive": (PipedriveSandbox, PipedriveConnector)}


@dataclass(frozen=True)
class Synced:
    """What one CRM holds after the cycle: crmsync's written fields per neutral person id."""

    crm: str
    written: dict[str, dict[str, Any]]


def sync_once(crm: str, persons: list[Person], directory: Path) -> Synced:
    """Seed the people this CRM can hold, run one full cycle on the shipped rules at `NOW` (the CRM's clock
    frozen there: pacing does not move it, so every CRM decides at the same instant), read back what was
    written."""
    sandbox_class, connector_class = KINDS[crm]
    clock = FrozenClock(NOW)
    held = [person.contact for person in persons if crm in person.crms]
    with sandbox_class(clock=clock) as sandbox:
        natives = sandbox.seed(held)
        settings = sandbox.settings(burst_limit=10_000) if crm == "pipedrive" else sandbox.settings()
        connector = connector_class(settings, account="parity", clock=clock, sleep=lambda _seconds: None)
        rules = registry.rules_loader()(None)
        try:
            with StateStore(f"sqlite:///{directory / f'{crm}.db'}", clock=clock) as store:
                runner = AccountRunner(store=store, connector=connector, rules=lambda: rules, clock=clock,
                                       options=RunOptions())
                summary = runner.cycle(threading.Event())
        finally:
            connector.close()
        assert summary.outcome.value == "ok", (crm, summary.outcome.value, summary.errors[:3])
        written = {neutral: sandbox.written(native) for neutral, native in natives.items()}
    return Synced(crm, written)


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Person], dict[str, Synced]]]:
    persons = people()
    directory = tmp_path_factory.mktemp("parity")
    yield persons, {crm: sync_once(crm, persons, directory) for crm in ALL_CRMS}


def decided(synced_crm: Synced, person: Person) -> tuple[Any, ...]:
    fields = synced_crm.written[person.contact.id]
    return tuple(fields.get(name) for name in DECIDED)


def test_the_same_person_gets_the_same_decision_in_every_crm_that_holds_it(synced):
    persons, crms = synced
    mismatches = {}
    for person in persons:
        decisions = {crm: decided(crms[crm], person) for crm in person.crms}
        if len(set(decisions.values())) != 1:
            mismatches[f"{person.contact.id} ({person.why})"] = decisions
    assert not mismatches, mismatches


def test_each_person_is_decided_as_the_shipped_rules_mean(synced):
    """The parity above would also hold if every CRM were wrong alike: each person's situation is the one it
    was built for (its stage, and maturity, client kind and SLA status where it was built for one)."""
    persons, crms = synced
    wrong = {}
    for person in persons:
        for crm in person.crms:
            fields = crms[crm].written[person.contact.id]
            got = {name: fields.get(name) for name in person.expect}
            if got != person.expect:
                wrong[f"{crm} {person.contact.id} ({person.why})"] = got
    assert not wrong, wrong


def test_the_set_covers_every_stage_maturity_client_kind_and_sla_status_in_all_three_crms(synced):
    persons, _ = synced
    everywhere = [person for person in persons if set(person.crms) == set(ALL_CRMS)]
    seen = {name: {person.expect.get(name) for person in everywhere} - {None} for name in DECIDED[1:]}
    assert seen["stage"] == {"lead", "prospect", "client", "nurture", "disqualified"}
    assert seen["maturity"] == {"cold", "warm", "hot"}
    assert seen["client_kind"] == {"one_off", "recurring"}
    assert seen["sla_status"] >= {"met", "late", "breached", "running"}
    assert len(everywhere) >= 25 and len(persons) - len(everywhere) <= 5

"""The life of a contact through the whole daemon, on all three sandbox CRMs at once, with the shipped rules.

The daemon is assembled from settings exactly as `crmsync run` assembles it (`build_service`), its scheduler
running, on a FrozenClock it shares with the sandboxes; each step is set off with `Scheduler.run_now` and
awaited through the daemon's run observers, so nothing sleeps. Every change is made INSIDE the sandboxes,
through their helpers, as a person working in the CRM would; every assertion reads what the CRM stores.

The story, per CRM:
1. a lead that fits (an IT director at a 200-person software company, a timing stated) but has stated no
   need yet: a lead;
   a prospect that is active (a demo request, a meeting, a call by its owner): a prospect;
2. the lead downloads a white paper and books a meeting: engagement and intent up, it becomes a prospect,
   and its SLA clock starts (stage prospect, SLA running, a due time);
3. the clock passes the due time and nobody touches it: the sweep pushes the breach flag;
4. its owner logs a call: the flag is cleared and the SLA is reported late;
5. it wins a recurring deal: a recurring client; another lead wins a one-off deal: a one-off client;
6. a hundred days pass with no activity on the other prospect: back to nurture.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sync.clock import FrozenClock
from sync.configfile import parse_yaml
from sync.daemon.service import Service, build_service, rules_watcher
from sync.daemon.testing import Recorder
from sync.model import Activity, ActivityKind, Contact, Deal, DealStatus, EngagementEvent, PipelineStage
from sync.settings import validate_settings
from sync.synthetic import OWNERS

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Paris (the shipped SLA calendar)
OWNER = OWNERS[0].id
SETTINGS = """\
state:
  url: sqlite:///{db}
sla_sweep:
  interval: 1h
full_rescore:
  interval: null
accounts:
{accounts}"""
ACCOUNT = """\
  - name: {crm}-e2e
    crm: {crm}
    sandbox: true
    sandbox_contacts: 0
    interval: 1h
    jitter: 0s
"""
CRMS = ("hubspot", "salesforce", "pipedrive")


def person(index: int, **changes: Any) -> Contact:
    """An IT director at a 200-person software company in France: fits the target, a buying window stated,
    no need shown yet (no need field, no demo or pricing request, no meeting)."""
    base: dict[str, Any] = {
        "crm": "seed", "id": str(900_000 + index), "email": f"it.director{index}@nordazur{index}.example",
        "owner_id": OWNER, "first_name": "Léa", "last_name": f"Martin{index}", "company": f"Nordazur{index} SAS",
        "industry": "software", "company_size": 200, "job_title": "IT Director", "seniority": "director",
        "country": "FR", "source": "website_form", "created_at": NOW - timedelta(days=40),
        "updated_at": NOW - timedelta(days=40),
        "fields": {"timing": "within 3 months"}}
    base.update(changes)
    return Contact(**base)


def active_prospect(index: int) -> Contact:
    """Asked for a demo and booked a meeting this week; its owner already called (SLA met)."""
    recent = NOW - timedelta(days=2)
    return person(index, updated_at=recent,
                  events=[EngagementEvent(type="download", at=NOW - timedelta(days=6)),
                          EngagementEvent(type="demo_request", at=recent),
                          EngagementEvent(type="meeting_booked", at=recent)],
                  activities=[Activity(kind=ActivityKind.CALL, at=recent + timedelta(hours=2), by=OWNER,
                                       direction="outbound", id=f"act-{index}-1", subject="Discovery call")])


def won(deal_id: str, *, recurring: bool) -> Deal:
    return Deal(id=deal_id, status=DealStatus.WON, stage=PipelineStage.CLOSING, amount=24_000.0, currency="EUR",
                close_date=NOW.date(), recurring=recurring, contract_months=12 if recurring else None,
                created_at=NOW - timedelta(days=20), updated_at=NOW)


class Life:
    """The daemon and its sandboxes, and what a test needs to drive them one step at a time."""

    def __init__(self, service: Service, recorder: Recorder, clock: FrozenClock) -> None:
        self.service, self.recorder, self.clock = service, recorder, clock
        self.sandboxes = {o.account.crm: o.sandbox for o in service.opened}
        self.ids: dict[str, dict[str, str]] = {}

    def seed(self, contacts: list[Contact]) -> None:
        for crm, sandbox in self.sandboxes.items():
            self.ids[crm] = sandbox.seed(contacts)

    def native(self, crm: str, contact: Contact) -> str:
        return self.ids[crm][contact.id]

    def written(self, crm: str, contact: Contact) -> dict[str, Any]:
        return {k: v for k, v in self.sandboxes[crm].written(self.native(crm, contact)).items() if v is not None}

    def _await(self, job: str, runs: int) -> None:
        before = len(self.recorder.summaries)
        self.service.daemon.scheduler.run_now(job)
        self.recorder.wait_for(lambda: len(self.recorder.summaries) >= before + runs, f"{runs} runs of {job}",
                               timeout=60)
        failed = [s for s in self.recorder.summaries[before:] if s.outcome.value != "ok"]
        assert not failed, [(s.crm, s.outcome.value, s.errors[:3]) for s in failed]

    def cycle(self) -> None:
        """One sync cycle of every account, as their jobs would run it, a minute after the changes (a CRM's
        search index, like HubSpot's, shows a change only once its timestamp is in the past)."""
        self.clock.advance(timedelta(minutes=1))
        for runner in self.service.runners:
            self._await(runner.key, 1)

    def sweep(self) -> None:
        self._await("sla_sweep", len(self.service.runners))


@pytest.fixture
def life(tmp_path: Path):
    clock = FrozenClock(NOW)
    text = SETTINGS.format(db=tmp_path / "state.db", accounts="".join(ACCOUNT.format(crm=c) for c in CRMS))
    settings = validate_settings(parse_yaml(text, str(tmp_path / "crmsync.yaml")), {})
    recorder = Recorder()
    # a connector pacing itself to its rate limit sleeps in virtual time: the shared clock moves instead
    service = build_service(settings, watcher=rules_watcher(settings, clock), clock=clock, port=0,
                            sleep=lambda seconds: clock.advance(timedelta(seconds=seconds)),
                            observers=[recorder.observe])
    yield Life(service, recorder, clock)
    service.daemon.shutdown()
    service.close()


def test_a_contact_goes_from_lead_to_client_through_the_sla_and_a_quiet_prospect_back_to_nurture(life: Life):
    lead, quiet, one_off = person(1), active_prospect(2), person(3)
    life.seed([lead, quiet, one_off])
    life.service.daemon.start()
    life.recorder.wait_for(lambda: len(life.recorder.summaries) >= 2 * len(CRMS), "the first cycle and sweep",
                           timeout=60)
    for crm in CRMS:
        assert life.written(crm, lead)["stage"] == "lead", crm
        assert life.written(crm, quiet)["stage"] == "prospect", crm
        assert life.written(crm, one_off)["stage"] == "lead", crm
    life.service.daemon.health.refresh()
    assert all(result.ok for result in life.service.daemon.readiness().values()), life.service.daemon.readiness()

    # 2. the lead downloads content and books a meeting: a prospect, its SLA clock running
    life.clock.advance(timedelta(minutes=30))
    for crm, sandbox in life.sandboxes.items():
        native = life.native(crm, lead)
        sandbox.record_event(native, EngagementEvent(type="download", at=life.clock.now()))
        sandbox.record_event(native, EngagementEvent(type="meeting_booked", at=life.clock.now()))
    life.cycle()
    due: dict[str, datetime] = {}
    for crm in CRMS:
        fields = life.written(crm, lead)
        assert fields["stage"] == "prospect", (crm, fields)
        assert fields["sla_status"] == "running", (crm, fields)
        assert not fields.get("sla_breached"), (crm, fields)
        due[crm] = as_time(fields["sla_due_at"])
        assert life.clock.now() < due[crm] <= life.clock.now() + timedelta(days=4), (crm, due[crm])

    # 3. the due time passes and nobody touched it: the sweep flags the breach, the CRM did not change
    life.clock.set(max(due.values()) + timedelta(hours=1))
    life.sweep()
    for crm in CRMS:
        fields = life.written(crm, lead)
        assert fields["sla_status"] == "breached" and is_true(fields["sla_breached"]), (crm, fields)

    # 4. the owner calls: the flag is cleared, the SLA was met late
    life.clock.advance(timedelta(hours=1))
    for crm, sandbox in life.sandboxes.items():
        sandbox.log_activity(life.native(crm, lead), Activity(
            kind=ActivityKind.CALL, at=life.clock.now(), by=OWNER, direction="outbound", id="act-1-touch",
            subject="Discovery call"))
    life.cycle()
    for crm in CRMS:
        fields = life.written(crm, lead)
        assert fields["sla_status"] == "late" and not is_true(fields.get("sla_breached")), (crm, fields)
        assert fields["stage"] == "prospect", (crm, fields)

    # 5. deals won: a recurring client, a one-off client
    life.clock.advance(timedelta(days=1))
    for crm, sandbox in life.sandboxes.items():
        sandbox.upsert_deal(life.native(crm, lead), won("deal-1", recurring=True))
        sandbox.upsert_deal(life.native(crm, one_off), won("deal-3", recurring=False))
    life.cycle()
    for crm in CRMS:
        assert (life.written(crm, lead)["stage"], life.written(crm, lead)["client_kind"]) == ("client", "recurring")
        assert (life.written(crm, one_off)["stage"], life.written(crm, one_off)["client_kind"]) == ("client",
                                                                                                    "one_off")

    # 6. a hundred days without a sign from the other prospect: the sweep sends it back to nurture
    assert all(life.written(crm, quiet)["stage"] == "prospect" for crm in CRMS)
    life.clock.advance(timedelta(days=100))
    life.sweep()
    for crm in CRMS:
        assert life.written(crm, quiet)["stage"] == "nurture", (crm, life.written(crm, quiet))
        assert life.written(crm, lead)["stage"] == "client"  # a client stays a client


def as_time(value: Any) -> datetime:
    """An SLA due time as a CRM stores it: a datetime, or ISO text where the CRM field is text."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def is_true(value: Any) -> bool:
    """A flag as a CRM stores it: a boolean, or yes/no where the CRM field is an option set."""
    return value is True or str(value).lower() in ("true", "yes", "1")


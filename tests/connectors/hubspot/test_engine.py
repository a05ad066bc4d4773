"""The HubSpot connector inside the engine's cycle, with the shipped rules, a SQLite state store and the
HubSpot sandbox: a deal won without a change to its contact makes the contact a client on the next cycle,
and a push replayed after a crash never moves a lifecycle stage a person moved on meanwhile back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.hubspot import HubSpotConnector
from connectors.sandbox.hubspot import HubSpotSandbox
from sync.clock import FrozenClock
from sync.daemon.cycle import run_cycle
from sync.daemon.engine import RunOptions
from sync.daemon.report import RunOutcome, RunSummary
from sync.model import Activity, ActivityKind, Contact, Deal, DealStatus, EngagementEvent, PipelineStage
from sync.rules.engine import load_rules
from sync.state import AccountRef, StateStore
from sync.testing import SimulatedCrash

OWNER = "1001"
REF = AccountRef("hubspot", "default")


def person(index: int, now: Any, *, engaged: bool) -> Contact:
    """An IT director at a 200-person software company; `engaged`: a demo request and a call this week."""
    recent = now - timedelta(days=2)
    return Contact(
        crm="seed", id=str(index), email=f"it{index}@nordazur{index}.example", owner_id=OWNER, first_name="Léa",
        last_name=f"Martin{index}", company=f"Nordazur{index} SAS", industry="software", company_size=200,
        job_title="IT Director", seniority="director", country="FR", source="website_form",
        created_at=now - timedelta(days=40), updated_at=recent if engaged else now - timedelta(days=40),
        fields={"timing": "within 3 months"},
        events=[EngagementEvent(type="download", at=now - timedelta(days=6)),
                EngagementEvent(type="demo_request", at=recent)] if engaged else [],
        activities=[Activity(kind=ActivityKind.CALL, at=recent + timedelta(hours=2), by=OWNER, direction="outbound",
                             subject="Discovery call")] if engaged else [])


class Account:
    """One HubSpot sandbox account synced by the engine into a state store; `restart` is a process restart."""

    def __init__(self, tmp_path: Path, clock: FrozenClock, **settings: Any) -> None:
        self.clock = clock
        self.db = f"sqlite:///{tmp_path / 'state.db'}"
        self.sandbox = HubSpotSandbox(clock=clock).start()
        self.settings = settings
        self.rules = load_rules()
        self.store = StateStore(self.db, clock=clock)
        self.connector = self._connector()
        self.connector.ensure_fields()

    def _connector(self) -> HubSpotConnector:
        return HubSpotConnector(self.sandbox.settings(**self.settings), clock=self.clock,
                                sleep=lambda seconds: self.clock.advance(timedelta(seconds=seconds)))

    def cycle(self) -> RunSummary:
        self.clock.advance(timedelta(minutes=1))  # search shows a change once its stamp is in the past
        return run_cycle(store=self.store, connector=self.connector, rules=lambda: self.rules, clock=self.clock,
                         options=RunOptions(health_interval=None))

    def restart(self, fault: Any = None) -> None:
        self.connector.close()
        self.store.close()
        self.store = StateStore(self.db, clock=self.clock, fault=fault)
        self.connector = self._connector()

    def close(self) -> None:
        self.connector.close()
        self.store.close()
        self.sandbox.stop()


@pytest.fixture
def account(tmp_path: Path, clock: FrozenClock) -> Iterator[Any]:
    opened: list[Account] = []

    def make(**settings: Any) -> Account:
        opened.append(Account(tmp_path / str(len(opened)), clock, **settings))
        return opened[-1]

    yield make
    for each in opened:
        each.close()


def test_a_deal_won_without_a_contact_change_makes_the_contact_a_client_on_the_next_cycle(account):
    hub = account()
    ids = hub.sandbox.seed([person(1, hub.clock.now(), engaged=True), person(2, hub.clock.now(), engaged=False)])
    native = ids["1"]
    assert hub.cycle().outcome is RunOutcome.OK
    assert hub.cycle().outcome is RunOutcome.OK  # crmsync's own writes come back once
    assert hub.sandbox.written(native)["stage"] == "prospect"
    stamp = hub.sandbox.native(native)["lastmodifieddate"]
    hub.clock.advance(timedelta(hours=2))
    hub.sandbox.upsert_deal(native, Deal(id="won-1", status=DealStatus.WON, stage=PipelineStage.CLOSING,
                                         amount=24_000.0, currency="EUR", recurring=True, contract_months=12))
    assert hub.sandbox.native(native)["lastmodifieddate"] == stamp  # the contact record did not change
    summary = hub.cycle()
    assert summary.outcome is RunOutcome.OK and summary.pulled == 1
    written = hub.sandbox.written(native)
    assert (written["stage"], written["client_kind"]) == ("client", "recurring")
    assert hub.sandbox.native(native)["lifecyclestage"] == "customer"
    assert hub.cycle().changed == 0


@pytest.mark.parametrize("policy", ["unless_changed_by_person", "always"])
def test_a_replay_after_a_crash_leaves_a_stage_a_person_moved_on_meanwhile(account, policy):
    hub = account(ownership={"lifecyclestage": policy})
    ids = hub.sandbox.seed([person(n, hub.clock.now(), engaged=n % 2 == 0) for n in range(4)])
    natives = list(ids.values())
    for native in natives:
        hub.sandbox.edit(native, {"lifecyclestage": "subscriber"})

    def crash(point: str) -> None:
        if point == "write_page:after_commit":
            raise SimulatedCrash(point)

    hub.restart(crash)
    with pytest.raises(SimulatedCrash):
        hub.cycle()  # decided and made durable (outbox), never pushed
    assert hub.store.outbox_size(REF) > 0
    for native in natives[:3]:
        hub.sandbox.edit(native, {"lifecyclestage": "opportunity"})  # sales moved them on meanwhile
    hub.restart()
    summary = hub.cycle()
    assert summary.outcome is RunOutcome.OK and summary.push_failed == 0
    assert hub.store.outbox_size(REF) == 0
    stages = [hub.sandbox.native(native)["lifecyclestage"] for native in natives]
    assert stages[:3] == ["opportunity"] * 3
    decided = hub.sandbox.written(natives[3])["stage"]
    assert stages[3] == ("subscriber" if policy == "unless_changed_by_person"
                         else {"lead": "lead", "prospect": "salesqualifiedlead"}[decided])
    assert all(hub.sandbox.written(native)["stage"] in ("lead", "prospect") for native in natives)

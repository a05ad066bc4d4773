"""A world per CRM for the SLA reminders: its sandbox, its connector, the shipped rules with reminders on, a
SQLite state store, and one prospect handed off an hour ago that sales has not touched yet."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from sync import registry
from sync.clock import FrozenClock
from sync.daemon.cycle import run_cycle
from sync.daemon.engine import RunOptions
from sync.daemon.report import RunSummary
from sync.daemon.sweep import run_sweep
from sync.model import Activity, ActivityKind, Contact, EngagementEvent
from sync.reminders.policy import MARKER_PREFIX, Escalation, reminder_policy
from sync.state.tables import SlaTimerRow
from sync.rules.engine import CompiledRules
from sync.rules.loading import default_rules_path
from sync.rules.schema import RulesFile
from sync.state import AccountRef, StateStore
from sync.testing.conformance import closing_factory

OWNER = "1001"  # a synthetic sales rep (`sync.synthetic.OWNERS`), known to every sandbox
MANAGER = "1007"


def rules_with(**reminder: Any) -> CompiledRules:
    """The shipped rules with `sla.reminder` set as given."""
    data = yaml.safe_load(default_rules_path().read_text(encoding="utf-8"))
    data["sla"]["reminder"].update(reminder)
    return CompiledRules(RulesFile.model_validate(data), source="rules.yaml")


def prospect(now: Any, index: int = 1, *, touched: bool = False) -> Contact:
    """An IT director who asked for a demo an hour ago: a hot prospect whose first sales touch is due."""
    asked = now - timedelta(hours=1)
    return Contact(
        crm="seed", id=f"p{index}", email=f"it{index}@nordazur{index}.example", owner_id=OWNER, first_name="Léa",
        last_name=f"Martin{index}", company=f"Nordazur{index} SAS", industry="software", company_size=200,
        job_title="IT Director", seniority="director", country="FR", source="website_form",
        created_at=now - timedelta(days=40), updated_at=asked, fields={"timing": "within 3 months"},
        events=[EngagementEvent(type="download", at=now - timedelta(days=6)),
                EngagementEvent(type="demo_request", at=asked)],
        activities=[Activity(kind=ActivityKind.CALL, at=now, by=OWNER, direction="outbound",
                             subject="Discovery call")] if touched else [])


class World:
    """One CRM's sandbox synced by the engine; `restart` is a process restart on the same state store."""

    def __init__(self, crm: str, tmp_path: Path, clock: FrozenClock, rules: CompiledRules,
                 escalation: Escalation = Escalation()) -> None:
        self.crm, self.clock, self.rules = crm, clock, rules
        self.escalation = escalation
        self.db = f"sqlite:///{tmp_path / f'{crm}.db'}"
        self.kind = registry.crm_kind(crm)
        self.sandbox = self.kind.sandbox_class()(clock=clock, port=0, enforce_limits=False, seed=7).start()
        self.store = StateStore(self.db, clock=clock)
        self.connector = self._connector()
        self.connector.ensure_fields()
        self.ref = AccountRef(crm, "default")
        self.ids: dict[str, str] = {}

    def _connector(self) -> Any:
        return self.kind.connector_class()(self.sandbox.settings(), account="default", clock=self.clock,
                                           sleep=lambda seconds: self.clock.advance(timedelta(seconds=seconds)))

    def seed(self, *contacts: Contact) -> dict[str, str]:
        """Seed the contacts; in Pipedrive, whose persons carry no firmographics or marketing events of the
        hour, pin them as prospects with the stage override field (the SLA clock starts all the same)."""
        seeded = self.sandbox.seed(contacts)
        self.ids.update(seeded)
        if self.crm == "pipedrive":
            for native in seeded.values():
                self.sandbox.set_field(native, "override_stage", "prospect")
        return self.ids

    def sla_clock(self, contact: str) -> tuple[datetime, datetime]:
        """(hand-off, due time) of the contact's SLA clock, as the last decision left it."""
        with self.store.engine.connect() as conn:
            row = conn.execute(select(SlaTimerRow.started_at, SlaTimerRow.due_at).where(
                SlaTimerRow.crm == self.crm, SlaTimerRow.contact_id == self.ids[contact])).one()
        return row.started_at, row.due_at

    def remind_at(self, contact: str) -> datetime:
        started, due = self.sla_clock(contact)
        policy = reminder_policy(self.rules)
        assert policy is not None
        return policy.remind_at(started, due)

    def owner(self, neutral: str) -> str:
        """The CRM's id of a synthetic sales rep (Salesforce gives each a User id of its own)."""
        owners = getattr(self.sandbox, "owner_ids", None)
        return owners[neutral] if owners is not None else neutral

    def options(self) -> RunOptions:
        return RunOptions(health_interval=None, escalation=self.escalation)

    def cycle(self) -> RunSummary:
        self.clock.advance(timedelta(minutes=1))
        return run_cycle(store=self.store, connector=self.connector, rules=lambda: self.rules, clock=self.clock,
                         options=self.options())

    def sweep(self) -> RunSummary:
        return run_sweep(store=self.store, connector=self.connector, rules=lambda: self.rules, clock=self.clock,
                         options=self.options())

    def restart(self, fault: Callable[[str], None] | None = None) -> None:
        self.connector.close()
        self.store.close()
        self.store = StateStore(self.db, clock=self.clock, fault=fault)
        self.connector = self._connector()

    def tasks(self, contact: str) -> list[dict[str, Any]]:
        """crmsync's tasks for the contact in the sandbox (those carrying a marker: in Salesforce a logged call is a
        Task too), each as `{id, contact_id, owner_id, subject, body, due_at, done}`."""
        return [task for task in self.sandbox.tasks(self.ids[contact]) if MARKER_PREFIX in (task["body"] or "")]

    def close(self) -> None:
        self.connector.close()
        self.store.close()
        self.sandbox.stop()


@pytest.fixture
def make_world(tmp_path: Path, clock: FrozenClock) -> Iterator[Callable[..., World]]:
    def build(crm: str, rules: CompiledRules | None = None, **options: Any) -> World:
        return World(crm, tmp_path, clock, rules or rules_with(enabled=True), **options)

    with closing_factory(build) as make:
        yield make


@pytest.fixture
def new_prospect() -> Callable[..., Contact]:
    return prospect


@pytest.fixture
def rules_with_reminder() -> Callable[..., CompiledRules]:
    return rules_with

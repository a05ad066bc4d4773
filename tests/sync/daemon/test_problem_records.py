"""Bad records on the engine side: a pull's unreadable records and a push's refused ones are kept per record
(never their values), cleared when the record reads or lands, listed by `crmsync status` and counted by the
metrics; a value a person kept is counted and audited as done; setup warnings are stored and logged once."""

from __future__ import annotations

import dataclasses
import io
import json
import threading
from collections.abc import Iterator, Sequence

from rich.console import Console
from structlog.testing import capture_logs

from sync.cli.problem_tables import problem_tables
from sync.contract import FieldUpdate, PullPage, PushResult, RecordProblem, SetupWarning
from sync.daemon.accounts import AccountRunner
from sync.daemon.engine import RunOptions
from sync.daemon.metrics import Metrics
from sync.state import AccountRef
from sync.testing import FakeConnector

SECRET = "lea.martin@nordazur.example"  # a value a CRM's message may quote


class Troubled(FakeConnector):
    """The fake CRM with pages that report problems, pushes that keep a person's value, and setup warnings."""

    problems: dict[str, list[RecordProblem]]
    keep: set[str]
    warnings: list[SetupWarning]

    def pull(self, cursor: str | None) -> Iterator[PullPage]:
        for page in super().pull(cursor):
            found = [p for c in page.contacts for p in self.problems.get(c.id, [])]
            skipped = {p.record_id for p in found if p.field is None}
            yield dataclasses.replace(page, contacts=[c for c in page.contacts if c.id not in skipped],
                                      problems=found)

    def push(self, updates: Sequence[FieldUpdate]) -> list[PushResult]:
        results = super().push(updates)
        return [dataclasses.replace(r, kept=("stage",)) if r.ok and r.contact_id in self.keep else r
                for r in results]

    @property
    def setup_warnings(self) -> list[SetupWarning]:
        return list(self.warnings)


def troubled(world) -> Troubled:
    connector = Troubled(world.sandbox.settings(), account=world.account, clock=world.clock)
    connector.problems, connector.keep, connector.warnings = {}, set(), []
    world.connector = connector
    return connector


def rendered(store, **options) -> str:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    for table in problem_tables(store, width=100, **options):
        console.print(table)
    return console.file.getvalue()


def test_an_unreadable_record_is_kept_reported_and_cleared_once_it_reads(world):
    connector = troubled(world)
    ids = sorted(world.ids.values())
    bad_field, skipped = ids[0], ids[1]
    connector.problems = {bad_field: [RecordProblem(bad_field, "numemployees", "expected a number, got text")],
                          skipped: [RecordProblem(skipped, None, "unreadable record (ValueError)")]}
    with capture_logs() as logs:
        summary = world.cycle()
    assert summary.pulled == len(ids) - 1 and summary.record_problems == {"pull": 2, "push": 0}
    ref = AccountRef("fake", world.account)
    stored = {(p.record_id, p.field): p for p in world.store.record_problems.problems(ref)}
    assert set(stored) == {(bad_field, "numemployees"), (skipped, "")}
    assert stored[(bad_field, "numemployees")].reason == "expected a number, got text"
    assert world.store.is_managed(ref, bad_field) and not world.store.is_managed(ref, skipped)
    pages = [line for line in logs if line["event"] == "page_committed"]
    assert sum(line["page_problems"] for line in pages) == 2  # counts only, per page
    text = rendered(world.store)
    assert "Records with problems: 2" in text and skipped in text and "numemployees" in text
    metrics = Metrics()
    metrics.record_run(summary)
    assert b'crmsync_record_problems{account="main",crm="fake",source="pull"} 2.0' in metrics.render()

    connector.problems = {}  # fixed in the CRM: both read cleanly on their next change
    world.sandbox.set_field(bad_field, "numemployees", 12)
    world.sandbox.set_field(skipped, "need", "audit")
    summary = world.cycle()
    assert world.store.record_problems.problems(ref) == [] and summary.record_problems == {"pull": 0, "push": 0}
    assert world.store.is_managed(ref, skipped)  # picked up normally
    assert "Records with problems: 0" in rendered(world.store)


def test_a_push_the_crm_refuses_is_kept_with_its_message_and_never_logged_with_it(world):
    refused, *others = sorted(world.ids.values())
    world.sandbox.faults.reject(refused, "INVALID_EMAIL", f"invalid email: {SECRET}")
    with capture_logs() as logs:
        summary = world.cycle()
    assert summary.push_failed == 1 and summary.pushed == len(others)  # the others land
    assert summary.record_problems == {"pull": 0, "push": 1}
    (problem,) = world.store.record_problems.problems(AccountRef("fake", world.account))
    assert (problem.source, problem.record_id, problem.code) == ("push", refused, "INVALID_EMAIL")
    assert SECRET in problem.reason  # the CRM's own words, for the admin, in the state store only
    assert SECRET not in json.dumps(logs, default=str)
    failed = next(line for line in logs if line["event"] == "push_record_failed")
    assert failed["contact_id"] == refused and failed["code"] == "INVALID_EMAIL"

    world.sandbox.set_field(refused, "need", "audit")  # decided again, pushed again: the CRM takes it now
    world.cycle()
    assert world.store.record_problems.problems(AccountRef("fake", world.account)) == []


def test_status_lists_the_most_recent_problems_and_all_of_them_on_demand(world):
    connector = troubled(world)
    ids = sorted(world.ids.values())
    connector.problems = {cid: [RecordProblem(cid, "industry", "not a known industry")] for cid in ids[:25]}
    world.cycle()
    recent = rendered(world.store)
    assert "5 more: crmsync status --problems lists them all" in recent
    everything = rendered(world.store, show_all=True)
    assert all(cid in everything for cid in ids[:25])  # whole ids, never cut


def test_a_value_a_person_kept_is_counted_audited_and_not_sent_again(world):
    connector = troubled(world)
    kept_for = sorted(world.ids.values())[0]
    connector.keep = {kept_for}
    summary = world.cycle()
    assert summary.kept == 1 and summary.push_failed == 0
    ref = AccountRef("fake", world.account)
    kept = [entry for entry in world.store.audit(ref, kept_for) if entry.outcome == "kept"]
    assert [entry.field for entry in kept] == ["stage"]
    assert world.store.outbox_size(ref) == 0
    again = world.cycle()
    assert again.pushed == 0 and again.kept == 0  # done, not failed: nothing is re-sent
    kept_by_run = {run.run_id: run.counts.get("kept") for run in world.store.runs(ref)}
    assert kept_by_run == {summary.run_id: 1, again.run_id: 0}  # the run history keeps the count


def test_setup_warnings_are_stored_listed_and_logged_once(world):
    connector = troubled(world)
    labels = SetupWarning("person label 'Hot lead' does not exist", "maturity is not shown in labels",
                          "create the label")
    connector.warnings = [labels]
    runner = AccountRunner(store=world.store, connector=connector, rules=lambda: world.rules, clock=world.clock,
                           options=RunOptions(health_interval=None))
    with capture_logs() as logs:
        first = runner.cycle(threading.Event())
        second = runner.cycle(threading.Event())
    warned = [line for line in logs if line["event"] == "setup_warning"]
    assert len(warned) == 1 and warned[0]["log_level"] == "warning" and warned[0]["enable"] == "create the label"
    assert first.setup_warnings == second.setup_warnings == 1
    assert "person label 'Hot lead' does not exist" in rendered(world.store)
    connector.warnings = []  # fixed: it leaves the list
    assert runner.cycle(threading.Event()).setup_warnings == 0
    assert world.store.record_problems.warnings() == []

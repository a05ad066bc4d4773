"""What an operator sees of the SLA reminders: the run's log lines (with crm, account and run id), the
Prometheus counter, `crmsync status` per account, and the report's table over the period."""

from __future__ import annotations

import threading
from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from structlog.testing import capture_logs

from sync.cli.reminder_tables import reminder_tables
from sync.daemon.metrics import Metrics
from sync.daemon.report import RunSummary
from sync.daemon.runtime import log_run
from sync.insight.funnel import ALL
from sync.insight.page import reminders as reminders_section
from sync.insight.reminders import COLUMNS, column_values
from sync.insight.report import build_report
from sync.state import AccountRef, StateStore
from sync.state.reminders import Owed, ReminderStore
from sync.webhook import RETRYING, WebhookSender, WebhookTarget, deliver_due

LONG = AccountRef("salesforce", "emea-enterprise-sales-production-account")


def sample(metrics: Metrics, **labels: str) -> float:
    wanted = set(labels.items())
    for family in text_string_to_metric_families(metrics.render().decode()):
        for found in family.samples:
            if found.name == "crmsync_sla_reminders_total" and wanted <= set(found.labels.items()):
                return found.value
    return 0.0


def test_a_sweep_logs_and_counts_the_reminders_it_created(make_world, new_prospect, clock):
    world = make_world("hubspot")
    world.seed(new_prospect(clock.now()), new_prospect(clock.now(), 2))
    world.cycle()
    clock.set(max(world.remind_at("p1"), world.remind_at("p2")))
    with capture_logs() as logs:
        summary = world.sweep()
        log_run(summary)  # the daemon's line for every finished run
    assert summary.reminders == {("reminder", "decided"): 2, ("reminder", "created"): 2}
    (done,) = [line for line in logs if line["event"] == "reminders_done"]
    assert (done["crm"], done["account"], done["run_id"]) == ("hubspot", "default", summary.run_id)
    assert done["reminders_created"] == 2 and done["reminders_decided"] == 2
    finished = [line for line in logs if line["event"] == "run_finished"]
    assert len(finished) == 2 and all(line["reminders_created"] == 2 and line["run_id"] == summary.run_id
                                      for line in finished)
    metrics = Metrics()
    metrics.record_run(summary)
    assert sample(metrics, crm="hubspot", account="default", kind="reminder", outcome="created") == 2


def test_a_run_without_reminder_work_logs_no_reminder_fields(clock):
    summary = RunSummary(crm="fake", account="main", run_id="r1", started_at=clock.now(), finished_at=clock.now())
    with capture_logs() as logs:
        log_run(summary)
    assert not [key for key in logs[0] if key.startswith(("reminders_", "escalations_", "webhooks_"))]


def owed(contact: str, kind: str, status: str, now, **changes) -> Owed:
    fields = {"contact_id": contact, "clock_start": now - timedelta(days=2), "kind": kind,
              "marker": f"crmsync-{contact}-{kind}", "status": status, "due_at": now - timedelta(days=1),
              "payload": {}} | changes
    return Owed(**fields)


def fill(store: StateStore, clock) -> None:
    now = clock.now()
    ReminderStore(store).add(LONG, [
        owed("c1", "reminder", "open", now, task_id="t1"), owed("c2", "reminder", "open", now, task_id="t2"),
        owed("c3", "reminder", "left", now, task_id="t3"), owed("c4", "reminder", "skipped", now),
        owed("c5", "escalation", "open", now, task_id="t5"), owed("c5", "webhook", "failed", now),
        owed("c6", "webhook", "pending", now), owed("c7", "webhook", "delivered", now)])
    ReminderStore(store).add(AccountRef("hubspot", "eu"), [owed("h1", "reminder", "failed", now)])


def test_status_shows_each_accounts_open_tasks_and_failed_webhooks_without_cutting_its_name(tmp_path, clock):
    with StateStore(f"sqlite:///{tmp_path / 'state.db'}", clock=clock) as store:
        empty = Console(width=100, record=True)
        empty.print(*reminder_tables(store, width=100))
        assert "SLA reminders and escalations: none yet" in empty.export_text()
        fill(store, clock)
        for width in (160, 60):
            console = Console(width=width, record=True)
            console.print(*reminder_tables(store, width=width))
            text = console.export_text()
            assert LONG.account in text, width  # an id is never cut
        wide = Console(width=200, record=True)
        wide.print(*reminder_tables(store, width=200))
        rows = {line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[3:-1]]
                for line in wide.export_text().splitlines() if line.count("│") > 3}
    # open reminders, open escalations, tasks waiting, tasks failed, webhooks waiting, webhooks failed
    assert rows[LONG.account] == ["2", "1", "0", "0", "1", "1"]
    assert rows["eu"] == ["0", "0", "0", "1", "0", "0"]


def test_the_report_counts_what_the_reminders_did_in_the_period(tmp_path, clock):
    with StateStore(f"sqlite:///{tmp_path / 'state.db'}", clock=clock) as store:
        fill(store, clock)
        clock.advance(timedelta(days=1))
        data = build_report(store, now=clock.now(), since=timedelta(days=30))
        later = build_report(store, now=clock.now() + timedelta(days=40), since=timedelta(days=30))
    headings = [heading for heading, _ in COLUMNS]
    counts = dict(zip(headings, column_values(data.reminders[str(LONG)]), strict=True))
    assert counts == {"reminders created": 3, "completed on touch": 0, "left to the owner": 1,
                      "escalation tasks": 1, "webhooks delivered": 1, "webhooks failed": 1, "tasks failed": 0,
                      "skipped": 1}
    assert column_values(data.reminders[ALL])[headings.index("tasks failed")] == 1  # hubspot/eu's
    page = reminders_section(data)
    assert 'id="reminders"' in page and "emea-enterprise-sales-production-account" in page
    assert later.reminders == {}  # nothing happened in that period
    assert "No SLA reminder" in reminders_section(later)


class Recorder:
    """A webhook receiver that is never reached: each delivery fails and is retried later."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[AccountRef, str]] = []

    def __call__(self, ref: AccountRef, outcome: str) -> None:
        self.outcomes.append((ref, outcome))


def test_the_webhook_job_reports_each_delivery_per_account_and_stops_between_two(tmp_path, clock):
    with StateStore(f"sqlite:///{tmp_path / 'state.db'}", clock=clock) as store:
        now = clock.now()
        ReminderStore(store).add(LONG, [owed("c1", "webhook", "pending", now), owed("c2", "webhook", "pending", now)])
        sender = WebhookSender(WebhookTarget("http://127.0.0.1:9/hook", "s3cret", timeout=0.5),
                               sleep=lambda _: None)
        recorder = Recorder()
        stop = threading.Event()
        stop.set()
        assert deliver_due(store, sender, clock, stop=stop, on_outcome=recorder) == (0, 0)
        assert recorder.outcomes == []  # asked to stop: not one delivery started
        with capture_logs() as logs:
            assert deliver_due(store, sender, clock, on_outcome=recorder) == (0, 0)
        assert recorder.outcomes == [(LONG, RETRYING), (LONG, RETRYING)]
        (line,) = [line for line in logs if line["event"] == "webhooks_delivered"]
        assert (line["crm"], line["account"], line["retrying"], line["delivered"]) == (LONG.crm, LONG.account, 2, 0)
        metrics = Metrics()
        for ref, outcome in recorder.outcomes:
            metrics.record_reminders(ref.crm, ref.account, "webhook", outcome)
        assert sample(metrics, account=LONG.account, kind="webhook", outcome=RETRYING) == 2

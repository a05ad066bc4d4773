"""The SLA breach webhook against a local HTTP server: signed (HMAC of timestamp and body), Slack-compatible,
retried with back-off and after Retry-After on 429, and delivered once it succeeds; a refusal is given up; the
daemon delivers it by a job of its own and counts it in its metrics."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from sync.configfile import parse_yaml
from sync.daemon.reload import RulesWatcher
from sync.daemon.service import build_service
from sync.settings import validate_settings
from sync.state import AccountRef, StateStore
from sync.state.reminders import DELIVERED, FAILED, PENDING, WEBHOOK, Owed, ReminderStore
from sync.testing import load_rules
from sync.webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSender,
    WebhookTarget,
    deliver_due,
)

SECRET = "s3cret-for-tests"
REF = AccountRef("hubspot", "eu")


class Receiver:
    """A local webhook endpoint answering the statuses queued in `answers` (then 200), recording requests."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(({key: value for key, value in self.headers.items()}, body))
                status, headers = receiver.answers.pop(0) if receiver.answers else (200, {})
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def store(tmp_path, clock) -> Iterator[StateStore]:
    opened = StateStore(f"sqlite:///{tmp_path / 'state.db'}", clock=clock)
    yield opened
    opened.close()


def breach(store: StateStore, clock) -> Owed:
    started = clock.now() - timedelta(hours=30)
    item = Owed("101", started, WEBHOOK, "crmsync-abc", PENDING, clock.now() - timedelta(hours=2, minutes=5),
                {"contact_name": "Léa Martin", "started_at": started.isoformat()}, owner_id="1001")
    ReminderStore(store).add(REF, [item])
    return item


def test_a_breach_is_posted_signed_and_slack_compatible(receiver, store, clock):
    breach(store, clock)
    waits: list[float] = []
    sender = WebhookSender(WebhookTarget(receiver.url, SECRET), sleep=waits.append)
    assert deliver_due(store, sender, clock) == (1, 0)
    ((headers, body),) = receiver.received
    timestamp = headers[TIMESTAMP_HEADER]
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert int(timestamp) == int(clock.now().timestamp()) and headers[DELIVERY_HEADER] == "crmsync-abc"
    event = json.loads(body)
    assert "Léa Martin (101)" in event["text"] and "owner 1001" in event["text"] and "2h05m" in event["text"]
    assert event["crmsync"]["overdue_seconds"] == 2 * 3600 + 300 and event["crmsync"]["contact_id"] == "101"
    assert ReminderStore(store).counts(REF) == {(WEBHOOK, DELIVERED): 1}
    assert deliver_due(store, sender, clock) == (0, 0)  # delivered once
    assert len(receiver.received) == 1 and waits == []


def test_a_replica_delivers_its_own_accounts_webhooks_however_many_others_are_due(receiver, store, clock):
    """The rows are chosen among the accounts this replica holds before the limit counts them: other
    replicas' due webhooks, however many sort first, never crowd its own out."""
    started = clock.now() - timedelta(hours=30)
    for n in range(5):  # due rows of accounts held elsewhere, sorting before ours ("eu")
        ReminderStore(store).add(AccountRef("hubspot", f"a{n}"), [Owed(
            "7", started, WEBHOOK, f"crmsync-other-{n}", PENDING, clock.now() - timedelta(hours=1), {})])
    breach(store, clock)
    sender = WebhookSender(WebhookTarget(receiver.url, SECRET), sleep=lambda _: None)
    assert deliver_due(store, sender, clock, limit=3, owned=lambda: {"hubspot/eu"}) == (1, 0)
    assert [headers[DELIVERY_HEADER] for headers, _ in receiver.received] == ["crmsync-abc"]
    assert deliver_due(store, sender, clock, limit=3, owned=lambda: set()) == (0, 0)  # holding nothing


def test_a_throttled_delivery_waits_what_the_server_asks_then_succeeds(receiver, store, clock):
    breach(store, clock)
    receiver.answers = [(429, {"Retry-After": "7"}), (503, {}), (500, {})]
    waits: list[float] = []
    sender = WebhookSender(WebhookTarget(receiver.url, SECRET), sleep=waits.append)
    assert deliver_due(store, sender, clock) == (0, 0)  # three attempts this run: all refused
    assert waits[0] == 7.0 and len(waits) == 2 and len(receiver.received) == 3
    row, = ReminderStore(store).rows(REF, statuses=[PENDING], kinds=[WEBHOOK])
    assert row.attempts == 1 and row.last_error
    assert deliver_due(store, sender, clock) == (0, 0)  # backed off: not due yet
    clock.advance(timedelta(minutes=1))
    assert deliver_due(store, sender, clock) == (1, 0)
    assert len(receiver.received) == 4
    bodies = {body for _, body in receiver.received}
    assert len({json.loads(body)["crmsync"]["delivery"] for body in bodies}) == 1  # one delivery id throughout


def test_a_refused_delivery_is_given_up(receiver, store, clock):
    breach(store, clock)
    receiver.answers = [(404, {})]
    sender = WebhookSender(WebhookTarget(receiver.url, SECRET), sleep=lambda _: None)
    assert deliver_due(store, sender, clock) == (0, 1)
    assert ReminderStore(store).counts(REF) == {(WEBHOOK, FAILED): 1}
    assert len(receiver.received) == 1


def test_an_unreachable_receiver_never_raises_and_retries_later(store, clock):
    breach(store, clock)
    sender = WebhookSender(WebhookTarget("http://127.0.0.1:9/hook", SECRET, timeout=0.5), sleep=lambda _: None)
    assert deliver_due(store, sender, clock) == (0, 0)
    assert ReminderStore(store).counts(REF) == {(WEBHOOK, PENDING): 1}


SERVICE = """\
state:
  url: sqlite:///{db}
sla_webhook:
  url: {url}
  secret: {{env: HOOK_SECRET}}
  interval: 1h
accounts:
  - name: eu
    crm: fake
    sandbox: true
    sandbox_contacts: 3
    interval: 1h
    jitter: 0s
"""


def test_the_daemons_webhook_job_delivers_at_start_and_counts_it_in_its_metrics(receiver, tmp_path, clock):
    settings = validate_settings(parse_yaml(SERVICE.format(db=tmp_path / "state.db", url=receiver.url),
                                            str(tmp_path / "crmsync.yaml")), {"HOOK_SECRET": SECRET})
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: standin-a\nthreshold: 70\n")
    watcher = RulesWatcher(rules, load_rules, clock)
    watcher.load()
    with StateStore(settings.state.url, clock=clock) as store:
        breach(store, clock)  # an account the daemon does not sync: the job delivers every account's breaches
    with build_service(settings, watcher=watcher, clock=clock, port=0) as service:
        service.daemon.start()
        try:
            delivered = ('crmsync_sla_reminders_total{account="eu",crm="hubspot",kind="webhook",'
                         'outcome="delivered"} 1.0')
            deadline = time.monotonic() + 30
            while delivered not in service.daemon.metrics.render().decode() and time.monotonic() < deadline:
                time.sleep(0.05)  # the job runs at start, on the account pool
            assert delivered in service.daemon.metrics.render().decode()
            assert len(receiver.received) == 1
            assert ReminderStore(service.store).counts(REF) == {(WEBHOOK, DELIVERED): 1}
        finally:
            assert service.daemon.shutdown()

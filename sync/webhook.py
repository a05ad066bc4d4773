"""SLA breach webhooks: a JSON POST per breach to the configured URL, signed, retried, never blocking a sync.

Body: Slack-compatible (`{"text": ...}`, which a Slack incoming webhook posts as is) with the structured event
beside it under `crmsync` (CRM, account, contact, owner, due time, overdue seconds). Headers:
`X-Crmsync-Timestamp` (Unix seconds), `X-Crmsync-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>"
with the shared secret>` (the timestamp inside the signature lets a receiver refuse replays: check it is
recent) and `X-Crmsync-Delivery` (the breach's marker: the same on every attempt, for de-duplication, since
delivery is at least once).

Each breach is a row of `sla_reminders` (kind `webhook`), decided by the sweep; `deliver_due` is its own
scheduled job. One delivery tries a few times (tenacity: exponential back-off, or the server's Retry-After
on 429 and 503, capped); a delivery that still fails is tried again by a later run at a growing interval,
until `max_attempts`, then it is marked failed. Nothing here runs inside an account's sync.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
import structlog

from sync import retry
from sync.clock import Clock
from sync.errors import ConnectorError, PermanentError, RateLimited, TransientError
from sync.state import AccountRef, StateStore
from sync.state.reminders import DELIVERED, FAILED, PENDING, WEBHOOK, Owed, ReminderStore
from sync.toolkit.headers import retry_after

log = structlog.get_logger("crmsync.webhook")

SIGNATURE_HEADER = "X-Crmsync-Signature"
TIMESTAMP_HEADER = "X-Crmsync-Timestamp"
DELIVERY_HEADER = "X-Crmsync-Delivery"
ATTEMPTS_PER_RUN = 3
MAX_WAIT_S = 30.0  # longest Retry-After honoured inside one run; a longer one waits for the next run
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)
RETRYING = "retrying"  # a delivery that failed this run and is tried again later


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def breach_event(item: Owed, now: datetime) -> dict[str, Any]:
    """The body of one breach: Slack's `text` and the structured event."""
    overdue = max(int((now - item.due_at).total_seconds()), 0)
    hours, minutes = divmod(overdue // 60, 60)
    name = str(item.payload.get("contact_name") or "")
    who = f"{name} ({item.contact_id})" if name else item.contact_id
    owner = item.owner_id or "nobody"
    text = (f"SLA breached in {item.crm} ({item.account}): prospect {who}, owner {owner}, first touch overdue by "
            f"{hours}h{minutes:02d}m (due {item.due_at:%Y-%m-%d %H:%M} UTC)")
    return {"text": text, "crmsync": {
        "event": "sla_breached", "crm": item.crm, "account": item.account, "contact_id": item.contact_id,
        "contact_name": name or None, "owner_id": item.owner_id, "handed_off_at": item.clock_start.isoformat(),
        "due_at": item.due_at.isoformat(), "overdue_seconds": overdue, "delivery": item.marker}}


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    url: str
    secret: str
    timeout: float = 10.0
    max_attempts: int = 8


class WebhookSender:
    """POSTs signed bodies to one URL; `post` raises `TransientError` / `RateLimited` for what may pass later
    and `PermanentError` for what will not (a 4xx other than 408 and 429)."""

    def __init__(self, target: WebhookTarget, *, sleep: Callable[[float], None] = time.sleep,
                 session: requests.Session | None = None) -> None:
        self.target = target
        self.sleep = sleep
        self.session = session or requests.Session()

    def post(self, body: bytes, delivery: str, now: datetime) -> None:
        timestamp = str(int(now.timestamp()))
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp, DELIVERY_HEADER: delivery,
                   SIGNATURE_HEADER: sign(self.target.secret, timestamp, body), "User-Agent": "crmsync-webhook"}
        try:
            response = self.session.post(self.target.url, data=body, headers=headers, timeout=self.target.timeout)
        except requests.RequestException as exc:
            raise TransientError(f"webhook: {type(exc).__name__}", crm="webhook") from None
        status = response.status_code
        if 200 <= status < 300:
            return
        if status in (429, 503):
            wait = retry_after(response.headers, now)
            raise RateLimited(f"webhook answered {status}", crm="webhook", status=status,
                              retry_after=wait if wait is not None else 1.0)
        if status >= 500 or status == 408:
            raise TransientError(f"webhook answered {status}", crm="webhook", status=status)
        raise PermanentError(f"webhook refused the delivery ({status})", crm="webhook", status=status)

    def deliver(self, body: bytes, delivery: str, clock: Clock) -> None:
        """A few attempts now, waiting what the server asks (Retry-After) or backing off exponentially."""
        retry.retrying(attempts=ATTEMPTS_PER_RUN, initial_wait=0.5, max_wait=MAX_WAIT_S, sleep=self.sleep)(
            lambda: self.post(body, delivery, clock.now()))


#: what the webhook job reports of each delivery tried: the account, then delivered, retrying or failed
OutcomeCallback = Callable[[AccountRef, str], None]


def deliver_due(store: StateStore, sender: WebhookSender, clock: Clock, *, limit: int = 100,
                owned: Callable[[], Collection[str]] | None = None, stop: threading.Event | None = None,
                on_outcome: OutcomeCallback | None = None) -> tuple[int, int]:
    """Deliver the breach webhooks due now (a stop request ends it between two deliveries); returns
    (delivered, failed for good). `owned`: with replicas, the accounts (`crm/name`) this replica holds, whose
    webhooks only it delivers (the others' are theirs). Each delivery tried is passed to `on_outcome` (the
    daemon's metrics), and one log line per account says what came of them."""
    reminders = ReminderStore(store)
    tried: dict[AccountRef, Counter[str]] = defaultdict(Counter)
    held = None if owned is None else [AccountRef(*key.split("/", 1)) for key in owned()]
    for item in reminders.rows(None, statuses=[PENDING], kinds=[WEBHOOK], due_by=clock.now(), limit=limit,
                               among=held):
        if stop is not None and stop.is_set():
            break
        ref = _ref(item)
        outcome = _deliver_one(reminders, sender, clock, item)
        tried[ref][outcome] += 1
        if on_outcome is not None:
            on_outcome(ref, outcome)
    for ref, counts in sorted(tried.items()):
        log.info("webhooks_delivered", crm=ref.crm, account=ref.account, job="sla_webhook",
                 delivered=counts[DELIVERED], retrying=counts[RETRYING], failed=counts[FAILED])
    return (sum(counts[DELIVERED] for counts in tried.values()), sum(counts[FAILED] for counts in tried.values()))


def _deliver_one(reminders: ReminderStore, sender: WebhookSender, clock: Clock, item: Owed) -> str:
    """One breach's delivery, recorded: delivered, retrying (later, backed off) or failed (given up)."""
    ref = _ref(item)
    body = json.dumps(breach_event(item, clock.now()), sort_keys=True).encode()
    try:
        sender.deliver(body, item.marker, clock)
    except ConnectorError as exc:
        last = isinstance(exc, PermanentError) or item.attempts + 1 >= sender.target.max_attempts
        wait = min(BACKOFF_BASE * (2 ** item.attempts), BACKOFF_CAP)
        reminders.mark(ref, [item], FAILED if last else PENDING, error=exc.user_message, count_attempt=True,
                       next_attempt_at=clock.now() + wait)
        log.warning("webhook_failed", crm=item.crm, account=item.account, error=type(exc).__name__,
                    message=exc.user_message, attempts=item.attempts + 1, gave_up=last)
        return FAILED if last else RETRYING
    reminders.mark(ref, [item], DELIVERED, count_attempt=True)
    return DELIVERED


def _ref(item: Owed) -> AccountRef:
    return AccountRef(item.crm, item.account)


__all__ = ["DELIVERY_HEADER", "RETRYING", "SIGNATURE_HEADER", "TIMESTAMP_HEADER", "OutcomeCallback", "WebhookSender",
           "WebhookTarget", "breach_event", "deliver_due", "sign"]

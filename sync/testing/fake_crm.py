"""A fake CRM that honours the connector protocol faithfully: `FakeSandbox`, an in-memory CRM with the same
surface as the real sandboxes (`start/stop`, `seed`, `settings()`, `record_event`, `log_activity`,
`upsert_deal`, `set_field`, `delete_contact`, `written`, `faults`, `requests`), and `FakeConnector`, which
talks to it the way a real connector talks to its API.

The connector finds the sandbox by the `server` name in `FakeSettings` (the fake's "base URL"), checks the
token, pages changes by a monotonic change sequence (the cursor resumes AFTER a page), and returns one result
per record. Our own writes move a contact's change sequence, as real CRMs do, so echo handling is exercised.
Faults are scheduled, never random: `faults.raise_on`, `faults.reject`, `faults.crash_at`.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

import msgspec
import pydantic

from sync.clock import Clock, SystemClock
from sync.contract import Budget, FieldSetupReport, FieldUpdate, FieldValue, Health, PullPage, PushResult
from sync.errors import AuthFailed, CrmsyncError, PermanentError, RecordError, TransientError
from sync.model import Activity, ActivityKind, Contact, Deal, EngagementEvent, decode_contact, encode


class SimulatedCrash(BaseException):
    """A process dying at a chosen point. A BaseException, so no `except Exception` recovers from it."""


class FakeSettings(pydantic.BaseModel):
    """Settings of one fake CRM account, shaped like a real connector's (a secret token, page and batch sizes)."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    server: str = pydantic.Field("fake", description="name of the running FakeSandbox (its 'base URL')")
    api_token: pydantic.SecretStr
    page_size: int = pydantic.Field(50, ge=1, le=500)
    batch_size: int = pydantic.Field(10, ge=1, le=100)


@dataclass
class FakeFaults:
    """What goes wrong next in a FakeSandbox. Thread-safe enough for one daemon thread per account."""

    errors: list[tuple[str, CrmsyncError, int]] = field(default_factory=list)  # (operation, error, times)
    rejections: dict[str, list[RecordError]] = field(default_factory=dict)  # native id -> errors, in order
    crashes: dict[str, int] = field(default_factory=dict)  # point -> crash when the count reaches 0

    def raise_on(self, operation: str, error: CrmsyncError, times: int = 1) -> None:
        """`operation` is "pull", "push", "health" or "ensure_fields"."""
        self.errors.append((operation, error, times))

    def reject(self, native_id: str, code: str = "invalid", message: str = "rejected by the fake CRM", *,
               retryable: bool = False, times: int = 1) -> None:
        error = RecordError(native_id, code, message, retryable)
        self.rejections.setdefault(native_id, []).extend([error] * times)

    def crash_at(self, point: str, after: int = 0) -> None:
        """Crash at `point` once it has been passed `after` times. Points: "pull:after_page" (a page was
        handed over), "push:before_apply", "push:after_apply" (the CRM applied a batch; results not returned)."""
        self.crashes[point] = after

    def clear(self) -> None:
        self.errors.clear()
        self.rejections.clear()
        self.crashes.clear()

    def check(self, operation: str) -> None:
        for index, (kind, error, times) in enumerate(self.errors):
            if kind == operation:
                if times <= 1:
                    del self.errors[index]
                else:
                    self.errors[index] = (kind, error, times - 1)
                raise error

    def crash_point(self, point: str) -> None:
        if point in self.crashes:
            if self.crashes[point] <= 0:
                del self.crashes[point]
                raise SimulatedCrash(point)
            self.crashes[point] -= 1

    def rejection(self, native_id: str) -> RecordError | None:
        queue = self.rejections.get(native_id)
        return queue.pop(0) if queue else None


_SERVERS: dict[str, FakeSandbox] = {}
_SERVERS_LOCK = threading.Lock()
_names = itertools.count(1)


class FakeSandbox:
    """An in-memory CRM. Register it with `start()` so connectors can find it by `settings().server`."""

    def __init__(self, *, clock: Clock | None = None, port: int = 0, enforce_limits: bool = False, seed: int = 7,
                 page_size: int = 50, batch_size: int = 10, daily_budget: int | None = None) -> None:
        self.clock = clock or SystemClock()
        self.name = f"fake-{next(_names)}"
        self.token = hashlib.sha256(f"fake-token-{seed}-{self.name}".encode()).hexdigest()[:32]
        self.page_size, self.batch_size = page_size, batch_size
        self.daily_budget = daily_budget
        self.enforce_limits = enforce_limits
        self.faults = FakeFaults()
        self.requests: Counter[str] = Counter()  # "pull", "push", "health", "ensure_fields" -> calls
        self.pushed_batches: list[list[FieldUpdate]] = []
        self._contacts: dict[str, Contact] = {}
        self._written: dict[str, dict[str, FieldValue]] = {}
        self._seq: dict[str, int] = {}  # native id -> change sequence of its last change
        self._deleted: dict[str, tuple[int, str | None]] = {}  # native id -> (sequence, merged into)
        self._counter = itertools.count(1)
        self._lock = threading.RLock()

    def start(self) -> FakeSandbox:
        with _SERVERS_LOCK:
            _SERVERS[self.name] = self
        return self

    def stop(self) -> None:
        with _SERVERS_LOCK:
            _SERVERS.pop(self.name, None)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def settings(self) -> FakeSettings:
        return FakeSettings(server=self.name, api_token=pydantic.SecretStr(self.token), page_size=self.page_size,
                            batch_size=self.batch_size)

    def credentials(self) -> dict[str, str]:
        return {"api_token": self.token}

    # --- changing the CRM as its users would ---

    def _touch(self, native_id: str) -> None:
        self._seq[native_id] = next(self._counter)
        contact = self._contacts[native_id]
        contact.updated_at = self.clock.now()

    def seed(self, contacts: Iterator[Contact] | Sequence[Contact]) -> dict[str, str]:
        ids = {}
        with self._lock:
            for contact in contacts:
                native = f"fk{contact.id}"
                self._contacts[native] = msgspec.structs.replace(contact, crm="fake", id=native)
                self._deleted.pop(native, None)
                self._touch(native)
                ids[contact.id] = native
        return ids

    def _change(self, native_id: str, mutate: Callable[[Contact], None]) -> None:
        with self._lock:
            mutate(self._contacts[native_id])
            self._touch(native_id)

    def record_event(self, native_id: str, type: str, at: datetime | None = None) -> None:
        event = EngagementEvent(type=type, at=at or self.clock.now())
        self._change(native_id, lambda contact: contact.events.append(event))

    def log_activity(self, native_id: str, kind: ActivityKind = ActivityKind.CALL, *, by: str | None = None,
                     at: datetime | None = None, automated: bool = False) -> None:
        def add(contact: Contact) -> None:
            contact.activities.append(Activity(kind=kind, at=at or self.clock.now(), by=by or contact.owner_id,
                                         automated=automated, id=f"act-{next(self._counter)}"))
        self._change(native_id, add)

    def upsert_deal(self, native_id: str, deal: Deal) -> None:
        def put(contact: Contact) -> None:
            contact.deals = [known for known in contact.deals if known.id != deal.id] + [deal]
        self._change(native_id, put)

    def set_field(self, native_id: str, name: str, value: Any) -> None:
        self._change(native_id, lambda contact: contact.fields.__setitem__(name, value))

    def delete_contact(self, native_id: str, *, merged_into: str | None = None) -> None:
        with self._lock:
            self._contacts.pop(native_id, None)
            self._seq.pop(native_id, None)
            self._deleted[native_id] = (next(self._counter), merged_into)

    def written(self, native_id: str) -> dict[str, FieldValue]:
        with self._lock:
            return dict(self._written.get(native_id, {}))

    def state(self) -> dict[str, dict[str, FieldValue]]:
        """Every contact's crmsync fields: what tests compare between a crashed and an uninterrupted run."""
        with self._lock:
            return {native: dict(values) for native, values in sorted(self._written.items())}

    # --- the API the connector calls ---

    def _call(self, operation: str, token: str) -> None:
        with self._lock:
            if token != self.token:
                raise AuthFailed("fake CRM: the API token was rejected", crm="fake", status=401)
            self.requests[operation] += 1
            self.faults.check(operation)

    def high_water(self) -> int:
        with self._lock:
            return max([*self._seq.values(), *(seq for seq, _ in self._deleted.values()), 0])

    def api_pull(self, token: str, after: int, upto: int, limit: int,
                 account: str) -> tuple[list[Contact], list[str], dict[str, str], int]:
        self._call("pull", token)
        with self._lock:
            changes = sorted([(seq, native_id, False) for native_id, seq in self._seq.items() if after < seq <= upto]
                             + [(seq, native_id, True) for native_id, (seq, _) in self._deleted.items()
                                if after < seq <= upto])
            window = changes[:limit]
            # deep copies (as over the wire): later changes in the CRM must not reach a pulled contact
            contacts = [msgspec.structs.replace(decode_contact(encode(self._contacts[native_id])), account=account,
                                                fields={**self._contacts[native_id].fields,
                                                        **{f"crmsync_{key}": value for key, value in
                                                           self._written.get(native_id, {}).items()}})
                        for _, native_id, gone in window if not gone]
            deleted = [native_id for _, native_id, gone in window if gone]
            merged = {native_id: survivor for native_id in deleted
                      if (survivor := self._deleted[native_id][1]) is not None}
            last = window[-1][0] if window else after
            return contacts, deleted, merged, last

    def api_push(self, token: str, updates: Sequence[FieldUpdate]) -> list[PushResult]:
        self._call("push", token)
        if len(updates) > self.batch_size:
            raise PermanentError(f"fake CRM: batch of {len(updates)} over the maximum of {self.batch_size}",
                                 crm="fake", status=400)
        self.faults.crash_point("push:before_apply")
        results = []
        with self._lock:
            self.pushed_batches.append(list(updates))
            for update in updates:
                error = self.faults.rejection(update.contact_id)
                if error is None and update.contact_id not in self._contacts:
                    error = RecordError(update.contact_id, "not_found", "fake CRM: no such contact")
                if error is not None:
                    results.append(PushResult(update.contact_id, ok=False, error=error))
                    continue
                self._written.setdefault(update.contact_id, {}).update(update.values)
                self._touch(update.contact_id)
                results.append(PushResult(update.contact_id, ok=True, written=dict(update.values)))
        self.faults.crash_point("push:after_apply")
        return results

    def api_health(self, token: str) -> Budget:
        self._call("health", token)
        used = sum(self.requests.values())
        remaining = None if self.daily_budget is None else max(self.daily_budget - used, 0)
        return Budget(remaining=remaining, limit=self.daily_budget)


class FakeConnector:
    """The `sync.contract.Connector` of the fake CRM; constructed like every real connector."""

    crm = "fake"

    def __init__(self, settings: FakeSettings, *, account: str = "default", clock: Clock | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.account = account
        self.clock = clock or SystemClock()
        self.sleep = sleep
        self.batch_size = settings.batch_size
        self.api_calls: Counter[str] = Counter()
        self.closed = False

    def _server(self) -> FakeSandbox:
        with _SERVERS_LOCK:
            server = _SERVERS.get(self.settings.server)
        if server is None:
            raise TransientError(f"fake CRM {self.settings.server!r} is not reachable", crm="fake")
        return server

    @property
    def _token(self) -> str:
        return self.settings.api_token.get_secret_value()

    def pull(self, cursor: str | None) -> Iterator[PullPage]:
        after = int(cursor) if cursor else 0
        upto = self._server().high_water()  # capped at the pull's start, as bookmarks must be
        while True:
            server = self._server()
            self.api_calls["contacts"] += 1
            contacts, deleted, merged, last = server.api_pull(self._token, after, upto, self.settings.page_size,
                                                              self.account)
            if not contacts and not deleted:
                return
            yield PullPage(contacts=contacts, cursor=str(last), deleted_ids=deleted, merged_into=merged, api_calls=1)
            server.faults.crash_point("pull:after_page")
            after = last

    def push(self, updates: Sequence[FieldUpdate]) -> list[PushResult]:
        if not updates:
            return []
        self.api_calls["push"] += 1
        return self._server().api_push(self._token, updates)

    def ensure_fields(self) -> FieldSetupReport:
        self.api_calls["setup"] += 1
        self._server()._call("ensure_fields", self._token)
        return FieldSetupReport(existing=["score", "stage", "sla_status"])

    def health(self) -> Health:
        try:
            budget = self._server().api_health(self._token)
        except AuthFailed as exc:
            return Health(reachable=True, authorised=False, message=exc.user_message)
        except TransientError as exc:
            return Health(reachable=False, authorised=False, message=exc.user_message)
        return Health(reachable=True, authorised=True, message="ok", budget=budget)

    def close(self) -> None:
        self.closed = True
